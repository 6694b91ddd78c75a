//===- Comm.cpp - data parallelism over a caller's communicator -----------===//
//
// See Comm.h.
//
//===----------------------------------------------------------------------===//

#include "Comm.h"

#include "Cuda.h"
#include "Dtype.h"
#include "Model.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <memory>
#include <string>

namespace ftc::runtime::comm {

namespace {

/// A run of gradient buffers adjacent in the arena, summed as one range.
struct Bucket {
  char *data = nullptr;
  int64_t count = 0; // elements, the padding between buffers included
  ftc_dtype dtype = FTC_F32;
  int grads = 0;     // buffers in it
  int pending = 0;   // of those, not yet final in this step
  bool started = false;
  void *request = nullptr;
};

constexpr int64_t kDefaultBucketBytes = int64_t(1) << 20;

} // namespace

/// A sharded optimizer's layout: the trained parameters and their state
/// are runs in the arena, each rank's part a run of both.
struct Shard {
  char *params = nullptr, *slots = nullptr, *slotsEnd = nullptr;
  std::vector<int64_t> paramBytes, slotBytes; // per rank
  char *mineBegin = nullptr, *mineEnd = nullptr; // this rank's optimizer state
  int64_t mineBytes = 0;                          // its buffers' bytes
  /// The whole pages outside this rank's state: given back, PROT_NONE.
  std::vector<std::pair<char *, size_t>> dropped;
};

struct Comm {
  ftc_comm table{};
  std::vector<Bucket> buckets;
  std::vector<int> bucketOf; // buffer index -> bucket, or -1
  bool overlapping = false;
  std::string error; // the first failure of this step, from a hook
  std::unique_ptr<Shard> shard;
};

namespace {

thread_local Comm *active = nullptr;

std::string reason(const Comm &c, const char *what) {
  const char *why = c.table.error ? c.table.error(c.table.context) : nullptr;
  return std::string(what) + " failed on rank " + std::to_string(c.table.rank) + " of " +
         std::to_string(c.table.size) + ": " + (why && *why ? why : "no reason given");
}

/// Starts bucket `b`'s sum; a failure is kept for finish().
void start(Comm &c, Bucket &b) {
  if (b.started || !c.error.empty())
    return;
  b.started = true;
  b.request = nullptr;
  if (c.table.all_reduce(c.table.context, b.data, b.count, b.dtype, &b.request) != 0)
    c.error = reason(c, "an all-reduce of the gradients");
}

} // namespace

std::vector<int> gradOrder(const Model &m) {
  std::vector<int> order;
  for (int g : m.gradReady)
    if (g >= 0 && g < static_cast<int>(m.buffers.size()) && m.buffers[g].kind == "grad" &&
        std::find(order.begin(), order.end(), g) == order.end())
      order.push_back(g);
  // Gradients the description does not order (none, from this ftc), after.
  for (int i = 0; i < static_cast<int>(m.buffers.size()); ++i)
    if (m.buffers[i].kind == "grad" && std::find(order.begin(), order.end(), i) == order.end())
      order.push_back(i);
  return order;
}

namespace {

void drop(Shard &shard) {
  for (auto [at, bytes] : shard.dropped) {
    madvise(at, bytes, MADV_DONTNEED);
    mprotect(at, bytes, PROT_NONE);
  }
}

void restore(const Shard &shard) {
  for (auto [at, bytes] : shard.dropped)
    mprotect(at, bytes, PROT_READ | PROT_WRITE);
}

ftc_status gatherBytes(Comm &c, char *data, const std::vector<int64_t> &bytes, const char *what) {
  if (c.table.all_gather(c.table.context, data, bytes.data()) != 0)
    return fail(FTC_ERROR_COMM, reason(c, what));
  return FTC_OK;
}

/// The optimizer state back on every rank and unsharded (detaching).
ftc_status unshard(ftc_state &state) {
  Comm &c = *state.comm.ptr;
  Shard &shard = *c.shard;
  restore(shard);
  ftc_status status = gatherBytes(c, shard.slots, shard.slotBytes,
                                  "an all-gather of the optimizer state");
  const Model &m = model();
  for (int p : m.params)
    if (m.ownedOf[p] >= 0)
      *static_cast<int64_t *>(state.pointers[m.ownedOf[p]]) = 1;
  c.shard.reset();
  return status;
}

} // namespace

ftc_status attach(ftc_state &state, const ftc_comm *table, int64_t bucketBytes) {
  if (!table) {
    ftc_status status = FTC_OK;
    if (sharded(state))
      status = unshard(state);
    delete state.comm.ptr;
    state.comm.ptr = nullptr;
    return status;
  }
  if (sharded(state))
    return fail(FTC_ERROR_ARGUMENT, "the optimizer is sharded over the attached communicator: "
                                    "detach it first (ftc_set_comm with null)");
  if (table->version != 1 && table->version != FTC_COMM_VERSION)
    return fail(FTC_ERROR_ARGUMENT, "the communicator has version " +
                                        std::to_string(table->version) + "; this step.so takes " +
                                        "1 and " + std::to_string(FTC_COMM_VERSION));
  // A version 1 table ends before `memory`: host memory.
  ftc_comm copy{};
  std::memcpy(&copy, table,
              table->version == 1 ? offsetof(ftc_comm, memory) : sizeof(ftc_comm));
  if (table->version == 1)
    copy.memory = FTC_COMM_HOST;
  table = &copy;
  if (table->memory != FTC_COMM_HOST && table->memory != FTC_COMM_DEVICE)
    return fail(FTC_ERROR_ARGUMENT, "the communicator's memory is " +
                                        std::to_string(table->memory) +
                                        ": expected FTC_COMM_HOST or FTC_COMM_DEVICE");
  if (table->size < 1 || table->rank < 0 || table->rank >= table->size)
    return fail(FTC_ERROR_ARGUMENT, "the communicator's rank " + std::to_string(table->rank) +
                                        " is not one of its " + std::to_string(table->size) +
                                        " ranks");
  if (!table->all_reduce || !table->wait)
    return fail(FTC_ERROR_ARGUMENT, "the communicator lacks all_reduce or wait");
  if (bucketBytes < 0)
    return fail(FTC_ERROR_ARGUMENT,
                "the bucket size must be >= 0 bytes, got " + std::to_string(bucketBytes));
  bool device = cuda::compiledForCuda();
  if (device && table->memory != FTC_COMM_DEVICE)
    return fail(FTC_ERROR_UNSUPPORTED,
                "this step.so was compiled for CUDA: its gradients are GPU memory, which a "
                "communicator on host memory (MPI) cannot sum; attach one on GPU memory "
                "(FTC_COMM_DEVICE: NCCL)");
  if (!device && table->memory != FTC_COMM_HOST)
    return fail(FTC_ERROR_UNSUPPORTED, "this step.so runs on the CPU: its communicator must "
                                       "sum host memory (FTC_COMM_HOST)");
  const Model &m = model();
  if (bucketBytes == 0)
    bucketBytes = kDefaultBucketBytes;
  auto c = std::make_unique<Comm>();
  c->table = *table;
  c->bucketOf.assign(m.buffers.size(), -1);
  // Buckets: runs of the gradients in their order, adjacent in the arena,
  // of one dtype, closed once they hold bucketBytes.
  char *end = nullptr;
  // The gradients where the step has them: the GPU's copies for CUDA (laid
  // out as the host arena).
  void **where = device ? cuda::entryPointers(state) : state.pointers.data();
  for (int g : gradOrder(m)) {
    const Buffer &b = m.buffers[g];
    char *data = static_cast<char *>(where[g]);
    size_t element = static_cast<size_t>(dtypeBytes(b.dtype));
    bool extend = !c->buckets.empty() && data == end && c->buckets.back().dtype == b.dtype &&
                  c->buckets.back().count * static_cast<int64_t>(element) < bucketBytes;
    if (!extend) {
      Bucket bucket;
      bucket.data = data;
      bucket.dtype = b.dtype;
      c->buckets.push_back(bucket);
    }
    Bucket &bucket = c->buckets.back();
    // Up to the next buffer's start (Buffer::arenaBytes): the padding is
    // zero and sums to zero.
    end = data + b.arenaBytes();
    bucket.count = static_cast<int64_t>((end - bucket.data) / static_cast<ptrdiff_t>(element));
    ++bucket.grads;
    c->bucketOf[g] = static_cast<int>(c->buckets.size() - 1);
  }
  delete state.comm.ptr;
  state.comm.ptr = c.release();
  return FTC_OK;
}

bool attached(const ftc_state &state) { return state.comm.ptr != nullptr; }
int32_t rank(const ftc_state &state) { return state.comm.ptr ? state.comm.ptr->table.rank : 0; }
int32_t size(const ftc_state &state) { return state.comm.ptr ? state.comm.ptr->table.size : 1; }

void beginOverlap(ftc_state &state) {
  Comm &c = *state.comm.ptr;
  for (Bucket &b : c.buckets) {
    b.pending = b.grads;
    b.started = false;
  }
  c.error.clear();
  c.overlapping = true;
  active = &c;
}

ftc_status finish(ftc_state &state) {
  Comm &c = *state.comm.ptr;
  if (!c.overlapping) { // ftc_apply after ftc_accumulate_grad: all at once
    for (Bucket &b : c.buckets)
      b.started = false;
    c.error.clear();
  }
  active = nullptr;
  c.overlapping = false;
  for (Bucket &b : c.buckets)
    start(c, b);
  // Every started sum waited for, failed or not: none is left running
  // into the buffers.
  for (Bucket &b : c.buckets)
    if (b.started && b.request != nullptr)
      if (c.table.wait(c.table.context, b.request) != 0 && c.error.empty())
        c.error = reason(c, "waiting for an all-reduce of the gradients");
  for (Bucket &b : c.buckets)
    b.started = false;
  if (!c.error.empty())
    return fail(FTC_ERROR_COMM, c.error);
  return FTC_OK;
}

ftc_status allReduce(ftc_state &state, double &value) {
  Comm &c = *state.comm.ptr;
  if (c.table.memory == FTC_COMM_DEVICE) {
    struct Call {
      Comm &c;
      std::string error;
    } call{c, {}};
    auto reduce = [](void *context, void *data) {
      auto &call = *static_cast<Call *>(context);
      ftc_comm &t = call.c.table;
      void *request = nullptr;
      if (t.all_reduce(t.context, data, 1, FTC_F64, &request) != 0) {
        call.error = reason(call.c, "an all-reduce of the loss");
        return false;
      }
      if (t.wait(t.context, request) != 0) {
        call.error = reason(call.c, "waiting for an all-reduce of the loss");
        return false;
      }
      return true;
    };
    ftc_status status = cuda::allReduceScalar(state, value, reduce, &call);
    return status == FTC_ERROR_COMM ? fail(FTC_ERROR_COMM, call.error) : status;
  }
  void *request = nullptr;
  if (c.table.all_reduce(c.table.context, &value, 1, FTC_F64, &request) != 0)
    return fail(FTC_ERROR_COMM, reason(c, "an all-reduce of the loss"));
  if (c.table.wait(c.table.context, request) != 0)
    return fail(FTC_ERROR_COMM, reason(c, "waiting for an all-reduce of the loss"));
  return FTC_OK;
}

ftc_status shard(ftc_state &state) {
  if (!attached(state))
    return fail(FTC_ERROR_ARGUMENT, "a sharded optimizer needs a communicator (ftc_set_comm)");
  Comm &c = *state.comm.ptr;
  if (c.shard)
    return FTC_OK;
  if (c.table.memory == FTC_COMM_DEVICE)
    return fail(FTC_ERROR_UNSUPPORTED, "a sharded optimizer (ZeRO-1) runs on the CPU only for "
                                       "now; a CUDA step.so keeps all of its optimizer state");
  if (!c.table.all_gather)
    return fail(FTC_ERROR_ARGUMENT, "a sharded optimizer needs the communicator's all_gather");
  const Model &m = model();
  // The trained parameters with optimizer state, in order, and theirs.
  std::vector<int> trained;
  for (int p : m.params)
    if (m.buffers[p].trainable && m.ownedOf[p] >= 0)
      trained.push_back(p);
  if (trained.empty())
    return fail(FTC_ERROR_UNSUPPORTED, "this step.so has no update to shard (compiled before "
                                       "sharded optimizers existed, or it trains nothing)");
  std::vector<std::vector<int>> slotsOf(trained.size());
  std::vector<int64_t> stateBytes(trained.size(), 0);
  int64_t total = 0;
  for (size_t i = 0; i < trained.size(); ++i) {
    for (int s : m.slots)
      if (m.buffers[s].of == m.buffers[trained[i]].name)
        slotsOf[i].push_back(s);
    for (int s : slotsOf[i])
      stateBytes[i] += static_cast<int64_t>(m.buffers[s].arenaBytes());
    total += stateBytes[i];
  }
  // Rank of each parameter: where the middle of its state falls in the
  // whole, cut into `size` equal parts (non-decreasing: each rank a run).
  int size = c.table.size, rank = c.table.rank;
  auto shard = std::make_unique<Shard>();
  shard->paramBytes.assign(static_cast<size_t>(size), 0);
  shard->slotBytes.assign(static_cast<size_t>(size), 0);
  shard->params = static_cast<char *>(state.pointers[trained.front()]);
  char *paramsEnd = shard->params;
  int64_t before = 0;
  for (size_t i = 0; i < trained.size(); ++i) {
    int owner = total > 0 ? static_cast<int>((2 * before + stateBytes[i]) * size / (2 * total))
                          : 0;
    owner = std::min(owner, size - 1);
    before += stateBytes[i];
    const Buffer &p = m.buffers[trained[i]];
    if (static_cast<char *>(state.pointers[trained[i]]) != paramsEnd)
      return fail(FTC_ERROR_FORMAT, "the trained parameters are not one run of the arena");
    paramsEnd += p.arenaBytes();
    shard->paramBytes[static_cast<size_t>(owner)] += static_cast<int64_t>(p.arenaBytes());
    for (int s : slotsOf[i]) {
      char *at = static_cast<char *>(state.pointers[s]);
      if (!shard->slots)
        shard->slots = shard->slotsEnd = at;
      if (at != shard->slotsEnd)
        return fail(FTC_ERROR_FORMAT, "the optimizer state is not one run of the arena");
      if (owner == rank && !shard->mineBegin)
        shard->mineBegin = at;
      shard->slotsEnd += m.buffers[s].arenaBytes();
      if (owner == rank) {
        shard->mineEnd = shard->slotsEnd;
        shard->mineBytes += static_cast<int64_t>(m.buffers[s].bytes());
      }
      shard->slotBytes[static_cast<size_t>(owner)] +=
          static_cast<int64_t>(m.buffers[s].arenaBytes());
    }
    *static_cast<int64_t *>(state.pointers[m.ownedOf[trained[i]]]) = owner == rank ? 1 : 0;
  }
  if (!shard->mineBegin) // owns nothing: an empty run at its place
    shard->mineBegin = shard->mineEnd = shard->slots;
  // The whole pages of the others' state.
  auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  auto pagesInside = [&](char *from, char *to) {
    uintptr_t a = (reinterpret_cast<uintptr_t>(from) + page - 1) / page * page;
    uintptr_t b = reinterpret_cast<uintptr_t>(to) / page * page;
    if (a < b)
      shard->dropped.push_back({reinterpret_cast<char *>(a), static_cast<size_t>(b - a)});
  };
  if (shard->slots) {
    pagesInside(shard->slots, shard->mineBegin);
    pagesInside(shard->mineEnd, shard->slotsEnd);
  }
  drop(*shard);
  c.shard = std::move(shard);
  return FTC_OK;
}

bool sharded(const ftc_state &state) { return state.comm.ptr && state.comm.ptr->shard; }

ftc_status gatherParams(ftc_state &state) {
  Comm &c = *state.comm.ptr;
  return gatherBytes(c, c.shard->params, c.shard->paramBytes,
                     "an all-gather of the updated parameters");
}

Unsharded::Unsharded(const ftc_state &state) : state(state) {
  if (sharded(state))
    restore(*state.comm.ptr->shard);
}

Unsharded::~Unsharded() {
  if (sharded(state))
    drop(*state.comm.ptr->shard);
}

ftc_status gatherOptimizerState(const ftc_state &state) {
  if (!sharded(state))
    return FTC_OK;
  Comm &c = *state.comm.ptr;
  return gatherBytes(c, c.shard->slots, c.shard->slotBytes,
                     "an all-gather of the optimizer state");
}

int64_t heldOptimizerBytes(const ftc_state &state) {
  if (sharded(state))
    return state.comm.ptr->shard->mineBytes;
  return ftc_buffer_bytes("slot");
}

} // namespace ftc::runtime::comm

ftc::runtime::CommRef::~CommRef() { delete ptr; }

using namespace ftc::runtime::comm;

/// Called by the compiled accumulate entry after the last op that touches
/// gradient buffer `buffer` (ftc-grad-ready-hooks): outside ftc_step with
/// a communicator it does nothing.
extern "C" void ftcrt_grad_ready(int32_t buffer) {
  Comm *c = active;
  if (!c || buffer < 0 || static_cast<size_t>(buffer) >= c->bucketOf.size())
    return;
  int index = c->bucketOf[static_cast<size_t>(buffer)];
  if (index < 0)
    return;
  Bucket &b = c->buckets[static_cast<size_t>(index)];
  if (b.pending > 0 && --b.pending == 0)
    start(*c, b);
}
