//===- FakeCuda.cpp - a stand-in for libcuda.so.1 in the tests ------------===//
//
// The driver calls ftc's runtime makes (lib/Runtime/Cuda.cpp), on host
// memory, for the machines without a GPU: step.so loaded with
// FTC_LIBCUDA=libftc_fakecuda.so creates states, copies buffers to and from
// "device" memory and launches kernels, which do not run. What it checks is
// the runtime's half of the contract:
//
//   - the module is PTX (or an ELF cubin) naming every kernel asked for;
//   - each launch's arguments match the kernel's PTX parameters in number,
//     and every pointer argument lies inside device memory this driver
//     allocated (a host pointer passed to a kernel would be a fault on a
//     GPU); each grid and block is within the hardware's limits;
//   - copies stay inside their allocations.
//
// It also stands in for NCCL with one rank (FTC_LIBNCCL=libftc_fakecuda.so:
// every sum on device memory allocated here, on a stream), and for
// libcublasLt (FTC_LIBCUBLASLT=libftc_fakecuda.so):
// each cublasLtMatmul checks that every matrix of its batch lies inside
// device memory allocated here, at the layouts it was given, and that the
// workspace does. With FAKECUDA_GEMM=compute it then computes the product
// on the host as cuBLASLt documents it (ftc/Codegen/Gemm.h's
// runColumnMajor); by default it does not: no kernel runs here, so the
// operands are not what a GPU would have, and gpt2-tiny's products take
// half a minute a step on the host.
//
// Streams can be captured as graphs (cuStreamBeginCapture ...
// cuGraphLaunch): a launch or product made on a stream being captured is
// checked then, and its node does it again (checks, log line, the
// product's arithmetic) with the values the call had at every replay; a
// copy, memset, wait or allocation while a stream is being captured is a
// violation, as are NCCL sums (ftc makes them between entry points).
// FAKECUDA_FAIL_GRAPH=1 makes cuGraphInstantiate fail. Events read a
// clock that each launch and product moves by a cost computed from its
// size (see clockUs), so profiles have predictable times.
//
// A violation makes the call fail (CUDA_ERROR_INVALID_VALUE) and is printed
// to stderr. FAKECUDA_LOG=FILE appends one line per call that moves data or
// launches; FAKECUDA_DEVICES=N (default 1) sets the GPU count;
// FAKECUDA_FAIL_LAUNCH=K fails the K-th launch of a module (from 1) with
// CUDA_ERROR_LAUNCH_FAILED; FAKECUDA_FAIL_GEMM=K the K-th cublasLtMatmul
// (counting from when the variable is first seen) with
// CUBLAS_STATUS_EXECUTION_FAILED; FAKECUDA_FAIL_MODULE=1 rejects the module with
// CUDA_ERROR_NO_BINARY_FOR_GPU; FAKECUDA_NO_GELU=1 makes cuBLASLt's
// heuristic find no algorithm for a product with a GELU epilogue (as a
// cuBLASLt without one would).
//
//===----------------------------------------------------------------------===//

#include "ftc/Codegen/Gemm.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

using CUresult = int;
constexpr CUresult kSuccess = 0, kInvalidValue = 1, kNoBinary = 209, kNotFound = 500,
                   kLaunchFailed = 719;

std::mutex mutex;
std::map<uintptr_t, size_t> allocations; // start -> bytes

struct Module {
  std::string image;
  bool ptx = false;
  int launches = 0; // since it was loaded
  };
struct Kernel {
  std::string name;
  std::vector<bool> pointer; // per parameter: .ptr (or a u64 address)
  std::vector<size_t> bytes; // per parameter: its size
  Module *module = nullptr;
};

/// A captured stream's work: each node does again what its call did (the
/// checks, the log line, a product's arithmetic) on the values the call
/// had, as the driver copies a launch's parameters when it is captured.
struct Graph {
  std::vector<std::function<CUresult()>> nodes;
};
/// The GPU's clock, in microseconds: each launch takes 1 + threads / 1024,
/// each product 1 + 2 * batch * m * n * k / 1e6 (a teraflop per second);
/// an event records the clock (FTC_CUDA_PROFILE's times, predictable).
double clockUs = 0;
struct Event {
  double us = -1; // not recorded yet
};
Graph *capturing = nullptr; // the graph being captured, on `captureStream`
void *captureStream = nullptr;
bool captureBroken = false; // a call failed while being captured

void log(const std::string &line) {
  if (const char *path = std::getenv("FAKECUDA_LOG")) {
    if (FILE *f = std::fopen(path, "a")) {
      std::fprintf(f, "%s\n", line.c_str());
      std::fclose(f);
    }
  }
}

