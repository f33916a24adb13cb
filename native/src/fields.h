// Argument checks shared by the addon's kernels (features.cc, stems.cc, resample.cc): a value of the
// wrong type is a TypeError, one of the right type out of range a RangeError, and every message names
// the function, the argument or field, what was expected and what it got, e.g.
// "FeaturePlan: plan.hop must be an integer in [1, 2048], got 0".
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace stemscope {

// Throws "<fn>: <what>" as a TypeError, or a RangeError when `range`.
[[noreturn]] inline void Fail(Napi::Env env, const std::string& fn, const std::string& what, bool range = false) {
  const std::string text = fn + ": " + what;
  if (range) throw Napi::RangeError::New(env, text);
  throw Napi::TypeError::New(env, text);
}

// What a JS value is, for "got …" ("a Float64Array of 10 values", "0", "undefined").
inline std::string Got(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    static const char* names[] = {"Int8Array",    "Uint8Array",   "Uint8ClampedArray", "Int16Array",
                                  "Uint16Array",  "Int32Array",   "Uint32Array",       "Float32Array",
                                  "Float64Array", "BigInt64Array", "BigUint64Array"};
    const auto t = v.As<Napi::TypedArray>().TypedArrayType();
    const std::string name = t >= 0 && t < 11 ? names[t] : "typed array";
    return "a " + name + " of " + std::to_string(v.As<Napi::TypedArray>().ElementLength()) + " values";
  }
  if (v.IsArray()) return "an array of " + std::to_string(v.As<Napi::Array>().Length()) + " values";
  if (v.IsNumber()) {
    std::ostringstream s;
    s << v.As<Napi::Number>().DoubleValue();
    return s.str();
  }
  if (v.IsString()) return "\"" + v.As<Napi::String>().Utf8Value() + "\"";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsFunction()) return "a function";
  return "an object";
}

// `v` (called `name` in errors) as an integer in [lo, hi].
inline int64_t IntegerArg(Napi::Env env, const std::string& fn, const std::string& name, const Napi::Value& v,
                          int64_t lo, int64_t hi) {
  if (!v.IsNumber()) Fail(env, fn, name + " must be an integer, got " + Got(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != std::floor(d) || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    Fail(env, fn, name + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + Got(v),
         true);
  return static_cast<int64_t>(d);
}

// `v` (called `name`) as a typed array of `type` (named `typeName`), of `expected` values unless that is < 0.
template <typename T>
Napi::TypedArrayOf<T> TypedArg(Napi::Env env, const std::string& fn, const std::string& name, const Napi::Value& v,
                               napi_typedarray_type type, const char* typeName, int64_t expected = -1) {
  const std::string want = expected >= 0 ? std::string(" of ") + std::to_string(expected) + " values" : "";
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    Fail(env, fn, name + " must be a " + typeName + want + ", got " + Got(v));
  auto a = v.As<Napi::TypedArrayOf<T>>();
  if (expected >= 0 && static_cast<int64_t>(a.ElementLength()) != expected)
    Fail(env, fn, name + " must be a " + typeName + want + ", got " + Got(v), true);
  return a;
}

// Field `key` of the object argument `object` (errors say "<object>.<key>") as an integer in [lo, hi].
inline int IntField(Napi::Object o, const std::string& fn, const char* object, const char* key, int lo, int hi) {
  return static_cast<int>(IntegerArg(o.Env(), fn, std::string(object) + "." + key, o.Get(key), lo, hi));
}

// Field `key` as a positive finite number.
inline double PositiveField(Napi::Object o, const std::string& fn, const char* object, const char* key) {
  const Napi::Value v = o.Get(key);
  const std::string name = std::string(object) + "." + key;
  if (!v.IsNumber()) Fail(o.Env(), fn, name + " must be a number, got " + Got(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d > 0) || !std::isfinite(d)) Fail(o.Env(), fn, name + " must be a positive number, got " + Got(v), true);
  return d;
}

// Field `key` as a copy of a typed array of `type`, of `expected` values unless that is < 0.
template <typename T>
std::vector<T> ArrayField(Napi::Object o, const std::string& fn, const char* object, const char* key,
                          napi_typedarray_type type, const char* typeName, int64_t expected) {
  auto a = TypedArg<T>(o.Env(), fn, std::string(object) + "." + key, o.Get(key), type, typeName, expected);
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

// Which SIMD build of a kernel runs, from `value` ("auto" or undefined: the CPU's best; "baseline";
// "avx2", refused when this CPU or build lacks it): true for the 4-lane AVX2 + FMA build.
inline bool WideBuildArg(Napi::Env env, const std::string& fn, const std::string& name, const Napi::Value& value,
                         bool hasAvx2) {
  const std::string want = value.IsString() ? value.As<Napi::String>().Utf8Value() : value.IsUndefined() ? "auto" : "";
  if (want == "auto") return hasAvx2;
  if (want == "baseline") return false;
  if (want == "avx2") {
    if (!hasAvx2) Fail(env, fn, name + " \"avx2\": this CPU (or build) has no AVX2 + FMA", true);
    return true;
  }
  Fail(env, fn, name + " must be \"auto\", \"baseline\" or \"avx2\", got " + Got(value));
}

}  // namespace stemscope
