// Word embedding: a row gather forward, a scatter-add backward (docs/engine.md).
#include "sat.h"

namespace sat {

void embedding_forward(int R, int m, const float* E, const int* tokens, float* X) {
  for (int r = 0; r < R; r++) std::memcpy(X + (size_t)r * m, E + (size_t)tokens[r] * m, sizeof(float) * m);
}

// Serial over rows: captions share words, so rows would race on the same dE row.
void embedding_backward(int R, int K, int m, const int* tokens, const float* dX, float* dE) {
  std::memset(dE, 0, sizeof(float) * K * m);
  for (int r = 0; r < R; r++) {
    float* e = dE + (size_t)tokens[r] * m;
    const float* d = dX + (size_t)r * m;
    #pragma omp simd
    for (int j = 0; j < m; j++) e[j] += d[j];
  }
}

}  // namespace sat
