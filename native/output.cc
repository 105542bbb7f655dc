// Deep output layer u = tanh(X + H L_h + Ẑ L_z), dropout, and the softmax cross entropy.
#include <cfloat>

#include "sat.h"

namespace sat {

void deep_output_forward(int R, int m, const float* X, float* pre_u, float* ud, float p, uint32_t dropSeedHash) {
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

void deep_output_backward(int R, int m, const float* u, float* dud, float p, uint32_t dropSeedHash) {
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

void softmax_xent(int R, int K, float* logits, const float* b_o, const int* targets, const float* mask, float invB, bool grad, double* logp) {
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
