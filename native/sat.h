// Shared declarations of the native decoder engine (docs/engine.md is the contract).
// Row convention everywhere: a (caption b, step t) position is row r = b*T + t, so the rows of
// one step are a strided view (leading dimension T*width) of the all-positions buffers, and the
// dropout index (b*T + t)*m + j of the contract falls out directly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cmath>
#include <algorithm>
#include <vector>

namespace sat {

struct Dims {
  int K, m, n, A, D, L;
};

// Offsets (in floats) of every tensor in the flat parameter buffer, in the contract's order.
struct Offsets {
  size_t E, W_ih, b_ih, W_ic, b_ic, W_a, b_a, W_h, w_att, b_att, w_beta, b_beta, W_x, U, W_z, b, L_h, L_z, L_o, b_o, total;
};
Offsets param_offsets(const Dims& d);

// ---------------------------------------------------------------------------------------------
// Elementwise math. Branch-free so that GCC vectorises the loops that call them (AVX2+FMA);
// accuracy is a few 1e-7 relative, far inside the float32 tolerances of the tests.

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// e^x: x = k ln2 + r with |r| <= ln2/2, e^r by its Taylor polynomial to r^7 (truncation
// < 6e-9), 2^k assembled in the exponent bits. Clamped so that 2^k stays a normal float.
inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // Round to nearest by the 1.5*2^23 trick (vectorises, unlike nearbyint without -ffast-math).
  const float kf = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - kf * 0.693145751953125f;  // ln2 split in a short head and a tail: r is exact
  r = r - kf * 1.428606765330187e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t k = static_cast<int32_t>(kf);
  return p * bits_to_float(static_cast<uint32_t>(k + 127) << 23);
}

// tanh(|x|) = 1 − 2 / (e^{2|x|} + 1). Its absolute error is ~1e-7 everywhere (relative error
// grows only below |x| ~ 0.01, where the value is ~0 next to the O(1) values it is summed or
// multiplied with, so float32 arithmetic downstream has that absolute error anyway). Measured
// 1.7x faster than adding a Taylor branch for small |x|.
inline float fast_tanh(float x) {
  const float ax = std::fabs(x);
  const float y = 1.0f - 2.0f / (fast_exp(2.0f * ax) + 1.0f);
  return x < 0.0f ? -y : y;
}

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// The contract's counter-based random streams, bit for bit as src/model/rng.ts.
inline uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}
inline float uniform01(uint32_t seedHash, uint32_t i) {
  // seedHash = hash32(seed), hoisted out of the loops by the callers.
  return static_cast<float>(hash32(seedHash + i) >> 8) * (1.0f / 16777216.0f);
}
constexpr uint32_t LOCATION_STREAM_XOR = 0x5bd1e995u;

// ---------------------------------------------------------------------------------------------
// BLAS (row-major cblas_sgemm / sgemv with explicit leading dimensions).
void gemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
          float* C, int ldc);
// y = alpha * op(A) x + beta y; A is [rows, cols] with leading dimension lda.
void gemv(bool trans, int rows, int cols, float alpha, const float* A, int lda, const float* x, float beta, float* y);
// Column sums of a [rows, cols] matrix (a GEMV with a vector of ones), written or added.
void colsum(int rows, int cols, const float* A, int lda, float* out, bool accumulate);

int num_threads();
void init_threads();

// ---------------------------------------------------------------------------------------------
// Layers: plain functions on flat float arrays (llm.c style). Strided arguments name their
// leading dimension (ld*). `img` maps a row to its image (nullptr: row b uses image b).

// Attention, one step, rows b in [0, B).
struct AttentionStep {
  int B, L, A, D, hiddenN;
  const int* img;
  const float* P;       // [images, L, A]  a W_a (without b_a)
  const float* feats;   // [images, L, D]
  const float* q;       // [B, A]  h_{t-1} W_h + b_a
  const float* hprev;   // rows of h_{t-1}
  size_t ldh;
  const float* w_att;
  float b_att;
  const float* w_beta;
  float b_beta;
  float* S;             // [B, L, A] out: tanh(P + q), kept for backward
  float* alpha;         // out, row stride ldalpha
  size_t ldalpha;
  float* beta;          // out, stride ldbeta
  size_t ldbeta;
  float* ctx;           // out: Σ α a (soft) or a_s (hard), row stride ldctx
  size_t ldctx;
  float* z1;            // out: ẑ = β ctx, row stride ldz1
  size_t ldz1;
  float* z2;            // optional second copy of ẑ
  size_t ldz2;
  float* entropy;       // optional out H(α), stride ldbeta
  float* logAlphaS;     // optional out log α_s (hard-sample), stride ldbeta
  // Hard-sample: locations in (locIn) or drawn from the stream (index b*T + t), written to locOut.
  bool sample;
  const int* locIn;
  int* locOut;
  size_t ldloc;
  uint32_t locSeedHash;
  int T, t;
  bool reverse;         // visit rows b = B-1 .. 0 (see zigzag in decoder.cc)
};
void attention_forward(const AttentionStep& s);

