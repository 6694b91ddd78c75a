//===- GpuAttentionKernels.cpp - Fused attention on tensor cores ----------===//
//
// See ftc-gpu-attention-kernels in Passes.td. Each fused attention op on
// buffers becomes gpu.launch kernels written warp by warp: a warp owns 16
// rows and walks the other side in tiles, with mma.sync.m16n8k16 for the
// products and quad shuffles for the softmax's row maximum and sums.
// MLIR has the pieces (nvvm.mma.sync, gpu.shuffle) but no flash attention
// to tile into, so the kernels are built here. The fragment layouts are
// the PTX ISA's (lane = 4 * group + thread in group):
//
//   A (16x16, row):  a_i at row group + 8 ((i >> 1) & 1),
//                    column 2 thread + (i & 1) + 8 (i >> 2)
//   B (16x8, col):   b_i at row 2 thread + (i & 1) + 8 (i >> 1), column group
//   C, D (16x8 f32): c_i at row group + 8 (i >> 1), column 2 thread + (i & 1)
//
// so that two neighbouring C tiles of scores are the A operand of the next
// product as they are (FlashAttention-2's trick): a_i = C[i >> 2].c[i & 3].
// A block's warps share the tiles of the other side: each is copied once
// into shared memory (cp.async, double-buffered), and the B fragments read
// from there by ldmatrix.x4, whose lane l receives row l / 4, columns
// 2 (l % 4) and 2 (l % 4) + 1 of each 8x8 matrix (transposed with .trans):
// b_0 b_1 of one matrix, b_2 b_3 of the next.
//
// The same builder writes the emulated kernels (--cuda-emulate): a value of
// the warp is a vector<32xT> there, a shuffle a vector.shuffle, mma.sync
// its sums over the fragments in these layouts, ldmatrix that exchange.
//
//===----------------------------------------------------------------------===//

#include "ftc/Dialect/Train/IR/TrainOps.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

namespace ftc {
#define GEN_PASS_DEF_GPUATTENTIONKERNELS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

namespace {

constexpr int64_t kLanes = 32;

/// Whether `type`'s elements split into runs of `multiple` along its rows,
/// each starting at an index that is a multiple of it: unit stride
/// innermost, the other strides and the offset multiples of `multiple`.
bool stridesAligned(MemRefType type, int64_t multiple) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)) || strides.back() != 1 ||
      ShapedType::isDynamic(offset) || offset % multiple != 0)
    return false;
  return llvm::all_of(ArrayRef<int64_t>(strides).drop_back(), [&](int64_t s) {
    return !ShapedType::isDynamic(s) && s % multiple == 0;
  });
}

/// Values of one warp. On the GPU a lane is a thread and a value a scalar;
/// emulated, a value is a vector<32xT> (element l: lane l's) and one
/// launch thread runs the whole warp. What the emulated lanes do one by one
/// (loads, stores, mma.sync's sums) goes through scratch buffers, never
/// through a vector element at a lane index that is not a constant: LLVM
/// would copy the whole vector to the stack for each such element (a
/// fragment's 256), which made the emulated kernels slow to run and, with
/// hundreds of such vectors live, very slow to compile (its register
/// allocator, for many minutes on a machine with 16 vector registers).
class Warp {
public:
  /// `launch`: the kernel's gpu.launch (emulated, the scratch buffers are
  /// allocated before it and freed after).
  Warp(OpBuilder &b, Location loc, bool emulate, Value gpuLane, Operation *launch)
      : b(b), loc(loc), emulate(emulate), launch(launch) {
    if (emulate) {
      SmallVector<int64_t> ids = llvm::to_vector(llvm::seq<int64_t>(0, kLanes));
      auto type = VectorType::get({kLanes}, b.getIndexType());
      lane = arith::ConstantOp::create(b, loc, type, b.getIndexVectorAttr(ids));
    } else {
      lane = gpuLane;
    }
    group = divi(lane, index(4));
    thread = remi(lane, index(4));
  }

  OpBuilder &b;
  Location loc;
  bool emulate;
  Operation *launch;
  Value lane, group, thread;

  Type of(Type scalar) const {
    return emulate ? Type(VectorType::get({kLanes}, scalar)) : scalar;
  }
  /// The same scalar in every lane.
  Value uniform(Value scalar) {
    return emulate ? Value(vector::BroadcastOp::create(b, loc, of(scalar.getType()), scalar))
                   : scalar;
  }
  Value index(int64_t v) { return uniform(arith::ConstantIndexOp::create(b, loc, v)); }
  Value f32(double v) {
    return uniform(arith::ConstantOp::create(b, loc, b.getF32FloatAttr(static_cast<float>(v))));
  }

