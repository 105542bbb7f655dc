// BLAS wrappers and the parameter layout.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "sat.h"

namespace sat {

float* alloc_floats(size_t n) {
  void* p = std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}

void free_floats(float* p) { std::free(p); }

Offsets param_offsets(const Dims& d) {
  Offsets o{};
  size_t at = 0;
  auto take = [&](size_t n) {
    size_t here = at;
    at += n;
    return here;
  };
  const size_t K = d.K, m = d.m, n = d.n, A = d.A, D = d.D;
  o.E = take(K * m);
  o.W_ih = take(D * n);
  o.b_ih = take(n);
  o.W_ic = take(D * n);
  o.b_ic = take(n);
  o.W_a = take(D * A);
  o.b_a = take(A);
  o.W_h = take(n * A);
  o.w_att = take(A);
  o.b_att = take(1);
  o.w_beta = take(n);
  o.b_beta = take(1);
  o.W_x = take(m * 4 * n);
  o.U = take(n * 4 * n);
  o.W_z = take(D * 4 * n);
  o.b = take(4 * n);
  o.L_h = take(n * m);
  o.L_z = take(D * m);
  o.L_o = take(m * K);
  o.b_o = take(K);
  o.total = at;
  return o;
}

// Threading: ONE pool. OpenBLAS runs single-threaded (openblas_set_num_threads(1)) and every
// large GEMM is split in two halves of C, one per OpenMP thread; the elementwise loops use the
// same OpenMP threads, which wait passively (OMP_WAIT_POLICY=PASSIVE, set by
// src/native/engine.ts before loading). Measurements, default config, ms per training step
// (forward + backward + Adam), soft / hard-sample, with native/bench_main.cc:
//  * 2 physical cores of the lent Xeon (taskset; OpenBLAS Haswell kernels; sgemm 2048^3 runs
//    at 110.7 GFLOP/s on 2 threads, 56.3 on 1), the local machine being too loaded to time:
//      OpenBLAS pthread pool (2) + OpenMP (2), OMP passive           1464 / 1400
//      OpenBLAS pthread pool (2) + OpenMP (1 thread: serial loops)   1332 / 1071
//      one pool, OMP active wait                                     1321 / 1123
//      one pool, OMP passive wait                                    1003 / 1116   (±15% noise)
//      final code (+ zigzag order), one pool, passive, another run   1060 / 1058 = 103 GFLOP/s,
//        84% of that slice's sgemm 2048^3 (122.7 GFLOP/s in the same run)
//    and before the AVX2 attention kernel, two pools: OMP passive 2626 / 1896, OMP active
//    3104 / 2711, GOMP_SPINCOUNT=10000 2024 / 1721: each pool's idle workers spin or yield on
//    the two cores the other pool needs (SAT_PROFILE=1 showed the elementwise phases 2-4x slower).
//  * this 2-core EPYC while other jobs kept it at load 7 (sgemm 2048^3 at ~45 GFLOP/s):
//      one pool, OMP passive 3198 / 3269; OMP active 4900 / 5973 (spinning steals the timeslices).
static bool g_split = false;
// Below this many flops a GEMM runs on one thread (fork/join would cost more than it saves).
// SAT_GEMM_SPLIT_MIN overrides it (the tests set 0 so that small shapes take the split path).
static double g_splitMin = 4e6;

static void gemm1(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
                  float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
              ldc);
}

GemmProfile g_gemmProfile;
static const bool kGemmProfile = [] {
  const char* e = std::getenv("SAT_PROFILE");
  return e && e[0] == '1';
}();

static void gemm_split(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
                       float* C, int ldc);

void gemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
          float* C, int ldc) {
  if (!kGemmProfile || omp_in_parallel()) {
    gemm_split(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const double t0 = omp_get_wtime();
  gemm_split(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  const int bucket = M <= 256 ? 0 : 1;
  g_gemmProfile.seconds[bucket] += omp_get_wtime() - t0;
  g_gemmProfile.flops[bucket] += 2.0 * M * N * K;
}

static void gemm_split(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
                       float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
    return;
  }
  const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  const double work = 2.0 * M * N * K;
  if (!g_split || nt < 2 || work < g_splitMin) {
    gemm1(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split the longer side of C; each part stays a large GEMM (kernel-efficient), in multiples
  // of 16 so that no thread gets a ragged micro-tile edge in the middle.
  const bool splitN = N >= M;
  const int len = splitN ? N : M;
  #pragma omp parallel num_threads(nt)
  {
    const int id = omp_get_thread_num(), cnt = omp_get_num_threads();
    const int per = ((len + cnt - 1) / cnt + 15) / 16 * 16;
    const int s0 = std::min(len, id * per), s1 = std::min(len, s0 + per);
    if (s1 > s0) {
      if (splitN) {
        // columns s0..s1 of op(B) and C
        const float* Bp = transB ? B + (size_t)s0 * ldb : B + s0;
        gemm1(transA, transB, M, s1 - s0, K, alpha, A, lda, Bp, ldb, beta, C + s0, ldc);
      } else {
        const float* Ap = transA ? A + s0 : A + (size_t)s0 * lda;
        gemm1(transA, transB, s1 - s0, N, K, alpha, Ap, lda, B, ldb, beta, C + (size_t)s0 * ldc, ldc);
      }
    }
  }
}

void gemv(bool trans, int rows, int cols, float alpha, const float* A, int lda, const float* x, float beta, float* y) {
  if (rows <= 0 || cols <= 0) return;
  cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, rows, cols, alpha, A, lda, x, 1, beta, y, 1);
}

void colsum(int rows, int cols, const float* A, int lda, float* out, bool accumulate) {
  // Split the columns between threads; each walks all rows of its slice (contiguous reads).
  #pragma omp parallel
  {
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int c0 = (int)((long)cols * id / nt), c1 = (int)((long)cols * (id + 1) / nt);
    float* o = out + c0;
    const int w = c1 - c0;
    if (!accumulate)
      for (int j = 0; j < w; j++) o[j] = 0.0f;
    for (int r = 0; r < rows; r++) {
      const float* a = A + (size_t)r * lda + c0;
      for (int j = 0; j < w; j++) o[j] += a[j];
    }
  }
}

int num_threads() { return omp_get_max_threads(); }

std::string blas_info() { return std::string(openblas_get_config()) + " (" + openblas_get_corename() + " kernels)"; }

double sgemm_gflops(int M, int N, int K, int reps) {
  std::vector<float> a((size_t)M * K), b((size_t)K * N), c((size_t)M * N);
  for (size_t i = 0; i < a.size(); i++) a[i] = (float)((i * 7919) % 1000) * 1e-3f;
  for (size_t i = 0; i < b.size(); i++) b[i] = (float)((i * 104729) % 1000) * 1e-3f;
  gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    const double t0 = omp_get_wtime();
    gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
    best = std::min(best, omp_get_wtime() - t0);
  }
  return 2.0 * M * N * K / best / 1e9;
}

// Called once at load: OpenBLAS single-threaded (see gemm above).
void init_threads() {
  openblas_set_num_threads(1);
  g_split = true;
  if (const char* e = std::getenv("SAT_GEMM_SPLIT_MIN")) g_splitMin = std::atof(e);
}

}  // namespace sat
