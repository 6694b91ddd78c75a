//===- Mpi.cpp - ftc-train's data parallelism over MPI --------------------===//
//
// See Mpi.h. Built with MPI where CMake finds it (FTC_HAVE_MPI); without,
// `--mpi` is an error that says so.
//
//===----------------------------------------------------------------------===//

#include "Mpi.h"

#include <fmt/core.h>

#include <cstdlib>

#ifdef FTC_HAVE_MPI
#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#endif

namespace ftc::train_tool {

#ifndef FTC_HAVE_MPI

bool Mpi::available() { return false; }

std::unique_ptr<Mpi> Mpi::start(int *, char ***, double) {
  fmt::print(stderr, "ftc-train: error: --mpi: this ftc-train was built without MPI (Debian: "
                     "apt install libopenmpi-dev openmpi-bin, then build ftc again)\n");
  std::exit(1);
}

#else

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string describe(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

class MpiComm final : public Mpi {
  /// One collective, run on the comm thread.
  struct Job {
    std::function<int(MPI_Request *)> start; // a non-blocking collective
    bool gradient = false; // through the communicator (counted in stats)
    int64_t bytes = 0;
    bool done = false;
    int code = MPI_SUCCESS;
  };

public:
  MpiComm(double timeout) : timeout(timeout) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // A communicator of ftc's own, whose failures are returned, not fatal.
    MPI_Comm_dup(MPI_COMM_WORLD, &world);
    MPI_Comm_set_errhandler(world, MPI_ERRORS_RETURN);
    table.version = FTC_COMM_VERSION;
    table.rank = rank_;
    table.size = size_;
    table.context = this;
    table.all_reduce = [](void *self, void *data, int64_t count, ftc_dtype dtype,
                          void **request) -> int32_t {
      return static_cast<MpiComm *>(self)->startAllReduce(data, count, dtype, request);
    };
    table.wait = [](void *self, void *request) -> int32_t {
      return static_cast<MpiComm *>(self)->waitRequest(request);
    };
    table.all_gather = [](void *self, void *data, const int64_t *bytes) -> int32_t {
      return static_cast<MpiComm *>(self)->allGatherBytes(data, bytes);
    };
    table.error = [](void *self) -> const char * {
      return static_cast<MpiComm *>(self)->error.c_str();
    };
    worker = std::thread([this] { serve(); });
  }

  ~MpiComm() override {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    changed.notify_all();
    worker.join();
    MPI_Comm_free(&world);
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const ftc_comm *comm() override { return &table; }

  int64_t max(int64_t value) override {
    auto job = submit([this, &value](MPI_Request *request) {
      return MPI_Iallreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, MPI_MAX, world, request);
    });
    finishOrAbort(*job, "agreeing on when to stop");
    return value;
  }

  double sum(double value) override {
    auto job = submit([this, &value](MPI_Request *request) {
      return MPI_Iallreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_SUM, world, request);
    });
    finishOrAbort(*job, "summing the loss over the ranks");
    return value;
  }

