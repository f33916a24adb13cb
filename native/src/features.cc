// The batched feature kernel: for each clip, fix_length → centred STFT with zero padding (periodic
// Hann window given by JS) → |X|² → sparse mel filterbank → power_to_db → (seed) min-max + bilinear
// resize, or (native) dB relative to a reference mapped to [0, 1]. The same maths as
// src/features/pipeline.ts's FeatureExtractor, whose tables (window, sparse mel weights, resize taps)
// are passed in, so the definitions live in one place.
//
// Speed: the real FFT of N is a complex FFT of N/2 (fft_lanes.h: radix-4, inputs windowed and loaded
// straight into bit-reversed order, W frames at once, one per SIMD lane: W = 2 on the x86-64 baseline,
// W = 4 in a build for AVX2 + FMA chosen at run time) plus the real split step, all in double
// precision. A batch is split across std::threads, one scratch set each.
// No libtorch here.

#include "features.h"

#include "fft_lanes.h"
#include "fields.h"
#include "parallel.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace stemscope {
namespace {

using fft::Aligned;
using fft::CpuHasAvx2;
using fft::Lanes;

enum class Mode { kSeed, kNative };

// Everything that depends only on the feature config; immutable once built, shared by threads.
struct Plan : fft::Tables {
  Mode mode = Mode::kSeed;
  int hop = 0, frames = 0, length = 0, nMels = 0, size = 0;
  double topDb = 80, amin = 1e-10;
  std::vector<double> window;
  std::vector<int32_t> melStart, melLength, melOffset;
  std::vector<double> melWeights;
  std::vector<int32_t> tapI0, tapI1;  // seed: resize taps over the frame axis, `size` entries
  std::vector<double> tapW0, tapW1;

