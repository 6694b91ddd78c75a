//===- GemmTest.cpp - products in row-major terms, as cuBLAS computes them ===//
//
// ftc/Codegen/Gemm.h maps a product with any unit-stride layouts (the
// descriptor ftc-gpu-library-contractions emits) to cuBLAS's column-major
// call. Every combination of layouts, with batches, transposed results and
// vectors, computed through that call's documented arithmetic
// (runColumnMajor) must equal the product computed directly from the
// descriptor, bit for bit (the same sums in the same order).
//
//===----------------------------------------------------------------------===//

#include "ftc/Codegen/Gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace ftc::gemm;

namespace {

struct Layout {
  bool rowMajor; // the matrix's second dimension has unit stride
  int64_t pad;   // extra elements per leading row or column
};

/// Strides (batch, first, second) of a rows x cols matrix in `l`, batches
/// `gap` elements apart beyond the matrix.
std::array<int64_t, 3> strides(int64_t rows, int64_t cols, Layout l, int64_t gap) {
  int64_t first = l.rowMajor ? cols + l.pad : 1, second = l.rowMajor ? 1 : rows + l.pad;
  int64_t size = l.rowMajor ? rows * first : cols * second;
  return {size + gap, first, second};
}

/// C = A B (+ C) straight from the descriptor, in the order runColumnMajor
/// documents: each element from C (or 0), the depth in order, FMAs.
void direct(const int64_t *d, const float *a, const float *b, float *c) {
  for (int64_t p = 0; p < d[kBatch]; ++p)
    for (int64_t i = 0; i < d[kM]; ++i)
      for (int64_t j = 0; j < d[kN]; ++j) {
        float &out = c[p * d[kStrideCB] + i * d[kStrideCM] + j * d[kStrideCN]];
        float sum = d[kBeta] ? out : 0.0f;
        for (int64_t k = 0; k < d[kK]; ++k)
          sum = std::fma(a[p * d[kStrideAB] + i * d[kStrideAM] + k * d[kStrideAK]],
                         b[p * d[kStrideBB] + k * d[kStrideBK] + j * d[kStrideBN]], sum);
        out = sum;
      }
}

TEST(Gemm, EveryLayoutAsCublasComputesIt) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  int checked = 0;
  for (auto [m, n, k] : {std::array<int64_t, 3>{5, 7, 3}, {1, 6, 4}, {6, 1, 4}, {3, 4, 1}})
    for (int64_t batch : {1, 3})
      for (int layouts = 0; layouts < 8; ++layouts)
        for (int64_t pad : {0, 2})
          for (int beta : {0, 1}) {
            Layout la{(layouts & 1) != 0, pad}, lb{(layouts & 2) != 0, 0},
                lc{(layouts & 4) != 0, pad};
            auto sa = strides(m, k, la, 1), sb = strides(k, n, lb, 0),
                 sc = strides(m, n, lc, 2);
            int64_t desc[kFieldCount] = {kDescriptorVersion, 0, 0, batch, m, n, k,
                                         sa[0], sa[1], sa[2], sb[0], sb[1], sb[2],
                                         sc[0], sc[1], sc[2], beta};
            std::optional<ColumnMajor> g = toColumnMajor(desc);
            ASSERT_TRUE(g) << "layouts " << layouts << " m " << m << " n " << n;
            std::vector<float> a(batch * sa[0]), b(batch * sb[0]), c(batch * sc[0]);
            for (auto *v : {&a, &b, &c})
              for (float &x : *v)
                x = value(rng);
            std::vector<float> expected = c, got = c;
            direct(desc, a.data(), b.data(), expected.data());
            runColumnMajor(*g, g->swapped ? b.data() : a.data(),
                           g->swapped ? a.data() : b.data(), got.data());
            ASSERT_EQ(got, expected) << "layouts " << layouts << " m " << m << " n " << n
                                     << " k " << k << " batch " << batch << " beta "
                                     << beta;
            // cuBLAS's constraints: each leading dimension at least the
            // stored matrix's rows.
            EXPECT_GE(g->ldc, g->rows);
            EXPECT_GE(g->lda, g->transA ? g->depth : g->rows);
            EXPECT_GE(g->ldb, g->transB ? g->cols : g->depth);
            ++checked;
          }
  EXPECT_EQ(checked, 4 * 2 * 8 * 2 * 2);
}