CUresult violation(const std::string &what) {
  std::fprintf(stderr, "fakecuda: %s\n", what.c_str());
  return kInvalidValue;
}

/// A call the runtime must not make while a stream is being captured (the
/// driver refuses synchronizing and allocating calls, and copies of
/// pageable host memory, in a capture).
CUresult notInCapture(const char *call) {
  return capturing ? violation(std::string(call) + " while a stream is being captured")
                   : kSuccess;
}

/// Whether [p, p + bytes) lies inside one allocation.
bool inside(uintptr_t p, size_t bytes) {
  auto it = allocations.upper_bound(p);
  if (it == allocations.begin())
    return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second;
}

/// The parameters of `.entry name(...)` in PTX text.
bool parseEntry(const std::string &ptx, const std::string &name, Kernel &kernel) {
  std::string header = ".entry " + name + "(";
  size_t at = ptx.find(header);
  if (at == std::string::npos)
    return false;
  size_t end = ptx.find(')', at);
  std::string params = ptx.substr(at + header.size(), end - at - header.size());
  size_t pos = 0;
  while ((pos = params.find(".param", pos)) != std::string::npos) {
    size_t stop = params.find(',', pos);
    std::string one = params.substr(pos, stop == std::string::npos ? std::string::npos
                                                                   : stop - pos);
    kernel.pointer.push_back(one.find(".ptr") != std::string::npos);
    // `.param .u64 name`, `.param .align 8 .b8 name[16]`, ...
    size_t bits = 0, type = one.find(" .", 6);
    while (type != std::string::npos && one.compare(type, 7, " .align") == 0)
      type = one.find(" .", one.find(' ', type + 7) + 1);
    if (type != std::string::npos)
      bits = std::strtoul(one.c_str() + type + 3, nullptr, 10);
    size_t array = one.find('[');
    kernel.bytes.push_back(array != std::string::npos
                               ? std::strtoul(one.c_str() + array + 1, nullptr, 10)
                               : std::max<size_t>(bits / 8, 1));
    pos += 6;
  }
  kernel.name = name;
  return true;
}

/// A launch's grid, block and arguments against the hardware's limits and
/// the device memory allocated here.
CUresult checkLaunch(const Kernel &kernel, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                     unsigned by, unsigned bz, unsigned shared, void **args, void **extra) {
  if (extra)
    return violation("launch of " + kernel.name + ": 'extra' is not used by ftc");
  if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 || bx * by * bz == 0 ||
      bx * by * bz > 1024 || bz > 64)
    return violation("launch of " + kernel.name + ": grid or block out of range");
  if (shared > 48 * 1024)
    return violation("launch of " + kernel.name + ": too much shared memory");
  for (size_t i = 0; i < kernel.pointer.size(); ++i) {
    if (!args || !args[i])
      return violation("launch of " + kernel.name + ": argument " + std::to_string(i) +
                       " is missing");
    if (!kernel.pointer[i])
      continue;
    uintptr_t p = *static_cast<uintptr_t *>(args[i]);
    if (!inside(p, 1))
      return violation("launch of " + kernel.name + ": argument " + std::to_string(i) +
                       " is not device memory");
  }
  return kSuccess;
}

void logLaunch(const Kernel &kernel, unsigned gx, unsigned bx, unsigned threads) {
  clockUs += 1.0 + threads / 1024.0;
  log("launch " + kernel.name + " " + std::to_string(gx) + "x" + std::to_string(bx) + " " +
      std::to_string(kernel.pointer.size()) + " args");
}

} // namespace

extern "C" {

CUresult cuInit(unsigned) { return kSuccess; }

CUresult cuDeviceGetCount(int *count) {
  const char *n = std::getenv("FAKECUDA_DEVICES");
  *count = n ? std::atoi(n) : 1;
  return kSuccess;
}

CUresult cuDeviceGet(int *device, int ordinal) {
  int count = 0;
  cuDeviceGetCount(&count);
  if (ordinal >= count)
    return kInvalidValue;
  *device = ordinal;
  return kSuccess;
}

CUresult cuDeviceGetName(char *name, int length, int) {
  std::snprintf(name, static_cast<size_t>(length), "fakecuda");
  return kSuccess;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, int) {
  *value = attribute == 75 ? 9 : 0; // sm_90
  return kSuccess;
}

CUresult cuDevicePrimaryCtxRetain(void **context, int) {
  static int token;
  *context = &token;
  return kSuccess;
}
CUresult cuDevicePrimaryCtxRelease_v2(int) { return kSuccess; }
CUresult cuCtxSetCurrent(void *) { return kSuccess; }

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned, int *, void **) {
  if (std::getenv("FAKECUDA_FAIL_MODULE"))
    return kNoBinary;
  const char *bytes = static_cast<const char *>(image);
  auto *m = new Module;
  if (std::memcmp(bytes, "\x7f" "ELF", 4) == 0) {
    m->image.assign(bytes, 1 << 20); // a cubin: names are looked up in its first MiB
  } else {
    m->image = bytes; // PTX, NUL-terminated
    m->ptx = true;
    if (m->image.find(".version") == std::string::npos ||
        m->image.find(".target sm_") == std::string::npos) {
      delete m;
      return violation("the module is neither PTX nor a cubin");
    }
  }
  *module = m;
  log("module " + std::string(m->ptx ? "ptx" : "cubin"));
  return kSuccess;
}