  void Derive() { Build(nFft); }
};

// Per-thread buffers. The mel power of a clip is kept as it comes out of the FFT, W frames per
// vector: mel[g · nMels + m] holds band m of frames g·W … g·W + W − 1, so cell (m, t) is the double at
// (t / W · nMels + m) · W + t % W. Lanes past the last frame repeat it.
template <int W>
struct Scratch {
  using V = typename Lanes<W>::V;
  int groups;
  Aligned<V> zr, zi, power, mel;
  Aligned<double> padded;
  std::vector<int32_t> tap0, tap1;  // seed: resize taps as offsets into mel for band 0
  explicit Scratch(const Plan& p)
      : groups((p.frames + W - 1) / W), zr(p.half), zi(p.half), power(p.nBins),
        mel(static_cast<size_t>(groups) * p.nMels), padded(static_cast<size_t>(p.length) + p.nFft) {
    const auto cell = [&](int t) { return (t / W) * p.nMels * W + t % W; };
    for (size_t j = 0; j < p.tapI0.size(); ++j) {
      tap0.push_back(cell(p.tapI0[j]));
      tap1.push_back(cell(p.tapI1[j]));
    }
  }
};

// ----------------------------------------------------------------------------- the FFT, W frames at once

// Power spectrum |X[k]|², k = 0..N/2, of W windowed frames starting at f[0..W) (fft.ts powerSpectrum).
template <int W>
SS_INLINE void PowerSpectrum(const Plan& p, const double* const* f, Scratch<W>& s) {
  using V = typename Lanes<W>::V;
  V* zr = s.zr.data();
  V* zi = s.zi.data();
  V* power = s.power.data();
  const int h = p.half;
  fft::ComplexFft<W>(p, zr, zi, f, p.window.data());

  const V z0r = zr[0], z0i = zi[0];
  power[0] = (z0r + z0i) * (z0r + z0i);
  power[h] = (z0r - z0i) * (z0r - z0i);
  const double* c = p.postCos.data();
  const double* sn = p.postSin.data();
  // Bins k and m = h − k share Z[k], Z[m]: E = (Z[k] + conj Z[m]) / 2, O = (Z[k] − conj Z[m]) / (2i),
  // X[k] = E + W^k O, X[m] = conj E + W^m conj O (W^k = e^{−2πik/N}, W^m = −e^{+2πik/N}).
  for (int k = 1, m = h - 1; k <= m; ++k, --m) {
    const V ar = zr[k], ai = zi[k], br = zr[m], bi = zi[m];
    const V er = 0.5 * (ar + br), ei = 0.5 * (ai - bi);
    const V orr = 0.5 * (ai + bi), oi = -0.5 * (ar - br);
    const double wr = c[k], ws = sn[k];
    const V tr = wr * orr + ws * oi;
    const V ti = wr * oi - ws * orr;
    V xr = er + tr, xi = ei + ti;
    power[k] = xr * xr + xi * xi;
    xr = er - tr;
    xi = -ei + ti;
    power[m] = xr * xr + xi * xi;
  }
}

// ----------------------------------------------------------------------------- one clip

// Mel power of one clip into s.mel (layout above); returns its maximum.
template <int W>
SS_INLINE double MelPower(const Plan& p, const float* x, int64_t n, Scratch<W>& s) {
  using V = typename Lanes<W>::V;
  typedef float F __attribute__((vector_size(sizeof(float) * W)));
  const int pad = p.nFft / 2, L = p.length, frames = p.frames, nMels = p.nMels;
  // fix_length then centre padding, in double so the frame loads need no conversion:
  // padded[pad + i] = x[i] for i < min(n, L), zeros elsewhere.
  double* padded = s.padded.data();
  const int64_t keep = std::max<int64_t>(0, std::min<int64_t>(n, L));
  std::fill(padded, padded + pad, 0.0);
  int64_t i = 0;
  for (; i + W <= keep; i += W) {
    F f;
    std::memcpy(&f, x + i, sizeof(F));
    const V d = __builtin_convertvector(f, V);
    std::memcpy(padded + pad + i, &d, sizeof(V));
  }
  for (; i < keep; ++i) padded[pad + i] = x[i];
  std::fill(padded + pad + keep, padded + pad + L + pad, 0.0);
  const int32_t* start = p.melStart.data();
  const int32_t* len = p.melLength.data();
  const int32_t* off = p.melOffset.data();
  const double* weights = p.melWeights.data();
  V* mel = s.mel.data();
  const V* power = s.power.data();
  V vmax = {};
  for (int t0 = 0; t0 < frames; t0 += W, mel += nMels) {
    const double* f[W];
    for (int l = 0; l < W; ++l) f[l] = padded + static_cast<int64_t>(std::min(t0 + l, frames - 1)) * p.hop;
    PowerSpectrum<W>(p, f, s);
    for (int m = 0; m < nMels; ++m) {
      const V* pw = power + start[m];
      const double* w = weights + off[m];
      // Two accumulators halve the chain of dependent multiply-adds.
      V acc0 = {}, acc1 = {};
      const int nk = len[m];
      int k = 0;
      for (; k + 2 <= nk; k += 2) {
        acc0 += w[k] * pw[k];
        acc1 += w[k + 1] * pw[k + 1];
      }
      if (k < nk) acc0 += w[k] * pw[k];
      const V acc = acc0 + acc1;
      mel[m] = acc;
      vmax = acc > vmax ? acc : vmax;
    }
  }
  double max = 0;
  for (int l = 0; l < W; ++l) max = std::max(max, vmax[l]);
  return max;
}

// 10·log10(x) for W positive normal doubles, to a few ulp: fdlibm's e_log.c (x = 2^k·z with z in
// [√½, √2), log z = f − f²/2 + s·(f²/2 + R(s²)), s = f / (2 + f), f = z − 1) without its special
// cases, on SIMD lanes. glibc's scalar log10 costs ~30% of a clip otherwise.
template <int W>
SS_INLINE typename Lanes<W>::V TenLog10(typename Lanes<W>::V x) {
  using V = typename Lanes<W>::V;
  using U = typename Lanes<W>::U;
  const U ix = (U)x;  // vector casts reinterpret the bits
  // tmp = ix − bits(√½) + 2^62 ≥ 0, so (tmp >> 52) − 1024 = k with x / 2^k in [√½, √2).
  const U tmp = ix - 0x3fe6a09e667f3bcdULL + 0x4000000000000000ULL;
  const U kb = tmp >> 52;
  const U kbits = kb | 0x4330000000000000ULL;  // the double 2^52 + kb
  const V k = (V)kbits - (4503599627370496.0 + 1024.0);
  const U iz = ix - (tmp & 0xfff0000000000000ULL) + 0x4000000000000000ULL;
  const V z = (V)iz;
  const V f = z - 1.0;
  const V s = f / (2.0 + f);
  const V s2 = s * s, s4 = s2 * s2;
  const V t1 = s4 * (3.999999999940941908e-01 + s4 * (2.222219843214978396e-01 + s4 * 1.531383769920937332e-01));
  const V t2 = s2 * (6.666666666666735130e-01 +
                     s4 * (2.857142874366239149e-01 +
                           s4 * (1.818357216161805012e-01 + s4 * 1.479819860511658591e-01)));
  const V R = t2 + t1;
  const V hfsq = 0.5 * f * f;
  const V ln = k * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + k * 1.90821492927058770002e-10)) - f);
  return ln * 4.342944819032518;  // 10 / ln 10
}