  std::vector<uint64_t> allGather(uint64_t value) override {
    std::vector<uint64_t> all(static_cast<size_t>(size_));
    auto job = submit([this, &value, &all](MPI_Request *request) {
      return MPI_Iallgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, world,
                            request);
    });
    finishOrAbort(*job, "comparing the ranks' parameters");
    return all;
  }

  void broadcast(void *data, size_t bytes) override {
    auto job = submit([this, data, bytes](MPI_Request *request) {
      return MPI_Ibcast(data, static_cast<int>(bytes), MPI_BYTE, 0, world, request);
    });
    finishOrAbort(*job, "broadcasting from rank 0");
  }

  CommStats stats() const override {
    std::lock_guard<std::mutex> lock(mutex);
    return totals;
  }

  [[noreturn]] void abort(const std::string &message) override {
    fmt::print(stderr, "ftc-train: rank {}: error: {}\n", rank_, message);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

private:
  std::shared_ptr<Job> submit(std::function<int(MPI_Request *)> start, bool gradient = false,
                              int64_t bytes = 0) {
    auto job = std::make_shared<Job>();
    job->start = std::move(start);
    job->gradient = gradient;
    job->bytes = bytes;
    {
      std::lock_guard<std::mutex> lock(mutex);
      queue.push_back(job);
    }
    changed.notify_all();
    return job;
  }

  /// Waits for `job`; past the timeout, ends the job on every rank.
  int finish(Job &job, const char *what) {
    auto start = Clock::now();
    std::unique_lock<std::mutex> lock(mutex);
    bool done = changed.wait_for(lock, std::chrono::duration<double>(timeout),
                                 [&] { return job.done; });
    if (!done) {
      lock.unlock();
      abort(fmt::format("{} did not finish within {:g} s (--comm-timeout): another rank "
                        "stopped answering",
                        what, timeout));
    }
    if (job.gradient)
      totals.exposedSeconds += secondsSince(start);
    return job.code;
  }

  void finishOrAbort(Job &job, const char *what) {
    if (int code = finish(job, what); code != MPI_SUCCESS)
      abort(fmt::format("{}: {}", what, describe(code)));
  }

  /// Starts `job` and polls it to completion: a few tests in a row (a
  /// small sum is done at once), then a test every 50 microseconds, so
  /// that waiting for a slower rank leaves the cores to the step (MPI's
  /// blocking calls spin).
  int run(Job &job) {
    MPI_Request request = MPI_REQUEST_NULL;
    if (int code = job.start(&request); code != MPI_SUCCESS)
      return code;
    for (int tests = 0;; ++tests) {
      int done = 0;
      if (int code = MPI_Test(&request, &done, MPI_STATUS_IGNORE); code != MPI_SUCCESS)
        return code;
      if (done)
        return MPI_SUCCESS;
      if (tests >= 64)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  void serve() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty())
          return;
        job = queue.front();
        queue.pop_front();
      }
      auto start = Clock::now();
      int code = run(*job);
      double seconds = secondsSince(start);
      {
        std::lock_guard<std::mutex> lock(mutex);
        job->code = code;
        job->done = true;
        if (job->gradient) {
          ++totals.reductions;
          totals.bytes += job->bytes;
          totals.reduceSeconds += seconds;
        }
      }
      changed.notify_all();
    }
  }

  int32_t startAllReduce(void *data, int64_t count, ftc_dtype dtype, void **request) {
    MPI_Datatype type;
    int64_t element;
    switch (dtype) {
    case FTC_F32: type = MPI_FLOAT; element = 4; break;
    case FTC_F64: type = MPI_DOUBLE; element = 8; break;
    default:
      error = "MPI sums 32- and 64-bit floats only; this gradient has dtype " +
              std::to_string(static_cast<int>(dtype));
      return 1;
    }
    if (count < 0 || count > INT32_MAX) {
      error = "an all-reduce of " + std::to_string(count) + " elements (MPI counts are int)";
      return 1;
    }
    auto job = submit(
        [this, data, count, type](MPI_Request *request) {
          return MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), type, MPI_SUM,
                                world, request);
        },
        /*gradient=*/true, count * element);
    *request = new std::shared_ptr<Job>(std::move(job));
    return 0;
  }

  int32_t waitRequest(void *request) {
    std::unique_ptr<std::shared_ptr<Job>> job(static_cast<std::shared_ptr<Job> *>(request));
    if (int code = finish(**job, "an all-reduce of the gradients"); code != MPI_SUCCESS) {
      error = describe(code);
      return 1;
    }
    return 0;
  }

  int32_t allGatherBytes(void *data, const int64_t *bytes) {
    std::vector<int> counts(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    int64_t offset = 0;
    for (int r = 0; r < size_; ++r) {
      if (bytes[r] < 0 || bytes[r] > INT32_MAX || offset > INT32_MAX) {
        error = "an all-gather of more than 2 GiB per rank";
        return 1;
      }
      counts[static_cast<size_t>(r)] = static_cast<int>(bytes[r]);
      offsets[static_cast<size_t>(r)] = static_cast<int>(offset);
      offset += bytes[r];
    }
    auto job = submit([&, data](MPI_Request *request) {
      return MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, counts.data(),
                             offsets.data(), MPI_BYTE, world, request);
    });
    if (int code = finish(*job, "an all-gather of the parameters"); code != MPI_SUCCESS) {
      error = describe(code);
      return 1;
    }
    return 0;
  }

  double timeout;
  int rank_ = 0, size_ = 1;
  MPI_Comm world = MPI_COMM_NULL;
  ftc_comm table{};
  std::string error;
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::shared_ptr<Job>> queue;
  bool stopping = false;
  CommStats totals;
  std::thread worker;
};

} // namespace

bool Mpi::available() { return true; }

std::unique_ptr<Mpi> Mpi::start(int *argc, char ***argv, double timeoutSeconds) {
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
    fmt::print(stderr, "ftc-train: error: --mpi: MPI_Init_thread failed\n");
    std::exit(1);
  }
  // The comm thread makes every MPI call but MPI_Abort, which a timeout
  // makes from the caller's thread while the comm thread waits.
  if (provided < MPI_THREAD_MULTIPLE) {
    fmt::print(stderr, "ftc-train: error: --mpi: this MPI does not support calls from "
                       "several threads (MPI_THREAD_MULTIPLE)\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return std::make_unique<MpiComm>(timeoutSeconds);
}

#endif // FTC_HAVE_MPI

} // namespace ftc::train_tool
