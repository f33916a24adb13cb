// The ops the TypeScript engine calls: creation, data transfer, shape, math, nn functions, autograd,
// autocast, threads and the Adam/AdamW step. Each is a thin wrapper over one ATen call.
#include <algorithm>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/version.h>

#include <cmath>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cstring>

#include "allocator.h"
#include "tensor.h"

namespace stemscope {
namespace {

using Fn = Napi::Value (*)(const Napi::CallbackInfo&);

Napi::Value Wrap(const Args& a, at::Tensor t) { return TensorWrap::Wrap(a.env(), std::move(t)); }

at::Scalar ScalarOf(const Args& a, size_t i) {
  const Napi::Value& v = a.info[i];
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (!v.IsNumber()) a.typeError(i, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::floor(d) == d && std::fabs(d) < 9.0e15) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

int64_t ReductionOf(const Args& a, size_t i) {
  std::string r = a.isMissing(i) ? "mean" : a.string(i);
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  if (r == "none") return at::Reduction::None;
  throw Napi::TypeError::New(a.env(), std::string(a.op) + ": reduction must be mean, sum or none, got '" + r + "'");
}

// ---------------------------------------------------------------- creation and data transfer

size_t ElementSize(at::ScalarType t) { return c10::elementSize(t); }

// fromBuffer(typedArray, shape, dtype, device?) -> tensor holding a copy of the array's bytes.
Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  Args a{info, "fromBuffer"};
  if (!info[0].IsTypedArray()) a.typeError(0, "a typed array");
  auto array = info[0].As<Napi::TypedArray>();
  auto shape = a.intList(1);
  auto dtype = a.dtype(2);
  auto device = a.device(3);
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  size_t bytes = static_cast<size_t>(numel) * ElementSize(dtype);
  if (bytes != array.ByteLength()) {
    throw Napi::RangeError::New(
        info.Env(), "fromBuffer: " + std::to_string(array.ByteLength()) + " bytes given but shape and dtype " +
                        DtypeName(dtype) + " need " + std::to_string(bytes));
  }
  auto* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  return Guard(a, {}, [&] {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
    if (bytes) std::memcpy(t.data_ptr(), data, bytes);
    if (!device.is_cpu()) t = t.to(device);
    return Wrap(a, t);
  });
}

// toBuffer(t) -> ArrayBuffer with a copy of the tensor's elements in row-major order.
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  Args a{info, "toBuffer"};
  const at::Tensor& t = a.tensor(0);
  return Guard(a, {&t}, [&]() -> Napi::Value {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    size_t bytes = static_cast<size_t>(c.numel()) * c.element_size();
    auto buffer = Napi::ArrayBuffer::New(info.Env(), bytes);
    if (bytes) std::memcpy(buffer.Data(), c.data_ptr(), bytes);
    return buffer;
  });
}

// viewBuffer(t) -> ArrayBuffer that aliases the memory of a contiguous CPU tensor (zero-copy). The
// ArrayBuffer keeps the storage alive until it is garbage collected.
Napi::Value ViewBuffer(const Napi::CallbackInfo& info) {
  Args a{info, "viewBuffer"};
  const at::Tensor& t = a.tensor(0);
  if (!t.device().is_cpu() || !t.is_contiguous()) {
    throw Napi::Error::New(info.Env(), "viewBuffer(" + Describe(t) + "): only contiguous CPU tensors can be viewed");
  }
  auto* keep = new at::Tensor(t.detach());
  size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  return Napi::ArrayBuffer::New(info.Env(), keep->data_ptr(), bytes,
                                [](Napi::Env, void*, at::Tensor* held) { delete held; }, keep);
}

Napi::Value Factory(const Napi::CallbackInfo& info, const char* op,
                    at::Tensor (*make)(at::IntArrayRef, const at::TensorOptions&)) {
  Args a{info, op};
  auto shape = a.intList(0);
  auto options = at::TensorOptions().dtype(a.isMissing(1) ? at::kFloat : a.dtype(1)).device(a.device(2));
  return Guard(a, {}, [&] { return Wrap(a, make(shape, options)); });
}

Napi::Value Zeros(const Napi::CallbackInfo& info) {
  return Factory(info, "zeros", [](at::IntArrayRef s, const at::TensorOptions& o) { return at::zeros(s, o); });
}
Napi::Value Ones(const Napi::CallbackInfo& info) {
  return Factory(info, "ones", [](at::IntArrayRef s, const at::TensorOptions& o) { return at::ones(s, o); });
}
Napi::Value Randn(const Napi::CallbackInfo& info) {
  return Factory(info, "randn", [](at::IntArrayRef s, const at::TensorOptions& o) { return at::randn(s, o); });
}
Napi::Value Rand(const Napi::CallbackInfo& info) {
  return Factory(info, "rand", [](at::IntArrayRef s, const at::TensorOptions& o) { return at::rand(s, o); });
}

// full(shape, value, dtype?, device?)
Napi::Value Full(const Napi::CallbackInfo& info) {
  Args a{info, "full"};
  auto shape = a.intList(0);
  auto value = ScalarOf(a, 1);
  auto options = at::TensorOptions().dtype(a.isMissing(2) ? at::kFloat : a.dtype(2)).device(a.device(3));
  return Guard(a, {}, [&] { return Wrap(a, at::full(shape, value, options)); });
}

// randint(low, high, shape, device?) -> int64 tensor in [low, high)
Napi::Value Randint(const Napi::CallbackInfo& info) {
  Args a{info, "randint"};
  int64_t low = a.integer(0), high = a.integer(1);
  auto shape = a.intList(2);
  auto options = at::TensorOptions().dtype(at::kLong).device(a.device(3));
  return Guard(a, {}, [&] { return Wrap(a, at::randint(low, high, shape, options)); });
}

// arange(start, end, step, dtype?)
Napi::Value Arange(const Napi::CallbackInfo& info) {
  Args a{info, "arange"};
  auto start = ScalarOf(a, 0), end = ScalarOf(a, 1), step = ScalarOf(a, 2);
  auto options = at::TensorOptions().dtype(a.isMissing(3) ? at::kFloat : a.dtype(3));
  return Guard(a, {}, [&] { return Wrap(a, at::arange(start, end, step, options)); });
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Args a{info, "manualSeed"};
  at::manual_seed(static_cast<uint64_t>(a.integer(0)));
  return info.Env().Undefined();
}

// ---------------------------------------------------------------- metadata

Napi::Value Shape(const Napi::CallbackInfo& info) {
  Args a{info, "shape"};
  const at::Tensor& t = a.tensor(0);
  auto out = Napi::Array::New(info.Env(), t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), t.size(i)));
  return out;
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  Args a{info, "dtype"};
  return Napi::String::New(info.Env(), DtypeName(a.tensor(0).scalar_type()));
}

