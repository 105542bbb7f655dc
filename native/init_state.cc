// Initial LSTM state from the mean annotation (docs/engine.md "Forward" and "Backward"):
// h_0 = tanh(ā W_ih + b_ih), c_0 = tanh(ā W_ic + b_ic).
#include "sat.h"

namespace sat {

void tanh_layer_forward(int rows, int D, int n, const float* x, const float* W, const float* bias, float* out) {
  gemm(false, false, rows, n, D, 1.0f, x, D, W, n, 0.0f, out, n);
  #pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) {
    float* o = out + (size_t)r * n;
    #pragma omp simd
    for (int j = 0; j < n; j++) o[j] = fast_tanh(o[j] + bias[j]);
  }
}

void mean_rows(int B, int L, int D, const float* feats, float* abar) {
  #pragma omp parallel for schedule(static)
  for (int b = 0; b < B; b++) {
    float* o = abar + (size_t)b * D;
    for (int d = 0; d < D; d++) o[d] = 0.0f;
    const float* f = feats + (size_t)b * L * D;
    for (int l = 0; l < L; l++) {
      #pragma omp simd
      for (int d = 0; d < D; d++) o[d] += f[(size_t)l * D + d];
    }
    const float inv = 1.0f / L;
    for (int d = 0; d < D; d++) o[d] *= inv;
  }
}

void init_state_forward(int B, int L, int D, int n, const float* feats, const float* W_ih, const float* b_ih, const float* W_ic,
                        const float* b_ic, float* abar, float* h0, float* c0) {
  mean_rows(B, L, D, feats, abar);
  tanh_layer_forward(B, D, n, abar, W_ih, b_ih, h0);
  tanh_layer_forward(B, D, n, abar, W_ic, b_ic, c0);
}

void init_state_backward(int B, int D, int n, const float* abar, const float* h0, const float* c0, const float* dh0, size_t lddh,
                         const float* dc0, float* dW_ih, float* db_ih, float* dW_ic, float* db_ic, float* scratch) {
  float* dpreH = scratch;
  float* dpreC = scratch + (size_t)B * n;
  for (int b = 0; b < B; b++) {
    for (int j = 0; j < n; j++) {
      const float hv = h0[(size_t)b * n + j], cv = c0[(size_t)b * n + j];
      dpreH[(size_t)b * n + j] = dh0[(size_t)b * lddh + j] * (1.0f - hv * hv);
      dpreC[(size_t)b * n + j] = dc0[(size_t)b * n + j] * (1.0f - cv * cv);
    }
  }
  gemm(true, false, D, n, B, 1.0f, abar, D, dpreH, n, 0.0f, dW_ih, n);
  colsum(B, n, dpreH, n, db_ih, false);
  gemm(true, false, D, n, B, 1.0f, abar, D, dpreC, n, 0.0f, dW_ic, n);
  colsum(B, n, dpreC, n, db_ic, false);
}

}  // namespace sat
