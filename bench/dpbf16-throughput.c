// vdpbf16ps against vfmadd231ps on this CPU: the reciprocal throughput of
// each on zmm registers, with 28 independent accumulators (and 4, to see
// latency) so that only throughput limits. A probe, not a test:
//
//   clang -O2 -mavx512f -mavx512bf16 -mavx512vl bench/dpbf16-throughput.c -o /tmp/dp && /tmp/dp
//
// One vdpbf16ps does 32 multiply-adds (16 lanes of a bf16 pair), one
// vfmadd231ps 16: the bf16 dot products beat f32 FMAs only where vdpbf16ps
// issues at least half as often.
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define R28(op)                                                                        \
  op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) op(8) op(9) op(10) op(11) op(12)    \
      op(13) op(14) op(15) op(16) op(17) op(18) op(19) op(20) op(21) op(22) op(23)    \
          op(24) op(25) op(26) op(27)
#define R4(op) R4x(op) R4x(op) R4x(op) R4x(op) R4x(op) R4x(op) R4x(op)
#define R4x(op) op(0) op(1) op(2) op(3)
#define DP(i) "vdpbf16ps %%zmm30, %%zmm31, %%zmm" #i "\n"
#define FMA(i) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #i "\n"
#define CLOBBERS                                                                       \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",      \
      "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", \
      "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27"

int main(void) {
  const long n = 28L * 4000000;
  asm volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n vpxord %%zmm31, %%zmm31, %%zmm31" ::
                   : "xmm30", "xmm31");
  double t0 = now();
  for (long i = 0; i < n / 28; ++i)
    asm volatile(R28(DP)::: CLOBBERS);
  double t1 = now();
  for (long i = 0; i < n / 28; ++i)
    asm volatile(R4(DP)::: CLOBBERS);
  double t2 = now();
  for (long i = 0; i < n / 28; ++i)
    asm volatile(R28(FMA)::: CLOBBERS);
  double t3 = now();
  printf("ns per instruction: vdpbf16ps zmm %.3f (28 accumulators), %.3f (4); "
         "vfmadd231ps zmm %.3f (28)\n",
         (t1 - t0) / n * 1e9, (t2 - t1) / n * 1e9, (t3 - t2) / n * 1e9);
  printf("multiply-adds per ns: vdpbf16ps %.1f, vfmadd231ps %.1f\n", 32 / ((t1 - t0) / n * 1e9),
         16 / ((t3 - t2) / n * 1e9));
  return 0;
}
