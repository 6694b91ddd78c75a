//===- GpuKernels.cpp - The kernels in one module, launched by the runtime ===//
//
// Two passes around upstream's kernel lowering:
//
//   ftc-gpu-merge-kernels   after gpu-kernel-outlining (one gpu.module per
//                           launch): one gpu.module, each distinct kernel
//                           once (the same op in every layer of a model is
//                           one kernel), so that one PTX module is compiled
//                           and loaded.
//   ftc-gpu-bind-launches   after gpu-to-llvm: each gpu.launch_func becomes
//                           a call to the runtime in step.so, which loaded
//                           the module with the driver API; the binary a
//                           global the runtime reads.
//
// Upstream translates gpu.launch_func (SelectObjectAttr) into calls to
// `mgpuModuleLoad`, `mgpuLaunchKernel`, ... of a runtime library Debian does
// not ship, loading and unloading the module and creating and synchronizing
// a stream around every launch. ftc's runtime loads the module once per
// state and launches every kernel of a step on one stream.
//
//===----------------------------------------------------------------------===//

#include "ftc/Codegen/CudaRuntimeAbi.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Path.h"

namespace ftc {
#define GEN_PASS_DEF_GPUMERGEKERNELS
#define GEN_PASS_DEF_GPUBINDLAUNCHES
#define GEN_PASS_DEF_GPULAUNCHTOLOOPS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

struct GpuMergeKernelsPass : public ftc::impl::GpuMergeKernelsBase<GpuMergeKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> modules(module.getOps<gpu::GPUModuleOp>());
    if (modules.empty())
      return;
    OpBuilder b(module.getContext());
    b.setInsertionPoint(modules.front());
    auto merged = gpu::GPUModuleOp::create(b, module.getLoc(), ftc::cuda::kKernelModule);
    SymbolTable symbols(merged);
    // Kernels by their body printed without names or locations: a
    // kernel the same as an earlier one launches that one.
    llvm::StringMap<StringAttr> byBody;
    llvm::DenseMap<SymbolRefAttr, SymbolRefAttr> renamed;
    for (gpu::GPUModuleOp from : modules) {
      for (Operation &op : llvm::make_early_inc_range(from.getBody()->getOperations())) {
        auto func = dyn_cast<gpu::GPUFuncOp>(op);
        if (!func) {
          op.emitError("only kernels (gpu.func) are expected in an outlined gpu.module");
          return signalPassFailure();
        }
        std::string key;
        {
          llvm::raw_string_ostream os(key);
          os << func.getFunctionType();
          // The launch bounds outlining records (known_block_size, ...).
          for (NamedAttribute attr : func->getAttrs())
            if (attr.getName() != SymbolTable::getSymbolAttrName())
              os << attr.getName().getValue() << "=" << attr.getValue();
          for (Operation &inner : func.getBody().front())
            inner.print(os, OpPrintingFlags().printGenericOpForm().useLocalScope().enableDebugInfo(false));
        }
        SymbolRefAttr old = SymbolRefAttr::get(
            from.getNameAttr(), {FlatSymbolRefAttr::get(func.getNameAttr())});
        auto [it, inserted] = byBody.try_emplace(key, func.getNameAttr());
        if (inserted) {
          func->moveBefore(merged.getBody(), merged.getBody()->end());
          it->second = symbols.insert(func);
        }
        renamed[old] = SymbolRefAttr::get(merged.getNameAttr(),
                                          {FlatSymbolRefAttr::get(it->second)});
      }
      from.erase();
    }
    module.walk([&](gpu::LaunchFuncOp launch) {
      launch.setKernelAttr(renamed.lookup(launch.getKernel()));
    });
  }
};

/// "file:line:col" of the op `loc` names in the model (the callee of a
/// call site: the op inside a function the model calls), or "".
std::string sourceOf(Location loc) {
  if (auto call = dyn_cast<CallSiteLoc>(loc))
    return sourceOf(call.getCallee());
  if (auto named = dyn_cast<NameLoc>(loc))
    return sourceOf(named.getChildLoc());
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location inner : fused.getLocations())
      if (std::string s = sourceOf(inner); !s.empty())
        return s;
    return "";
  }
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return (llvm::sys::path::filename(file.getFilename().getValue()) + ":" +
            Twine(file.getLine()) + ":" + Twine(file.getColumn()))
        .str();
  return "";
}

