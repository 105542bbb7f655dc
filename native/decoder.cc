// The decoder: a training step is forward() — initial state, attention projection, embedding,
// the recurrence over T steps (attention + LSTM), the deep output and the output layer — into
// the activations record, then backward(), which calls each layer's backward in reverse order
// (docs/engine.md). Work that does not depend on the recurrence runs as large GEMMs over all
// B*T rows; the per-step GEMMs read strided views (row r = b*T + t). The workspace grows to
// the largest (B, T) seen and is then reused: nothing is allocated per step.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "sat.h"

namespace sat {

// SAT_PROFILE=1: per-phase wall times of each step on stderr (the measurements behind the
// arrangement and threading choices).
namespace {
const bool kProfile = [] {
  const char* e = std::getenv("SAT_PROFILE");
  return e && e[0] == '1';
}();
struct Phases {
  double t[16] = {0};
  const char* name[16] = {nullptr};
  double last = 0;
  void start() {
    if (!kProfile) return;
    for (double& x : t) x = 0;
    g_gemmProfile = GemmProfile{};
    last = omp_get_wtime();
  }
  void lap(int i, const char* n) {
    if (!kProfile) return;
    const double now = omp_get_wtime();
    t[i] += now - last;
    name[i] = n;
    last = now;
  }
  void print() {
    if (!kProfile) return;
    double total = 0;
    for (double x : t) total += x;
    std::fprintf(stderr, "[sat profile] total %.1f ms:", total * 1e3);
    for (int i = 0; i < 16; i++)
      if (name[i]) std::fprintf(stderr, " %s %.1f", name[i], t[i] * 1e3);
    const GemmProfile& g = g_gemmProfile;
    std::fprintf(stderr, " | gemm M<=256: %.1f ms %.1f GFLOP %.1f GFLOP/s; larger: %.1f ms %.1f GFLOP %.1f GFLOP/s\n", g.seconds[0] * 1e3,
                 g.flops[0] / 1e9, g.flops[0] / 1e9 / std::max(g.seconds[0], 1e-9), g.seconds[1] * 1e3, g.flops[1] / 1e9,
                 g.flops[1] / 1e9 / std::max(g.seconds[1], 1e-9));
  }
};
Phases prof;
// Zigzag: consecutive steps visit the captions in opposite orders, so each step starts on the
// features / P / S rows the previous one touched last, which are still in L3 (the per-step
// working set, ~100 MB at the default size, is 3x the 32 MB L3). Decoding does the same over its
// steps' rows (64 images' features and P are ~50 MB). SAT_NO_ZIGZAG=1 turns it off.
const bool kZigzag = [] {
  const char* e = std::getenv("SAT_NO_ZIGZAG");
  return !(e && e[0] == '1');
}();
// SAT_NO_PACK=1: the per-step GEMMs go through the BLAS on the unpacked weights (the
// comparison behind packed_gemm.cc).
const bool kPack = [] {
  const char* e = std::getenv("SAT_NO_PACK");
  return !(e && e[0] == '1');
}();
}  // namespace

Decoder::Decoder(const Dims& d) : dims(d), off(param_offsets(d)) {}
Decoder::~Decoder() { release(); }

float* Decoder::need(Buf& b, size_t n) {
  if (n > b.cap) {
    free_buf(b);
    const size_t bytes = ((n * sizeof(float)) + 63) / 64 * 64;
    b.p = alloc_floats(n);
    b.cap = n;
    wsBytes_ += bytes;
  }
  return b.p;
}

void Decoder::free_buf(Buf& b) {
  if (b.p) {
    wsBytes_ -= ((b.cap * sizeof(float)) + 63) / 64 * 64;
    free_floats(b.p);
  }
  b.p = nullptr;
  b.cap = 0;
}

void Decoder::release() {
  for (Buf* b : {&abar_, &h0_, &c0_, &P_, &X_, &HZ_, &HO_, &G_, &C_, &TC_, &q_, &S_, &alpha_, &beta_, &ctx_, &ent_, &logaS_, &cov_, &U_, &UD_,
                 &logits_, &dHO_, &dX_, &dc_, &dHZ_, &dG_, &dQ_, &dpb_, &dP_, &dwatt_, &rew_, &dinit_, &dLP_, &dq_, &dHZd_, &dG2_, &dHO2_,
                 &dU_, &dUD_, &dX2_, &dctx_, &dTC_, &dHOu_, &dAlphaU_, &dBetaU_, &dGu_})
    free_buf(*b);
  for (PackedMatrix* pm : {&packUWz_, &packWh_, &packUWzT_, &packWhT_}) free_packed(*pm);
  for (FloatBuffer* b : spare_.buffers()) *b = FloatBuffer();
  for (PackedMatrix* pm : spare_.packs()) free_packed(*pm);
  loc_ = std::vector<int>();
  logp_ = std::vector<double>();
  acts_ = Activations{};
  grads_ = ActivationGrads{};
}

void Decoder::size_activations(int B, int T) {
  const size_t R = (size_t)B * T;
  const int K = dims.K, m = dims.m, n = dims.n, A = dims.A, D = dims.D, L = dims.L;
  const size_t nD = (size_t)n + D;
  Activations& x = acts_;
  x.B = B;
  x.T = T;
  x.abar = need(abar_, (size_t)B * D);
  x.h0 = need(h0_, (size_t)B * n);
  x.c0 = need(c0_, (size_t)B * n);
  x.P = need(P_, (size_t)B * L * A);
  x.X = need(X_, R * m);
  x.HZ = need(HZ_, R * nD);
  x.HO = need(HO_, R * nD);
  x.G = need(G_, R * 4 * n);
  x.C = need(C_, R * n);
  x.TC = need(TC_, R * n);
  x.q = need(q_, (size_t)B * A);
  x.S = need(S_, (size_t)T * B * L * A);
  x.alpha = need(alpha_, R * L);
  x.beta = need(beta_, R);
  x.ctx = need(ctx_, R * D);
  x.ent = need(ent_, R);
  x.logaS = need(logaS_, R);
  x.cov = need(cov_, (size_t)B * L);
  x.U = need(U_, R * m);
  x.UD = need(UD_, R * m);
  x.logits = need(logits_, R * K);
  if (loc_.size() < R) loc_.resize(R);
  if (logp_.size() < R) logp_.resize(R);
  x.loc = loc_.data();
  x.logp = logp_.data();
}

void Decoder::size_activation_grads() {
  const int B = acts_.B;
  const size_t R = (size_t)B * acts_.T;
  const int m = dims.m, n = dims.n, A = dims.A, D = dims.D, L = dims.L;
  const size_t nD = (size_t)n + D;
  ActivationGrads& d = grads_;
  d.dHO = need(dHO_, R * nD);
  d.dX = need(dX_, R * m);
  d.dc = need(dc_, (size_t)B * n);
  d.dHZ = need(dHZ_, (size_t)B * nD);
  d.dG = need(dG_, R * 4 * n);
  d.dQ = need(dQ_, R * A);
  d.dpreBeta = need(dpb_, R);
  d.dP = need(dP_, (size_t)B * L * A);
  d.dwAtt = need(dwatt_, (size_t)num_threads() * (A + 1 + L + D));
  d.rewards = need(rew_, (size_t)B);
  d.initScratch = need(dinit_, (size_t)2 * B * n);
}

void Decoder::forward(const float* W, const StepArgs& a, StepOut& out) {
  const int B = a.B, T = a.T, R = B * T;
  const int K = dims.K, m = dims.m, n = dims.n, A = dims.A, D = dims.D, L = dims.L;
  const int nD = n + D, G4 = 4 * n;
  const bool hardSample = a.mode == MODE_HARD_SAMPLE;
  size_activations(B, T);
  const Activations& x = acts_;

  prof.start();
  init_state_forward(B, L, D, n, a.features, W + off.W_ih, W + off.b_ih, W + off.W_ic, W + off.b_ic, x.abar, x.h0, x.c0);
  attention_project_forward(B * L, D, A, a.features, W + off.W_a, x.P);
  embedding_forward(R, m, W + off.E, a.inputs, x.X);
  lstm_input_forward(R, m, n, x.X, W + off.W_x, x.G);
  if (kPack) {
    pack_weights(false, nD, G4, W + off.U, G4, packUWz_);
    pack_weights(false, n, A, W + off.W_h, A, packWh_);
  }
  const PackedMatrix* UWzPacked = kPack ? &packUWz_ : nullptr;
  const PackedMatrix* WhPacked = kPack ? &packWh_ : nullptr;
  for (int b = 0; b < B; b++) std::memcpy(x.HZ + (size_t)b * T * nD, x.h0 + (size_t)b * n, sizeof(float) * n);
  prof.lap(0, "f.prep");

  const size_t ldR = (size_t)T;  // stride of per-row scalars between captions
  const uint32_t locSeedHash = hash32(a.seed ^ LOCATION_STREAM_XOR);
  for (int t = 0; t < T; t++) {
    AttentionStep st{};
    st.B = B; st.L = L; st.A = A; st.D = D; st.hiddenN = n;
    st.img = nullptr; st.P = x.P; st.feats = a.features;
    st.W_h = W + off.W_h; st.W_hPacked = WhPacked; st.b_a = W + off.b_a; st.q = x.q;
    st.hprev = x.HZ + (size_t)t * nD; st.ldh = (size_t)T * nD;
    st.w_att = W + off.w_att; st.b_att = W[off.b_att]; st.w_beta = W + off.w_beta; st.b_beta = W[off.b_beta];
    st.S = x.S + (size_t)t * B * L * A;
    st.alpha = x.alpha + (size_t)t * L; st.ldalpha = (size_t)T * L;
    st.beta = x.beta + t; st.ldbeta = ldR;
    st.ctx = x.ctx + (size_t)t * D; st.ldctx = (size_t)T * D;
    st.z1 = x.HZ + (size_t)t * nD + n; st.ldz1 = (size_t)T * nD;
    st.z2 = x.HO + (size_t)t * nD + n; st.ldz2 = (size_t)T * nD;
    st.entropy = x.ent + t;
    st.logAlphaS = hardSample ? x.logaS + t : nullptr;
    st.sample = hardSample;
    st.locIn = a.locations ? a.locations + t : nullptr;
    st.locOut = x.loc + t; st.ldloc = ldR;
    st.locSeedHash = locSeedHash; st.T = T; st.t = t;
    st.reverse = kZigzag && (t & 1);
    attention_forward(st);
    prof.lap(1, "f.att");

    const float* cprev = t == 0 ? x.c0 : x.C + (size_t)(t - 1) * n;
    const size_t ldcp = t == 0 ? (size_t)n : (size_t)T * n;
    float* h2 = t + 1 < T ? x.HZ + (size_t)(t + 1) * nD : nullptr;
    lstm_forward(B, n, nD, x.HZ + (size_t)t * nD, (size_t)T * nD, W + off.U, UWzPacked, x.G + (size_t)t * G4, (size_t)T * G4, W + off.b, cprev, ldcp,
                 x.C + (size_t)t * n, (size_t)T * n, x.TC + (size_t)t * n, (size_t)T * n, x.HO + (size_t)t * nD, (size_t)T * nD, h2,
                 (size_t)T * nD);
    prof.lap(2, "f.lstm");
  }

  deep_output_forward(R, m, nD, x.HO, W + off.L_h, x.X, x.U, x.UD, a.dropout, hash32(a.seed));
  output_forward(R, m, K, x.UD, W + off.L_o, W + off.b_o, x.logits, a.targets, a.mask, 1.0f / B, a.computeGrad, x.logp);
  prof.lap(3, "f.out");
  losses(a, out);
  if (!a.computeGrad) prof.print();
}

// The objective's terms from the forward's log p, α and entropies (double accumulation), and
// the coverage Σ_t mask α that the penalty's backward needs.
void Decoder::losses(const StepArgs& a, StepOut& out) {
  const int B = a.B, T = a.T, R = B * T, L = dims.L;
  const bool hardSample = a.mode == MODE_HARD_SAMPLE;
  const Activations& x = acts_;
  double nll = 0, tokens = 0, entSum = 0, pen = 0, reinforce = 0;
  for (int b = 0; b < B; b++) {
    double lp = 0;
    float* cov = x.cov + (size_t)b * L;
    for (int l = 0; l < L; l++) cov[l] = 0.0f;
    for (int t = 0; t < T; t++) {
      const size_t r = (size_t)b * T + t;
      const float mk = a.mask[r];
      lp += mk * x.logp[r];
      tokens += mk;
      entSum += mk * x.ent[r];
      if (mk != 0.0f) {
        const float* al = x.alpha + r * L;
        for (int l = 0; l < L; l++) cov[l] += mk * al[l];
      }
    }
    out.logProb[b] = lp;
    nll -= lp;
    for (int l = 0; l < L; l++) {
      const double v = 1.0 - cov[l];
      pen += v * v;
    }
    if (hardSample) {
      const double rb = lp - a.baseline;
      double s = 0;
      for (int t = 0; t < T; t++) s += a.mask[(size_t)b * T + t] * x.logaS[(size_t)b * T + t];
      reinforce += rb * s;
    }
  }
  out.nll = nll / B;
  out.penalty = a.alphaC * pen / B;
  out.tokens = tokens;
  out.entropy = tokens > 0 ? entSum / tokens : 0.0;
  out.loss = out.nll + out.penalty;
  if (hardSample) {
    out.loss -= (double)a.reinforceWeight * reinforce / B + (double)a.entropyWeight * entSum / B;
    std::memcpy(out.locations, x.loc, sizeof(int) * R);
  }
}

void Decoder::backward(const float* W, float* g, const StepArgs& a, const StepOut& out) {
  const int B = a.B, T = a.T, R = B * T;
  const int K = dims.K, m = dims.m, n = dims.n, A = dims.A, D = dims.D, L = dims.L;
  const int nD = n + D, G4 = 4 * n;
  const bool hardSample = a.mode == MODE_HARD_SAMPLE;
  size_activation_grads();
  const Activations& x = acts_;
  const ActivationGrads& d = grads_;
  const int nt = num_threads();

  // Output layer (the logits hold dℓ), then the deep output. U is dead after its backward's
  // mask, so dŨ reuses UD's memory.
  float* dUD = x.UD;
  output_backward(R, m, K, x.UD, W + off.L_o, x.logits, g + off.L_o, g + off.b_o, dUD);
  deep_output_backward(R, m, nD, x.HO, W + off.L_h, x.U, dUD, a.dropout, hash32(a.seed), g + off.L_h, d.dHO, d.dX);

  std::memset(d.dc, 0, sizeof(float) * B * n);
  std::memset(d.dwAtt, 0, sizeof(float) * nt * (A + 1 + L + D));
  #pragma omp parallel for schedule(static)
  for (int b = 0; b < B; b++) std::memset(d.dP + (size_t)b * L * A, 0, sizeof(float) * L * A);
  for (int b = 0; b < B; b++) d.rewards[b] = (float)(out.logProb[b] - a.baseline);
  if (kPack) {
    pack_weights(true, G4, nD, W + off.U, G4, packUWzT_);
    pack_weights(true, A, n, W + off.W_h, A, packWhT_);
  }
  const PackedMatrix* UWzT = kPack ? &packUWzT_ : nullptr;
  const PackedMatrix* WhT = kPack ? &packWhT_ : nullptr;
  prof.lap(4, "b.out");

  const size_t ldR = (size_t)T;
  for (int t = T - 1; t >= 0; t--) {
    const float* cprev = t == 0 ? x.c0 : x.C + (size_t)(t - 1) * n;
    const size_t ldcp = t == 0 ? (size_t)n : (size_t)T * n;
    lstm_backward(B, n, nD, x.G + (size_t)t * G4, (size_t)T * G4, cprev, ldcp, x.TC + (size_t)t * n, (size_t)T * n, d.dHO + (size_t)t * nD,
                  (size_t)T * nD, t == T - 1 ? nullptr : d.dHZ, nD, W + off.U, UWzT, d.dc, d.dG + (size_t)t * G4, (size_t)T * G4, d.dHZ);
    prof.lap(5, "b.lstm");

    AttentionBackStep bs{};
    bs.B = B; bs.L = L; bs.A = A; bs.D = D; bs.T = T; bs.t = t; bs.hiddenN = n;
    bs.feats = a.features;
    bs.S = x.S + (size_t)t * B * L * A;
    bs.alpha = x.alpha + (size_t)t * L; bs.ldalpha = (size_t)T * L;
    bs.beta = x.beta + t; bs.ldbeta = ldR;
    bs.ctx = x.ctx + (size_t)t * D; bs.ldctx = (size_t)T * D;
    bs.entropy = x.ent + t;
    bs.loc = hardSample ? x.loc + t : nullptr;
    bs.dz1 = d.dHZ + n; bs.lddz1 = nD;
    bs.dz2 = d.dHO + (size_t)t * nD + n; bs.lddz2 = (size_t)T * nD;
    bs.mask = a.mask; bs.cov = x.cov; bs.w_att = W + off.w_att; bs.W_h = W + off.W_h; bs.W_hT = WhT; bs.w_beta = W + off.w_beta;
    bs.rewards = d.rewards;
    bs.soft = !hardSample;
    bs.lambda = a.alphaC; bs.lambdaR = a.reinforceWeight; bs.lambdaE = a.entropyWeight; bs.invB = 1.0f / B;
    bs.dP = d.dP; bs.dq = d.dQ + (size_t)t * A; bs.lddq = (size_t)T * A;
    bs.dpreBeta = d.dpreBeta + t; bs.dh = d.dHZ; bs.lddh = nD; bs.dwAttPartial = d.dwAtt;
    bs.reverse = kZigzag && !(t & 1);
    attention_backward(bs);
    prof.lap(6, "b.att");
  }

  lstm_weight_backward(R, m, n, nD, x.X, x.HZ, d.dG, W + off.W_x, g + off.U, g + off.W_x, g + off.b, d.dX);
  attention_weight_backward(R, n, A, L, D, x.HZ, nD, d.dQ, d.dpreBeta, d.dwAtt, nt, g + off.W_h, g + off.w_beta, g + off.b_beta,
                            g + off.w_att, g + off.b_att);
  prof.lap(7, "b.wgrad");
  attention_project_backward(B * L, D, A, a.features, d.dP, g + off.W_a, g + off.b_a);
  prof.lap(8, "b.dWa");
  embedding_backward(R, K, m, a.inputs, d.dX, g + off.E);
  init_state_backward(B, D, n, x.abar, x.h0, x.c0, d.dHZ, nD, d.dc, g + off.W_ih, g + off.b_ih, g + off.W_ic, g + off.b_ic, d.initScratch);
  prof.lap(9, "b.rest");
  prof.print();
}

// ------------------------------------------------------------------------------------ decoding

void Decoder::prepare_decode(const float* W, const float* feats, const uint16_t* featsHalf, int numImages, DecodeContext& ctx) {
  const int L = dims.L, D = dims.D, A = dims.A, n = dims.n, m = dims.m, K = dims.K;
  const int nD = n + D;
  prof.start();
  ctx.numImages = numImages;
  auto take = [](FloatBuffer& dst, FloatBuffer& spare, size_t n) {
    if (spare.size() >= n) {
      dst = std::move(spare);
      spare = FloatBuffer();
    } else {
      dst = FloatBuffer(n);
    }
  };
  take(ctx.feats, spare_.feats, (size_t)numImages * L * D);
  take(ctx.P, spare_.P, (size_t)numImages * L * A);
  take(ctx.abar, spare_.abar, (size_t)numImages * D);
  take(ctx.XW, spare_.XW, (size_t)K * 4 * n);
  // pack_weights reuses a PackedMatrix's memory when it is large enough.
  for (int i = 0; i < 5; i++) std::swap(*ctx.packs()[i], *spare_.packs()[i]);
  const size_t values = (size_t)numImages * L * D;
#if SAT_HALF_FEATURES
  // Float16 input is widened into ctx.feats for P and the mean (one GEMM over all images, as
  // from float32 input: a different M can change the BLAS's summation order), then replaced
  // there by its float16 bits.
  if (featsHalf) {
    half_to_float(featsHalf, values, ctx.feats.data());
    feats = ctx.feats.data();
  }
#endif
  if (!featsHalf) ctx.featsHalf = store_features(feats, values, ctx.feats.data());
  prof.lap(0, "p.copy");
  attention_project_forward(numImages * L, D, A, feats, W + off.W_a, ctx.P.data());
  mean_rows(numImages, L, D, feats, ctx.abar.data());
#if SAT_HALF_FEATURES
  if (featsHalf) ctx.featsHalf = keep_half_features(featsHalf, values, ctx.feats.data());
#endif
  prof.lap(1, "p.P+mean");
  pack_weights(false, n, A, W + off.W_h, A, ctx.W_h);
  pack_weights(false, nD, 4 * n, W + off.U, 4 * n, ctx.UWz);
  pack_weights(false, m, 4 * n, W + off.W_x, 4 * n, ctx.W_x);
  pack_weights(false, nD, m, W + off.L_h, m, ctx.L_hz);
  pack_weights(false, m, K, W + off.L_o, K, ctx.L_o);
  ctx.slot.assign(K, -1);
  ctx.cachedRows = 0;
  ctx.steps = 0;
  prof.lap(3, "p.pack");
  prof.print();
}

void Decoder::recycle(DecodeContext& ctx) {
  for (int i = 0; i < 4; i++) {
    *spare_.buffers()[i] = std::move(*ctx.buffers()[i]);
    *ctx.buffers()[i] = FloatBuffer();  // frees the spare's previous buffer, now in ctx's
  }
  for (int i = 0; i < 5; i++) {
    std::swap(*ctx.packs()[i], *spare_.packs()[i]);
    free_packed(*ctx.packs()[i]);
  }
  ctx.numImages = 0;
  ctx.featsHalf = false;
  ctx.slot.clear();
  ctx.slot.shrink_to_fit();
  ctx.cachedRows = 0;
  ctx.steps = 0;
}

void Decoder::initial_state(const float* W, const DecodeContext& ctx, const int* rowImage, int N, float* h, float* c) {
  const int D = dims.D, n = dims.n;
  float* x = need(dX2_, (size_t)N * D);
  for (int r = 0; r < N; r++) std::memcpy(x + (size_t)r * D, ctx.abar.data() + (size_t)rowImage[r] * D, sizeof(float) * D);
  tanh_layer_forward(N, D, n, x, W + off.W_ih, W + off.b_ih, h);
  tanh_layer_forward(N, D, n, x, W + off.W_ic, W + off.b_ic, c);
}

void Decoder::decode_step(const float* W, const DecodeContext& dc, const int* rowImage, const int* tokens, int N, float* h, float* c,
                          bool sample, uint32_t sampleSeed, float* logProbs, float* alpha, float* beta, int* locations, int topK,
                          const uint8_t* blocked, int* topIds, float* topLogProbs) {
  const int K = dims.K, m = dims.m, n = dims.n, A = dims.A, D = dims.D, L = dims.L;
  const int nD = n + D, G4 = 4 * n;
  float* HO = need(dHO2_, (size_t)N * nD);
  float* q = need(dq_, (size_t)N * A);
  float* G = need(dG2_, (size_t)N * G4);
  float* X = need(dX2_, (size_t)N * std::max(m, D));
  float* U = need(dU_, (size_t)N * m);
  float* UD = need(dUD_, (size_t)N * m);
  float* cx = need(dctx_, (size_t)N * D);
  float* TC = need(dTC_, (size_t)N * n);
  if (loc_.size() < (size_t)N) loc_.resize(N);
  if (!logProbs) logProbs = need(dLP_, (size_t)N * K);

  prof.start();
  embedding_forward(N, m, W + off.E, tokens, X);
  // E[token] W_x for the tokens not seen before in this decoding, in one GEMM over their rows
  // (each output of gemm_packed is one sequential sum over k, so a token's row does not depend
  // on the rows computed with it).
  {
    std::vector<int>& slot = dc.slot;
    float* XW = dc.XW.data();
    int fresh = 0;
    for (int r = 0; r < N; r++) {
      const int tok = tokens[r];
      if (slot[tok] >= 0) continue;
      slot[tok] = dc.cachedRows + fresh;
      std::memcpy(U + (size_t)fresh * m, X + (size_t)r * m, sizeof(float) * m);  // U: scratch until the deep output
      fresh++;
    }
    if (fresh > 0) gemm_packed(fresh, U, m, dc.W_x, false, XW + (size_t)dc.cachedRows * G4, G4);
    dc.cachedRows += fresh;
    for (int r = 0; r < N; r++) std::memcpy(G + (size_t)r * G4, XW + (size_t)slot[tokens[r]] * G4, sizeof(float) * G4);
  }
  prof.lap(0, "d.x");
  // Beam search continues a hypothesis with several words: those rows share the image and
  // h_{t-1}, hence the attention, ẑ_t and [h_{t-1} | ẑ_t] [U; W_z] (only E[y] W_x and the cell
  // state differ). Those are computed once per distinct (image, h_{t-1}) row: every row of
  // the attention and of gemm_packed is computed on its own, so the bits are those of
  // computing each row. Rows are compared with the earlier distinct rows of their run of one
  // image (beam search keeps an image's rows together). Sampled attention draws per row.
  int R = N;
  if (!sample) {
    rowRep_.resize(N);
    repRow_.clear();
    repImage_.clear();
    int runStart = 0;
    for (int r = 0; r < N; r++) {
      const int im = rowImage[r];
      if (r > 0 && rowImage[r - 1] != im) runStart = (int)repRow_.size();
      int found = -1;
      for (int u = runStart; u < (int)repRow_.size() && found < 0; u++)
        if (std::memcmp(h + (size_t)repRow_[u] * n, h + (size_t)r * n, sizeof(float) * n) == 0) found = u;
      if (found < 0) {
        found = (int)repRow_.size();
        repRow_.push_back(r);
        repImage_.push_back(im);
      }
      rowRep_[r] = found;
    }
    R = (int)repRow_.size();
  }
  const bool shared = R < N;
  // The attention's and the gates' GEMM rows [h_{t-1} | ẑ_t], one per distinct (image, h)
  // (every row when none is shared); the attention's ẑ goes into HO's rows likewise.
  float* HZ = need(dHZd_, (size_t)R * nD);
  float* HOa = shared ? need(dHOu_, (size_t)R * nD) : HO;
  for (int u = 0; u < R; u++) std::memcpy(HZ + (size_t)u * nD, h + (size_t)(shared ? repRow_[u] : u) * n, sizeof(float) * n);
  AttentionStep st{};
  st.B = R; st.L = L; st.A = A; st.D = D; st.hiddenN = n;
  st.img = shared ? repImage_.data() : rowImage; st.P = dc.P.data();
  st.feats = dc.featsHalf ? nullptr : dc.feats.data();
  st.featsHalf = dc.featsHalf ? reinterpret_cast<const uint16_t*>(dc.feats.data()) : nullptr;
  st.W_h = W + off.W_h; st.W_hPacked = &dc.W_h; st.b_a = W + off.b_a; st.q = q;
  st.hprev = HZ; st.ldh = nD;
  st.w_att = W + off.w_att; st.b_att = W[off.b_att]; st.w_beta = W + off.w_beta; st.b_beta = W[off.b_beta];
  st.S = nullptr;
  st.alpha = shared ? need(dAlphaU_, (size_t)R * L) : alpha; st.ldalpha = L;
  st.beta = shared ? need(dBetaU_, (size_t)R) : beta; st.ldbeta = 1;
  st.ctx = cx; st.ldctx = D; st.z1 = HZ + n; st.ldz1 = nD; st.z2 = HOa + n; st.ldz2 = nD;
  // Sampled locations go straight to the caller's array when it wants them.
  st.sample = sample; st.locIn = nullptr; st.locOut = locations ? locations : loc_.data(); st.ldloc = 1;
  st.locSeedHash = hash32(sampleSeed ^ LOCATION_STREAM_XOR); st.T = 1; st.t = 0;
  st.reverse = kZigzag && (dc.steps++ & 1);
  attention_forward(st);
  prof.lap(1, "d.att");
  if (!shared) {
    lstm_forward(N, n, nD, HZ, nD, W + off.U, &dc.UWz, G, G4, W + off.b, c, n, c, n, TC, n, HO, nD, h, n);
  } else {
    float* Gu = need(dGu_, (size_t)R * G4);
    gemm_packed(R, HZ, nD, dc.UWz, false, Gu, G4);
    #pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
      const int u = rowRep_[r];
      std::memcpy(alpha + (size_t)r * L, st.alpha + (size_t)u * L, sizeof(float) * L);
      beta[r] = st.beta[u];
      std::memcpy(HO + (size_t)r * nD + n, HOa + (size_t)u * nD + n, sizeof(float) * D);
      // The GEMM's sum plus E[y] W_x: the one addition gemm_packed's accumulate makes.
      float* g = G + (size_t)r * G4;
      const float* gu = Gu + (size_t)u * G4;
      #pragma omp simd
      for (int j = 0; j < G4; j++) g[j] = gu[j] + g[j];
    }
    lstm_cell_forward(N, n, G, G4, W + off.b, c, n, c, n, TC, n, HO, nD, h, n);
  }
  prof.lap(2, "d.lstm");
  deep_output_forward(N, m, nD, HO, W + off.L_h, X, U, UD, 0.0f, 0, &dc.L_hz);
  prof.lap(3, "d.deep");
  gemm_packed(N, UD, m, dc.L_o, false, logProbs, K);
  prof.lap(4, "d.logits");
  log_softmax_rows(N, K, logProbs, W + off.b_o);
  if (topK > 0) top_k_rows(N, K, logProbs, blocked, topK, topIds, topLogProbs);
  prof.lap(5, "d.softmax");
  prof.print();
}

}  // namespace sat