struct AttentionBackStep {
  int B, L, A, D, T, t;
  const float* feats;   // [B, L, D]
  const float* S;       // [B, L, A]
  const float* alpha; size_t ldalpha;
  const float* beta; size_t ldbeta;
  const float* ctx; size_t ldctx;
  const float* entropy;
  const int* loc;       // hard-sample locations (stride ldbeta), else nullptr
  const float* dz1; size_t lddz1;  // dẑ from the gates
  const float* dz2; size_t lddz2;  // dẑ from the deep output
  const float* mask;    // [B, T]
  const float* cov;     // [B, L] Σ_t mask α
  const float* w_att;
  const float* rewards; // [B] r_b (hard-sample)
  bool soft;
  float lambda, lambdaR, lambdaE, invB;
  float* dP;            // [B, L, A] accumulated
  float* dq;            // out [B, A], row stride lddq
  size_t lddq;
  float* dpreBeta;      // out, stride ldbeta
  bool reverse;
  float* dwAttPartial;  // [threads, A + 1 + L + D]: Σ de S and Σ de (b_att) per thread, then scratch
};
void attention_backward(const AttentionBackStep& s);

// LSTM cell, one step. G holds the pre-activations (without b) and is overwritten by the
// activations i, f, o, g that the backward needs.
void lstm_forward(int B, int n, float* G, size_t ldG, const float* bias, const float* cprev, size_t ldcp, float* c, size_t ldc, float* tanhc,
                  size_t ldtc, float* h1, size_t ldh1, float* h2, size_t ldh2);
// dh = dh_a + dh_b (dh_b may be null); dc_next in/out [B, n] contiguous.
void lstm_backward(int B, int n, const float* G, size_t ldG, const float* cprev, size_t ldcp, const float* tanhc, size_t ldtc,
                   const float* dha, size_t lddha, const float* dhb, size_t lddhb, float* dcNext, float* dG, size_t lddG);

// Deep output + softmax cross entropy over R rows.
// u = tanh(X + pre) in place of pre; ud = dropout(u). Returns nothing; masks from the stream.
void deep_output_forward(int R, int m, const float* X, float* pre_u, float* ud, float p, uint32_t dropSeedHash);
// dpre_u = dud ⊙ keep/(1-p) ⊙ (1 - u²), in place of dud.
void deep_output_backward(int R, int m, const float* u, float* dud, float p, uint32_t dropSeedHash);
// logits (+ b_o) → log p[target] per row; if grad, logits become dℓ = (softmax − onehot) mask / B.
void softmax_xent(int R, int K, float* logits, const float* b_o, const int* targets, const float* mask, float invB, bool grad, double* logp);
// logits (+ b_o) → log_softmax, in place.
void log_softmax_rows(int R, int K, float* logits, const float* b_o);

// Optimisers over the flat buffer.
double sum_squares(const float* g, size_t N);
void adam_update(float* p, const float* g, float* m, float* v, size_t N, float gscale, float lr, float wdFactor, float b1, float b2, float ib1,
                 float ib2, float eps, float rbc1, float rbc2);
void rmsprop_update(float* p, const float* g, float* v, size_t N, float gscale, float lr, float wdFactor, float rho, float irho, float eps);

// ---------------------------------------------------------------------------------------------
// The decoder: workspace sized for the largest (B, T) seen, reused by every step.

enum Mode { MODE_SOFT = 0, MODE_HARD_SAMPLE = 1, MODE_HARD_EXPECT = 2 };

struct StepArgs {
  int B, T;
  const float* features;
  const int* inputs;
  const int* targets;
  const float* mask;
  int mode;
  float dropout;
  uint32_t seed;
  float alphaC, reinforceWeight, entropyWeight, baseline;
  const int* locations;  // nullable
  bool computeGrad;
};

struct StepOut {
  double loss, nll, penalty, entropy, tokens;
  double* logProb;   // [B]
  int* locations;    // [B*T] (hard-sample)
};

struct DecodeContext {
  int numImages;
  std::vector<float> feats, P, abar;
};

class Decoder {
 public:
  explicit Decoder(const Dims& d);
  ~Decoder();
  const Dims dims;
  const Offsets off;
  void forward_backward(const float* params, float* grads, const StepArgs& a, StepOut& out);
  void prepare_decode(const float* params, const float* feats, int numImages, DecodeContext& ctx);
  void initial_state(const float* params, const DecodeContext& ctx, const int* rowImage, int N, float* h, float* c);
  void decode_step(const float* params, const DecodeContext& ctx, const int* rowImage, const int* tokens, int N, float* h, float* c,
                   bool sample, uint32_t sampleSeed, float* logProbs, float* alpha, float* beta, int* locations);
  void release();
  size_t workspace_bytes() const { return wsBytes_; }

 private:
  struct Buf {
    float* p = nullptr;
    size_t cap = 0;
  };
  float* need(Buf& b, size_t n);
  void free_buf(Buf& b);
  size_t wsBytes_ = 0;
  // training
  Buf abar_, h0_, c0_, P_, X_, HZ_, HO_, G_, C_, TC_, q_, S_, alpha_, beta_, ctx_, ent_, logaS_, cov_, U_, UD_, logits_;
  Buf dHZo_, dG_, dHZ_, dQ_, dpb_, dP_, dc_, dX_, dwatt_, ones_, rew_, dpre0_;
  std::vector<int> loc_;
  std::vector<double> logp_;
  // decoding
  Buf dq_, dS_, dHZd_, dG2_, dHO_, dU_, dlog_, dX2_, dctx_;
};

}  // namespace sat