TEST(Gemm, LayoutsCublasCannotRead) {
  // A with no unit stride (every other element of a row).
  int64_t strided[kFieldCount] = {kDescriptorVersion, 0, 0, 1, 4, 4, 4, 0, 8, 2,
                                  0, 4, 1, 0, 4, 1, 0};
  EXPECT_FALSE(toColumnMajor(strided));
  // Batches of C that overlap.
  int64_t overlap[kFieldCount] = {kDescriptorVersion, 0, 0, 2, 4, 4, 4, 16, 4, 1,
                                  16, 4, 1, 8, 4, 1, 0};
  EXPECT_FALSE(toColumnMajor(overlap));
  // Another descriptor version.
  int64_t version[kFieldCount] = {kDescriptorVersion + 1, 0, 0, 1, 4, 4, 4, 0, 4, 1,
                                  0, 4, 1, 0, 4, 1, 0};
  EXPECT_FALSE(toColumnMajor(version));
}

TEST(Gemm, SixteenBitOperandsWidenExactly) {
  // bf16 1.5 (0x3FC0) and f16 -2.5 (0xC100), a subnormal f16 (2^-24).
  uint16_t bf[2] = {0x3FC0, 0x3FC0}, hf[3] = {0xC100, 0xC100, 0x0001};
  ColumnMajor g;
  g.rows = g.cols = 1, g.depth = 2, g.lda = g.ldb = g.ldc = 1;
  g.transA = true; // A's row of 2 stored as a column
  g.operand = Elem::BF16;
  float c = 0;
  runColumnMajor(g, bf, bf, &c);
  EXPECT_EQ(c, 4.5f);
  g.operand = Elem::F16;
  runColumnMajor(g, hf, hf, &c);
  EXPECT_EQ(c, 12.5f);
  g.depth = 1;
  uint16_t one = 0x3C00; // f16 1.0
  runColumnMajor(g, &hf[2], &one, &c);
  EXPECT_EQ(c, std::ldexp(1.0f, -24));
}

/// The bf16 nearest to finite `f` (ties to the even one), found by
/// measuring: of the bf16 just below |f| (its bits truncated) and the one
/// above, the closer in double arithmetic. (Debian's libgcc has no __bf16
/// conversion to take as the reference.)
uint16_t nearestBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7fffffffu) >= 0x7f800000u)
    return static_cast<uint16_t>(bits >> 16); // inf (NaN is checked apart)
  uint16_t below = static_cast<uint16_t>(bits >> 16), above = below + 1;
  auto value = [](uint16_t h) {
    uint32_t w = static_cast<uint32_t>(h) << 16;
    float v;
    std::memcpy(&v, &w, sizeof(v));
    return static_cast<double>(v);
  };
  double x = f, dBelow = std::fabs(x - value(below));
  // Above the largest finite bf16, (2 - 2^-7) 2^127, lies inf: |f| rounds
  // to it from the halfway point 2^128 - 2^119 on (a tie goes to inf, whose
  // mantissa is the even one).
  double dAbove = (above & 0x7fff) == 0x7f80
                      ? std::fabs(x) - (std::ldexp(2.0, 127) - std::ldexp(1.0, 119))
                      : std::fabs(x - value(above));
  if ((above & 0x7fff) == 0x7f80)
    return dAbove >= 0 ? above : below;
  if (dBelow != dAbove)
    return dBelow < dAbove ? below : above;
  return (below & 1) ? above : below;
}

