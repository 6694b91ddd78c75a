//===- Cuda.cpp - a state's buffers on an NVIDIA GPU ----------------------===//
//
// The driver API, loaded with dlopen: the calls are declared here with the
// driver's ABI (cuda.h's types are opaque handles and integers), so the
// runtime builds without a CUDA toolkit. See Cuda.h.
//
//===----------------------------------------------------------------------===//

#include "Cuda.h"

#include "Model.h"

#include "ftc/Codegen/Gemm.h"

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

extern "C" {
extern const char ftcrt_cuda_image[] __attribute__((weak));
extern const char ftcrt_cuda_kernels[] __attribute__((weak));
extern const int32_t ftcrt_cuda_kernel_count __attribute__((weak));
extern const char ftcrt_cuda_kernel_sources[] __attribute__((weak));
extern const int32_t ftcrt_gemm_count[1] __attribute__((weak));
}

namespace ftc::runtime::cuda {
namespace {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUgraph = void *;
using CUgraphExec = void *;
using CUevent = void *;

constexpr int kPointerAttributeMemoryType = 2; // CU_POINTER_ATTRIBUTE_MEMORY_TYPE
constexpr unsigned kMemoryTypeDevice = 2;      // CU_MEMORYTYPE_DEVICE
constexpr int kJitErrorLogBuffer = 5;          // CU_JIT_ERROR_LOG_BUFFER
constexpr int kJitErrorLogBufferSize = 6;      // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
constexpr int kAttributeMajor = 75;            // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttributeMinor = 76;
constexpr int kCaptureThreadLocal = 1;         // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL

/// The driver's entry points this runtime calls.
struct Driver {
  void *library = nullptr;
  std::string error; // why it could not be loaded
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *, void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, CUstream, void **, void **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuPointerGetAttribute)(void *, int, CUdeviceptr);
  CUresult (*cuStreamBeginCapture)(CUstream, int);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph *);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *, CUgraph, unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuGraphDestroy)(CUgraph);
  // FTC_CUDA_PROFILE's: optional (null where the driver lacks them).
  CUresult (*cuEventCreate)(CUevent *, unsigned) = nullptr;
  CUresult (*cuEventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*cuEventSynchronize)(CUevent) = nullptr;
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent) = nullptr;
  CUresult (*cuEventDestroy)(CUevent) = nullptr;
};