// power_to_db(ref=max, amin, top_db) → min-max to [0, 1] → bilinear resize of the frame axis.
template <int W>
SS_INLINE void FinishSeed(const Plan& p, double maxPower, Scratch<W>& s, float* out) {
  using V = typename Lanes<W>::V;
  const int nMels = p.nMels, size = p.size;
  const double topDb = p.topDb, amin = p.amin;
  const double refDb = 10 * std::log10(std::max(amin, maxPower));
  // v = 10·log10(max(amin, P)) − refDb floored at −topDb (the maximum of v is 0, so top_db's floor
  // is −topDb), in place. Repeated lanes past the last frame do not change the minimum.
  V* cells = s.mel.data();
  const int64_t total = static_cast<int64_t>(s.groups) * nMels;
  V vmin = {};
  for (int64_t i = 0; i < total; ++i) {
    V pw = cells[i];
    pw = pw > amin ? pw : V{} + amin;
    V v = TenLog10<W>(pw) - refDb;
    v = v < -topDb ? V{} - topDb : v;
    cells[i] = v;
    vmin = v < vmin ? v : vmin;
  }
  double min = 0;
  for (int l = 0; l < W; ++l) min = std::min(min, vmin[l]);
  if (min == 0) {
    std::fill(out, out + static_cast<int64_t>(nMels) * size, 0.0f);
    return;
  }
  // Min-max is affine and the two taps sum to 1, so it is applied after interpolating.
  const double inv = -1 / min;
  const double* buf = reinterpret_cast<const double*>(cells);
  const int32_t* t0 = s.tap0.data();
  const int32_t* t1 = s.tap1.data();
  const double* w0 = p.tapW0.data();
  const double* w1 = p.tapW1.data();
  for (int m = 0; m < nMels; ++m) {
    const double* row = buf + static_cast<int64_t>(m) * W;
    float* o = out + static_cast<int64_t>(m) * size;
    for (int j = 0; j < size; ++j) {
      const double r = (w0[j] * row[t0[j]] + w1[j] * row[t1[j]] - min) * inv;
      o[j] = static_cast<float>(std::min(1.0, std::max(0.0, r)));  // skimage clips to the input range
    }
  }
}

// v = clip((10·log10(max(amin, P)) − 10·log10(max(amin, ref)) + topDb) / topDb, 0, 1).
template <int W>
SS_INLINE void FinishNative(const Plan& p, double refPower, Scratch<W>& s, float* out) {
  using V = typename Lanes<W>::V;
  const double topDb = p.topDb, amin = p.amin;
  const double refDb = 10 * std::log10(std::max(amin, refPower));
  const int nMels = p.nMels, frames = p.frames;
  const V* cells = s.mel.data();
  for (int g = 0; g < s.groups; ++g) {
    const int t0 = g * W, lanes = std::min(W, frames - t0);
    for (int m = 0; m < nMels; ++m) {
      V pw = cells[static_cast<int64_t>(g) * nMels + m];
      pw = pw > amin ? pw : V{} + amin;
      V v = (TenLog10<W>(pw) - refDb + topDb) / topDb;
      v = v < 0.0 ? V{} : v;
      v = v > 1.0 ? V{} + 1.0 : v;
      float* o = out + static_cast<int64_t>(m) * frames + t0;
      for (int l = 0; l < lanes; ++l) o[l] = static_cast<float>(v[l]);
    }
  }
}

