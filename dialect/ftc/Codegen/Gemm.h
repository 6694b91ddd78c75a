//===- Gemm.h - matrix products handed to a BLAS library -------*- C++ -*-===//
//
// With --target=cuda, each matrix product of a step (ftc-gpu-library-
// contractions) is a call `ftcrt_gemm(desc, a, b, c, bias)` that the runtime in
// step.so runs with cuBLASLt. What the compiler and the runtime share:
//
//   - the descriptor, an array of int64 the compiler emits once per product
//     (`GemmField` indexes it): the product in row-major terms, each operand
//     an element stride per dimension (any layout the step's buffers and
//     views have);
//   - `toColumnMajor`, which says how cuBLAS (column-major, one unit
//     stride per matrix) computes that product, or that it cannot: the
//     compiler asks before it rewrites a product (others stay kernels), the
//     runtime to set up the call;
//   - `runColumnMajor`, that call's arithmetic as cuBLASLt documents it, on
//     the CPU: what --cuda-emulate runs for a product and the tests' stand-in
//     library computes, so that the mapping is checked on any machine.
//
// Plain C++ (no LLVM): the runtime includes it.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_CODEGEN_GEMM_H
#define FTC_CODEGEN_GEMM_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

namespace ftc::gemm {

/// `void ftcrt_gemm(const int64_t *desc, uintptr_t a, uintptr_t b,
/// uintptr_t c, uintptr_t bias, uintptr_t aux)`: c = a x b (+ c) (+ bias),
/// then the descriptor's activation (kActivation), as `desc` says, on the
/// stream of the state whose entry point runs (on the CPU where none does:
/// --cuda-emulate); `bias` is 0 for a product without one, `aux` for one
/// whose activation has no second matrix.
inline constexpr const char *kGemmSymbol = "ftcrt_gemm";
/// `const int32_t ftcrt_gemm_count[1]`: how many products call it (the
/// runtime loads cuBLASLt only for a step that has some).
inline constexpr const char *kGemmCountSymbol = "ftcrt_gemm_count";

/// Element types. The sums are f32; the result is f32 or the operands'
/// 16-bit type (each sum rounded once), as cuBLASLt's CUBLAS_COMPUTE_32F
/// takes them.
enum class Elem : int64_t { F32 = 0, BF16 = 1, F16 = 2 };

inline int64_t elemBytes(Elem e) { return e == Elem::F32 ? 4 : 2; }

/// The descriptor's fields. C[b, i, j] = (beta ? C[b, i, j] : 0) +
/// sum_k A[b, i, k] B[b, k, j] (+ bias[j] with kBias = kBiasN) for b <
/// batch, i < m, j < n, k < k; each operand's element (b, x, y) at b *
/// stride_b + x * stride_x + y * stride_y elements from its pointer; the
/// bias a contiguous vector of C's type.
enum GemmField : int {
  kVersion,
  kOperandType, // Elem of A and B
  kResultType,  // Elem of C
  kBatch,
  kM,
  kN,
  kK,
  kStrideAB,
  kStrideAM,
  kStrideAK,
  kStrideBB,
  kStrideBK,
  kStrideBN,
  kStrideCB,
  kStrideCM,
  kStrideCN,
  kBeta,       // 0 or 1
  kBias,       // kNoBias or kBiasN
  kActivation, // an Activation
  kFieldCount
};
inline constexpr int64_t kDescriptorVersion = 3;
inline constexpr int64_t kNoBias = 0;
/// A bias per column j of C (a linear layer's, per output feature), added
/// to each sum in f32 before it is stored: cuBLASLt's bias epilogue.
inline constexpr int64_t kBiasN = 2;

/// What is done to each sum s (f32, after C and the bias) before it is
/// stored in C: cuBLASLt's GELU epilogues, whose GELU is the tanh form,
/// gelu(s) = s (1 + tanh(sqrt(2 / pi) (s + 0.044715 s^3))) / 2. `aux` is a
/// matrix of C's type and layout (the same strides: cuBLASLt's
/// EPILOGUE_AUX_LD is C's leading dimension).
enum class Activation : int64_t {
  None = 0,
  /// C = gelu(s) (CUBLASLT_EPILOGUE_GELU).
  Gelu = 1,
  /// C = gelu(s), and aux = s, the activation's input, which its gradient
  /// reads (CUBLASLT_EPILOGUE_GELU_AUX).
  GeluAux = 2,
  /// C = s gelu'(aux): the gradient through the GELU whose input aux is
  /// (CUBLASLT_EPILOGUE_DGELU).
  GeluGrad = 3,
};

/// Whether the activation has an aux matrix (GELU_AUX writes it, DGELU
/// reads it).
inline bool hasAux(Activation a) {
  return a == Activation::GeluAux || a == Activation::GeluGrad;
}

/// What cuBLAS is asked: D = op(A) op(B) (+ C), column-major, where op(A)
/// is rows x depth, op(B) depth x cols and D (in place of C) rows x cols;
/// each matrix stored with its leading dimension, `batch` of them at the
/// given strides (in elements).
struct ColumnMajor {
  Elem operand = Elem::F32, result = Elem::F32;
  bool transA = false, transB = false;
  int64_t rows = 0, cols = 0, depth = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t batch = 1, strideA = 0, strideB = 0, strideC = 0;
  bool beta = false;
  /// A bias per row of D (CUBLASLT_EPILOGUE_BIAS), of D's type.
  bool bias = false;
  /// The activation of each sum; an aux matrix has D's layout (ldc).
  Activation activation = Activation::None;
  /// Whether A and B are the request's B and A (the request was transposed
  /// to make C's rows the unit-stride dimension).
  bool swapped = false;
};

namespace detail {
/// One operand as column-major op(X) of `rows` x `cols`, given the element
/// strides of its rows and columns: (transposed, leading dimension), or
/// nothing where neither dimension has unit stride. A dimension of size 1
/// takes any stride.
inline std::optional<std::pair<bool, int64_t>> operand(int64_t rows, int64_t cols,
                                                       int64_t rowStride, int64_t colStride) {
  if (rows == 1)
    rowStride = 1;
  if (cols == 1)
    colStride = rows;
  if (rowStride == 1 && colStride >= rows)
    return std::make_pair(false, colStride < 1 ? 1 : colStride);
  // Stored transposed: cols x rows, column-major.
  if (cols == 1)
    colStride = 1;
  if (colStride == 1 && rowStride >= cols)
    return std::make_pair(true, rowStride < 1 ? 1 : rowStride);
  return std::nullopt;
}
} // namespace detail

/// How cuBLAS computes the product `desc` describes, or nothing where it
/// cannot (no unit stride in an operand, a batch stride that overlaps).
inline std::optional<ColumnMajor> toColumnMajor(const int64_t *desc) {
  if (desc[kVersion] != kDescriptorVersion)
    return std::nullopt;
  int64_t m = desc[kM], n = desc[kN], k = desc[kK];
  int64_t am = desc[kStrideAM], ak = desc[kStrideAK], bk = desc[kStrideBK],
          bn = desc[kStrideBN], cm = desc[kStrideCM], cn = desc[kStrideCN];
  int64_t ab = desc[kStrideAB], bb = desc[kStrideBB], cb = desc[kStrideCB];
  if (m < 1 || n < 1 || k < 1 || desc[kBatch] < 1 || desc[kBatch] > INT32_MAX)
    return std::nullopt;
  // f32 operands give f32; 16-bit ones f32 or their own type.
  int64_t operandType = desc[kOperandType], resultType = desc[kResultType];
  if (operandType < 0 || operandType > 2 ||
      (resultType != static_cast<int64_t>(Elem::F32) && resultType != operandType))
    return std::nullopt;
  // A bias: along C's columns (each row of cuBLAS's D once C's rows are
  // made its columns, below), in one product of a batch.
  if (desc[kBias] != kNoBias && (desc[kBias] != kBiasN || desc[kBatch] != 1))
    return std::nullopt;
  // An activation: in one product (cuBLASLt's aux matrix has a batch
  // stride of its own, which no product here needs); its gradient with no
  // bias (cuBLASLt has none to add there).
  int64_t activation = desc[kActivation];
  if (activation < 0 || activation > static_cast<int64_t>(Activation::GeluGrad) ||
      (activation != 0 && desc[kBatch] != 1) ||
      (activation == static_cast<int64_t>(Activation::GeluGrad) && desc[kBias] != kNoBias))
    return std::nullopt;
  ColumnMajor g;
  g.activation = static_cast<Activation>(activation);
  g.operand = static_cast<Elem>(operandType);
  g.result = static_cast<Elem>(resultType);
  g.batch = desc[kBatch];
  g.beta = desc[kBeta] != 0;
  g.bias = desc[kBias] == kBiasN;
  // C must be column-major (unit stride down a column). If its rows are
  // the unit-stride dimension, compute the transpose C^T = B^T A^T instead.
  std::optional<std::pair<bool, int64_t>> c = detail::operand(m, n, cm, cn);
  if (!c || c->first) {
    g.swapped = true;
    std::swap(m, n);
    std::swap(cm, cn);
    // A' = B^T (m' x k): its rows are B's columns; B' = A^T (k x n').
    int64_t a1 = bn, a2 = bk, b1 = ak, b2 = am;
    am = a1, ak = a2, bk = b1, bn = b2;
    std::swap(ab, bb);
    c = detail::operand(m, n, cm, cn);
    if (!c || c->first)
      return std::nullopt;
  }
  // cuBLAS's bias runs along D's rows: C's columns only where C was
  // transposed.
  if (g.bias && !g.swapped)
    return std::nullopt;
  std::optional<std::pair<bool, int64_t>> a = detail::operand(m, k, am, ak);
  std::optional<std::pair<bool, int64_t>> b = detail::operand(k, n, bk, bn);
  if (!a || !b)
    return std::nullopt;
  g.rows = m, g.cols = n, g.depth = k;
  g.transA = a->first, g.lda = a->second;
  g.transB = b->first, g.ldb = b->second;
  g.ldc = c->second;
  // cuBLASLt's GELU input matrix: a leading dimension divisible by 8.
  if (hasAux(g.activation) && g.ldc % 8 != 0)
    return std::nullopt;
  if (g.batch > 1) {
    // The matrices of a batch must not overlap (C's above all: cuBLAS
    // writes them in any order).
    if (cb < g.ldc * (n - 1) + m || ab < 0 || bb < 0)
      return std::nullopt;
  }
  g.strideA = g.batch > 1 ? ab : 0;
  g.strideB = g.batch > 1 ? bb : 0;
  g.strideC = g.batch > 1 ? cb : 0;
  return g;
}

namespace detail {
inline float load(Elem e, const void *base, int64_t index) {
  if (e == Elem::F32)
    return static_cast<const float *>(base)[index];
  uint16_t h = static_cast<const uint16_t *>(base)[index];
  uint32_t bits;
  if (e == Elem::BF16) {
    bits = static_cast<uint32_t>(h) << 16;
  } else { // IEEE half to float, exactly
    uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16, exp = (h >> 10) & 0x1f,
             man = h & 0x3ff;
    if (exp == 0x1f) {
      bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
      bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
      bits = sign;
    } else { // subnormal: normalize
      int shift = 0;
      while (!(man & 0x400)) {
        man <<= 1;
        ++shift;
      }
      bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | ((man & 0x3ff) << 13);
    }
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
} // namespace detail

namespace detail {
/// `f` rounded to the nearest value of 16-bit type `e` (ties to even), as
/// its bits.
inline uint16_t round16(Elem e, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  uint32_t sign = (bits >> 16) & 0x8000, abs = bits & 0x7fffffffu;
  if (e == Elem::BF16) {
    if (abs > 0x7f800000u) // NaN stays a (quiet) NaN
      return static_cast<uint16_t>((bits >> 16) | 0x40);
    return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1)) >> 16);
  }
  if (abs >= 0x7f800000u) // inf, NaN
    return static_cast<uint16_t>(sign | (abs > 0x7f800000u ? 0x7e00 : 0x7c00));
  if (abs >= 0x477ff000u) // 65520 and above round to inf
    return static_cast<uint16_t>(sign | 0x7c00);
  auto nearest = [](uint32_t kept, uint32_t dropped, uint32_t half) {
    return kept + (dropped > half || (dropped == half && (kept & 1)));
  };
  if (abs < 0x38800000u) { // below 2^-14: a subnormal half (or zero)
    if (abs <= 0x33000000u) // at most 2^-25: ties to 0
      return static_cast<uint16_t>(sign);
    uint32_t man = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - (abs >> 23); // 14 ... 24: units of 2^-24
    return static_cast<uint16_t>(
        sign | nearest(man >> shift, man & ((1u << shift) - 1), 1u << (shift - 1)));
  }
  // A normal half: rebias the exponent, keep 10 bits of the mantissa (a
  // carry out of it steps the exponent, as it should).
  return static_cast<uint16_t>(
      sign | nearest((abs >> 13) - (112u << 10), abs & 0x1fffu, 0x1000u));
}

inline void store(Elem e, void *base, int64_t index, float value) {
  if (e == Elem::F32)
    static_cast<float *>(base)[index] = value;
  else
    static_cast<uint16_t *>(base)[index] = round16(e, value);
}
} // namespace detail

