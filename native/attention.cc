// Attention f_att, the β gate and the context ẑ (soft: expectation; hard: sampled location),
// one time step over all rows; forward and hand-derived backward of docs/engine.md.
#include <omp.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "sat.h"

namespace sat {

static inline float dot(const float* a, const float* b, int n) {
  float s = 0.0f;
  #pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

#if defined(__AVX2__) && defined(__FMA__)
// 8-wide tanh of the hottest loop (B·T·L·A elements per step): as fast_tanh, but with the
// division replaced by rcp + one Newton step (relative error ~1.5e-7 → absolute error of
// tanh <= 1.5e-7), which GCC will not emit on its own without -ffast-math.
static inline __m256 exp8_nonneg(__m256 x) {
  x = _mm256_min_ps(x, _mm256_set1_ps(40.0f));  // tanh is 1 in float32 long before
  const __m256 kf = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(1.428606765330187e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i k = _mm256_cvtps_epi32(kf);
  const __m256 two_k = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(p, two_k);
}

static inline __m256 tanh8(__m256 x) {
  const __m256 signbit = _mm256_set1_ps(-0.0f);
  const __m256 sign = _mm256_and_ps(x, signbit);
  const __m256 ax = _mm256_andnot_ps(signbit, x);
  const __m256 d = _mm256_add_ps(exp8_nonneg(_mm256_add_ps(ax, ax)), _mm256_set1_ps(1.0f));
  __m256 r = _mm256_rcp_ps(d);
  r = _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0f)));
  const __m256 y = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), r, _mm256_set1_ps(1.0f));
  return _mm256_or_ps(y, sign);
}
#endif

#if defined(__AVX512F__)
// GCC 12's AVX-512 headers start masked intrinsics from _mm512_undefined_*(), which its
// -Wmaybe-uninitialized reports at every inlined call: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same tanh 16 lanes wide (the addon is compiled on the machine it runs on, -march=native,
// so the widest kernel the CPU has is chosen at build time).
static inline __m512 exp16_nonneg(__m512 x) {
  x = _mm512_min_ps(x, _mm512_set1_ps(40.0f));
  const __m512 kf = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512i k = _mm512_cvtps_epi32(kf);
  const __m512 two_k = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23));
  return _mm512_mul_ps(p, two_k);
}

static inline __m512 tanh16(__m512 x) {
  const __m512i signbit = _mm512_set1_epi32((int)0x80000000u);
  const __m512i xi = _mm512_castps_si512(x);
  const __m512i sign = _mm512_and_si512(xi, signbit);
  const __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(signbit, xi));
  const __m512 d = _mm512_add_ps(exp16_nonneg(_mm512_add_ps(ax, ax)), _mm512_set1_ps(1.0f));
  __m512 r = _mm512_rcp14_ps(d);
  r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
  const __m512 y = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), r, _mm512_set1_ps(1.0f));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), sign));
}
#endif

// S_i = tanh(P_i + q) for one location, and e_i = S_i · w_att (without b_att). S_i is written
// to out when kKeep (training keeps S for the backward; decoding needs only e, and not writing
// S saves a pass over L·A floats per row).
template <bool kKeep>
static inline float score_row(const float* __restrict p, const float* __restrict q, const float* __restrict w, float* __restrict out, int A) {
  int a = 0;
  float e = 0.0f;
#if defined(__AVX512F__)
  {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (; a + 32 <= A; a += 32) {
      const __m512 v0 = tanh16(_mm512_add_ps(_mm512_loadu_ps(p + a), _mm512_loadu_ps(q + a)));
      const __m512 v1 = tanh16(_mm512_add_ps(_mm512_loadu_ps(p + a + 16), _mm512_loadu_ps(q + a + 16)));
      if (kKeep) {
        _mm512_storeu_ps(out + a, v0);
        _mm512_storeu_ps(out + a + 16, v1);
      }
      acc0 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(w + a), acc0);
      acc1 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(w + a + 16), acc1);
    }
    e += _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  }
#endif
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; a + 16 <= A; a += 16) {
    const __m256 v0 = tanh8(_mm256_add_ps(_mm256_loadu_ps(p + a), _mm256_loadu_ps(q + a)));
    const __m256 v1 = tanh8(_mm256_add_ps(_mm256_loadu_ps(p + a + 8), _mm256_loadu_ps(q + a + 8)));
    if (kKeep) {
      _mm256_storeu_ps(out + a, v0);
      _mm256_storeu_ps(out + a + 8, v1);
    }
    acc0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w + a), acc0);
    acc1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(w + a + 8), acc1);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(acc0, acc1));
  for (int i = 0; i < 8; i++) e += lanes[i];