Napi::Value DeviceOf(const Napi::CallbackInfo& info) {
  Args a{info, "device"};
  return Napi::String::New(info.Env(), a.tensor(0).device().str());
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  Args a{info, "item"};
  const at::Tensor& t = a.tensor(0);
  return Guard(a, {&t}, [&] { return Napi::Number::New(info.Env(), t.item().toDouble()); });
}

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  Args a{info, "requiresGrad"};
  return Napi::Boolean::New(info.Env(), a.tensor(0).requires_grad());
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Args a{info, "setRequiresGrad"};
  const at::Tensor& t = a.tensor(0);
  bool flag = a.boolean(1);
  return Guard(a, {&t}, [&] {
    const_cast<at::Tensor&>(t).requires_grad_(flag);
    return info.Env().Undefined();
  });
}

Napi::Value IsContiguous(const Napi::CallbackInfo& info) {
  Args a{info, "isContiguous"};
  const at::Tensor& t = a.tensor(0);
  std::string format = a.isMissing(1) ? "contiguous" : a.string(1);
  auto mf = format == "channels_last" ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  return Napi::Boolean::New(info.Env(), t.is_contiguous(mf));
}

Napi::Value LiveCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(TensorWrap::LiveCount()));
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && TensorWrap::IsTensor(info[0])) TensorWrap::Unwrap(info[0].As<Napi::Object>())->Release();
  return info.Env().Undefined();
}

// ---------------------------------------------------------------- conversion and shape

Napi::Value ToDtype(const Napi::CallbackInfo& info) {
  Args a{info, "to"};
  const at::Tensor& t = a.tensor(0);
  auto dtype = a.dtype(1);
  return Guard(a, {&t}, [&] { return Wrap(a, t.to(dtype)); });
}

Napi::Value ToDevice(const Napi::CallbackInfo& info) {
  Args a{info, "toDevice"};
  const at::Tensor& t = a.tensor(0);
  auto device = a.device(1);
  return Guard(a, {&t}, [&] { return Wrap(a, t.to(device)); });
}

// contiguous(t, "contiguous" | "channels_last")
Napi::Value Contiguous(const Napi::CallbackInfo& info) {
  Args a{info, "contiguous"};
  const at::Tensor& t = a.tensor(0);
  std::string format = a.isMissing(1) ? "contiguous" : a.string(1);
  auto mf = format == "channels_last" ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  return Guard(a, {&t}, [&] { return Wrap(a, t.contiguous(mf)); });
}

Napi::Value Clone(const Napi::CallbackInfo& info) {
  Args a{info, "clone"};
  const at::Tensor& t = a.tensor(0);
  return Guard(a, {&t}, [&] { return Wrap(a, t.clone(at::MemoryFormat::Preserve)); });
}

Napi::Value Detach(const Napi::CallbackInfo& info) {
  Args a{info, "detach"};
  const at::Tensor& t = a.tensor(0);
  return Guard(a, {&t}, [&] { return Wrap(a, t.detach()); });
}

Napi::Value Reshape(const Napi::CallbackInfo& info) {
  Args a{info, "reshape"};
  const at::Tensor& t = a.tensor(0);
  auto shape = a.intList(1);
  return Guard(a, {&t}, [&] { return Wrap(a, t.reshape(shape)); });
}

Napi::Value Permute(const Napi::CallbackInfo& info) {
  Args a{info, "permute"};
  const at::Tensor& t = a.tensor(0);
  auto dims = a.intList(1);
  return Guard(a, {&t}, [&] { return Wrap(a, t.permute(dims)); });
}

Napi::Value Transpose(const Napi::CallbackInfo& info) {
  Args a{info, "transpose"};
  const at::Tensor& t = a.tensor(0);
  int64_t d0 = a.integer(1), d1 = a.integer(2);
  return Guard(a, {&t}, [&] { return Wrap(a, t.transpose(d0, d1)); });
}

