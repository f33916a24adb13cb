// The FFT the feature and stems kernels share: the complex FFT of half = N/2 points behind a real FFT
// of N (iterative radix-4 DIT, one radix-2 stage first when log2 half is odd), in double precision, on
// W transforms at once, one per SIMD lane (GCC vector extensions: W = 2 on the x86-64 baseline, W = 4
// in code compiled for AVX2 + FMA), so every butterfly works on W transforms with shared twiddles.
// The first stages run block by block so the working set stays in L1. Everything is forced inline,
// so a caller compiled for AVX2 gets AVX2 code.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#if !defined(__GNUC__)
#error "fft_lanes.h uses GCC/Clang vector extensions"
#endif

#define SS_INLINE inline __attribute__((always_inline))

namespace stemscope {
namespace fft {

typedef double v2d __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef uint64_t v2u __attribute__((vector_size(16)));
typedef uint64_t v4u __attribute__((vector_size(32)));

template <int W>
struct Lanes;
template <>
struct Lanes<2> {
  using V = v2d;
  using U = v2u;
  static SS_INLINE V Gather(const double* const* f, int j) { return V{f[0][j], f[1][j]}; }
};
template <>
struct Lanes<4> {
  using V = v4d;
  using U = v4u;
  static SS_INLINE V Gather(const double* const* f, int j) { return V{f[0][j], f[1][j], f[2][j], f[3][j]}; }
};

// `count` zeroed values of T on a 64-byte boundary (std::vector's allocator does not promise the
// 32-byte alignment of a 4-double vector).
template <typename T>
class Aligned {
 public:
  explicit Aligned(size_t count) : raw_(new char[count * sizeof(T) + 64]()) {
    const auto addr = reinterpret_cast<uintptr_t>(raw_.get());
    data_ = reinterpret_cast<T*>((addr + 63) & ~static_cast<uintptr_t>(63));
  }
  T* data() const { return data_; }

 private:
  std::unique_ptr<char[]> raw_;
  T* data_;
};

// The tables of a real FFT of nFft points (a power of two ≥ 8).
struct Tables {
  int nFft = 0, half = 0, bits = 0, nBins = 0;
  std::vector<int32_t> rev;           // bit reversal of half
  std::vector<int> stageQ, stageOff;  // radix-4 stages after the first: q and offset into twiddles
  std::vector<double> twiddles;       // per stage and j: w1r, w1i, w2r, w2i, w3r, w3i
  std::vector<double> postCos, postSin;  // cos, sin of 2πk/N, k < N/2 (real split step)

