// Deep output layer u = tanh(X + H L_h + Ẑ L_z), dropout, and the output layer's softmax cross
// entropy, over all positions at once (docs/engine.md).
#include <cfloat>

#include <limits>
#include <utility>

#include "sat.h"

namespace sat {

void deep_output_forward(int R, int m, int nD, const float* HO, const float* L_hz, const float* X, float* U, float* UD, float p,
                         uint32_t dropSeedHash, const PackedMatrix* L_hzPacked) {
  // [h_t | ẑ_t] @ [L_h; L_z]: the two are adjacent in the layout, one [n+D, m] matrix.
  if (L_hzPacked)
    gemm_packed(R, HO, nD, *L_hzPacked, false, U, m);
  else
    gemm(false, false, R, m, nD, 1.0f, HO, nD, L_hz, m, 0.0f, U, m);
  float* pre_u = U;
  float* ud = UD;
  const float scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
  #pragma omp parallel for schedule(static)
  for (int r = 0; r < R; r++) {
    const float* x = X + (size_t)r * m;
    float* u = pre_u + (size_t)r * m;
    float* o = ud + (size_t)r * m;
    const uint32_t base = (uint32_t)r * (uint32_t)m;
    #pragma omp simd
    for (int j = 0; j < m; j++) {
      const float v = fast_tanh(u[j] + x[j]);
      u[j] = v;
      const bool keep = p <= 0.0f || uniform01(dropSeedHash, base + (uint32_t)j) >= p;
      o[j] = keep ? v * scale : 0.0f;
    }
  }
}

void deep_output_backward(int R, int m, int nD, const float* HO, const float* L_hz, const float* U, float* dUD, float p, uint32_t dropSeedHash,
                          float* dL_hz, float* dHO, float* dX) {
  const float* u = U;
  float* dud = dUD;
  const float scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
  #pragma omp parallel for schedule(static)
  for (int r = 0; r < R; r++) {
    const float* uu = u + (size_t)r * m;
    float* d = dud + (size_t)r * m;
    const uint32_t base = (uint32_t)r * (uint32_t)m;
    #pragma omp simd
    for (int j = 0; j < m; j++) {
      const bool keep = p <= 0.0f || uniform01(dropSeedHash, base + (uint32_t)j) >= p;
      const float v = uu[j];
      d[j] = keep ? d[j] * scale * (1.0f - v * v) : 0.0f;
    }
  }
  gemm(true, false, nD, m, R, 1.0f, HO, nD, dUD, m, 0.0f, dL_hz, m);
  gemm(false, true, R, nD, m, 1.0f, dUD, m, L_hz, m, 0.0f, dHO, nD);
  std::memcpy(dX, dUD, sizeof(float) * R * m);
}

// Adds the output bias to one row of logits in place and returns the row's maximum (the
// shift that keeps exp() in range), shared by training and decoding.
static inline float add_bias_row_max(float* l, const float* b_o, int K) {
  float mx = -FLT_MAX;
  for (int k = 0; k < K; k++) {
    const float v = l[k] + b_o[k];
    l[k] = v;
    mx = v > mx ? v : mx;
  }
  return mx;
}

void output_forward(int R, int m, int K, const float* UD, const float* L_o, const float* b_o, float* logits, const int* targets,
                    const float* mask, float invB, bool grad, double* logp) {
  gemm(false, false, R, K, m, 1.0f, UD, m, L_o, K, 0.0f, logits, K);
  #pragma omp parallel for schedule(static)
  for (int r = 0; r < R; r++) {
    float* l = logits + (size_t)r * K;
    const float mx = add_bias_row_max(l, b_o, K);
    const int tgt = targets[r];
    const float shifted = l[tgt] - mx;
    float sum = 0.0f;
    #pragma omp simd reduction(+ : sum)
    for (int k = 0; k < K; k++) {
      const float e = fast_exp(l[k] - mx);
      l[k] = e;
      sum += e;
    }
    logp[r] = (double)shifted - std::log((double)sum);
    if (grad) {
      const float w = mask[r] * invB, inv = 1.0f / sum;
      #pragma omp simd
      for (int k = 0; k < K; k++) l[k] = l[k] * inv * w;
      l[tgt] -= w;
    }
  }
}

void output_backward(int R, int m, int K, const float* UD, const float* L_o, const float* dlogits, float* dL_o, float* db_o, float* dUD) {
  gemm(true, false, m, K, R, 1.0f, UD, m, dlogits, K, 0.0f, dL_o, K);
  colsum(R, K, dlogits, K, db_o, false);
  gemm(false, true, R, m, K, 1.0f, dlogits, K, L_o, K, 0.0f, dUD, m);
}

void top_k_rows(int R, int K, const float* lp, const uint8_t* blocked, int k, int* ids, float* vals) {
  #pragma omp parallel for schedule(static)
  for (int r = 0; r < R; r++) {
    const float* l = lp + (size_t)r * K;
    int* bi = ids + (size_t)r * k;
    float* bv = vals + (size_t)r * k;
    int count = 0;
    for (int i = 0; i < K; i++) {
      const float v = l[i];
      if (count == k && v <= bv[k - 1]) continue;  // the common case: below the k-th best
      if (blocked && blocked[i]) continue;
      int j = count < k ? count++ : k - 1;
      bv[j] = v;
      bi[j] = i;
      while (j > 0 && bv[j - 1] < v) {
        std::swap(bv[j - 1], bv[j]);
        std::swap(bi[j - 1], bi[j]);
        j--;
      }
    }
    for (int j = count; j < k; j++) {
      bi[j] = -1;
      bv[j] = -std::numeric_limits<float>::infinity();
    }
  }
}

void log_softmax_rows(int R, int K, float* logits, const float* b_o) {
  #pragma omp parallel for schedule(static)
  for (int r = 0; r < R; r++) {
    float* l = logits + (size_t)r * K;
    const float mx = add_bias_row_max(l, b_o, K);
    float sum = 0.0f;
    #pragma omp simd reduction(+ : sum)
    for (int k = 0; k < K; k++) sum += fast_exp(l[k] - mx);
    const float lse = mx + std::log(sum);
    #pragma omp simd
    for (int k = 0; k < K; k++) l[k] -= lse;
  }
}

}  // namespace sat