#endif
  for (; a < A; a++) {
    const float v = fast_tanh(p[a] + q[a]);
    if (kKeep) out[a] = v;
    e += v * w[a];
  }
  return e;
}

// Half-precision features (SAT_HALF_FEATURES, sat.h) use F16C's conversions, which every AVX2
// CPU has.
#if SAT_HALF_FEATURES
// SAT_NO_HALF_FEATURES=1 keeps decoding's features float32 (read at every prepare_decode).
static bool half_features_wanted() {
  const char* off = std::getenv("SAT_NO_HALF_FEATURES");
  return !(off && off[0] == '1');
}
#endif

bool store_features(const float* src, size_t n, float* dst) {
#if SAT_HALF_FEATURES
  if (half_features_wanted()) {
    uint16_t* h = reinterpret_cast<uint16_t*>(dst);
    const ptrdiff_t n8 = (ptrdiff_t)(n / 8) * 8;
    int inexact = 0;
    #pragma omp parallel for schedule(static) reduction(| : inexact)
    for (ptrdiff_t i = 0; i < n8; i += 8) {
      const __m256 x = _mm256_loadu_ps(src + i);
      const __m128i hv = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      // Bit for bit, so that -0, NaN payloads and every float32 that rounds are caught.
      const __m256i same = _mm256_cmpeq_epi32(_mm256_castps_si256(_mm256_cvtph_ps(hv)), _mm256_castps_si256(x));
      inexact |= _mm256_movemask_ps(_mm256_castsi256_ps(same)) != 0xff;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), hv);
    }
    for (size_t i = (size_t)n8; i < n; i++) {
      const unsigned short hv = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
      float back = _cvtsh_ss(hv);
      inexact |= std::memcmp(&back, src + i, sizeof(float)) != 0;
      h[i] = hv;
    }
    if (!inexact) return true;
  }
#endif
  std::memcpy(dst, src, sizeof(float) * n);
  return false;
}