  void Build(int n) {
    nFft = n;
    half = nFft / 2;
    bits = 0;
    while ((1 << bits) < half) ++bits;
    nBins = half + 1;
    rev.assign(half, 0);
    for (int i = 0; i < half; ++i) {
      int r = 0;
      for (int b = 0, x = i; b < bits; ++b, x >>= 1) r = (r << 1) | (x & 1);
      rev[i] = r;
    }
    // Twiddles e^{-2πik/half}, computed as in fft.ts's ComplexFft (cos/sin of the same arguments).
    auto c = [&](int k) { return std::cos((2 * M_PI * k) / half); };
    auto s = [&](int k) { return -std::sin((2 * M_PI * k) / half); };
    int size = (bits & 1) ? 2 : 4;
    stageQ.clear();
    stageOff.clear();
    twiddles.clear();
    while (size < half) {
      const int q = size, step = half / (4 * q);
      stageQ.push_back(q);
      stageOff.push_back(static_cast<int>(twiddles.size()));
      for (int j = 0; j < q; ++j) {
        const int k1 = j * step;
        twiddles.insert(twiddles.end(), {c(k1), s(k1), c(2 * k1), s(2 * k1), c(3 * k1), s(3 * k1)});
      }
      size *= 4;
    }
    postCos.resize(half);
    postSin.resize(half);
    for (int k = 0; k < half; ++k) {
      postCos[k] = std::cos((2 * M_PI * k) / nFft);
      postSin[k] = std::sin((2 * M_PI * k) / nFft);
    }
  }
};

// The size-2 DFT of a, b into z[i], z[i + 1].
template <class V>
SS_INLINE void Dft2(V* zr, V* zi, int i, V ar, V ai, V br, V bi) {
  zr[i] = ar + br;
  zi[i] = ai + bi;
  zr[i + 1] = ar - br;
  zi[i + 1] = ai - bi;
}

// The size-4 DFT of x0 … x3 into z[i … i + 3], for inputs in bit-reversed order (x0, x2, x1, x3).
template <class V>
SS_INLINE void Dft4(V* zr, V* zi, int i, V x0r, V x0i, V x1r, V x1i, V x2r, V x2i, V x3r, V x3i) {
  const V ar = x0r + x1r, ai = x0i + x1i, br = x0r - x1r, bi = x0i - x1i;
  const V cr = x2r + x3r, ci = x2i + x3i, dr = x2r - x3r, di = x2i - x3i;
  zr[i] = ar + cr;
  zi[i] = ai + ci;
  zr[i + 2] = ar - cr;
  zi[i + 2] = ai - ci;
  zr[i + 1] = br + di;
  zi[i + 1] = bi - dr;
  zr[i + 3] = br - di;
  zi[i + 3] = bi + dr;
}

// Sample j of W frames, windowed.
template <int W>
SS_INLINE typename Lanes<W>::V Windowed(const double* const* f, const double* win, int j) {
  return Lanes<W>::Gather(f, j) * win[j];
}

// The first stage on [lo, hi): loads the W windowed real frames f[0..W) in bit-reversed order (z[i]
// holds sample pair m = rev[i]: re = x[2m]·w[2m], im = x[2m+1]·w[2m+1]) and does the size-2 DFTs
// when log2 half is odd, else the size-4 ones.
template <int W>
SS_INLINE void FirstStage(const Tables& p, const double* const* f, const double* win,
                          typename Lanes<W>::V* zr, typename Lanes<W>::V* zi, int lo, int hi) {
  using V = typename Lanes<W>::V;
  const int32_t* rev = p.rev.data();
  if (p.bits & 1) {
    for (int i = lo; i < hi; i += 2) {
      const int a = 2 * rev[i], b = 2 * rev[i + 1];
      Dft2<V>(zr, zi, i, Windowed<W>(f, win, a), Windowed<W>(f, win, a + 1), Windowed<W>(f, win, b),
              Windowed<W>(f, win, b + 1));
    }
    return;
  }
  for (int i = lo; i < hi; i += 4) {
    const int j0 = 2 * rev[i], j1 = 2 * rev[i + 1], j2 = 2 * rev[i + 2], j3 = 2 * rev[i + 3];
    Dft4<V>(zr, zi, i, Windowed<W>(f, win, j0), Windowed<W>(f, win, j0 + 1), Windowed<W>(f, win, j1),
            Windowed<W>(f, win, j1 + 1), Windowed<W>(f, win, j2), Windowed<W>(f, win, j2 + 1),
            Windowed<W>(f, win, j3), Windowed<W>(f, win, j3 + 1));
  }
}

// The same first stage on z already in bit-reversed order (z[i] holds input rev[i]).
template <int W>
SS_INLINE void FirstStageInPlace(const Tables& p, typename Lanes<W>::V* zr, typename Lanes<W>::V* zi, int lo,
                                 int hi) {
  using V = typename Lanes<W>::V;
  if (p.bits & 1) {
    for (int i = lo; i < hi; i += 2) Dft2<V>(zr, zi, i, zr[i], zi[i], zr[i + 1], zi[i + 1]);
    return;
  }
  for (int i = lo; i < hi; i += 4)
    Dft4<V>(zr, zi, i, zr[i], zi[i], zr[i + 1], zi[i + 1], zr[i + 2], zi[i + 2], zr[i + 3], zi[i + 3]);
}

// One radix-4 DIT stage on [lo, hi) (a multiple of 4q): combines four length-q DFTs at s, s+q, s+2q,
// s+3q (holding the inputs ≡ 0, 2, 1, 3 mod 4) into one of length 4q.
template <int W>
SS_INLINE void Radix4(const Tables& p, size_t stage, typename Lanes<W>::V* zr, typename Lanes<W>::V* zi, int lo,
                      int hi) {
  using V = typename Lanes<W>::V;
  const int q = p.stageQ[stage], big = 4 * q;
  const double* tw = p.twiddles.data() + p.stageOff[stage];
  for (int j = 0; j < q; ++j, tw += 6) {
    const double w1r = tw[0], w1i = tw[1], w2r = tw[2], w2i = tw[3], w3r = tw[4], w3i = tw[5];
    for (int s = lo + j; s < hi; s += big) {
      const int a1 = s + q, a2 = a1 + q, a3 = a2 + q;
      const V Ar = zr[s], Ai = zi[s];
      V t = zr[a1], u = zi[a1];
      const V Br = t * w2r - u * w2i, Bi = t * w2i + u * w2r;
      t = zr[a2];
      u = zi[a2];
      const V Cr = t * w1r - u * w1i, Ci = t * w1i + u * w1r;
      t = zr[a3];
      u = zi[a3];
      const V Dr = t * w3r - u * w3i, Di = t * w3i + u * w3r;
      const V s0r = Ar + Br, s0i = Ai + Bi, s1r = Ar - Br, s1i = Ai - Bi;
      const V s2r = Cr + Dr, s2i = Ci + Di, s3r = Cr - Dr, s3i = Ci - Di;
      zr[s] = s0r + s2r;
      zi[s] = s0i + s2i;
      zr[a2] = s0r - s2r;
      zi[a2] = s0i - s2i;
      zr[a1] = s1r + s3i;
      zi[a1] = s1i - s3r;
      zr[a3] = s1r - s3i;
      zi[a3] = s1i + s3r;
    }
  }
}

// The complex FFT of half points on W lanes, in place: the first stage loads the windowed frames
// f[0..W) (FirstStage), or, with f null, works on z already in bit-reversed order (FirstStageInPlace);
// then the radix-4 stages. The stages whose groups fit in a block of ≤ 16 KiB of re + im run block by
// block, in L1. (No callback: a lambda would not inherit the caller's AVX2 target.)
template <int W>
SS_INLINE void ComplexFft(const Tables& p, typename Lanes<W>::V* zr, typename Lanes<W>::V* zi,
                          const double* const* f, const double* win) {
  using V = typename Lanes<W>::V;
  const int h = p.half;
  const int limit = std::min(h, static_cast<int>(16384 / (2 * sizeof(V))));
  int block = (p.bits & 1) ? 2 : 4;
  while (block * 4 <= limit) block *= 4;
  size_t stage = 0;
  while (stage < p.stageQ.size() && 4 * p.stageQ[stage] <= block) ++stage;
  for (int b0 = 0; b0 < h; b0 += block) {
    if (f != nullptr) FirstStage<W>(p, f, win, zr, zi, b0, b0 + block);
    else FirstStageInPlace<W>(p, zr, zi, b0, b0 + block);
    for (size_t st = 0; st < stage; ++st) Radix4<W>(p, st, zr, zi, b0, b0 + block);
  }
  for (size_t st = stage; st < p.stageQ.size(); ++st) Radix4<W>(p, st, zr, zi, 0, h);
}

// Whether this CPU (and build) runs the 4-lane code: AVX2 and FMA.
inline bool CpuHasAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace fft
}  // namespace stemscope
