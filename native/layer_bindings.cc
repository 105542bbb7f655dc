// Each layer's forward and backward, callable alone from JS on contiguous rows, so that the
// tests can hold every layer against its reference transcription (test/native/layers.test.ts)
// and not only the whole step. Inputs are checked like the engine's; outputs are new arrays.
// Backward calls rerun the layer's forward first: a layer's saved activations are its own.
#include <utility>
#include <vector>

#include "addon_args.h"
#include "sat.h"

namespace sat_addon {
namespace {

struct Layer {
  Fields o;
  sat::Dims d;
  sat::Offsets off;
  float* W;
};

Layer layer(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) fail(env, std::string(fn) + ": expects one options object");
  Napi::Object obj = info[0].As<Napi::Object>();
  if (!obj.Get("dims").IsObject()) fail(env, std::string(fn) + ": dims must be an object {K, m, n, A, D, L}");
  Fields dims(env, obj.Get("dims").As<Napi::Object>(), fn, "dims.");
  const int lim = 1 << 16;  // test sizes only
  sat::Dims d{dims.integer("K", 1, lim), dims.integer("m", 1, lim), dims.integer("n", 1, lim),
              dims.integer("A", 1, lim), dims.integer("D", 1, lim), dims.integer("L", 1, lim)};
  Fields o(env, obj, fn, "");
  const sat::Offsets off = sat::param_offsets(d);
  float* W = o.f32("params", off.total, "the parameter count");
  return {o, d, off, W};
}

Napi::Float32Array out(Napi::Env env, size_t n) { return Napi::Float32Array::New(env, n); }

// [a | b] rows: the engine's concatenated layer inputs ([h | ẑ]) from the test's separate ones.
std::vector<float> concat_rows(int rows, const float* a, int wa, const float* b, int wb) {
  std::vector<float> o((size_t)rows * (wa + wb));
  for (int r = 0; r < rows; r++) {
    std::copy(a + (size_t)r * wa, a + (size_t)(r + 1) * wa, o.begin() + (size_t)r * (wa + wb));
    std::copy(b + (size_t)r * wb, b + (size_t)(r + 1) * wb, o.begin() + (size_t)r * (wa + wb) + wa);
  }
  return o;
}

// The inverse: [da | db] rows split into two new arrays.
std::pair<Napi::Float32Array, Napi::Float32Array> split_rows(Napi::Env env, int rows, const std::vector<float>& ab, int wa, int wb) {
  auto a = out(env, (size_t)rows * wa), b = out(env, (size_t)rows * wb);
  for (int r = 0; r < rows; r++) {
    std::copy(ab.begin() + (size_t)r * (wa + wb), ab.begin() + (size_t)r * (wa + wb) + wa, a.Data() + (size_t)r * wa);
    std::copy(ab.begin() + (size_t)r * (wa + wb) + wa, ab.begin() + (size_t)(r + 1) * (wa + wb), b.Data() + (size_t)r * wb);
  }
  return {a, b};
}

// initStateForward({dims, params, features, B}) → {abar, h0, c0}
Napi::Value InitStateForward(const Napi::CallbackInfo& info) {
  Layer l = layer(info, "initStateForward");
  const int B = l.o.integer("B", 1, 4096), D = l.d.D, n = l.d.n, L = l.d.L;
  const float* feats = l.o.f32("features", (size_t)B * L * D, "B*L*D");
  Napi::Env env = info.Env();
  auto abar = out(env, (size_t)B * D), h0 = out(env, (size_t)B * n), c0 = out(env, (size_t)B * n);
  sat::init_state_forward(B, L, D, n, feats, l.W + l.off.W_ih, l.W + l.off.b_ih, l.W + l.off.W_ic, l.W + l.off.b_ic, abar.Data(), h0.Data(),
                          c0.Data());
  Napi::Object r = Napi::Object::New(env);
  r.Set("abar", abar);
  r.Set("h0", h0);
  r.Set("c0", c0);
  return r;
}

// initStateBackward({dims, params, features, B, dh0, dc0}) → {grads}
Napi::Value InitStateBackward(const Napi::CallbackInfo& info) {
  Layer l = layer(info, "initStateBackward");
  const int B = l.o.integer("B", 1, 4096), D = l.d.D, n = l.d.n, L = l.d.L;
  const float* feats = l.o.f32("features", (size_t)B * L * D, "B*L*D");
  const float* dh0 = l.o.f32("dh0", (size_t)B * n, "B*n");
  const float* dc0 = l.o.f32("dc0", (size_t)B * n, "B*n");
  std::vector<float> abar((size_t)B * D), h0((size_t)B * n), c0((size_t)B * n), scratch((size_t)2 * B * n);
  const float* W = l.W;
  sat::init_state_forward(B, L, D, n, feats, W + l.off.W_ih, W + l.off.b_ih, W + l.off.W_ic, W + l.off.b_ic, abar.data(), h0.data(), c0.data());
  Napi::Env env = info.Env();
  auto g = out(env, l.off.total);
  float* G = g.Data();
  sat::init_state_backward(B, D, n, abar.data(), h0.data(), c0.data(), dh0, n, dc0, G + l.off.W_ih, G + l.off.b_ih, G + l.off.W_ic,
                           G + l.off.b_ic, scratch.data());
  Napi::Object r = Napi::Object::New(env);
  r.Set("grads", g);
  return r;
}

// The attention step's saved tensors for B rows (one step, T = 1).
struct AttentionRun {
  std::vector<float> P, q, S, alpha, beta, ctx, z, entropy, logAlphaS;
  std::vector<int> loc;
};

AttentionRun attention_run(const Layer& l, int B, const float* feats, const float* hprev, bool sample, const int* locations) {
  const sat::Dims& d = l.d;
  AttentionRun a;
  a.P.resize((size_t)B * d.L * d.A);
  a.q.resize((size_t)B * d.A);
  a.S.resize((size_t)B * d.L * d.A);
  a.alpha.resize((size_t)B * d.L);
  a.beta.resize(B);
  a.ctx.resize((size_t)B * d.D);
  a.z.resize((size_t)B * d.D);
  a.entropy.resize(B);
  a.logAlphaS.resize(B);
  a.loc.resize(B);
  sat::attention_project_forward(B * d.L, d.D, d.A, feats, l.W + l.off.W_a, a.P.data());
  sat::AttentionStep st{};
  st.B = B; st.L = d.L; st.A = d.A; st.D = d.D; st.hiddenN = d.n;
  st.img = nullptr; st.P = a.P.data(); st.feats = feats;
  st.W_h = l.W + l.off.W_h; st.b_a = l.W + l.off.b_a; st.q = a.q.data();
  st.hprev = hprev; st.ldh = d.n;
  st.w_att = l.W + l.off.w_att; st.b_att = l.W[l.off.b_att]; st.w_beta = l.W + l.off.w_beta; st.b_beta = l.W[l.off.b_beta];
  st.S = a.S.data(); st.alpha = a.alpha.data(); st.ldalpha = d.L; st.beta = a.beta.data(); st.ldbeta = 1;
  st.ctx = a.ctx.data(); st.ldctx = d.D; st.z1 = a.z.data(); st.ldz1 = d.D; st.z2 = nullptr; st.ldz2 = 0;
  st.entropy = a.entropy.data(); st.logAlphaS = sample ? a.logAlphaS.data() : nullptr;
  st.sample = sample; st.locIn = locations; st.locOut = a.loc.data(); st.ldloc = 1;
  st.locSeedHash = 0; st.T = 1; st.t = 0; st.reverse = false;
  sat::attention_forward(st);
  return a;
}

Napi::Float32Array copy(Napi::Env env, const std::vector<float>& v) {
  auto a = out(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// attentionForward({dims, params, features, hprev, B, sample, locations?}) → {alpha, beta, ctx, z, entropy, logAlphaS}
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Layer l = layer(info, "attentionForward");
  const int B = l.o.integer("B", 1, 4096);
  const float* feats = l.o.f32("features", (size_t)B * l.d.L * l.d.D, "B*L*D");
  const float* hprev = l.o.f32("hprev", (size_t)B * l.d.n, "B*n");
  const bool sample = l.o.boolean("sample");
  const int* locs = sample ? l.o.i32in("locations", B, "B", 0, l.d.L) : nullptr;
  AttentionRun a = attention_run(l, B, feats, hprev, sample, locs);
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("alpha", copy(env, a.alpha));
  r.Set("beta", copy(env, a.beta));
  r.Set("ctx", copy(env, a.ctx));
  r.Set("z", copy(env, a.z));
  r.Set("entropy", copy(env, a.entropy));
  if (sample) r.Set("logAlphaS", copy(env, a.logAlphaS));
  return r;
}

// attentionBackward({dims, params, features, hprev, B, sample, locations?, dz, cov, mask,
//   rewards, lambda, lambdaR, lambdaE, invB}) → {dh, grads (W_h, w_att, b_att, w_beta, b_beta, W_a, b_a)}
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Layer l = layer(info, "attentionBackward");
  const sat::Dims& d = l.d;
  const int B = l.o.integer("B", 1, 4096);
  const float* feats = l.o.f32("features", (size_t)B * d.L * d.D, "B*L*D");
  const float* hprev = l.o.f32("hprev", (size_t)B * d.n, "B*n");
  const bool sample = l.o.boolean("sample");
  const int* locs = sample ? l.o.i32in("locations", B, "B", 0, d.L) : nullptr;
  const float* dz = l.o.f32("dz", (size_t)B * d.D, "B*D");
  const float* cov = l.o.f32("cov", (size_t)B * d.L, "B*L");
  const float* mask = l.o.f32("mask", B, "B");
  const float* rewards = l.o.f32("rewards", B, "B");
  AttentionRun a = attention_run(l, B, feats, hprev, sample, locs);
  const int nt = sat::num_threads();
  std::vector<float> zeros((size_t)B * d.D, 0.0f), dP((size_t)B * d.L * d.A, 0.0f), dq((size_t)B * d.A), dpb(B);
  std::vector<float> dwatt((size_t)nt * (d.A + 1 + d.L + d.D), 0.0f);
  Napi::Env env = info.Env();
  auto dh = out(env, (size_t)B * d.n);
  auto g = out(env, l.off.total);
  sat::AttentionBackStep bs{};
  bs.B = B; bs.L = d.L; bs.A = d.A; bs.D = d.D; bs.T = 1; bs.t = 0; bs.hiddenN = d.n;
  bs.feats = feats; bs.S = a.S.data();
  bs.alpha = a.alpha.data(); bs.ldalpha = d.L; bs.beta = a.beta.data(); bs.ldbeta = 1;
  bs.ctx = a.ctx.data(); bs.ldctx = d.D; bs.entropy = a.entropy.data(); bs.loc = sample ? a.loc.data() : nullptr;
  bs.dz1 = dz; bs.lddz1 = d.D; bs.dz2 = zeros.data(); bs.lddz2 = d.D;
  bs.mask = mask; bs.cov = cov; bs.w_att = l.W + l.off.w_att; bs.W_h = l.W + l.off.W_h; bs.w_beta = l.W + l.off.w_beta;
  bs.rewards = rewards; bs.soft = !sample;
  bs.lambda = (float)l.o.number("lambda"); bs.lambdaR = (float)l.o.number("lambdaR"); bs.lambdaE = (float)l.o.number("lambdaE");
  bs.invB = (float)l.o.number("invB");
  bs.dP = dP.data(); bs.dq = dq.data(); bs.lddq = d.A; bs.dpreBeta = dpb.data(); bs.dh = dh.Data(); bs.lddh = d.n;
  bs.reverse = false; bs.dwAttPartial = dwatt.data();
  sat::attention_backward(bs);
  float* G = g.Data();
  sat::attention_weight_backward(B, d.n, d.A, d.L, d.D, hprev, d.n, dq.data(), dpb.data(), dwatt.data(), nt, G + l.off.W_h, G + l.off.w_beta,
                                 G + l.off.b_beta, G + l.off.w_att, G + l.off.b_att);
  sat::attention_project_backward(B * d.L, d.D, d.A, feats, dP.data(), G + l.off.W_a, G + l.off.b_a);
  Napi::Object r = Napi::Object::New(env);
  r.Set("dh", dh);
  r.Set("grads", g);
  return r;
}

// The LSTM step's saved tensors for B rows.
struct LstmRun {
  std::vector<float> HZ, G, C, TC, H;
};

LstmRun lstm_run(const Layer& l, int B, const float* X, const float* hprev, const float* z, const float* cprev) {
  const int n = l.d.n, D = l.d.D, m = l.d.m, nD = n + D;
  LstmRun r;
  r.HZ = concat_rows(B, hprev, n, z, D);
  r.G.resize((size_t)B * 4 * n);
  r.C.resize((size_t)B * n);
  r.TC.resize((size_t)B * n);
  r.H.resize((size_t)B * n);
  sat::lstm_input_forward(B, m, n, X, l.W + l.off.W_x, r.G.data());
  sat::lstm_forward(B, n, nD, r.HZ.data(), nD, l.W + l.off.U, nullptr, r.G.data(), 4 * n, l.W + l.off.b, cprev, n, r.C.data(), n, r.TC.data(), n,
                    r.H.data(), n, nullptr, 0);
  return r;
}

struct LstmInputs {
  int B;
  const float *X, *hprev, *z, *cprev;
};
LstmInputs lstm_inputs(const Layer& l) {
  const int B = l.o.integer("B", 1, 4096);
  return {B, l.o.f32("X", (size_t)B * l.d.m, "B*m"), l.o.f32("hprev", (size_t)B * l.d.n, "B*n"), l.o.f32("z", (size_t)B * l.d.D, "B*D"),
          l.o.f32("cprev", (size_t)B * l.d.n, "B*n")};
}

// lstmForward({dims, params, B, X, hprev, z, cprev}) → {gates, c, h}
Napi::Value LstmForward(const Napi::CallbackInfo& info) {
  Layer l = layer(info, "lstmForward");
  LstmInputs in = lstm_inputs(l);
  LstmRun s = lstm_run(l, in.B, in.X, in.hprev, in.z, in.cprev);
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("gates", copy(env, s.G));
  r.Set("c", copy(env, s.C));
  r.Set("h", copy(env, s.H));
  return r;
}

// lstmBackward({dims, params, B, X, hprev, z, cprev, dh, dcNext}) → {dX, dhprev, dz, dcprev, grads (W_x, U, W_z, b)}
Napi::Value LstmBackward(const Napi::CallbackInfo& info) {
  Layer l = layer(info, "lstmBackward");
  LstmInputs in = lstm_inputs(l);
  const int B = in.B, n = l.d.n, D = l.d.D, m = l.d.m, nD = n + D;
  const float* dh = l.o.f32("dh", (size_t)B * n, "B*n");
  const float* dcNext = l.o.f32("dcNext", (size_t)B * n, "B*n");
  LstmRun s = lstm_run(l, B, in.X, in.hprev, in.z, in.cprev);
  Napi::Env env = info.Env();
  auto dcprev = out(env, (size_t)B * n);
  std::copy(dcNext, dcNext + (size_t)B * n, dcprev.Data());
  std::vector<float> dG((size_t)B * 4 * n), dHZ((size_t)B * nD);
  sat::lstm_backward(B, n, nD, s.G.data(), 4 * n, in.cprev, n, s.TC.data(), n, dh, n, nullptr, 0, l.W + l.off.U, nullptr, dcprev.Data(), dG.data(), 4 * n,
                     dHZ.data());
  auto g = out(env, l.off.total);
  auto dX = out(env, (size_t)B * m);  // zero: lstm_weight_backward adds dG W_xᵀ
  float* G = g.Data();
  sat::lstm_weight_backward(B, m, n, nD, in.X, s.HZ.data(), dG.data(), l.W + l.off.W_x, G + l.off.U, G + l.off.W_x, G + l.off.b, dX.Data());
  auto [dhprev, dz] = split_rows(env, B, dHZ, n, D);
  Napi::Object r = Napi::Object::New(env);
  r.Set("dX", dX);
  r.Set("dhprev", dhprev);
  r.Set("dz", dz);
  r.Set("dcprev", dcprev);
  r.Set("grads", g);
  return r;
}

struct DeepOutputInputs {
  int R;
  const float* X;
  std::vector<float> HO;
  float p;
  uint32_t seedHash;
};
DeepOutputInputs deep_output_inputs(const Layer& l) {
  const int R = l.o.integer("R", 1, 1 << 16), n = l.d.n, D = l.d.D, m = l.d.m;
  const float* X = l.o.f32("X", (size_t)R * m, "R*m");
  const float* H = l.o.f32("H", (size_t)R * n, "R*n");
  const float* Z = l.o.f32("Z", (size_t)R * D, "R*D");
  DeepOutputInputs in{R, X, concat_rows(R, H, n, Z, D), 0.0f, 0};
  in.p = (float)l.o.number("dropout");
  if (!(in.p >= 0.0f && in.p < 1.0f)) l.o.error("dropout must be in [0, 1)");
  in.seedHash = sat::hash32(l.o.uint32("seed"));
  return in;
}

// deepOutputForward({dims, params, R, X, H, Z, dropout, seed}) → {u, ud}
Napi::Value DeepOutputForward(const Napi::CallbackInfo& info) {
  Layer l = layer(info, "deepOutputForward");
  DeepOutputInputs in = deep_output_inputs(l);
  const int m = l.d.m, nD = l.d.n + l.d.D;
  Napi::Env env = info.Env();
  auto u = out(env, (size_t)in.R * m), ud = out(env, (size_t)in.R * m);
  sat::deep_output_forward(in.R, m, nD, in.HO.data(), l.W + l.off.L_h, in.X, u.Data(), ud.Data(), in.p, in.seedHash);
  Napi::Object r = Napi::Object::New(env);
  r.Set("u", u);
  r.Set("ud", ud);
  return r;
}

// deepOutputBackward({dims, params, R, X, H, Z, dropout, seed, dud}) → {dX, dH, dZ, grads (L_h, L_z)}
Napi::Value DeepOutputBackward(const Napi::CallbackInfo& info) {
  Layer l = layer(info, "deepOutputBackward");
  DeepOutputInputs in = deep_output_inputs(l);
  const int R = in.R, m = l.d.m, n = l.d.n, D = l.d.D, nD = n + D;
  const float* dudIn = l.o.f32("dud", (size_t)R * m, "R*m");
  std::vector<float> U((size_t)R * m), UD((size_t)R * m), dud(dudIn, dudIn + (size_t)R * m), dHO((size_t)R * nD);
  sat::deep_output_forward(R, m, nD, in.HO.data(), l.W + l.off.L_h, in.X, U.data(), UD.data(), in.p, in.seedHash);
  Napi::Env env = info.Env();
  auto g = out(env, l.off.total);
  auto dX = out(env, (size_t)R * m);
  sat::deep_output_backward(R, m, nD, in.HO.data(), l.W + l.off.L_h, U.data(), dud.data(), in.p, in.seedHash, g.Data() + l.off.L_h, dHO.data(),
                            dX.Data());
  auto [dH, dZ] = split_rows(env, R, dHO, n, D);
  Napi::Object r = Napi::Object::New(env);
  r.Set("dX", dX);
  r.Set("dH", dH);
  r.Set("dZ", dZ);
  r.Set("grads", g);
  return r;
}

}  // namespace

Napi::Object layer_bindings(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("initStateForward", Napi::Function::New(env, InitStateForward));
  o.Set("initStateBackward", Napi::Function::New(env, InitStateBackward));
  o.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  o.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
  o.Set("lstmForward", Napi::Function::New(env, LstmForward));
  o.Set("lstmBackward", Napi::Function::New(env, LstmBackward));
  o.Set("deepOutputForward", Napi::Function::New(env, DeepOutputForward));
  o.Set("deepOutputBackward", Napi::Function::New(env, DeepOutputBackward));
  return o;
}

}  // namespace sat_addon