// slice(t, dim, start, end, step)
Napi::Value Slice(const Napi::CallbackInfo& info) {
  Args a{info, "slice"};
  const at::Tensor& t = a.tensor(0);
  int64_t dim = a.integer(1), start = a.integer(2), end = a.integer(3), step = a.integerOr(4, 1);
  return Guard(a, {&t}, [&] { return Wrap(a, t.slice(dim, start, end, step)); });
}

Napi::Value Select(const Napi::CallbackInfo& info) {
  Args a{info, "select"};
  const at::Tensor& t = a.tensor(0);
  int64_t dim = a.integer(1), index = a.integer(2);
  return Guard(a, {&t}, [&] { return Wrap(a, t.select(dim, index)); });
}

Napi::Value Cat(const Napi::CallbackInfo& info) {
  Args a{info, "cat"};
  auto list = a.tensorList(0);
  int64_t dim = a.integerOr(1, 0);
  return GuardList(a, list, [&] { return Wrap(a, at::cat(list, dim)); });
}

Napi::Value Stack(const Napi::CallbackInfo& info) {
  Args a{info, "stack"};
  auto list = a.tensorList(0);
  int64_t dim = a.integerOr(1, 0);
  return GuardList(a, list, [&] { return Wrap(a, at::stack(list, dim)); });
}

Napi::Value Squeeze(const Napi::CallbackInfo& info) {
  Args a{info, "squeeze"};
  const at::Tensor& t = a.tensor(0);
  bool all = a.isMissing(1);
  int64_t dim = a.integerOr(1, 0);
  return Guard(a, {&t}, [&] { return Wrap(a, all ? t.squeeze() : t.squeeze(dim)); });
}

Napi::Value Unsqueeze(const Napi::CallbackInfo& info) {
  Args a{info, "unsqueeze"};
  const at::Tensor& t = a.tensor(0);
  int64_t dim = a.integer(1);
  return Guard(a, {&t}, [&] { return Wrap(a, t.unsqueeze(dim)); });
}

Napi::Value Expand(const Napi::CallbackInfo& info) {
  Args a{info, "expand"};
  const at::Tensor& t = a.tensor(0);
  auto shape = a.intList(1);
  return Guard(a, {&t}, [&] { return Wrap(a, t.expand(shape)); });
}

Napi::Value Flatten(const Napi::CallbackInfo& info) {
  Args a{info, "flatten"};
  const at::Tensor& t = a.tensor(0);
  int64_t start = a.integerOr(1, 0), end = a.integerOr(2, -1);
  return Guard(a, {&t}, [&] { return Wrap(a, t.flatten(start, end)); });
}

Napi::Value Gather(const Napi::CallbackInfo& info) {
  Args a{info, "gather"};
  const at::Tensor& t = a.tensor(0);
  int64_t dim = a.integer(1);
  const at::Tensor& index = a.tensor(2);
  return Guard(a, {&t, &index}, [&] { return Wrap(a, at::gather(t, dim, index)); });
}

Napi::Value IndexSelect(const Napi::CallbackInfo& info) {
  Args a{info, "indexSelect"};
  const at::Tensor& t = a.tensor(0);
  int64_t dim = a.integer(1);
  const at::Tensor& index = a.tensor(2);
  return Guard(a, {&t, &index}, [&] { return Wrap(a, at::index_select(t, dim, index)); });
}

Napi::Value Where(const Napi::CallbackInfo& info) {
  Args a{info, "where"};
  const at::Tensor& c = a.tensor(0);
  const at::Tensor& x = a.tensor(1);
  const at::Tensor& y = a.tensor(2);
  return Guard(a, {&c, &x, &y}, [&] { return Wrap(a, at::where(c, x, y)); });
}

// ---------------------------------------------------------------- elementwise math

// Binary ops accept (tensor, tensor) or (tensor, number).
template <typename TT, typename TS>
Napi::Value Binary(const Napi::CallbackInfo& info, const char* op, TT with_tensor, TS with_scalar) {
  Args a{info, op};
  const at::Tensor& x = a.tensor(0);
  if (info.Length() > 1 && (info[1].IsNumber() || info[1].IsBoolean())) {
    at::Scalar s = ScalarOf(a, 1);
    return Guard(a, {&x}, [&] { return Wrap(a, with_scalar(x, s)); });
  }
  const at::Tensor& y = a.tensor(1);
  return Guard(a, {&x, &y}, [&] { return Wrap(a, with_tensor(x, y)); });
}

#define BINARY(NAME, OPNAME, EXPR_T, EXPR_S)                                                     \
  Napi::Value NAME(const Napi::CallbackInfo& info) {                                            \
    return Binary(                                                                              \
        info, OPNAME, [](const at::Tensor& x, const at::Tensor& y) { return EXPR_T; },          \
        [](const at::Tensor& x, const at::Scalar& y) { return EXPR_S; });                       \
  }

BINARY(Add, "add", at::add(x, y), at::add(x, y))
BINARY(Sub, "sub", at::sub(x, y), at::sub(x, y))
BINARY(Mul, "mul", at::mul(x, y), at::mul(x, y))
BINARY(Div, "div", at::div(x, y), at::div(x, y))
BINARY(Pow, "pow", at::pow(x, y), at::pow(x, y))
BINARY(Maximum, "maximum", at::maximum(x, y), at::clamp_min(x, y))
BINARY(Minimum, "minimum", at::minimum(x, y), at::clamp_max(x, y))
BINARY(Eq, "eq", at::eq(x, y), at::eq(x, y))
BINARY(Ne, "ne", at::ne(x, y), at::ne(x, y))
BINARY(Lt, "lt", at::lt(x, y), at::lt(x, y))
BINARY(Le, "le", at::le(x, y), at::le(x, y))
BINARY(Gt, "gt", at::gt(x, y), at::gt(x, y))
BINARY(Ge, "ge", at::ge(x, y), at::ge(x, y))
#undef BINARY