// ----------------------------------------------------------------------------- batches and threads

struct Job {
  std::shared_ptr<const Plan> plan;
  std::vector<const float*> clips;
  std::vector<int64_t> lengths;
  float* out = nullptr;
  const double* refPower = nullptr;  // native mode: per clip, else each clip's own peak
  double* peaks = nullptr;           // optional: each clip's peak mel power
  int threads = 1;
  bool wide = false;  // 4 lanes (AVX2 + FMA clone) instead of 2
};

template <int W>
SS_INLINE void RunRangeImpl(const Job& job, size_t begin, size_t end) {
  const Plan& p = *job.plan;
  Scratch<W> s(p);
  const int64_t outSize = static_cast<int64_t>(p.nMels) * p.size;
  for (size_t b = begin; b < end; ++b) {
    const double max = MelPower<W>(p, job.clips[b], job.lengths[b], s);
    if (job.peaks != nullptr) job.peaks[b] = max;
    float* out = job.out + static_cast<int64_t>(b) * outSize;
    if (p.mode == Mode::kSeed) FinishSeed<W>(p, max, s, out);
    else FinishNative<W>(p, job.refPower != nullptr ? job.refPower[b] : max, s, out);
  }
}

void RunRangeBaseline(const Job& job, size_t begin, size_t end) { RunRangeImpl<2>(job, begin, end); }

// The 4-lane build, compiled for AVX2 + FMA (everything it calls is forced inline, so all of it is) and
// used only on CPUs that have both; the rest of the addon stays on the x86-64 baseline.
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void RunRangeAvx2(const Job& job, size_t begin, size_t end) {
  RunRangeImpl<4>(job, begin, end);
}
#else
void RunRangeAvx2(const Job& job, size_t begin, size_t end) { RunRangeImpl<4>(job, begin, end); }
#endif

void RunRange(const Job& job, size_t begin, size_t end) {
  if (job.wide) RunRangeAvx2(job, begin, end);
  else RunRangeBaseline(job, begin, end);
}

// Splits the batch into `threads` contiguous ranges; the calling thread takes the first one.
void RunJob(const Job& job) {
  const size_t batch = job.clips.size();
  if (batch == 0) return;
  const size_t threads = std::min<size_t>(std::max(job.threads, 1), batch);
  ForEachRange(batch, threads, [&](size_t begin, size_t end) { RunRange(job, begin, end); });
}

// ----------------------------------------------------------------------------- JS side

