// The per-step GEMMs of the recurrence, C[M, N] (+)= A[M, K] op(W) with M = B (64) rows, against
// a weight packed once per training step (docs/engine.md "Where the time goes"). A BLAS call
// repacks its B operand every time: at M = 64 that packing, a full pass over the 32 MB of
// [U; W_z], costs as much as the arithmetic, 13 times per step and pass. Here the weight is
// packed once into panels of 32 columns, k-major (each k's 32 values adjacent), and an
// AVX-512 micro-kernel streams a panel while 8 rows of A are broadcast into 16 accumulators.
// Each output is one thread's sequential sum over k, so results do not depend on the thread
// count. AVX2 CPUs run a 6-row kernel over half panels with the same sums; without either,
// the same loops run as plain C++ (vectorised by the compiler).
#include <omp.h>

#include <algorithm>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "sat.h"

namespace sat {

constexpr int PANEL = 32;

void pack_weights(bool trans, int K, int N, const float* W, int ldw, PackedMatrix& out) {
  out.K = K;
  out.N = N;
  out.panels = (N + PANEL - 1) / PANEL;
  const size_t need = (size_t)out.panels * K * PANEL;
  if (need > out.cap) {
    free_floats(out.data);
    out.data = nullptr;
    out.cap = 0;
    out.data = alloc_floats(need);
    out.cap = need;
  }
  float* dst = out.data;
  constexpr int KB = 16;  // rows of k per block: the block's reads and writes stay in L1/L2
  if (!trans) {
    // W [K, N]: row k of panel p is W[k, 32p .. 32p+32). Groups of 8 panels read 1 KB of each row.
    const int groups = (out.panels + 7) / 8;
    #pragma omp parallel for schedule(static)
    for (int gi = 0; gi < groups; gi++) {
      const int p0 = gi * 8, p1 = std::min(out.panels, p0 + 8);
      for (int k0 = 0; k0 < K; k0 += KB) {
        const int k1 = std::min(K, k0 + KB);
        for (int p = p0; p < p1; p++) {
          const int j0 = p * PANEL, cols = std::min(PANEL, N - j0);
          float* panel = dst + (size_t)p * K * PANEL;
          for (int k = k0; k < k1; k++) {
            float* o = panel + (size_t)k * PANEL;
            const float* w = W + (size_t)k * ldw + j0;
            for (int j = 0; j < cols; j++) o[j] = w[j];
            for (int j = cols; j < PANEL; j++) o[j] = 0.0f;
          }
        }
      }
    }
  } else {
    // W [N, K] used as Wᵀ: row k of panel p is W[32p .. 32p+32, k], transposed in 32 x 16 tiles.
    #pragma omp parallel for schedule(static)
    for (int p = 0; p < out.panels; p++) {
      const int j0 = p * PANEL, cols = std::min(PANEL, N - j0);
      float* panel = dst + (size_t)p * K * PANEL;
      for (int k0 = 0; k0 < K; k0 += KB) {
        const int k1 = std::min(K, k0 + KB);
        for (int j = 0; j < cols; j++) {
          const float* w = W + (size_t)(j0 + j) * ldw;
          for (int k = k0; k < k1; k++) panel[(size_t)k * PANEL + j] = w[k];
        }
        for (int j = cols; j < PANEL; j++)
          for (int k = k0; k < k1; k++) panel[(size_t)k * PANEL + j] = 0.0f;
      }
    }
  }
}

void free_packed(PackedMatrix& m) {
  free_floats(m.data);
  m = PackedMatrix{};
}

#if defined(__AVX512F__)
// ROWS rows of C, one 32-column panel. m0/m1 mask the panel's valid columns.
template <int ROWS>
static inline void micro_kernel(int K, const float* A, size_t lda, const float* Wp, float* C, size_t ldc, bool accumulate, __mmask16 m0,
                                __mmask16 m1, const char* pf, const char* pfEnd) {
  __m512 c0[ROWS], c1[ROWS];
  for (int r = 0; r < ROWS; r++) {
    c0[r] = _mm512_setzero_ps();
    c1[r] = _mm512_setzero_ps();
  }
  for (int k = 0; k < K; k++) {
    if ((k & 3) == 0 && pf < pfEnd) {
      _mm_prefetch(pf, _MM_HINT_T1);
      pf += 64;
    }
    const __m512 w0 = _mm512_load_ps(Wp + (size_t)k * PANEL);
    const __m512 w1 = _mm512_load_ps(Wp + (size_t)k * PANEL + 16);
    for (int r = 0; r < ROWS; r++) {
      const __m512 a = _mm512_set1_ps(A[(size_t)r * lda + k]);
      c0[r] = _mm512_fmadd_ps(a, w0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, w1, c1[r]);
    }
  }
  for (int r = 0; r < ROWS; r++) {
    float* c = C + (size_t)r * ldc;
    if (accumulate) {
      c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, c));
      c1[r] = _mm512_add_ps(c1[r], _mm512_maskz_loadu_ps(m1, c + 16));
    }
    _mm512_mask_storeu_ps(c, m0, c0[r]);
    _mm512_mask_storeu_ps(c + 16, m1, c1[r]);
  }
}

