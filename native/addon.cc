// Node binding of the native decoder engine. Buffers (params, grads, optimiser state, inputs,
// outputs) are JS typed arrays whose memory C++ reads and writes in place: nothing is copied
// per call. Every argument is checked, and a bad one throws a JS Error that names it.
#include <napi.h>
#include <omp.h>

#include <memory>
#include <string>

#include "sat.h"

namespace {

using sat::Decoder;

std::string fmt(const std::string& fn, const std::string& what) { return fn + ": " + what; }

[[noreturn]] void fail(Napi::Env env, const std::string& msg) { throw Napi::Error::New(env, msg); }

template <typename TA>
TA typed(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, napi_typedarray_type type, const char* typeName) {
  if (i >= info.Length() || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type)
    fail(info.Env(), fmt(fn, std::string(name) + " must be a " + typeName));
  return info[i].As<TA>();
}

float* f32(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, size_t expected, const char* expr) {
  auto a = typed<Napi::Float32Array>(info, i, fn, name, napi_float32_array, "Float32Array");
  if (a.ElementLength() != expected)
    fail(info.Env(), fmt(fn, std::string(name) + " has " + std::to_string(a.ElementLength()) + " floats, expected " + expr + " = " +
                                 std::to_string(expected)));
  return a.Data();
}

int* i32(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, size_t expected, const char* expr, int lo, int hi) {
  auto a = typed<Napi::Int32Array>(info, i, fn, name, napi_int32_array, "Int32Array");
  if (a.ElementLength() != expected)
    fail(info.Env(), fmt(fn, std::string(name) + " has " + std::to_string(a.ElementLength()) + " ints, expected " + expr + " = " +
                                 std::to_string(expected)));
  int* p = a.Data();
  for (size_t k = 0; k < expected; k++)
    if (p[k] < lo || p[k] >= hi)
      fail(info.Env(), fmt(fn, std::string(name) + "[" + std::to_string(k) + "] = " + std::to_string(p[k]) + " is outside [0, " +
                                   std::to_string(hi) + ")"));
  return p;
}

double num(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) fail(info.Env(), fmt(fn, std::string(name) + " must be a number"));
  return info[i].As<Napi::Number>().DoubleValue();
}

int posInt(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  const double v = num(info, i, fn, name);
  if (!(v >= 1 && v <= 1e9) || v != (double)(int)v) fail(info.Env(), fmt(fn, std::string(name) + " must be a positive integer, got " + std::to_string(v)));
  return (int)v;
}