/// Loaded once per process; `error` says why not.
const Driver &driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    const char *path = std::getenv("FTC_LIBCUDA");
    if (!path || !*path)
      path = "libcuda.so.1";
    d.library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!d.library) {
      const char *why = dlerror();
      d.error = std::string("cannot load the NVIDIA driver library ") + path + " (" +
                (why ? why : "unknown reason") + ")";
      return;
    }
    auto bind = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(d.library, name));
      if (!fn && d.error.empty())
        d.error = std::string(path) + " has no " + name + " (a driver older than CUDA 12?)";
    };
    bind(d.cuInit, "cuInit");
    bind(d.cuDeviceGetCount, "cuDeviceGetCount");
    bind(d.cuDeviceGet, "cuDeviceGet");
    bind(d.cuDeviceGetName, "cuDeviceGetName");
    bind(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
    bind(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    bind(d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
    bind(d.cuCtxSetCurrent, "cuCtxSetCurrent");
    bind(d.cuModuleLoadDataEx, "cuModuleLoadDataEx");
    bind(d.cuModuleUnload, "cuModuleUnload");
    bind(d.cuModuleGetFunction, "cuModuleGetFunction");
    bind(d.cuMemAlloc, "cuMemAlloc_v2");
    bind(d.cuMemFree, "cuMemFree_v2");
    bind(d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    bind(d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
    bind(d.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
    bind(d.cuMemsetD8Async, "cuMemsetD8Async");
    bind(d.cuStreamCreate, "cuStreamCreate");
    bind(d.cuStreamDestroy, "cuStreamDestroy_v2");
    bind(d.cuStreamSynchronize, "cuStreamSynchronize");
    bind(d.cuLaunchKernel, "cuLaunchKernel");
    bind(d.cuGetErrorString, "cuGetErrorString");
    bind(d.cuPointerGetAttribute, "cuPointerGetAttribute");
    bind(d.cuStreamBeginCapture, "cuStreamBeginCapture_v2");
    bind(d.cuStreamEndCapture, "cuStreamEndCapture");
    bind(d.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags");
    bind(d.cuGraphLaunch, "cuGraphLaunch");
    bind(d.cuGraphExecDestroy, "cuGraphExecDestroy");
    bind(d.cuGraphDestroy, "cuGraphDestroy");
    auto optional = [&](auto &fn, std::initializer_list<const char *> names) {
      for (const char *name : names)
        if (!fn)
          fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(d.library, name));
    };
    optional(d.cuEventCreate, {"cuEventCreate"});
    optional(d.cuEventRecord, {"cuEventRecord"});
    optional(d.cuEventSynchronize, {"cuEventSynchronize"});
    optional(d.cuEventElapsedTime, {"cuEventElapsedTime_v2", "cuEventElapsedTime"});
    optional(d.cuEventDestroy, {"cuEventDestroy_v2"});
  });
  return d;
}

// cuBLASLt's ABI (cublasLt.h, CUDA 12 and 13): handles are pointers, the
// attributes and types integers.
using cublasStatus = int;
using LtHandle = void *;
using LtDesc = void *;
using LtLayout = void *;
using LtPreference = void *;
struct LtAlgo {
  uint64_t data[8];
};
struct LtHeuristic {
  LtAlgo algo;
  size_t workspaceSize;
  cublasStatus state;
  float wavesCount;
  int reserved[4];
};
constexpr int kComputeF32 = 68;         // CUBLAS_COMPUTE_32F (no TF32)
constexpr int kRealF32 = 0;             // CUDA_R_32F
constexpr int kRealF16 = 2;             // CUDA_R_16F
constexpr int kRealBF16 = 14;           // CUDA_R_16BF
constexpr int kDescTransA = 3;          // CUBLASLT_MATMUL_DESC_TRANSA (int32)
constexpr int kDescTransB = 4;          // CUBLASLT_MATMUL_DESC_TRANSB (int32)
constexpr int kDescEpilogue = 7;        // CUBLASLT_MATMUL_DESC_EPILOGUE (uint32)
constexpr int kDescBiasPointer = 8;     // CUBLASLT_MATMUL_DESC_BIAS_POINTER (void *)
constexpr int kDescAuxPointer = 11;     // CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER (void *)
constexpr int kDescAuxLd = 12;          // CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD (int64)
constexpr uint32_t kEpilogueBias = 4;   // CUBLASLT_EPILOGUE_BIAS: a bias per row of D, D's type
constexpr uint32_t kEpilogueGelu = 32;  // CUBLASLT_EPILOGUE_GELU (| kEpilogueBias: GELU_BIAS)
constexpr uint32_t kEpilogueAux = 128;  // GELU | 128: GELU_AUX (its input written to aux)
constexpr uint32_t kEpilogueDGelu = 64 | 128; // CUBLASLT_EPILOGUE_DGELU (aux read)
constexpr int kLayoutBatchCount = 5;    // CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT (int32)
constexpr int kLayoutBatchStride = 6;   // CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET (int64)
constexpr int kPrefMaxWorkspace = 1;    // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES (uint64)
constexpr int kPrefMinAlignmentA = 5;   // ..._MIN_ALIGNMENT_A_BYTES (uint32); B, C, D follow
/// cuBLAS's advice for Hopper: 32 MiB of workspace.
constexpr size_t kBlasWorkspaceBytes = size_t{32} << 20;

/// The epilogue that adds `g`'s bias and applies its activation.
uint32_t epilogueOf(const ftc::gemm::ColumnMajor &g) {
  using ftc::gemm::Activation;
  uint32_t bias = g.bias ? kEpilogueBias : 0;
  switch (g.activation) {
  case Activation::None:
    return bias;
  case Activation::Gelu:
    return kEpilogueGelu | bias;
  case Activation::GeluAux:
    return kEpilogueGelu | kEpilogueAux | bias;
  case Activation::GeluGrad:
    return kEpilogueDGelu;
  }
  return bias;
}

/// cuBLASLt's entry points this runtime calls.
struct Blas {
  void *library = nullptr;
  std::string path, error;
  cublasStatus (*create)(LtHandle *);
  cublasStatus (*destroy)(LtHandle);
  const char *(*statusString)(cublasStatus);
  cublasStatus (*descCreate)(LtDesc *, int, int);
  cublasStatus (*descDestroy)(LtDesc);
  cublasStatus (*descSet)(LtDesc, int, const void *, size_t);
  cublasStatus (*layoutCreate)(LtLayout *, int, uint64_t, uint64_t, int64_t);
  cublasStatus (*layoutDestroy)(LtLayout);
  cublasStatus (*layoutSet)(LtLayout, int, const void *, size_t);
  cublasStatus (*prefCreate)(LtPreference *);
  cublasStatus (*prefDestroy)(LtPreference);
  cublasStatus (*prefSet)(LtPreference, int, const void *, size_t);
  cublasStatus (*heuristic)(LtHandle, LtDesc, LtLayout, LtLayout, LtLayout, LtLayout,
                            LtPreference, int, LtHeuristic *, int *);
  cublasStatus (*matmul)(LtHandle, LtDesc, const void *, const void *, LtLayout, const void *,
                         LtLayout, const void *, const void *, LtLayout, void *, LtLayout,
                         const LtAlgo *, void *, size_t, CUstream);
};

/// Loaded once per process, from FTC_LIBCUBLASLT, else the first of the
/// CUDA 13 and 12 libraries found on the loader's path or in the toolkit
/// ($CUDA_HOME, /usr/local/cuda); `error` says why not.
const Blas &blas() {
  static Blas d;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    if (const char *path = std::getenv("FTC_LIBCUBLASLT"); path && *path) {
      candidates.push_back(path);
    } else {
      std::vector<std::string> dirs{""};
      if (const char *home = std::getenv("CUDA_HOME"); home && *home)
        dirs.push_back(std::string(home) + "/lib64/");
      dirs.push_back("/usr/local/cuda/lib64/");
      for (const std::string &dir : dirs)
        for (const char *name : {"libcublasLt.so.13", "libcublasLt.so.12"})
          candidates.push_back(dir + name);
    }
    std::string reasons;
    for (const std::string &path : candidates) {
      d.library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (d.library) {
        d.path = path;
        break;
      }
      const char *why = dlerror();
      reasons += (reasons.empty() ? "" : "; ") + std::string(why ? why : path.c_str());
    }
    if (!d.library) {
      d.error = "cannot load cuBLASLt, which runs this step's matrix products (ftc "
                "--cuda-products=cublaslt; set FTC_LIBCUBLASLT to its path): " +
                reasons;
      return;
    }
    auto bind = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(d.library, name));
      if (!fn && d.error.empty())
        d.error = d.path + " has no " + name;
    };
    bind(d.create, "cublasLtCreate");
    bind(d.destroy, "cublasLtDestroy");
    bind(d.statusString, "cublasLtGetStatusString");
    bind(d.descCreate, "cublasLtMatmulDescCreate");
    bind(d.descDestroy, "cublasLtMatmulDescDestroy");
    bind(d.descSet, "cublasLtMatmulDescSetAttribute");
    bind(d.layoutCreate, "cublasLtMatrixLayoutCreate");
    bind(d.layoutDestroy, "cublasLtMatrixLayoutDestroy");
    bind(d.layoutSet, "cublasLtMatrixLayoutSetAttribute");
    bind(d.prefCreate, "cublasLtMatmulPreferenceCreate");
    bind(d.prefDestroy, "cublasLtMatmulPreferenceDestroy");
    bind(d.prefSet, "cublasLtMatmulPreferenceSetAttribute");
    bind(d.heuristic, "cublasLtMatmulAlgoGetHeuristic");
    bind(d.matmul, "cublasLtMatmul");
  });
  return d;
}

std::string describeBlas(cublasStatus status) {
  const char *text = blas().statusString ? blas().statusString(status) : nullptr;
  return std::string(text ? text : "cuBLAS status") + " (" + std::to_string(status) + ")";
}

/// A product's cuBLASLt objects, made at its first call and kept: the
/// algorithm is chosen once, so every step runs the same one (the same
/// bits).
struct GemmPlan {
  LtDesc desc = nullptr;
  LtLayout a = nullptr, b = nullptr, c = nullptr;
  LtAlgo algo{};
  size_t workspace = 0;
};

std::string describe(CUresult result) {
  const char *text = nullptr;
  if (driver().cuGetErrorString && driver().cuGetErrorString(result, &text) == 0 && text)
    return std::string(text) + " (CUresult " + std::to_string(result) + ")";
  return "CUresult " + std::to_string(result);
}