CUresult cuModuleUnload(void *module) {
  delete static_cast<Module *>(module);
  return kSuccess;
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  auto *m = static_cast<Module *>(module);
  auto *kernel = new Kernel;
  if (m->ptx ? !parseEntry(m->image, name, *kernel)
             : m->image.find(name) == std::string::npos) {
    delete kernel;
    return kNotFound;
  }
  kernel->name = name;
  kernel->module = m;
  *function = kernel;
  return kSuccess;
}

CUresult cuMemAlloc_v2(unsigned long long *pointer, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex);
  if (CUresult r = notInCapture("cuMemAlloc"))
    return r;
  void *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p)
    return 2; // CUDA_ERROR_OUT_OF_MEMORY
  std::memset(p, 0xA5, bytes); // not zeros: what the host never copied shows
  allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
  *pointer = reinterpret_cast<uintptr_t>(p);
  log("alloc " + std::to_string(bytes));
  return kSuccess;
}

CUresult cuMemFree_v2(unsigned long long pointer) {
  std::lock_guard<std::mutex> lock(mutex);
  if (CUresult r = notInCapture("cuMemFree"))
    return r;
  if (!allocations.erase(pointer))
    return violation("cuMemFree of memory not allocated here");
  std::free(reinterpret_cast<void *>(pointer));
  return kSuccess;
}

CUresult cuMemcpyHtoDAsync_v2(unsigned long long dst, const void *src, size_t bytes, void *) {
  std::lock_guard<std::mutex> lock(mutex);
  if (CUresult r = notInCapture("cuMemcpyHtoDAsync"))
    return r;
  if (!inside(dst, bytes))
    return violation("a copy to the device outside its allocations");
  std::memcpy(reinterpret_cast<void *>(dst), src, bytes);
  log("htod " + std::to_string(bytes));
  return kSuccess;
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, unsigned long long src, size_t bytes, void *) {
  std::lock_guard<std::mutex> lock(mutex);
  if (CUresult r = notInCapture("cuMemcpyDtoHAsync"))
    return r;
  if (!inside(src, bytes))
    return violation("a copy from the device outside its allocations");
  std::memcpy(dst, reinterpret_cast<const void *>(src), bytes);
  log("dtoh " + std::to_string(bytes));
  return kSuccess;
}

CUresult cuMemcpyDtoDAsync_v2(unsigned long long dst, unsigned long long src, size_t bytes,
                              void *) {
  std::lock_guard<std::mutex> lock(mutex);
  if (CUresult r = notInCapture("cuMemcpyDtoDAsync"))
    return r;
  if (!inside(dst, bytes) || !inside(src, bytes))
    return violation("a copy on the device outside its allocations");
  std::memmove(reinterpret_cast<void *>(dst), reinterpret_cast<const void *>(src), bytes);
  log("dtod " + std::to_string(bytes));
  return kSuccess;
}

CUresult cuMemsetD8Async(unsigned long long dst, unsigned char value, size_t bytes, void *) {
  std::lock_guard<std::mutex> lock(mutex);
  if (CUresult r = notInCapture("cuMemsetD8Async"))
    return r;
  if (!inside(dst, bytes))
    return violation("a memset outside the device's allocations");
  std::memset(reinterpret_cast<void *>(dst), value, bytes);
  log("memset " + std::to_string(bytes));
  return kSuccess;
}

CUresult cuStreamCreate(void **stream, unsigned) {
  static int token;
  *stream = &token;
  return kSuccess;
}
CUresult cuStreamDestroy_v2(void *) { return kSuccess; }
CUresult cuStreamSynchronize(void *) {
  std::lock_guard<std::mutex> lock(mutex);
  return notInCapture("cuStreamSynchronize");
}