#define UNARY(NAME, OPNAME, EXPR)                                          \
  Napi::Value NAME(const Napi::CallbackInfo& info) {                      \
    Args a{info, OPNAME};                                                 \
    const at::Tensor& x = a.tensor(0);                                    \
    return Guard(a, {&x}, [&] { return Wrap(a, EXPR); });                 \
  }

UNARY(Neg, "neg", at::neg(x))
UNARY(Abs, "abs", at::abs(x))
UNARY(Exp, "exp", at::exp(x))
UNARY(Log, "log", at::log(x))
UNARY(Log1p, "log1p", at::log1p(x))
UNARY(Sqrt, "sqrt", at::sqrt(x))
UNARY(Square, "square", at::square(x))
UNARY(Sign, "sign", at::sign(x))
UNARY(Relu, "relu", at::relu(x))
UNARY(Sigmoid, "sigmoid", at::sigmoid(x))
UNARY(Tanh, "tanh", at::tanh(x))
UNARY(IsFinite, "isfinite", at::isfinite(x))
UNARY(LogicalNot, "logicalNot", at::logical_not(x))
#undef UNARY

// clamp(t, min | null, max | null)
Napi::Value Clamp(const Napi::CallbackInfo& info) {
  Args a{info, "clamp"};
  const at::Tensor& x = a.tensor(0);
  c10::optional<at::Scalar> lo, hi;
  if (!a.isMissing(1)) lo = ScalarOf(a, 1);
  if (!a.isMissing(2)) hi = ScalarOf(a, 2);
  return Guard(a, {&x}, [&] { return Wrap(a, at::clamp(x, lo, hi)); });
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Args a{info, "matmul"};
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& y = a.tensor(1);
  return Guard(a, {&x, &y}, [&] { return Wrap(a, at::matmul(x, y)); });
}

// ---------------------------------------------------------------- reductions

// Reductions take (t, dims | null, keepdim); null dims = all elements.
Napi::Value Sum(const Napi::CallbackInfo& info) {
  Args a{info, "sum"};
  const at::Tensor& x = a.tensor(0);
  bool keep = a.booleanOr(2, false);
  if (a.isMissing(1)) return Guard(a, {&x}, [&] { return Wrap(a, x.sum()); });
  auto dims = a.intList(1);
  return Guard(a, {&x}, [&] { return Wrap(a, x.sum(dims, keep)); });
}

Napi::Value Mean(const Napi::CallbackInfo& info) {
  Args a{info, "mean"};
  const at::Tensor& x = a.tensor(0);
  bool keep = a.booleanOr(2, false);
  if (a.isMissing(1)) return Guard(a, {&x}, [&] { return Wrap(a, x.mean()); });
  auto dims = a.intList(1);
  return Guard(a, {&x}, [&] { return Wrap(a, x.mean(dims, keep)); });
}

Napi::Value Amax(const Napi::CallbackInfo& info) {
  Args a{info, "amax"};
  const at::Tensor& x = a.tensor(0);
  bool keep = a.booleanOr(2, false);
  std::vector<int64_t> dims = a.isMissing(1) ? std::vector<int64_t>{} : a.intList(1);
  return Guard(a, {&x}, [&] { return Wrap(a, at::amax(x, dims, keep)); });
}

Napi::Value Amin(const Napi::CallbackInfo& info) {
  Args a{info, "amin"};
  const at::Tensor& x = a.tensor(0);
  bool keep = a.booleanOr(2, false);
  std::vector<int64_t> dims = a.isMissing(1) ? std::vector<int64_t>{} : a.intList(1);
  return Guard(a, {&x}, [&] { return Wrap(a, at::amin(x, dims, keep)); });
}

// argmax(t, dim | null, keepdim)
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  Args a{info, "argmax"};
  const at::Tensor& x = a.tensor(0);
  c10::optional<int64_t> dim;
  if (!a.isMissing(1)) dim = a.integer(1);
  bool keep = a.booleanOr(2, false);
  return Guard(a, {&x}, [&] { return Wrap(a, at::argmax(x, dim, keep)); });
}

// var(t, dims | null, unbiased, keepdim)
Napi::Value Var(const Napi::CallbackInfo& info) {
  Args a{info, "var"};
  const at::Tensor& x = a.tensor(0);
  bool unbiased = a.booleanOr(2, true), keep = a.booleanOr(3, false);
  if (a.isMissing(1)) return Guard(a, {&x}, [&] { return Wrap(a, at::var(x, unbiased)); });
  auto dims = a.intList(1);
  return Guard(a, {&x}, [&] { return Wrap(a, at::var(x, dims, unbiased, keep)); });
}

Napi::Value Logsumexp(const Napi::CallbackInfo& info) {
  Args a{info, "logsumexp"};
  const at::Tensor& x = a.tensor(0);
  auto dims = a.intList(1);
  bool keep = a.booleanOr(2, false);
  return Guard(a, {&x}, [&] { return Wrap(a, at::logsumexp(x, dims, keep)); });
}

