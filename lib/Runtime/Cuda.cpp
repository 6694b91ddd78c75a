//===- Cuda.cpp - a state's buffers on an NVIDIA GPU ----------------------===//
//
// The driver API, loaded with dlopen: the calls are declared here with the
// driver's ABI (cuda.h's types are opaque handles and integers), so the
// runtime builds without a CUDA toolkit. See Cuda.h.
//
//===----------------------------------------------------------------------===//

#include "Cuda.h"

#include "Model.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

extern "C" {
extern const char ftcrt_cuda_image[] __attribute__((weak));
extern const char ftcrt_cuda_kernels[] __attribute__((weak));
extern const int32_t ftcrt_cuda_kernel_count __attribute__((weak));
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

constexpr int kPointerAttributeMemoryType = 2; // CU_POINTER_ATTRIBUTE_MEMORY_TYPE
constexpr unsigned kMemoryTypeDevice = 2;      // CU_MEMORYTYPE_DEVICE
constexpr int kJitErrorLogBuffer = 5;          // CU_JIT_ERROR_LOG_BUFFER
constexpr int kJitErrorLogBufferSize = 6;      // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
constexpr int kAttributeMajor = 75;            // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttributeMinor = 76;

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
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, CUstream, void **, void **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuPointerGetAttribute)(void *, int, CUdeviceptr);
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
    bind(d.cuMemsetD8Async, "cuMemsetD8Async");
    bind(d.cuStreamCreate, "cuStreamCreate");
    bind(d.cuStreamDestroy, "cuStreamDestroy_v2");
    bind(d.cuStreamSynchronize, "cuStreamSynchronize");
    bind(d.cuLaunchKernel, "cuLaunchKernel");
    bind(d.cuGetErrorString, "cuGetErrorString");
    bind(d.cuPointerGetAttribute, "cuPointerGetAttribute");
  });
  return d;
}

std::string describe(CUresult result) {
  const char *text = nullptr;
  if (driver().cuGetErrorString && driver().cuGetErrorString(result, &text) == 0 && text)
    return std::string(text) + " (CUresult " + std::to_string(result) + ")";
  return "CUresult " + std::to_string(result);
}

/// Which copy of a buffer is current.
enum class Newer : uint8_t { Neither, Host, Device };

} // namespace

struct Device {
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  CUstream stream = nullptr;
  CUdeviceptr arena = 0;
  std::vector<CUfunction> kernels;
  std::vector<void *> pointers;       // per buffer: its device address
  std::vector<CUdeviceptr> inputs;    // per buffer: an input's own device buffer
  mutable std::vector<Newer> newer;   // per buffer
  /// The first failure of a launch in the running entry point.
  CUresult launchError = 0;
  int failedKernel = -1;
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
  if (CUresult r = d.cuDeviceGet(&dev.device, 0))
    return deviceError("cannot open GPU 0", r);
  if (CUresult r = d.cuDevicePrimaryCtxRetain(&dev.context, dev.device))
    return deviceError("cannot create a context on GPU 0", r);
  if (CUresult r = d.cuCtxSetCurrent(dev.context)) {
    d.cuDevicePrimaryCtxRelease(dev.device);
    return deviceError("cannot use GPU 0's context", r);
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
  if (CUresult r = d.cuStreamCreate(&made.stream, 0))
    return deviceError("cannot create a stream", r);
  // The arena's layout, then one buffer per input (where host inputs are
  // copied) at the end.
  const Model &m = model();
  size_t bytes = arenaBytes;
  std::vector<size_t> inputOffsets(m.buffers.size(), 0);
  for (int i : m.inputs) {
    inputOffsets[static_cast<size_t>(i)] = bytes;
    bytes += (std::max<size_t>(m.buffers[static_cast<size_t>(i)].bytes(), 1) + 255) / 256 * 256;
  }
  if (CUresult r = d.cuMemAlloc(&made.arena, std::max<size_t>(bytes, 1)))
    return r == 2 /* CUDA_ERROR_OUT_OF_MEMORY */
               ? fail(FTC_ERROR_MEMORY, "out of GPU memory allocating the state (" +
                                            std::to_string(bytes) + " bytes)")
               : deviceError("cannot allocate the state on the GPU", r);
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
      dev->pointers[i] = const_cast<void *>(inputs[k]);
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

ftc_status afterEntry(ftc_state &state, const char *name) {
  Device *dev = state.device.ptr;
  if (!dev)
    return FTC_OK;
  running = nullptr;
  const Model &m = model();
  // What an entry point may write is newer on the device now; settings
  // only ever come from the host.
  for (size_t i = 0; i < m.buffers.size(); ++i)
    if (residesOnDevice(m.buffers[i]) && m.buffers[i].kind != "setting")
      dev->newer[i] = Newer::Device;
  if (dev->launchError) {
    std::string kernel = "?";
    const char *k = ftcrt_cuda_kernels;
    for (int32_t n = 0; n < ftcrt_cuda_kernel_count; ++n, k += std::strlen(k) + 1)
      if (n == dev->failedKernel)
        kernel = k;
    return deviceError(std::string("the '") + name + "' entry point could not launch kernel '" +
                           kernel + "'",
                       dev->launchError);
  }
  return FTC_OK;
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
  CUresult r = driver().cuLaunchKernel(
      dev->kernels[static_cast<size_t>(kernel)], static_cast<unsigned>(gx),
      static_cast<unsigned>(gy), static_cast<unsigned>(gz), static_cast<unsigned>(bx),
      static_cast<unsigned>(by), static_cast<unsigned>(bz), static_cast<unsigned>(sharedBytes),
      dev->stream, args, nullptr);
  if (r) {
    dev->launchError = r;
    dev->failedKernel = kernel;
  }
}
