// The polyphase resampling kernel: for a rational ratio L/M (L phases, M input samples per L outputs)
// and a coefficient table of `taps` values per phase (a multiple of 8, zero-padded; built by
// src/audio/resample.ts so the filter is defined in one place),
//   y[m] = Σ_j table[p][j] · x[base − reach + 1 + j],  base = floor(m·M / L), p = m·M − base·L,
// with x zero outside the signal. The order of operations is fixed so the TypeScript twin
// (polyphaseTwin in src/audio/resample.ts) gives the same samples bit for bit: eight partial sums in
// double precision, lane l taking taps j ≡ l (mod 8) in ascending j, no fused multiply-add, then
// ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)), rounded once to float32.
//
// Speed: outputs m, m + L, m + 2L, m + 3L share a phase, so they are summed together and each
// coefficient load serves four outputs; the eight lanes are two AVX2 registers (or one AVX-512 one,
// or four SSE2 ones: the same arithmetic, chosen at load time); blocks of outputs are shared out to
// std::threads as they finish.

#include "resample.h"

#include "fields.h"
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

// The lanes must be multiplied and added apart, as JavaScript does (no contraction into FMA).
#pragma GCC optimize("O3", "fp-contract=off")

namespace stemscope {
namespace {

typedef double V8 __attribute__((vector_size(64), aligned(8), may_alias));
typedef double V4 __attribute__((vector_size(32), aligned(8), may_alias));
typedef double V2 __attribute__((vector_size(16), aligned(8), may_alias));

struct Plan {
  const double* table;
  int64_t phases, step, taps, reach;
};

// The signal as doubles over absolute input indices [first, first + x.size()), zero outside the signal.
struct Window {
  std::vector<double> x;
  int64_t first;
};

// The kernel body for one target, with the eight lanes held in P vectors of type VT (8 / P doubles
// each; lane l is element l mod (8 / P) of vector l / (8 / P)): outputs [o0, o1) into out[o − o0].
#define RESAMPLE_RANGE(NAME, TARGET, VT, P)                                                           \
  __attribute__((target(TARGET))) void NAME(const Plan& p, const Window& w, int64_t o0, int64_t o1,  \
                                            float* out) {                                            \
    constexpr int W = 8 / P; /* doubles per vector */                                               \
    auto reduce = [](const VT* a) __attribute__((target(TARGET))) {                                  \
      double s[8];                                                                                   \
      for (int h = 0; h < P; ++h)                                                                    \
        for (int e = 0; e < W; ++e) s[h * W + e] = a[h][e];                                          \
      return static_cast<float>(((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))); \
    };                                                                                               \
    const int64_t L = p.phases, M = p.step, T = p.taps;                                              \
    const double* x = w.x.data() - w.first; /* x[k] for absolute k */                                \
    for (int64_t g = o0; g < o1; g += 4 * L) {                                                       \
      for (int64_t r = 0; r < L && g + r < o1; ++r) {                                                \
        const int64_t m = g + r;                                                                     \
        const int64_t base = m * M / L;                                                              \
        const double* row = p.table + (m * M - base * L) * T;                                        \
        const double* x0 = x + (base - p.reach + 1);                                                 \
        if (m + 3 * L < o1) {                                                                        \
          VT a0[P] = {}, a1[P] = {}, a2[P] = {}, a3[P] = {};                                         \
          const double* x1 = x0 + M;                                                                 \
          const double* x2 = x1 + M;                                                                 \
          const double* x3 = x2 + M;                                                                 \
          for (int64_t j = 0; j < T; j += 8) {                                                       \
            for (int h = 0; h < P; ++h) {                                                            \
              const int64_t at = j + h * W;                                                          \
              const VT t = *reinterpret_cast<const VT*>(row + at);                                   \
              a0[h] += t * *reinterpret_cast<const VT*>(x0 + at);                                    \
              a1[h] += t * *reinterpret_cast<const VT*>(x1 + at);                                    \
              a2[h] += t * *reinterpret_cast<const VT*>(x2 + at);                                    \
              a3[h] += t * *reinterpret_cast<const VT*>(x3 + at);                                    \
            }                                                                                        \
          }                                                                                          \
          out[m - o0] = reduce(a0);                                                                  \
          out[m + L - o0] = reduce(a1);                                                              \
          out[m + 2 * L - o0] = reduce(a2);                                                          \
          out[m + 3 * L - o0] = reduce(a3);                                                          \
        } else {                                                                                     \
          for (int64_t k = m; k < o1; k += L) {                                                      \
            const double* xk = x0 + (k - m) / L * M;                                                 \
            VT a[P] = {};                                                                            \
            for (int64_t j = 0; j < T; j += 8)                                                       \
              for (int h = 0; h < P; ++h)                                                            \
                a[h] += *reinterpret_cast<const VT*>(row + j + h * W) *                              \
                        *reinterpret_cast<const VT*>(xk + j + h * W);                                \
            out[k - o0] = reduce(a);                                                                 \
          }                                                                                          \
        }                                                                                            \
      }                                                                                              \
    }                                                                                                \
  }

RESAMPLE_RANGE(RangeAvx512, "avx512f", V8, 1)
RESAMPLE_RANGE(RangeAvx2, "avx2", V4, 2)
RESAMPLE_RANGE(RangeBaseline, "sse2", V2, 4)

enum class Isa { kAvx512, kAvx2, kBaseline };

// The build "auto" runs: AVX2 where there is AVX2. The AVX-512 build (selectable) measured ~10 %
// slower on AMD Zen 4: an unaligned 64-byte load of a window almost always splits a cache line.
Isa DetectIsa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return Isa::kAvx2;
  return Isa::kBaseline;
}

bool HasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

const char* IsaName(Isa isa) {
  return isa == Isa::kAvx512 ? "avx512" : isa == Isa::kAvx2 ? "avx2" : "baseline";
}

// Outputs [o0, o1): the input they read, as doubles (zero outside [xStart, xStart + n) ∩ [0, length)),
// then the sums.
void RunRange(Isa isa, const Plan& p, const float* x, int64_t xStart, int64_t n, int64_t length, int64_t o0,
              int64_t o1, float* out) {
  if (o0 >= o1) return;
  Window w;
  w.first = o0 * p.step / p.phases - p.reach + 1;
  const int64_t last = (o1 - 1) * p.step / p.phases - p.reach + 1 + p.taps;  // exclusive
  w.x.assign(static_cast<size_t>(last - w.first), 0.0);
  const int64_t from = std::max({w.first, xStart, int64_t{0}});
  const int64_t to = std::min({last, xStart + n, length});
  for (int64_t k = from; k < to; ++k) w.x[k - w.first] = x[k - xStart];
  if (isa == Isa::kAvx512) RangeAvx512(p, w, o0, o1, out);
  else if (isa == Isa::kAvx2) RangeAvx2(p, w, o0, o1, out);
  else RangeBaseline(p, w, o0, o1, out);
}

// Outputs [o0, o0 + count) in blocks of `block` taken in turn by `threads` threads, so a thread that
// gets less of the CPU (a busy machine) takes fewer blocks.
void RunBlocks(Isa isa, const Plan& p, const float* x, int64_t xStart, int64_t n, int64_t length, int64_t o0,
               int64_t count, float* out, int64_t threads) {
  // whole groups of 4L outputs (four per phase), at least 4096
  const int64_t group = 4 * p.phases;
  const int64_t block = group * ((4096 + group - 1) / group);
  const int64_t blocks = (count + block - 1) / block;
  std::atomic<int64_t> next{0};
  const size_t workers = static_cast<size_t>(std::max<int64_t>(1, std::min(threads, blocks)));
  ForEachRange(workers, workers, [&](size_t, size_t) {
    for (int64_t b = next++; b < blocks; b = next++) {
      const int64_t begin = b * block;
      const int64_t end = std::min(count, begin + block);
      RunRange(isa, p, x, xStart, n, length, o0 + begin, o0 + end, out + begin);
    }
  });
}

// ----------------------------------------------------------------------------- JS side

const char* const kFn = "resamplePolyphase";

const Isa kIsa = DetectIsa();

// resamplePolyphase(plan, x, inputStart, inputLength, out, outputStart, threads?, isa?) → the ISA that ran.
// plan: { table: Float64Array (phases · taps), phases, step, taps (multiple of 8), reach }.
// x holds input samples inputStart … inputStart + x.length of a signal of inputLength samples;
// out receives outputs outputStart … outputStart + out.length (the caller makes sure x covers them).
Napi::Value ResamplePolyphase(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || info[0].IsTypedArray())
    Fail(env, kFn, "argument 'plan' must be an object, got " + Got(info[0]));
  Napi::Object o = info[0].As<Napi::Object>();
  const int64_t phases = IntField(o, kFn, "plan", "phases", 1, 1 << 20);
  const int64_t step = IntField(o, kFn, "plan", "step", 1, 1 << 30);
  const int64_t taps = IntField(o, kFn, "plan", "taps", 8, 1 << 24);
  if (taps % 8 != 0) Fail(env, kFn, "plan.taps must be a multiple of 8, got " + std::to_string(taps), true);
  const int64_t reach = IntField(o, kFn, "plan", "reach", 1, static_cast<int>(taps));
  auto table = TypedArg<double>(env, kFn, "plan.table", o.Get("table"), napi_float64_array, "Float64Array",
                                phases * taps);
  auto x = TypedArg<float>(env, kFn, "argument 'x'", info[1], napi_float32_array, "Float32Array");
  const int64_t limit = int64_t{1} << 40;
  const int64_t xStart = IntegerArg(env, kFn, "argument 'inputStart'", info[2], 0, limit);
  const int64_t length = IntegerArg(env, kFn, "argument 'inputLength'", info[3], 0, limit);
  auto out = TypedArg<float>(env, kFn, "argument 'out'", info[4], napi_float32_array, "Float32Array");
  const int64_t oStart = IntegerArg(env, kFn, "argument 'outputStart'", info[5], 0, limit / step);
  const int64_t threads = info.Length() > 6 && !info[6].IsUndefined()
                              ? IntegerArg(env, kFn, "argument 'threads'", info[6], 1, 256)
                              : std::max<int64_t>(1, std::thread::hardware_concurrency());
  Isa isa = kIsa;
  if (info.Length() > 7 && !info[7].IsUndefined()) {
    const std::string name = info[7].IsString() ? info[7].As<Napi::String>().Utf8Value() : "";
    if (name == "avx512" && HasAvx512()) isa = Isa::kAvx512;
    else if (name == "avx2" && kIsa == Isa::kAvx2) isa = Isa::kAvx2;
    else if (name == "baseline") isa = Isa::kBaseline;
    else if (name != "auto")
      Fail(env, kFn, std::string("argument 'isa' must be \"auto\" or a build this CPU runs (") +
                    (HasAvx512() ? "avx512, " : "") + (kIsa == Isa::kAvx2 ? "avx2, " : "") + "baseline), got " +
                    Got(info[7]));
  }
  const Plan plan{table.Data(), phases, step, taps, reach};
  try {
    RunBlocks(isa, plan, x.Data(), xStart, static_cast<int64_t>(x.ElementLength()), length, oStart,
              static_cast<int64_t>(out.ElementLength()), out.Data(), threads);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string(kFn) + ": " + e.what());
  }
  return Napi::String::New(env, IsaName(isa));
}

}  // namespace

void RegisterResampleKernel(Napi::Env env, Napi::Object exports) {
  exports.Set("resamplePolyphase", Napi::Function::New(env, ResamplePolyphase, kFn));
  exports.Set("resampleKernelIsa", Napi::String::New(env, IsaName(kIsa)));
}

}  // namespace stemscope