// ---------------------------------------------------------------- neural-network functions

// libtorch 1.13's oneDNN corrupts the heap in the backward pass of a channels-last 1x1 convolution with
// a stride above 1 when it runs on 2 threads (glibc aborts: "double free or corruption", "corrupted
// size vs. prev_size"). Which input-channel counts hit it depends on the CPU: 2-7 on an AVX2-only AMD
// EPYC, 3, 4 and 8 on an Intel Xeon with AMX, 2-12 on an AMD EPYC (Zen 4) with AVX-512; Debian's
// PyTorch 1.13 does the same. A 1x1 convolution with stride s reads only x[..., ::s, ::s] of the
// zero-padded input, so every strided 1x1 convolution is computed here as pad -> subsample -> stride-1
// convolution: the same values and gradients (autograd goes through the slice), a channels-last result,
// and the faulty kernel is never reached, whatever the channel count or CPU. (Measured against running
// it in NCHW instead: `npm run bench:conv-route`.)
at::Tensor Conv2dRoutedAroundStridedPointwise(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& b,
                                              at::IntArrayRef stride, at::IntArrayRef padding,
                                              at::IntArrayRef dilation, int64_t groups) {
  // libtorch takes its channels-last kernels when the input or the weight is channels-last.
  const bool channelsLast = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast ||
                            w.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  const bool stridedPointwise = x.dim() == 4 && w.dim() == 4 && w.size(2) == 1 && w.size(3) == 1 &&
                                stride.size() == 2 && padding.size() == 2 && (stride[0] > 1 || stride[1] > 1);
  if (!stridedPointwise || !channelsLast) return at::conv2d(x, w, b, stride, padding, dilation, groups);
  at::Tensor in = x;
  if (padding[0] > 0 || padding[1] > 0) in = at::constant_pad_nd(in, {padding[1], padding[1], padding[0], padding[0]}, 0);
  in = in.slice(2, 0, c10::nullopt, stride[0]).slice(3, 0, c10::nullopt, stride[1]).contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t one[2] = {1, 1}, zero[2] = {0, 0};
  return at::conv2d(in, w, b, one, zero, one, groups);
}

// conv2d(x, weight, bias | null, stride[2], padding[2], dilation[2], groups)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Args a{info, "conv2d"};
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& w = a.tensor(1);
  auto b = a.optionalTensor(2);
  auto stride = a.intList(3), padding = a.intList(4), dilation = a.intList(5);
  int64_t groups = a.integerOr(6, 1);
  return Guard(a, {&x, &w}, [&] {
    return Wrap(a, Conv2dRoutedAroundStridedPointwise(x, w, b, stride, padding, dilation, groups));
  });
}

// convTranspose2d(x, weight, bias | null, stride[2], padding[2], outputPadding[2], groups, dilation[2])
Napi::Value ConvTranspose2d(const Napi::CallbackInfo& info) {
  Args a{info, "convTranspose2d"};
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& w = a.tensor(1);
  auto b = a.optionalTensor(2);
  auto stride = a.intList(3), padding = a.intList(4), outputPadding = a.intList(5);
  int64_t groups = a.integerOr(6, 1);
  auto dilation = a.intList(7);
  return Guard(a, {&x, &w}, [&] {
    return Wrap(a, at::conv_transpose2d(x, w, b, stride, padding, outputPadding, groups, dilation));
  });
}

// batchNorm(x, weight | null, bias | null, runningMean | null, runningVar | null, training, momentum, eps)
// In training mode the running statistics are updated in place, as torch.nn.BatchNorm2d does.
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  Args a{info, "batchNorm"};
  const at::Tensor& x = a.tensor(0);
  auto w = a.optionalTensor(1), b = a.optionalTensor(2), rm = a.optionalTensor(3), rv = a.optionalTensor(4);
  bool training = a.boolean(5);
  double momentum = a.numberOr(6, 0.1), eps = a.numberOr(7, 1e-5);
  return Guard(a, {&x}, [&] {
    return Wrap(a, at::batch_norm(x, w, b, rm, rv, training, momentum, eps, /*cudnn_enabled=*/true));
  });
}

// maxPool2d(x, kernel[2], stride[2], padding[2], dilation[2], ceilMode)
Napi::Value MaxPool2d(const Napi::CallbackInfo& info) {
  Args a{info, "maxPool2d"};
  const at::Tensor& x = a.tensor(0);
  auto kernel = a.intList(1), stride = a.intList(2), padding = a.intList(3), dilation = a.intList(4);
  bool ceil = a.booleanOr(5, false);
  return Guard(a, {&x}, [&] { return Wrap(a, at::max_pool2d(x, kernel, stride, padding, dilation, ceil)); });
}

// avgPool2d(x, kernel[2], stride[2], padding[2], ceilMode, countIncludePad)
Napi::Value AvgPool2d(const Napi::CallbackInfo& info) {
  Args a{info, "avgPool2d"};
  const at::Tensor& x = a.tensor(0);
  auto kernel = a.intList(1), stride = a.intList(2), padding = a.intList(3);
  bool ceil = a.booleanOr(4, false), include = a.booleanOr(5, true);
  return Guard(a, {&x}, [&] { return Wrap(a, at::avg_pool2d(x, kernel, stride, padding, ceil, include)); });
}