struct GpuBindLaunchesPass : public ftc::impl::GpuBindLaunchesBase<GpuBindLaunchesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = module.getContext();
    SmallVector<gpu::BinaryOp> binaries(module.getOps<gpu::BinaryOp>());
    SmallVector<gpu::LaunchFuncOp> launches;
    module.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
    if (binaries.empty() && launches.empty())
      return;
    if (binaries.size() != 1) {
      module.emitError() << "one gpu.binary is expected (ftc-gpu-merge-kernels), found "
                         << binaries.size();
      return signalPassFailure();
    }
    gpu::BinaryOp binary = binaries.front();
    auto objects = binary.getObjectsAttr().getValue();
    if (objects.size() != 1) {
      binary.emitError("one object is expected in the binary");
      return signalPassFailure();
    }
    auto object = cast<gpu::ObjectAttr>(objects.front());

    OpBuilder b(ctx);
    b.setInsertionPointToEnd(module.getBody());
    Location loc = binary.getLoc();
    auto i8 = IntegerType::get(ctx, 8);
    auto i32 = IntegerType::get(ctx, 32);
    auto i64 = IntegerType::get(ctx, 64);
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto global = [&](StringRef name, StringRef bytes) {
      std::string text = bytes.str();
      text.push_back('\0'); // PTX is read as a C string
      LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(i8, text.size()),
                             /*isConstant=*/true, LLVM::Linkage::External, name,
                             b.getStringAttr(text));
    };
    auto scalar = [&](StringRef name, Type type, int64_t value) {
      LLVM::GlobalOp::create(b, loc, type, /*isConstant=*/true, LLVM::Linkage::External,
                             name, b.getIntegerAttr(type, value));
    };
    global(ftc::cuda::kImageSymbol, object.getObject().getValue());
    scalar(ftc::cuda::kImageSizeSymbol, i64,
           static_cast<int64_t>(object.getObject().getValue().size()));
    int32_t format = object.getFormat() == gpu::CompilationTarget::Binary
                         ? ftc::cuda::kFormatCubin
                         : object.getFormat() == gpu::CompilationTarget::Fatbin
                               ? ftc::cuda::kFormatFatbin
                               : ftc::cuda::kFormatPtx;
    scalar(ftc::cuda::kImageFormatSymbol, i32, format);

    // The kernels by number, in the order of their first launch, and where
    // in the model that launch comes from.
    llvm::MapVector<StringAttr, int32_t> kernels;
    std::string names, sources;
    for (gpu::LaunchFuncOp launch : launches) {
      if (!kernels.insert({launch.getKernelName(), static_cast<int32_t>(kernels.size())})
               .second)
        continue;
      names += launch.getKernelName().getValue();
      names.push_back('\0');
      sources += sourceOf(launch.getLoc());
      sources.push_back('\0');
    }
    global(ftc::cuda::kKernelNamesSymbol, names);
    global(ftc::cuda::kKernelSourcesSymbol, sources);
    scalar(ftc::cuda::kKernelCountSymbol, i32, static_cast<int64_t>(kernels.size()));

    // void ftcrt_cuda_launch(i32 kernel, i64 gx, gy, gz, bx, by, bz,
    //                        i32 shared bytes, ptr args)
    auto launchType = LLVM::LLVMFunctionType::get(
        LLVM::LLVMVoidType::get(ctx), {i32, i64, i64, i64, i64, i64, i64, i32, ptr});
    auto callee = LLVM::LLVMFuncOp::create(b, loc, ftc::cuda::kLaunchSymbol, launchType);

    for (gpu::LaunchFuncOp launch : launches) {
      if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty() ||
          launch.hasClusterSize()) {
        launch.emitError("asynchronous and cluster launches are not supported");
        return signalPassFailure();
      }
      auto func = launch->getParentOfType<LLVM::LLVMFuncOp>();
      if (!func) {
        launch.emitError("a launch outside an LLVM function (run gpu-to-llvm first)");
        return signalPassFailure();
      }
      Location at = launch.getLoc();
      // The arguments: a struct of their values on the stack (allocated
      // once, in the entry block) and an array of pointers to its fields,
      // as cuLaunchKernel takes them.
      ValueRange operands = launch.getKernelOperands();
      SmallVector<Type> fields;
      for (Value v : operands)
        fields.push_back(v.getType());
      OpBuilder entry(&func.getBody().front(), func.getBody().front().begin());
      Value one = LLVM::ConstantOp::create(entry, at, i64, 1);
      Value count = LLVM::ConstantOp::create(entry, at, i64, std::max<int64_t>(1, operands.size()));
      auto structType = LLVM::LLVMStructType::getLiteral(ctx, fields);
      Value values = LLVM::AllocaOp::create(entry, at, ptr, structType, one);
      Value array = LLVM::AllocaOp::create(entry, at, ptr, ptr, count);
      b.setInsertionPoint(launch);
      for (auto [i, v] : llvm::enumerate(operands)) {
        Value field = LLVM::GEPOp::create(
            b, at, ptr, structType, values,
            ArrayRef<LLVM::GEPArg>{0, static_cast<int32_t>(i)});
        LLVM::StoreOp::create(b, at, v, field);
        Value slot = LLVM::GEPOp::create(b, at, ptr, ptr, array,
                                         ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)});
        LLVM::StoreOp::create(b, at, field, slot);
      }
      auto dim = [&](Value v) -> Value {
        if (v.getType() == i64)
          return v;
        return LLVM::SExtOp::create(b, at, i64, v);
      };
      gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
      gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
      Value shared = launch.getDynamicSharedMemorySize();
      if (!shared)
        shared = LLVM::ConstantOp::create(b, at, i32, 0);
      Value kernel = LLVM::ConstantOp::create(
          b, at, i32, kernels.lookup(launch.getKernelName()));
      LLVM::CallOp::create(b, at, callee,
                           ValueRange{kernel, dim(grid.x), dim(grid.y), dim(grid.z),
                                      dim(block.x), dim(block.y), dim(block.z), shared,
                                      array});
      launch.erase();
    }
    binary.erase();
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  }
};

