// The decoder: initial state, the recurrence over T steps (attention + LSTM), the deep output
// and the loss, then the backward pass in reverse (docs/engine.md). Work that does not depend
// on the recurrence runs as large GEMMs over all B*T rows; the per-step GEMMs read strided
// views (row r = b*T + t). The workspace grows to the largest (B, T) seen and is then reused:
// nothing is allocated per step.
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
    std::fprintf(stderr, "\n");
  }
};
Phases prof;
// Zigzag: consecutive steps visit the captions in opposite orders, so each step starts on the
// features / P / S rows the previous one touched last, which are still in L3 (the per-step
// working set, ~100 MB at the default size, is 3x the 32 MB L3). SAT_NO_ZIGZAG=1 turns it off.
const bool kZigzag = [] {
  const char* e = std::getenv("SAT_NO_ZIGZAG");
  return !(e && e[0] == '1');
}();
}  // namespace

Decoder::Decoder(const Dims& d) : dims(d), off(param_offsets(d)) {}
Decoder::~Decoder() { release(); }

float* Decoder::need(Buf& b, size_t n) {
  if (n > b.cap) {
    free_buf(b);
    const size_t bytes = ((n * sizeof(float)) + 63) / 64 * 64;
    b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!b.p) throw std::bad_alloc();
    b.cap = n;
    wsBytes_ += bytes;
  }
  return b.p;
}

void Decoder::free_buf(Buf& b) {
  if (b.p) {
    wsBytes_ -= ((b.cap * sizeof(float)) + 63) / 64 * 64;
    std::free(b.p);
  }
  b.p = nullptr;
  b.cap = 0;
}

void Decoder::release() {
  for (Buf* b : {&abar_, &h0_, &c0_, &P_, &X_, &HZ_, &HO_, &G_, &C_, &TC_, &q_, &S_, &alpha_, &beta_, &ctx_, &ent_, &logaS_, &cov_, &U_, &UD_,
                 &logits_, &dHZo_, &dG_, &dHZ_, &dQ_, &dpb_, &dP_, &dc_, &dX_, &dwatt_, &ones_, &rew_, &dpre0_, &dq_, &dS_, &dHZd_, &dG2_, &dHO_,
                 &dU_, &dlog_, &dX2_, &dctx_})
    free_buf(*b);
  loc_ = std::vector<int>();
  logp_ = std::vector<double>();
}

// tanh(x W + bias) for the initial state, x [rows, D] → out [rows, n].
static void init_state_forward(int rows, int D, int n, const float* x, const float* W, const float* bias, float* out) {
  gemm(false, false, rows, n, D, 1.0f, x, D, W, n, 0.0f, out, n);
  #pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) {
    float* o = out + (size_t)r * n;
    #pragma omp simd
    for (int j = 0; j < n; j++) o[j] = fast_tanh(o[j] + bias[j]);
  }
}