Napi::Value AdaptiveAvgPool2d(const Napi::CallbackInfo& info) {
  Args a{info, "adaptiveAvgPool2d"};
  const at::Tensor& x = a.tensor(0);
  auto size = a.intList(1);
  return Guard(a, {&x}, [&] { return Wrap(a, at::adaptive_avg_pool2d(x, size)); });
}

// upsampleBilinear2d(x, size[2], alignCorners)
Napi::Value UpsampleBilinear2d(const Napi::CallbackInfo& info) {
  Args a{info, "upsampleBilinear2d"};
  const at::Tensor& x = a.tensor(0);
  auto size = a.intList(1);
  bool align = a.booleanOr(2, false);
  return Guard(a, {&x}, [&] {
    return Wrap(a, at::upsample_bilinear2d(x, size, align, c10::nullopt, c10::nullopt));
  });
}

Napi::Value Linear(const Napi::CallbackInfo& info) {
  Args a{info, "linear"};
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& w = a.tensor(1);
  auto b = a.optionalTensor(2);
  return Guard(a, {&x, &w}, [&] { return Wrap(a, at::linear(x, w, b)); });
}

// dropout(x, p, training) and featureDropout (= dropout2d: zeroes whole channels)
Napi::Value Dropout(const Napi::CallbackInfo& info) {
  Args a{info, "dropout"};
  const at::Tensor& x = a.tensor(0);
  double p = a.number(1);
  bool train = a.boolean(2);
  return Guard(a, {&x}, [&] { return Wrap(a, at::dropout(x, p, train)); });
}

Napi::Value FeatureDropout(const Napi::CallbackInfo& info) {
  Args a{info, "dropout2d"};
  const at::Tensor& x = a.tensor(0);
  double p = a.number(1);
  bool train = a.boolean(2);
  return Guard(a, {&x}, [&] { return Wrap(a, at::feature_dropout(x, p, train)); });
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args a{info, "softmax"};
  const at::Tensor& x = a.tensor(0);
  int64_t dim = a.integer(1);
  return Guard(a, {&x}, [&] { return Wrap(a, at::softmax(x, dim)); });
}

Napi::Value LogSoftmax(const Napi::CallbackInfo& info) {
  Args a{info, "logSoftmax"};
  const at::Tensor& x = a.tensor(0);
  int64_t dim = a.integer(1);
  return Guard(a, {&x}, [&] { return Wrap(a, at::log_softmax(x, dim)); });
}

// mseLoss(x, target, reduction)
Napi::Value MseLoss(const Napi::CallbackInfo& info) {
  Args a{info, "mseLoss"};
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& y = a.tensor(1);
  int64_t reduction = ReductionOf(a, 2);
  return Guard(a, {&x, &y}, [&] { return Wrap(a, at::mse_loss(x, y, reduction)); });
}

// crossEntropy(logits [N, C], target int64 [N] or probabilities [N, C], reduction, labelSmoothing, weight | null)
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Args a{info, "crossEntropy"};
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& y = a.tensor(1);
  int64_t reduction = ReductionOf(a, 2);
  double smoothing = a.numberOr(3, 0.0);
  auto weight = a.optionalTensor(4);
  return Guard(a, {&x, &y}, [&] {
    return Wrap(a, at::cross_entropy_loss(x, y, weight, reduction, -100, smoothing));
  });
}

// bceWithLogits(x, target, reduction, posWeight | null)
Napi::Value BceWithLogits(const Napi::CallbackInfo& info) {
  Args a{info, "bceWithLogits"};
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& y = a.tensor(1);
  int64_t reduction = ReductionOf(a, 2);
  auto pos = a.optionalTensor(3);
  return Guard(a, {&x, &y}, [&] {
    return Wrap(a, at::binary_cross_entropy_with_logits(x, y, c10::nullopt, pos, reduction));
  });
}

// ---------------------------------------------------------------- in-place updates (no autograd)

// copy_(dst, src): dst's values become src's (broadcast, dtype converted).
Napi::Value CopyInto(const Napi::CallbackInfo& info) {
  Args a{info, "copy_"};
  const at::Tensor& dst = a.tensor(0);
  const at::Tensor& src = a.tensor(1);
  return Guard(a, {&dst, &src}, [&] {
    at::NoGradGuard no_grad;
    const_cast<at::Tensor&>(dst).copy_(src);
    return info.Env().Undefined();
  });
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  Args a{info, "fill_"};
  const at::Tensor& dst = a.tensor(0);
  at::Scalar v = ScalarOf(a, 1);
  return Guard(a, {&dst}, [&] {
    at::NoGradGuard no_grad;
    const_cast<at::Tensor&>(dst).fill_(v);
    return info.Env().Undefined();
  });
}

// ---------------------------------------------------------------- autograd

// backward(t, grad | null, retainGraph)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Args a{info, "backward"};
  const at::Tensor& t = a.tensor(0);
  auto grad = a.optionalTensor(1);
  bool retain = a.booleanOr(2, false);
  return Guard(a, {&t}, [&] {
    t.backward(grad.value_or(at::Tensor()), retain);
    return info.Env().Undefined();
  });
}

// grad(t) -> tensor | null
Napi::Value Grad(const Napi::CallbackInfo& info) {
  Args a{info, "grad"};
  const at::Tensor& t = a.tensor(0);
  const at::Tensor& g = t.grad();
  if (!g.defined()) return info.Env().Null();
  return Wrap(a, g);
}