/// Which copy of a buffer is current.
enum class Newer : uint8_t { Neither, Host, Device };

/// An entry point as a CUDA graph: its launches and products captured from
/// its second call on the state's stream, then replayed by one
/// cuGraphLaunch per call. Every argument the host code passes is an
/// address in the state's arena (inputs included, see beforeEntry) or a
/// constant, so a captured graph stays valid for the state's life.
struct EntryGraph {
  CUgraphExec exec = nullptr;
  int eagerCalls = 0;
  bool off = false; // the capture or its instantiation failed: run eagerly
};

/// FTC_CUDA_PROFILE=FILE: each launch and product timed on the GPU, between
/// two events recorded around it on the stream, summed per kernel and per
/// product, and written as a table to FILE ("-": stderr) when the state is
/// destroyed. Entry points run launch by launch then (no graphs), and the
/// host waits for each entry point's last event.
struct Profile {
  std::string path;
  std::string error; // why timing stopped, if it did
  std::vector<CUevent> events; // a pool: this entry point's first `used`
  size_t used = 0;
  struct Op {
    int kernel; // or -1 for a product
    const int64_t *gemm;
    size_t start; // events[start], events[start + 1]
  };
  std::vector<Op> pending; // this entry point's
  struct Row {
    int64_t calls = 0;
    double ms = 0;
  };
  std::map<int, Row> kernels;
  std::map<const int64_t *, Row> gemms;
  struct Entry {
    int64_t calls = 0, ops = 0;
    double ms = 0, busy = 0; // first event to last; the ops' own times
  };
  std::map<std::string, Entry> entries;
};

} // namespace

struct Device {
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  CUstream stream = nullptr;
  CUdeviceptr arena = 0;
  CUdeviceptr scratch = 0; // 256 bytes after the inputs: a collective's scalar
  std::vector<CUfunction> kernels;
  std::vector<void *> pointers;       // per buffer: its device address
  std::vector<CUdeviceptr> inputs;    // per buffer: an input's own device buffer
  mutable std::vector<Newer> newer;   // per buffer
  /// The first failure of a launch in the running entry point.
  CUresult launchError = 0;
  int failedKernel = -1;
  /// cuBLASLt, for a step with products (ftcrt_gemm): the handle, its
  /// workspace, a plan per product and alignment of its operands.
  LtHandle blasHandle = nullptr;
  CUdeviceptr blasWorkspace = 0;
  std::map<std::pair<const int64_t *, unsigned>, GemmPlan> plans;
  /// The first failure of a product in the running entry point.
  std::string gemmError;
  /// Entry points replayed as CUDA graphs (unless FTC_CUDA_GRAPHS=0 or
  /// FTC_CUDA_PROFILE).
  bool useGraphs = true;
  std::map<EntryFn, EntryGraph> graphs;
  std::unique_ptr<Profile> profile;
};

namespace {

/// The state whose entry point is running on this thread (launches go to
/// its stream).
thread_local Device *running = nullptr;

ftc_status deviceError(const std::string &what, CUresult result) {
  return fail(FTC_ERROR_DEVICE, what + ": " + describe(result));
}

bool residesOnDevice(const Buffer &b) { return b.kind != "input" && b.kind != "workspace"; }

/// The state's context made the calling thread's: any thread may call the
/// C ABI, not only the one that created the state.
CUresult bind(const Device &dev) { return driver().cuCtxSetCurrent(dev.context); }

/// String `n` of a table of NUL-terminated strings with `count` of them
/// ("?" past its end or where there is no table).
const char *nthString(const char *table, int32_t count, int n) {
  if (!table || n < 0 || n >= count)
    return "?";
  for (int k = 0; k < n; ++k)
    table += std::strlen(table) + 1;
  return table;
}

/// The first event of a launch or product (kernel, or -1 and its
/// descriptor) under FTC_CUDA_PROFILE; profileEnd records the second.
void profileBegin(Device &dev, int kernel, const int64_t *gemm) {
  Profile &p = *dev.profile;
  if (!p.error.empty())
    return;
  const Driver &d = driver();
  while (p.events.size() < p.used + 2) {
    CUevent e = nullptr;
    if (CUresult r = d.cuEventCreate(&e, 0)) {
      p.error = "cuEventCreate: " + describe(r);
      return;
    }
    p.events.push_back(e);
  }
  p.pending.push_back({kernel, gemm, p.used});
  d.cuEventRecord(p.events[p.used], dev.stream);
  p.used += 2;
}

void profileEnd(Device &dev) {
  Profile &p = *dev.profile;
  if (p.error.empty() && !p.pending.empty())
    driver().cuEventRecord(p.events[p.pending.back().start + 1], dev.stream);
}

/// The running entry point's times added to the profile (waiting for its
/// last event), unless it failed.
void profileCollect(Device &dev, const char *name, bool failed) {
  Profile &p = *dev.profile;
  const Driver &d = driver();
  if (!failed && p.error.empty() && !p.pending.empty()) {
    CUevent last = p.events[p.pending.back().start + 1];
    if (CUresult r = d.cuEventSynchronize(last)) {
      p.error = "cuEventSynchronize: " + describe(r);
    } else {
      Profile::Entry &entry = p.entries[name];
      float ms = 0;
      for (const Profile::Op &op : p.pending) {
        d.cuEventElapsedTime(&ms, p.events[op.start], p.events[op.start + 1]);
        Profile::Row &row = op.kernel >= 0 ? p.kernels[op.kernel] : p.gemms[op.gemm];
        ++row.calls;
        row.ms += ms;
        entry.busy += ms;
      }
      d.cuEventElapsedTime(&ms, p.events[p.pending.front().start], last);
      entry.ms += ms;
      entry.ops += static_cast<int64_t>(p.pending.size());
      ++entry.calls;
    }
  }
  p.pending.clear();
  p.used = 0;
}

/// The profile as a table: the entry points, then every kernel and
/// product by the GPU time it took, the largest first.
void writeProfile(const Profile &p) {
  FILE *out = p.path == "-" ? stderr : std::fopen(p.path.c_str(), "w");
  if (!out) {
    std::fprintf(stderr, "ftc: FTC_CUDA_PROFILE: cannot write %s: %s\n", p.path.c_str(),
                 std::strerror(errno));
    return;
  }
  std::fprintf(out, "# ftc CUDA profile: GPU time of every launch and product (CUDA events)\n");
  if (!p.error.empty())
    std::fprintf(out, "# timing stopped early: %s\n", p.error.c_str());
  std::fprintf(out, "%-12s %8s %14s %14s %10s\n", "entry", "calls", "ms/call", "busy ms/call",
               "ops/call");
  double total = 0;
  for (const auto &[name, e] : p.entries) {
    double calls = static_cast<double>(std::max<int64_t>(e.calls, 1));
    std::fprintf(out, "%-12s %8lld %14.3f %14.3f %10.0f\n", name.c_str(),
                 static_cast<long long>(e.calls), e.ms / calls, e.busy / calls,
                 static_cast<double>(e.ops) / calls);
    total += e.busy;
  }
  struct Line {
    std::string what, source;
    const Profile::Row *row;
  };
  std::vector<Line> lines;
  for (const auto &[k, row] : p.kernels)
    lines.push_back({nthString(ftcrt_cuda_kernels, ftcrt_cuda_kernel_count, k),
                     nthString(ftcrt_cuda_kernel_sources, ftcrt_cuda_kernel_count, k), &row});
  // Products by shape and type: each layer's product has its own
  // descriptor, and the same work.
  std::map<std::string, Profile::Row> byShape;
  for (const auto &[desc, row] : p.gemms) {
    static const char *types[] = {"f32", "bf16", "f16"};
    int64_t type = desc[ftc::gemm::kOperandType], result = desc[ftc::gemm::kResultType];
    char what[160];
    // "bf16" sums to f32, "bf16>bf16" rounds the sums to bf16.
    std::snprintf(what, sizeof(what), "cuBLASLt %lldx[%lldx%lld by %lldx%lld] %s%s%s%s",
                  static_cast<long long>(desc[ftc::gemm::kBatch]),
                  static_cast<long long>(desc[ftc::gemm::kM]),
                  static_cast<long long>(desc[ftc::gemm::kK]),
                  static_cast<long long>(desc[ftc::gemm::kK]),
                  static_cast<long long>(desc[ftc::gemm::kN]),
                  type >= 0 && type < 3 ? types[type] : "?", result ? ">" : "",
                  result > 0 && result < 3 ? types[result] : "", desc[ftc::gemm::kBeta] ? " +C" : "");
    Profile::Row &same = byShape[what];
    same.calls += row.calls;
    same.ms += row.ms;
  }
  for (const auto &[what, row] : byShape)
    lines.push_back({what, "", &row});
  std::sort(lines.begin(), lines.end(), [](const Line &a, const Line &b) {
    return a.row->ms != b.row->ms ? a.row->ms > b.row->ms : a.what < b.what;
  });
  std::fprintf(out, "%-44s %-28s %8s %11s %10s %6s\n", "kernel or product", "source", "calls",
               "total ms", "mean us", "%");
  for (const Line &l : lines)
    std::fprintf(out, "%-44s %-28s %8lld %11.3f %10.1f %6.2f\n", l.what.c_str(),
                 l.source.empty() ? "-" : l.source.c_str(),
                 static_cast<long long>(l.row->calls), l.row->ms,
                 1e3 * l.row->ms / static_cast<double>(std::max<int64_t>(l.row->calls, 1)),
                 total > 0 ? 100.0 * l.row->ms / total : 0.0);
  if (out != stderr)
    std::fclose(out);
}

} // namespace

