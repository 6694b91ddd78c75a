//===- Comm.h - data parallelism over a caller's communicator ---*- C++ -*-===//
//
// ftc_set_comm attaches a communicator (ftc.h's ftc_comm) to a state: the
// step then sums its gradients over the ranks before each update. The
// gradients are summed in buckets: runs of gradient buffers that the arena
// holds back to back in the order the compiled backward finishes them (the
// model description's `grad_ready`, which ftc-grad-ready-hooks records),
// so that a bucket is one contiguous range, summed in place. In ftc_step
// the accumulate entry calls `ftcrt_grad_ready(buffer)` after the last op
// that touches each gradient, and a bucket's all-reduce starts as soon as
// its last gradient is final, while the backward goes on.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_RUNTIME_COMM_H
#define FTC_RUNTIME_COMM_H

#include "ftc.h"

#include <cstdint>
#include <vector>

struct ftc_state;

namespace ftc::runtime {

struct Model;

namespace comm {

struct Comm;

/// The order in which the arena holds the gradient buffers: the compiled
/// backward's `grad_ready` order where the description has one (each
/// bucket contiguous), else the layout's.
std::vector<int> gradOrder(const Model &m);

/// Attaches (or with null, detaches) a communicator; validates it.
ftc_status attach(ftc_state &state, const ftc_comm *comm, int64_t bucketBytes);

/// Whether `state` has a communicator attached, and its rank and size.
bool attached(const ftc_state &state);
int32_t rank(const ftc_state &state);
int32_t size(const ftc_state &state);

/// Makes the hooks of the next accumulate entry on this thread start each
/// bucket's all-reduce as soon as it is complete (ftc_step), until
/// finish().
void beginOverlap(ftc_state &state);
/// Starts every bucket not started yet, waits for all of them, and ends
/// the overlap: FTC_ERROR_COMM with the communicator's reason on failure.
ftc_status finish(ftc_state &state);
/// Sums `value` over the ranks (the loss), blocking.
ftc_status allReduce(ftc_state &state, double &value);

/// ZeRO stage 1 (ftc_shard_optimizer): this rank updates a run of the
/// trained parameters, about 1/size of the optimizer state's bytes, and
/// holds the optimizer state of those only: the pages of the others' are
/// given back to the kernel and made inaccessible (PROT_NONE), so that a
/// stray access faults instead of silently using memory. The optimizer
/// state of the others is not kept anywhere on this rank.
ftc_status shard(ftc_state &state);
bool sharded(const ftc_state &state);
/// After an update: every rank's parameters from their owners (in place).
ftc_status gatherParams(ftc_state &state);
/// The optimizer state's pages of other ranks mapped (zero) for the scope
/// of this object, for code that writes all of it (loading a checkpoint,
/// resetting the optimizer); dropped again after. Nothing without sharding.
class Unsharded {
public:
  explicit Unsharded(const ftc_state &state);
  ~Unsharded();
  Unsharded(const Unsharded &) = delete;
  Unsharded &operator=(const Unsharded &) = delete;

private:
  const ftc_state &state;
};
/// Inside an Unsharded scope: every rank's optimizer state from its owner
/// (collective: every rank calls it), for a checkpoint written whole.
ftc_status gatherOptimizerState(const ftc_state &state);
/// Bytes of optimizer state this rank keeps: all of it unless sharded.
int64_t heldOptimizerBytes(const ftc_state &state);

} // namespace comm

/// The communicator attached to a state, or null (ftc_state owns it).
struct CommRef {
  comm::Comm *ptr = nullptr;
  CommRef() = default;
  CommRef(const CommRef &) = delete;
  CommRef &operator=(const CommRef &) = delete;
  ~CommRef();
};

} // namespace ftc::runtime

#endif // FTC_RUNTIME_COMM_H