// setGrad(t, grad | null): null clears it (zero_grad(set_to_none=True)).
Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Args a{info, "setGrad"};
  const at::Tensor& t = a.tensor(0);
  auto g = a.optionalTensor(1);
  return Guard(a, {&t}, [&] {
    const_cast<at::Tensor&>(t).mutable_grad() = g.value_or(at::Tensor());
    return info.Env().Undefined();
  });
}

// setGradEnabled(flag) -> previous flag
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  Args a{info, "setGradEnabled"};
  bool previous = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(a.boolean(0));
  return Napi::Boolean::New(info.Env(), previous);
}

// setAutocast(enabled, dtype) -> previous enabled flag. Leaving the outermost autocast region
// clears libtorch's cache of casted weights, as torch.autocast's __exit__ does.
Napi::Value SetAutocast(const Napi::CallbackInfo& info) {
  Args a{info, "setAutocast"};
  bool enable = a.boolean(0);
  bool previous = at::autocast::is_cpu_enabled();
  if (enable) {
    at::autocast::set_autocast_cpu_dtype(a.isMissing(1) ? at::kBFloat16 : a.dtype(1));
    at::autocast::increment_nesting();
  } else if (previous) {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  }
  at::autocast::set_cpu_enabled(enable);
  return Napi::Boolean::New(info.Env(), previous);
}

// releaseFreeMemory() -> bytes of cached tensor blocks released. The caching allocator (allocator.cc)
// keeps freed tensor buffers for reuse; this returns them, then glibc's free pages (malloc_trim).
Napi::Value ReleaseFreeMemory(const Napi::CallbackInfo& info) {
  size_t released = ReleaseCachedBlocks();
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  return Napi::Number::New(info.Env(), static_cast<double>(released));
}

// allocatorStats() -> {caching, cachedBytes, limitBytes, hits, misses} of the caching CPU allocator.
Napi::Value AllocatorStats(const Napi::CallbackInfo& info) {
  CacheStats s = CachedBlockStats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("caching", s.installed);
  o.Set("cachedBytes", static_cast<double>(s.cachedBytes));
  o.Set("limitBytes", static_cast<double>(s.limitBytes));
  o.Set("hits", static_cast<double>(s.hits));
  o.Set("misses", static_cast<double>(s.misses));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  // What glibc malloc holds for live small allocations (those below the cache's 64 KiB floor, and
  // every non-tensor allocation): if this climbs while RSS climbs, something leaks; if it stays flat,
  // the growth is fragmentation.
  struct mallinfo2 m = mallinfo2();
  o.Set("mallocInUseBytes", static_cast<double>(m.uordblks + m.hblkhd));
  o.Set("mallocFreeBytes", static_cast<double>(m.fordblks));
#endif
  return o;
}

// setAllocatorCacheLimit(bytes): most bytes of free blocks the allocator keeps (0 = cache nothing).
Napi::Value SetAllocatorCacheLimit(const Napi::CallbackInfo& info) {
  Args a{info, "setAllocatorCacheLimit"};
  double bytes = a.number(0);
  if (!(bytes >= 0)) throw Napi::RangeError::New(info.Env(), "setAllocatorCacheLimit: bytes must be ≥ 0");
  SetCacheLimit(static_cast<size_t>(bytes));
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args a{info, "setNumThreads"};
  int64_t n = a.integer(0);
  if (n < 1) throw Napi::RangeError::New(info.Env(), "setNumThreads: thread count must be >= 1");
  at::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0);
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("mkldnn", at::hasMKLDNN());
  out.Set("openmp", at::hasOpenMP());
  out.Set("cuda", at::hasCUDA());
  out.Set("parallelInfo", at::get_parallel_info());
  return out;
}

// ---------------------------------------------------------------- optimizer

// adamStep(params[], expAvg[], expAvgSq[], steps, lr, beta1, beta2, eps, weightDecay, decoupled)
// One step of torch.optim.Adam (decoupled=false: L2 added to the gradient) or torch.optim.AdamW
// (decoupled=true: param *= 1 - lr*wd), following PyTorch 1.13's single-tensor implementation.
// `steps` is a float64 CPU tensor [P] of per-parameter step counts, incremented in place for each
// parameter that has a gradient; parameters without one are skipped, as PyTorch does.
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Args a{info, "adamStep"};
  auto params = a.tensorList(0), m = a.tensorList(1), v = a.tensorList(2);
  const at::Tensor& steps = a.tensor(3);
  double lr = a.number(4), beta1 = a.number(5), beta2 = a.number(6), eps = a.number(7), wd = a.number(8);
  bool decoupled = a.boolean(9);
  if (m.size() != params.size() || v.size() != params.size() || steps.numel() != static_cast<int64_t>(params.size()) ||
      steps.scalar_type() != at::kDouble || !steps.is_contiguous() || !steps.device().is_cpu()) {
    throw Napi::Error::New(info.Env(),
                           "adamStep: params, expAvg, expAvgSq and steps (contiguous float64 CPU) must have the same length");
  }
  return GuardList(a, params, [&] {
    at::NoGradGuard no_grad;
    double* step_counts = steps.data_ptr<double>();
    for (size_t i = 0; i < params.size(); ++i) {
      at::Tensor& p = params[i];
      at::Tensor grad = p.grad();
      if (!grad.defined()) continue;
      double step = ++step_counts[i];
      if (wd != 0.0) {
        if (decoupled) {
          p.mul_(1.0 - lr * wd);
        } else {
          grad = grad.add(p, wd);
        }
      }
      m[i].mul_(beta1).add_(grad, 1.0 - beta1);
      v[i].mul_(beta2).addcmul_(grad, grad, 1.0 - beta2);
      double step_size = lr / (1.0 - std::pow(beta1, step));
      double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, step));
      at::Tensor denom = (v[i].sqrt() / bias2_sqrt).add_(eps);
      p.addcdiv_(m[i], denom, -step_size);
    }
    return info.Env().Undefined();
  });
}