/// Each gpu.launch as loops over its blocks and threads, on the host: the
/// kernels of --target=cuda run on the CPU, one thread after another, so
/// that what the mapping computes can be checked against the CPU step on a
/// machine without a GPU (`ftc --cuda-emulate`). Kernels that synchronize
/// or share memory (which ftc-gpu-map-loops does not make) are refused.
struct GpuLaunchToLoopsPass : public ftc::impl::GpuLaunchToLoopsBase<GpuLaunchToLoopsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::LaunchOp> launches;
    module.walk([&](gpu::LaunchOp launch) { launches.push_back(launch); });
    for (gpu::LaunchOp launch : launches) {
      WalkResult inner = launch.getBody().walk([](Operation *op) {
        return isa<gpu::BarrierOp, gpu::ShuffleOp>(op) ? WalkResult::interrupt()
                                                       : WalkResult::advance();
      });
      if (inner.wasInterrupted() || !launch.getWorkgroupAttributions().empty() ||
          launch.getAsyncToken() || !launch.getBody().hasOneBlock()) {
        launch.emitError("only kernels without barriers, shared memory or async tokens "
                         "run as loops");
        return signalPassFailure();
      }
      Location loc = launch.getLoc();
      OpBuilder b(launch);
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value one = arith::ConstantIndexOp::create(b, loc, 1);
      gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
      gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
      Value bounds[6] = {grid.x, grid.y, grid.z, block.x, block.y, block.z};
      IRMapping map;
      gpu::KernelDim3 ids[2] = {launch.getBlockIds(), launch.getThreadIds()};
      gpu::KernelDim3 sizes[2] = {launch.getGridSize(), launch.getBlockSize()};
      for (int level = 0; level < 2; ++level) {
        map.map(sizes[level].x, bounds[3 * level]);
        map.map(sizes[level].y, bounds[3 * level + 1]);
        map.map(sizes[level].z, bounds[3 * level + 2]);
      }
      for (int d = 0; d < 6; ++d) {
        auto loop = scf::ForOp::create(b, loc, zero, bounds[d], one);
        Value id = d % 3 == 0 ? ids[d / 3].x : d % 3 == 1 ? ids[d / 3].y : ids[d / 3].z;
        map.map(id, loop.getInductionVar());
        b.setInsertionPoint(loop.getBody()->getTerminator());
      }
      for (Operation &op : launch.getBody().front().without_terminator())
        b.clone(op, map);
      launch.erase();
    }
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  }
};

} // namespace
