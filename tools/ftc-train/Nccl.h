//===- Nccl.h - a communicator on GPU memory over NCCL ----------*- C++ -*-===//
//
// `ftc-train --mpi` with a step.so compiled for CUDA: the gradients are GPU
// memory, summed by NCCL on the step's stream (ftc.h's FTC_COMM_DEVICE).
// libnccl.so.2 is loaded with dlopen (FTC_LIBNCCL names another), so
// ftc-train builds and runs without it; MPI only carries NCCL's unique id
// from rank 0 to the others, and ftc-train's own collectives.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_TRAIN_NCCL_H
#define FTC_TRAIN_NCCL_H

#include "ftc.h"

#include <functional>
#include <memory>
#include <string>

namespace ftc::train_tool {

class Nccl {
public:
  /// Rank `rank` of `size` on `stream` (ftc_device_stream); `broadcast`
  /// gives every rank rank 0's bytes. Null with `error` set where NCCL
  /// cannot be loaded or the communicator not made.
  static std::unique_ptr<Nccl> create(int rank, int size, void *stream,
                                      const std::function<void(void *, size_t)> &broadcast,
                                      std::string &error);
  virtual ~Nccl() = default;
  /// The communicator for ftc_set_comm; valid while this object lives.
  virtual const ftc_comm *comm() = 0;
};

} // namespace ftc::train_tool

#endif // FTC_TRAIN_NCCL_H
