//===- Nccl.cpp - a communicator on GPU memory over NCCL ------------------===//
//
// See Nccl.h. NCCL's calls are declared here with its ABI (nccl.h: handles
// are pointers, the enums integers), so ftc-train builds without it.
//
//===----------------------------------------------------------------------===//

#include "Nccl.h"

#include <dlfcn.h>

#include <cstdlib>
#include <type_traits>
#include <vector>

namespace ftc::train_tool {
namespace {

using ncclResult = int;
using ncclCommHandle = void *;
struct UniqueId {
  char internal[128]; // NCCL_UNIQUE_ID_BYTES
};
constexpr int kNcclSum = 0;
constexpr int kNcclFloat32 = 7, kNcclFloat64 = 8, kNcclFloat16 = 6, kNcclBfloat16 = 9;

struct Library {
  void *handle = nullptr;
  std::string path;
  ncclResult (*getUniqueId)(UniqueId *);
  ncclResult (*commInitRank)(ncclCommHandle *, int, UniqueId, int);
  ncclResult (*allReduce)(const void *, void *, size_t, int, int, ncclCommHandle, void *);
  ncclResult (*commDestroy)(ncclCommHandle);
  const char *(*getErrorString)(ncclResult);
};

bool load(Library &lib, std::string &error) {
  std::vector<std::string> candidates;
  if (const char *path = std::getenv("FTC_LIBNCCL"); path && *path) {
    candidates.push_back(path);
  } else {
    candidates.push_back("libnccl.so.2");
    if (const char *home = std::getenv("CUDA_HOME"); home && *home)
      candidates.push_back(std::string(home) + "/lib64/libnccl.so.2");
    candidates.push_back("/usr/local/cuda/lib64/libnccl.so.2");
    candidates.push_back("/usr/local/cuda/lib/libnccl.so.2");
  }
  std::string reasons;
  for (const std::string &path : candidates) {
    if ((lib.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL))) {
      lib.path = path;
      break;
    }
    const char *why = dlerror();
    reasons += (reasons.empty() ? "" : "; ") + std::string(why ? why : path);
  }
  if (!lib.handle) {
    error = "cannot load NCCL, which sums a CUDA step's gradients over the ranks (set "
            "FTC_LIBNCCL to libnccl.so.2): " +
            reasons;
    return false;
  }
  auto bind = [&](auto &fn, const char *name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib.handle, name));
    if (!fn && error.empty())
      error = lib.path + " has no " + name;
  };
  bind(lib.getUniqueId, "ncclGetUniqueId");
  bind(lib.commInitRank, "ncclCommInitRank");
  bind(lib.allReduce, "ncclAllReduce");
  bind(lib.commDestroy, "ncclCommDestroy");
  bind(lib.getErrorString, "ncclGetErrorString");
  return error.empty();
}

class NcclComm final : public Nccl {
public:
  NcclComm(Library lib, ncclCommHandle handle, void *stream, int rank, int size)
      : lib(lib), handle(handle), stream(stream) {
    table.version = FTC_COMM_VERSION;
    table.rank = rank;
    table.size = size;
    table.context = this;
    table.memory = FTC_COMM_DEVICE;
    table.all_reduce = [](void *self, void *data, int64_t count, ftc_dtype dtype,
                          void **request) -> int32_t {
      return static_cast<NcclComm *>(self)->sum(data, count, dtype, request);
    };
    // Stream-ordered: a sum is enqueued when all_reduce returns.
    table.wait = [](void *, void *) -> int32_t { return 0; };
    table.all_gather = nullptr;
    table.error = [](void *self) -> const char * {
      return static_cast<NcclComm *>(self)->error.c_str();
    };
  }
  ~NcclComm() override { lib.commDestroy(handle); }

  const ftc_comm *comm() override { return &table; }

private:
  int32_t sum(void *data, int64_t count, ftc_dtype dtype, void **request) {
    *request = nullptr;
    int type = dtype == FTC_F64    ? kNcclFloat64
               : dtype == FTC_F16  ? kNcclFloat16
               : dtype == FTC_BF16 ? kNcclBfloat16
                                   : kNcclFloat32;
    if (dtype != FTC_F32 && dtype != FTC_F64 && dtype != FTC_F16 && dtype != FTC_BF16) {
      error = "ncclAllReduce of a dtype NCCL does not sum here (" + std::to_string(dtype) + ")";
      return 1;
    }
    if (ncclResult r = lib.allReduce(data, data, static_cast<size_t>(count), type, kNcclSum,
                                     handle, stream)) {
      error = std::string("ncclAllReduce: ") + lib.getErrorString(r);
      return 1;
    }
    return 0;
  }

  Library lib;
  ncclCommHandle handle;
  void *stream;
  ftc_comm table{};
  std::string error;
};

} // namespace

std::unique_ptr<Nccl> Nccl::create(int rank, int size, void *stream,
                                   const std::function<void(void *, size_t)> &broadcast,
                                   std::string &error) {
  Library lib;
  // Every rank learns whether every rank loaded it: the broadcast is
  // collective, so a rank without NCCL must not leave the others waiting.
  bool loaded = load(lib, error);
  UniqueId id{};
  if (rank == 0 && loaded) {
    if (ncclResult r = lib.getUniqueId(&id)) {
      error = std::string("ncclGetUniqueId: ") + lib.getErrorString(r);
      loaded = false;
    }
  }
  char ok = loaded ? 1 : 0;
  broadcast(&ok, 1);
  if (!ok) {
    if (error.empty())
      error = "rank 0 could not start NCCL";
    return nullptr;
  }
  broadcast(&id, sizeof(id));
  if (!loaded)
    return nullptr;
  ncclCommHandle handle = nullptr;
  if (ncclResult r = lib.commInitRank(&handle, size, id, rank)) {
    error = std::string("ncclCommInitRank: ") + lib.getErrorString(r);
    return nullptr;
  }
  return std::make_unique<NcclComm>(lib, handle, stream, rank, size);
}

} // namespace ftc::train_tool