TEST(Gemm, SixteenBitResultsRoundToNearestEven) {
  // round16 against clang's _Float16 conversion and against nearestBf16
  // (round to nearest even both) over every exponent, with mantissas that
  // land on, beside and between halfway points, and the special values.
  std::mt19937 rng(11);
  std::vector<uint32_t> cases = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,
                                 0x7f7fffffu, 0x477fe000u, 0x477fefffu, 0x477ff000u,
                                 0x33000000u, 0x33000001u, 0x33800000u, 0x387fe000u,
                                 0x387ff000u, 0x38800000u, 0x00000001u};
  for (uint32_t exp = 0; exp < 255; ++exp)
    for (uint32_t low : {0x0000u, 0x0fffu, 0x1000u, 0x1001u, 0x3000u, 0x7fffu, 0x8000u,
                         0x8001u, 0x18000u, 0x1fffu, 0x2000u})
      for (uint32_t sign : {0u, 0x80000000u}) {
        cases.push_back(sign | exp << 23 | low);
        cases.push_back(sign | exp << 23 | (rng() & 0x7fffffu));
        cases.push_back(sign | exp << 23 | ((rng() & 0x7f0000u) | low));
      }
  int checked = 0;
  for (uint32_t bits : cases) {
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    _Float16 h = static_cast<_Float16>(f);
    uint16_t hBits, bfBits = nearestBf16(f);
    std::memcpy(&hBits, &h, 2);
    EXPECT_EQ(detail::round16(Elem::F16, f), hBits) << std::hex << "f16 of 0x" << bits;
    EXPECT_EQ(detail::round16(Elem::BF16, f), bfBits) << std::hex << "bf16 of 0x" << bits;
    ++checked;
  }
  EXPECT_GT(checked, 255 * 11 * 2 * 3);
  // NaN stays NaN in both.
  float nan = std::nanf("");
  EXPECT_EQ(detail::round16(Elem::F16, nan) & 0x7c00, 0x7c00);
  EXPECT_NE(detail::round16(Elem::F16, nan) & 0x3ff, 0);
  EXPECT_EQ(detail::round16(Elem::BF16, nan) & 0x7f80, 0x7f80);
  EXPECT_NE(detail::round16(Elem::BF16, nan) & 0x7f, 0);
}

TEST(Gemm, SixteenBitResultSummedInF32RoundedOnce) {
  // C (bf16) = A B + C: the bias read as bf16, the sum in f32, one rounding.
  // 1 + 2^-8 + 2^-8 in f32 is 1 + 2^-7: representable in bf16, where
  // rounding after each term (1 + 2^-8 ties to 1) would give 1.
  uint16_t a[2] = {0x3B80, 0x3B80}; // bf16 2^-8
  uint16_t b[2] = {0x3F80, 0x3F80}; // bf16 1
  uint16_t c = 0x3F80;              // bf16 1 (the bias)
  ColumnMajor g;
  g.rows = g.cols = 1, g.depth = 2, g.lda = g.ldb = g.ldc = 1;
  g.transA = true;
  g.operand = g.result = Elem::BF16;
  g.beta = true;
  runColumnMajor(g, a, b, &c);
  EXPECT_EQ(c, 0x3F81); // 1 + 2^-7
  // A result type other than f32 or the operands' is no product cuBLAS runs.
  int64_t mixed[kFieldCount] = {kDescriptorVersion, 1, 2, 1, 4, 4, 4, 0, 4, 1,
                                0, 4, 1, 0, 4, 1, 0};
  EXPECT_FALSE(toColumnMajor(mixed));
  mixed[kResultType] = 1;
  EXPECT_TRUE(toColumnMajor(mixed));
  mixed[kOperandType] = 0;
  EXPECT_FALSE(toColumnMajor(mixed)); // f32 operands, bf16 result
}

