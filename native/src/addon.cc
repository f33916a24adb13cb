// The tensor wrapper, argument conversion and error translation of the stemscope addon.
#include "allocator.h"
#include "distributed.h"
#include "features.h"
#include "resample.h"
#include "stems.h"
#include "tensor.h"

#include <ATen/Parallel.h>

#include <sstream>

namespace stemscope {

namespace {
int64_t live_tensors = 0;  // touched only on the JS thread
Napi::FunctionReference* tensor_constructor = nullptr;
}  // namespace

Napi::Function TensorWrap::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeTensor",
                                    {
                                        InstanceMethod("dispose", &TensorWrap::Dispose),
                                        InstanceAccessor("disposed", &TensorWrap::IsDisposed, nullptr),
                                    });
  tensor_constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
  return ctor;
}

// Holder used to move an at::Tensor into a freshly constructed JS object.
struct PendingTensor {
  at::Tensor tensor;
};

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  if (info.Length() == 1 && info[0].IsExternal()) {
    auto* pending = info[0].As<Napi::External<PendingTensor>>().Data();
    tensor_ = std::move(pending->tensor);
    if (tensor_.defined()) {
      counted_ = true;
      ++live_tensors;
    }
  } else {
    throw Napi::TypeError::New(info.Env(), "NativeTensor is created by the engine, not with new");
  }
}

TensorWrap::~TensorWrap() { Release(); }

void TensorWrap::Release() {
  if (counted_) {
    counted_ = false;
    --live_tensors;
  }
  tensor_ = at::Tensor();
}

Napi::Object TensorWrap::Wrap(Napi::Env env, at::Tensor tensor) {
  PendingTensor pending{std::move(tensor)};
  return tensor_constructor->New({Napi::External<PendingTensor>::New(env, &pending)});
}

bool TensorWrap::IsTensor(const Napi::Value& value) {
  return value.IsObject() && value.As<Napi::Object>().InstanceOf(tensor_constructor->Value());
}

int64_t TensorWrap::LiveCount() { return live_tensors; }

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value TensorWrap::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_.defined());
}

std::string DtypeName(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(type);
  }
}

at::ScalarType ParseDtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "float64") return at::kDouble;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  if (name == "int64") return at::kLong;
  if (name == "int32") return at::kInt;
  if (name == "uint8") return at::kByte;
  if (name == "bool") return at::kBool;
  throw std::invalid_argument("unknown dtype '" + name +
                              "' (expected float32, float64, bfloat16, float16, int64, int32, uint8 or bool)");
}

std::string Describe(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream out;
  out << DtypeName(t.scalar_type()) << "[";
  for (int64_t i = 0; i < t.dim(); ++i) out << (i ? ", " : "") << t.size(i);
  out << "]";
  if (!t.device().is_cpu()) out << "@" << t.device().str();
  return out.str();
}

void Args::typeError(size_t i, const char* expected) const {
  std::ostringstream out;
  out << op << ": argument " << i << " must be " << expected;
  throw Napi::TypeError::New(env(), out.str());
}

const at::Tensor& Args::tensor(size_t i) const {
  if (i >= info.Length() || !TensorWrap::IsTensor(info[i])) typeError(i, "a tensor");
  const at::Tensor& t = TensorWrap::Unwrap(info[i].As<Napi::Object>())->tensor();
  if (!t.defined()) {
    std::ostringstream out;
    out << op << ": argument " << i << " is a tensor that was already disposed";
    throw Napi::Error::New(env(), out.str());
  }
  return t;
}

c10::optional<at::Tensor> Args::optionalTensor(size_t i) const {
  if (isMissing(i)) return c10::nullopt;
  return tensor(i);
}

std::vector<at::Tensor> Args::tensorList(size_t i) const {
  if (i >= info.Length() || !info[i].IsArray()) typeError(i, "an array of tensors");
  auto array = info[i].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(array.Length());
  for (uint32_t k = 0; k < array.Length(); ++k) {
    Napi::Value v = array.Get(k);
    if (!TensorWrap::IsTensor(v)) typeError(i, "an array of tensors");
    const at::Tensor& t = TensorWrap::Unwrap(v.As<Napi::Object>())->tensor();
    if (!t.defined()) {
      std::ostringstream msg;
      msg << op << ": tensor " << k << " of argument " << i << " was already disposed";
      throw Napi::Error::New(env(), msg.str());
    }
    out.push_back(t);
  }
  return out;
}

