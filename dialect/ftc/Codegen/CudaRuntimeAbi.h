//===- CudaRuntimeAbi.h - what CUDA step code and the runtime share -*- C++ -*-===//
//
// The symbols through which a step compiled for CUDA (ftc-gpu-bind-launches)
// hands its kernels to the runtime in step.so (lib/Runtime/Cuda.cpp). Plain
// C++: the runtime includes it without LLVM. None of the names starts with
// `ftc_`, so none is exported from step.so (its version script exports
// `ftc_*`).
//
//===----------------------------------------------------------------------===//

#ifndef FTC_CODEGEN_CUDARUNTIMEABI_H
#define FTC_CODEGEN_CUDARUNTIMEABI_H

#include <cstdint>

namespace ftc::cuda {

/// The gpu.module every kernel is merged into (ftc-gpu-merge-kernels).
inline constexpr const char *kKernelModule = "ftc_kernels";

/// `const char ftcrt_cuda_image[]`: the module's PTX (NUL-terminated),
/// cubin or fatbin, as `ftcrt_cuda_image_format` says; its size without
/// the NUL in `const int64_t ftcrt_cuda_image_size`.
inline constexpr const char *kImageSymbol = "ftcrt_cuda_image";
inline constexpr const char *kImageSizeSymbol = "ftcrt_cuda_image_size";
inline constexpr const char *kImageFormatSymbol = "ftcrt_cuda_image_format";
inline constexpr int32_t kFormatPtx = 0;
inline constexpr int32_t kFormatCubin = 1;
inline constexpr int32_t kFormatFatbin = 2;

/// `const char ftcrt_cuda_kernels[]`: the kernels' names, each
/// NUL-terminated, in the order of their numbers; `const int32_t
/// ftcrt_cuda_kernel_count` of them.
inline constexpr const char *kKernelNamesSymbol = "ftcrt_cuda_kernels";
inline constexpr const char *kKernelCountSymbol = "ftcrt_cuda_kernel_count";

/// `const char ftcrt_cuda_kernel_sources[]`: per kernel, in the same order,
/// where in the model its first launch comes from ("file:line:col", empty
/// where unknown), each NUL-terminated: what FTC_CUDA_PROFILE's table says.
inline constexpr const char *kKernelSourcesSymbol = "ftcrt_cuda_kernel_sources";

/// `void ftcrt_cuda_launch(int32_t kernel, int64_t gx, int64_t gy, int64_t gz,
///                         int64_t bx, int64_t by, int64_t bz,
///                         int32_t sharedBytes, void **args)`:
/// launches kernel number `kernel` on the stream of the state whose entry
/// point is running; `args[i]` points at argument i's value.
inline constexpr const char *kLaunchSymbol = "ftcrt_cuda_launch";

} // namespace ftc::cuda

#endif // FTC_CODEGEN_CUDARUNTIMEABI_H