CUresult cuStreamBeginCapture_v2(void *stream, int mode) {
  std::lock_guard<std::mutex> lock(mutex);
  if (capturing)
    return violation("a capture begun inside a capture");
  if (!stream)
    return violation("a capture of the legacy default stream");
  if (mode < 0 || mode > 2)
    return violation("an unknown capture mode");
  capturing = new Graph;
  captureStream = stream;
  captureBroken = false;
  log("capture begin");
  return kSuccess;
}

CUresult cuStreamEndCapture(void *stream, void **graph) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!capturing || stream != captureStream)
    return violation("cuStreamEndCapture of a stream not being captured");
  log("capture end " + std::to_string(capturing->nodes.size()) + " nodes" +
      (captureBroken ? " (invalidated)" : ""));
  *graph = captureBroken ? nullptr : capturing;
  if (captureBroken)
    delete capturing;
  capturing = nullptr;
  return captureBroken ? 901 : kSuccess; // CUDA_ERROR_STREAM_CAPTURE_INVALIDATED
}

CUresult cuGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!graph)
    return violation("cuGraphInstantiate of no graph");
  if (std::getenv("FAKECUDA_FAIL_GRAPH"))
    return 801; // CUDA_ERROR_NOT_SUPPORTED
  *exec = new Graph(*static_cast<Graph *>(graph));
  return kSuccess;
}

CUresult cuGraphLaunch(void *exec, void *stream) {
  std::lock_guard<std::mutex> lock(mutex);
  if (CUresult r = notInCapture("cuGraphLaunch"))
    return r;
  if (!stream)
    return violation("a graph launched on the legacy default stream");
  auto *graph = static_cast<Graph *>(exec);
  log("graph launch " + std::to_string(graph->nodes.size()) + " nodes");
  for (auto &node : graph->nodes)
    if (CUresult r = node())
      return r;
  return kSuccess;
}

CUresult cuEventCreate(void **event, unsigned flags) {
  if (flags != 0)
    return violation("an event without timing (ftc times with CU_EVENT_DEFAULT)");
  *event = new Event;
  return kSuccess;
}
CUresult cuEventRecord(void *event, void *stream) {
  std::lock_guard<std::mutex> lock(mutex);
  if (capturing)
    return violation("an event recorded in a capture");
  if (!stream)
    return violation("an event on the legacy default stream");
  static_cast<Event *>(event)->us = clockUs;
  return kSuccess;
}
CUresult cuEventSynchronize(void *event) {
  std::lock_guard<std::mutex> lock(mutex);
  if (CUresult r = notInCapture("cuEventSynchronize"))
    return r;
  return static_cast<Event *>(event)->us < 0 ? violation("a wait for an unrecorded event")
                                             : kSuccess;
}
CUresult cuEventElapsedTime_v2(float *ms, void *start, void *end) {
  double a = static_cast<Event *>(start)->us, b = static_cast<Event *>(end)->us;
  if (a < 0 || b < 0)
    return violation("the time between unrecorded events");
  *ms = static_cast<float>((b - a) / 1e3);
  return kSuccess;
}
CUresult cuEventDestroy_v2(void *event) {
  delete static_cast<Event *>(event);
  return kSuccess;
}

CUresult cuGraphExecDestroy(void *exec) {
  delete static_cast<Graph *>(exec);
  return kSuccess;
}
CUresult cuGraphDestroy(void *graph) {
  delete static_cast<Graph *>(graph);
  return kSuccess;
}

CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shared, void *stream, void **args,
                        void **extra) {
  std::lock_guard<std::mutex> lock(mutex);
  auto *kernel = static_cast<Kernel *>(function);
  int launch = ++kernel->module->launches;
  bool captured = capturing && stream == captureStream;
  CUresult r = kSuccess;
  if (const char *k = std::getenv("FAKECUDA_FAIL_LAUNCH"); k && std::atoi(k) == launch)
    r = kLaunchFailed;
  else
    r = checkLaunch(*kernel, gx, gy, gz, bx, by, bz, shared, args, extra);
  if (r || !captured) {
    captureBroken |= r && captured;
    if (!r)
      logLaunch(*kernel, gx, bx, gx * gy * gz * bx * by * bz);
    return r;
  }
  // The parameters' values as they are now, for every replay.
  std::vector<std::vector<char>> values;
  for (size_t i = 0; i < kernel->bytes.size(); ++i) {
    const char *at = static_cast<const char *>(args[i]);
    values.emplace_back(at, at + kernel->bytes[i]);
  }
  capturing->nodes.push_back([=]() {
    std::vector<void *> copied;
    for (const std::vector<char> &v : values)
      copied.push_back(const_cast<char *>(v.data()));
    CUresult again = checkLaunch(*kernel, gx, gy, gz, bx, by, bz, shared, copied.data(),
                                 nullptr);
    if (!again)
      logLaunch(*kernel, gx, bx, gx * gy * gz * bx * by * bz);
    return again;
  });
  return kSuccess;
}