static void panel_rows(int M, int K, const float* A, size_t lda, const float* Wp, float* C, size_t ldc, bool accumulate, int cols,
                       const float* next) {
  const __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF : cols <= 16 ? (__mmask16)0 : (__mmask16)((1u << (cols - 16)) - 1);
  // Each block of 8 rows prefetches its share of the next panel into L2, so that panel arrives
  // while this one computes instead of stalling the next panel's first block on memory.
  const int blocks = (M + 7) / 8;
  const size_t panelBytes = (size_t)K * PANEL * sizeof(float);
  const size_t share = next ? (panelBytes / blocks + 63) / 64 * 64 : 0;
  const char* nextBytes = reinterpret_cast<const char*>(next);
  auto pfRange = [&](int block, const char*& b, const char*& e) {
    if (!next) {
      b = e = nullptr;
      return;
    }
    const size_t lo = std::min(panelBytes, share * block), hi = std::min(panelBytes, lo + share);
    b = nextBytes + lo;
    e = nextBytes + hi;
  };
  const char *pb, *pe;
  int i = 0;
  for (; i + 8 <= M; i += 8) {
    pfRange(i / 8, pb, pe);
    micro_kernel<8>(K, A + (size_t)i * lda, lda, Wp, C + (size_t)i * ldc, ldc, accumulate, m0, m1, pb, pe);
  }
  const float* Ai = A + (size_t)i * lda;
  float* Ci = C + (size_t)i * ldc;
  pfRange(i / 8, pb, pe);
  switch (M - i) {
    case 7: micro_kernel<7>(K, Ai, lda, Wp, Ci, ldc, accumulate, m0, m1, pb, pe); break;
    case 6: micro_kernel<6>(K, Ai, lda, Wp, Ci, ldc, accumulate, m0, m1, pb, pe); break;
    case 5: micro_kernel<5>(K, Ai, lda, Wp, Ci, ldc, accumulate, m0, m1, pb, pe); break;
    case 4: micro_kernel<4>(K, Ai, lda, Wp, Ci, ldc, accumulate, m0, m1, pb, pe); break;
    case 3: micro_kernel<3>(K, Ai, lda, Wp, Ci, ldc, accumulate, m0, m1, pb, pe); break;
    case 2: micro_kernel<2>(K, Ai, lda, Wp, Ci, ldc, accumulate, m0, m1, pb, pe); break;
    case 1: micro_kernel<1>(K, Ai, lda, Wp, Ci, ldc, accumulate, m0, m1, pb, pe); break;
    default: break;
  }
}
#elif defined(__AVX2__) && defined(__FMA__)
// AVX2 has 16 vector registers: a panel is computed in two halves of 16 columns, 6 rows at a
// time (12 accumulators, 2 weight vectors, 1 broadcast). k is walked in blocks of KC, so that
// a half panel's block (KC cache lines) stays in L1 while every row group of A passes over it;
// the running sums wait in a per-thread buffer between blocks, and a float32 stored and loaded
// back is the same float32, so each output is still the one sequential fma chain over k of the
// AVX-512 kernel: both give the same bits.
constexpr int KC = 256;

template <int ROWS>
static inline void micro_kernel(int kc, const float* A, size_t lda, const float* Wp, float* S, bool first, const char* pf,
                                const char* pfEnd) {
  __m256 c0[ROWS], c1[ROWS];
  // Every loop over the rows unrolled, so that the accumulators stay in registers (a loop
  // left rolled makes GCC keep the arrays on the stack and store them at every k).
  #pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++) {
    c0[r] = first ? _mm256_setzero_ps() : _mm256_load_ps(S + r * PANEL);
    c1[r] = first ? _mm256_setzero_ps() : _mm256_load_ps(S + r * PANEL + 8);
  }
  for (int k = 0; k < kc; k++) {
    if ((k & 7) == 0 && pf < pfEnd) {
      _mm_prefetch(pf, _MM_HINT_T1);
      pf += 64;
    }
    const __m256 w0 = _mm256_load_ps(Wp + (size_t)k * PANEL);
    const __m256 w1 = _mm256_load_ps(Wp + (size_t)k * PANEL + 8);
    #pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++) {
      const __m256 a = _mm256_broadcast_ss(A + (size_t)r * lda + k);
      c0[r] = _mm256_fmadd_ps(a, w0, c0[r]);
      c1[r] = _mm256_fmadd_ps(a, w1, c1[r]);
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++) {
    _mm256_store_ps(S + r * PANEL, c0[r]);
    _mm256_store_ps(S + r * PANEL + 8, c1[r]);
  }
}