bool compiledForCuda() {
  const char *image = ftcrt_cuda_image; // null where the weak symbol is undefined
  return image != nullptr;
}

ftc_status open(ftc_state &state, size_t arenaBytes, const size_t *offsets) {
  const Driver &d = driver();
  if (!d.error.empty())
    return fail(FTC_ERROR_DEVICE, "this step.so was compiled for CUDA (ftc --target=cuda) and "
                                  "needs an NVIDIA GPU and its driver: " +
                                      d.error);
  auto device = std::make_unique<Device>();
  Device &dev = *device;
  if (CUresult r = d.cuInit(0))
    return deviceError("the NVIDIA driver did not initialize (cuInit)", r);
  int count = 0;
  if (CUresult r = d.cuDeviceGetCount(&count))
    return deviceError("cannot count the GPUs", r);
  if (count == 0)
    return fail(FTC_ERROR_DEVICE, "this step.so was compiled for CUDA and there is no GPU "
                                  "(cuDeviceGetCount found none)");
  // FTC_CUDA_DEVICE picks the GPU (ftc-train --mpi: the rank's place on
  // its machine); GPU 0 without it.
  int index = 0;
  if (const char *chosen = std::getenv("FTC_CUDA_DEVICE"); chosen && *chosen) {
    char *end = nullptr;
    long value = std::strtol(chosen, &end, 10);
    if (*end || value < 0 || value >= count)
      return fail(FTC_ERROR_DEVICE, std::string("FTC_CUDA_DEVICE=") + chosen +
                                        ": this machine has GPUs 0 to " +
                                        std::to_string(count - 1));
    index = static_cast<int>(value);
  }
  std::string gpu = "GPU " + std::to_string(index);
  if (CUresult r = d.cuDeviceGet(&dev.device, index))
    return deviceError("cannot open " + gpu, r);
  if (CUresult r = d.cuDevicePrimaryCtxRetain(&dev.context, dev.device))
    return deviceError("cannot create a context on " + gpu, r);
  if (CUresult r = d.cuCtxSetCurrent(dev.context)) {
    d.cuDevicePrimaryCtxRelease(dev.device);
    return deviceError("cannot use " + gpu + "'s context", r);
  }
  // From here on, close() undoes what was made.
  state.device.ptr = device.release();
  Device &made = *state.device.ptr;
  char log[4096] = {0};
  int options[] = {kJitErrorLogBuffer, kJitErrorLogBufferSize};
  void *values[] = {log, reinterpret_cast<void *>(static_cast<uintptr_t>(sizeof(log)))};
  if (CUresult r = d.cuModuleLoadDataEx(&made.module, ftcrt_cuda_image, 2, options, values)) {
    char name[256] = {0};
    int major = 0, minor = 0;
    d.cuDeviceGetName(name, sizeof(name), made.device);
    d.cuDeviceGetAttribute(&major, kAttributeMajor, made.device);
    d.cuDeviceGetAttribute(&minor, kAttributeMinor, made.device);
    return fail(FTC_ERROR_DEVICE,
                "the GPU (" + std::string(name) + ", sm_" + std::to_string(major) +
                    std::to_string(minor) + ") cannot load the step's kernels (compiled by ftc "
                    "--cuda-arch): " + describe(r) + (log[0] ? std::string("; ") + log : ""));
  }
  const char *name = ftcrt_cuda_kernels;
  for (int32_t k = 0; k < ftcrt_cuda_kernel_count; ++k, name += std::strlen(name) + 1) {
    CUfunction fn = nullptr;
    if (CUresult r = d.cuModuleGetFunction(&fn, made.module, name))
      return deviceError(std::string("the step's kernels have no '") + name + "'", r);
    made.kernels.push_back(fn);
  }
  if (const char *graphs = std::getenv("FTC_CUDA_GRAPHS"))
    made.useGraphs = std::strcmp(graphs, "0") != 0;
  if (const char *path = std::getenv("FTC_CUDA_PROFILE"); path && *path) {
    if (!d.cuEventCreate || !d.cuEventRecord || !d.cuEventSynchronize ||
        !d.cuEventElapsedTime || !d.cuEventDestroy)
      return fail(FTC_ERROR_DEVICE, "FTC_CUDA_PROFILE: this driver has no CUDA events");
    made.profile = std::make_unique<Profile>();
    made.profile->path = path;
    made.useGraphs = false;
  }
  if (CUresult r = d.cuStreamCreate(&made.stream, 0))
    return deviceError("cannot create a stream", r);
  if (ftcrt_gemm_count && ftcrt_gemm_count[0] > 0) {
    const Blas &lt = blas();
    if (!lt.error.empty())
      return fail(FTC_ERROR_DEVICE, lt.error);
    if (cublasStatus st = lt.create(&made.blasHandle))
      return fail(FTC_ERROR_DEVICE, "cuBLASLt did not initialize (cublasLtCreate): " +
                                        describeBlas(st));
    if (CUresult r = d.cuMemAlloc(&made.blasWorkspace, kBlasWorkspaceBytes))
      return r == 2 ? fail(FTC_ERROR_MEMORY, "out of GPU memory allocating cuBLASLt's "
                                             "workspace (" +
                                                 std::to_string(kBlasWorkspaceBytes) +
                                                 " bytes)")
                    : deviceError("cannot allocate cuBLASLt's workspace", r);
  }
  // The arena's layout, then one buffer per input (where host inputs are
  // copied) at the end.
  const Model &m = model();
  size_t bytes = arenaBytes;
  std::vector<size_t> inputOffsets(m.buffers.size(), 0);
  for (int i : m.inputs) {
    inputOffsets[static_cast<size_t>(i)] = bytes;
    bytes += (std::max<size_t>(m.buffers[static_cast<size_t>(i)].bytes(), 1) + 255) / 256 * 256;
  }
  size_t scratchOffset = bytes;
  bytes += 256;
  if (CUresult r = d.cuMemAlloc(&made.arena, std::max<size_t>(bytes, 1)))
    return r == 2 /* CUDA_ERROR_OUT_OF_MEMORY */
               ? fail(FTC_ERROR_MEMORY, "out of GPU memory allocating the state (" +
                                            std::to_string(bytes) + " bytes)")
               : deviceError("cannot allocate the state on the GPU", r);
  made.scratch = made.arena + scratchOffset;
  made.pointers.assign(m.buffers.size(), nullptr);
  made.inputs.assign(m.buffers.size(), 0);
  made.newer.assign(m.buffers.size(), Newer::Neither);
  for (size_t i = 0; i < m.buffers.size(); ++i) {
    if (m.buffers[i].kind == "input") {
      made.inputs[i] = made.arena + inputOffsets[i];
      continue;
    }
    made.pointers[i] = reinterpret_cast<void *>(made.arena + offsets[i]);
    // Everything the host made (the initial values) goes up before the
    // first entry point.
    if (residesOnDevice(m.buffers[i]))
      made.newer[i] = Newer::Host;
  }
  return FTC_OK;
}

