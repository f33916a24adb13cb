// The batched stems kernel: for each clip, the model's K separated planes (native feature values)
// become mel power shares r_k = P_k / Σ_j P_j with P = exp(a·v) for v > 0 (else 0), the shares become
// linear-bin masks through the sparse bin → band map, and each of the first K − 1 masks is applied to
// the clip's centred STFT and inverted (overlap-add with the window, divided by the window-square
// sum); the last stem is the clip minus the others. The maths of src/separator/masks.ts's
// separateClip, whose tables (window, inverse window-square sum, bin map) are passed in, so the
// definitions live in one place; double precision like it, so the stems match it to float rounding.
//
// Speed: the FFTs are the feature kernel's (fft_lanes.h: radix-4, W frames at once, one per SIMD lane:
// W = 2 on the x86-64 baseline, W = 4 in a build for AVX2 + FMA chosen at run time or by `isa`), the
// inverse as the forward FFT of the conjugate-split spectrum; a batch is split across std::threads,
// one scratch set each. No libtorch here.

#include "stems.h"

#include "fft_lanes.h"
#include "fields.h"
#include "parallel.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#pragma GCC optimize("O3")

namespace stemscope {
namespace {

using fft::Aligned;
using fft::CpuHasAvx2;
using fft::Lanes;

struct Spec : fft::Tables {
  int hop = 0, frames = 0, length = 0, nMels = 0, sources = 0;
  double powerScale = 0;
  std::vector<double> window, inverseWss, weight;
  std::vector<int32_t> binStart, bandIdx, binSource;
};

// Per-thread buffers; V holds W frames, one per lane.
template <int W>
struct Scratch {
  using V = typename Lanes<W>::V;
  Aligned<V> zr, zi, re, im, mre, mim;  // mre/mim: a source's masked spectrum
  std::vector<double> padded, shares, sums;
  std::vector<float> power;
  explicit Scratch(const Spec& s)
      : zr(s.half), zi(s.half), re(s.nBins), im(s.nBins), mre(s.nBins), mim(s.nBins),
        padded(static_cast<size_t>(s.length) + s.nFft),
        shares(static_cast<size_t>(s.sources - 1) * s.nMels * s.frames),
        sums(static_cast<size_t>(s.sources - 1) * s.inverseWss.size()),
        power(static_cast<size_t>(s.sources) * s.nMels * s.frames) {}
};

// X[k], k ≤ N/2, of W windowed frames f[0..W) (numpy rfft) into w.re, w.im.
template <int W>
SS_INLINE void ForwardReal(const Spec& s, const double* const* f, Scratch<W>& w) {
  using V = typename Lanes<W>::V;
  V* zr = w.zr.data();
  V* zi = w.zi.data();
  V* re = w.re.data();
  V* im = w.im.data();
  const int h = s.half;
  fft::ComplexFft<W>(s, zr, zi, f, s.window.data());
  const V z0r = zr[0], z0i = zi[0];
  re[0] = z0r + z0i;
  im[0] = V{};
  re[h] = z0r - z0i;
  im[h] = V{};
  const double* c = s.postCos.data();
  const double* sn = s.postSin.data();
  for (int k = 1; k < h; ++k) {
    const V ar = zr[k], ai = zi[k], br = zr[h - k], bi = -zi[h - k];
    const V er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
    const V orr = 0.5 * (ai - bi), oi = -0.5 * (ar - br);
    const double wr = c[k], wi = -sn[k];
    re[k] = er + wr * orr - wi * oi;
    im[k] = ei + wr * oi + wi * orr;
  }
}

// irfft(mre + i·mim) of W spectra into z (numpy irfft without its 1/N: sample 2m is zr[m], sample
// 2m + 1 is −zi[m], both to be scaled by 1 / half); imaginary parts of bins 0 and N/2 are ignored.
template <int W>
SS_INLINE void InverseReal(const Spec& s, const typename Lanes<W>::V* mre, const typename Lanes<W>::V* mim,
                           Scratch<W>& w) {
  using V = typename Lanes<W>::V;
  V* zr = w.zr.data();
  V* zi = w.zi.data();
  const int h = s.half;
  const int32_t* rev = s.rev.data();
  const double* c = s.postCos.data();
  const double* sn = s.postSin.data();
  for (int k = 0; k < h; ++k) {
    const V ar = mre[k], ai = k == 0 ? V{} : mim[k];
    const V br = mre[h - k], bi = k == 0 ? V{} : -mim[h - k];
    const V er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
    const V dr = 0.5 * (ar - br), di = 0.5 * (ai - bi);
    const double wr = c[k], wi = sn[k];
    const V orr = dr * wr - di * wi, oi = dr * wi + di * wr;
    const int p = rev[k];
    zr[p] = er - oi;
    zi[p] = -(ei + orr);
  }
  fft::ComplexFft<W>(s, zr, zi, nullptr, nullptr);
}

template <int W>
SS_INLINE void SeparateOne(const Spec& s, Scratch<W>& w, const float* clip, const float* planes, float* out) {
  using V = typename Lanes<W>::V;
  const int k = s.sources, frames = s.frames, nMels = s.nMels, nFft = s.nFft, hop = s.hop;
  const int n = s.length, pad = nFft / 2, nBins = s.nBins, h = s.half;
  const size_t cells = static_cast<size_t>(nMels) * frames;
  // shares of the first K − 1 sources, transposed to [frames, nMels] so a frame's column is
  // contiguous (powers rounded to float32 as masks.ts holds them)
  float* __restrict power = w.power.data();
  for (size_t i = 0; i < static_cast<size_t>(k) * cells; ++i) {
    const float v = planes[i];
    power[i] = v > 0 ? static_cast<float>(std::exp(s.powerScale * v)) : 0.0f;
  }
  double* __restrict shares = w.shares.data();
  for (int m = 0; m < nMels; ++m)
    for (int t = 0; t < frames; ++t) {
      const size_t i = static_cast<size_t>(m) * frames + t;
      double sum = 0;
      for (int j = 0; j < k; ++j) sum += std::max(0.0f, power[j * cells + i]);
      for (int j = 0; j < k - 1; ++j)
        shares[j * cells + static_cast<size_t>(t) * nMels + m] =
            sum > 0 ? std::max(0.0f, power[j * cells + i]) / sum : 1.0 / k;
    }
  // the clip centred in zeros: frame t is padded[t·hop, t·hop + nFft)
  double* padded = w.padded.data();
  std::fill(padded, padded + w.padded.size(), 0.0);
  for (int i = 0; i < n; ++i) padded[pad + i] = clip[i];
  const size_t total = s.inverseWss.size();
  std::fill(w.sums.begin(), w.sums.end(), 0.0);
  const double* __restrict window = s.window.data();
  const int32_t* __restrict binSource = s.binSource.data();
  const int32_t* __restrict binStart = s.binStart.data();
  const int32_t* __restrict bandIdx = s.bandIdx.data();
  const double* __restrict weight = s.weight.data();
  const V* re = w.re.data();
  const V* im = w.im.data();
  const double scale = 1.0 / h;
  for (int t0 = 0; t0 < frames; t0 += W) {
    const int lanes = std::min(W, frames - t0);
    const double* f[W];
    for (int l = 0; l < W; ++l) f[l] = padded + static_cast<size_t>(std::min(t0 + l, frames - 1)) * hop;
    ForwardReal<W>(s, f, w);
    for (int src = 0; src < k - 1; ++src) {
      const double* column[W];
      for (int l = 0; l < W; ++l)
        column[l] = shares + src * cells + static_cast<size_t>(std::min(t0 + l, frames - 1)) * nMels;
      V* __restrict mr = w.mre.data();
      V* __restrict mi = w.mim.data();
      for (int b = 0; b < nBins; ++b) {
        const int g = binSource[b];
        const int a = binStart[g], e = binStart[g + 1];
        V v = V{} + 1.0 / k;
        if (e > a) {
          v = V{};
          for (int i = a; i < e; ++i) v += weight[i] * Lanes<W>::Gather(column, bandIdx[i]);
        }
        mr[b] = re[b] * v;
        mi[b] = im[b] * v;
      }
      InverseReal<W>(s, mr, mi, w);
      const V* zr = w.zr.data();
      const V* zi = w.zi.data();
      for (int l = 0; l < lanes; ++l) {
        double* __restrict sum = w.sums.data() + src * total + static_cast<size_t>(t0 + l) * hop;
        for (int m = 0; m < h; ++m) {
          sum[2 * m] += zr[m][l] * scale * window[2 * m];
          sum[2 * m + 1] += -zi[m][l] * scale * window[2 * m + 1];
        }
      }
    }
  }
  const int avail = std::min<int>(n, static_cast<int>(total) - pad);
  float* last = out + static_cast<size_t>(k - 1) * n;
  for (int i = 0; i < n; ++i) last[i] = clip[i];
  for (int src = 0; src < k - 1; ++src) {
    const double* ys = w.sums.data() + src * total;
    float* stem = out + static_cast<size_t>(src) * n;
    for (int i = 0; i < n; ++i) stem[i] = i < avail ? static_cast<float>(ys[pad + i] * s.inverseWss[pad + i]) : 0.0f;
    for (int i = 0; i < n; ++i) last[i] = last[i] - stem[i];
  }
}

struct Job {
  const Spec* spec = nullptr;
  std::vector<const float*> clips;
  const float* planes = nullptr;  // [B, K, nMels, frames]
  float* out = nullptr;           // [B, K, length]
  int threads = 1;
  bool wide = false;  // 4 lanes (the AVX2 + FMA build) instead of 2
};

template <int W>
SS_INLINE void RunRangeImpl(const Job& job, size_t begin, size_t end) {
  const Spec& s = *job.spec;
  Scratch<W> w(s);
  const size_t cells = static_cast<size_t>(s.nMels) * s.frames;
  for (size_t b = begin; b < end; ++b)
    SeparateOne<W>(s, w, job.clips[b], job.planes + b * s.sources * cells,
                   job.out + b * static_cast<size_t>(s.sources) * s.length);
}

void RunRangeBaseline(const Job& job, size_t begin, size_t end) { RunRangeImpl<2>(job, begin, end); }

// The 4-lane build for AVX2 + FMA (everything it calls is forced inline), used only where the CPU has both.
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void RunRangeAvx2(const Job& job, size_t begin, size_t end) {
  RunRangeImpl<4>(job, begin, end);
}
#else
void RunRangeAvx2(const Job& job, size_t begin, size_t end) { RunRangeImpl<4>(job, begin, end); }
#endif

void RunJob(const Job& job) {
  const size_t batch = job.clips.size();
  if (batch == 0) return;
  const size_t threads = std::min<size_t>(std::max(job.threads, 1), batch);
  ForEachRange(batch, threads, [&](size_t begin, size_t end) {
    if (job.wide) RunRangeAvx2(job, begin, end);
    else RunRangeBaseline(job, begin, end);
  });
}

// ----------------------------------------------------------------------------- JS side

const char* const kFn = "stemsBatch";

Spec ParseSpec(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) Fail(env, kFn, "argument 'spec' must be an object, got " + Got(value));
  Napi::Object o = value.As<Napi::Object>();
  Spec s;
  s.nFft = IntField(o, kFn, "spec", "nFft", 4, 1 << 20);
  if ((s.nFft & (s.nFft - 1)) != 0) Fail(env, kFn, "spec.nFft must be a power of two, got " + std::to_string(s.nFft), true);
  s.half = s.nFft / 2;
  s.nBins = s.half + 1;
  s.hop = IntField(o, kFn, "spec", "hop", 1, 1 << 20);
  s.frames = IntField(o, kFn, "spec", "frames", 1, 1 << 24);
  s.length = IntField(o, kFn, "spec", "length", 1, 1 << 30);
  s.nMels = IntField(o, kFn, "spec", "nMels", 1, 1 << 16);
  s.sources = IntField(o, kFn, "spec", "sources", 2, 64);
  s.powerScale = PositiveField(o, kFn, "spec", "powerScale");
  s.window = ArrayField<double>(o, kFn, "spec", "window", napi_float64_array, "Float64Array", s.nFft);
  s.inverseWss = ArrayField<double>(o, kFn, "spec", "inverseWss", napi_float64_array, "Float64Array",
                                    static_cast<int64_t>(s.nFft) + static_cast<int64_t>(s.hop) * (s.frames - 1));
  s.binStart = ArrayField<int32_t>(o, kFn, "spec", "binStart", napi_int32_array, "Int32Array", s.nBins + 1);
  s.binSource = ArrayField<int32_t>(o, kFn, "spec", "source", napi_int32_array, "Int32Array", s.nBins);
  const int64_t nnz = s.binStart.back();
  s.bandIdx = ArrayField<int32_t>(o, kFn, "spec", "bandIdx", napi_int32_array, "Int32Array", nnz);
  s.weight = ArrayField<double>(o, kFn, "spec", "weight", napi_float64_array, "Float64Array", nnz);
  for (int f = 0; f < s.nBins; ++f)
    if (s.binStart[f] < 0 || s.binStart[f] > s.binStart[f + 1] || s.binSource[f] < 0 || s.binSource[f] >= s.nBins)
      Fail(env, kFn, "spec.binStart / spec.source are not a bin map of " + std::to_string(s.nBins) + " bins");
  for (int32_t m : s.bandIdx)
    if (m < 0 || m >= s.nMels) Fail(env, kFn, "spec.bandIdx has a band outside [0, nMels)");
  s.Build(s.nFft);
  return s;
}

// stemsBatch(spec, clips: Float32Array[], planes: Float32Array [B, K, nMels, frames],
//            output: Float32Array [B, K, length], threads, isa?: "auto" | "baseline" | "avx2")
// → the build that ran: "avx2" or "baseline"
Napi::Value StemsBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Spec spec = ParseSpec(env, info[0]);
  Job job;
  job.spec = &spec;
  if (!info[1].IsArray()) Fail(env, kFn, "argument 'clips' must be an array of Float32Arrays, got " + Got(info[1]));
  Napi::Array clips = info[1].As<Napi::Array>();
  const uint32_t batch = clips.Length();
  for (uint32_t b = 0; b < batch; ++b) {
    const std::string name = "clip " + std::to_string(b) + " of argument 'clips'";
    job.clips.push_back(
        TypedArg<float>(env, kFn, name, clips.Get(b), napi_float32_array, "Float32Array", spec.length).Data());
  }
  const int64_t planeValues = static_cast<int64_t>(batch) * spec.sources * spec.nMels * spec.frames;
  const int64_t outValues = static_cast<int64_t>(batch) * spec.sources * spec.length;
  job.planes = TypedArg<float>(env, kFn, "argument 'planes'", info[2], napi_float32_array, "Float32Array",
                               planeValues).Data();  // [B, K, nMels, frames]
  job.out = TypedArg<float>(env, kFn, "argument 'output'", info[3], napi_float32_array, "Float32Array", outValues)
                .Data();  // [B, K, length]
  job.threads = static_cast<int>(IntegerArg(env, kFn, "argument 'threads'", info[4], 1, 1024));
  job.wide = WideBuildArg(env, kFn, "argument 'isa'", info[5], CpuHasAvx2());
  try {
    RunJob(job);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("stemsBatch: ") + e.what());
  }
  return Napi::String::New(env, job.wide ? "avx2" : "baseline");
}

}  // namespace

void RegisterStemsKernel(Napi::Env env, Napi::Object exports) {
  exports.Set("stemsBatch", Napi::Function::New(env, StemsBatch, "stemsBatch"));
}

}  // namespace stemscope