double Args::number(size_t i) const {
  if (i >= info.Length() || !info[i].IsNumber()) typeError(i, "a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

double Args::numberOr(size_t i, double fallback) const { return isMissing(i) ? fallback : number(i); }

int64_t Args::integer(size_t i) const {
  if (i >= info.Length() || !info[i].IsNumber()) typeError(i, "an integer");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v != static_cast<double>(static_cast<int64_t>(v))) typeError(i, "an integer");
  return static_cast<int64_t>(v);
}

int64_t Args::integerOr(size_t i, int64_t fallback) const { return isMissing(i) ? fallback : integer(i); }

bool Args::boolean(size_t i) const {
  if (i >= info.Length() || !info[i].IsBoolean()) typeError(i, "a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

bool Args::booleanOr(size_t i, bool fallback) const { return isMissing(i) ? fallback : boolean(i); }

std::string Args::string(size_t i) const {
  if (i >= info.Length() || !info[i].IsString()) typeError(i, "a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::vector<int64_t> Args::intList(size_t i) const {
  if (i >= info.Length() || !info[i].IsArray()) typeError(i, "an array of integers");
  auto array = info[i].As<Napi::Array>();
  std::vector<int64_t> out(array.Length());
  for (uint32_t k = 0; k < array.Length(); ++k) {
    Napi::Value v = array.Get(k);
    if (!v.IsNumber()) typeError(i, "an array of integers");
    out[k] = static_cast<int64_t>(v.As<Napi::Number>().DoubleValue());
  }
  return out;
}

at::ScalarType Args::dtype(size_t i) const {
  try {
    return ParseDtype(string(i));
  } catch (const std::invalid_argument& e) {
    throw Napi::TypeError::New(env(), std::string(op) + ": " + e.what());
  }
}

at::Device Args::device(size_t i) const {
  if (isMissing(i)) return at::Device(at::kCPU);
  std::string name = string(i);
  try {
    return at::Device(name);
  } catch (const std::exception&) {
    throw Napi::TypeError::New(env(), std::string(op) + ": unknown device '" + name + "' (expected cpu or cuda[:N])");
  }
}

namespace {

// libtorch messages end with a C++ backtrace in debug builds; keep the first lines only.
std::string Shorten(const std::string& message) {
  std::string out;
  std::istringstream lines(message);
  std::string line;
  int kept = 0;
  while (std::getline(lines, line) && kept < 4) {
    if (line.rfind("Exception raised from", 0) == 0 || line.rfind("frame #", 0) == 0) break;
    if (line.empty()) continue;
    out += (kept ? " " : "") + line;
    ++kept;
  }
  return out;
}

Napi::Value Translate(const Args& args, const std::string& shapes, const std::string& message) {
  std::string text = std::string(args.op) + "(" + shapes + "): " + Shorten(message);
  throw Napi::Error::New(args.env(), text);
}

}  // namespace

Napi::Value GuardList(const Args& args, const std::vector<at::Tensor>& inputs,
                      const std::function<Napi::Value()>& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    std::string shapes;
    for (size_t i = 0; i < inputs.size(); ++i) shapes += (i ? ", " : "") + Describe(inputs[i]);
    return Translate(args, shapes, e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::string shapes;
    for (size_t i = 0; i < inputs.size(); ++i) shapes += (i ? ", " : "") + Describe(inputs[i]);
    return Translate(args, shapes, e.what());
  }
}

Napi::Value Guard(const Args& args, std::initializer_list<const at::Tensor*> inputs,
                  const std::function<Napi::Value()>& body) {
  std::vector<at::Tensor> list;
  for (const at::Tensor* t : inputs) list.push_back(t ? *t : at::Tensor());
  return GuardList(args, list, body);
}

}  // namespace stemscope

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  try {
    stemscope::InstallCachingAllocator();
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("stemscope: ") + e.what());
  }
  exports.Set("NativeTensor", stemscope::TensorWrap::Init(env));
  stemscope::RegisterOps(env, exports);
  stemscope::RegisterFeatureKernel(env, exports);
  stemscope::RegisterStemsKernel(env, exports);
  stemscope::RegisterResampleKernel(env, exports);
  stemscope::RegisterDistributed(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(stemscope_native, Init)