void close(Device *device) {
  if (!device)
    return;
  const Driver &d = driver();
  if (device->context)
    bind(*device);
  if (device->stream)
    d.cuStreamSynchronize(device->stream);
  for (auto &[entry, graph] : device->graphs)
    if (graph.exec)
      d.cuGraphExecDestroy(graph.exec);
  if (device->profile) {
    writeProfile(*device->profile);
    for (CUevent e : device->profile->events)
      d.cuEventDestroy(e);
  }
  for (auto &[key, plan] : device->plans) {
    const Blas &lt = blas();
    for (LtLayout layout : {plan.a, plan.b, plan.c})
      if (layout)
        lt.layoutDestroy(layout);
    if (plan.desc)
      lt.descDestroy(plan.desc);
  }
  if (device->blasHandle)
    blas().destroy(device->blasHandle);
  if (device->blasWorkspace)
    d.cuMemFree(device->blasWorkspace);
  if (device->arena)
    d.cuMemFree(device->arena);
  if (device->stream)
    d.cuStreamDestroy(device->stream);
  if (device->module)
    d.cuModuleUnload(device->module);
  if (device->context)
    d.cuDevicePrimaryCtxRelease(device->device);
  delete device;
}

ftc_status beforeEntry(ftc_state &state, const void *const *inputs, bool takesInputs) {
  Device *dev = state.device.ptr;
  if (!dev)
    return FTC_OK;
  const Driver &d = driver();
  const Model &m = model();
  if (CUresult r = bind(*dev))
    return deviceError("cannot use the GPU's context", r);
  for (size_t i = 0; i < m.buffers.size(); ++i)
    if (dev->newer[i] == Newer::Host) {
      if (CUresult r = d.cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(dev->pointers[i]),
                                           state.pointers[i], m.buffers[i].bytes(),
                                           dev->stream))
        return deviceError("cannot copy '" + m.buffers[i].name + "' to the GPU", r);
      dev->newer[i] = Newer::Neither;
    }
  for (size_t k = 0; takesInputs && k < m.inputs.size(); ++k) {
    size_t i = static_cast<size_t>(m.inputs[k]);
    if (isDevicePointer(state, inputs[k])) {
      if (!dev->useGraphs) {
        dev->pointers[i] = const_cast<void *>(inputs[k]);
        continue;
      }
      // A graph reads its inputs where it was captured: the state's own.
      if (CUresult r = d.cuMemcpyDtoDAsync(dev->inputs[i],
                                           reinterpret_cast<CUdeviceptr>(inputs[k]),
                                           m.buffers[i].bytes(), dev->stream))
        return deviceError("cannot copy input '" + m.buffers[i].name + "' on the GPU", r);
      dev->pointers[i] = reinterpret_cast<void *>(dev->inputs[i]);
      continue;
    }
    // Host memory, pageable: the copy has read it when the call returns.
    if (CUresult r = d.cuMemcpyHtoDAsync(dev->inputs[i], inputs[k], m.buffers[i].bytes(),
                                         dev->stream))
      return deviceError("cannot copy input '" + m.buffers[i].name + "' to the GPU", r);
    dev->pointers[i] = reinterpret_cast<void *>(dev->inputs[i]);
  }
  dev->launchError = 0;
  dev->failedKernel = -1;
  dev->gemmError.clear();
  running = dev;
  return FTC_OK;
}

