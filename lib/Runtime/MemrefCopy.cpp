//===- MemrefCopy.cpp - strided memref copies for compiled code -----------===//
//
// MLIR lowers a memref.copy between strided views (a slice of a tensor, say)
// to a call to `memrefCopy` with unranked descriptors; upstream ships it in
// libmlir_c_runner_utils, which a step.so should not depend on. This is the
// same contract, for the runtime linked into every step.so.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstring>

namespace {
/// The ranked descriptor behind an unranked memref: allocated and aligned
/// pointers, offset, then `rank` sizes and `rank` strides (in elements).
struct Descriptor {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t sizesAndStrides[1];
};
struct UnrankedMemRef {
  int64_t rank;
  Descriptor *descriptor;
};
} // namespace

extern "C" __attribute__((visibility("hidden"))) void
memrefCopy(int64_t elementSize, UnrankedMemRef *source, UnrankedMemRef *target) {
  int64_t rank = source->rank;
  const Descriptor *s = source->descriptor;
  Descriptor *t = target->descriptor;
  const int64_t *sizes = s->sizesAndStrides;
  const int64_t *sStrides = s->sizesAndStrides + rank;
  const int64_t *tStrides = t->sizesAndStrides + rank;
  const char *from = s->aligned + s->offset * elementSize;
  char *to = t->aligned + t->offset * elementSize;
  for (int64_t d = 0; d < rank; ++d)
    if (sizes[d] == 0)
      return;
  // A contiguous innermost dimension is copied as one run of bytes.
  int64_t run = 1, loops = rank;
  if (rank > 0 && sStrides[rank - 1] == 1 && tStrides[rank - 1] == 1) {
    run = sizes[rank - 1];
    loops = rank - 1;
  }
  size_t bytes = static_cast<size_t>(run * elementSize);
  // Walk the other indices like an odometer, innermost fastest. On the
  // stack: a step allocates no heap memory (test/Runtime/memory-plan.test).
  int64_t *index = static_cast<int64_t *>(
      __builtin_alloca(static_cast<size_t>(loops > 0 ? loops : 1) * sizeof(int64_t)));
  std::memset(index, 0, static_cast<size_t>(loops > 0 ? loops : 1) * sizeof(int64_t));
  int64_t sOffset = 0, tOffset = 0;
  while (true) {
    std::memcpy(to + tOffset * elementSize, from + sOffset * elementSize, bytes);
    int64_t d = loops - 1;
    for (; d >= 0; --d) {
      if (++index[d] < sizes[d]) {
        sOffset += sStrides[d];
        tOffset += tStrides[d];
        break;
      }
      sOffset -= sStrides[d] * (sizes[d] - 1);
      tOffset -= tStrides[d] * (sizes[d] - 1);
      index[d] = 0;
    }
    if (d < 0)
      return;
  }
}