double field(Napi::Object o, const char* fn, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber() && !v.IsBoolean()) fail(o.Env(), fmt(fn, std::string("opts.") + name + " must be a number"));
  return v.IsBoolean() ? (v.As<Napi::Boolean>().Value() ? 1.0 : 0.0) : v.As<Napi::Number>().DoubleValue();
}

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Engine",
                                   {InstanceMethod("forwardBackward", &Engine::ForwardBackward), InstanceMethod("prepareDecode", &Engine::PrepareDecode),
                                    InstanceMethod("initialState", &Engine::InitialState), InstanceMethod("decodeStep", &Engine::DecodeStep),
                                    InstanceMethod("optimizerStep", &Engine::OptimizerStep), InstanceMethod("workspaceBytes", &Engine::WorkspaceBytes),
                                    InstanceMethod("dispose", &Engine::Dispose)});
    exports.Set("Engine", f);
    exports.Set("numThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), sat::num_threads()); }));
    return exports;
  }

  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
    const char* fn = "Engine";
    if (info.Length() < 1 || !info[0].IsObject()) fail(info.Env(), "Engine: dims must be an object {K, m, n, A, D, L}");
    Napi::Object o = info[0].As<Napi::Object>();
    auto dim = [&](const char* name) {
      const double v = field(o, fn, name);
      if (!(v >= 1 && v <= 1e8) || v != (double)(int)v) fail(info.Env(), std::string("Engine: dims.") + name + " must be a positive integer");
      return (int)v;
    };
    sat::Dims d{dim("K"), dim("m"), dim("n"), dim("A"), dim("D"), dim("L")};
    dec_ = std::make_unique<Decoder>(d);
  }

 private:
  std::unique_ptr<Decoder> dec_;

  Decoder& dec(Napi::Env env, const char* fn) {
    if (!dec_) fail(env, fmt(fn, "the engine was disposed"));
    return *dec_;
  }

  // forwardBackward(params, grads, features, inputs, targets, mask, B, T, opts, locations|null, logProbOut, locationsOut)
  Napi::Value ForwardBackward(const Napi::CallbackInfo& info) {
    const char* fn = "forwardBackward";
    Napi::Env env = info.Env();
    Decoder& d = dec(env, fn);
    const sat::Dims& dm = d.dims;
    const int B = posInt(info, 6, fn, "B"), T = posInt(info, 7, fn, "T");
    const size_t R = (size_t)B * T;
    sat::StepArgs a{};
    float* params = f32(info, 0, fn, "params", d.off.total, "the parameter count");
    float* grads = f32(info, 1, fn, "grads", d.off.total, "the parameter count");
    a.B = B;
    a.T = T;
    a.features = f32(info, 2, fn, "features", (size_t)B * dm.L * dm.D, "B*L*D");
    a.inputs = i32(info, 3, fn, "inputs", R, "B*T", 0, dm.K);
    a.targets = i32(info, 4, fn, "targets", R, "B*T", 0, dm.K);
    a.mask = f32(info, 5, fn, "mask", R, "B*T");
    if (info.Length() < 9 || !info[8].IsObject()) fail(env, fmt(fn, "opts must be an object"));
    Napi::Object o = info[8].As<Napi::Object>();
    a.mode = (int)field(o, fn, "mode");
    if (a.mode < 0 || a.mode > 2) fail(env, fmt(fn, "opts.mode must be 0 (soft), 1 (hard-sample) or 2 (hard-expect)"));
    a.dropout = (float)field(o, fn, "dropout");
    if (!(a.dropout >= 0.0f && a.dropout < 1.0f)) fail(env, fmt(fn, "opts.dropout must be in [0, 1)"));
    a.seed = (uint32_t)(int64_t)field(o, fn, "seed");
    a.alphaC = (float)field(o, fn, "alphaC");
    a.reinforceWeight = (float)field(o, fn, "reinforceWeight");
    a.entropyWeight = (float)field(o, fn, "entropyWeight");
    a.baseline = (float)field(o, fn, "baseline");
    a.computeGrad = field(o, fn, "computeGrad") != 0.0;
    a.locations = nullptr;
    if (info.Length() > 9 && !info[9].IsNull() && !info[9].IsUndefined()) a.locations = i32(info, 9, fn, "locations", R, "B*T", 0, dm.L);
    auto lp = typed<Napi::Float64Array>(info, 10, fn, "logProbOut", napi_float64_array, "Float64Array");
    if (lp.ElementLength() != (size_t)B) fail(env, fmt(fn, "logProbOut must have B = " + std::to_string(B) + " elements"));
    auto lo = typed<Napi::Int32Array>(info, 11, fn, "locationsOut", napi_int32_array, "Int32Array");
    if (lo.ElementLength() != R) fail(env, fmt(fn, "locationsOut must have B*T = " + std::to_string(R) + " elements"));
    sat::StepOut out{};
    out.logProb = lp.Data();
    out.locations = lo.Data();
    try {
      d.forward_backward(params, grads, a, out);
    } catch (const std::bad_alloc&) {
      fail(env, fmt(fn, "out of memory for the activations of B=" + std::to_string(B) + ", T=" + std::to_string(T)));
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("loss", out.loss);
    r.Set("nll", out.nll);
    r.Set("penalty", out.penalty);
    r.Set("attentionEntropy", out.entropy);
    r.Set("tokens", out.tokens);
    return r;
  }

  // prepareDecode(params, features, numImages) → handle
  Napi::Value PrepareDecode(const Napi::CallbackInfo& info) {
    const char* fn = "prepareDecode";
    Napi::Env env = info.Env();
    Decoder& d = dec(env, fn);
    float* params = f32(info, 0, fn, "params", d.off.total, "the parameter count");
    const int N = posInt(info, 2, fn, "numImages");
    float* feats = f32(info, 1, fn, "features", (size_t)N * d.dims.L * d.dims.D, "numImages*L*D");
    auto* ctx = new sat::DecodeContext();
    d.prepare_decode(params, feats, N, *ctx);
    return Napi::External<sat::DecodeContext>::New(env, ctx, [](Napi::Env, sat::DecodeContext* c) { delete c; });
  }

  static const sat::DecodeContext& handle(const Napi::CallbackInfo& info, size_t i, const char* fn) {
    if (i >= info.Length() || !info[i].IsExternal()) fail(info.Env(), fmt(fn, "ctx is not a context from prepareDecode"));
    return *info[i].As<Napi::External<sat::DecodeContext>>().Data();
  }

  // The leading arguments of the decoding calls: params, the DecodeContext handle, and
  // rowImage (which image each row decodes). rows == nullptr when there are no rows.
  struct RowArgs {
    Decoder& d;
    float* params;
    const sat::DecodeContext& ctx;
    int* rows;
    size_t N;
  };
  RowArgs rowArgs(const Napi::CallbackInfo& info, const char* fn) {
    Decoder& d = dec(info.Env(), fn);
    float* params = f32(info, 0, fn, "params", d.off.total, "the parameter count");
    const sat::DecodeContext& ctx = handle(info, 1, fn);
    auto ri = typed<Napi::Int32Array>(info, 2, fn, "rowImage", napi_int32_array, "Int32Array");
    const size_t N = ri.ElementLength();
    int* rows = N == 0 ? nullptr : i32(info, 2, fn, "rowImage", N, "rows", 0, ctx.numImages);
    return {d, params, ctx, rows, N};
  }

  // initialState(params, handle, rowImage, hOut, cOut)
  Napi::Value InitialState(const Napi::CallbackInfo& info) {
    const char* fn = "initialState";
    Napi::Env env = info.Env();
    auto [d, params, ctx, rows, N] = rowArgs(info, fn);
    if (N == 0) return env.Undefined();
    float* h = f32(info, 3, fn, "h", N * d.dims.n, "rows*n");
    float* c = f32(info, 4, fn, "c", N * d.dims.n, "rows*n");
    d.initial_state(params, ctx, rows, (int)N, h, c);
    return env.Undefined();
  }

  // decodeStep(params, handle, rowImage, tokens, h, c, sampleSeed|null, logProbs, alpha, beta, locations|null)
  Napi::Value DecodeStep(const Napi::CallbackInfo& info) {
    const char* fn = "decodeStep";
    Napi::Env env = info.Env();
    auto [d, params, ctx, rows, N] = rowArgs(info, fn);
    if (N == 0) return env.Undefined();
    const sat::Dims& dm = d.dims;
    int* tokens = i32(info, 3, fn, "tokens", N, "rows", 0, dm.K);
    float* h = f32(info, 4, fn, "state.h", N * dm.n, "rows*n");
    float* c = f32(info, 5, fn, "state.c", N * dm.n, "rows*n");
    bool sample = info.Length() > 6 && info[6].IsNumber();
    uint32_t seed = sample ? (uint32_t)(int64_t)info[6].As<Napi::Number>().DoubleValue() : 0u;
    float* lp = f32(info, 7, fn, "logProbs", N * dm.K, "rows*K");
    float* al = f32(info, 8, fn, "alpha", N * dm.L, "rows*L");
    float* be = f32(info, 9, fn, "beta", N, "rows");
    int* locs = sample && info.Length() > 10 && !info[10].IsNull() && !info[10].IsUndefined()
                    ? i32(info, 10, fn, "locations", N, "rows", INT32_MIN, INT32_MAX)
                    : nullptr;
    d.decode_step(params, ctx, rows, tokens, (int)N, h, c, sample, seed, lp, al, be, locs);
    return env.Undefined();
  }

  // optimizerStep(params, grads, kind 0 adam | 1 rmsprop, lr, beta1, beta2, rho, eps, weightDecay, clipNorm, step, s1, s2|null) → norm
  Napi::Value OptimizerStep(const Napi::CallbackInfo& info) {
    const char* fn = "optimizerStep";
    Napi::Env env = info.Env();
    Decoder& d = dec(env, fn);
    const size_t N = d.off.total;
    float* p = f32(info, 0, fn, "params", N, "the parameter count");
    float* g = f32(info, 1, fn, "grads", N, "the parameter count");
    const int kind = (int)num(info, 2, fn, "kind");
    const double lr = num(info, 3, fn, "lr"), b1 = num(info, 4, fn, "beta1"), b2 = num(info, 5, fn, "beta2");
    const double rho = num(info, 6, fn, "rho"), eps = num(info, 7, fn, "eps"), wd = num(info, 8, fn, "weightDecay");
    const double clip = num(info, 9, fn, "clipNorm");
    const double step = num(info, 10, fn, "step");
    if (!(step >= 1)) fail(env, fmt(fn, "step must be >= 1 (updates count from 1)"));
    float* s1 = f32(info, 11, fn, kind == 0 ? "adam m" : "rmsprop v", N, "the parameter count");
    const double norm = std::sqrt(sat::sum_squares(g, N));
    const float scale = clip > 0 && norm > clip ? (float)(clip / norm) : 1.0f;
    const float wdFactor = (float)(1.0 - lr * wd);
    if (kind == 0) {
      float* s2 = f32(info, 12, fn, "adam v", N, "the parameter count");
      const double bc1 = 1.0 - std::pow(b1, step), bc2 = 1.0 - std::pow(b2, step);
      sat::adam_update(p, g, s1, s2, N, scale, (float)lr, wdFactor, (float)b1, (float)b2, (float)(1.0 - b1), (float)(1.0 - b2), (float)eps,
                       (float)(1.0 / bc1), (float)(1.0 / bc2));
    } else if (kind == 1) {
      sat::rmsprop_update(p, g, s1, N, scale, (float)lr, wdFactor, (float)rho, (float)(1.0 - rho), (float)eps);
    } else {
      fail(env, fmt(fn, "kind must be 0 (adam) or 1 (rmsprop)"));
    }
    return Napi::Number::New(env, norm);
  }

  Napi::Value WorkspaceBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), dec_ ? (double)dec_->workspace_bytes() : 0.0);
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    dec_.reset();
    return info.Env().Undefined();
  }
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  sat::init_threads();
  return Engine::Init(env, exports);
}

}  // namespace

NODE_API_MODULE(sat_native, InitAll)
