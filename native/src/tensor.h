// Shared declarations of the stemscope native addon: the JS wrapper of an at::Tensor and the helpers
// that turn JS arguments into libtorch arguments and libtorch errors into JS exceptions.
// Nothing model-specific lives here: only tensors, ops, autograd and an optimizer step.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace stemscope {

// A JS object owning one at::Tensor. The tensor is released by dispose() (deterministic, used by
// the TypeScript scopes) or, as a safety net, when the JS object is garbage collected.
class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, at::Tensor tensor);
  static bool IsTensor(const Napi::Value& value);
  static int64_t LiveCount();

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  const at::Tensor& tensor() const { return tensor_; }
  void Release();

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);

  at::Tensor tensor_;
  bool counted_ = false;
};

// Human-readable description of a tensor for error messages, e.g. "float[16, 1, 128, 128]".
std::string Describe(const at::Tensor& t);

// Argument helpers: each throws a JS TypeError naming the op and the argument on bad input.
struct Args {
  const Napi::CallbackInfo& info;
  const char* op;
  Napi::Env env() const { return info.Env(); }
  size_t size() const { return info.Length(); }
  bool isMissing(size_t i) const { return i >= info.Length() || info[i].IsUndefined() || info[i].IsNull(); }
  [[noreturn]] void typeError(size_t i, const char* expected) const;
  const at::Tensor& tensor(size_t i) const;
  c10::optional<at::Tensor> optionalTensor(size_t i) const;
  std::vector<at::Tensor> tensorList(size_t i) const;
  double number(size_t i) const;
  double numberOr(size_t i, double fallback) const;
  int64_t integer(size_t i) const;
  int64_t integerOr(size_t i, int64_t fallback) const;
  bool boolean(size_t i) const;
  bool booleanOr(size_t i, bool fallback) const;
  std::string string(size_t i) const;
  std::vector<int64_t> intList(size_t i) const;
  at::ScalarType dtype(size_t i) const;
  at::Device device(size_t i) const;
};

at::ScalarType ParseDtype(const std::string& name);
std::string DtypeName(at::ScalarType type);

// Runs `body` and converts any libtorch / C++ error into a JS Error whose message starts with the
// op name and the shapes of its tensor inputs.
Napi::Value Guard(const Args& args, std::initializer_list<const at::Tensor*> inputs,
                  const std::function<Napi::Value()>& body);
Napi::Value GuardList(const Args& args, const std::vector<at::Tensor>& inputs,
                      const std::function<Napi::Value()>& body);

// Registers every op of ops.cc on `exports`.
void RegisterOps(Napi::Env env, Napi::Object exports);

}  // namespace stemscope
