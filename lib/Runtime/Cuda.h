//===- Cuda.h - a state's buffers on an NVIDIA GPU --------------*- C++ -*-===//
//
// A step.so compiled with --target=cuda carries its kernels (PTX or a
// cubin) and launches them through `ftcrt_cuda_launch`. Its state keeps
// every buffer on the device, in one allocation laid out as the host arena,
// and the host arena as a mirror for what the runtime does on the host
// (initialization, checkpoints, the learning rate, the loss): each buffer
// records which copy is newer, and a copy moves only when the other side
// needs it. The driver (libcuda.so.1) is loaded with dlopen, so step.so
// links and loads on machines without one; FTC_LIBCUDA names another
// library (the tests' stand-in driver).
//
// For a CPU step.so every function here does nothing.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_RUNTIME_CUDA_H
#define FTC_RUNTIME_CUDA_H

#include "ftc.h"

#include <cstddef>
#include <cstdint>
#include <string>

struct ftc_state;

namespace ftc::runtime::cuda {

struct Device;

/// Whether this step.so was compiled for CUDA.
bool compiledForCuda();

/// Loads the driver, the kernels and the state's device buffers (the host
/// arena's layout, `arenaBytes`, `offsets` per buffer). FTC_ERROR_DEVICE,
/// with the reason, where there is no driver or no GPU.
ftc_status open(ftc_state &state, size_t arenaBytes, const size_t *offsets);
/// Frees what open made.
void close(Device *device);

/// Before an entry point: the buffers the host changed copied to the
/// device, the inputs copied into the state's input buffers (host memory
/// from the host, GPU memory on the device, or bound as it is where the
/// state replays no graphs); fails without having launched anything.
ftc_status beforeEntry(ftc_state &state, const void *const *inputs, bool takesInputs);
/// Whether `pointer` is GPU memory (of a state's device; false for a CPU
/// step.so).
bool isDevicePointer(const ftc_state &state, const void *pointer);
/// The buffers' addresses as entry points take them: the device's for a
/// CUDA step.so, the host's otherwise.
void **entryPointers(ftc_state &state);
/// An entry point of the generated code: it takes the buffers' addresses.
using EntryFn = void (*)(void **);
/// Runs `entry` (after beforeEntry) on the state's buffers: on the host for
/// a CPU step.so; on the device's stream for a CUDA one, where from its
/// second call the entry point is captured once as a CUDA graph and then
/// replayed by one launch (FTC_CUDA_GRAPHS=0: never; a graph the driver
/// refuses: run as before, launch by launch). Afterwards what the entry
/// point may write is newer on the device, and the first launch error, if
/// any, is returned with the entry point's `name`.
ftc_status runEntry(ftc_state &state, EntryFn entry, const char *name);
/// The host copy of buffer `index` made current (a copy from the device,
/// waiting for the step, where the device's is newer). Errors are reported
/// through the last error and FTC_ERROR_DEVICE.
ftc_status hostRead(const ftc_state &state, int index);
/// The host copy of buffer `index` is the newer (the host wrote all of it).
void hostWrote(const ftc_state &state, int index);
/// Every buffer but inputs and the workspace made current on the host, and
/// (with `write`) marked newer there.
ftc_status hostAccessAll(const ftc_state &state, bool write);
/// Buffer `index` zeroed (on the device where the state has one).
ftc_status zero(ftc_state &state, int index);

/// The stream the state's entry points run on (null without a device).
void *stream(const ftc_state &state);
/// `value` summed over the ranks by `reduce`, a stream-ordered all-reduce
/// of one f64 at the device pointer it is given (a communicator on GPU
/// memory): the value goes up to 8 bytes of the state's GPU memory and
/// comes back once the stream has run the sum. `reduce` returns false on
/// failure (its error is the caller's to report).
ftc_status allReduceScalar(ftc_state &state, double &value, bool (*reduce)(void *, void *),
                           void *context);

} // namespace ftc::runtime::cuda

#endif // FTC_RUNTIME_CUDA_H