static void panel_rows(int M, int K, const float* A, size_t lda, const float* Wp, float* C, size_t ldc, bool accumulate, int cols,
                       const float* next) {
  constexpr int R = 6;
  // The running sums of this panel's M rows (each thread works on one panel at a time).
  thread_local FloatBuffer sums;
  if (sums.size() < (size_t)M * PANEL) sums = FloatBuffer((size_t)M * PANEL);
  float* S = sums.data();
  // As in the AVX-512 kernel: each call prefetches its share of the next panel into L2.
  const int halves = cols > 16 ? 2 : 1;
  const int calls = ((K + KC - 1) / KC) * halves * ((M + R - 1) / R);
  const size_t panelBytes = (size_t)K * PANEL * sizeof(float);
  const size_t share = next ? (panelBytes / calls + 63) / 64 * 64 : 0;
  const char* nextBytes = reinterpret_cast<const char*>(next);
  int call = 0;
  for (int k0 = 0; k0 < K; k0 += KC) {
    const int kc = std::min(KC, K - k0);
    for (int h = 0; h < halves; h++) {
      const float* Wh = Wp + (size_t)k0 * PANEL + h * 16;
      for (int i = 0; i < M; i += R, call++) {
        const size_t lo = std::min(panelBytes, share * call), hi = std::min(panelBytes, lo + share);
        const char* pb = next ? nextBytes + lo : nullptr;
        const char* pe = next ? nextBytes + hi : nullptr;
        const float* Ai = A + (size_t)i * lda + k0;
        float* Si = S + (size_t)i * PANEL + h * 16;
        switch (std::min(R, M - i)) {
          case 6: micro_kernel<6>(kc, Ai, lda, Wh, Si, k0 == 0, pb, pe); break;
          case 5: micro_kernel<5>(kc, Ai, lda, Wh, Si, k0 == 0, pb, pe); break;
          case 4: micro_kernel<4>(kc, Ai, lda, Wh, Si, k0 == 0, pb, pe); break;
          case 3: micro_kernel<3>(kc, Ai, lda, Wh, Si, k0 == 0, pb, pe); break;
          case 2: micro_kernel<2>(kc, Ai, lda, Wh, Si, k0 == 0, pb, pe); break;
          case 1: micro_kernel<1>(kc, Ai, lda, Wh, Si, k0 == 0, pb, pe); break;
          default: break;
        }
      }
    }
  }
  for (int i = 0; i < M; i++) {
    const float* s = S + (size_t)i * PANEL;
    float* c = C + (size_t)i * ldc;
    if (accumulate)
      for (int j = 0; j < cols; j++) c[j] = s[j] + c[j];
    else
      for (int j = 0; j < cols; j++) c[j] = s[j];
  }
}
#else
static void panel_rows(int M, int K, const float* A, size_t lda, const float* Wp, float* C, size_t ldc, bool accumulate, int cols,
                       const float*) {
  for (int i = 0; i < M; i++) {
    float acc[PANEL] = {0};
    const float* a = A + (size_t)i * lda;
    for (int k = 0; k < K; k++) {
      const float av = a[k];
      const float* w = Wp + (size_t)k * PANEL;
      #pragma omp simd
      for (int j = 0; j < PANEL; j++) acc[j] += av * w[j];
    }
    float* c = C + (size_t)i * ldc;
    for (int j = 0; j < cols; j++) c[j] = accumulate ? acc[j] + c[j] : acc[j];
  }
}
#endif

void gemm_packed(int M, const float* A, int lda, const PackedMatrix& W, bool accumulate, float* C, int ldc) {
  if (M <= 0 || W.N <= 0) return;
  const int K = W.K, N = W.N;
  if (K <= 0) {  // an empty sum: the kernels below assume at least one k
    if (!accumulate)
      for (int i = 0; i < M; i++) std::fill(C + (size_t)i * ldc, C + (size_t)i * ldc + N, 0.0f);
    return;
  }
  #pragma omp parallel for schedule(static)
  for (int p = 0; p < W.panels; p++) {
    const int j0 = p * PANEL;
    const float* next = p + 1 < W.panels ? W.data + (size_t)(p + 1) * K * PANEL : nullptr;
    panel_rows(M, K, A, (size_t)lda, W.data + (size_t)p * K * PANEL, C + j0, (size_t)ldc, accumulate, std::min(PANEL, N - j0), next);
  }
}

}  // namespace sat