bool isDevicePointer(const ftc_state &state, const void *pointer) {
  unsigned type = 0;
  return state.device.ptr &&
         driver().cuPointerGetAttribute(&type, kPointerAttributeMemoryType,
                                        reinterpret_cast<CUdeviceptr>(pointer)) == 0 &&
         type == kMemoryTypeDevice;
}

void **entryPointers(ftc_state &state) {
  return state.device.ptr ? state.device.ptr->pointers.data() : state.pointers.data();
}

namespace {
/// After an entry point ran (or was replayed): what it may write is newer
/// on the device; the first failure it met.
ftc_status afterEntry(ftc_state &state, const char *name) {
  Device *dev = state.device.ptr;
  running = nullptr;
  const Model &m = model();
  // What an entry point may write is newer on the device now; settings
  // only ever come from the host.
  for (size_t i = 0; i < m.buffers.size(); ++i)
    if (residesOnDevice(m.buffers[i]) && m.buffers[i].kind != "setting")
      dev->newer[i] = Newer::Device;
  if (dev->profile)
    profileCollect(*dev, name, dev->launchError || !dev->gemmError.empty());
  if (!dev->gemmError.empty())
    return fail(FTC_ERROR_DEVICE,
                std::string("the '") + name + "' entry point's " + dev->gemmError);
  if (dev->launchError) {
    std::string kernel = nthString(ftcrt_cuda_kernels, ftcrt_cuda_kernel_count,
                                   dev->failedKernel);
    return deviceError(std::string("the '") + name + "' entry point could not launch kernel '" +
                           kernel + "'",
                       dev->launchError);
  }
  return FTC_OK;
}

/// Captures `entry` on the device's stream as a graph and instantiates
/// it: false where the driver refused (nothing ran; the caller runs the
/// entry point eagerly). A launch or product that failed while being
/// captured leaves its error in the device for afterEntry.
bool capture(Device &dev, EntryGraph &graph, EntryFn entry) {
  const Driver &d = driver();
  if (d.cuStreamBeginCapture(dev.stream, kCaptureThreadLocal))
    return false;
  entry(dev.pointers.data());
  CUgraph captured = nullptr;
  CUresult ended = d.cuStreamEndCapture(dev.stream, &captured);
  bool failedInside = dev.launchError || !dev.gemmError.empty();
  if (!ended && !failedInside && d.cuGraphInstantiateWithFlags(&graph.exec, captured, 0))
    graph.exec = nullptr;
  if (captured)
    d.cuGraphDestroy(captured);
  return failedInside || graph.exec;
}
} // namespace

ftc_status runEntry(ftc_state &state, EntryFn entry, const char *name) {
  Device *dev = state.device.ptr;
  if (!dev) {
    entry(state.pointers.data());
    return FTC_OK;
  }
  EntryGraph &graph = dev->graphs[entry];
  if (!graph.exec && dev->useGraphs && !graph.off && graph.eagerCalls > 0 &&
      !capture(*dev, graph, entry)) {
    // Not captured (a driver without graphs for this, or a product
    // cuBLASLt cannot capture): this entry point stays eager.
    graph.off = true;
  }
  CUresult replay = 0;
  if (graph.exec) {
    if (!dev->launchError && dev->gemmError.empty())
      replay = driver().cuGraphLaunch(graph.exec, dev->stream);
  } else if (!dev->launchError && dev->gemmError.empty()) {
    entry(dev->pointers.data());
    ++graph.eagerCalls;
  }
  ftc_status status = afterEntry(state, name);
  if (replay)
    return deviceError(std::string("the '") + name + "' entry point's graph did not launch",
                       replay);
  return status;
}

namespace {
/// Buffer `i`'s device copy queued for copying into the host's (on the
/// state's stream; the caller waits).
ftc_status download(const ftc_state &state, const Device &dev, size_t i) {
  const Buffer &b = model().buffers[i];
  if (CUresult r = driver().cuMemcpyDtoHAsync(
          state.pointers[i], reinterpret_cast<CUdeviceptr>(dev.pointers[i]), b.bytes(),
          dev.stream))
    return deviceError("cannot copy '" + b.name + "' from the GPU", r);
  return FTC_OK;
}
} // namespace

ftc_status hostRead(const ftc_state &state, int index) {
  Device *dev = state.device.ptr;
  if (!dev || index < 0 || dev->newer[static_cast<size_t>(index)] != Newer::Device)
    return FTC_OK;
  const Driver &d = driver();
  if (CUresult r = bind(*dev))
    return deviceError("cannot use the GPU's context", r);
  if (ftc_status status = download(state, *dev, static_cast<size_t>(index)); status != FTC_OK)
    return status;
  // Kernel faults surface here, at the first wait for the step.
  if (CUresult r = d.cuStreamSynchronize(dev->stream))
    return deviceError("the step failed on the GPU", r);
  dev->newer[static_cast<size_t>(index)] = Newer::Neither;
  return FTC_OK;
}

void hostWrote(const ftc_state &state, int index) {
  Device *dev = state.device.ptr;
  if (dev && index >= 0 && residesOnDevice(model().buffers[static_cast<size_t>(index)]))
    dev->newer[static_cast<size_t>(index)] = Newer::Host;
}

ftc_status hostAccessAll(const ftc_state &state, bool write) {
  Device *dev = state.device.ptr;
  if (!dev)
    return FTC_OK;
  const Model &m = model();
  const Driver &d = driver();
  if (CUresult r = bind(*dev))
    return deviceError("cannot use the GPU's context", r);
  bool copied = false;
  for (size_t i = 0; i < m.buffers.size(); ++i)
    if (dev->newer[i] == Newer::Device) {
      if (ftc_status status = download(state, *dev, i); status != FTC_OK)
        return status;
      copied = true;
    }
  if (copied)
    if (CUresult r = d.cuStreamSynchronize(dev->stream))
      return deviceError("the step failed on the GPU", r);
  for (size_t i = 0; i < m.buffers.size(); ++i)
    if (residesOnDevice(m.buffers[i]))
      dev->newer[i] = write ? Newer::Host : Newer::Neither;
  return FTC_OK;
}