std::shared_ptr<Plan> ParsePlan(Napi::Env env, const Napi::Value& value) {
  const char* fn = "FeaturePlan";
  if (!value.IsObject() || value.IsTypedArray() || value.IsArray())
    Fail(env, fn, "argument 'plan' must be an object, got " + Got(value));
  Napi::Object o = value.As<Napi::Object>();
  auto p = std::make_shared<Plan>();
  const Napi::Value mode = o.Get("mode");
  const std::string m = mode.IsString() ? mode.As<Napi::String>().Utf8Value() : "";
  if (m == "seed") p->mode = Mode::kSeed;
  else if (m == "native") p->mode = Mode::kNative;
  else Fail(env, fn, "plan.mode must be \"seed\" or \"native\", got " + Got(mode));
  p->nFft = IntField(o, fn, "plan", "nFft", 16, 1 << 20);
  if ((p->nFft & (p->nFft - 1)) != 0)
    Fail(env, fn, "plan.nFft must be a power of two, got " + std::to_string(p->nFft), true);
  p->hop = IntField(o, fn, "plan", "hop", 1, p->nFft);
  p->length = IntField(o, fn, "plan", "length", 1, 1 << 28);
  p->frames = IntField(o, fn, "plan", "frames", 1, 1 << 28);
  const int frames = 1 + p->length / p->hop;  // centred frames of `length` samples
  if (p->frames != frames)
    Fail(env, fn, "plan.frames is " + std::to_string(p->frames) + " but " + std::to_string(p->length) +
                      " samples with hop " + std::to_string(p->hop) + " give " + std::to_string(frames) +
                      " centred frames", true);
  p->nMels = IntField(o, fn, "plan", "nMels", 1, 1 << 16);
  p->size = IntField(o, fn, "plan", "size", 1, 1 << 20);
  p->topDb = PositiveField(o, fn, "plan", "topDb");
  p->amin = PositiveField(o, fn, "plan", "amin");
  if (p->amin < DBL_MIN)
    Fail(env, fn, "plan.amin must be a normal double (≥ DBL_MIN), got " + Got(o.Get("amin")), true);
  p->window = ArrayField<double>(o, fn, "plan", "window", napi_float64_array, "Float64Array", p->nFft);
  const int nBins = p->nFft / 2 + 1;
  p->melStart = ArrayField<int32_t>(o, fn, "plan", "melStart", napi_int32_array, "Int32Array", p->nMels);
  p->melLength = ArrayField<int32_t>(o, fn, "plan", "melLength", napi_int32_array, "Int32Array", p->nMels);
  p->melOffset = ArrayField<int32_t>(o, fn, "plan", "melOffset", napi_int32_array, "Int32Array", p->nMels);
  p->melWeights = ArrayField<double>(o, fn, "plan", "melWeights", napi_float64_array, "Float64Array", -1);
  const int64_t nWeights = static_cast<int64_t>(p->melWeights.size());
  for (int b = 0; b < p->nMels; ++b) {
    const int64_t s = p->melStart[b], l = p->melLength[b], off = p->melOffset[b];
    if (s < 0 || l < 0 || s + l > nBins || off < 0 || off + l > nWeights)
      Fail(env, fn, "mel band " + std::to_string(b) + " (start " + std::to_string(s) + ", length " +
                        std::to_string(l) + ", offset " + std::to_string(off) + ") lies outside " +
                        std::to_string(nBins) + " bins or " + std::to_string(nWeights) + " weights", true);
  }
  if (p->mode == Mode::kSeed) {
    p->tapI0 = ArrayField<int32_t>(o, fn, "plan", "resizeI0", napi_int32_array, "Int32Array", p->size);
    p->tapI1 = ArrayField<int32_t>(o, fn, "plan", "resizeI1", napi_int32_array, "Int32Array", p->size);
    p->tapW0 = ArrayField<double>(o, fn, "plan", "resizeW0", napi_float64_array, "Float64Array", p->size);
    p->tapW1 = ArrayField<double>(o, fn, "plan", "resizeW1", napi_float64_array, "Float64Array", p->size);
    for (int j = 0; j < p->size; ++j)
      if (p->tapI0[j] < 0 || p->tapI0[j] >= p->frames || p->tapI1[j] < 0 || p->tapI1[j] >= p->frames)
        Fail(env, fn, "resize tap " + std::to_string(j) + " reads frame " +
                          std::to_string(std::max(p->tapI0[j], p->tapI1[j])) + " of " +
                          std::to_string(p->frames), true);
  } else if (p->size != p->frames) {
    Fail(env, fn, "native mode needs plan.size = plan.frames, got size " + std::to_string(p->size) +
                      " and " + std::to_string(p->frames) + " frames", true);
  }
  p->Derive();
  return p;
}

Napi::FunctionReference* plan_constructor = nullptr;

// The JS handle of a Plan: `new FeaturePlan(spec)`, read-only fields for inspection.
class FeaturePlanWrap : public Napi::ObjectWrap<FeaturePlanWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    Napi::Function ctor =
        DefineClass(env, "FeaturePlan",
                    {InstanceAccessor("mode", &FeaturePlanWrap::GetMode, nullptr),
                     InstanceAccessor("outputSize", &FeaturePlanWrap::GetOutputSize, nullptr),
                     InstanceAccessor("length", &FeaturePlanWrap::GetLength, nullptr)});
    plan_constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
    return ctor;
  }
  explicit FeaturePlanWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FeaturePlanWrap>(info) {
    plan_ = ParsePlan(info.Env(), info[0]);
  }
  static bool Is(const Napi::Value& v) {
    return v.IsObject() && plan_constructor != nullptr &&
           v.As<Napi::Object>().InstanceOf(plan_constructor->Value());
  }
  const std::shared_ptr<const Plan>& plan() const { return plan_; }

 private:
  Napi::Value GetMode(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), plan_->mode == Mode::kSeed ? "seed" : "native");
  }
  Napi::Value GetOutputSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(plan_->nMels) * plan_->size);
  }
  Napi::Value GetLength(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), plan_->length); }
  std::shared_ptr<const Plan> plan_;
};