#if SAT_HALF_FEATURES
void half_to_float(const uint16_t* src, size_t n, float* dst) {
  const ptrdiff_t n8 = (ptrdiff_t)(n / 8) * 8;
  #pragma omp parallel for schedule(static)
  for (ptrdiff_t i = 0; i < n8; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (size_t i = (size_t)n8; i < n; i++) dst[i] = _cvtsh_ss(src[i]);
}

bool keep_half_features(const uint16_t* src, size_t n, float* dst) {
  if (!half_features_wanted()) return false;
  std::memcpy(dst, src, sizeof(uint16_t) * n);
  return true;
}
#endif

// ctx = Σ_l α_l a_l over the L rows of a (D wide), four locations per pass over ctx (a quarter
// of the ctx loads and stores). The operations are spelled out (w0 a0, then fma w1 a1, w2 a2,
// w3 a3, then ctx +) rather than left to the compiler's contraction, which differs between
// targets, so that float32 and float16 rows of the same values give the same bits (test/native
// checks it).
#if defined(__AVX2__) && defined(__FMA__)
struct FloatRows {
  using T = float;
  static float one(const float* p) { return *p; }
  static __m256 eight(const float* p) { return _mm256_loadu_ps(p); }
#if defined(__AVX512F__)
  static __m512 sixteen(const float* p) { return _mm512_loadu_ps(p); }
#endif
};
#if SAT_HALF_FEATURES
struct HalfRows {
  using T = uint16_t;
  static float one(const uint16_t* p) { return _cvtsh_ss(*p); }
  static __m256 eight(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
#if defined(__AVX512F__)
  static __m512 sixteen(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
#endif
};
#endif

template <class Rows>
static inline void weighted_rows(const float* __restrict al, const typename Rows::T* __restrict fb, int L, int D, float* __restrict cx) {
  using T = typename Rows::T;
  for (int d = 0; d < D; d++) cx[d] = 0.0f;
  int l = 0;
  for (; l + 4 <= L; l += 4) {
    const float w0 = al[l], w1 = al[l + 1], w2 = al[l + 2], w3 = al[l + 3];
    const T* a0 = fb + (size_t)l * D;
    const T* a1 = a0 + D;
    const T* a2 = a1 + D;
    const T* a3 = a2 + D;
    int d = 0;
#if defined(__AVX512F__)
    {
      const __m512 v0 = _mm512_set1_ps(w0), v1 = _mm512_set1_ps(w1), v2 = _mm512_set1_ps(w2), v3 = _mm512_set1_ps(w3);
      for (; d + 16 <= D; d += 16) {
        __m512 t = _mm512_mul_ps(v0, Rows::sixteen(a0 + d));
        t = _mm512_fmadd_ps(v1, Rows::sixteen(a1 + d), t);
        t = _mm512_fmadd_ps(v2, Rows::sixteen(a2 + d), t);
        t = _mm512_fmadd_ps(v3, Rows::sixteen(a3 + d), t);
        _mm512_storeu_ps(cx + d, _mm512_add_ps(_mm512_loadu_ps(cx + d), t));
      }
    }
#endif
    {
      const __m256 v0 = _mm256_set1_ps(w0), v1 = _mm256_set1_ps(w1), v2 = _mm256_set1_ps(w2), v3 = _mm256_set1_ps(w3);
      for (; d + 8 <= D; d += 8) {
        __m256 t = _mm256_mul_ps(v0, Rows::eight(a0 + d));
        t = _mm256_fmadd_ps(v1, Rows::eight(a1 + d), t);
        t = _mm256_fmadd_ps(v2, Rows::eight(a2 + d), t);
        t = _mm256_fmadd_ps(v3, Rows::eight(a3 + d), t);
        _mm256_storeu_ps(cx + d, _mm256_add_ps(_mm256_loadu_ps(cx + d), t));
      }
    }
    for (; d < D; d++) {
      float t = w0 * Rows::one(a0 + d);
      t = std::fma(w1, Rows::one(a1 + d), t);
      t = std::fma(w2, Rows::one(a2 + d), t);
      t = std::fma(w3, Rows::one(a3 + d), t);
      cx[d] += t;
    }
  }
  for (; l < L; l++) {
    const float w = al[l];
    const T* a = fb + (size_t)l * D;
    for (int d = 0; d < D; d++) cx[d] = std::fma(w, Rows::one(a + d), cx[d]);
  }
}
#else
struct FloatRows {
  using T = float;
};
template <class Rows>
static inline void weighted_rows(const float* __restrict al, const float* __restrict fb, int L, int D, float* __restrict cx) {
  for (int d = 0; d < D; d++) cx[d] = 0.0f;
  for (int l = 0; l < L; l++) {
    const float w = al[l];
    const float* a = fb + (size_t)l * D;
    #pragma omp simd
    for (int d = 0; d < D; d++) cx[d] += w * a[d];
  }
}
#endif

void attention_project_forward(int rows, int D, int A, const float* feats, const float* W_a, float* P) {
  gemm(false, false, rows, A, D, 1.0f, feats, D, W_a, A, 0.0f, P, A);
}

void attention_project_backward(int rows, int D, int A, const float* feats, const float* dP, float* dW_a, float* db_a) {
  gemm(true, false, D, A, rows, 1.0f, feats, D, dP, A, 0.0f, dW_a, A);
  colsum(rows, A, dP, A, db_a, false);
}

void attention_forward(const AttentionStep& s) {
  const int L = s.L, A = s.A, D = s.D;
  for (int b = 0; b < s.B; b++) std::memcpy(s.q + (size_t)b * A, s.b_a, sizeof(float) * A);
  if (s.W_hPacked)
    gemm_packed(s.B, s.hprev, (int)s.ldh, *s.W_hPacked, true, s.q, A);
  else
    gemm(false, false, s.B, A, s.hiddenN, 1.0f, s.hprev, (int)s.ldh, s.W_h, A, 1.0f, s.q, A);
  #pragma omp parallel for schedule(static)
  for (int i = 0; i < s.B; i++) {
    const int b = s.reverse ? s.B - 1 - i : i;
    const int im = s.img ? s.img[b] : b;
    const float* Pb = s.P + (size_t)im * L * A;
    const float* fb = s.feats ? s.feats + (size_t)im * L * D : nullptr;
#if SAT_HALF_FEATURES
    const uint16_t* hb = s.featsHalf ? s.featsHalf + (size_t)im * L * D : nullptr;
#endif
    const float* qb = s.q + (size_t)b * A;
    float* Sb = s.S ? s.S + (size_t)b * L * A : nullptr;
    float* al = s.alpha + (size_t)b * s.ldalpha;
    float mx = -FLT_MAX;
    for (int l = 0; l < L; l++) {
      const float* Pl = Pb + (size_t)l * A;
      const float e = (Sb ? score_row<true>(Pl, qb, s.w_att, Sb + (size_t)l * A, A) : score_row<false>(Pl, qb, s.w_att, nullptr, A)) + s.b_att;
      al[l] = e;
      mx = e > mx ? e : mx;
    }
    // H(α) = log Σ − Σ α (e − max): no log of a possibly underflowed α.
    float sum = 0.0f, wsum = 0.0f;
    for (int l = 0; l < L; l++) {
      const float sh = al[l] - mx;
      const float ex = std::exp(sh);
      al[l] = ex;
      sum += ex;
      wsum += ex * sh;
    }
    const float inv = 1.0f / sum;
    for (int l = 0; l < L; l++) al[l] *= inv;
    const float logSum = std::log(sum);
    if (s.entropy) s.entropy[(size_t)b * s.ldbeta] = logSum - wsum * inv;
    const float beta = fast_sigmoid(dot(s.hprev + (size_t)b * s.ldh, s.w_beta, s.hiddenN) + s.b_beta);
    s.beta[(size_t)b * s.ldbeta] = beta;
    float* cx = s.ctx + (size_t)b * s.ldctx;
    if (s.sample) {
      int loc;
      if (s.locIn) {
        loc = s.locIn[(size_t)b * s.ldloc];
      } else {
        const double v = uniform01(s.locSeedHash, (uint32_t)(b * s.T + s.t));
        double run = 0.0;
        loc = L - 1;
        for (int l = 0; l < L; l++) {
          run += al[l];
          if (run > v) {
            loc = l;
            break;
          }
        }
      }
      if (s.locOut) s.locOut[(size_t)b * s.ldloc] = loc;
      // log α_s from the kept S (e_s recomputed), exact even where α_s underflows.
      if (s.logAlphaS) {
        const float es = dot(Sb + (size_t)loc * A, s.w_att, A) + s.b_att;
        s.logAlphaS[(size_t)b * s.ldbeta] = (es - mx) - logSum;
      }
#if SAT_HALF_FEATURES
      if (hb) {
        const uint16_t* row = hb + (size_t)loc * D;
        for (int d = 0; d < D; d++) cx[d] = HalfRows::one(row + d);
      } else
#endif
        std::memcpy(cx, fb + (size_t)loc * D, sizeof(float) * D);
    } else {
#if SAT_HALF_FEATURES
      if (hb)
        weighted_rows<HalfRows>(al, hb, L, D, cx);
      else
#endif
        weighted_rows<FloatRows>(al, fb, L, D, cx);
    }
    float* z1 = s.z1 + (size_t)b * s.ldz1;
    #pragma omp simd
    for (int d = 0; d < D; d++) z1[d] = beta * cx[d];
    if (s.z2) std::memcpy(s.z2 + (size_t)b * s.ldz2, z1, sizeof(float) * D);
  }
}

void attention_backward(const AttentionBackStep& s) {
  const int L = s.L, A = s.A, D = s.D, T = s.T, t = s.t;
  #pragma omp parallel
  {
    const int tid = omp_get_thread_num();
    float* part = s.dwAttPartial + (size_t)tid * (A + 1 + L + D);
    float* dwatt = part;
    float* de = part + A + 1;  // scratch: dα, then de
    float* dzsum = de + L;     // scratch: dẑ
    #pragma omp for schedule(static)
    for (int i = 0; i < s.B; i++) {
      const int b = s.reverse ? s.B - 1 - i : i;
      const size_t rb = (size_t)b * s.ldbeta;
      const float* fb = s.feats + (size_t)b * L * D;
      const float* Sb = s.S + (size_t)b * L * A;
      const float* al = s.alpha + (size_t)b * s.ldalpha;
      const float* cx = s.ctx + (size_t)b * s.ldctx;
      const float* dz1 = s.dz1 + (size_t)b * s.lddz1;
      const float* dz2 = s.dz2 + (size_t)b * s.lddz2;
      const float beta = s.beta[rb];
      const float mask = s.mask[(size_t)b * T + t];
      // dẑ = dz1 + dz2, used through dot products only.
      float dbeta = 0.0f;
      #pragma omp simd reduction(+ : dbeta)
      for (int d = 0; d < D; d++) dbeta += (dz1[d] + dz2[d]) * cx[d];
      const float* cov = s.cov + (size_t)b * L;
      const float penal = -2.0f * s.lambda * s.invB * mask;
      for (int l = 0; l < L; l++) de[l] = penal * (1.0f - cov[l]);
      if (s.soft) {
        // dα_l = β (dẑ · a_l), four locations at a time: four independent FMA chains instead
        // of one latency-bound chain, and each dẑ load serves four rows.
        float* dz = dzsum;
        #pragma omp simd
        for (int d = 0; d < D; d++) dz[d] = dz1[d] + dz2[d];
        int l = 0;
        for (; l + 4 <= L; l += 4) {
          const float* a0 = fb + (size_t)l * D;
          const float* a1 = a0 + D;
          const float* a2 = a1 + D;
          const float* a3 = a2 + D;
          float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
          #pragma omp simd reduction(+ : s0, s1, s2, s3)
          for (int d = 0; d < D; d++) {
            const float z = dz[d];
            s0 += z * a0[d];
            s1 += z * a1[d];
            s2 += z * a2[d];
            s3 += z * a3[d];
          }
          de[l] += beta * s0;
          de[l + 1] += beta * s1;
          de[l + 2] += beta * s2;
          de[l + 3] += beta * s3;
        }
        for (; l < L; l++) de[l] += beta * dot(dz, fb + (size_t)l * D, D);
      }
      float ad = 0.0f;
      for (int l = 0; l < L; l++) ad += al[l] * de[l];
      for (int l = 0; l < L; l++) de[l] = al[l] * (de[l] - ad);
      if (!s.soft) {
        const int loc = s.loc[rb];
        const float cr = -s.lambdaR * s.invB * s.rewards[b] * mask;
        const float ce = s.lambdaE * s.invB * mask;
        const float H = s.entropy[rb];
        for (int l = 0; l < L; l++) {
          const float a = al[l];
          const float la = a > 0.0f ? std::log(a) : 0.0f;  // α log α → 0 as α → 0
          de[l] += cr * ((l == loc ? 1.0f : 0.0f) - a) + ce * a * (la + H);
        }
      }
      float* dq = s.dq + (size_t)b * s.lddq;
      for (int a = 0; a < A; a++) dq[a] = 0.0f;
      float* dPb = s.dP + (size_t)b * L * A;
      float dbatt = 0.0f;
      for (int l = 0; l < L; l++) {
        const float e = de[l];
        dbatt += e;
        const float* sl = Sb + (size_t)l * A;
        float* dp = dPb + (size_t)l * A;
        #pragma omp simd
        for (int a = 0; a < A; a++) {
          const float sv = sl[a];
          dwatt[a] += e * sv;
          const float ds = e * s.w_att[a] * (1.0f - sv * sv);
          dp[a] += ds;
          dq[a] += ds;
        }
      }
      dwatt[A] += dbatt;
      s.dpreBeta[rb] = dbeta * beta * (1.0f - beta);
    }
  }
  // dh_prev += dq W_hᵀ + dpreβ w_beta
  if (s.W_hT)
    gemm_packed(s.B, s.dq, (int)s.lddq, *s.W_hT, true, s.dh, (int)s.lddh);
  else
    gemm(false, true, s.B, s.hiddenN, A, 1.0f, s.dq, (int)s.lddq, s.W_h, A, 1.0f, s.dh, (int)s.lddh);
  const int n = s.hiddenN;
  #pragma omp parallel for schedule(static)
  for (int b = 0; b < s.B; b++) {
    const float v = s.dpreBeta[(size_t)b * s.ldbeta];
    float* d = s.dh + (size_t)b * s.lddh;
    #pragma omp simd
    for (int j = 0; j < n; j++) d[j] += v * s.w_beta[j];
  }
}

void attention_weight_backward(int R, int n, int A, int L, int D, const float* Hprev, size_t ldh, const float* dQ, const float* dpreBeta,
                               const float* dwAttPartial, int threads, float* dW_h, float* dw_beta, float* db_beta, float* dw_att,
                               float* db_att) {
  gemm(true, false, n, A, R, 1.0f, Hprev, (int)ldh, dQ, A, 0.0f, dW_h, A);
  gemv(true, R, n, 1.0f, Hprev, (int)ldh, dpreBeta, 0.0f, dw_beta);
  double sb = 0;
  for (int r = 0; r < R; r++) sb += dpreBeta[r];
  *db_beta = (float)sb;
  for (int j = 0; j < A; j++) dw_att[j] = 0.0f;
  double sa = 0;
  for (int th = 0; th < threads; th++) {
    const float* p = dwAttPartial + (size_t)th * (A + 1 + L + D);
    for (int j = 0; j < A; j++) dw_att[j] += p[j];
    sa += p[A];
  }
  *db_att = (float)sa;
}

}  // namespace sat
