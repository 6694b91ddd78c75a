//===- Mpi.h - ftc-train's data parallelism over MPI ------------*- C++ -*-===//
//
// `ftc-train --mpi`, under `mpirun -np N`: a communicator for ftc_set_comm
// (ftc.h) over MPI, and the few collectives ftc-train itself needs. Every
// collective runs on one thread of its own, so that the gradients' sums
// overlap the backward that the caller's thread runs, and so that waiting
// for one can time out: a rank that stops answering ends the job with an
// error (MPI_Abort), not a hang. A rank that dies is mpirun's to notice: it
// ends the job.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_TRAIN_MPI_H
#define FTC_TRAIN_MPI_H

#include "ftc.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ftc::train_tool {

/// What the gradients' all-reduces cost, summed over the run.
struct CommStats {
  int64_t reductions = 0;      // all-reduces through the communicator
  int64_t bytes = 0;           // their bytes
  double reduceSeconds = 0.0;  // time the all-reduces took, on the comm thread
  double exposedSeconds = 0.0; // of it, time the step spent waiting for them
};

class Mpi {
public:
  /// MPI_Init_thread (asking for MPI_THREAD_MULTIPLE) and the comm thread;
  /// a wait longer than `timeoutSeconds` aborts the job. Dies with a clear
  /// message where ftc-train was built without MPI.
  static std::unique_ptr<Mpi> start(int *argc, char ***argv, double timeoutSeconds);
  /// Whether this ftc-train was built with MPI.
  static bool available();
  virtual ~Mpi() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// The communicator for ftc_set_comm; valid while this object lives.
  virtual const ftc_comm *comm() = 0;
  /// Blocking collectives for ftc-train's own use, between steps.
  virtual int64_t max(int64_t value) = 0;
  virtual double sum(double value) = 0;
  virtual std::vector<uint64_t> allGather(uint64_t value) = 0;
  /// Rank 0's `bytes` bytes at `data` to every rank.
  virtual void broadcast(void *data, size_t bytes) = 0;
  virtual CommStats stats() const = 0;
  /// Ends the job on every rank with `message` (this rank's error).
  [[noreturn]] virtual void abort(const std::string &message) = 0;
};

} // namespace ftc::train_tool

#endif // FTC_TRAIN_MPI_H