CUresult cuGetErrorString(CUresult result, const char **text) {
  switch (result) {
  case kInvalidValue: *text = "invalid argument"; break;
  case kNoBinary: *text = "no kernel image is available for execution on the device"; break;
  case kNotFound: *text = "named symbol not found"; break;
  case kLaunchFailed: *text = "unspecified launch failure"; break;
  default: *text = "unknown error";
  }
  return kSuccess;
}

CUresult cuPointerGetAttribute(void *data, int attribute, unsigned long long pointer) {
  std::lock_guard<std::mutex> lock(mutex);
  if (attribute != 2 || !inside(pointer, 1))
    return kInvalidValue; // host memory, as the driver answers
  *static_cast<unsigned *>(data) = 2; // CU_MEMORYTYPE_DEVICE
  return kSuccess;
}

} // extern "C"

// cuBLASLt, on the same memory. Status codes: 0 success, 7 invalid value.
namespace {
struct FakeDesc {
  int32_t transA = 0, transB = 0;
  uint32_t epilogue = 0;      // CUBLASLT_EPILOGUE_*: 0 (none), bias, GELU's (see activationOf)
  const void *bias = nullptr; // CUBLASLT_MATMUL_DESC_BIAS_POINTER
  void *aux = nullptr;        // CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER
  int64_t auxLd = 0;          // CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD
};

/// The activation and bias of a cuBLASLt epilogue ftc asks for: BIAS (4),
/// GELU (32), GELU_BIAS (36), GELU_AUX (160), GELU_AUX_BIAS (164), DGELU
/// (192); nothing for any other.
std::optional<std::pair<ftc::gemm::Activation, bool>> activationOf(uint32_t epilogue) {
  using ftc::gemm::Activation;
  switch (epilogue) {
  case 0: return std::make_pair(Activation::None, false);
  case 4: return std::make_pair(Activation::None, true);
  case 32: return std::make_pair(Activation::Gelu, false);
  case 36: return std::make_pair(Activation::Gelu, true);
  case 160: return std::make_pair(Activation::GeluAux, false);
  case 164: return std::make_pair(Activation::GeluAux, true);
  case 192: return std::make_pair(Activation::GeluGrad, false);
  }
  return std::nullopt;
}
struct FakeLayout {
  int type;
  uint64_t rows, cols;
  int64_t ld, stride = 0;
  int32_t batch = 1;
};
struct FakePref {
  uint64_t workspace = 0;
};
constexpr int kBlasInvalid = 7;
constexpr size_t kFakeWorkspace = 4096; // what every "algorithm" asks for

int blasViolation(const std::string &what) {
  std::fprintf(stderr, "fakecuda (cublasLt): %s\n", what.c_str());
  return kBlasInvalid;
}

bool elemOf(int type, ftc::gemm::Elem &e) {
  switch (type) {
  case 0: e = ftc::gemm::Elem::F32; return true;
  case 14: e = ftc::gemm::Elem::BF16; return true;
  case 2: e = ftc::gemm::Elem::F16; return true;
  }
  return false;
}

/// Whether every matrix of a batch at `p` with layout `l` is device memory.
bool matricesInside(uintptr_t p, const FakeLayout &l, int64_t bytes) {
  int64_t extent = (static_cast<int64_t>(l.cols) - 1) * l.ld + static_cast<int64_t>(l.rows);
  return inside(p, static_cast<size_t>(((l.batch - 1) * l.stride + extent) * bytes));
}
} // namespace

