// Shared declarations of the native decoder engine (docs/engine.md is the contract).
// Row convention everywhere: a (caption b, step t) position is row r = b*T + t, so the rows of
// one step are a strided view (leading dimension T*width) of the all-positions buffers, and the
// dropout index (b*T + t)*m + j of the contract falls out directly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <cstring>
#include <string>
#include <cmath>
#include <algorithm>
#include <array>
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
// Float buffers for the engine's large arrays (kernels.cc): 64-byte aligned. Throws
// std::bad_alloc; free with free_floats. (Huge pages via madvise were tried for the decoding
// contexts and were slower: the kernel compacted memory at each fault. Reusing buffers, see
// Decoder::recycle, is what avoids the first-touch page faults.)
float* alloc_floats(size_t n);
void free_floats(float* p);
// An owned alloc_floats buffer (move-only).
class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t n) : p_(n ? alloc_floats(n) : nullptr), n_(n) {}
  FloatBuffer(FloatBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  FloatBuffer& operator=(FloatBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;
  ~FloatBuffer() { free_floats(p_); }
  float* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

// A weight packed for gemm_packed (packed_gemm.cc): panels of 32 columns of op(W), k-major.
struct PackedMatrix {
  int K = 0, N = 0, panels = 0;
  float* data = nullptr;
  size_t cap = 0;
};
// Packs op(W) [K, N]: W is [K, N] (trans false) or [N, K] (trans true), leading dimension ldw.
void pack_weights(bool trans, int K, int N, const float* W, int ldw, PackedMatrix& out);
void free_packed(PackedMatrix& m);
// C[M, N] = A[M, K] op(W) (+ C when accumulate), with W packed by pack_weights.
void gemm_packed(int M, const float* A, int lda, const PackedMatrix& W, bool accumulate, float* C, int ldc);

// Column sums of a [rows, cols] matrix (a GEMV with a vector of ones), written or added.
void colsum(int rows, int cols, const float* A, int lda, float* out, bool accumulate);

// SAT_PROFILE=1: time and flops of the GEMMs, by shape: [0] M <= 256 rows (the per-step
// GEMMs of B rows), [1] the rest (all-positions GEMMs and weight gradients).
struct GemmProfile {
  double seconds[2] = {0, 0};
  double flops[2] = {0, 0};
};
extern GemmProfile g_gemmProfile;

int num_threads();
void init_threads();
// The BLAS build and kernels, and the best GFLOP/s of `reps` sgemms of one shape through
// gemm() (the engine's own threading), for the bench.
std::string blas_info();
double sgemm_gflops(int M, int N, int K, int reps);

// ---------------------------------------------------------------------------------------------
// Layers: each a forward/backward pair of plain functions on flat float arrays (llm.c style),
// one file per layer. Strided arguments name their leading dimension (ld*). Weight matrices
// are [in, out] views into the flat parameter buffer; their gradients are views into grads.

// tanh(x W + bias), x [rows, D] → out [rows, n] (init_state.cc; also the decoder's initial state).
void tanh_layer_forward(int rows, int D, int n, const float* x, const float* W, const float* bias, float* out);
// Initial state (init_state.cc): ā = mean_i a_i, h_0 = tanh(ā W_ih + b_ih), c_0 = tanh(ā W_ic + b_ic).
void mean_rows(int B, int L, int D, const float* feats, float* abar);
void init_state_forward(int B, int L, int D, int n, const float* feats, const float* W_ih, const float* b_ih, const float* W_ic,
                        const float* b_ic, float* abar, float* h0, float* c0);
// dh_0 (row stride lddh), dc_0 [B, n] → dW_ih, db_ih, dW_ic, db_ic (written). scratch: [2, B, n].
void init_state_backward(int B, int D, int n, const float* abar, const float* h0, const float* c0, const float* dh0, size_t lddh,
                         const float* dc0, float* dW_ih, float* db_ih, float* dW_ic, float* db_ic, float* scratch);

// Embedding (embedding.cc): X[r] = E[tokens[r]]; dE = scatter-add of dX (written).
void embedding_forward(int R, int m, const float* E, const int* tokens, float* X);
void embedding_backward(int R, int K, int m, const int* tokens, const float* dX, float* dE);

// Attention (attention.cc). The image projection P = a W_a is shared by all steps (b_a is
// added to the query instead); its backward runs once, after the recurrence.
void attention_project_forward(int rows, int D, int A, const float* feats, const float* W_a, float* P);
void attention_project_backward(int rows, int D, int A, const float* feats, const float* dP, float* dW_a, float* db_a);

// One step over rows b in [0, B): q = h_{t-1} W_h + b_a, S = tanh(P + q), α, β, the context.
// `img` maps a row to its image (nullptr: row b uses image b).
struct AttentionStep {
  int B, L, A, D, hiddenN;
  const int* img;
  const float* P;       // [images, L, A]  a W_a (without b_a)
  const float* feats;   // [images, L, D]
  // The same features as float16 (decoding, when every value is a float16: then feats is
  // unused), else nullptr. Half the bytes of the stream that bounds the step's attention.
  const uint16_t* featsHalf;
  const float* W_h;     // [n, A]
  const PackedMatrix* W_hPacked;  // W_h packed (training), else nullptr: W_h through the BLAS
  const float* b_a;     // [A]
  float* q;             // [B, A] scratch: h_{t-1} W_h + b_a
  const float* hprev;   // rows of h_{t-1}
  size_t ldh;
  const float* w_att;
  float b_att;
  const float* w_beta;
  float b_beta;
  float* S;             // [B, L, A] out: tanh(P + q), kept for backward (nullptr: not kept)
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
// Decoding's copy of the annotation vectors: their float16 bits into dst (returns true) when
// every one of the n values is a float16, which those read from a feature store are; else a
// float32 copy (false). SAT_NO_HALF_FEATURES=1 always copies.
bool store_features(const float* src, size_t n, float* dst);
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define SAT_HALF_FEATURES 1
// The same from float16 bits (a feature store's): dst holds them widened by half_to_float;
// they replace it (true) unless SAT_NO_HALF_FEATURES=1 (false: dst stays float32).
bool keep_half_features(const uint16_t* src, size_t n, float* dst);
void half_to_float(const uint16_t* src, size_t n, float* dst);
#endif

// The step's backward: dP (accumulated over steps), dq and dpreβ (kept for the weight
// gradients), and dh_prev += dq W_hᵀ + dpreβ w_beta.
struct AttentionBackStep {
  int B, L, A, D, T, t, hiddenN;
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
  const float* W_h;
  const PackedMatrix* W_hT;  // W_hᵀ packed, else nullptr: W_h through the BLAS
  const float* w_beta;
  const float* rewards; // [B] r_b (hard-sample)
  bool soft;
  float lambda, lambdaR, lambdaE, invB;
  float* dP;            // [B, L, A] accumulated
  float* dq;            // out [B, A], row stride lddq
  size_t lddq;
  float* dpreBeta;      // out, stride ldbeta
  float* dh;            // dh_prev, row stride lddh: dq W_hᵀ + dpreβ w_beta added
  size_t lddh;
  bool reverse;
  float* dwAttPartial;  // [threads, A + 1 + L + D]: Σ de S and Σ de (b_att) per thread, then scratch
};
void attention_backward(const AttentionBackStep& s);
// The attention weights' gradients over all R rows, after the recurrence: dW_h = H_prevᵀ dQ,
// dw_beta = H_prevᵀ dpreβ, db_beta = Σ dpreβ, and dw_att, db_att from the per-thread partials.
void attention_weight_backward(int R, int n, int A, int L, int D, const float* Hprev, size_t ldh, const float* dQ, const float* dpreBeta,
                               const float* dwAttPartial, int threads, float* dW_h, float* dw_beta, float* db_beta, float* dw_att,
                               float* db_att);

// LSTM (lstm.cc), one step. G holds G^x_t (= X_t W_x, without b) on entry; the step adds
// [h_{t-1} | ẑ_t] [U; W_z] and overwrites G with the activations i, f, o, g the backward needs.
// UWzPacked: [U; W_z] packed (training), else nullptr and UWz goes through the BLAS.
void lstm_forward(int B, int n, int nD, const float* HZ, size_t ldHZ, const float* UWz, const PackedMatrix* UWzPacked, float* G, size_t ldG,
                  const float* bias,
                  const float* cprev, size_t ldcp, float* c, size_t ldc, float* tanhc, size_t ldtc, float* h1, size_t ldh1, float* h2,
                  size_t ldh2);
// lstm_forward after its GEMM: G holds the gates' pre-activations (without b).
void lstm_cell_forward(int B, int n, float* G, size_t ldG, const float* bias, const float* cprev, size_t ldcp, float* c, size_t ldc,
                       float* tanhc, size_t ldtc, float* h1, size_t ldh1, float* h2, size_t ldh2);
// dh = dh_a + dh_b (dh_b may be null); dc_next in/out [B, n] contiguous; dG out; then
// dHZ = dG [U; W_z]ᵀ = [dh_prev | dẑ_gates] [B, nD] contiguous (written).
void lstm_backward(int B, int n, int nD, const float* G, size_t ldG, const float* cprev, size_t ldcp, const float* tanhc, size_t ldtc,
                   const float* dha, size_t lddha, const float* dhb, size_t lddhb, const float* UWz, const PackedMatrix* UWzT, float* dcNext,
                   float* dG, size_t lddG, float* dHZ);
// The input projection of all R rows at once: G = X W_x (before the recurrence).
void lstm_input_forward(int R, int m, int n, const float* X, const float* W_x, float* G);
// Weight gradients over all R rows, after the recurrence: d[U; W_z] = HZᵀ dG, dW_x = Xᵀ dG,
// db = Σ dG (written), and dX += dG W_xᵀ.
void lstm_weight_backward(int R, int m, int n, int nD, const float* X, const float* HZ, const float* dG, const float* W_x, float* dUWz,
                          float* dW_x, float* db, float* dX);

// Deep output (output.cc) over R rows: U = tanh(X + HO [L_h; L_z]), UD = dropout(U) from the stream.
// L_hzPacked: [L_h; L_z] packed (decoding), else nullptr and L_hz goes through the BLAS.
void deep_output_forward(int R, int m, int nD, const float* HO, const float* L_hz, const float* X, float* U, float* UD, float p,
                         uint32_t dropSeedHash, const PackedMatrix* L_hzPacked = nullptr);
// dUD in, overwritten by dpre = dUD ⊙ keep/(1-p) ⊙ (1 - U²); then d[L_h; L_z] = HOᵀ dpre,
// dHO = dpre [L_h; L_z]ᵀ, dX = dpre (all written).
void deep_output_backward(int R, int m, int nD, const float* HO, const float* L_hz, const float* U, float* dUD, float p, uint32_t dropSeedHash,
                          float* dL_hz, float* dHO, float* dX);
// Output layer: logits = UD L_o + b_o → log p[target] per row; with grad, logits become
// dℓ = (softmax − onehot) mask / B.
void output_forward(int R, int m, int K, const float* UD, const float* L_o, const float* b_o, float* logits, const int* targets,
                    const float* mask, float invB, bool grad, double* logp);
// dL_o = UDᵀ dℓ, db_o = Σ dℓ (written), dUD = dℓ L_oᵀ (written).
void output_backward(int R, int m, int K, const float* UD, const float* L_o, const float* dlogits, float* dL_o, float* db_o, float* dUD);
// logits (+ b_o) → log_softmax, in place (decoding).
void log_softmax_rows(int R, int K, float* logits, const float* b_o);
// The k largest of each row of lp [R, K] that blocked (K flags, or nullptr) allows, best first,
// ties to the smaller index: ids/vals [R, k]; -1 / -inf where fewer than k are allowed.
void top_k_rows(int R, int K, const float* lp, const uint8_t* blocked, int k, int* ids, float* vals);

// Optimisers over the flat buffer.
double sum_squares(const float* g, size_t N);
void adam_update(float* p, const float* g, float* m, float* v, size_t N, float gscale, float lr, float wdFactor, float b1, float b2, float ib1,
                 float ib2, float eps, float rbc1, float rbc2);
void rmsprop_update(float* p, const float* g, float* v, size_t N, float gscale, float lr, float wdFactor, float rho, float irho, float eps);

// ---------------------------------------------------------------------------------------------
// The decoder: a training step is forward() then backward() over the activations record; the
// workspace is sized for the largest (B, T) seen and reused by every step.

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

// Everything the forward pass keeps for the backward pass (rows r = b*T + t, R = B*T).
struct Activations {
  int B = 0, T = 0;
  float* abar;    // [B, D] mean annotation
  float* h0;      // [B, n]
  float* c0;      // [B, n]
  float* P;       // [B, L, A] a W_a
  float* X;       // [R, m] embeddings of the inputs
  float* HZ;      // [R, n+D] [h_{t-1} | ẑ_t]: the gates' input
  float* HO;      // [R, n+D] [h_t | ẑ_t]: the deep output's input
  float* G;       // [R, 4n] activated gates i, f, o, g
  float* C;       // [R, n] c_t
  float* TC;      // [R, n] tanh(c_t)
  float* q;       // [B, A] scratch of the current step's query
  float* S;       // [T, B, L, A] tanh(P + q_t)
  float* alpha;   // [R, L]
  float* beta;    // [R]
  float* ctx;     // [R, D] Σ α a or a_s
  float* ent;     // [R] H(α)
  float* logaS;   // [R] log α_s (hard-sample)
  float* cov;     // [B, L] Σ_t mask α
  float* U;       // [R, m] tanh of the deep output
  float* UD;      // [R, m] dropout(U)
  float* logits;  // [R, K] softmax, then dℓ
  int* loc;       // [R] locations (hard-sample)
  double* logp;   // [R] log p[target]
};

// Gradients of the activations: the backward pass's scratch.
struct ActivationGrads {
  float* dHO;     // [R, n+D] from the deep output
  float* dX;      // [R, m]
  float* dc;      // [B, n] dc_next
  float* dHZ;     // [B, n+D] [dh_prev | dẑ_gates] of the current step
  float* dG;      // [R, 4n]
  float* dQ;      // [R, A]
  float* dpreBeta;// [R]
  float* dP;      // [B, L, A]
  float* dwAtt;   // [threads, A + 1 + L + D]
  float* rewards; // [B]
  float* initScratch;  // [2, B, n]
};

// A decoding call's images and weights. It captures the weights at prepare_decode: P = a W_a,
// and the weights of every per-step GEMM packed once (a BLAS call would repack its B operand,
// up to 63 MB at the default size, at every step of the decoding).
struct DecodeContext {
  int numImages = 0;
  // feats holds float32 features, or (featsHalf) their float16 bits in its first half: the
  // features of a float16 feature store convert back exactly, and the attention of every
  // step streams all of them.
  FloatBuffer feats, P, abar;
  bool featsHalf = false;
  PackedMatrix W_h, UWz, W_x, L_hz, L_o;
  // E[token] W_x of every token decoded so far, computed once per token (row slot[token] of
  // XW, rows in order of first use; room for all K, of which only the used rows are touched):
  // beam search feeds back a few thousand distinct words, each at many steps and rows.
  // Mutable: a cache, filled by decode_step on the JS thread (one call at a time).
  mutable std::vector<int> slot;
  mutable FloatBuffer XW;
  mutable int cachedRows = 0;
  mutable int steps = 0;  // decode_step calls so far: alternate steps visit the rows in reverse (zigzag)
  DecodeContext() = default;
  DecodeContext(const DecodeContext&) = delete;
  DecodeContext& operator=(const DecodeContext&) = delete;
  ~DecodeContext() {
    for (PackedMatrix* pm : packs()) free_packed(*pm);
  }
  // Every buffer and packed weight, in one order (prepare_decode, recycle and release walk them).
  std::array<FloatBuffer*, 4> buffers() { return {&feats, &P, &abar, &XW}; }
  std::array<PackedMatrix*, 5> packs() { return {&W_h, &UWz, &W_x, &L_hz, &L_o}; }
  size_t bytes() const {
    return sizeof(float) * (feats.size() + P.size() + abar.size() + XW.size() + W_h.cap + UWz.cap + W_x.cap + L_hz.cap + L_o.cap) + sizeof(int) * slot.capacity();
  }
};

class Decoder {
 public:
  explicit Decoder(const Dims& d);
  ~Decoder();
  const Dims dims;
  const Offsets off;
  // forward() fills the activations and out; backward() (after forward() with the same args,
  // computeGrad set) overwrites every gradient.
  void forward(const float* params, const StepArgs& a, StepOut& out);
  void backward(const float* params, float* grads, const StepArgs& a, const StepOut& out);
  // prepare_decode takes its buffers from the last recycled context where they are large
  // enough: fresh 100 MB buffers cost more in page faults than the projection that fills them.
  // The features are float32 (feats) or, where SAT_HALF_FEATURES, float16 bits (featsHalf,
  // feats nullptr).
  void prepare_decode(const float* params, const float* feats, const uint16_t* featsHalf, int numImages, DecodeContext& ctx);
  // Keeps ctx's buffers for the next prepare_decode and leaves ctx empty.
  void recycle(DecodeContext& ctx);
  void initial_state(const float* params, const DecodeContext& ctx, const int* rowImage, int N, float* h, float* c);
  // logProbs [N, K] out, or nullptr when only the top k of each row is wanted (topK > 0:
  // topIds/topLogProbs [N, topK], see top_k_rows).
  void decode_step(const float* params, const DecodeContext& ctx, const int* rowImage, const int* tokens, int N, float* h, float* c,
                   bool sample, uint32_t sampleSeed, float* logProbs, float* alpha, float* beta, int* locations, int topK = 0,
                   const uint8_t* blocked = nullptr, int* topIds = nullptr, float* topLogProbs = nullptr);
  void release();
  size_t workspace_bytes() const {
    return wsBytes_ + sizeof(float) * (packUWz_.cap + packWh_.cap + packUWzT_.cap + packWhT_.cap) + spare_.bytes();
  }

 private:
  struct Buf {
    float* p = nullptr;
    size_t cap = 0;
  };
  float* need(Buf& b, size_t n);
  void free_buf(Buf& b);
  void size_activations(int B, int T);
  // The per-step GEMMs' weights, packed once per pass (packed_gemm.cc).
  PackedMatrix packUWz_, packWh_, packUWzT_, packWhT_;
  void size_activation_grads();
  void losses(const StepArgs& a, StepOut& out);
  size_t wsBytes_ = 0;
  Activations acts_;
  ActivationGrads grads_{};
  // training
  Buf abar_, h0_, c0_, P_, X_, HZ_, HO_, G_, C_, TC_, q_, S_, alpha_, beta_, ctx_, ent_, logaS_, cov_, U_, UD_, logits_;
  Buf dHO_, dX_, dc_, dHZ_, dG_, dQ_, dpb_, dP_, dwatt_, rew_, dinit_;
  std::vector<int> loc_;
  std::vector<double> logp_;
  // decoding
  DecodeContext spare_;  // a recycled context's buffers
  Buf dLP_, dq_, dHZd_, dG2_, dHO2_, dU_, dUD_, dX2_, dctx_, dTC_;
  // Rows of one decoding step that share (image, h_{t-1}): their distinct rows (decode_step).
  Buf dHOu_, dAlphaU_, dBetaU_, dGu_;
  std::vector<int> rowRep_, repRow_, repImage_;
};

}  // namespace sat
