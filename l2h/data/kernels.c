/* The fused CPU loops of l2h (nbs/00a_kernels.ipynb tells why and how). l2h compiles this file at first use with the
   flags _FLAGS of l2h/kernels.py, as in
     cc -O3 -march=native -fopenmp-simd -fno-math-errno -shared -fPIC kernels.c -o kernels.so -lm
   The loops are written once, for a value type T: the file includes itself once with T = float and once with
   T = double, which gives first_pass_f32 and first_pass_f64, and so on. */
#ifndef T
#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x for the vector loops below: x = n ln2 + r with |r| <= ln2/2, e^r from a polynomial (degree 6 in float, the
   Taylor series to r^13 in double: the truncation is below half an ulp), times 2^n. Inlined, so the compiler runs it
   8 or 16 lanes wide; accurate to a few ulp. Every quantity it feeds here is at least 1 (a sum holding exp(0), or an
   S that keeps its c' term), so results below the smallest normal number cannot change one: x is clamped there,
   which keeps 2^n a plain normal number. */
static inline float pow2_f32(int32_t k) {
  uint32_t b = (uint32_t)(k + 127) << 23; float f; memcpy(&f, &b, 4); return f;
}
static inline float exp_f32(float x) {
  x = x < -87.f ? -87.f : x > 88.f ? 88.f : x;
  float n = rintf(x * 1.44269504088896341f);
  float r = fmaf(n, -0.693145751953125f, x);  /* ln 2 split: n times the first part is exact */
  r = fmaf(n, -1.4286068203094173e-06f, r);
  /* degree 6 through e^r at the 7 Chebyshev nodes of [-ln2/2, ln2/2]: 2e-8 relative with float coefficients */
  float p = 1.3941108e-3f;
  p = fmaf(p, r, 8.3751259e-3f); p = fmaf(p, r, 4.1666351e-2f); p = fmaf(p, r, 0.16666415f);
  p = fmaf(p, r, .5f); p = fmaf(p, r, 1.f); p = fmaf(p, r, 1.f);
  return p * pow2_f32((int32_t)n);
}
static inline double pow2_f64(int64_t k) {
  uint64_t b = (uint64_t)(k + 1023) << 52; double f; memcpy(&f, &b, 8); return f;
}
static inline double exp_f64(double x) {
  x = x < -708. ? -708. : x > 709. ? 709. : x;
  double n = rint(x * 1.4426950408889634);
  double r = fma(n, -0.6931471803691238, x);
  r = fma(n, -1.9082149292705877e-10, r);
  double p = 1. / 6227020800.;
  p = fma(p, r, 1. / 479001600); p = fma(p, r, 1. / 39916800); p = fma(p, r, 1. / 3628800);
  p = fma(p, r, 1. / 362880); p = fma(p, r, 1. / 40320); p = fma(p, r, 1. / 5040); p = fma(p, r, 1. / 720);
  p = fma(p, r, 1. / 120); p = fma(p, r, 1. / 24); p = fma(p, r, 1. / 6); p = fma(p, r, .5);
  p = fma(p, r, 1.); p = fma(p, r, 1.);
  return p * pow2_f64((int64_t)n);
}

/* The answers kept per sample (best, logit, rest, anchor below) are `ks` values apart: 1 in arrays of their own, 4 in
   one record per sample, as l2h.core keeps them on the CPU, where a sample's answers are one cache line away, not four
   (the loops below are bound by such trips to memory far away). */

/* rp(c) += w(x) p'(x) = w(x)/S(x) over the samples rows whose c'(x) is c; weight NULL: every w(x) is 1. */
void reassignment_mass(const int64_t* rows, int64_t n, const int64_t* best, const double* rest, int64_t ks,
                       const double* weight, double* rp) {
  for (int64_t i = 0; i < n; i++) {
    int64_t r = rows[i];
    if (i + 16 < n) {  /* samples far apart: ask for their answers ahead (measured) */
      __builtin_prefetch(best + rows[i + 16] * ks); __builtin_prefetch(rest + rows[i + 16] * ks);
      if (weight) __builtin_prefetch(weight + rows[i + 16]);
    }
    rp[best[r * ks]] += (weight ? weight[r] : 1.) / rest[r * ks];
  }
}

/* NAME(first_pass) is first_pass_f32 where T is float, first_pass_f64 where it is double. */
#define NAME_(f, suffix) f##_##suffix
#define NAME__(f, suffix) NAME_(f, suffix)
#define NAME(f) NAME__(f, SUFFIX)

#define T float
#define SUFFIX f32
#include __FILE__
#undef T
#undef SUFFIX
#define T double
#define SUFFIX f64
#include __FILE__

#else  /* the loops for one type T */

/* A lower bound on the first index of m in x, found 16 values at a time; a short scan finishes the job. */
static int64_t NAME(first_equal)(const T* x, int64_t K, T m) {
  int64_t i = 0;
  for (; i + 16 <= K; i += 16) {
    int hit = 0;
    #pragma omp simd reduction(|:hit)
    for (int k = 0; k < 16; k++) hit |= x[i + k] == m;
    if (hit) break;
  }
  return i;
}

/* The first pass, rows [0, n): a, b, L_b, log p' for G* = {a} and log S2. Returns the first row with NaN or
   ±inf, or -1. Maxima first, then the first index that holds them (first index on ties, as np.argmax). */
int64_t NAME(first_pass)(const T* L, int64_t n, int64_t K, int64_t ld, int64_t* a, int64_t* b,
                         double* runner, double* logp, double* log_rest) {
  for (int64_t r = 0; r < n; r++) {
    const T* x = L + r * ld;
    T zero = 0, top = -INFINITY, second = -INFINITY;
    #pragma omp simd reduction(+:zero) reduction(max:top)
    for (int64_t j = 0; j < K; j++) { zero += x[j] * (T)0; top = x[j] > top ? x[j] : top; }
    if (zero != 0) return r;  /* NaN as soon as one value is NaN or ±inf */
    int64_t ia = NAME(first_equal)(x, K, top);
    while (x[ia] != top) ia++;
    /* the other columns are [0, ia) and (ia, K): two plain loops, no per-value test */
    #pragma omp simd reduction(max:second)
    for (int64_t j = 0; j < ia; j++) second = x[j] > second ? x[j] : second;
    #pragma omp simd reduction(max:second)
    for (int64_t j = ia + 1; j < K; j++) second = x[j] > second ? x[j] : second;
    int64_t ib = NAME(first_equal)(x, K, second);
    while (ib == ia || x[ib] != second) ib++;
    T s = 0;
    #pragma omp simd reduction(+:s)
    for (int64_t j = 0; j < ia; j++) s += NAME(exp)(x[j] - second);
    #pragma omp simd reduction(+:s)
    for (int64_t j = ia + 1; j < K; j++) s += NAME(exp)(x[j] - second);
    a[r] = ia; b[r] = ib; runner[r] = second;
    logp[r] = -log((double)s);
    log_rest[r] = ((double)second - (double)top) - logp[r];
  }
  return -1;
}

/* Step 3 from whole rows: with G*'s columns pushed to -inf by `penalty`, c' = the first argmax, L_c', and
   S = sum of exp(L - L_c'), written at each sample's own index. A c' still outside G* is still the first argmax
   (the outside only shrank), so only the sum is needed then. */
void NAME(reread)(const T* L, int64_t K, int64_t ld, const int64_t* rows, int64_t n, const T* penalty,
                  int64_t* best, double* logit, double* rest, double* anchor, int64_t ks) {
  for (int64_t i = 0; i < n; i++) {
    int64_t r = rows[i], at = r * ks, c = best[at];
    const T* x = L + r * ld;
    if (i + 8 < n) {  /* their answers are as far apart: ask for those further ahead (measured best) */
      int64_t q = rows[i + 8] * ks;
      __builtin_prefetch(best + q, 1); __builtin_prefetch(logit + q, 1);
      __builtin_prefetch(rest + q, 1); __builtin_prefetch(anchor + q, 1);
    }
    if (i + 2 < n)  /* rows are far apart in memory: ask for the one after next into L2 now (measured best) */
      for (int64_t j = 0; j < K; j += 64 / sizeof(T)) __builtin_prefetch(L + rows[i + 2] * ld + j, 0, 2);
    T m = x[c];
    if (penalty[c] != 0) {
      m = -INFINITY;
      #pragma omp simd reduction(max:m)
      for (int64_t j = 0; j < K; j++) { T v = x[j] + penalty[j]; m = v > m ? v : m; }
      c = NAME(first_equal)(x, K, m);
      while (penalty[c] != 0 || x[c] != m) c++;
    }
    T s = 0;
    #pragma omp simd reduction(+:s)
    for (int64_t j = 0; j < K; j++) s += NAME(exp)(x[j] + penalty[j] - m);
    best[at] = c; logit[at] = m; rest[at] = anchor[at] = s;
  }
}

/* The samples `rows` all lost some clusters to their group since their S was computed: the `m` columns `cols`, and
   the long runs of columns [first[j], first[j] + length[j]), j < runs; `inside` marks G*'s clusters.
   S loses those clusters' terms, each rounded once and summed in double. A sample whose c' joined G* takes the first
   maximum outside G* as its c', and S, rescaled to it, keeps the terms left: a pass of maxima over the row instead of
   a pass of exponentials. A sample whose S would fall below limit * anchor (or, rescaled, could hold terms that
   underflowed) goes to `again` to be re-read whole; how many is returned. Long runs are plain vector loops, scattered
   columns one gather: families that merge often sit side by side, and a gather costs several times a load. */
int64_t NAME(shrink)(const T* L, int64_t K, int64_t ld, const int64_t* rows, int64_t n, const int64_t* cols,
                     int64_t m, const int64_t* first, const int64_t* length, int64_t runs, const uint8_t* inside,
                     int64_t* best, double* logit, double* rest, double* anchor, int64_t ks, double limit,
                     int64_t* again) {
  /* terms below e^-87 (float) or e^-708 (double) were computed at that floor; a rescaling by e^gap must keep them
     far below the c' term, even summed over tens of thousands of clusters */
  const double max_gap = sizeof(T) == 4 ? 50. : 500.;
  int64_t count = 0;
  for (int64_t i = 0; i < n; i++) {
    if (i + 16 < n) {  /* rows far apart in memory, and so are their answers: ask for those well ahead... */
      int64_t q = rows[i + 16] * ks;
      __builtin_prefetch(best + q); __builtin_prefetch(logit + q);
      __builtin_prefetch(rest + q, 1); __builtin_prefetch(anchor + q);
    }
    if (i + 8 < n) {  /* ... and for the values each will read (measured) */
      const T* ahead = L + rows[i + 8] * ld;
      if (inside[best[rows[i + 8] * ks]])  /* it will look for its new c': all of it */
        for (int64_t j = 0; j < K; j += 64 / sizeof(T)) __builtin_prefetch(ahead + j, 0, 2);
      else {
        for (int64_t j = 0; j < m; j++) __builtin_prefetch(ahead + cols[j], 0, 2);
        for (int64_t j = 0; j < runs; j++)
          for (int64_t c = 0; c < length[j]; c += 64 / sizeof(T)) __builtin_prefetch(ahead + first[j] + c, 0, 2);
      }
    }
    int64_t r = rows[i], at = r * ks, c = best[at];
    const T* x = L + r * ld;
    T ref = (T)logit[at];
    double s = 0;
    #pragma omp simd reduction(+:s)
    for (int64_t j = 0; j < m; j++) s += (double)NAME(exp)(x[cols[j]] - ref);
    for (int64_t j = 0; j < runs; j++) {
      const T* run = x + first[j];
      #pragma omp simd reduction(+:s)
      for (int64_t k = 0; k < length[j]; k++) s += (double)NAME(exp)(run[k] - ref);
    }
    double S = rest[at] - s;
    if (!(S >= limit * anchor[at])) { again[count++] = r; continue; }
    if (!inside[c]) { rest[at] = S; continue; }
    T top = -INFINITY;
    #pragma omp simd reduction(max:top)
    for (int64_t j = 0; j < K; j++) { T v = inside[j] ? -INFINITY : x[j]; top = v > top ? v : top; }
    double gap = (double)ref - (double)top;
    if (!(gap <= max_gap)) { again[count++] = r; continue; }
    c = NAME(first_equal)(x, K, top);
    while (inside[c] || x[c] != top) c++;
    double f = exp(gap);
    best[at] = c; logit[at] = top; rest[at] = S * f; anchor[at] *= f;
  }
  return count;
}

#endif