extern "C" {
int cublasLtCreate(void **handle) {
  static int token;
  *handle = &token;
  return 0;
}
int cublasLtDestroy(void *) { return 0; }
const char *cublasLtGetStatusString(int status) {
  return status == kBlasInvalid ? "CUBLAS_STATUS_INVALID_VALUE"
         : status == 13         ? "CUBLAS_STATUS_EXECUTION_FAILED"
                                : "CUBLAS_STATUS_?";
}
int cublasLtMatmulDescCreate(void **desc, int compute, int scale) {
  if (compute != 68 || scale != 0)
    return blasViolation("a compute type other than CUBLAS_COMPUTE_32F with f32 scales");
  *desc = new FakeDesc;
  return 0;
}
int cublasLtMatmulDescDestroy(void *desc) {
  delete static_cast<FakeDesc *>(desc);
  return 0;
}
int cublasLtMatmulDescSetAttribute(void *desc, int attr, const void *buf, size_t size) {
  auto *d = static_cast<FakeDesc *>(desc);
  if (attr == 7 && size == sizeof(uint32_t)) {
    std::memcpy(&d->epilogue, buf, size);
    return activationOf(d->epilogue) ? 0
                                     : blasViolation("an epilogue other than bias and GELU's");
  }
  if (attr == 8 && size == sizeof(void *)) {
    std::memcpy(&d->bias, buf, size);
    return 0;
  }
  if (attr == 11 && size == sizeof(void *)) {
    std::memcpy(&d->aux, buf, size);
    return 0;
  }
  if (attr == 12 && size == sizeof(int64_t)) {
    std::memcpy(&d->auxLd, buf, size);
    return 0;
  }
  if ((attr != 3 && attr != 4) || size != sizeof(int32_t))
    return blasViolation("an unexpected matmul attribute " + std::to_string(attr));
  std::memcpy(attr == 3 ? &d->transA : &d->transB, buf, size);
  return 0;
}
int cublasLtMatrixLayoutCreate(void **layout, int type, uint64_t rows, uint64_t cols,
                               int64_t ld) {
  ftc::gemm::Elem e;
  if (!elemOf(type, e) || ld < static_cast<int64_t>(rows) || ld < 1)
    return blasViolation("a layout with a bad type or a leading dimension below its rows");
  *layout = new FakeLayout{type, rows, cols, ld};
  return 0;
}
int cublasLtMatrixLayoutDestroy(void *layout) {
  delete static_cast<FakeLayout *>(layout);
  return 0;
}
int cublasLtMatrixLayoutSetAttribute(void *layout, int attr, const void *buf, size_t size) {
  auto *l = static_cast<FakeLayout *>(layout);
  if (attr == 5 && size == sizeof(int32_t))
    std::memcpy(&l->batch, buf, size);
  else if (attr == 6 && size == sizeof(int64_t))
    std::memcpy(&l->stride, buf, size);
  else
    return blasViolation("an unexpected layout attribute " + std::to_string(attr));
  return 0;
}
int cublasLtMatmulPreferenceCreate(void **pref) {
  *pref = new FakePref;
  return 0;
}
int cublasLtMatmulPreferenceDestroy(void *pref) {
  delete static_cast<FakePref *>(pref);
  return 0;
}
int cublasLtMatmulPreferenceSetAttribute(void *pref, int attr, const void *buf, size_t size) {
  if (attr == 1 && size == sizeof(uint64_t))
    std::memcpy(&static_cast<FakePref *>(pref)->workspace, buf, size);
  else if (!(attr >= 5 && attr <= 8 && size == sizeof(uint32_t)))
    return blasViolation("an unexpected preference attribute " + std::to_string(attr));
  return 0;
}
struct FakeHeuristic {
  uint64_t algo[8];
  size_t workspaceSize;
  int state;
  float waves;
  int reserved[4];
};
int cublasLtMatmulAlgoGetHeuristic(void *, void *desc, void *, void *, void *, void *, void *pref,
                                   int requested, FakeHeuristic *results, int *count) {
  if (requested < 1)
    return blasViolation("no algorithm requested");
  if (const char *v = std::getenv("FAKECUDA_NO_GELU"); v && std::strcmp(v, "1") == 0) {
    std::optional<std::pair<ftc::gemm::Activation, bool>> epilogue =
        activationOf(static_cast<FakeDesc *>(desc)->epilogue);
    if (epilogue && epilogue->first != ftc::gemm::Activation::None) {
      *count = 0;
      return 0;
    }
  }
  std::memset(results, 0, sizeof(FakeHeuristic));
  results[0].algo[0] = 42;
  results[0].workspaceSize =
      std::min<size_t>(kFakeWorkspace, static_cast<FakePref *>(pref)->workspace);
  *count = 1;
  return 0;
}
} // extern "C"

