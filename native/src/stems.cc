// The batched stems kernel: for each clip, the model's K separated planes (native feature values)
// become mel power shares r_k = P_k / Σ_j P_j with P = exp(a·v) for v > 0 (else 0), the shares become
// linear-bin masks through the sparse bin → band map, and each of the first K − 1 masks is applied to
// the clip's centred STFT and inverted (overlap-add with the window, divided by the window-square
// sum); the last stem is the clip minus the others. The maths of src/separator/masks.ts's
// separateClip, whose tables (window, inverse window-square sum, bin map) are passed in, so the
// definitions live in one place; double precision like it, so the stems match it to float rounding.
//
// Speed: the real FFT of N is a complex radix-2 FFT of N/2 plus the split step (as src/features/
// fft.ts), its inner loops vectorised (AVX2 clones chosen at load time); a batch is split across
// std::threads, one scratch set each. No libtorch here.

#include "stems.h"

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

// An AVX2 clone of the hot functions, chosen at load time (the x86-64 baseline otherwise).
#define SS_CLONES __attribute__((target_clones("avx2", "default")))

namespace stemscope {
namespace {

struct Spec {
  int nFft = 0, hop = 0, frames = 0, length = 0, nMels = 0, sources = 0, nBins = 0;
  double powerScale = 0;
  std::vector<double> window, inverseWss, weight;
  std::vector<int32_t> binStart, bandIdx, binSource;
  // complex FFT of half = nFft / 2 points: bit reversal and, for the stage of span 2h, the twiddles
  // e^{-2πij/(2h)}, j < h, at tw[h + j]
  int half = 0;
  std::vector<int32_t> rev;
  std::vector<double> twr, twi;
  // the split step: cos / sin of 2πk/N, k < half
  std::vector<double> splitCos, splitSin;
};

void BuildFftTables(Spec& s) {
  const int h = s.half;
  int bits = 0;
  while ((1 << bits) < h) ++bits;
  s.rev.assign(h, 0);
  for (int i = 0; i < h; ++i) {
    int r = 0;
    for (int b = 0, x = i; b < bits; ++b, x >>= 1) r = (r << 1) | (x & 1);
    s.rev[i] = r;
  }
  s.twr.assign(std::max(h, 1) * 2, 0);
  s.twi.assign(std::max(h, 1) * 2, 0);
  for (int span = 1; span < h; span *= 2)
    for (int j = 0; j < span; ++j) {
      s.twr[span + j] = std::cos(M_PI * j / span);
      s.twi[span + j] = -std::sin(M_PI * j / span);
    }
  s.splitCos.resize(h);
  s.splitSin.resize(h);
  for (int k = 0; k < h; ++k) {
    s.splitCos[k] = std::cos(2 * M_PI * k / s.nFft);
    s.splitSin[k] = std::sin(2 * M_PI * k / s.nFft);
  }
}

// In-place FFT of h points whose input is already in bit-reversed order: the first two radix-2
// stages as one pass without twiddles, then radix-2 stages whose inner loops run over contiguous
// twiddles (vectorised; an AVX2 clone is chosen at run time).
SS_CLONES void ComplexFft(const Spec& s, double* __restrict zr, double* __restrict zi) {
  const int h = s.half;
  int span = 1;
  if (h >= 4) {
    for (int i = 0; i < h; i += 4) {
      // stage 1: (0,1), (2,3); stage 2: (0,2) with w = 1, (1,3) with w = −i
      const double a0r = zr[i] + zr[i + 1], a0i = zi[i] + zi[i + 1];
      const double a1r = zr[i] - zr[i + 1], a1i = zi[i] - zi[i + 1];
      const double a2r = zr[i + 2] + zr[i + 3], a2i = zi[i + 2] + zi[i + 3];
      const double a3r = zr[i + 2] - zr[i + 3], a3i = zi[i + 2] - zi[i + 3];
      zr[i] = a0r + a2r;
      zi[i] = a0i + a2i;
      zr[i + 2] = a0r - a2r;
      zi[i + 2] = a0i - a2i;
      // (a3r + i·a3i)·(−i) = a3i − i·a3r
      zr[i + 1] = a1r + a3i;
      zi[i + 1] = a1i - a3r;
      zr[i + 3] = a1r - a3i;
      zi[i + 3] = a1i + a3r;
    }
    span = 4;
  }
  for (; span < h; span *= 2) {
    const double* __restrict wr = s.twr.data() + span;
    const double* __restrict wi = s.twi.data() + span;
    for (int i = 0; i < h; i += 2 * span) {
      double* __restrict ar = zr + i;
      double* __restrict ai = zi + i;
      double* __restrict br = zr + i + span;
      double* __restrict bi = zi + i + span;
      for (int j = 0; j < span; ++j) {
        const double tr = br[j] * wr[j] - bi[j] * wi[j];
        const double ti = br[j] * wi[j] + bi[j] * wr[j];
        br[j] = ar[j] - tr;
        bi[j] = ai[j] - ti;
        ar[j] += tr;
        ai[j] += ti;
      }
    }
  }
}

struct Scratch {
  std::vector<double> zr, zi, re, im, mre, mim, out, frame, shares, sums;
  std::vector<float> power;
  explicit Scratch(const Spec& s) {
    const int h = s.half;
    zr.resize(h);
    zi.resize(h);
    re.resize(s.nBins);
    im.resize(s.nBins);
    mre.resize(s.nBins);
    mim.resize(s.nBins);
    out.resize(s.nFft);
    frame.resize(s.nFft);
    power.resize(static_cast<size_t>(s.sources) * s.nMels * s.frames);
    shares.resize(static_cast<size_t>(s.sources - 1) * s.nMels * s.frames);
    sums.resize(static_cast<size_t>(s.sources - 1) * s.inverseWss.size());
  }
};

// X[k], k ≤ N/2, of the real frame (numpy rfft).
SS_CLONES void ForwardReal(const Spec& s, Scratch& w) {
  const int h = s.half;
  for (int m = 0; m < h; ++m) {
    const int p = s.rev[m];
    w.zr[p] = w.frame[2 * m];
    w.zi[p] = w.frame[2 * m + 1];
  }
  ComplexFft(s, w.zr.data(), w.zi.data());
  const double z0r = w.zr[0], z0i = w.zi[0];
  w.re[0] = z0r + z0i;
  w.im[0] = 0;
  w.re[h] = z0r - z0i;
  w.im[h] = 0;
  for (int k = 1; k < h; ++k) {
    const double ar = w.zr[k], ai = w.zi[k], br = w.zr[h - k], bi = -w.zi[h - k];
    const double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
    const double orr = 0.5 * (ai - bi), oi = -0.5 * (ar - br);
    const double wr = s.splitCos[k], wi = -s.splitSin[k];
    w.re[k] = er + wr * orr - wi * oi;
    w.im[k] = ei + wr * oi + wi * orr;
  }
}

// out = irfft(mre + i·mim) (numpy irfft, 1/N scaling; imaginary parts of bins 0 and N/2 ignored).
SS_CLONES void InverseReal(const Spec& s, Scratch& w) {
  const int h = s.half;
  for (int k = 0; k < h; ++k) {
    const double ar = w.mre[k], ai = k == 0 ? 0 : w.mim[k];
    const double br = w.mre[h - k], bi = k == 0 ? 0 : -w.mim[h - k];
    const double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
    const double dr = 0.5 * (ar - br), di = 0.5 * (ai - bi);
    const double wr = s.splitCos[k], wi = s.splitSin[k];
    const double orr = dr * wr - di * wi, oi = dr * wi + di * wr;
    const int p = s.rev[k];
    w.zr[p] = er - oi;
    w.zi[p] = -(ei + orr);
  }
  ComplexFft(s, w.zr.data(), w.zi.data());
  const double scale = 1.0 / h;
  for (int m = 0; m < h; ++m) {
    w.out[2 * m] = w.zr[m] * scale;
    w.out[2 * m + 1] = -w.zi[m] * scale;
  }
}

struct Job {
  const Spec* spec = nullptr;
  std::vector<const float*> clips;
  const float* planes = nullptr;  // [B, K, nMels, frames]
  float* out = nullptr;           // [B, K, length]
  int threads = 1;
};

SS_CLONES void SeparateOne(const Spec& s, Scratch& w, const float* clip, const float* planes, float* out) {
  const int k = s.sources, frames = s.frames, nMels = s.nMels, nFft = s.nFft, hop = s.hop;
  const int n = s.length, pad = nFft / 2, nBins = s.nBins;
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
  const size_t total = s.inverseWss.size();
  std::fill(w.sums.begin(), w.sums.end(), 0.0);
  const double* __restrict window = s.window.data();
  const int32_t* __restrict binSource = s.binSource.data();
  const int32_t* __restrict binStart = s.binStart.data();
  const int32_t* __restrict bandIdx = s.bandIdx.data();
  const double* __restrict weight = s.weight.data();
  double* __restrict frame = w.frame.data();
  const double* __restrict re = w.re.data();
  const double* __restrict im = w.im.data();
  double* __restrict mre = w.mre.data();
  double* __restrict mim = w.mim.data();
  const double* __restrict y = w.out.data();
  for (int t = 0; t < frames; ++t) {
    const int start = t * hop - pad;
    if (start >= 0 && start + nFft <= n) {
      for (int j = 0; j < nFft; ++j) frame[j] = static_cast<double>(clip[start + j]) * window[j];
    } else {
      for (int j = 0; j < nFft; ++j) {
        const int i = start + j;
        frame[j] = i >= 0 && i < n ? static_cast<double>(clip[i]) * window[j] : 0;
      }
    }
    ForwardReal(s, w);
    for (int src = 0; src < k - 1; ++src) {
      const double* __restrict column = shares + src * cells + static_cast<size_t>(t) * nMels;
      for (int f = 0; f < nBins; ++f) {
        const int g = binSource[f];
        const int a = binStart[g], b = binStart[g + 1];
        double v = 1.0 / k;
        if (b > a) {
          v = 0;
          for (int i = a; i < b; ++i) v += weight[i] * column[bandIdx[i]];
        }
        mre[f] = re[f] * v;
        mim[f] = im[f] * v;
      }
      InverseReal(s, w);
      double* __restrict sum = w.sums.data() + src * total + static_cast<size_t>(t) * hop;
      for (int j = 0; j < nFft; ++j) sum[j] += y[j] * window[j];
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

void RunRange(const Job& job, size_t begin, size_t end) {
  const Spec& s = *job.spec;
  Scratch w(s);
  const size_t cells = static_cast<size_t>(s.nMels) * s.frames;
  for (size_t b = begin; b < end; ++b)
    SeparateOne(s, w, job.clips[b], job.planes + b * s.sources * cells,
                job.out + b * static_cast<size_t>(s.sources) * s.length);
}

void RunJob(const Job& job) {
  const size_t batch = job.clips.size();
  if (batch == 0) return;
  const size_t threads = std::min<size_t>(std::max(job.threads, 1), batch);
  ForEachRange(batch, threads, [&](size_t begin, size_t end) { RunRange(job, begin, end); });
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
  BuildFftTables(s);
  return s;
}

// stemsBatch(spec, clips: Float32Array[], planes: Float32Array [B, K, nMels, frames],
//            output: Float32Array [B, K, length], threads)
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
  try {
    RunJob(job);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("stemsBatch: ") + e.what());
  }
  return env.Undefined();
}

}  // namespace

void RegisterStemsKernel(Napi::Env env, Napi::Object exports) {
  exports.Set("stemsBatch", Napi::Function::New(env, StemsBatch, "stemsBatch"));
}

}  // namespace stemscope