  Value addi(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value addi(Value x, int64_t y) { return y ? addi(x, index(y)) : x; }
  Value muli(Value x, int64_t y) { return arith::MulIOp::create(b, loc, x, index(y)); }
  Value divi(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value remi(Value x, Value y) { return arith::RemUIOp::create(b, loc, x, y); }
  Value gt(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, x, y);
  }
  Value addf(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value subf(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mulf(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value divf(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value maxf(Value x, Value y) { return arith::MaximumFOp::create(b, loc, x, y); }
  Value exp2(Value x) { return math::Exp2Op::create(b, loc, x); }
  Value fma(Value x, Value y, Value z) { return math::FmaOp::create(b, loc, x, y, z); }
  Value log(Value x) { return math::LogOp::create(b, loc, x); }
  Value select(Value c, Value x, Value y) { return arith::SelectOp::create(b, loc, c, x, y); }
  Value truncf(Value x, Type scalar) { return arith::TruncFOp::create(b, loc, of(scalar), x); }

  /// memref[indices], each index a lane value.
  Value load(Value memref, ArrayRef<Value> indices) {
    if (!emulate)
      return memref::LoadOp::create(b, loc, memref, indices);
    Type elem = cast<MemRefType>(memref.getType()).getElementType();
    Value lanes = scratch(elem, kLanes);
    SmallVector<Value> at = spill(indices);
    {
      OpBuilder::InsertionGuard guard(b);
      Value l = overLanes();
      Value x = memref::LoadOp::create(b, loc, memref, laneOf(at, l));
      memref::StoreOp::create(b, loc, x, lanes, l);
    }
    return vector::LoadOp::create(b, loc, of(elem), lanes, index0());
  }

  /// memref[indices] and the element after it in the innermost dimension
  /// (the last index even): on the GPU one 4-byte load where the rows are
  /// contiguous and every pair starts on 4 bytes, else two.
  std::pair<Value, Value> loadPair(Value memref, ArrayRef<Value> indices) {
    SmallVector<Value> next(indices);
    next.back() = addi(next.back(), 1);
    auto type = cast<MemRefType>(memref.getType());
    if (emulate || !pairsAligned(type))
      return {load(memref, indices), load(memref, next)};
    auto pair = VectorType::get({2}, type.getElementType());
    Value v = vector::LoadOp::create(b, loc, pair, memref, indices, /*nontemporal=*/false,
                                     llvm::MaybeAlign(4));
    return {vector::ExtractOp::create(b, loc, v, 0), vector::ExtractOp::create(b, loc, v, 1)};
  }

  /// Stores lo at memref[indices] and hi after it (the last index even):
  /// on the GPU one 4-byte store where loadPair would load them as one.
  void storePair(Value lo, Value hi, Value memref, ArrayRef<Value> indices) {
    auto type = cast<MemRefType>(memref.getType());
    if (emulate || !pairsAligned(type)) {
      SmallVector<Value> next(indices);
      next.back() = addi(next.back(), 1);
      store(lo, memref, indices);
      store(hi, memref, next);
      return;
    }
    auto pair = VectorType::get({2}, type.getElementType());
    Value v = vector::FromElementsOp::create(b, loc, pair, ValueRange{lo, hi});
    vector::StoreOp::create(b, loc, v, memref, indices, /*nontemporal=*/false,
                            llvm::MaybeAlign(4));
  }

  void store(Value value, Value memref, ArrayRef<Value> indices) {
    if (!emulate) {
      memref::StoreOp::create(b, loc, value, memref, indices);
      return;
    }
    Value lanes = scratch(cast<VectorType>(value.getType()).getElementType(), kLanes);
    vector::StoreOp::create(b, loc, value, lanes, index0());
    SmallVector<Value> at = spill(indices);
    OpBuilder::InsertionGuard guard(b);
    Value l = overLanes();
    Value x = memref::LoadOp::create(b, loc, lanes, l);
    memref::StoreOp::create(b, loc, x, memref, laneOf(at, l));
  }

  /// Lane l's value of lane l ^ mask (mask < 32).
  Value shuffleXor(Value x, int64_t mask) {
    if (emulate) {
      SmallVector<int64_t> perm;
      for (int64_t l = 0; l < kLanes; ++l)
        perm.push_back(l ^ mask);
      return vector::ShuffleOp::create(b, loc, x, x, perm);
    }
    Value offset = arith::ConstantIntOp::create(b, loc, b.getI32Type(), mask);
    Value width = arith::ConstantIntOp::create(b, loc, b.getI32Type(), kLanes);
    return gpu::ShuffleOp::create(b, loc, x, offset, width, gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }

  /// D = A B + C for the warp's fragments: a (8 values), b (4), c (4 f32).
  SmallVector<Value, 4> mma(ArrayRef<Value> a, ArrayRef<Value> bFrag, ArrayRef<Value> c) {
    return emulate ? emulatedMma(a, bFrag, c) : nvvmMma(a, bFrag, c);
  }

private:
  /// 16-bit elements whose even-indexed pairs start on 4 bytes (the
  /// buffers themselves start on 64 bytes: ftc-plan-memory).
  static bool pairsAligned(MemRefType type) {
    return type.getElementTypeBitWidth() == 16 && stridesAligned(type, 2);
  }

  Value index0() { return arith::ConstantIndexOp::create(b, loc, 0); }

  /// A loop over the lanes, the builder at the start of its body: returns
  /// the lane.
  Value overLanes() {
    auto loop = scf::ForOp::create(b, loc, index0(), arith::ConstantIndexOp::create(b, loc, kLanes),
                                   arith::ConstantIndexOp::create(b, loc, 1));
    b.setInsertionPointToStart(loop.getBody());
    return loop.getInductionVar();
  }

  /// Emulated: a buffer of `size` elements of `elem` for the whole launch
  /// (its threads run one after another, so each use of it ends before the
  /// next begins); `slot` tells apart buffers used at the same time.
  Value scratch(Type elem, int64_t size, int slot = 0) {
    Value &buffer = scratchBuffers[{elem, size, slot}];
    if (!buffer) {
      OpBuilder outside(launch);
      buffer = memref::AllocOp::create(outside, loc, MemRefType::get({size}, elem));
      outside.setInsertionPointAfter(launch);
      memref::DeallocOp::create(outside, loc, buffer);
    }
    return buffer;
  }

  /// Each lane vector of indices stored to a scratch buffer of its own (as
  /// i64: the memory plan sizes buffers of integers and floats).
  SmallVector<Value> spill(ArrayRef<Value> indices) {
    SmallVector<Value> buffers;
    Type i64 = b.getI64Type();
    for (auto [i, v] : llvm::enumerate(indices)) {
      buffers.push_back(scratch(i64, kLanes, static_cast<int>(i)));
      Value wide = arith::IndexCastOp::create(b, loc, VectorType::get({kLanes}, i64), v);
      vector::StoreOp::create(b, loc, wide, buffers.back(), index0());
    }
    return buffers;
  }

  /// Lane l's indices from the buffers spill wrote.
  SmallVector<Value> laneOf(ArrayRef<Value> buffers, Value l) {
    SmallVector<Value> scalars;
    for (Value buffer : buffers)
      scalars.push_back(arith::IndexCastOp::create(
          b, loc, b.getIndexType(), memref::LoadOp::create(b, loc, buffer, l)));
    return scalars;
  }

  /// Stores the lane vectors `parts` one after another in a scratch buffer
  /// (element l of part r at r * 32 + l).
  Value spillParts(ArrayRef<Value> parts) {
    Type elem = cast<VectorType>(parts.front().getType()).getElementType();
    Value buffer = scratch(elem, kLanes * static_cast<int64_t>(parts.size()));
    for (auto [r, part] : llvm::enumerate(parts))
      vector::StoreOp::create(b, loc, part, buffer,
                              arith::ConstantIndexOp::create(b, loc, r * kLanes).getResult());
    return buffer;
  }

  llvm::DenseMap<std::tuple<Type, int64_t, int>, Value> scratchBuffers;

  /// Two 16-bit values as the register mma.sync takes: vector<2xf16> for
  /// f16, an i32 for bf16.
  Value pack(Value lo, Value hi) {
    auto pair = VectorType::get({2}, lo.getType());
    Value v = LLVM::UndefOp::create(b, loc, pair);
    for (auto [i, x] : llvm::enumerate(ValueRange{lo, hi})) {
      Value pos = LLVM::ConstantOp::create(b, loc, b.getI32Type(), static_cast<int64_t>(i));
      v = LLVM::InsertElementOp::create(b, loc, pair, v, x, pos);
    }
    if (lo.getType().isF16())
      return v;
    return LLVM::BitcastOp::create(b, loc, b.getI32Type(), v);
  }

  SmallVector<Value, 4> nvvmMma(ArrayRef<Value> a, ArrayRef<Value> bFrag, ArrayRef<Value> c) {
    SmallVector<Value> aRegs, bRegs;
    for (int i = 0; i < 8; i += 2)
      aRegs.push_back(pack(a[i], a[i + 1]));
    for (int i = 0; i < 4; i += 2)
      bRegs.push_back(pack(bFrag[i], bFrag[i + 1]));
    Type f32 = b.getF32Type();
    auto result = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
    NVVM::MMATypes kind = a[0].getType().isF16() ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
    auto op = NVVM::MmaOp::create(
        b, loc, result, aRegs, bRegs, c, ArrayRef<int64_t>{16, 8, 16}, std::nullopt,
        std::nullopt, std::array<NVVM::MMATypes, 2>{kind, kind},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row, NVVM::MMALayout::col});
    SmallVector<Value, 4> d;
    for (int64_t i = 0; i < 4; ++i)
      d.push_back(LLVM::ExtractValueOp::create(b, loc, op.getResult(), i));
    return d;
  }

  /// mma.sync on the emulated warp: the fragments' registers side by side
  /// in scratch buffers (register r of lane l at r * 32 + l), passed to
  /// the module's function of mma.sync's arithmetic (emulatedMmaFunction),
  /// which leaves D in C's buffer.
  SmallVector<Value, 4> emulatedMma(ArrayRef<Value> a, ArrayRef<Value> bFrag,
                                    ArrayRef<Value> c) {
    Value as = spillParts(a), bs = spillParts(bFrag), cs = spillParts(c);
    Type elem = cast<VectorType>(a.front().getType()).getElementType();
    func::CallOp::create(b, loc, emulatedMmaFunction(launch->getParentOfType<ModuleOp>(), elem),
                         ValueRange{as, bs, cs});
    SmallVector<Value, 4> d;
    for (int64_t i = 0; i < 4; ++i)
      d.push_back(vector::LoadOp::create(b, loc, c[i].getType(), cs,
                                         arith::ConstantIndexOp::create(b, loc, i * kLanes)
                                             .getResult()));
    return d;
  }

  /// The module's function `ftc_emulated_mma_<elem>(A, B, C)`, made on
  /// first use: each lane's four results of mma.sync.m16n8k16 summed over
  /// k, in order, from the fragments in the layouts above, over its C
  /// values. One function, not a copy of its loops at each of a kernel's
  /// (hundreds of) products, which LLVM would optimize one by one.
  static func::FuncOp emulatedMmaFunction(ModuleOp module, Type elem) {
    std::string name;
    llvm::raw_string_ostream(name) << "ftc_emulated_mma_" << elem;
    if (auto existing = module.lookupSymbol<func::FuncOp>(name))
      return existing;
    MLIRContext *ctx = module.getContext();
    Location loc = module.getLoc();
    Type f32 = Float32Type::get(ctx);
    auto type = FunctionType::get(ctx,
                                  {MemRefType::get({8 * kLanes}, elem),
                                   MemRefType::get({4 * kLanes}, elem),
                                   MemRefType::get({4 * kLanes}, f32)},
                                  {});
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto func = func::FuncOp::create(b, loc, name, type);
    func.setPrivate();
    // Called, not inlined: the point is one copy.
    func->setAttr("passthrough", b.getArrayAttr({b.getStringAttr("noinline")}));
    b.setInsertionPointToStart(func.addEntryBlock());
    Value as = func.getArgument(0), bs = func.getArgument(1), cs = func.getArgument(2);
    auto cst = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
    auto add = [&](Value x, Value y) -> Value { return arith::AddIOp::create(b, loc, x, y); };
    auto mul = [&](Value x, int64_t y) -> Value { return arith::MulIOp::create(b, loc, x, cst(y)); };
    auto div = [&](Value x, int64_t y) -> Value { return arith::DivUIOp::create(b, loc, x, cst(y)); };
    auto rem = [&](Value x, int64_t y) -> Value { return arith::RemUIOp::create(b, loc, x, cst(y)); };
    auto overLane = scf::ForOp::create(b, loc, cst(0), cst(kLanes), cst(1));
    b.setInsertionPointToStart(overLane.getBody());
    Value l = overLane.getInductionVar();
    Value g = div(l, 4), t = rem(l, 4);
    for (int64_t i = 0; i < 4; ++i) {
      Value row = add(g, cst(8 * (i >> 1)));
      Value col = add(mul(t, 2), cst(i & 1));
      Value at = add(cst(i * kLanes), l);
      Value acc = memref::LoadOp::create(b, loc, cs, at);
      auto overK = scf::ForOp::create(b, loc, cst(0), cst(16), cst(1), ValueRange{acc});
      {
        OpBuilder::InsertionGuard inner(b);
        b.setInsertionPointToStart(overK.getBody());
        Value k = overK.getInductionVar();
        // A(row, k): lane 4 (row % 8) + (k % 8) / 2, register
        // (k % 2) + 2 (row / 8) + 4 (k / 8).
        Value aLane = add(mul(rem(row, 8), 4), div(rem(k, 8), 2));
        Value aReg = add(add(rem(k, 2), mul(div(row, 8), 2)), mul(div(k, 8), 4));
        // B(k, col): lane 4 col + (k % 8) / 2, register (k % 2) + 2 (k / 8).
        Value bLane = add(mul(col, 4), div(rem(k, 8), 2));
        Value bReg = add(rem(k, 2), mul(div(k, 8), 2));
        Value x = memref::LoadOp::create(b, loc, as, add(mul(aReg, kLanes), aLane));
        Value y = memref::LoadOp::create(b, loc, bs, add(mul(bReg, kLanes), bLane));
        Value prod = arith::MulFOp::create(b, loc, arith::ExtFOp::create(b, loc, f32, x),
                                           arith::ExtFOp::create(b, loc, f32, y));
        scf::YieldOp::create(
            b, loc, ValueRange{arith::AddFOp::create(b, loc, overK.getRegionIterArg(0), prod)});
      }
      // Lane l's result i replaces its c_i, which nothing reads again.
      memref::StoreOp::create(b, loc, overK.getResult(0), cs, at);
    }
    b.setInsertionPointToEnd(&func.getBody().front());
    func::ReturnOp::create(b, loc);
    return func;
  }
};

/// What every kernel of one op shares: the shapes, the launch, a warp's
/// place in it and the scores' scale.
struct AttentionShape {
  SmallVector<int64_t> lead; ///< the leading dimensions (batch, heads)
  int64_t rows = 0;          ///< T
  int64_t depth = 0;         ///< D
  Type elem;                 ///< bf16 or f16
  bool causal = false;
  std::optional<double> scale; ///< multiplies the scores; none: divided by sqrt(D)

  AttentionShape(MemRefType query, bool causal, FloatAttr scaleAttr) : causal(causal) {
    ArrayRef<int64_t> shape = query.getShape();
    lead.assign(shape.begin(), shape.end() - 2);
    rows = shape[shape.size() - 2];
    depth = shape.back();
    elem = query.getElementType();
    if (scaleAttr)
      scale = scaleAttr.getValueAsDouble();
  }

  int64_t heads() const {
    int64_t n = 1;
    for (int64_t d : lead)
      n *= d;
    return n;
  }
  /// Warps per block: 4 where T allows (16 rows each).
  int64_t warps() const { return rows % 64 == 0 ? 4 : rows % 32 == 0 ? 2 : 1; }
  /// Columns of the other side per step of a warp's walk.
  int64_t tile(int64_t widest) const {
    for (int64_t t = widest; t > 16; t /= 2)
      if (rows % t == 0)
        return t;
    return 16;
  }
};

/// The block a warp belongs to. Its warps walk the other side together:
/// each step, the tiles of it they all read are staged once in shared
/// memory (Tile), then each warp reads its fragments from there.
struct Block {
  gpu::LaunchOp launch;
  bool emulate;
  Value thread;            ///< the thread in the block (GPU only)
  int64_t threads;         ///< threads per block (GPU)
  int64_t warps;           ///< warps per block
  Value row0;              ///< the block's first row (a scalar)
  SmallVector<Value> lead; ///< (batch, head) as scalars
};

/// One kernel: a gpu.launch of one-dimensional blocks, each block the
/// rows [16 w * b, 16 w * (b + 1)) of one (batch, head), warp w of it 16
/// of them. `body(warp, block, lead, row0, row0Scalar)` builds a warp's
/// code. With `heavyFirst` (causal walks that grow with the row),
/// the blocks of the last rows start first.
void buildLaunch(OpBuilder &b, Location loc, const AttentionShape &shape, bool emulate,
                 bool heavyFirst,
                 function_ref<void(Warp &, Block &, ArrayRef<Value>, Value, Value)> body) {
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  int64_t warps = shape.warps();
  int64_t blocksPerHead = shape.rows / (16 * warps);
  Value one = c(1);
  auto launch = gpu::LaunchOp::create(b, loc, c(shape.heads() * blocksPerHead), one, one,
                                      c(emulate ? warps : warps * kLanes), one, one);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value block = launch.getBlockIds().x, thread = launch.getThreadIds().x;
  Value head = arith::DivUIOp::create(b, loc, block, c(blocksPerHead));
  Value rowBlock = arith::RemUIOp::create(b, loc, block, c(blocksPerHead));
  if (heavyFirst)
    rowBlock = arith::SubIOp::create(b, loc, c(blocksPerHead - 1), rowBlock);
  Value warp = emulate ? thread : Value(arith::DivUIOp::create(b, loc, thread, c(kLanes)));
  Value lane = emulate ? Value() : Value(arith::RemUIOp::create(b, loc, thread, c(kLanes)));
  Value blockRow0 = arith::MulIOp::create(b, loc, rowBlock, c(16 * warps));
  Value row0 = arith::AddIOp::create(b, loc, blockRow0,
                                     arith::MulIOp::create(b, loc, warp, c(16)));
  SmallVector<Value> leadScalars(shape.lead.size());
  for (int64_t d = static_cast<int64_t>(shape.lead.size()) - 1; d >= 0; --d) {
    leadScalars[d] = arith::RemUIOp::create(b, loc, head, c(shape.lead[d]));
    head = arith::DivUIOp::create(b, loc, head, c(shape.lead[d]));
  }
  Warp w(b, loc, emulate, lane, launch);
  Block blk{launch, emulate, thread, warps * kLanes, warps, blockRow0, leadScalars};
  SmallVector<Value> lead;
  for (Value v : leadScalars)
    lead.push_back(w.uniform(v));
  body(w, blk, lead, w.uniform(row0), row0);
  gpu::TerminatorOp::create(b, loc);
}

/// `rows` rows of a [..., T, D] operand of 16-bit elements staged for
/// ldmatrix (not a C fragment's Tile), in `buffers` buffers (2: the walk
/// copies the next tile into one while its warps read the other). On the
/// GPU in the block's shared memory, as memref<buffers x rows x (D / 8 +
/// 1) x vector<8xT>, workgroup>: rows of 16-byte vectors (ldmatrix reads
/// 16-byte rows), one vector longer than D so that the 8 rows one ldmatrix
/// reads start in different banks. Emulated, memref<buffers x rows x (D +
/// 8) x T> outside the launch, which each warp (one launch thread, the
/// warps one after the other) fills before it reads it.
struct SharedTile {
  Value memref;
  int64_t rows;
  int64_t depth;
  int64_t buffers;
  Value current; ///< the buffer a step of the walk reads (walkTiles sets it)
};

/// The static shared memory of a block (48 KB).
constexpr int64_t kSharedBytes = 48 * 1024;

/// Buffers per tile for `count` tiles of `rows` rows: 2 where twice the
/// tiles fit in kSharedBytes, else 1 (D = 128 with tiles of 64 rows).
int64_t buffersFor(int64_t count, int64_t rows, int64_t depth) {
  return 2 * count * rows * (depth + 8) * 2 <= kSharedBytes ? 2 : 1;
}

SharedTile makeSharedTile(Block &blk, int64_t rows, int64_t depth, Type elem, int64_t buffers) {
  gpu::LaunchOp launch = blk.launch;
  Location loc = launch.getLoc();
  if (!blk.emulate) {
    auto shared = gpu::AddressSpaceAttr::get(launch.getContext(), gpu::AddressSpace::Workgroup);
    auto type = MemRefType::get({buffers, rows, depth / 8 + 1}, VectorType::get({8}, elem),
                                MemRefLayoutAttrInterface(), shared);
    return {launch.addWorkgroupAttribution(type, loc), rows, depth, buffers, Value()};
  }
  OpBuilder b(launch);
  auto type = MemRefType::get({buffers, rows, depth + 8}, elem);
  Value buffer = memref::AllocOp::create(b, loc, type);
  b.setInsertionPointAfter(launch);
  memref::DeallocOp::create(b, loc, buffer);
  return {buffer, rows, depth, buffers, Value()};
}

/// Whether `type` (16-bit elements) splits into 16-byte vectors along its
/// rows (the buffers start on 64 bytes: ftc-plan-memory).
bool vectorsAligned(MemRefType type) { return stridesAligned(type, 8); }

/// The address of memref[indices] (static strides and offset) as a pointer
/// of `addressSpace`: 3 for shared memory; 1 for global memory, converted
/// from the generic address a kernel's buffer has.
Value addressOf(OpBuilder &b, Location loc, Value memref, ValueRange indices,
                int64_t elementBytes, unsigned addressSpace) {
  auto type = cast<MemRefType>(memref.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  [[maybe_unused]] LogicalResult layout = type.getStridesAndOffset(strides, offset);
  assert(succeeded(layout) && !ShapedType::isDynamic(offset) && "a static strided layout");
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  Value linear = c(offset);
  for (auto [index, stride] : llvm::zip(indices, strides))
    linear = arith::AddIOp::create(b, loc, linear, arith::MulIOp::create(b, loc, index, c(stride)));
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
  Value address = arith::IndexCastOp::create(
      b, loc, b.getI64Type(),
      arith::AddIOp::create(b, loc, base,
                            arith::MulIOp::create(b, loc, linear, c(elementBytes))));
  MLIRContext *ctx = b.getContext();
  if (addressSpace != 1)
    return LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(ctx, addressSpace),
                                    address);
  Value generic = LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(ctx), address);
  return LLVM::AddrSpaceCastOp::create(b, loc, LLVM::LLVMPointerType::get(ctx, 1), generic);
}

/// Copies rows [row0, row0 + tile.rows) of `memref` ([..., T, D], at the
/// block's (batch, head)) into buffer `buffer` of `tile`, 8 elements at a
/// time: the block's threads share the chunks out (thread t: chunks t,
/// t + threads, ..., neighbouring threads neighbouring 16 bytes);
/// emulated, the warp copies them all. With two buffers and 16-byte
/// aligned rows, as cp.async (each thread's copies complete at its next
/// cp.async.wait.group), else through registers.
void stage(OpBuilder &b, Location loc, Block &blk, Value memref, const SharedTile &tile,
           Value row0, Value buffer) {
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  auto type = cast<MemRefType>(memref.getType());
  int64_t perRow = tile.depth / 8, chunks = tile.rows * perRow;
  int64_t step = blk.emulate ? 1 : blk.threads;
  bool aligned = vectorsAligned(type);
  bool async = !blk.emulate && tile.buffers == 2 && aligned;
  auto loop = scf::ForOp::create(b, loc, c(0), c((chunks + step - 1) / step), c(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value chunk = arith::MulIOp::create(b, loc, loop.getInductionVar(), c(step));
  if (!blk.emulate)
    chunk = arith::AddIOp::create(b, loc, chunk, blk.thread);
  if (chunks % step != 0) {
    Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, chunk, c(chunks));
    auto branch = scf::IfOp::create(b, loc, inside, /*withElseRegion=*/false);
    b.setInsertionPointToStart(branch.thenBlock());
  }
  Value row = arith::DivUIOp::create(b, loc, chunk, c(perRow));
  Value vec = arith::RemUIOp::create(b, loc, chunk, c(perRow));
  Value col = arith::MulIOp::create(b, loc, vec, c(8));
  SmallVector<Value> at(blk.lead);
  at.push_back(arith::AddIOp::create(b, loc, row0, row));
  at.push_back(col);
  if (async) {
    Value dst = addressOf(b, loc, tile.memref, {buffer, row, vec}, 16, 3);
    Value src = addressOf(b, loc, memref, at, 2, 1);
    NVVM::CpAsyncOp::create(b, loc, dst, src, 16, NVVM::LoadCacheModifierKind::CG, Value());
    return;
  }
  auto vectorType = VectorType::get({8}, type.getElementType());
  Value v;
  if (aligned) {
    v = vector::LoadOp::create(b, loc, vectorType, memref, at, /*nontemporal=*/false,
                               llvm::MaybeAlign(16));
  } else {
    SmallVector<Value> elems;
    for (int64_t j = 0; j < 8; ++j) {
      SmallVector<Value> next(at);
      next.back() = arith::AddIOp::create(b, loc, col, c(j));
      elems.push_back(memref::LoadOp::create(b, loc, memref, next));
    }
    v = vector::FromElementsOp::create(b, loc, vectorType, elems);
  }
  if (blk.emulate)
    vector::StoreOp::create(b, loc, v, tile.memref, ValueRange{buffer, row, col});
  else
    memref::StoreOp::create(b, loc, v, tile.memref, ValueRange{buffer, row, vec});
}

/// ldmatrix.x4 (.trans with `trans`) on `tile`: lane 8 m + r gives the
/// address of row r of matrix m, (row, col) of the tile (col a multiple of
/// 8); each lane receives two neighbouring elements (lo, hi) of each of
/// the 4 matrices: lane l those at row l / 4, columns 2 (l % 4) and
/// 2 (l % 4) + 1 of it, or with `trans` at rows 2 (l % 4) and 2 (l % 4) + 1,
/// column l / 4 (the PTX ISA's ldmatrix). Emulated, exactly that
/// exchange, as vector shuffles of the lanes' addresses.
SmallVector<std::pair<Value, Value>, 4> ldmatrix(Warp &w, const SharedTile &tile, Value row,
                                                 Value col, bool trans) {
  OpBuilder &b = w.b;
  Location loc = w.loc;
  Type elem = cast<MemRefType>(tile.memref.getType()).getElementType();
  SmallVector<std::pair<Value, Value>, 4> out;
  if (w.emulate) {
    auto lanes = [&](function_ref<int64_t(int64_t)> f) {
      SmallVector<int64_t> v;
      for (int64_t l = 0; l < kLanes; ++l)
        v.push_back(f(l));
      return v;
    };
    auto constant = [&](ArrayRef<int64_t> v) -> Value {
      auto type = VectorType::get({kLanes}, b.getIndexType());
      return arith::ConstantOp::create(b, loc, type, b.getIndexVectorAttr(v));
    };
    auto from = [&](Value x, ArrayRef<int64_t> source) -> Value {
      return vector::ShuffleOp::create(b, loc, x, x, source);
    };
    for (int64_t m = 0; m < 4; ++m) {
      Value pair[2];
      for (int64_t j = 0; j < 2; ++j) {
        SmallVector<int64_t> source = lanes([&](int64_t l) {
          return trans ? 8 * m + 2 * (l % 4) + j : 8 * m + l / 4;
        });
        Value offset = constant(lanes([&](int64_t l) { return trans ? l / 4 : 2 * (l % 4) + j; }));
        pair[j] = w.load(tile.memref, {w.uniform(tile.current), from(row, source),
                                       w.addi(from(col, source), offset)});
      }
      out.push_back({pair[0], pair[1]});
    }
    return out;
  }
  elem = cast<VectorType>(elem).getElementType();
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  Value ptr = addressOf(b, loc, tile.memref,
                        {tile.current, row, arith::DivUIOp::create(b, loc, col, c(8))}, 16, 3);
  Type i32 = b.getI32Type();
  auto result = LLVM::LLVMStructType::getLiteral(b.getContext(), {i32, i32, i32, i32});
  Value regs = NVVM::LdMatrixOp::create(
      b, loc, result, ptr, /*num=*/4, trans ? NVVM::MMALayout::col : NVVM::MMALayout::row,
      NVVM::LdStMatrixShapeAttr::get(b.getContext(), 8, 8), NVVM::LdStMatrixEltType::B16);
  auto pairType = VectorType::get({2}, elem);
  for (int64_t m = 0; m < 4; ++m) {
    Value reg = LLVM::ExtractValueOp::create(b, loc, regs, m);
    Value v = LLVM::BitcastOp::create(b, loc, pairType, reg);
    Value lo = LLVM::ExtractElementOp::create(
        b, loc, v, LLVM::ConstantOp::create(b, loc, i32, static_cast<int64_t>(0)));
    Value hi = LLVM::ExtractElementOp::create(
        b, loc, v, LLVM::ConstantOp::create(b, loc, i32, static_cast<int64_t>(1)));
    out.push_back({lo, hi});
  }
  return out;
}

/// The row within 8 (lane % 8) and the two matrix bits (lane / 8 % 2,
/// lane / 16) of an ldmatrix.x4 address a lane gives.
struct LdLane {
  Value row, m1, m2;
  explicit LdLane(Warp &w)
      : row(w.remi(w.lane, w.index(8))), m1(w.remi(w.divi(w.lane, w.index(8)), w.index(2))),
        m2(w.divi(w.lane, w.index(16))) {}
};

/// A 16x8 tile of f32 per lane: the C/D fragment.
using Tile = SmallVector<Value, 4>;

/// A [..., T, D] buffer at the warp's (batch, head): its A fragments are
/// read from it directly (once per kernel).
struct Matrix {
  Value memref;
  ArrayRef<Value> lead;
  SmallVector<Value> indices(Value row, Value col) const {
    SmallVector<Value> idx(lead);
    idx.push_back(row);
    idx.push_back(col);
    return idx;
  }
  /// (row, col) and (row, col + 1), col even.
  std::pair<Value, Value> pairAt(Warp &w, Value row, Value col) const {
    return w.loadPair(memref, indices(row, col));
  }
};

/// The A fragment (16x16) at (row0, col0) of `m`.
/// (a_i and a_{i+1} are neighbours in a row: one pair load each.)
SmallVector<Value, 8> loadA(Warp &w, const Matrix &m, Value row0, Value col0) {
  SmallVector<Value, 8> a;
  for (int64_t i = 0; i < 8; i += 2) {
    Value row = w.addi(w.addi(row0, w.group), 8 * ((i >> 1) & 1));
    Value col = w.addi(w.addi(col0, w.muli(w.thread, 2)), 8 * (i >> 2));
    auto [lo, hi] = m.pairAt(w, row, col);
    a.append({lo, hi});
  }
  return a;
}

/// The A fragment of k-step s from C tiles (2s and 2s + 1), rounded.
SmallVector<Value, 8> tilesAsA(Warp &w, ArrayRef<Tile> tiles, int64_t s, Type elem) {
  SmallVector<Value, 8> a;
  for (int64_t i = 0; i < 8; ++i)
    a.push_back(w.truncf(tiles[2 * s + (i >> 2)][i & 3], elem));
  return a;
}

Tile zeroTile(Warp &w) {
  Value z = w.f32(0.0);
  return {z, z, z, z};
}

/// The warp's 16 rows by `cols` columns of products: tile n summed over
/// the k-steps of `a` (A fragments already loaded) with B the transposed
/// rows 8 n, ..., 8 n + 7 of `t` (k^T as the B of q k^T). One
/// ldmatrix.x4 gives the B fragments of tiles n and n + 1 at a k-step:
/// matrices (rows 8 n, columns 16 s), (8 n, 16 s + 8), (8 n + 8, 16 s),
/// (8 n + 8, 16 s + 8), whose lane l holds b_0 b_1 and b_2 b_3 of column
/// l / 4 of each tile.
SmallVector<Tile> scores(Warp &w, ArrayRef<SmallVector<Value, 8>> a, const SharedTile &t,
                         int64_t cols) {
  LdLane ld(w);
  SmallVector<Tile> tiles;
  for (int64_t n = 0; n < cols / 8; n += 2) {
    Tile acc[2] = {zeroTile(w), zeroTile(w)};
    Value row = w.addi(w.addi(ld.row, w.muli(ld.m2, 8)), 8 * n);
    for (auto [s, frag] : llvm::enumerate(a)) {
      Value col = w.addi(w.muli(ld.m1, 8), 16 * static_cast<int64_t>(s));
      auto m = ldmatrix(w, t, row, col, /*trans=*/false);
      for (int64_t j = 0; j < 2; ++j)
        acc[j] = w.mma(frag, {m[2 * j].first, m[2 * j].second, m[2 * j + 1].first,
                              m[2 * j + 1].second}, acc[j]);
    }
    tiles.append({acc[0], acc[1]});
  }
  return tiles;
}

/// The scores' scale c: `scale`, or 1 / sqrt(D).
double scaleOf(const AttentionShape &shape) {
  return shape.scale ? *shape.scale : 1.0 / std::sqrt(static_cast<double>(shape.depth));
}

/// x times the scores' scale.
Value scaled(Warp &w, const AttentionShape &shape, Value x) {
  return w.mulf(x, w.f32(scaleOf(shape)));
}

/// The kernels' exponentials are powers of 2: exp(c s - m) = exp2(c log2(e)
/// s - log2(e) m), with c log2(e) one constant and log2(e) m made once per
/// row. On the GPU exp2 is one ex2.approx (MUFU.EX2), where libdevice's
/// expf is about ten instructions around it: per score element, the
/// softmax's arithmetic is then a few instructions beside the tensor cores'.
constexpr double kLog2E = llvm::numbers::log2e;

/// acc[n] += A (from the tiles of `p`, `cols` wide) times rows 16 s, ...
/// of `t`, columns 8 n, ..., 8 n + 7, for n < D / 8. One ldmatrix.x4.trans
/// gives the B fragments of n and n + 1 at k-step s: matrices (rows 16 s,
/// columns 8 n), (16 s + 8, 8 n), (16 s, 8 n + 8), (16 s + 8, 8 n + 8).
void accumulate(Warp &w, const AttentionShape &shape, ArrayRef<Tile> p, const SharedTile &t,
                int64_t cols, MutableArrayRef<Tile> acc) {
  LdLane ld(w);
  for (int64_t s = 0; s < cols / 16; ++s) {
    SmallVector<Value, 8> a = tilesAsA(w, p, s, shape.elem);
    Value row = w.addi(w.addi(ld.row, w.muli(ld.m1, 8)), 16 * s);
    for (int64_t n = 0; n < shape.depth / 8; n += 2) {
      Value col = w.addi(w.muli(ld.m2, 8), 8 * n);
      auto m = ldmatrix(w, t, row, col, /*trans=*/true);
      for (int64_t j = 0; j < 2; ++j)
        acc[n + j] = w.mma(a, {m[2 * j].first, m[2 * j].second, m[2 * j + 1].first,
                               m[2 * j + 1].second}, acc[n + j]);
    }
  }
}

/// Flattens tiles into loop-carried values and back.
void append(SmallVector<Value> &values, ArrayRef<Tile> tiles) {
  for (const Tile &t : tiles)
    values.append(t.begin(), t.end());
}
SmallVector<Tile> takeTiles(ValueRange &values, int64_t n) {
  SmallVector<Tile> tiles;
  for (int64_t i = 0; i < n; ++i) {
    tiles.push_back(Tile(values.take_front(4)));
    values = values.drop_front(4);
  }
  return tiles;
}

/// The row (r = 0: group, r = 1: group + 8) of element i of a C tile.
Value rowOf(Warp &w, Value row0, int64_t i) {
  return w.addi(w.addi(row0, w.group), 8 * (i >> 1));
}
/// The column of element i of C tile n.
Value colOf(Warp &w, Value col0, int64_t n, int64_t i) {
  return w.addi(w.addi(col0, w.muli(w.thread, 2)), 8 * n + (i & 1));
}

/// Stores tiles of f32 (16 rows from row0, D columns) rounded to `elem`,
/// each element times `factor(i)` if given.
void storeTiles(Warp &w, const AttentionShape &shape, ArrayRef<Tile> tiles, Value memref,
                ArrayRef<Value> lead, Value row0, function_ref<Value(int64_t)> factor) {
  // c_i and c_{i+1} (i even) are neighbours in a row: one pair store.
  for (auto [n, tile] : llvm::enumerate(tiles))
    for (int64_t i = 0; i < 4; i += 2) {
      Value pair[2];
      for (int64_t j = 0; j < 2; ++j) {
        Value x = factor ? w.mulf(tile[i + j], factor(i + j)) : tile[i + j];
        pair[j] = w.truncf(x, shape.elem);
      }
      SmallVector<Value> idx(lead);
      idx.push_back(rowOf(w, row0, i));
      idx.push_back(w.addi(w.muli(w.thread, 2), 8 * static_cast<int64_t>(n)));
      w.storePair(pair[0], pair[1], memref, idx);
    }
}

/// The block's walk over the tiles [lb, ub) of `tile` rows of the other
/// side (lb < ub), carrying `inits`: each step, `body(col0, first,
/// carried)` (the tile's first row, as a warp value and as a scalar) reads
/// the tile's rows of each
/// of `operands` staged in `tiles` and returns the next values; only in
/// the warps for which `active(step)` holds, where it is given (a causal
/// walk's warps of one block can start a tile apart). With one buffer per
/// tile, a step copies its tile between two barriers (that no warp still
/// reads the last one, that every copy has landed). With two, the copy of
/// the next tile is under way while the warps read this one: the first
/// tile is copied before the walk; a step starts the next one's copy into
/// the other buffer, waits for its own (cp.async.wait.group 1: all but the
/// copies just started), and ends with a barrier before the next step
/// copies into the buffer it read.
SmallVector<Value> walkTiles(Warp &w, Block &blk, Value lb, Value ub, int64_t tile,
                             ArrayRef<Value> operands, ArrayRef<SharedTile *> tiles,
                             ValueRange inits, function_ref<Value(Value)> active,
                             function_ref<SmallVector<Value>(Value, Value, ValueRange)> body) {
  OpBuilder &b = w.b;
  Location loc = w.loc;
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  bool twice = tiles.front()->buffers == 2;
  auto stageAll = [&](Value step, Value buffer) {
    Value first = arith::MulIOp::create(b, loc, step, c(tile));
    for (auto [operand, t] : llvm::zip(operands, tiles))
      stage(b, loc, blk, operand, *t, first, buffer);
  };
  auto bufferOf = [&](Value step) -> Value {
    return arith::RemUIOp::create(b, loc, step, c(2));
  };
  if (twice) {
    stageAll(lb, bufferOf(lb));
    if (!blk.emulate)
      NVVM::CpAsyncCommitGroupOp::create(b, loc);
  }
  auto loop = scf::ForOp::create(b, loc, lb, ub, c(1), inits);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value step = loop.getInductionVar();
  Value current = c(0);
  if (twice) {
    current = bufferOf(step);
    Value next = arith::AddIOp::create(b, loc, step, c(1));
    Value more = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, next, ub);
    auto branch = scf::IfOp::create(b, loc, more, /*withElseRegion=*/false);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(branch.thenBlock());
      stageAll(next, bufferOf(next));
    }
    if (!blk.emulate) {
      NVVM::CpAsyncCommitGroupOp::create(b, loc);
      NVVM::CpAsyncWaitGroupOp::create(b, loc, 1);
      gpu::BarrierOp::create(b, loc);
    }
  } else {
    if (!blk.emulate)
      gpu::BarrierOp::create(b, loc);
    stageAll(step, current);
    if (!blk.emulate)
      gpu::BarrierOp::create(b, loc);
  }
  for (SharedTile *t : tiles)
    t->current = current;
  Value first = arith::MulIOp::create(b, loc, step, c(tile));
  Value col0 = w.uniform(first);
  ValueRange carried = loop.getRegionIterArgs();
  SmallVector<Value> next;
  if (!active) {
    next = body(col0, first, carried);
  } else {
    auto branch = scf::IfOp::create(b, loc, loop.getResultTypes(), active(step),
                                    /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(branch.thenBlock());
      scf::YieldOp::create(b, loc, body(col0, first, carried));
      b.setInsertionPointToStart(branch.elseBlock());
      scf::YieldOp::create(b, loc, carried);
    }
    next = SmallVector<Value>(branch.getResults());
  }
  if (twice && !blk.emulate)
    gpu::BarrierOp::create(b, loc);
  scf::YieldOp::create(b, loc, next);
  return SmallVector<Value>(loop.getResults());
}

/// Tiles of `tile` columns the rows [row0, row0 + 16) walk: up to the
/// diagonal when causal.
Value tilesUpTo(OpBuilder &b, Location loc, const AttentionShape &shape, Value row0,
                int64_t tile) {
  if (!shape.causal)
    return arith::ConstantIndexOp::create(b, loc, shape.rows / tile);
  Value end = arith::AddIOp::create(b, loc, row0,
                                    arith::ConstantIndexOp::create(b, loc, 16 + tile - 1));
  return arith::DivUIOp::create(b, loc, end, arith::ConstantIndexOp::create(b, loc, tile));
}

/// walkTiles over the tiles from the first, up to the diagonal when
/// causal. Every warp of a block walks as far: its rows lie in one tile's
/// (16 w divides the tile, AttentionShape::tile(64)).
SmallVector<Value> walkToDiagonal(Warp &w, Block &blk, const AttentionShape &shape,
                                  int64_t tile, ArrayRef<Value> operands,
                                  ArrayRef<SharedTile *> tiles, ValueRange inits,
                                  function_ref<SmallVector<Value>(Value, Value, ValueRange)> body) {
  assert(tile % (16 * blk.warps) == 0 && "a block's warps end their walks in one tile");
  Value zero = arith::ConstantIndexOp::create(w.b, w.loc, 0);
  Value ub = tilesUpTo(w.b, w.loc, shape, blk.row0, tile);
  return walkTiles(w, blk, zero, ub, tile, operands, tiles, inits, nullptr, body);
}

/// `n` C tiles of zeros, flattened (a walk's initial accumulators).
SmallVector<Value> zeroTiles(Warp &w, int64_t n) {
  SmallVector<Value> values;
  for (int64_t i = 0; i < n; ++i)
    append(values, zeroTile(w));
  return values;
}

/// The A fragments of the warp's 16 rows of `m` (from row0), one per
/// k-step of D.
SmallVector<SmallVector<Value, 8>> loadRows(Warp &w, const AttentionShape &shape,
                                            const Matrix &m, Value row0) {
  SmallVector<SmallVector<Value, 8>> frags;
  for (int64_t s = 0; s < shape.depth / 16; ++s)
    frags.push_back(loadA(w, m, row0, w.index(16 * s)));
  return frags;
}

/// The indices of row r (0: group, 1: group + 8) of a warp's 16 rows in a
/// [..., T] buffer.
SmallVector<Value> rowIndices(Warp &w, ArrayRef<Value> lead, Value row0, int64_t r) {
  SmallVector<Value> idx(lead);
  idx.push_back(rowOf(w, row0, 2 * r));
  return idx;
}

/// The sum (or maximum) over the four lanes of a quad, in every lane.
Value quad(Warp &w, Value x, bool max) {
  for (int64_t mask : {1, 2}) {
    Value other = w.shuffleXor(x, mask);
    x = max ? w.maxf(x, other) : w.addf(x, other);
  }
  return x;
}

/// `values` (a warp's) with `mask` applied where `onDiagonal` holds (a
/// scalar, the same in every lane: the tile crosses the diagonal), as they
/// are elsewhere (a causal walk's tiles below it, where the mask would
/// select nothing): one branch per tile instead of a comparison and a
/// select per element.
void maskOnDiagonal(Warp &w, Value onDiagonal, MutableArrayRef<Value> values,
                    function_ref<void(MutableArrayRef<Value>)> mask) {
  SmallVector<Type> types;
  for (Value v : values)
    types.push_back(v.getType());
  auto branch = scf::IfOp::create(w.b, w.loc, types, onDiagonal, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(w.b);
    w.b.setInsertionPointToStart(branch.thenBlock());
    SmallVector<Value> masked(values);
    mask(masked);
    scf::YieldOp::create(w.b, w.loc, masked);
    w.b.setInsertionPointToStart(branch.elseBlock());
    scf::YieldOp::create(w.b, w.loc, SmallVector<Value>(values));
  }
  for (auto [i, v] : llvm::enumerate(values))
    v = branch.getResult(i);
}

/// Whether any element of the tile of `cols` columns from `first` lies
/// above the diagonal of the warp's 16 rows from `row0` (scalars): the
/// last column past the first row.
Value crossesDiagonal(OpBuilder &b, Location loc, Value first, int64_t cols, Value row0) {
  Value last = arith::AddIOp::create(b, loc, first, arith::ConstantIndexOp::create(b, loc, cols - 1));
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, last, row0);
}

//===----------------------------------------------------------------------===//
// The forward kernel
//===----------------------------------------------------------------------===//

void buildForward(OpBuilder &b, FusedAttentionOp op, bool emulate) {
  Location loc = op.getLoc();
  AttentionShape shape(cast<MemRefType>(op.getQuery().getType()), op.getCausal(),
                       op.getScaleAttr());
  int64_t tile = shape.tile(64), dTiles = shape.depth / 8;
  buildLaunch(b, loc, shape, emulate, /*heavyFirst=*/shape.causal,
              [&](Warp &w, Block &blk, ArrayRef<Value> lead, Value row0, Value row0Scalar) {
    Matrix q{op.getQuery(), lead};
    int64_t buffers = buffersFor(2, tile, shape.depth);
    SharedTile kt = makeSharedTile(blk, tile, shape.depth, shape.elem, buffers),
               vt = makeSharedTile(blk, tile, shape.depth, shape.elem, buffers);
    SmallVector<SmallVector<Value, 8>> qa = loadRows(w, shape, q, row0);
    Value negInf = w.f32(-std::numeric_limits<double>::infinity());
    // Carried: the running maximum (of the scores in base 2) and (this
    // lane's part of the) sum of each of the lane's two rows, then the
    // output tiles.
    SmallVector<Value> inits = {negInf, negInf, w.f32(0.0), w.f32(0.0)};
    inits.append(zeroTiles(w, dTiles));
    SmallVector<Value> out = walkToDiagonal(
        w, blk, shape, tile, {op.getKey(), op.getValue()}, {&kt, &vt}, inits,
        [&](Value col0, Value first, ValueRange carried) {
          SmallVector<Tile> s = scores(w, qa, kt, tile);
          // x = c log2(e) s: the scores in base 2.
          Value scale2 = w.f32(scaleOf(shape) * kLog2E);
          SmallVector<Value> x;
          for (Tile &st : s)
            for (int64_t i = 0; i < 4; ++i)
              x.push_back(w.mulf(st[i], scale2));
          if (shape.causal)
            maskOnDiagonal(w, crossesDiagonal(b, loc, first, tile, row0Scalar), x,
                           [&](MutableArrayRef<Value> m) {
                             for (int64_t k = 0; k < static_cast<int64_t>(m.size()); ++k)
                               m[k] = w.select(w.gt(colOf(w, col0, k / 4, k % 4),
                                                    rowOf(w, row0, k % 4)),
                                               negInf, m[k]);
                           });
          Value rowMax[2] = {negInf, negInf};
          for (auto [n, st] : llvm::enumerate(s))
            for (int64_t i = 0; i < 4; ++i) {
              st[i] = x[4 * n + i];
              rowMax[i >> 1] = w.maxf(rowMax[i >> 1], st[i]);
            }
          Value maxNew[2], alpha[2], sum[2];
          for (int r = 0; r < 2; ++r) {
            maxNew[r] = w.maxf(carried[r], quad(w, rowMax[r], /*max=*/true));
            alpha[r] = w.exp2(w.subf(carried[r], maxNew[r]));
            sum[r] = w.mulf(carried[2 + r], alpha[r]);
          }
          for (Tile &st : s)
            for (int64_t i = 0; i < 4; ++i) {
              st[i] = w.exp2(w.subf(st[i], maxNew[i >> 1]));
              sum[i >> 1] = w.addf(sum[i >> 1], st[i]);
            }
          ValueRange rest = carried.drop_front(4);
          SmallVector<Tile> o = takeTiles(rest, dTiles);
          for (Tile &ot : o)
            for (int64_t i = 0; i < 4; ++i)
              ot[i] = w.mulf(ot[i], alpha[i >> 1]);
          accumulate(w, shape, s, vt, tile, o);
          SmallVector<Value> next = {maxNew[0], maxNew[1], sum[0], sum[1]};
          append(next, o);
          return next;
        });
    Value inverse[2];
    for (int r = 0; r < 2; ++r) {
      Value total = quad(w, out[2 + r], /*max=*/false);
      inverse[r] = w.divf(w.f32(1.0), total);
      // Every lane of the quad writes its row's log-sum-exp (the same),
      // in natural units: m ln(2) + ln(sum).
      w.store(w.addf(w.mulf(out[r], w.f32(1.0 / kLog2E)), w.log(total)), op.getLse(),
              rowIndices(w, lead, row0, r));
    }
    ValueRange rest = ValueRange(out).drop_front(4);
    storeTiles(w, shape, takeTiles(rest, dTiles), op.getOut(), lead, row0,
               [&](int64_t i) { return inverse[i >> 1]; });
  });
}

//===----------------------------------------------------------------------===//
// The backward kernels
//===----------------------------------------------------------------------===//

/// A row's log-sum-exp as probabilities() takes it: -log2(e) lse.
Value lse2(Warp &w, Value lse) { return w.mulf(lse, w.f32(-kLog2E)); }

/// P = exp(s * scale - lse) (zero above the diagonal when causal: on a
/// tile that crosses it where `onDiagonal` is given, else on every tile)
/// and dS = P (dP - delta) scale, for a step's C tiles: `query(n, i)` and
/// `key(n, i)` give element i of tile n's query and key, `lse` its query's
/// -log2(e) lse (lse2 above) and `delta` its delta. P is exp2(fma(s,
/// scale log2(e), -log2(e) lse)).
void probabilities(Warp &w, const AttentionShape &shape, MutableArrayRef<Tile> s,
                   MutableArrayRef<Tile> dp, Value onDiagonal,
                   function_ref<Value(int64_t, int64_t)> query,
                   function_ref<Value(int64_t, int64_t)> key,
                   function_ref<Value(int64_t, int64_t)> lse,
                   function_ref<Value(int64_t, int64_t)> delta) {
  // Tile by tile (each tile's values consumed before the next's are
  // made: fewer registers than the whole step's at once).
  Value zero = w.f32(0.0), scale2 = w.f32(scaleOf(shape) * kLog2E);
  for (int64_t n = 0, e = static_cast<int64_t>(s.size()); n < e; ++n) {
    Tile &st = s[n];
    SmallVector<Value> p;
    for (int64_t i = 0; i < 4; ++i)
      p.push_back(w.exp2(w.fma(st[i], scale2, lse(n, i))));
    auto mask = [&](MutableArrayRef<Value> m) {
      for (int64_t i = 0; i < 4; ++i)
        m[i] = w.select(w.gt(key(n, i), query(n, i)), zero, m[i]);
    };
    if (shape.causal && onDiagonal)
      maskOnDiagonal(w, onDiagonal, p, mask);
    else if (shape.causal)
      mask(p);
    for (int64_t i = 0; i < 4; ++i) {
      st[i] = p[i];
      dp[n][i] = scaled(w, shape, w.mulf(p[i], w.subf(dp[n][i], delta(n, i))));
    }
  }
}

/// dq: a warp's 16 queries walk the keys up to the diagonal.
void buildQueryGrad(OpBuilder &b, FusedAttentionGradOp op, const AttentionShape &shape,
                    bool emulate) {
  Location loc = op.getLoc();
  int64_t tile = shape.tile(64), dTiles = shape.depth / 8;
  buildLaunch(b, loc, shape, emulate, /*heavyFirst=*/shape.causal,
              [&](Warp &w, Block &blk, ArrayRef<Value> lead, Value row0, Value row0Scalar) {
    Matrix q{op.getQuery(), lead}, g{op.getGrad(), lead};
    int64_t buffers = buffersFor(2, tile, shape.depth);
    SharedTile kt = makeSharedTile(blk, tile, shape.depth, shape.elem, buffers),
               vt = makeSharedTile(blk, tile, shape.depth, shape.elem, buffers);
    SmallVector<SmallVector<Value, 8>> qa = loadRows(w, shape, q, row0),
                                       ga = loadRows(w, shape, g, row0);
    Value lse[2], delta[2];
    for (int r = 0; r < 2; ++r) {
      lse[r] = lse2(w, w.load(op.getLse(), rowIndices(w, lead, row0, r)));
      delta[r] = w.load(op.getDelta(), rowIndices(w, lead, row0, r));
    }
    SmallVector<Value> out = walkToDiagonal(
        w, blk, shape, tile, {op.getKey(), op.getValue()}, {&kt, &vt},
        zeroTiles(w, dTiles), [&](Value col0, Value first, ValueRange carried) {
          SmallVector<Tile> s = scores(w, qa, kt, tile);
          SmallVector<Tile> dp = scores(w, ga, vt, tile);
          probabilities(
              w, shape, s, dp, crossesDiagonal(b, loc, first, tile, row0Scalar),
              [&](int64_t, int64_t i) { return rowOf(w, row0, i); },
              [&](int64_t n, int64_t i) { return colOf(w, col0, n, i); },
              [&](int64_t, int64_t i) { return lse[i >> 1]; },
              [&](int64_t, int64_t i) { return delta[i >> 1]; });
          ValueRange rest = carried;
          SmallVector<Tile> dq = takeTiles(rest, dTiles);
          accumulate(w, shape, dp, kt, tile, dq);
          SmallVector<Value> next;
          append(next, dq);
          return next;
        });
    ValueRange rest = out;
    storeTiles(w, shape, takeTiles(rest, dTiles), op.getQueryGrad(), lead, row0, nullptr);
  });
}

/// dk and dv: a warp's 16 keys walk the queries from the diagonal.
void buildKeyValueGrad(OpBuilder &b, FusedAttentionGradOp op, const AttentionShape &shape,
                       bool emulate) {
  Location loc = op.getLoc();
  int64_t tile = shape.tile(32), dTiles = shape.depth / 8;
  buildLaunch(b, loc, shape, emulate, /*heavyFirst=*/false,
              [&](Warp &w, Block &blk, ArrayRef<Value> lead, Value row0, Value row0Scalar) {
    Matrix k{op.getKey(), lead}, v{op.getValue(), lead};
    int64_t buffers = buffersFor(2, tile, shape.depth);
    SharedTile qt = makeSharedTile(blk, tile, shape.depth, shape.elem, buffers),
               gt = makeSharedTile(blk, tile, shape.depth, shape.elem, buffers);
    SmallVector<SmallVector<Value, 8>> ka = loadRows(w, shape, k, row0),
                                       va = loadRows(w, shape, v, row0);
    // Causal: from the tile of the warp's first key (the block's first
    // warp's for the block; a warp whose own walk starts a tile later
    // skips the first).
    Value tileSize = arith::ConstantIndexOp::create(b, loc, tile);
    Value first = shape.causal ? Value(arith::DivUIOp::create(b, loc, blk.row0, tileSize))
                               : Value(arith::ConstantIndexOp::create(b, loc, 0));
    Value last = arith::ConstantIndexOp::create(b, loc, shape.rows / tile);
    bool same = !shape.causal || tile % (16 * blk.warps) == 0;
    Value own = same ? Value() : arith::DivUIOp::create(b, loc, row0Scalar, tileSize);
    auto active = [&](Value step) -> Value {
      return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, step, own);
    };
    SmallVector<Value> out = walkTiles(
        w, blk, first, last, tile, {op.getQuery(), op.getGrad()}, {&qt, &gt},
        zeroTiles(w, 2 * dTiles), same ? function_ref<Value(Value)>() : active,
        [&](Value col0, Value first, ValueRange carried) {
          // Transposed scores: rows are keys, columns queries.
          SmallVector<Tile> st = scores(w, ka, qt, tile);
          SmallVector<Tile> dpt = scores(w, va, gt, tile);
          // Each column's (query's) log-sum-exp and delta, loaded where
          // first used.
          llvm::DenseMap<std::pair<Value, int64_t>, Value> loaded;
          auto ofColumn = [&](Value memref, int64_t n, int64_t i) {
            Value &v = loaded[{memref, 2 * n + (i & 1)}];
            if (!v) {
              SmallVector<Value> idx(lead);
              idx.push_back(colOf(w, col0, n, i & 1));
              v = w.load(memref, idx);
              if (memref == op.getLse())
                v = lse2(w, v);
            }
            return v;
          };
          // Masked on every tile: a branch per tile here (keys past the
          // tile's first query) took gpt2-small's kernel from 168
          // registers to 211 (ptxas -v), two blocks an SM instead of
          // three, for the selects it saves.
          probabilities(
              w, shape, st, dpt, Value(),
              [&](int64_t n, int64_t i) { return colOf(w, col0, n, i); },
              [&](int64_t, int64_t i) { return rowOf(w, row0, i); },
              [&](int64_t n, int64_t i) { return ofColumn(op.getLse(), n, i); },
              [&](int64_t n, int64_t i) { return ofColumn(op.getDelta(), n, i); });
          ValueRange rest = carried;
          SmallVector<Tile> dk = takeTiles(rest, dTiles);
          SmallVector<Tile> dv = takeTiles(rest, dTiles);
          accumulate(w, shape, st, gt, tile, dv);
          accumulate(w, shape, dpt, qt, tile, dk);
          SmallVector<Value> next;
          append(next, dk);
          append(next, dv);
          return next;
        });
    ValueRange rest = out;
    storeTiles(w, shape, takeTiles(rest, dTiles), op.getKeyGrad(), lead, row0, nullptr);
    storeTiles(w, shape, takeTiles(rest, dTiles), op.getValueGrad(), lead, row0, nullptr);
  });
}

struct GpuAttentionKernelsPass
    : public ftc::impl::GpuAttentionKernelsBase<GpuAttentionKernelsPass> {
  using GpuAttentionKernelsBase::GpuAttentionKernelsBase;

  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<FusedAttentionOp, FusedAttentionGradOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (op->getNumResults() != 0) {
        op->emitError("runs as a kernel only on buffers: bufferize first");
        return signalPassFailure();
      }
      OpBuilder b(op);
      if (auto forward = dyn_cast<FusedAttentionOp>(op)) {
        buildForward(b, forward, emulate);
      } else {
        auto grad = cast<FusedAttentionGradOp>(op);
        AttentionShape shape(cast<MemRefType>(grad.getQuery().getType()), grad.getCausal(),
                             grad.getScaleAttr());
        buildKeyValueGrad(b, grad, shape, emulate);
        buildQueryGrad(b, grad, shape, emulate);
      }
      op->erase();
    }
  }
};

} // namespace