ftc_status zero(ftc_state &state, int index) {
  const Buffer &b = model().buffers[static_cast<size_t>(index)];
  Device *dev = state.device.ptr;
  if (!dev) {
    std::memset(state.pointers[static_cast<size_t>(index)], 0, b.bytes());
    return FTC_OK;
  }
  if (CUresult r = bind(*dev))
    return deviceError("cannot use the GPU's context", r);
  if (CUresult r = driver().cuMemsetD8Async(
          reinterpret_cast<CUdeviceptr>(dev->pointers[static_cast<size_t>(index)]), 0,
          b.bytes(), dev->stream))
    return deviceError("cannot zero '" + b.name + "' on the GPU", r);
  dev->newer[static_cast<size_t>(index)] = Newer::Device;
  return FTC_OK;
}

void *stream(const ftc_state &state) {
  return state.device.ptr ? state.device.ptr->stream : nullptr;
}

ftc_status allReduceScalar(ftc_state &state, double &value, bool (*reduce)(void *, void *),
                           void *context) {
  Device *dev = state.device.ptr;
  const Driver &d = driver();
  if (CUresult r = bind(*dev))
    return deviceError("cannot use the GPU's context", r);
  if (CUresult r = d.cuMemcpyHtoDAsync(dev->scratch, &value, sizeof(value), dev->stream))
    return deviceError("cannot copy the loss to the GPU", r);
  if (!reduce(context, reinterpret_cast<void *>(dev->scratch)))
    return FTC_ERROR_COMM;
  if (CUresult r = d.cuMemcpyDtoHAsync(&value, dev->scratch, sizeof(value), dev->stream))
    return deviceError("cannot copy the loss from the GPU", r);
  if (CUresult r = d.cuStreamSynchronize(dev->stream))
    return deviceError("the step failed on the GPU", r);
  return FTC_OK;
}

} // namespace ftc::runtime::cuda

ftc::runtime::DeviceRef::~DeviceRef() { ftc::runtime::cuda::close(ptr); }

extern "C" void ftcrt_cuda_launch(int32_t kernel, int64_t gx, int64_t gy, int64_t gz,
                                  int64_t bx, int64_t by, int64_t bz, int32_t sharedBytes,
                                  void **args) {
  using namespace ftc::runtime::cuda;
  Device *dev = running;
  // After a failed launch the entry point runs on, launching nothing: its
  // caller reports the first failure.
  if (!dev || dev->launchError || kernel < 0 ||
      kernel >= static_cast<int32_t>(dev->kernels.size())) {
    if (dev && !dev->launchError) {
      dev->launchError = 1; // CUDA_ERROR_INVALID_VALUE
      dev->failedKernel = kernel;
    }
    return;
  }
  if (dev->profile)
    profileBegin(*dev, kernel, nullptr);
  CUresult r = driver().cuLaunchKernel(
      dev->kernels[static_cast<size_t>(kernel)], static_cast<unsigned>(gx),
      static_cast<unsigned>(gy), static_cast<unsigned>(gz), static_cast<unsigned>(bx),
      static_cast<unsigned>(by), static_cast<unsigned>(bz), static_cast<unsigned>(sharedBytes),
      dev->stream, args, nullptr);
  if (dev->profile)
    profileEnd(*dev);
  if (r) {
    dev->launchError = r;
    dev->failedKernel = kernel;
  }
}

namespace {
using namespace ftc::runtime::cuda;

/// The largest power of two (up to 256) that divides every address.
unsigned alignmentOf(std::initializer_list<uintptr_t> addresses) {
  unsigned alignment = 256;
  for (uintptr_t p : addresses)
    while (alignment > 1 && p % alignment)
      alignment /= 2;
  return alignment;
}

int realType(ftc::gemm::Elem e) {
  switch (e) {
  case ftc::gemm::Elem::BF16:
    return kRealBF16;
  case ftc::gemm::Elem::F16:
    return kRealF16;
  case ftc::gemm::Elem::F32:
    break;
  }
  return kRealF32;
}

/// The plan of product `desc` for operands of `alignment`: made (and its
/// algorithm chosen) at the first call, with `aux` (the activation's
/// matrix, or 0) as its aux pointer: cuBLASLt's choice depends on that
/// pointer's alignment, which `alignment` includes. An error says which
/// call failed.
const GemmPlan *planFor(Device &dev, const int64_t *desc, const ftc::gemm::ColumnMajor &g,
                        unsigned alignment, uintptr_t aux, std::string &error) {
  auto key = std::make_pair(desc, alignment);
  if (auto it = dev.plans.find(key); it != dev.plans.end())
    return &it->second;
  const Blas &lt = blas();
  GemmPlan plan;
  auto check = [&](cublasStatus st, const char *what) {
    if (st && error.empty())
      error = std::string(what) + ": " + describeBlas(st);
    return st == 0;
  };
  int32_t transA = g.transA, transB = g.transB; // CUBLAS_OP_N = 0, CUBLAS_OP_T = 1
  int32_t batch = static_cast<int32_t>(g.batch);
  uint32_t epilogue = epilogueOf(g);
  bool auxMatrix = ftc::gemm::hasAux(g.activation);
  int64_t auxLd = g.ldc;
  const void *auxPointer = reinterpret_cast<const void *>(aux);
  auto layout = [&](LtLayout &l, ftc::gemm::Elem e, int64_t rows, int64_t cols, int64_t ld,
                    int64_t stride) {
    return check(lt.layoutCreate(&l, realType(e), static_cast<uint64_t>(rows),
                                 static_cast<uint64_t>(cols), ld),
                 "cublasLtMatrixLayoutCreate") &&
           (batch == 1 ||
            (check(lt.layoutSet(l, kLayoutBatchCount, &batch, sizeof(batch)),
                   "cublasLtMatrixLayoutSetAttribute") &&
             check(lt.layoutSet(l, kLayoutBatchStride, &stride, sizeof(stride)),
                   "cublasLtMatrixLayoutSetAttribute")));
  };
  bool ok =
      check(lt.descCreate(&plan.desc, kComputeF32, kRealF32), "cublasLtMatmulDescCreate") &&
      check(lt.descSet(plan.desc, kDescTransA, &transA, sizeof(transA)),
            "cublasLtMatmulDescSetAttribute") &&
      check(lt.descSet(plan.desc, kDescTransB, &transB, sizeof(transB)),
            "cublasLtMatmulDescSetAttribute") &&
      (epilogue == 0 || check(lt.descSet(plan.desc, kDescEpilogue, &epilogue, sizeof(epilogue)),
                              "cublasLtMatmulDescSetAttribute")) &&
      (!auxMatrix ||
       (check(lt.descSet(plan.desc, kDescAuxLd, &auxLd, sizeof(auxLd)),
              "cublasLtMatmulDescSetAttribute") &&
        check(lt.descSet(plan.desc, kDescAuxPointer, &auxPointer, sizeof(auxPointer)),
              "cublasLtMatmulDescSetAttribute"))) &&
      layout(plan.a, g.operand, g.transA ? g.depth : g.rows, g.transA ? g.rows : g.depth,
             g.lda, g.strideA) &&
      layout(plan.b, g.operand, g.transB ? g.cols : g.depth, g.transB ? g.depth : g.cols,
             g.ldb, g.strideB) &&
      layout(plan.c, g.result, g.rows, g.cols, g.ldc, g.strideC);
  if (ok) {
    LtPreference pref = nullptr;
    uint64_t workspace = kBlasWorkspaceBytes;
    uint32_t align = alignment;
    ok = check(lt.prefCreate(&pref), "cublasLtMatmulPreferenceCreate") &&
         check(lt.prefSet(pref, kPrefMaxWorkspace, &workspace, sizeof(workspace)),
               "cublasLtMatmulPreferenceSetAttribute");
    for (int attr = kPrefMinAlignmentA; ok && attr < kPrefMinAlignmentA + 4; ++attr)
      ok = check(lt.prefSet(pref, attr, &align, sizeof(align)),
                 "cublasLtMatmulPreferenceSetAttribute");
    LtHeuristic found{};
    int count = 0;
    if (ok)
      ok = check(lt.heuristic(dev.blasHandle, plan.desc, plan.a, plan.b, plan.c, plan.c, pref,
                              1, &found, &count),
                 "cublasLtMatmulAlgoGetHeuristic");
    if (ok && (count < 1 || found.state != 0)) {
      error = "cuBLASLt has no algorithm for it";
      ok = false;
    }
    if (pref)
      lt.prefDestroy(pref);
    plan.algo = found.algo;
    plan.workspace = found.workspaceSize;
  }
  // Kept even when incomplete, so that close() frees what was made; a
  // failed plan is made again at the next call.
  if (!ok) {
    for (LtLayout l : {plan.a, plan.b, plan.c})
      if (l)
        lt.layoutDestroy(l);
    if (plan.desc)
      lt.descDestroy(plan.desc);
    return nullptr;
  }
  return &dev.plans.emplace(key, plan).first->second;
}
} // namespace

