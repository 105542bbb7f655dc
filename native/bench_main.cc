// Stand-alone timing driver of the engine (no Node): default config, synthetic data, a few
// training steps (forward + backward + Adam) per mode. Not part of the addon; used to time
// threading variants in isolation, e.g. on a quiet machine:
//   g++ -std=c++17 -O3 -march=haswell -fopenmp -Inative native/{bench_main,decoder,init_state,embedding,attention,lstm,output,optim,kernels,packed_gemm}.cc -lopenblas
//   SAT_PROFILE=1 ./a.out 5
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "sat.h"

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 5;
  if (!std::getenv("SAT_BLAS_THREADED")) sat::init_threads();
  const sat::Dims d{8500, 512, 1024, 512, 1024, 196};
  const int B = 64, T = 13;
  sat::Decoder dec(d);
  const size_t N = dec.off.total;
  std::vector<float> p(N), g(N), m(N), v(N);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& x : p) x = 0.01f * nd(rng);
  std::vector<float> feats((size_t)B * d.L * d.D);
  for (auto& x : feats) x = std::fabs(nd(rng));
  std::vector<int> inputs(B * T), targets(B * T);
  for (int i = 0; i < B * T; i++) {
    inputs[i] = 4 + rng() % 8000;
    targets[i] = 4 + rng() % 8000;
  }
  std::vector<float> mask(B * T, 1.0f);
  std::vector<double> logProb(B);
  std::vector<int> locs(B * T);
  for (int mode : {0, 1}) {
    double total = 0;
    for (int s = 0; s <= steps; s++) {
      sat::StepArgs a{B, T, feats.data(), inputs.data(), targets.data(), mask.data(), mode, 0.5f, (uint32_t)s, 1.0f, 0.1f, 0.002f, -60.0f,
                      nullptr, true};
      sat::StepOut o{};
      o.logProb = logProb.data();
      o.locations = locs.data();
      const double t0 = omp_get_wtime();
      dec.forward(p.data(), a, o);
      dec.backward(p.data(), g.data(), a, o);
      const double t1 = omp_get_wtime();
      const double norm = std::sqrt(sat::sum_squares(g.data(), N));
      const double bc1 = 1 - std::pow(0.9, s + 1), bc2 = 1 - std::pow(0.999, s + 1);
      sat::adam_update(p.data(), g.data(), m.data(), v.data(), N, 1.0f, 1e-3f, 1.0f, 0.9f, 0.999f, 0.1f, 0.001f, 1e-8f, 1 / bc1, 1 / bc2);
      const double t2 = omp_get_wtime();
      if (s > 0) total += t2 - t0;
      std::fprintf(stderr, "mode %d step %d: fb %.1f ms adam %.1f ms loss %.3f norm %.3f\n", mode, s, (t1 - t0) * 1e3, (t2 - t1) * 1e3, o.loss, norm);
    }
    std::printf("mode %s: %.1f ms/step, %.1f captions/s, %.1f GFLOP/s (109.30 GFLOP/step)\n", mode ? "hard" : "soft", total / steps * 1e3,
                B / (total / steps), 109.30225152 / (total / steps));
  }
  std::printf("workspace %.0f MiB\n", dec.workspace_bytes() / 1048576.0);
}
