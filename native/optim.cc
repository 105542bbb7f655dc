// Optimisers over the flat buffer (docs/engine.md): the caller computes the global norm and
// the clip scale; one fused pass then applies clipping, decoupled weight decay and the update.
#include "sat.h"

namespace sat {

double sum_squares(const float* g, size_t N) {
  double total = 0.0;
  // Float partial sums over short blocks keep the loop vectorised; blocks add up in double.
  #pragma omp parallel for schedule(static) reduction(+ : total)
  for (size_t blk = 0; blk < (N + 4095) / 4096; blk++) {
    const size_t i0 = blk * 4096, i1 = std::min(N, i0 + 4096);
    float s = 0.0f;
    #pragma omp simd reduction(+ : s)
    for (size_t i = i0; i < i1; i++) s += g[i] * g[i];
    total += s;
  }
  return total;
}

// 1 − β is taken in double by the caller: 1 − (float)0.999 is off by 1.3e-5 relative.
void adam_update(float* p, const float* g, float* m, float* v, size_t N, float gscale, float lr, float wdFactor, float b1, float b2, float ib1,
                 float ib2, float eps, float rbc1, float rbc2) {
  #pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < N; i++) {
    const float gi = g[i] * gscale;
    const float mi = b1 * m[i] + ib1 * gi;
    const float vi = b2 * v[i] + ib2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * wdFactor - lr * (mi * rbc1) / (std::sqrt(vi * rbc2) + eps);
  }
}

void rmsprop_update(float* p, const float* g, float* v, size_t N, float gscale, float lr, float wdFactor, float rho, float irho, float eps) {
  #pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < N; i++) {
    const float gi = g[i] * gscale;
    const float vi = rho * v[i] + irho * gi * gi;
    v[i] = vi;
    p[i] = p[i] * wdFactor - lr * gi / (std::sqrt(vi) + eps);
  }
}

}  // namespace sat
