// Node binding of the native decoder engine. Buffers (params, grads, optimiser state, inputs,
// outputs) are JS typed arrays whose memory C++ reads and writes in place: nothing is copied
// per call. Each call takes one options object; every field's type, length and range is
// checked before C++ touches it, and a bad one throws a JS Error that names it. A decoding
// context is a tagged object that records its engine and dimensions, so another engine's
// context, a forged object or a disposed engine is refused rather than dereferenced.
#include <napi.h>
#include <omp.h>

#include <climits>
#include <memory>
#include <string>

#include "addon_args.h"
#include "sat.h"

namespace {

using sat::Decoder;
using sat_addon::Fields;
using sat_addon::fail;

// Tags the objects that prepareDecode returns (random 128 bits: napi_type_tag's contract).
constexpr napi_type_tag kContextTag = {0x6b1e4f0c2d9a4e31ULL, 0x9f27c0d5a8b3e716ULL};

struct ContextBox {
  uint64_t engineId;
  sat::Dims dims;
  sat::DecodeContext ctx;
  int64_t accounted = 0;  // bytes reported to V8
  bool released = false;
};

bool sameDims(const sat::Dims& a, const sat::Dims& b) {
  return a.K == b.K && a.m == b.m && a.n == b.n && a.A == b.A && a.D == b.D && a.L == b.L;
}

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Engine",
                                   {InstanceMethod("forwardBackward", &Engine::ForwardBackward), InstanceMethod("prepareDecode", &Engine::PrepareDecode),
                                    InstanceMethod("initialState", &Engine::InitialState), InstanceMethod("decodeStep", &Engine::DecodeStep),
                                    InstanceMethod("releaseDecode", &Engine::ReleaseDecode),
                                    InstanceMethod("optimizerStep", &Engine::OptimizerStep), InstanceMethod("workspaceBytes", &Engine::WorkspaceBytes),
                                    InstanceMethod("dispose", &Engine::Dispose)});
    exports.Set("Engine", f);
    exports.Set("numThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), sat::num_threads()); }));
    // Whether prepareDecode takes float16 features (featuresHalf): F16C in this build.
#if SAT_HALF_FEATURES
    exports.Set("halfFeatures", Napi::Boolean::New(env, true));
#else
    exports.Set("halfFeatures", Napi::Boolean::New(env, false));
#endif
    exports.Set("blasInfo", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), sat::blas_info()); }));
    // sgemmGflops({M, N, K, reps}): the bench's in-run sgemm through the engine's gemm().
    exports.Set("sgemmGflops", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
      if (info.Length() < 1 || !info[0].IsObject()) fail(info.Env(), "sgemmGflops: expects one options object");
      Fields o(info.Env(), info[0].As<Napi::Object>(), "sgemmGflops", "");
      const int M = o.integer("M", 1, 16384), N = o.integer("N", 1, 16384), K = o.integer("K", 1, 16384), reps = o.integer("reps", 1, 1000);
      return Napi::Number::New(info.Env(), sat::sgemm_gflops(M, N, K, reps));
    }));
    return exports;
  }

  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
    if (info.Length() < 1 || !info[0].IsObject()) fail(info.Env(), "Engine: dims must be an object {K, m, n, A, D, L}");
    Fields o(info.Env(), info[0].As<Napi::Object>(), "Engine", "dims.");
    const int lim = 100000000;
    sat::Dims d{o.integer("K", 1, lim), o.integer("m", 1, lim), o.integer("n", 1, lim), o.integer("A", 1, lim), o.integer("D", 1, lim), o.integer("L", 1, lim)};
    dec_ = std::make_unique<Decoder>(d);
    static uint64_t serial = 0;
    id_ = ++serial;
  }

 private:
  std::unique_ptr<Decoder> dec_;
  uint64_t id_ = 0;

  Decoder& dec(Napi::Env env, const char* fn) {
    if (!dec_) fail(env, std::string(fn) + ": the engine was disposed");
    return *dec_;
  }

  static Fields options(const Napi::CallbackInfo& info, const char* fn) {
    if (info.Length() < 1 || !info[0].IsObject()) fail(info.Env(), std::string(fn) + ": expects one options object");
    return Fields(info.Env(), info[0].As<Napi::Object>(), fn, "");
  }

  // forwardBackward({params, grads, features, inputs, targets, mask, B, T, mode, dropout, seed,
  //   alphaC, reinforceWeight, entropyWeight, baseline, computeGrad, locations?, logProbOut, locationsOut})
  Napi::Value ForwardBackward(const Napi::CallbackInfo& info) {
    const char* fn = "forwardBackward";
    Napi::Env env = info.Env();
    Decoder& d = dec(env, fn);
    Fields o = options(info, fn);
    const sat::Dims& dm = d.dims;
    const int B = o.integer("B", 1, INT_MAX), T = o.integer("T", 1, INT_MAX);
    // Every row count and leading dimension of the step must fit the int of BLAS.
    const double widest = std::max({4.0 * dm.n, (double)dm.n + dm.D, (double)dm.K, (double)dm.L * dm.A});
    if ((double)B * T * std::max(1.0, (double)dm.L) > INT_MAX || (double)T * widest > INT_MAX || (double)B * dm.L > INT_MAX)
      fail(env, std::string(fn) + ": B=" + std::to_string(B) + ", T=" + std::to_string(T) + " is too large a step for this engine");
    const size_t R = (size_t)B * T;
    sat::StepArgs a{};
    float* params = o.f32("params", d.off.total, "the parameter count");
    float* grads = o.f32("grads", d.off.total, "the parameter count");
    a.B = B;
    a.T = T;
    a.features = o.f32("features", (size_t)B * dm.L * dm.D, "B*L*D");
    a.inputs = o.i32in("inputs", R, "B*T", 0, dm.K);
    a.targets = o.i32in("targets", R, "B*T", 0, dm.K);
    a.mask = o.f32("mask", R, "B*T");
    a.mode = o.integer("mode", 0, 2);
    a.dropout = (float)o.number("dropout");
    if (!(a.dropout >= 0.0f && a.dropout < 1.0f)) fail(env, std::string(fn) + ": dropout must be in [0, 1)");
    a.seed = o.uint32("seed");
    a.alphaC = (float)o.number("alphaC");
    a.reinforceWeight = (float)o.number("reinforceWeight");
    a.entropyWeight = (float)o.number("entropyWeight");
    a.baseline = (float)o.number("baseline");
    a.computeGrad = o.boolean("computeGrad");
    a.locations = o.present("locations") ? o.i32in("locations", R, "B*T", 0, dm.L) : nullptr;
    sat::StepOut out{};
    out.logProb = o.f64("logProbOut", (size_t)B, "B");
    out.locations = o.i32("locationsOut", R, "B*T");
    try {
      d.forward(params, a, out);
      if (a.computeGrad) d.backward(params, grads, a, out);
    } catch (const std::bad_alloc&) {
      fail(env, std::string(fn) + ": out of memory for the activations of B=" + std::to_string(B) + ", T=" + std::to_string(T));
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("loss", out.loss);
    r.Set("nll", out.nll);
    r.Set("penalty", out.penalty);
    r.Set("attentionEntropy", out.entropy);
    r.Set("tokens", out.tokens);
    return r;
  }

  // prepareDecode({params, features, numImages}) → a context object owned by this engine
  Napi::Value PrepareDecode(const Napi::CallbackInfo& info) {
    const char* fn = "prepareDecode";
    Napi::Env env = info.Env();
    Decoder& d = dec(env, fn);
    Fields o = options(info, fn);
    float* params = o.f32("params", d.off.total, "the parameter count");
    const int N = o.integer("numImages", 1, INT_MAX / d.dims.L);
    // features (Float32Array) or, where the build has SAT_HALF_FEATURES, featuresHalf
    // (float16 bits in a Uint16Array, as a feature store holds them).
    const size_t values = (size_t)N * d.dims.L * d.dims.D;
    float* feats = nullptr;
    uint16_t* featsHalf = nullptr;
#if SAT_HALF_FEATURES
    if (o.present("featuresHalf")) featsHalf = o.u16("featuresHalf", values, "numImages*L*D");
    else
#endif
      feats = o.f32("features", values, "numImages*L*D");
    auto box = std::make_unique<ContextBox>();
    box->engineId = id_;
    box->dims = d.dims;
    try {
      d.prepare_decode(params, feats, featsHalf, N, box->ctx);
    } catch (const std::bad_alloc&) {
      fail(env, std::string(fn) + ": out of memory for the context of " + std::to_string(N) + " images");
    }
    Napi::Object handle = Napi::Object::New(env);
    handle.Set("numImages", N);
    // 16 when the context keeps the features as float16 (see store_features), else 32.
    handle.Set("featureBits", box->ctx.featsHalf ? 16 : 32);
    ContextBox* raw = box.get();
    // The context's memory (features, P, the packed weights: 100 MB and more) counts towards
    // V8's heap limits, so that the GC frees dropped contexts as it would large arrays.
    raw->accounted = (int64_t)raw->ctx.bytes();
    Napi::MemoryManagement::AdjustExternalMemory(env, raw->accounted);
    napi_status st = napi_wrap(
        env, handle, raw,
        [](napi_env e, void* p, void*) {
          ContextBox* b = static_cast<ContextBox*>(p);
          int64_t change = 0;
          napi_adjust_external_memory(e, -b->accounted, &change);
          delete b;
        },
        nullptr, nullptr);
    if (st != napi_ok) fail(env, std::string(fn) + ": could not create the context");
    box.release();
    handle.TypeTag(&kContextTag);
    return handle;
  }

  // The context of a decoding call: ours (tag), made by this engine, with its dimensions.
  ContextBox& contextBox(Fields& o, const Decoder& d) {
    Napi::Value v = o.get("ctx");
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kContextTag)) o.error("ctx is not a context from prepareDecode");
    void* p = nullptr;
    if (napi_unwrap(o.env(), v, &p) != napi_ok || !p) o.error("ctx is not a context from prepareDecode");
    ContextBox* box = static_cast<ContextBox*>(p);
    if (box->engineId != id_) o.error("ctx belongs to another engine (each engine decodes only the contexts its prepareDecode made)");
    if (!sameDims(box->dims, d.dims)) o.error("ctx has other dimensions than this engine");
    if (box->released) o.error("ctx was released (releaseDecode) and cannot decode any more");
    return *box;
  }

  const sat::DecodeContext& context(Fields& o, const Decoder& d) { return contextBox(o, d).ctx; }

  // releaseDecode({ctx}): the context's buffers go to the engine for its next prepareDecode.
  Napi::Value ReleaseDecode(const Napi::CallbackInfo& info) {
    const char* fn = "releaseDecode";
    Napi::Env env = info.Env();
    Decoder& d = dec(env, fn);
    Fields o = options(info, fn);
    ContextBox& box = contextBox(o, d);
    d.recycle(box.ctx);
    box.released = true;
    Napi::MemoryManagement::AdjustExternalMemory(env, -box.accounted);
    box.accounted = 0;
    return env.Undefined();
  }

  // The leading fields of the decoding calls: params, ctx, and rowImage (which image each row
  // decodes; empty: nothing to do).
  struct RowArgs {
    float* params;
    const sat::DecodeContext* ctx;
    int* rows;
    size_t N;
  };
  RowArgs rowArgs(Fields& o, Decoder& d) {
    float* params = o.f32("params", d.off.total, "the parameter count");
    const sat::DecodeContext& ctx = context(o, d);
    const size_t N = o.length("rowImage", napi_int32_array, "Int32Array");
    if (N > (size_t)INT_MAX / std::max(d.dims.K, d.dims.L * d.dims.A)) o.error("rowImage has too many rows for one call");
    int* rows = N == 0 ? nullptr : o.i32in("rowImage", N, "rows", 0, ctx.numImages);
    return {params, &ctx, rows, N};
  }

  // initialState({params, ctx, rowImage, h, c})
  Napi::Value InitialState(const Napi::CallbackInfo& info) {
    const char* fn = "initialState";
    Napi::Env env = info.Env();
    Decoder& d = dec(env, fn);
    Fields o = options(info, fn);
    auto [params, ctx, rows, N] = rowArgs(o, d);
    float* h = o.f32("h", N * d.dims.n, "rows*n");
    float* c = o.f32("c", N * d.dims.n, "rows*n");
    if (N > 0) d.initial_state(params, *ctx, rows, (int)N, h, c);
    return env.Undefined();
  }

  // decodeStep({params, ctx, rowImage, tokens, h, c, sampleSeed?, logProbs, alpha, beta, locations?,
  //             topK?, blocked?, topIds?, topLogProbs?})
  Napi::Value DecodeStep(const Napi::CallbackInfo& info) {
    const char* fn = "decodeStep";
    Napi::Env env = info.Env();
    Decoder& d = dec(env, fn);
    Fields o = options(info, fn);
    auto [params, ctx, rows, N] = rowArgs(o, d);
    const sat::Dims& dm = d.dims;
    int* tokens = o.i32in("tokens", N, "rows", 0, dm.K);
    float* h = o.f32("h", N * dm.n, "rows*n");
    float* c = o.f32("c", N * dm.n, "rows*n");
    const bool sample = o.present("sampleSeed");
    const uint32_t seed = sample ? o.uint32("sampleSeed") : 0u;
    // With topK only the best topK words of each row come back (topIds, topLogProbs), and
    // logProbs may be left out: beam search needs no more, and is spared N*K floats a step.
    const int topK = o.present("topK") ? o.integer("topK", 1, dm.K) : 0;
    uint8_t* blocked = topK && o.present("blocked") ? o.u8("blocked", dm.K, "K") : nullptr;
    int* topIds = topK ? o.i32("topIds", N * topK, "rows*topK") : nullptr;
    float* topLp = topK ? o.f32("topLogProbs", N * topK, "rows*topK") : nullptr;
    float* lp = !topK || o.present("logProbs") ? o.f32("logProbs", N * dm.K, "rows*K") : nullptr;
    float* al = o.f32("alpha", N * dm.L, "rows*L");
    float* be = o.f32("beta", N, "rows");
    int* locs = sample && o.present("locations") ? o.i32("locations", N, "rows") : nullptr;
    if (N > 0) {
      try {
        d.decode_step(params, *ctx, rows, tokens, (int)N, h, c, sample, seed, lp, al, be, locs, topK, blocked, topIds, topLp);
      } catch (const std::bad_alloc&) {
        fail(env, std::string(fn) + ": out of memory for " + std::to_string(N) + " rows");
      }
    }
    return env.Undefined();
  }

  // optimizerStep({params, grads, kind: 0 adam | 1 rmsprop, lr, beta1, beta2, rho, eps,
  //   weightDecay, clipNorm, step, state1, state2 (adam)}) → the gradient norm before clipping
  Napi::Value OptimizerStep(const Napi::CallbackInfo& info) {
    const char* fn = "optimizerStep";
    Napi::Env env = info.Env();
    Decoder& d = dec(env, fn);
    Fields o = options(info, fn);
    const size_t N = d.off.total;
    float* p = o.f32("params", N, "the parameter count");
    float* g = o.f32("grads", N, "the parameter count");
    const int kind = o.integer("kind", 0, 1);
    const double lr = o.number("lr"), b1 = o.number("beta1"), b2 = o.number("beta2");
    const double rho = o.number("rho"), eps = o.number("eps"), wd = o.number("weightDecay");
    const double clip = o.number("clipNorm");
    const double step = o.number("step");
    if (!(step >= 1)) o.error("step must be >= 1 (updates count from 1)");
    float* s1 = o.f32("state1", N, "the parameter count");
    float* s2 = kind == 0 ? o.f32("state2", N, "the parameter count") : nullptr;
    const double norm = std::sqrt(sat::sum_squares(g, N));
    const float scale = clip > 0 && norm > clip ? (float)(clip / norm) : 1.0f;
    const float wdFactor = (float)(1.0 - lr * wd);
    if (kind == 0) {
      const double bc1 = 1.0 - std::pow(b1, step), bc2 = 1.0 - std::pow(b2, step);
      sat::adam_update(p, g, s1, s2, N, scale, (float)lr, wdFactor, (float)b1, (float)b2, (float)(1.0 - b1), (float)(1.0 - b2), (float)eps,
                       (float)(1.0 / bc1), (float)(1.0 / bc2));
    } else {
      sat::rmsprop_update(p, g, s1, N, scale, (float)lr, wdFactor, (float)rho, (float)(1.0 - rho), (float)eps);
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
  Engine::Init(env, exports);
  exports.Set("layers", sat_addon::layer_bindings(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(sat_native, InitAll)