namespace {
/// A product checked and, with `run`, computed and logged (`bias` and
/// `aux`: the descriptor's bias and aux pointers when it was called).
int matmul(void *desc, float a1, const void *A, void *Adesc, const void *B, void *Bdesc,
           float b1, const void *C, void *Cdesc, void *D, void *Ddesc, const uint64_t *algo,
           void *workspace, size_t workspaceBytes, const void *bias, void *aux, bool run) {
  auto *d = static_cast<FakeDesc *>(desc);
  auto &la = *static_cast<FakeLayout *>(Adesc), &lb = *static_cast<FakeLayout *>(Bdesc),
       &lc = *static_cast<FakeLayout *>(Cdesc);
  if (C != D || Cdesc != Ddesc)
    return blasViolation("C and D differ (ftc computes in place)");
  if (!algo || algo[0] != 42)
    return blasViolation("an algorithm the heuristic did not return");
  if (a1 != 1.0f || (b1 != 0.0f && b1 != 1.0f))
    return blasViolation("alpha other than 1 or beta other than 0 and 1");
  ftc::gemm::ColumnMajor g;
  // CUBLAS_COMPUTE_32F's combinations: A and B of one type, C (and D) f32
  // or that type.
  if (!elemOf(la.type, g.operand) || la.type != lb.type || !elemOf(lc.type, g.result) ||
      (g.result != ftc::gemm::Elem::F32 && g.result != g.operand))
    return blasViolation("operand types that differ, or a result neither f32 nor theirs");
  g.transA = d->transA, g.transB = d->transB;
  g.rows = static_cast<int64_t>(lc.rows), g.cols = static_cast<int64_t>(lc.cols);
  g.depth = static_cast<int64_t>(g.transA ? la.rows : la.cols);
  uint64_t aRows = g.transA ? la.cols : la.rows, bRows = g.transB ? lb.cols : lb.rows,
           bCols = g.transB ? lb.rows : lb.cols;
  if (aRows != lc.rows || bCols != lc.cols || static_cast<int64_t>(bRows) != g.depth)
    return blasViolation("the shapes of op(A), op(B) and C do not agree");
  if (la.batch != lc.batch || lb.batch != lc.batch)
    return blasViolation("batch counts that differ");
  g.lda = la.ld, g.ldb = lb.ld, g.ldc = lc.ld;
  g.batch = lc.batch, g.strideA = la.stride, g.strideB = lb.stride, g.strideC = lc.stride;
  g.beta = b1 != 0.0f;
  std::optional<std::pair<ftc::gemm::Activation, bool>> epilogue = activationOf(d->epilogue);
  g.activation = epilogue->first;
  g.bias = epilogue->second;
  if (g.activation != ftc::gemm::Activation::None) {
    // The GELU input matrix: C's rows at a leading dimension divisible by
    // 8, in device memory; one product.
    FakeLayout auxLayout = lc;
    auxLayout.ld = d->auxLd;
    bool hasAux = ftc::gemm::hasAux(g.activation);
    if (g.batch != 1 || g.beta)
      return blasViolation("an activation in a batch or after C (ftc asks neither)");
    if (hasAux && (d->auxLd % 8 != 0 || d->auxLd < static_cast<int64_t>(lc.rows) ||
                   !matricesInside(reinterpret_cast<uintptr_t>(aux), auxLayout,
                                   ftc::gemm::elemBytes(g.result))))
      return blasViolation("a GELU input matrix outside the device's allocations or with a "
                           "leading dimension not a multiple of 8");
    if (hasAux && d->auxLd != lc.ld)
      return blasViolation("a GELU input matrix laid out otherwise than C (ftc's never is)");
  }
  if (g.bias && (g.batch != 1 ||
                 !inside(reinterpret_cast<uintptr_t>(bias),
                         static_cast<size_t>(g.rows * ftc::gemm::elemBytes(g.result)))))
    return blasViolation("a bias outside the device's allocations (or in a batch)");
  int64_t ab = ftc::gemm::elemBytes(g.operand);
  if (!matricesInside(reinterpret_cast<uintptr_t>(A), la, ab) ||
      !matricesInside(reinterpret_cast<uintptr_t>(B), lb, ab) ||
      !matricesInside(reinterpret_cast<uintptr_t>(D), lc, ftc::gemm::elemBytes(g.result)))
    return blasViolation("a matrix outside the device's allocations");
  if (workspaceBytes &&
      !inside(reinterpret_cast<uintptr_t>(workspace), workspaceBytes))
    return blasViolation("a workspace outside the device's allocations");
  if (!run)
    return 0;
  static const bool compute = [] {
    const char *v = std::getenv("FAKECUDA_GEMM");
    return v && std::strcmp(v, "compute") == 0;
  }();
  if (compute)
    ftc::gemm::runColumnMajor(g, A, B, D, bias, aux);
  clockUs += 1.0 + 2.0 * static_cast<double>(g.batch * g.rows * g.cols * g.depth) / 1e6;
  const char *activation[] = {"", " gelu", " gelu+aux", " dgelu"};
  log("gemm " + std::to_string(g.batch) + "x" + std::to_string(g.rows) + "x" +
      std::to_string(g.cols) + "x" + std::to_string(g.depth) + (g.beta ? " +C" : "") +
      (g.bias ? " +bias" : "") + activation[static_cast<int>(g.activation)]);
  return 0;
}
} // namespace