// What a featuresBatch call read from its arguments; `keep` holds the JS objects whose memory the job
// points into (kept alive while an async job runs).
struct Parsed {
  Job job;
  std::vector<Napi::Object> keep;
};

// A typed-array argument (see TypedArg), kept alive with the job.
template <typename T>
T* KeptTypedArg(Napi::Env env, const std::string& fn, const std::string& name, const Napi::Value& v,
                napi_typedarray_type type, const char* typeName, int64_t expected, std::vector<Napi::Object>& keep) {
  auto a = TypedArg<T>(env, fn, name, v, type, typeName, expected);
  keep.push_back(a);
  return a.Data();
}

// featuresBatch(plan, clips, output, options?)
Parsed ParseBatch(const Napi::CallbackInfo& info, const std::string& fn) {
  Napi::Env env = info.Env();
  Parsed r;
  if (!FeaturePlanWrap::Is(info[0])) Fail(env, fn, "argument 'plan' must be a FeaturePlan, got " + Got(info[0]));
  FeaturePlanWrap* wrap = FeaturePlanWrap::Unwrap(info[0].As<Napi::Object>());
  r.job.plan = wrap->plan();
  r.keep.push_back(info[0].As<Napi::Object>());
  const Plan& p = *r.job.plan;

  Napi::Object options;
  const Napi::Value opt = info[3];
  if (!opt.IsUndefined() && !opt.IsNull()) {
    if (!opt.IsObject() || opt.IsArray() || opt.IsTypedArray())
      Fail(env, fn, "argument 'options' must be an object, got " + Got(opt));
    options = opt.As<Napi::Object>();
  }
  auto option = [&](const char* key) -> Napi::Value {
    return options.IsEmpty() ? env.Undefined() : options.Get(key);
  };

  // clips: an array of Float32Arrays (each fix_length'ed), or one Float32Array of B × length samples.
  const Napi::Value clips = info[1];
  const Napi::Value lengths = option("lengths");
  if (clips.IsArray()) {
    if (!lengths.IsUndefined())
      Fail(env, fn, "options.lengths is only for a packed Float32Array of clips, not an array of clips");
    Napi::Array a = clips.As<Napi::Array>();
    const uint32_t n = a.Length();
    r.job.clips.resize(n);
    r.job.lengths.resize(n);
    for (uint32_t b = 0; b < n; ++b) {
      const Napi::Value c = a.Get(b);
      if (!c.IsTypedArray() || c.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        Fail(env, fn, "clip " + std::to_string(b) + " of argument 'clips' must be a Float32Array, got " + Got(c));
      auto f = c.As<Napi::Float32Array>();
      r.job.clips[b] = f.Data();
      r.job.lengths[b] = static_cast<int64_t>(f.ElementLength());
      r.keep.push_back(f);
    }
  } else if (clips.IsTypedArray() && clips.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    auto f = clips.As<Napi::Float32Array>();
    r.keep.push_back(f);
    const int64_t total = static_cast<int64_t>(f.ElementLength());
    int64_t batch;
    if (lengths.IsUndefined() || lengths.IsNull()) {
      if (total % p.length != 0)
        Fail(env, fn, "argument 'clips' has " + std::to_string(total) + " samples, not a multiple of the plan's " +
                          std::to_string(p.length) + "-sample clip length", true);
      batch = total / p.length;
    } else {
      if (!lengths.IsTypedArray() || lengths.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        Fail(env, fn, "options.lengths must be an Int32Array, got " + Got(lengths));
      batch = static_cast<int64_t>(lengths.As<Napi::TypedArray>().ElementLength());
      if (total != batch * p.length)
        Fail(env, fn, "argument 'clips' has " + std::to_string(total) + " samples, expected " +
                          std::to_string(batch) + " clips × " + std::to_string(p.length) + " = " +
                          std::to_string(batch * p.length), true);
    }
    r.job.clips.resize(batch);
    r.job.lengths.resize(batch);
    const int32_t* lens = batch > 0 && !(lengths.IsUndefined() || lengths.IsNull())
                              ? lengths.As<Napi::Int32Array>().Data()
                              : nullptr;
    for (int64_t b = 0; b < batch; ++b) {
      r.job.clips[b] = f.Data() + b * p.length;
      const int64_t n = lens != nullptr ? lens[b] : p.length;
      if (n < 0 || n > p.length)
        Fail(env, fn, "options.lengths[" + std::to_string(b) + "] is " + std::to_string(n) + ", outside [0, " +
                          std::to_string(p.length) + "]", true);
      r.job.lengths[b] = n;
    }
  } else {
    Fail(env, fn, "argument 'clips' must be an array of Float32Arrays or one Float32Array, got " + Got(clips));
  }
  const int64_t batch = static_cast<int64_t>(r.job.clips.size());
  const int64_t outSize = static_cast<int64_t>(p.nMels) * p.size;
  r.job.out = KeptTypedArg<float>(env, fn, "argument 'output'", info[2], napi_float32_array, "Float32Array",
                              batch * outSize, r.keep);

  const Napi::Value threads = option("threads");
  if (threads.IsUndefined()) {
    r.job.threads = std::max(1u, std::thread::hardware_concurrency());
  } else {
    const double t = threads.IsNumber() ? threads.As<Napi::Number>().DoubleValue() : -1;
    if (t != std::floor(t) || t < 1 || t > 1024)
      Fail(env, fn, "options.threads must be an integer in [1, 1024], got " + Got(threads), threads.IsNumber());
    r.job.threads = static_cast<int>(t);
  }
  const Napi::Value ref = option("refPower");
  if (!ref.IsUndefined() && !ref.IsNull()) {
    if (p.mode != Mode::kNative) Fail(env, fn, "options.refPower is only for native mode");
    r.job.refPower =
        KeptTypedArg<double>(env, fn, "options.refPower", ref, napi_float64_array, "Float64Array", batch, r.keep);
  }
  const Napi::Value peaks = option("peaks");
  if (!peaks.IsUndefined() && !peaks.IsNull())
    r.job.peaks =
        KeptTypedArg<double>(env, fn, "options.peaks", peaks, napi_float64_array, "Float64Array", batch, r.keep);
  r.job.wide = WideBuildArg(env, fn, "options.isa", option("isa"), CpuHasAvx2());
  return r;
}

const char* IsaName(const Job& job) { return job.wide ? "avx2" : "baseline"; }

Napi::Value FeaturesBatch(const Napi::CallbackInfo& info) {
  Parsed parsed = ParseBatch(info, "featuresBatch");
  try {
    RunJob(parsed.job);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("featuresBatch: ") + e.what());
  }
  return Napi::String::New(info.Env(), IsaName(parsed.job));
}

class BatchWorker : public Napi::AsyncWorker {
 public:
  BatchWorker(Napi::Env env, Parsed parsed)
      : Napi::AsyncWorker(env, "stemscope:featuresBatch"), deferred_(Napi::Promise::Deferred::New(env)),
        job_(std::move(parsed.job)) {
    for (auto& o : parsed.keep) keep_.push_back(Napi::Persistent(o));
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override {
    try {
      RunJob(job_);
    } catch (const std::exception& e) {
      SetError(std::string("featuresBatchAsync: ") + e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::String::New(Env(), IsaName(job_))); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Job job_;
  std::vector<Napi::ObjectReference> keep_;
};

Napi::Value FeaturesBatchAsync(const Napi::CallbackInfo& info) {
  auto* worker = new BatchWorker(info.Env(), ParseBatch(info, "featuresBatchAsync"));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void RegisterFeatureKernel(Napi::Env env, Napi::Object exports) {
  exports.Set("FeaturePlan", FeaturePlanWrap::Init(env));
  exports.Set("featuresBatch", Napi::Function::New(env, FeaturesBatch, "featuresBatch"));
  exports.Set("featuresBatchAsync", Napi::Function::New(env, FeaturesBatchAsync, "featuresBatchAsync"));
  exports.Set("featureKernelIsa", Napi::String::New(env, CpuHasAvx2() ? "avx2" : "baseline"));
}

}  // namespace stemscope