extern "C" void ftcrt_gemm(const int64_t *desc, uintptr_t a, uintptr_t b, uintptr_t c,
                           uintptr_t bias, uintptr_t aux) {
  std::optional<ftc::gemm::ColumnMajor> g = ftc::gemm::toColumnMajor(desc);
  Device *dev = running;
  if (!dev) {
    // --cuda-emulate: the buffers are the host's.
    if (g)
      ftc::gemm::runColumnMajor(*g, reinterpret_cast<const void *>(g->swapped ? b : a),
                                reinterpret_cast<const void *>(g->swapped ? a : b),
                                reinterpret_cast<void *>(c), reinterpret_cast<const void *>(bias),
                                reinterpret_cast<void *>(aux));
    return;
  }
  if (dev->launchError)
    return;
  std::string error;
  if (!g) {
    error = "has a descriptor cuBLAS cannot take (a compiler bug)";
  } else {
    uintptr_t first = g->swapped ? b : a, second = g->swapped ? a : b;
    const GemmPlan *plan =
        planFor(*dev, desc, *g, alignmentOf({first, second, c, aux}), aux, error);
    if (plan) {
      if (dev->profile)
        profileBegin(*dev, -1, desc);
      float one = 1.0f, beta = g->beta ? 1.0f : 0.0f;
      // The bias's address, read (and captured in a graph) at the call.
      const void *biasPointer = reinterpret_cast<const void *>(bias);
      // So is the activation's matrix's.
      const void *auxPointer = reinterpret_cast<const void *>(aux);
      bool auxMatrix = ftc::gemm::hasAux(g->activation);
      if (cublasStatus st = g->bias ? blas().descSet(plan->desc, kDescBiasPointer, &biasPointer,
                                                     sizeof(biasPointer))
                                    : 0)
        error = "cublasLtMatmulDescSetAttribute: " + describeBlas(st);
      else if (cublasStatus st = auxMatrix ? blas().descSet(plan->desc, kDescAuxPointer,
                                                             &auxPointer, sizeof(auxPointer))
                                           : 0)
        error = "cublasLtMatmulDescSetAttribute: " + describeBlas(st);
      else if (cublasStatus st = blas().matmul(
              dev->blasHandle, plan->desc, &one, reinterpret_cast<const void *>(first),
              plan->a, reinterpret_cast<const void *>(second), plan->b, &beta,
              reinterpret_cast<const void *>(c), plan->c, reinterpret_cast<void *>(c), plan->c,
              &plan->algo, reinterpret_cast<void *>(dev->blasWorkspace), plan->workspace,
              dev->stream))
        error = "cublasLtMatmul: " + describeBlas(st);
      if (dev->profile)
        profileEnd(*dev);
    }
  }
  if (!error.empty()) {
    // Said only on failure: every step calls this for every product.
    dev->gemmError = "product (" + std::to_string(desc[ftc::gemm::kBatch]) + " x " +
                     std::to_string(desc[ftc::gemm::kM]) + "x" +
                     std::to_string(desc[ftc::gemm::kK]) + " by " +
                     std::to_string(desc[ftc::gemm::kK]) + "x" +
                     std::to_string(desc[ftc::gemm::kN]) + ") failed in cuBLASLt: " + error;
    // Where the epilogue is what this cuBLASLt lacks, the step can do
    // without it.
    if (g && g->activation != ftc::gemm::Activation::None)
      dev->gemmError += " (its GELU is cuBLASLt's epilogue: ftc --cuda-gelu=kernel computes it "
                        "in a kernel instead)";
    else if (g && g->bias)
      dev->gemmError += " (its bias is cuBLASLt's epilogue: ftc --cuda-bias=kernel adds it "
                        "in a kernel instead)";
    dev->launchError = 1; // nothing more is launched
  }
}