extern "C" {
int cublasLtMatmul(void *, void *desc, const void *alpha, const void *A, void *Adesc,
                   const void *B, void *Bdesc, const void *beta, const void *C, void *Cdesc,
                   void *D, void *Ddesc, const uint64_t *algo, void *workspace,
                   size_t workspaceBytes, void *stream) {
  std::lock_guard<std::mutex> lock(mutex);
  bool captured = capturing && stream == captureStream;
  static int matmuls = 0;
  if (const char *k = std::getenv("FAKECUDA_FAIL_GEMM"); k && std::atoi(k) == ++matmuls) {
    matmuls = 0;
    log("gemm failed");
    captureBroken |= captured;
    return 13; // CUBLAS_STATUS_EXECUTION_FAILED
  }
  // alpha and beta are host scalars: read at the call (at its capture).
  // So is the bias's address (the descriptor's attribute at the call).
  float a1 = *static_cast<const float *>(alpha), b1 = *static_cast<const float *>(beta);
  const void *bias = static_cast<FakeDesc *>(desc)->bias;
  void *aux = static_cast<FakeDesc *>(desc)->aux;
  int status = matmul(desc, a1, A, Adesc, B, Bdesc, b1, C, Cdesc, D, Ddesc, algo, workspace,
                      workspaceBytes, bias, aux, !captured);
  if (status || !captured) {
    captureBroken |= status && captured;
    return status;
  }
  capturing->nodes.push_back([=]() -> CUresult {
    return matmul(desc, a1, A, Adesc, B, Bdesc, b1, C, Cdesc, D, Ddesc, algo, workspace,
                  workspaceBytes, bias, aux, true)
               ? kInvalidValue
               : kSuccess;
  });
  return 0;
}
} // extern "C"

// NCCL (FTC_LIBNCCL=libftc_fakecuda.so), one rank: ids made here, sums in
// place on device memory allocated here, on the stream it handed out (a
// sum over one rank changes nothing). Result codes: 0 success, 4 invalid
// argument, 5 invalid usage.
namespace {
constexpr char kFakeId[] = "fakecuda-nccl";
struct FakeNcclComm {
  int ranks;
};
struct FakeNcclId {
  char bytes[128];
};
} // namespace

extern "C" {
int ncclGetUniqueId(char *id) {
  std::memset(id, 0, 128);
  std::memcpy(id, kFakeId, sizeof(kFakeId));
  return 0;
}
int ncclCommInitRank(void **comm, int ranks, FakeNcclId id, int rank) {
  if (std::memcmp(id.bytes, kFakeId, sizeof(kFakeId)) != 0) {
    std::fprintf(stderr, "fakecuda (nccl): an id ncclGetUniqueId did not make\n");
    return 4;
  }
  if (ranks != 1 || rank != 0)
    return 5; // the stand-in has one rank
  *comm = new FakeNcclComm{ranks};
  log("ncclCommInitRank " + std::to_string(ranks) + " ranks, rank " + std::to_string(rank));
  return 0;
}
int ncclAllReduce(const void *send, void *recv, size_t count, int type, int op, void *comm,
                  void *stream) {
  std::lock_guard<std::mutex> lock(mutex);
  if (notInCapture("ncclAllReduce")) // ftc sums between entry points, never in a graph
    return 5;
  size_t bytes = type == 8 ? 8 : type == 7 ? 4 : (type == 6 || type == 9) ? 2 : 0;
  if (!comm || !bytes || op != 0)
    return 4;
  if (!inside(reinterpret_cast<uintptr_t>(send), count * bytes) ||
      !inside(reinterpret_cast<uintptr_t>(recv), count * bytes)) {
    std::fprintf(stderr, "fakecuda (nccl): a sum outside the device's allocations\n");
    return 4;
  }
  if (!stream) {
    std::fprintf(stderr, "fakecuda (nccl): a sum on the default stream, not the step's\n");
    return 4;
  }
  if (send != recv)
    std::memcpy(recv, send, count * bytes);
  log("ncclAllReduce " + std::to_string(count) + " type " + std::to_string(type));
  return 0;
}
int ncclCommDestroy(void *comm) {
  delete static_cast<FakeNcclComm *>(comm);
  return 0;
}
const char *ncclGetErrorString(int result) {
  switch (result) {
  case 4: return "invalid argument";
  case 5: return "invalid usage (the stand-in NCCL has one rank)";
  }
  return "unhandled error";
}
} // extern "C"