TEST(Gemm, BiasAddedAlongTheColumnsAsCublasEpilogueAddsIt) {
  // C (row-major, 3 x 4) = A B + bias[j]: cuBLAS computes C^T, whose rows
  // are the bias's; each sum from its bias, over the depth in order (as
  // from C's value: the same bits as the bias broadcast into C).
  int64_t m = 3, n = 4, k = 5;
  int64_t desc[kFieldCount] = {kDescriptorVersion, 0, 0, 1, m, n, k, 0, k, 1,
                               0, n, 1, 0, n, 1, 0, kBiasN};
  std::optional<ColumnMajor> g = toColumnMajor(desc);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->swapped && g->bias);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> a(m * k), b(k * n), bias(n), got(m * n, 7.0f);
  for (auto *v : {&a, &b, &bias})
    for (float &x : *v)
      x = value(rng);
  runColumnMajor(*g, b.data(), a.data(), got.data(), bias.data());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float sum = bias[j];
      for (int64_t l = 0; l < k; ++l)
        sum = std::fma(a[i * k + l], b[l * n + j], sum);
      EXPECT_EQ(got[i * n + j], sum) << i << ", " << j;
    }
  // In bf16: the bias 1, then 2^-8 and 2^-8, in f32, rounded once: 1 + 2^-7
  // (rounding after each term would give 1).
  uint16_t a16[2] = {0x3B80, 0x3B80}, b16[2] = {0x3F80, 0x3F80}, one = 0x3F80, c16 = 0;
  ColumnMajor h;
  h.rows = h.cols = 1, h.depth = 2, h.lda = h.ldb = h.ldc = 1;
  h.transA = true;
  h.operand = h.result = Elem::BF16;
  h.bias = true;
  runColumnMajor(h, a16, b16, &c16, &one);
  EXPECT_EQ(c16, 0x3F81);
  // No bias along C's rows (cuBLAS's D would have it along its columns),
  // nor over a batch, nor of another kind.
  int64_t columnMajor[kFieldCount] = {kDescriptorVersion, 0, 0, 1, m, n, k, 0, 1, m,
                                      0, 1, k, 0, 1, m, 0, kBiasN};
  EXPECT_TRUE(toColumnMajor(columnMajor) == std::nullopt);
  columnMajor[kBias] = kNoBias;
  EXPECT_TRUE(toColumnMajor(columnMajor));
  int64_t batched[kFieldCount] = {kDescriptorVersion, 0, 0, 2, m, n, k, m * k, k, 1,
                                  k * n, n, 1, m * n, n, 1, 0, kBiasN};
  EXPECT_FALSE(toColumnMajor(batched));
  batched[kBias] = kNoBias;
  EXPECT_TRUE(toColumnMajor(batched));
  desc[kBias] = 1;
  EXPECT_FALSE(toColumnMajor(desc));
}

