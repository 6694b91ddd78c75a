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
// A violation makes the call fail (CUDA_ERROR_INVALID_VALUE) and is printed
// to stderr. FAKECUDA_LOG=FILE appends one line per call that moves data or
// launches; FAKECUDA_DEVICES=N (default 1) sets the GPU count;
// FAKECUDA_FAIL_LAUNCH=K fails the K-th launch of a module (from 1) with
// CUDA_ERROR_LAUNCH_FAILED; FAKECUDA_FAIL_MODULE=1 rejects the module with
// CUDA_ERROR_NO_BINARY_FOR_GPU.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
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
  Module *module = nullptr;
};

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
    pos += 6;
  }
  kernel.name = name;
  return true;
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
  if (!allocations.erase(pointer))
    return violation("cuMemFree of memory not allocated here");
  std::free(reinterpret_cast<void *>(pointer));
  return kSuccess;
}

CUresult cuMemcpyHtoDAsync_v2(unsigned long long dst, const void *src, size_t bytes, void *) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!inside(dst, bytes))
    return violation("a copy to the device outside its allocations");
  std::memcpy(reinterpret_cast<void *>(dst), src, bytes);
  log("htod " + std::to_string(bytes));
  return kSuccess;
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, unsigned long long src, size_t bytes, void *) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!inside(src, bytes))
    return violation("a copy from the device outside its allocations");
  std::memcpy(dst, reinterpret_cast<const void *>(src), bytes);
  log("dtoh " + std::to_string(bytes));
  return kSuccess;
}

CUresult cuMemsetD8Async(unsigned long long dst, unsigned char value, size_t bytes, void *) {
  std::lock_guard<std::mutex> lock(mutex);
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
CUresult cuStreamSynchronize(void *) { return kSuccess; }

CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shared, void *, void **args,
                        void **extra) {
  std::lock_guard<std::mutex> lock(mutex);
  auto *kernel = static_cast<Kernel *>(function);
  int launch = ++kernel->module->launches;
  if (const char *k = std::getenv("FAKECUDA_FAIL_LAUNCH"); k && std::atoi(k) == launch)
    return kLaunchFailed;
  if (extra)
    return violation("launch of " + kernel->name + ": 'extra' is not used by ftc");
  if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 || bx * by * bz == 0 ||
      bx * by * bz > 1024 || bz > 64)
    return violation("launch of " + kernel->name + ": grid or block out of range");
  if (shared > 48 * 1024)
    return violation("launch of " + kernel->name + ": too much shared memory");
  for (size_t i = 0; i < kernel->pointer.size(); ++i) {
    if (!args || !args[i])
      return violation("launch of " + kernel->name + ": argument " + std::to_string(i) +
                       " is missing");
    if (!kernel->pointer[i])
      continue;
    uintptr_t p = *static_cast<uintptr_t *>(args[i]);
    if (!inside(p, 1))
      return violation("launch of " + kernel->name + ": argument " + std::to_string(i) +
                       " is not device memory");
  }
  log("launch " + kernel->name + " " + std::to_string(gx) + "x" + std::to_string(bx) + " " +
      std::to_string(kernel->pointer.size()) + " args");
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