namespace detail {
/// Rows of C computed together by runColumnMajor: a panel of A's
/// elements (as f32, depth by kPanelRows) at a time.
inline constexpr int64_t kPanelRows = 64;

/// acc[i] = fma(panel[l * kPanelRows + i], column[l], acc[i]) for each l
/// < depth in order, i < rows: each sum the same sequence of fused
/// multiply-adds whatever the instructions (vectors over i).
#define FTC_GEMM_PANEL_BODY                                                    \
  for (int64_t l = 0; l < depth; ++l) {                                        \
    const float *row = panel + l * kPanelRows;                                 \
    float x = column[l];                                                       \
    for (int64_t i = 0; i < rows; ++i)                                         \
      acc[i] = std::fma(row[i], x, acc[i]);                                    \
  }
inline void panelSums(float *acc, const float *panel, const float *column, int64_t rows,
                      int64_t depth) {
  FTC_GEMM_PANEL_BODY
}
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
/// The same on x86-64 CPUs with FMA instructions (vectorized; the plain
/// version calls fmaf per element).
__attribute__((target("avx2,fma"))) inline void
panelSumsFma(float *acc, const float *panel, const float *column, int64_t rows, int64_t depth) {
  FTC_GEMM_PANEL_BODY
}
#endif
#undef FTC_GEMM_PANEL_BODY

inline void panelSumsBest(float *acc, const float *panel, const float *column, int64_t rows,
                          int64_t depth) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
  static const bool fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (fma)
    return panelSumsFma(acc, panel, column, rows, depth);
#endif
  panelSums(acc, panel, column, rows, depth);
}
} // namespace detail