static void mean_rows(int B, int L, int D, const float* feats, float* abar) {
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

void Decoder::forward_backward(const float* W, float* g, const StepArgs& a, StepOut& out) {
  const int B = a.B, T = a.T, R = B * T;
  const int K = dims.K, m = dims.m, n = dims.n, A = dims.A, D = dims.D, L = dims.L;
  const int nD = n + D, G4 = 4 * n;
  const bool hardSample = a.mode == MODE_HARD_SAMPLE;

  float* abar = need(abar_, (size_t)B * D);
  float* h0 = need(h0_, (size_t)B * n);
  float* c0 = need(c0_, (size_t)B * n);
  float* P = need(P_, (size_t)B * L * A);
  float* X = need(X_, (size_t)R * m);
  float* HZ = need(HZ_, (size_t)R * nD);  // rows [h_{t-1} | ẑ_t]: the gates' input
  float* HO = need(HO_, (size_t)R * nD);  // rows [h_t | ẑ_t]: the deep output's input
  float* G = need(G_, (size_t)R * G4);
  float* C = need(C_, (size_t)R * n);
  float* TC = need(TC_, (size_t)R * n);
  float* q = need(q_, (size_t)B * A);
  float* S = need(S_, (size_t)T * B * L * A);
  float* alpha = need(alpha_, (size_t)R * L);
  float* beta = need(beta_, (size_t)R);
  float* ctx = need(ctx_, (size_t)R * D);
  float* ent = need(ent_, (size_t)R);
  float* logaS = need(logaS_, (size_t)R);
  float* cov = need(cov_, (size_t)B * L);
  float* U = need(U_, (size_t)R * m);
  float* UD = need(UD_, (size_t)R * m);
  float* logits = need(logits_, (size_t)R * K);
  if (loc_.size() < (size_t)R) loc_.resize(R);
  if (logp_.size() < (size_t)R) logp_.resize(R);
  int* loc = loc_.data();
  double* logp = logp_.data();

  prof.start();
  // Initial state and the per-batch projections.
  mean_rows(B, L, D, a.features, abar);
  init_state_forward(B, D, n, abar, W + off.W_ih, W + off.b_ih, h0);
  init_state_forward(B, D, n, abar, W + off.W_ic, W + off.b_ic, c0);
  gemm(false, false, B * L, A, D, 1.0f, a.features, D, W + off.W_a, A, 0.0f, P, A);
  for (int r = 0; r < R; r++) std::memcpy(X + (size_t)r * m, W + off.E + (size_t)a.inputs[r] * m, sizeof(float) * m);
  gemm(false, false, R, G4, m, 1.0f, X, m, W + off.W_x, G4, 0.0f, G, G4);
  for (int b = 0; b < B; b++) std::memcpy(HZ + (size_t)b * T * nD, h0 + (size_t)b * n, sizeof(float) * n);
  prof.lap(0, "prep");

  const size_t ldR = (size_t)T;  // stride of per-row scalars between captions
  const uint32_t locSeedHash = hash32(a.seed ^ LOCATION_STREAM_XOR);
  const uint32_t dropSeedHash = hash32(a.seed);

  for (int t = 0; t < T; t++) {
    const float* hprev = HZ + (size_t)t * nD;
    for (int b = 0; b < B; b++) std::memcpy(q + (size_t)b * A, W + off.b_a, sizeof(float) * A);
    gemm(false, false, B, A, n, 1.0f, hprev, T * nD, W + off.W_h, A, 1.0f, q, A);
    prof.lap(1, "f.gemm");

    AttentionStep st{};
    st.B = B; st.L = L; st.A = A; st.D = D; st.hiddenN = n;
    st.img = nullptr; st.P = P; st.feats = a.features; st.q = q;
    st.hprev = hprev; st.ldh = (size_t)T * nD;
    st.w_att = W + off.w_att; st.b_att = W[off.b_att]; st.w_beta = W + off.w_beta; st.b_beta = W[off.b_beta];
    st.S = S + (size_t)t * B * L * A;
    st.alpha = alpha + (size_t)t * L; st.ldalpha = (size_t)T * L;
    st.beta = beta + t; st.ldbeta = ldR;
    st.ctx = ctx + (size_t)t * D; st.ldctx = (size_t)T * D;
    st.z1 = HZ + (size_t)t * nD + n; st.ldz1 = (size_t)T * nD;
    st.z2 = HO + (size_t)t * nD + n; st.ldz2 = (size_t)T * nD;
    st.entropy = ent + t;
    st.logAlphaS = hardSample ? logaS + t : nullptr;
    st.sample = hardSample;
    st.locIn = a.locations ? a.locations + t : nullptr;
    st.locOut = loc + t; st.ldloc = ldR;
    st.locSeedHash = locSeedHash; st.T = T; st.t = t;
    st.reverse = kZigzag && (t & 1);
    attention_forward(st);
    prof.lap(2, "f.att");

    // G_t = G^x_t + [h_{t-1} | ẑ_t] @ [U; W_z]  (U and W_z are adjacent: one [n+D, 4n] matrix)
    gemm(false, false, B, G4, nD, 1.0f, HZ + (size_t)t * nD, T * nD, W + off.U, G4, 1.0f, G + (size_t)t * G4, T * G4);
    prof.lap(1, "f.gemm");
    const float* cprev = t == 0 ? c0 : C + (size_t)(t - 1) * n;
    const size_t ldcp = t == 0 ? (size_t)n : (size_t)T * n;
    float* h2 = t + 1 < T ? HZ + (size_t)(t + 1) * nD : nullptr;
    lstm_forward(B, n, G + (size_t)t * G4, (size_t)T * G4, W + off.b, cprev, ldcp, C + (size_t)t * n, (size_t)T * n, TC + (size_t)t * n,
                 (size_t)T * n, HO + (size_t)t * nD, (size_t)T * nD, h2, (size_t)T * nD);
    prof.lap(3, "f.lstm");
  }

  // Deep output over all positions: [h_t | ẑ_t] @ [L_h; L_z] (adjacent too), + X, tanh, dropout.
  gemm(false, false, R, m, nD, 1.0f, HO, nD, W + off.L_h, m, 0.0f, U, m);
  deep_output_forward(R, m, X, U, UD, a.dropout, dropSeedHash);
  gemm(false, false, R, K, m, 1.0f, UD, m, W + off.L_o, K, 0.0f, logits, K);
  const float invB = 1.0f / B;
  softmax_xent(R, K, logits, W + off.b_o, a.targets, a.mask, invB, a.computeGrad, logp);
  prof.lap(4, "f.out");

  // Losses (double accumulation).
  double nll = 0, tokens = 0, entSum = 0, pen = 0, reinforce = 0;
  for (int b = 0; b < B; b++) {
    double lp = 0;
    for (int l = 0; l < L; l++) cov[(size_t)b * L + l] = 0.0f;
    for (int t = 0; t < T; t++) {
      const size_t r = (size_t)b * T + t;
      const float mk = a.mask[r];
      lp += mk * logp[r];
      tokens += mk;
      entSum += mk * ent[r];
      if (mk != 0.0f) {
        const float* al = alpha + r * L;
        for (int l = 0; l < L; l++) cov[(size_t)b * L + l] += mk * al[l];
      }
    }
    out.logProb[b] = lp;
    nll -= lp;
    for (int l = 0; l < L; l++) {
      const double v = 1.0 - cov[(size_t)b * L + l];
      pen += v * v;
    }
    if (hardSample) {
      const double rb = lp - a.baseline;
      double s = 0;
      for (int t = 0; t < T; t++) s += a.mask[(size_t)b * T + t] * logaS[(size_t)b * T + t];
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
    std::memcpy(out.locations, loc, sizeof(int) * R);
  }
  if (!a.computeGrad) {
    prof.print();
    return;
  }

  // ---------------------------------------------------------------- backward
  // Output layer; logits now hold dℓ.
  gemm(true, false, m, K, R, 1.0f, UD, m, logits, K, 0.0f, g + off.L_o, K);
  colsum(R, K, logits, K, g + off.b_o, false);
  float* dU = UD;  // ũ is no longer needed: reuse for dũ, then dpre_u
  gemm(false, true, R, m, K, 1.0f, logits, K, W + off.L_o, K, 0.0f, dU, m);
  deep_output_backward(R, m, U, dU, a.dropout, dropSeedHash);
  gemm(true, false, nD, m, R, 1.0f, HO, nD, dU, m, 0.0f, g + off.L_h, m);
  float* dHZo = need(dHZo_, (size_t)R * nD);
  gemm(false, true, R, nD, m, 1.0f, dU, m, W + off.L_h, m, 0.0f, dHZo, nD);
  float* dX = need(dX_, (size_t)R * m);
  std::memcpy(dX, dU, sizeof(float) * R * m);

  // Recurrence in reverse.
  float* dc = need(dc_, (size_t)B * n);
  float* dHZ = need(dHZ_, (size_t)B * nD);  // [dh_prev | dẑ_gates] of the current step
  float* dG = need(dG_, (size_t)R * G4);
  float* dQ = need(dQ_, (size_t)R * A);
  float* dpb = need(dpb_, (size_t)R);
  float* dP = need(dP_, (size_t)B * L * A);
  const int nt = num_threads();
  float* dwatt = need(dwatt_, (size_t)nt * (A + 1 + L + D));
  float* rew = need(rew_, (size_t)B);
  std::memset(dc, 0, sizeof(float) * B * n);
  std::memset(dwatt, 0, sizeof(float) * nt * (A + 1 + L + D));
  #pragma omp parallel for schedule(static)
  for (int b = 0; b < B; b++) std::memset(dP + (size_t)b * L * A, 0, sizeof(float) * L * A);
  for (int b = 0; b < B; b++) rew[b] = (float)(out.logProb[b] - a.baseline);
  prof.lap(5, "b.out");

  for (int t = T - 1; t >= 0; t--) {
    const float* cprev = t == 0 ? c0 : C + (size_t)(t - 1) * n;
    const size_t ldcp = t == 0 ? (size_t)n : (size_t)T * n;
    lstm_backward(B, n, G + (size_t)t * G4, (size_t)T * G4, cprev, ldcp, TC + (size_t)t * n, (size_t)T * n, dHZo + (size_t)t * nD,
                  (size_t)T * nD, t == T - 1 ? nullptr : dHZ, nD, dc, dG + (size_t)t * G4, (size_t)T * G4);
    prof.lap(6, "b.lstm");
    gemm(false, true, B, nD, G4, 1.0f, dG + (size_t)t * G4, T * G4, W + off.U, G4, 0.0f, dHZ, nD);
    prof.lap(7, "b.gemm");

    AttentionBackStep bs{};
    bs.B = B; bs.L = L; bs.A = A; bs.D = D; bs.T = T; bs.t = t;
    bs.feats = a.features;
    bs.S = S + (size_t)t * B * L * A;
    bs.alpha = alpha + (size_t)t * L; bs.ldalpha = (size_t)T * L;
    bs.beta = beta + t; bs.ldbeta = ldR;
    bs.ctx = ctx + (size_t)t * D; bs.ldctx = (size_t)T * D;
    bs.entropy = ent + t;
    bs.loc = hardSample ? loc + t : nullptr;
    bs.dz1 = dHZ + n; bs.lddz1 = nD;
    bs.dz2 = dHZo + (size_t)t * nD + n; bs.lddz2 = (size_t)T * nD;
    bs.mask = a.mask; bs.cov = cov; bs.w_att = W + off.w_att; bs.rewards = rew;
    bs.soft = !hardSample;
    bs.lambda = a.alphaC; bs.lambdaR = a.reinforceWeight; bs.lambdaE = a.entropyWeight; bs.invB = invB;
    bs.dP = dP; bs.dq = dQ + (size_t)t * A; bs.lddq = (size_t)T * A;
    bs.dpreBeta = dpb + t; bs.dwAttPartial = dwatt;
    bs.reverse = kZigzag && !(t & 1);
    attention_backward(bs);
    prof.lap(8, "b.att");

    // dh_prev = dh_gates + dq W_hᵀ + dpreβ w_beta
    gemm(false, true, B, n, A, 1.0f, dQ + (size_t)t * A, T * A, W + off.W_h, A, 1.0f, dHZ, nD);
    const float* wb = W + off.w_beta;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
      const float s = dpb[(size_t)b * T + t];
      float* d = dHZ + (size_t)b * nD;
      #pragma omp simd
      for (int j = 0; j < n; j++) d[j] += s * wb[j];
    }
  }

  prof.lap(7, "b.gemm");
  // Weight gradients over all positions.
  gemm(true, false, nD, G4, R, 1.0f, HZ, nD, dG, G4, 0.0f, g + off.U, G4);
  gemm(true, false, m, G4, R, 1.0f, X, m, dG, G4, 0.0f, g + off.W_x, G4);
  colsum(R, G4, dG, G4, g + off.b, false);
  gemm(false, true, R, m, G4, 1.0f, dG, G4, W + off.W_x, G4, 1.0f, dX, m);
  gemm(true, false, n, A, R, 1.0f, HZ, nD, dQ, A, 0.0f, g + off.W_h, A);
  gemv(true, R, n, 1.0f, HZ, nD, dpb, 0.0f, g + off.w_beta);
  {
    double s = 0;
    for (int r = 0; r < R; r++) s += dpb[r];
    g[off.b_beta] = (float)s;
  }
  prof.lap(9, "b.wgrad");
  gemm(true, false, D, A, B * L, 1.0f, a.features, D, dP, A, 0.0f, g + off.W_a, A);
  prof.lap(10, "b.dWa");
  colsum(B * L, A, dP, A, g + off.b_a, false);
  {
    float* dw = g + off.w_att;
    for (int j = 0; j < A; j++) dw[j] = 0.0f;
    double db = 0;
    for (int th = 0; th < nt; th++) {
      const float* p = dwatt + (size_t)th * (A + 1 + L + D);
      for (int j = 0; j < A; j++) dw[j] += p[j];
      db += p[A];
    }
    g[off.b_att] = (float)db;
  }
  std::memset(g + off.E, 0, sizeof(float) * K * m);
  for (int r = 0; r < R; r++) {
    float* e = g + off.E + (size_t)a.inputs[r] * m;
    const float* d = dX + (size_t)r * m;
    #pragma omp simd
    for (int j = 0; j < m; j++) e[j] += d[j];
  }
  float* dpre0 = need(dpre0_, (size_t)2 * B * n);
  float* dh0 = dpre0;
  float* dc0 = dpre0 + (size_t)B * n;
  for (int b = 0; b < B; b++) {
    for (int j = 0; j < n; j++) {
      const float hv = h0[(size_t)b * n + j], cv = c0[(size_t)b * n + j];
      dh0[(size_t)b * n + j] = dHZ[(size_t)b * nD + j] * (1.0f - hv * hv);
      dc0[(size_t)b * n + j] = dc[(size_t)b * n + j] * (1.0f - cv * cv);
    }
  }
  gemm(true, false, D, n, B, 1.0f, abar, D, dh0, n, 0.0f, g + off.W_ih, n);
  colsum(B, n, dh0, n, g + off.b_ih, false);
  gemm(true, false, D, n, B, 1.0f, abar, D, dc0, n, 0.0f, g + off.W_ic, n);
  colsum(B, n, dc0, n, g + off.b_ic, false);
  prof.lap(11, "b.rest");
  prof.print();
}

// ------------------------------------------------------------------------------------ decoding

void Decoder::prepare_decode(const float* W, const float* feats, int numImages, DecodeContext& ctx) {
  const int L = dims.L, D = dims.D, A = dims.A;
  ctx.numImages = numImages;
  ctx.feats.assign(feats, feats + (size_t)numImages * L * D);
  ctx.P.resize((size_t)numImages * L * A);
  ctx.abar.resize((size_t)numImages * D);
  gemm(false, false, numImages * L, A, D, 1.0f, ctx.feats.data(), D, W + off.W_a, A, 0.0f, ctx.P.data(), A);
  mean_rows(numImages, L, D, ctx.feats.data(), ctx.abar.data());
}

void Decoder::initial_state(const float* W, const DecodeContext& ctx, const int* rowImage, int N, float* h, float* c) {
  const int D = dims.D, n = dims.n;
  float* x = need(dX2_, (size_t)N * D);
  for (int r = 0; r < N; r++) std::memcpy(x + (size_t)r * D, ctx.abar.data() + (size_t)rowImage[r] * D, sizeof(float) * D);
  init_state_forward(N, D, n, x, W + off.W_ih, W + off.b_ih, h);
  init_state_forward(N, D, n, x, W + off.W_ic, W + off.b_ic, c);
}

void Decoder::decode_step(const float* W, const DecodeContext& dc, const int* rowImage, const int* tokens, int N, float* h, float* c,
                          bool sample, uint32_t sampleSeed, float* logProbs, float* alpha, float* beta, int* locations) {
  const int K = dims.K, m = dims.m, n = dims.n, A = dims.A, D = dims.D, L = dims.L;
  const int nD = n + D, G4 = 4 * n;
  float* HZ = need(dHZd_, (size_t)N * nD);
  float* HO = need(dHO_, (size_t)N * nD);
  float* q = need(dq_, (size_t)N * A);
  float* S = need(dS_, (size_t)N * L * A);
  float* G = need(dG2_, (size_t)N * G4);
  float* X = need(dX2_, (size_t)N * std::max(m, D));
  float* U = need(dU_, (size_t)N * m);
  float* UD = need(dlog_, (size_t)N * m);
  float* cx = need(dctx_, (size_t)N * D);
  float* TC = need(TC_, (size_t)N * n);
  if (loc_.size() < (size_t)N) loc_.resize(N);

  for (int r = 0; r < N; r++) {
    std::memcpy(HZ + (size_t)r * nD, h + (size_t)r * n, sizeof(float) * n);
    std::memcpy(q + (size_t)r * A, W + off.b_a, sizeof(float) * A);
    std::memcpy(X + (size_t)r * m, W + off.E + (size_t)tokens[r] * m, sizeof(float) * m);
  }
  gemm(false, false, N, A, n, 1.0f, HZ, nD, W + off.W_h, A, 1.0f, q, A);
  AttentionStep st{};
  st.B = N; st.L = L; st.A = A; st.D = D; st.hiddenN = n;
  st.img = rowImage; st.P = dc.P.data(); st.feats = dc.feats.data(); st.q = q;
  st.hprev = HZ; st.ldh = nD;
  st.w_att = W + off.w_att; st.b_att = W[off.b_att]; st.w_beta = W + off.w_beta; st.b_beta = W[off.b_beta];
  st.S = S; st.alpha = alpha; st.ldalpha = L; st.beta = beta; st.ldbeta = 1;
  st.ctx = cx; st.ldctx = D; st.z1 = HZ + n; st.ldz1 = nD; st.z2 = HO + n; st.ldz2 = nD;
  // Sampled locations go straight to the caller's array when it wants them.
  st.sample = sample; st.locIn = nullptr; st.locOut = locations ? locations : loc_.data(); st.ldloc = 1;
  st.locSeedHash = hash32(sampleSeed ^ LOCATION_STREAM_XOR); st.T = 1; st.t = 0;
  attention_forward(st);
  gemm(false, false, N, G4, m, 1.0f, X, m, W + off.W_x, G4, 0.0f, G, G4);
  gemm(false, false, N, G4, nD, 1.0f, HZ, nD, W + off.U, G4, 1.0f, G, G4);
  lstm_forward(N, n, G, G4, W + off.b, c, n, c, n, TC, n, HO, nD, h, n);
  gemm(false, false, N, m, nD, 1.0f, HO, nD, W + off.L_h, m, 0.0f, U, m);
  deep_output_forward(N, m, X, U, UD, 0.0f, 0);
  gemm(false, false, N, K, m, 1.0f, UD, m, W + off.L_o, K, 0.0f, logProbs, K);
  log_softmax_rows(N, K, logProbs, W + off.b_o);
}

}  // namespace sat