/// GELU's tanh form and its derivative in float64, as PyTorch's
/// gelu(approximate="tanh") and its gradient compute them.
double geluTanh64(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
double geluTanhGrad64(double x) {
  double k = std::sqrt(2.0 / M_PI), t = std::tanh(k * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x);
}

TEST(Gemm, GeluEpiloguesTakeEachSumAndKeepOrReadItsInput) {
  // C (row-major, 8 x 16: cuBLAS's D is C^T, leading dimension 16) = the
  // activation of A B + bias, each sum the fused multiply-adds in order.
  int64_t m = 8, n = 16, k = 5;
  int64_t desc[kFieldCount] = {kDescriptorVersion, 0, 0, 1, m, n, k, 0, k, 1,
                               0, n, 1, 0, n, 1, 0, kBiasN,
                               static_cast<int64_t>(Activation::GeluAux)};
  std::optional<ColumnMajor> g = toColumnMajor(desc);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->activation, Activation::GeluAux);
  EXPECT_EQ(g->ldc, n);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-1.5f, 1.5f);
  std::vector<float> a(m * k), b(k * n), bias(n), dy(m * n);
  for (auto *v : {&a, &b, &bias, &dy})
    for (float &x : *v)
      x = value(rng);
  std::vector<float> sums(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float sum = bias[j];
      for (int64_t l = 0; l < k; ++l)
        sum = std::fma(a[i * k + l], b[l * n + j], sum);
      sums[i * n + j] = sum;
    }
  // GELU_AUX: aux holds each sum, C its GELU (f32 arithmetic: within a few
  // ulps of float64's).
  std::vector<float> out(m * n), aux(m * n, 7.0f);
  runColumnMajor(*g, b.data(), a.data(), out.data(), bias.data(), aux.data());
  for (int64_t e = 0; e < m * n; ++e) {
    EXPECT_EQ(aux[e], sums[e]) << e;
    EXPECT_NEAR(out[e], geluTanh64(sums[e]), 4e-7 * (1.0 + std::fabs(sums[e]))) << e;
  }
  // GELU without aux: the same C.
  std::vector<float> plain(m * n);
  desc[kActivation] = static_cast<int64_t>(Activation::Gelu);
  runColumnMajor(*toColumnMajor(desc), b.data(), a.data(), plain.data(), bias.data());
  EXPECT_EQ(plain, out);
  // DGELU (no bias): C = (A B) gelu'(aux), aux read, not written.
  desc[kBias] = kNoBias;
  desc[kActivation] = static_cast<int64_t>(Activation::GeluGrad);
  std::optional<ColumnMajor> grad = toColumnMajor(desc);
  ASSERT_TRUE(grad);
  std::vector<float> x = dy, dx(m * n);
  runColumnMajor(*grad, b.data(), a.data(), dx.data(), nullptr, x.data());
  EXPECT_EQ(x, dy);
  for (int64_t e = 0; e < m * n; ++e) {
    double product = sums[e] - bias[e % n];
    EXPECT_NEAR(dx[e], product * geluTanhGrad64(x[e]), 1e-6 * (1.0 + std::fabs(product)))
        << e;
  }
  // In bf16 the sum is rounded once, after the activation: aux and C both
  // of C's type.
  uint16_t a16[2] = {0x3F80, 0x3F80}, b16[2] = {0x3F80, 0x3F80}, c16 = 0, aux16 = 0;
  ColumnMajor h;
  h.rows = h.cols = 1, h.depth = 2, h.lda = h.ldb = h.ldc = 1;
  h.transA = true;
  h.operand = h.result = Elem::BF16;
  h.activation = Activation::GeluAux;
  runColumnMajor(h, a16, b16, &c16, nullptr, &aux16);
  EXPECT_EQ(aux16, 0x4000); // 2
  EXPECT_EQ(c16, 0x3FFA);   // gelu(2) = 1.95460 -> 1.953125
  // Not in a batch; no gradient with a bias; the aux matrix's leading
  // dimension (C's) a multiple of 8.
  desc[kBias] = kBiasN;
  EXPECT_FALSE(toColumnMajor(desc));
  desc[kBias] = kNoBias;
  desc[kBatch] = 2;
  desc[kStrideAB] = m * k, desc[kStrideBB] = k * n, desc[kStrideCB] = m * n;
  EXPECT_FALSE(toColumnMajor(desc));
  desc[kActivation] = static_cast<int64_t>(Activation::None);
  EXPECT_TRUE(toColumnMajor(desc));
  int64_t odd[kFieldCount] = {kDescriptorVersion, 0, 0, 1, m, 12, k, 0, k, 1,
                              0, 12, 1, 0, 12, 1, 0, kNoBias,
                              static_cast<int64_t>(Activation::Gelu)};
  EXPECT_TRUE(toColumnMajor(odd)); // no aux matrix: any leading dimension
  odd[kActivation] = static_cast<int64_t>(Activation::GeluAux);
  EXPECT_FALSE(toColumnMajor(odd));
  odd[kActivation] = 4;
  EXPECT_FALSE(toColumnMajor(odd));
}

} // namespace

