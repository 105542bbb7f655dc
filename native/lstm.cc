// LSTM cell (gate order i, f, o, g), forward and hand-derived backward of docs/engine.md.
// The input projection X W_x of every position runs as one GEMM before the recurrence, and
// the weight gradients as GEMMs over all positions after it; a step only does what depends
// on h_{t-1}.
#include "sat.h"

namespace sat {

void lstm_input_forward(int R, int m, int n, const float* X, const float* W_x, float* G) {
  gemm(false, false, R, 4 * n, m, 1.0f, X, m, W_x, 4 * n, 0.0f, G, 4 * n);
}

void lstm_forward(int B, int n, int nD, const float* HZ, size_t ldHZ, const float* UWz, const PackedMatrix* UWzPacked, float* G, size_t ldG,
                  const float* bias, const float* cprev, size_t ldcp, float* c, size_t ldc, float* tanhc, size_t ldtc, float* h1, size_t ldh1, float* h2,
                  size_t ldh2) {
  // G_t = G^x_t + [h_{t-1} | ẑ_t] @ [U; W_z]  (U and W_z are adjacent: one [n+D, 4n] matrix)
  if (UWzPacked)
    gemm_packed(B, HZ, (int)ldHZ, *UWzPacked, true, G, (int)ldG);
  else
    gemm(false, false, B, 4 * n, nD, 1.0f, HZ, (int)ldHZ, UWz, 4 * n, 1.0f, G, (int)ldG);
  lstm_cell_forward(B, n, G, ldG, bias, cprev, ldcp, c, ldc, tanhc, ldtc, h1, ldh1, h2, ldh2);
}

void lstm_cell_forward(int B, int n, float* G, size_t ldG, const float* bias, const float* cprev, size_t ldcp, float* c, size_t ldc,
                       float* tanhc, size_t ldtc, float* h1, size_t ldh1, float* h2, size_t ldh2) {
  #pragma omp parallel for schedule(static)
  for (int b = 0; b < B; b++) {
    float* g = G + (size_t)b * ldG;
    const float* cp = cprev + (size_t)b * ldcp;
    float* cb = c + (size_t)b * ldc;
    float* tc = tanhc + (size_t)b * ldtc;
    float* hb1 = h1 + (size_t)b * ldh1;
    float* gi = g;
    float* gf = g + n;
    float* go = g + 2 * n;
    float* gg = g + 3 * n;
    #pragma omp simd
    for (int j = 0; j < n; j++) {
      const float i = fast_sigmoid(gi[j] + bias[j]);
      const float f = fast_sigmoid(gf[j] + bias[n + j]);
      const float o = fast_sigmoid(go[j] + bias[2 * n + j]);
      const float gv = fast_tanh(gg[j] + bias[3 * n + j]);
      gi[j] = i;
      gf[j] = f;
      go[j] = o;
      gg[j] = gv;
      const float cv = f * cp[j] + i * gv;
      cb[j] = cv;
      const float t = fast_tanh(cv);
      tc[j] = t;
      hb1[j] = o * t;
    }
    if (h2) std::memcpy(h2 + (size_t)b * ldh2, hb1, sizeof(float) * n);
  }
}

void lstm_backward(int B, int n, int nD, const float* G, size_t ldG, const float* cprev, size_t ldcp, const float* tanhc, size_t ldtc,
                   const float* dha, size_t lddha, const float* dhb, size_t lddhb, const float* UWz, const PackedMatrix* UWzT, float* dcNext,
                   float* dG, size_t lddG, float* dHZ) {
  #pragma omp parallel for schedule(static)
  for (int b = 0; b < B; b++) {
    const float* g = G + (size_t)b * ldG;
    const float* cp = cprev + (size_t)b * ldcp;
    const float* tc = tanhc + (size_t)b * ldtc;
    const float* da = dha + (size_t)b * lddha;
    const float* db = dhb ? dhb + (size_t)b * lddhb : nullptr;
    float* dcn = dcNext + (size_t)b * n;
    float* d = dG + (size_t)b * lddG;
    #pragma omp simd
    for (int j = 0; j < n; j++) {
      const float i = g[j], f = g[n + j], o = g[2 * n + j], gv = g[3 * n + j];
      const float dh = db ? da[j] + db[j] : da[j];
      const float t = tc[j];
      const float dc = dcn[j] + dh * o * (1.0f - t * t);
      d[j] = dc * gv * i * (1.0f - i);
      d[n + j] = dc * cp[j] * f * (1.0f - f);
      d[2 * n + j] = dh * t * o * (1.0f - o);
      d[3 * n + j] = dc * i * (1.0f - gv * gv);
      dcn[j] = dc * f;
    }
  }
  if (UWzT)
    gemm_packed(B, dG, (int)lddG, *UWzT, false, dHZ, nD);
  else
    gemm(false, true, B, nD, 4 * n, 1.0f, dG, (int)lddG, UWz, 4 * n, 0.0f, dHZ, nD);
}

void lstm_weight_backward(int R, int m, int n, int nD, const float* X, const float* HZ, const float* dG, const float* W_x, float* dUWz,
                          float* dW_x, float* db, float* dX) {
  const int G4 = 4 * n;
  gemm(true, false, nD, G4, R, 1.0f, HZ, nD, dG, G4, 0.0f, dUWz, G4);
  gemm(true, false, m, G4, R, 1.0f, X, m, dG, G4, 0.0f, dW_x, G4);
  colsum(R, G4, dG, G4, db, false);
  gemm(false, true, R, m, G4, 1.0f, dG, G4, W_x, G4, 1.0f, dX, m);
}

}  // namespace sat