// gradNorm(params[]) -> total L2 norm of the gradients (for clipping and logging)
Napi::Value GradNorm(const Napi::CallbackInfo& info) {
  Args a{info, "gradNorm"};
  auto params = a.tensorList(0);
  return GuardList(a, params, [&] {
    at::NoGradGuard no_grad;
    double total = 0;
    for (auto& p : params) {
      const at::Tensor& g = p.grad();
      if (g.defined()) total += g.to(at::kDouble).pow(2).sum().item<double>();
    }
    return Napi::Number::New(info.Env(), std::sqrt(total));
  });
}

// scaleGrads(params[], factor): g *= factor (gradient clipping)
Napi::Value ScaleGrads(const Napi::CallbackInfo& info) {
  Args a{info, "scaleGrads"};
  auto params = a.tensorList(0);
  double factor = a.number(1);
  return GuardList(a, params, [&] {
    at::NoGradGuard no_grad;
    for (auto& p : params) {
      at::Tensor g = p.grad();
      if (g.defined()) g.mul_(factor);
    }
    return info.Env().Undefined();
  });
}

}  // namespace

void RegisterOps(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Fn> ops[] = {
      {"fromBuffer", FromBuffer}, {"toBuffer", ToBuffer}, {"viewBuffer", ViewBuffer},
      {"zeros", Zeros}, {"ones", Ones}, {"full", Full}, {"randn", Randn}, {"rand", Rand},
      {"randint", Randint}, {"arange", Arange}, {"manualSeed", ManualSeed},
      {"shape", Shape}, {"dtype", Dtype}, {"device", DeviceOf}, {"item", Item},
      {"requiresGrad", RequiresGrad}, {"setRequiresGrad", SetRequiresGrad}, {"isContiguous", IsContiguous},
      {"liveCount", LiveCount}, {"dispose", Dispose},
      {"to", ToDtype}, {"toDevice", ToDevice}, {"contiguous", Contiguous}, {"clone", Clone}, {"detach", Detach},
      {"reshape", Reshape}, {"permute", Permute}, {"transpose", Transpose}, {"slice", Slice}, {"select", Select},
      {"cat", Cat}, {"stack", Stack}, {"squeeze", Squeeze}, {"unsqueeze", Unsqueeze}, {"expand", Expand},
      {"flatten", Flatten}, {"gather", Gather}, {"indexSelect", IndexSelect}, {"where", Where},
      {"add", Add}, {"sub", Sub}, {"mul", Mul}, {"div", Div}, {"pow", Pow}, {"maximum", Maximum},
      {"minimum", Minimum}, {"eq", Eq}, {"ne", Ne}, {"lt", Lt}, {"le", Le}, {"gt", Gt}, {"ge", Ge},
      {"neg", Neg}, {"abs", Abs}, {"exp", Exp}, {"log", Log}, {"log1p", Log1p}, {"sqrt", Sqrt},
      {"square", Square}, {"sign", Sign}, {"relu", Relu}, {"sigmoid", Sigmoid}, {"tanh", Tanh},
      {"isfinite", IsFinite}, {"logicalNot", LogicalNot}, {"clamp", Clamp}, {"matmul", Matmul},
      {"sum", Sum}, {"mean", Mean}, {"amax", Amax}, {"amin", Amin}, {"argmax", Argmax}, {"var", Var},
      {"logsumexp", Logsumexp},
      {"conv2d", Conv2d}, {"convTranspose2d", ConvTranspose2d}, {"batchNorm", BatchNorm},
      {"maxPool2d", MaxPool2d}, {"avgPool2d", AvgPool2d}, {"adaptiveAvgPool2d", AdaptiveAvgPool2d},
      {"upsampleBilinear2d", UpsampleBilinear2d}, {"linear", Linear}, {"dropout", Dropout},
      {"dropout2d", FeatureDropout}, {"softmax", Softmax}, {"logSoftmax", LogSoftmax}, {"mseLoss", MseLoss},
      {"crossEntropy", CrossEntropy}, {"bceWithLogits", BceWithLogits},
      {"copy_", CopyInto}, {"fill_", Fill},
      {"backward", Backward}, {"grad", Grad}, {"setGrad", SetGrad}, {"setGradEnabled", SetGradEnabled},
      {"setAutocast", SetAutocast}, {"releaseFreeMemory", ReleaseFreeMemory}, {"allocatorStats", AllocatorStats}, {"setAllocatorCacheLimit", SetAllocatorCacheLimit}, {"setNumThreads", SetNumThreads}, {"getNumThreads", GetNumThreads},
      {"cudaAvailable", CudaAvailable}, {"buildInfo", BuildInfo},
      {"adamStep", AdamStep}, {"gradNorm", GradNorm}, {"scaleGrads", ScaleGrads},
  };
  for (const auto& [name, fn] : ops) exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace stemscope
