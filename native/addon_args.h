// Reading one options object of a binding call: every field is checked for its type, its
// length (typed arrays) or its range (numbers) before C++ uses it, and a bad one throws a JS
// Error "fn: prefix.field ...". Typed arrays are used in place (no copy).
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace sat_addon {

[[noreturn]] inline void fail(Napi::Env env, const std::string& msg) { throw Napi::Error::New(env, msg); }

class Fields {
 public:
  Fields(Napi::Env env, Napi::Object o, const char* fn, const char* prefix) : env_(env), o_(o), fn_(fn), prefix_(prefix) {}

  Napi::Env env() const { return env_; }
  [[noreturn]] void error(const std::string& what) const { fail(env_, std::string(fn_) + ": " + what); }
  Napi::Value get(const char* name) const { return o_.Get(name); }
  bool present(const char* name) const {
    Napi::Value v = o_.Get(name);
    return !v.IsUndefined() && !v.IsNull();
  }

  double number(const char* name) const {
    Napi::Value v = o_.Get(name);
    if (!v.IsNumber()) error(label(name) + " must be a number");
    const double x = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(x)) error(label(name) + " must be finite");
    return x;
  }
  int integer(const char* name, int lo, int hi) const {
    const double x = number(name);
    if (!(x >= lo && x <= hi) || x != std::floor(x))
      error(label(name) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + num(x));
    return (int)x;
  }
  uint32_t uint32(const char* name) const {
    const double x = number(name);
    if (!(x >= 0 && x <= 4294967295.0) || x != std::floor(x)) error(label(name) + " must be a uint32, got " + num(x));
    return (uint32_t)x;
  }
  bool boolean(const char* name) const {
    Napi::Value v = o_.Get(name);
    if (!v.IsBoolean()) error(label(name) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }

  // Element count of a typed array of the given type.
  size_t length(const char* name, napi_typedarray_type type, const char* typeName) const { return typed(name, type, typeName).ElementLength(); }

  float* f32(const char* name, size_t expected, const char* expr) const {
    return sized<float>(name, napi_float32_array, "Float32Array", "floats", expected, expr);
  }
  double* f64(const char* name, size_t expected, const char* expr) const {
    return sized<double>(name, napi_float64_array, "Float64Array", "doubles", expected, expr);
  }
  uint8_t* u8(const char* name, size_t expected, const char* expr) const {
    return sized<uint8_t>(name, napi_uint8_array, "Uint8Array", "bytes", expected, expr);
  }
  uint16_t* u16(const char* name, size_t expected, const char* expr) const {
    return sized<uint16_t>(name, napi_uint16_array, "Uint16Array", "values", expected, expr);
  }
  // An output (or unconstrained) Int32Array.
  int* i32(const char* name, size_t expected, const char* expr) const { return sized<int>(name, napi_int32_array, "Int32Array", "ints", expected, expr); }
  // An input Int32Array whose every entry must be in [lo, hi).
  int* i32in(const char* name, size_t expected, const char* expr, int lo, int hi) const {
    int* p = i32(name, expected, expr);
    for (size_t k = 0; k < expected; k++)
      if (p[k] < lo || p[k] >= hi)
        error(label(name) + "[" + std::to_string(k) + "] = " + std::to_string(p[k]) + " is outside [" + std::to_string(lo) + ", " +
              std::to_string(hi) + ")");
    return p;
  }

 private:
  Napi::Env env_;
  Napi::Object o_;
  const char* fn_;
  const char* prefix_;

  std::string label(const char* name) const { return std::string(prefix_) + name; }
  static std::string num(double x) {
    std::string s = std::to_string(x);
    return s.find('.') != std::string::npos ? s.substr(0, s.find_last_not_of('0') + 1) : s;
  }
  Napi::TypedArray typed(const char* name, napi_typedarray_type type, const char* typeName) const {
    Napi::Value v = o_.Get(name);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) error(label(name) + " must be a " + typeName);
    return v.As<Napi::TypedArray>();
  }
  template <typename E>
  E* sized(const char* name, napi_typedarray_type type, const char* typeName, const char* unit, size_t expected, const char* expr) const {
    Napi::TypedArray a = typed(name, type, typeName);
    if (a.ElementLength() != expected)
      error(label(name) + " has " + std::to_string(a.ElementLength()) + " " + unit + ", expected " + expr + " = " + std::to_string(expected));
    // A zero-length array may have no backing store; callers never read it then.
    return expected == 0 ? nullptr : reinterpret_cast<E*>(static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
  }
};

// The per-layer entry points that the tests compare with the reference (layer_bindings.cc).
Napi::Object layer_bindings(Napi::Env env);

}  // namespace sat_addon