namespace detail {
/// GELU's tanh form and its derivative, in f32 (each product and sum
/// rounded as written: no contraction into fused multiply-adds, so that
/// every build computes the same bits).
inline constexpr float kGeluScale = 0.7978845608028654f; // sqrt(2 / pi)
inline constexpr float kGeluCube = 0.044715f;
#if defined(__clang__)
#define FTC_NO_CONTRACTION _Pragma("clang fp contract(off)")
#else
#define FTC_NO_CONTRACTION
#endif
inline float gelu(float x) {
  FTC_NO_CONTRACTION
  float t = std::tanh(kGeluScale * (x + kGeluCube * (x * x * x)));
  return 0.5f * x * (1.0f + t);
}
/// d gelu(x) / dx = (1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2.
inline float geluGrad(float x) {
  FTC_NO_CONTRACTION
  float x2 = x * x;
  float t = std::tanh(kGeluScale * (x + kGeluCube * (x2 * x)));
  float du = kGeluScale * (1.0f + 3.0f * kGeluCube * x2);
  return 0.5f * (1.0f + t) + 0.5f * x * ((1.0f - t * t) * du);
}
#undef FTC_NO_CONTRACTION
} // namespace detail

/// `g` computed on the CPU as cuBLASLt documents it, each element summed in
/// f32 over the depth in order with fused multiply-adds (from C's value
/// with beta, else from 0; plus its row's bias, of C's type read at
/// `bias`, where there is one), then stored in C's type (a 16-bit result
/// rounded to nearest, ties to even). cuBLASLt documents no order for
/// the f32 additions; starting from C and the bias is the CPU step's order
/// (its linear starts each sum from the bias), so that an emulated step
/// is the CPU's bit for bit where the products are the only difference,
/// and a bias added by the epilogue gives what the same bias in C gave.
/// The activation takes each f32 sum (and, for the gradient, aux's element
/// as f32) before it is rounded to C's type; aux's elements are rounded
/// to C's type as C's are. (Rows of A are read as f32 a panel at a time
/// and summed as vectors, each element's sum unchanged: an emulated step's
/// products are most of its time.)
inline void runColumnMajor(const ColumnMajor &g, const void *a, const void *b, void *c,
                           const void *bias = nullptr, void *aux = nullptr) {
  using detail::kPanelRows;
  std::unique_ptr<float[]> panel(new float[static_cast<size_t>(g.depth * kPanelRows)]);
  std::unique_ptr<float[]> column(new float[static_cast<size_t>(g.depth)]);
  float acc[kPanelRows];
  for (int64_t p = 0; p < g.batch; ++p)
    for (int64_t i0 = 0; i0 < g.rows; i0 += kPanelRows) {
      int64_t rows = std::min(kPanelRows, g.rows - i0);
      for (int64_t l = 0; l < g.depth; ++l)
        for (int64_t i = 0; i < rows; ++i) {
          int64_t ia = g.transA ? l + (i0 + i) * g.lda : i0 + i + l * g.lda;
          panel[l * kPanelRows + i] = detail::load(g.operand, a, p * g.strideA + ia);
        }
      for (int64_t j = 0; j < g.cols; ++j) {
        for (int64_t l = 0; l < g.depth; ++l) {
          int64_t ib = g.transB ? j + l * g.ldb : l + j * g.ldb;
          column[l] = detail::load(g.operand, b, p * g.strideB + ib);
        }
        for (int64_t i = 0; i < rows; ++i) {
          float sum = g.beta ? detail::load(g.result, c, p * g.strideC + i0 + i + j * g.ldc)
                             : 0.0f;
          if (g.bias)
            sum += detail::load(g.result, bias, i0 + i);
          acc[i] = sum;
        }
        detail::panelSumsBest(acc, panel.get(), column.get(), rows, g.depth);
        for (int64_t i = 0; i < rows; ++i) {
          int64_t at = p * g.strideC + i0 + i + j * g.ldc;
          float value = acc[i];
          switch (g.activation) {
          case Activation::None:
            break;
          case Activation::GeluAux:
            detail::store(g.result, aux, at, value);
            [[fallthrough]];
          case Activation::Gelu:
            value = detail::gelu(value);
            break;
          case Activation::GeluGrad:
            value = value * detail::geluGrad(detail::load(g.result, aux, at));
            break;
          }
          detail::store(g.result, c, at, value);
        }
      }
    }
}

} // namespace ftc::gemm

#endif // FTC_CODEGEN_GEMM_H