namespace {
/// runColumnMajor's arithmetic one element at a time, as it documents it:
/// the reference for its panels.
void scalarColumnMajor(const ColumnMajor &g, const void *a, const void *b, void *c,
                       const void *bias) {
  for (int64_t p = 0; p < g.batch; ++p)
    for (int64_t j = 0; j < g.cols; ++j)
      for (int64_t i = 0; i < g.rows; ++i) {
        int64_t at = p * g.strideC + i + j * g.ldc;
        float sum = g.beta ? detail::load(g.result, c, at) : 0.0f;
        if (bias)
          sum += detail::load(g.result, bias, i);
        for (int64_t l = 0; l < g.depth; ++l) {
          int64_t ia = g.transA ? l + i * g.lda : i + l * g.lda;
          int64_t ib = g.transB ? j + l * g.ldb : l + j * g.ldb;
          sum = std::fma(detail::load(g.operand, a, p * g.strideA + ia),
                         detail::load(g.operand, b, p * g.strideB + ib), sum);
        }
        detail::store(g.result, c, at, sum);
      }
}
} // namespace

TEST(Gemm, PanelsSumEachElementAsOneElementAtATime) {
  // Rows across panels (kPanelRows and a partial one), 16-bit operands and
  // results, transposes, batches, beta and a bias: the same bits as the
  // element-by-element sums, on this CPU's vector FMAs and on the plain
  // path (detail::panelSums, which the runtime takes without FMA).
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  int checked = 0;
  for (Elem operand : {Elem::F32, Elem::BF16, Elem::F16})
    for (Elem result : {Elem::F32, operand})
      for (bool transA : {false, true})
        for (bool transB : {false, true}) {
          ColumnMajor g;
          g.rows = detail::kPanelRows + 7, g.cols = 5, g.depth = 37, g.batch = 2;
          g.transA = transA, g.transB = transB;
          g.lda = (transA ? g.depth : g.rows) + 3;
          g.ldb = (transB ? g.cols : g.depth) + 1;
          g.ldc = g.rows + 2;
          g.strideA = g.lda * (transA ? g.rows : g.depth);
          g.strideB = g.ldb * (transB ? g.depth : g.cols);
          g.strideC = g.ldc * g.cols;
          g.operand = operand, g.result = result;
          g.beta = result == Elem::F32;
          g.bias = true;
          auto fill = [&](Elem e, int64_t n) {
            std::vector<uint8_t> bytes(static_cast<size_t>(n * elemBytes(e)));
            for (int64_t x = 0; x < n; ++x)
              detail::store(e, bytes.data(), x, value(rng));
            return bytes;
          };
          std::vector<uint8_t> a = fill(operand, g.batch * g.strideA),
                               b = fill(operand, g.batch * g.strideB),
                               c = fill(result, g.batch * g.strideC), bias = fill(result, g.rows);
          std::vector<uint8_t> expected = c, got = c;
          scalarColumnMajor(g, a.data(), b.data(), expected.data(), bias.data());
          runColumnMajor(g, a.data(), b.data(), got.data(), bias.data());
          ASSERT_EQ(got, expected) << "operand " << static_cast<int>(operand) << " result "
                                   << static_cast<int>(result) << " transA " << transA
                                   << " transB " << transB;
          ++checked;
        }
  EXPECT_EQ(checked, 3 * 2 * 2 * 2);
  // The plain path against the vector one, on one panel.
  std::vector<float> panel(37 * detail::kPanelRows), column(37);
  for (float &x : panel)
    x = value(rng);
  for (float &x : column)
    x = value(rng);
  std::vector<float> plain(detail::kPanelRows), best(detail::kPanelRows);
  for (int64_t i = 0; i < detail::kPanelRows; ++i)
    plain[i] = best[i] = value(rng);
  detail::panelSums(plain.data(), panel.data(), column.data(), detail::kPanelRows, 37);
  detail::panelSumsBest(best.data(), panel.data(), column.data(), detail::kPanelRows, 37);
  EXPECT_EQ(plain, best);
}
