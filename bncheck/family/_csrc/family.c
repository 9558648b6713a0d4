/* The compiled kernels of bncheck.family (extension bncheck.family._family).

   The input is Nb*G reduction sets of m = Cg*inner contiguous values (C order), float32 or
   float64; the affine parameters are float64 of shape (G, Cg): element (set s, value j) uses
   parameter (s % G)*Cg + j / inner.
   float64 (family_template.h): every sum is a double-double accumulated in L = 8 independent
   lanes (combined in a fixed order), every elementwise result is formed in double-double and
   rounded once: the same arithmetic as bncheck.family._numpy_kernels.
   float32 (below): plain double with rigorous error bounds, each result checked to be the
   correctly rounded one, double-double where the check fails (docs/numerics.md).
   Sets are independent, so splitting them over OpenMP threads changes no bit; the parameter
   sums of the elementwise layout (LayerNorm, RMSNorm) run over column blocks, each column's
   rows in order, so they do not depend on the thread count either.

   Built with -ffp-contract=off -fno-fast-math (setup.py): every operation rounds as written. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "bncheck.family needs FLT_EVAL_METHOD == 0 (no x87 extended precision)"
#endif

#define L 8
#define SPLIT 134217729.0 /* 2^27 + 1 */

typedef struct { double hi, lo; } dd;

static inline dd two_sum(double a, double b)
{
    double s = a + b, bb = s - a;
    dd r = {s, (a - (s - bb)) + (b - bb)};
    return r;
}
static inline dd fast_two_sum(double a, double b)
{
    double s = a + b;
    dd r = {s, b - (s - a)};
    return r;
}
static inline double prod_err(double a, double b, double p)
{
    double t = SPLIT * a, ah = t - (t - a), al = a - ah;
    double u = SPLIT * b, bh = u - (u - b), bl = b - bh;
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}
static inline dd dd_add(dd a, dd b)
{
    dd s = two_sum(a.hi, b.hi);
    return fast_two_sum(s.hi, s.lo + (a.lo + b.lo));
}
static inline dd dd_mul(dd a, dd b)
{
    double p = a.hi * b.hi;
    return fast_two_sum(p, prod_err(a.hi, b.hi, p) + (a.hi * b.lo + a.lo * b.hi));
}
static inline dd dd_div_d(dd a, double b)
{
    double q = a.hi / b, p = q * b;
    double r = ((a.hi - p) - prod_err(q, b, p) + a.lo) / b;
    return fast_two_sum(q, r);
}
static inline dd dd_rsqrt(dd a)
{
    double y = 1.0 / sqrt(a.hi);
    dd y2 = {y * y, 0.0};
    y2.lo = prod_err(y, y, y2.hi);
    dd ay2 = dd_mul(a, y2);
    dd one = {1.0, 0.0}, neg = {-ay2.hi, -ay2.lo};
    dd r = dd_add(one, neg);
    return fast_two_sum(y, y * (r.hi + r.lo) * 0.5);
}
/* lanes: hi[L] accumulates with two_sum, lo[L] collects the errors */
static inline dd lanes_total(const double *hi, const double *lo)
{
    dd t = {0.0, 0.0};
    for (int k = 0; k < L; k++) {
        dd v = {hi[k], lo[k]};
        t = dd_add(t, v);
    }
    return t;
}

typedef struct {
    Py_ssize_t nb, g, cg, inner;
    const double *gamma, *beta; /* (G, Cg) or NULL */
    double *mean_hi, *mean_lo, *inv_hi, *inv_lo;
    double eps;
    int rms;
    uint32_t *hash; /* the checksum of x per set (NULL: not computed) */
} plan;

/* ---- the input checksum (docs/numerics.md, "Edits of x after the forward") ------------------
   Per set, h = Σ_j mix(w_j, key_j) mod 2^32 over the set's m values, j their position in it,
   key_j = j·0x9E3779B1 mod 2^32, mix(w, key) = v ^ (v >> 15), v = (w ^ key)·0x85EBCA77 mod 2^32;
   w the 32-bit word of a float32 value; a float64 value adds mix(low word, key_j) +
   mix(high word, ~key_j). The BN's checksum of one channel (bncheck/bn/_csrc/scalars.h) with the
   set as the channel, so bncheck.bn.functional.input_checksum of x seen as (sets, m) over axis 0
   gives the same values. The forward stores it for the cache (which keeps x itself, not a
   copy); the backward computes it again over the x it reads and the caller compares. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define HK static __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HK static
#endif
#define HASH_KEY 0x9E3779B1u
#define HASH_MUL 0x85EBCA77u
static inline uint32_t mix32(uint32_t w, uint32_t key)
{
    uint32_t v = (w ^ key) * HASH_MUL;
    return v ^ (v >> 15);
}
HK uint32_t hash_set_f32(const float *restrict v, Py_ssize_t m)
{
    const uint32_t *w = (const uint32_t *)(const void *)v;
    uint32_t h = 0;
    for (Py_ssize_t j = 0; j < m; j++) h += mix32(w[j], (uint32_t)j * HASH_KEY);
    return h;
}
HK uint32_t hash_set_f64(const double *restrict v, Py_ssize_t m)
{
    const uint64_t *w = (const uint64_t *)(const void *)v;
    uint32_t h = 0;
    for (Py_ssize_t j = 0; j < m; j++) {
        uint32_t key = (uint32_t)j * HASH_KEY;
        h += mix32((uint32_t)w[j], key) + mix32((uint32_t)(w[j] >> 32), ~key);
    }
    return h;
}

/* float64 (and float16, widened): double-double throughout; float32 below */
#define T double
#define SFX f64
#include "family_template.h"
#undef T
#undef SFX

/* ---- float32: plain double where it is provably enough, double-double otherwise -------------

   Every elementwise result (y, dx) is computed in plain double, r, together with a rigorous
   bound E on |r − exact| (the rounding errors of its few operations, and the errors of the
   set's statistics and coefficients, which are plain-double sums over blocks of VB terms per
   lane, the blocks added by two_sum, each with its own bound). When r − E and r + E round to
   the same float32, every value within E of r does, the exact one included: that float32 is the
   correctly rounded result. Otherwise (within E of a float32 midpoint: rare; or a backward
   bracket that cancels) the element is computed again in double-double (the set's sums redone
   exactly first) and rounded once (round to odd at double precision, then to float32: no double
   rounding). The parameter sums carry bounds as well and are recomputed exactly when a bound
   does not decide their rounding (mode 2 of the backward). `force` flags everything: the redo
   paths must give the same bits (tests/family/test_fast_path.py). The plain-double parts use
   no fused multiply-add, so every build (x86-64-v4, v3, baseline) computes the same values. */
/* the float32 kernels use 16 lanes (two AVX-512 vectors: independent chains hide the adds'
   latency); a lane combination in a fixed order, as lanes_total */
#undef L
#define L 16
static inline dd lanes_total_f32(const double *hi, const double *lo)
{
    dd t = {0.0, 0.0};
    for (int k = 0; k < L; k++) t = dd_add(t, (dd){hi[k], lo[k]});
    return t;
}

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define FK static __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FK static
#endif
#define U64 0x1p-53
#define KREL (32.0 * U64) /* relative error budget of the plain-double formulas (they need < 8u) */

/* hi + lo (|lo| <= ulp(hi)/2) rounded to float32 once: round to odd at double precision
   (correct for the later rounding to 24 bits, 53 >= 24 + 2), then to nearest */
static inline float dd_to_f32(double hi, double lo)
{
    if (lo != 0.0 && isfinite(hi)) {
        uint64_t b;
        memcpy(&b, &hi, sizeof b);
        if (!(b & 1)) {
            b = ((lo > 0.0) == (hi > 0.0)) ? b + 1 : b - 1;
            memcpy(&hi, &b, sizeof b);
        }
    }
    return (float)hi;
}

/* whether r − e and r + e round to different float32s, compared as bits: a zero whose sign the
   bound does not decide counts as undecided too (the exact path gives it its sign); so does a
   NaN bound (an infinite budget times 0: "redo everything") */
static inline int undecided(double r, double e)
{
    float lo = (float)(r - e), hi = (float)(r + e);
    uint32_t a, b;
    memcpy(&a, &lo, sizeof a);
    memcpy(&b, &hi, sizeof b);
    return (a != b) | (e != e);
}

/* a bound on |mean − (mh + ml)| of a double-double lane sum of m values divided by m:
   (γ_n² + 2^-100)·mean|x| with n = m/L terms per lane, mean|x| <= |mean| + sqrt(var) */
static inline double mean_err(Py_ssize_t m, double mh, double sd)
{
    double n = (double)(m / L + L), g = n * U64 / (1.0 - n * U64);
    return (g * g + 0x1p-100) * (fabs(mh) * 1.01 + sd * 1.01);
}

/* Σx (lanes, double-double: lane k adds the values j ≡ k mod L). With GCC or Clang the 16
   lanes are written as two 8-double vectors (the same operations on the same values, so the
   same bits): left to itself the compiler vectorized this loop only in part, with scalar
   steps, and it cost more than the y pass. */
#if defined(__GNUC__) && L == 16
typedef double v8d __attribute__((vector_size(64), aligned(8)));
typedef float v8f __attribute__((vector_size(32), aligned(4)));
static inline void f32_sum(const float *restrict v, Py_ssize_t m, double *hi, double *lo)
{
    v8d h0 = {0.0}, h1 = {0.0}, l0 = {0.0}, l1 = {0.0};
    Py_ssize_t j = 0;
    for (; j + L <= m; j += L) {
        v8f f0, f1;
        memcpy(&f0, v + j, sizeof f0);
        memcpy(&f1, v + j + 8, sizeof f1);
        v8d a0 = __builtin_convertvector(f0, v8d), a1 = __builtin_convertvector(f1, v8d);
        v8d t0 = h0 + a0, b0 = t0 - h0, t1 = h1 + a1, b1 = t1 - h1;
        l0 += (h0 - (t0 - b0)) + (a0 - b0);
        l1 += (h1 - (t1 - b1)) + (a1 - b1);
        h0 = t0;
        h1 = t1;
    }
    for (int k = 0; k < 8; k++) hi[k] = h0[k], hi[k + 8] = h1[k], lo[k] = l0[k], lo[k + 8] = l1[k];
    for (; j < m; j++) {
        double a = (double)v[j], t = hi[0] + a, bb = t - hi[0];
        lo[0] += (hi[0] - (t - bb)) + (a - bb);
        hi[0] = t;
    }
}

/* f32_sum, and the set's checksum (hash_set_f32's value: a sum mod 2^32, in any order) from
   the same loads: its integer lanes run beside the double-double ones */
typedef uint32_t v16u __attribute__((vector_size(64), aligned(4)));
static inline void f32_sum_hash(const float *restrict v, Py_ssize_t m, double *hi, double *lo,
                                uint32_t *hash)
{
    v8d h0 = {0.0}, h1 = {0.0}, l0 = {0.0}, l1 = {0.0};
    v16u acc = {0}, key;
    for (int k = 0; k < 16; k++) key[k] = (uint32_t)k * HASH_KEY;
    const uint32_t inc = 16u * HASH_KEY;
    Py_ssize_t j = 0;
    for (; j + L <= m; j += L) {
        v8f f0, f1;
        v16u w;
        memcpy(&f0, v + j, sizeof f0);
        memcpy(&f1, v + j + 8, sizeof f1);
        memcpy(&w, v + j, sizeof w);
        v8d a0 = __builtin_convertvector(f0, v8d), a1 = __builtin_convertvector(f1, v8d);
        v8d t0 = h0 + a0, b0 = t0 - h0, t1 = h1 + a1, b1 = t1 - h1;
        l0 += (h0 - (t0 - b0)) + (a0 - b0);
        l1 += (h1 - (t1 - b1)) + (a1 - b1);
        h0 = t0;
        h1 = t1;
        v16u u = (w ^ key) * HASH_MUL;
        acc += u ^ (u >> 15);
        key += inc;
    }
    for (int k = 0; k < 8; k++) hi[k] = h0[k], hi[k + 8] = h1[k], lo[k] = l0[k], lo[k + 8] = l1[k];
    uint32_t h = 0;
    for (int k = 0; k < 16; k++) h += acc[k];
    for (; j < m; j++) {
        double a = (double)v[j], t = hi[0] + a, bb = t - hi[0];
        lo[0] += (hi[0] - (t - bb)) + (a - bb);
        hi[0] = t;
        uint32_t wj;
        memcpy(&wj, v + j, sizeof wj);
        h += mix32(wj, (uint32_t)j * HASH_KEY);
    }
    *hash = h;
}
#else
static inline void f32_sum(const float *restrict v, Py_ssize_t m, double *hi, double *lo)
{
    Py_ssize_t j = 0;
    for (int k = 0; k < L; k++) hi[k] = lo[k] = 0.0;
    for (; j + L <= m; j += L)
        for (int k = 0; k < L; k++) {
            double a = (double)v[j + k], t = hi[k] + a, bb = t - hi[k];
            lo[k] += (hi[k] - (t - bb)) + (a - bb);
            hi[k] = t;
        }
    for (; j < m; j++) {
        double a = (double)v[j], t = hi[0] + a, bb = t - hi[0];
        lo[0] += (hi[0] - (t - bb)) + (a - bb);
        hi[0] = t;
    }
}
static inline void f32_sum_hash(const float *restrict v, Py_ssize_t m, double *hi, double *lo,
                                uint32_t *hash)
{
    f32_sum(v, m, hi, lo);
    *hash = hash_set_f32(v, m);
}
#endif

/* Σ (x − mean)², x − mean as a double-double (two_sum), squares by two_prod */
static inline void f32_sqdev(const float *restrict v, Py_ssize_t m, double mh, double ml, double *hi,
                             double *lo)
{
    Py_ssize_t j = 0;
    for (int k = 0; k < L; k++) hi[k] = lo[k] = 0.0;
    for (; j + L <= m; j += L)
        for (int k = 0; k < L; k++) {
            double x = (double)v[j + k];
            double a = x - mh, bb = a - x;
            double dl = ((x - (a - bb)) + (-mh - bb)) - ml;
            double q = a * a, e = fma(a, a, -q) + 2.0 * a * dl;
            double t = hi[k] + q, cc = t - hi[k];
            lo[k] += ((hi[k] - (t - cc)) + (q - cc)) + e;
            hi[k] = t;
        }
    for (; j < m; j++) {
        double x = (double)v[j];
        double a = x - mh, bb = a - x;
        double dl = ((x - (a - bb)) + (-mh - bb)) - ml;
        double q = a * a, e = fma(a, a, -q) + 2.0 * a * dl;
        double t = hi[0] + q, cc = t - hi[0];
        lo[0] += ((hi[0] - (t - cc)) + (q - cc)) + e;
        hi[0] = t;
    }
}

/* Σ (x − mean)² in plain double: each lane adds VB squares (each square and sum rounded; no
   fused multiply-add, so both builds give the same bits), then the block's sum is added to the
   lane's double-double by two_sum: the error is about γ_VB relative, whatever m (bounded in
   fast_forward_set and var_err) */
#define VB 16
static inline dd f32_sqdev_fast(const float *restrict v, Py_ssize_t m, double mh, double ml)
{
    double hi[L], lo[L], acc[L];
    Py_ssize_t j = 0;
    for (int k = 0; k < L; k++) hi[k] = lo[k] = 0.0;
#if defined(__GNUC__) && L == 16
    /* the blocks as two 8-double vectors (lanes 0-7 and 8-15): the same operations on the same
       values as the loop below, so the same bits; left to itself the compiler did not
       vectorize the block loop, and this pass cost more than the y pass */
    {
        v8d h0 = {0.0}, h1 = {0.0}, l0 = {0.0}, l1 = {0.0};
        for (; j + VB * L <= m; j += VB * L) {
            v8d a0 = {0.0}, a1 = {0.0};
            for (Py_ssize_t i = 0; i < VB * L; i += L) {
                v8f f0, f1;
                memcpy(&f0, v + j + i, sizeof f0);
                memcpy(&f1, v + j + i + 8, sizeof f1);
                v8d d0 = (__builtin_convertvector(f0, v8d) - mh) - ml;
                v8d d1 = (__builtin_convertvector(f1, v8d) - mh) - ml;
                a0 = a0 + d0 * d0;
                a1 = a1 + d1 * d1;
            }
            v8d t0 = h0 + a0, b0 = t0 - h0, t1 = h1 + a1, b1 = t1 - h1;
            l0 += (h0 - (t0 - b0)) + (a0 - b0);
            l1 += (h1 - (t1 - b1)) + (a1 - b1);
            h0 = t0;
            h1 = t1;
        }
        for (int k = 0; k < 8; k++) hi[k] = h0[k], hi[k + 8] = h1[k], lo[k] = l0[k], lo[k + 8] = l1[k];
    }
#endif
    for (; j + VB * L <= m; j += VB * L) {
        for (int k = 0; k < L; k++) acc[k] = 0.0;
        for (Py_ssize_t i = 0; i < VB * L; i += L)
            for (int k = 0; k < L; k++) {
                double a = ((double)v[j + i + k] - mh) - ml;
                acc[k] = acc[k] + a * a;
            }
        for (int k = 0; k < L; k++) {
            dd t = two_sum(hi[k], acc[k]);
            hi[k] = t.hi;
            lo[k] += t.lo;
        }
    }
    for (int k = 0; k < L; k++) acc[k] = 0.0;
    for (Py_ssize_t i = j; i < m; i++) { /* fewer than VB·L: at most VB per lane */
        double a = ((double)v[i] - mh) - ml;
        acc[(i - j) % L] = acc[(i - j) % L] + a * a;
    }
    for (int k = 0; k < L; k++) {
        dd t = two_sum(hi[k], acc[k]);
        hi[k] = t.hi;
        lo[k] += t.lo;
    }
    return lanes_total_f32(hi, lo);
}

/* y of one run of n values sharing (g, b) scalars (gv == NULL) or with per-element gv, bv; the
   bound is krel·|p| + cb, cb >= krel·|b| + a1 (p = gamma·d·inv, y = p + b); returns whether an
   element is undecided */
static inline int f32_y_run(const float *restrict v, float *restrict out, Py_ssize_t n, const double *restrict gv,
                            const double *restrict bv, double g, double b, double mh, double ml, double ih,
                            double krel, double cb)
{
    int bad = 0;
    if (gv) {
        for (Py_ssize_t j = 0; j < n; j++) {
            double d = ((double)v[j] - mh) - ml;
            double p = (d * ih) * gv[j];
            double r = p + bv[j];
            double e = krel * fabs(p) + cb;
            float f = (float)r;
            bad |= undecided(r, e);
            out[j] = f;
        }
    } else {
        for (Py_ssize_t j = 0; j < n; j++) {
            double d = ((double)v[j] - mh) - ml;
            double p = (d * ih) * g;
            double r = p + b;
            double e = krel * fabs(p) + cb;
            float f = (float)r;
            bad |= undecided(r, e);
            out[j] = f;
        }
    }
    return bad;
}

typedef struct {
    const double *ones, *zeros; /* (G, Cg): 1, 0 */
    double maxg, maxb;          /* max |gamma| (1 without gamma), max |beta| (0 without) */
    int force;
} fast_ctx;

/* the double-double y of one element (the redo), rounded once */
static inline float f32_y_dd(float xv, double mh, double ml, dd inv, double g, double b)
{
    double x = (double)xv;
    double a = x - mh, bb = a - x;
    double lo = ((x - (a - bb)) + (-mh - bb)) - ml;
    double n = a * inv.hi;
    double nl = fma(a, inv.hi, -n) + (a * inv.lo + lo * inv.hi);
    double y = g * n;
    double yl = fma(g, n, -y) + g * nl;
    dd s = two_sum(y, b);
    s = fast_two_sum(s.hi, s.lo + yl);
    return dd_to_f32(s.hi, s.lo);
}

FK void fast_forward_set(const plan *p, const fast_ctx *c, const float *restrict v, float *restrict out,
                         Py_ssize_t s)
{
    Py_ssize_t m = p->cg * p->inner, base = (s % p->g) * p->cg;
    double hi[L], lo[L];
    double mh = 0.0, ml = 0.0;
    if (p->hash && p->rms) p->hash[s] = hash_set_f32(v, m);
    if (!p->rms) {
        if (p->hash)
            f32_sum_hash(v, m, hi, lo, p->hash + s); /* the checksum from the Σ x pass's loads */
        else
            f32_sum(v, m, hi, lo);
        dd mean = dd_div_d(lanes_total_f32(hi, lo), (double)m);
        mh = mean.hi;
        ml = mean.lo;
    }
    /* the variance in plain double: S = Σ a², a = (x − mh) − ml; against the exact Σ (x − μ̃)²
       (μ̃ = mh + ml) each a errs by at most 2u|a| + u|ml|, each square and addition by u, each
       block's sum by γ_VB (the blocks added exactly); and Σ (x − μ̃)² = m (var + (μ − μ̃)²) */
    dd var = dd_div_d(f32_sqdev_fast(v, m, mh, ml), (double)m);
    double var_h = var.hi;
    dd inv = dd_rsqrt(dd_add(var, (dd){p->eps, 0.0}));
    p->mean_hi[s] = mh;
    p->mean_lo[s] = ml;
    p->inv_hi[s] = inv.hi;
    p->inv_lo[s] = inv.lo;
    double ih = inv.hi;
    double dmu = p->rms ? 0.0 : mean_err(m, mh, 1.0 / ih) + 2.0 * U64 * fabs(ml);
    double nl = (double)(VB + 2), gl = nl * U64 / (1.0 - nl * U64);
    double es = ((gl + 8.0 * U64) * var_h + 2.0 * U64 * U64 * fabs(mh) * sqrt(var_h) +
                 2.0 * U64 * U64 * U64 * U64 * mh * mh + dmu * dmu) * 1.01;
    double ev = es / (var_h + p->eps) * 1.01; /* relative error of var + eps (inv: half of it) */
    double a1 = 2.0 * c->maxg * ih * dmu + 0x1p-1020;
    double krel = ev < 0x1p-20 ? KREL + ev : INFINITY; /* (else: redo every element) */
    /* cb: krel·|b| + a1 for the run's b (per-element beta: its max), rounded upwards enough */
#define CB(absb) ((krel * (absb) + a1) * (1.0 + 4.0 * U64))
    int bad = c->force;
    if (p->inner == 1) {
        const double *gv = p->gamma ? p->gamma + base : c->ones;
        const double *bv = p->beta ? p->beta + base : c->zeros;
        bad |= f32_y_run(v, out, m, gv, bv, 0.0, 0.0, mh, ml, ih, krel, CB(c->maxb));
    } else {
        for (Py_ssize_t ch = 0; ch < p->cg; ch++) {
            double g = p->gamma ? p->gamma[base + ch] : 1.0, b = p->beta ? p->beta[base + ch] : 0.0;
            Py_ssize_t off = ch * p->inner;
            bad |= f32_y_run(v + off, out + off, p->inner, NULL, NULL, g, b, mh, ml, ih, krel, CB(fabs(b)));
        }
    }
    if (!bad) return;
    /* redo the undecided elements in double-double, from the double-double variance */
    f32_sqdev(v, m, mh, ml, hi, lo);
    dd inv_x = dd_rsqrt(dd_add(dd_div_d(lanes_total_f32(hi, lo), (double)m), (dd){p->eps, 0.0}));
    for (Py_ssize_t j = 0; j < m; j++) {
        Py_ssize_t pi = base + (p->inner == 1 ? j : j / p->inner);
        double g = p->gamma ? p->gamma[pi] : 1.0, b = p->beta ? p->beta[pi] : 0.0;
        double d = ((double)v[j] - mh) - ml;
        double pp = (d * ih) * g, r = pp + b;
        double e = krel * fabs(pp) + (p->inner == 1 ? CB(c->maxb) : CB(fabs(b)));
        if (c->force || undecided(r, e)) out[j] = f32_y_dd(v[j], mh, ml, inv_x, g, b);
    }
#undef CB
}

/* ---- float32 backward ------------------------------------------------------------------
   Mode 0 (fast), per set: A = Σ g, B = Σ g·d (g = gamma·dy, d = x − mean) and, with
   per-channel gamma, the runs' Σ dy and Σ dy·d, as blocked plain-double sums with error bounds;
   the forward's 1/sqrt(var + eps) (relative error below ev/2, recomputed here as a bound by
   var_err); dx in plain double, checked element by element as in the forward. A set with an
   undecided element has its sums redone exactly (exact_sums_set: Σ (x − mean)², A, B and the
   runs' sums as double-doubles) and those elements recomputed in double-double. The parameter
   sums carry bounds too (part: PW = 6 doubles per entry, dgamma hi, lo, dbeta hi, lo and their
   error bounds); when one does not decide its rounding, the caller runs mode 2, which
   recomputes the parameter sums exactly (the flagged LayerNorm/RMSNorm columns, or every
   (set, channel) partial), leaving dx as it is. */
#define PW 6

static inline void exact_sums_set(const plan *p, const float *restrict dyv, const float *restrict v,
                                  double *restrict part, Py_ssize_t s, dd *ac_out, dd *bc_out, dd *inv_out,
                                  int write_part)
{
    Py_ssize_t m = p->cg * p->inner, base = (s % p->g) * p->cg;
    double mh = p->mean_hi[s], ml = p->mean_lo[s];
    dd A = {0.0, 0.0}, B = {0.0, 0.0};
    double g2 = 0.0;
    /* Σ (x − mean)² again, in double-double (the forward's is plain double): vh, vl */
    double vh[L], vl[L];
    for (int k = 0; k < L; k++) vh[k] = vl[k] = 0.0;
#define VSUM(k)                                                                         \
    {                                                                                  \
        double q2 = a * a, e2 = fma(a, a, -q2) + 2.0 * a * dl;                         \
        double w = vh[k] + q2, ww = w - vh[k];                                         \
        vl[k] += ((vh[k] - (w - ww)) + (q2 - ww)) + e2;                                \
        vh[k] = w;                                                                     \
    }
    if (p->inner == 1 && p->g == 1) {
        /* LayerNorm, RMSNorm (per-element gamma): A = Σ g, B = Σ g·d, g = gamma·dy exact (two_prod), d = x − mean exact */
        double ah[L], al[L], bh[L], bl[L], sq[L];
        for (int k = 0; k < L; k++) ah[k] = al[k] = bh[k] = bl[k] = sq[k] = 0.0;
        const double *gp = p->gamma ? p->gamma + base : NULL;
        Py_ssize_t j = 0;
#define BSUM(k, jj)                                                                     \
    {                                                                                  \
        double gam = gp ? gp[jj] : 1.0, dy = (double)dyv[jj], x = (double)v[jj];       \
        double gh = gam * dy, gl = fma(gam, dy, -gh);                                  \
        double a = x - mh, bb = a - x;                                                 \
        double dl = ((x - (a - bb)) + (-mh - bb)) - ml;                                \
        double t = ah[k] + gh, cc = t - ah[k];                                         \
        al[k] += ((ah[k] - (t - cc)) + (gh - cc)) + gl;                                \
        ah[k] = t;                                                                     \
        double q = gh * a, qe = fma(gh, a, -q) + (gh * dl + gl * a);                   \
        double u = bh[k] + q, uu = u - bh[k];                                          \
        bl[k] += ((bh[k] - (u - uu)) + (q - uu)) + qe;                                 \
        bh[k] = u;                                                                     \
        sq[k] += gh * gh;                                                              \
        VSUM(k)                                                                        \
    }
        if (gp)
            for (; j + L <= m; j += L)
                for (int k = 0; k < L; k++) BSUM(k, j + k)
        else
            for (; j + L <= m; j += L)
                for (int k = 0; k < L; k++) BSUM(k, j + k)
        for (; j < m; j++) BSUM(0, j)
#undef BSUM
        A = lanes_total_f32(ah, al);
        B = lanes_total_f32(bh, bl);
        for (int k = 0; k < L; k++) g2 += sq[k];
    } else {
        /* GroupNorm, InstanceNorm (per-channel gamma): per run c, Q = Σ dy and P = Σ dy·d (double-doubles); A = Σ γ_c Q_c,
           B = Σ γ_c P_c; the runs' sums are also the parameter partials */
        for (Py_ssize_t ch = 0; ch < p->cg; ch++) {
            const float *dr = dyv + ch * p->inner, *xr = v + ch * p->inner;
            double qh[L], ql[L], ph[L], pl[L], sq[L];
            for (int k = 0; k < L; k++) qh[k] = ql[k] = ph[k] = pl[k] = sq[k] = 0.0;
            Py_ssize_t j = 0;
#define RSUM(k, jj)                                                                     \
    {                                                                                  \
        double dy = (double)dr[jj], x = (double)xr[jj];                                \
        double a = x - mh, bb = a - x;                                                 \
        double dl = ((x - (a - bb)) + (-mh - bb)) - ml;                                \
        double t = qh[k] + dy, cc = t - qh[k];                                         \
        ql[k] += (qh[k] - (t - cc)) + (dy - cc);                                       \
        qh[k] = t;                                                                     \
        double q = dy * a, qe = fma(dy, a, -q) + dy * dl;                              \
        double u = ph[k] + q, uu = u - ph[k];                                          \
        pl[k] += ((ph[k] - (u - uu)) + (q - uu)) + qe;                                 \
        ph[k] = u;                                                                     \
        sq[k] += dy * dy;                                                              \
        VSUM(k)                                                                        \
    }
            for (; j + L <= p->inner; j += L)
                for (int k = 0; k < L; k++) RSUM(k, j + k)
            for (; j < p->inner; j++) RSUM(0, j)
#undef RSUM
            dd Q = lanes_total_f32(qh, ql), P = lanes_total_f32(ph, pl);
            double s2 = 0.0;
            for (int k = 0; k < L; k++) s2 += sq[k];
            double gam = p->gamma ? p->gamma[base + ch] : 1.0;
            A = dd_add(A, dd_mul(Q, (dd){gam, 0.0}));
            B = dd_add(B, dd_mul(P, (dd){gam, 0.0}));
            g2 += gam * gam * s2;
            if (write_part) {
                double *o = part + (s * p->cg + ch) * PW;
                o[0] = P.hi; o[1] = P.lo; o[2] = Q.hi; o[3] = Q.lo; o[4] = o[5] = 0.0;
            }
        }
    }
#undef VSUM
    dd inv = dd_rsqrt(dd_add(dd_div_d(lanes_total_f32(vh, vl), (double)m), (dd){p->eps, 0.0}));
    (void)g2;
    if (write_part && !(p->inner == 1 && p->g == 1))
        for (Py_ssize_t ch = 0; ch < p->cg; ch++) { /* Σ dy·d·inv per (set, channel) */
            double *o = part + (s * p->cg + ch) * PW;
            dd pg = dd_mul((dd){o[0], o[1]}, inv);
            o[0] = pg.hi; o[1] = pg.lo;
        }
    dd ac = dd_div_d(A, (double)m);
    dd bc = dd_div_d(dd_mul(dd_mul(B, inv), inv), (double)m);
    if (p->rms) ac.hi = ac.lo = 0.0;
    *ac_out = ac;
    *bc_out = bc;
    *inv_out = inv;
}


/* a bound on the relative error of var + eps as computed by fast_forward_set, from its results
   (var/(var + eps) <= 1, sqrt(var)/(var + eps) <= 1/sqrt(var + eps) ~ ih) */
static inline double var_err(Py_ssize_t m, double mh, double ih, double dmu)
{
    double nl = (double)(VB + 2), gl = nl * U64 / (1.0 - nl * U64);
    double ev = ((gl + 8.0 * U64) + 2.0 * U64 * U64 * fabs(mh) * ih * 1.01 +
                 (2.0 * U64 * U64 * U64 * U64 * mh * mh + dmu * dmu) * ih * ih * 1.03) * 1.02;
    return ev;
}

/* dx of one element in double-double from the exact coefficients, rounded once */
static inline float f32_dx_dd(float dyf, float xf, double gam, double mh, double ml, dd ac, dd bc, dd inv)
{
    double dy = (double)dyf, x = (double)xf, gh = gam * dy;
    dd g = {gh, fma(gam, dy, -gh)};
    double a = x - mh, bb = a - x;
    dd dv = {a, ((x - (a - bb)) + (-mh - bb)) - ml};
    dd dbb = dd_mul(dv, bc);
    dd br = dd_add(g, (dd){-dbb.hi, -dbb.lo});
    br = dd_add(br, (dd){-ac.hi, -ac.lo});
    dd rr = dd_mul(br, inv);
    return dd_to_f32(rr.hi, rr.lo);
}

/* the plain-double dx of one element and its bound: decided when r − e and r + e round alike */
#define DX_FAST(gam, dyf, xf)                                                            \
    double gh = (gam) * (double)(dyf), d = ((double)(xf) - mh) - ml;                     \
    double db_ = d * bh, r = ((gh - ahh) - db_) * ih;                                    \
    double e = k1 * fabs(gh) + k2 * fabs(d) + k0;

/* backward of one set: dx, and with per-channel gamma the (set, channel) parameter partials;
   returns a bound on max |dx| of the set */
FK double fast_backward_set(const plan *p, const fast_ctx *c, const float *restrict dyv,
                            const float *restrict v, float *restrict dxv, double *restrict part,
                            Py_ssize_t s, int exact)
{
    Py_ssize_t m = p->cg * p->inner, base = (s % p->g) * p->cg;
    double mh = p->mean_hi[s], ml = p->mean_lo[s], ih = p->inv_hi[s];
    int cols = p->inner == 1 && p->g == 1;
    const double *gp = p->gamma ? p->gamma + base : c->ones;
    if (exact == 2) { /* the parameter sums only: the exact inv, and the exact partials */
        dd ac, bc, inv;
        if (cols) {
            double hi[L], lo[L];
            f32_sqdev(v, m, mh, ml, hi, lo);
            inv = dd_rsqrt(dd_add(dd_div_d(lanes_total_f32(hi, lo), (double)m), (dd){p->eps, 0.0}));
        } else {
            exact_sums_set(p, dyv, v, part, s, &ac, &bc, &inv, 1);
        }
        p->inv_hi[s] = inv.hi;
        p->inv_lo[s] = inv.lo;
        return 0.0;
    }
    double dmu = p->rms ? 0.0 : mean_err(m, mh, 1.0 / ih) + 2.0 * U64 * fabs(ml);
    double ev = var_err(m, mh, ih, dmu);
    double A = 0.0, B = 0.0, g2 = 0.0;
    /* plain-double lane sums over blocks of VB terms per lane, each block's sum added to the
       lane's double-double by two_sum: errors about γ_VB of Σ|terms|, whatever m */
#define BLOCKED(n, TERMS, ACC)                                                          \
    {                                                                                  \
        Py_ssize_t j = 0;                                                              \
        for (; j + VB * L <= (n); j += VB * L) {                                       \
            for (int k = 0; k < L; k++) s1[k] = s2[k] = 0.0;                           \
            for (Py_ssize_t i = j; i < j + VB * L; i += L)                             \
                for (int k = 0; k < L; k++) {                                          \
                    Py_ssize_t jj = i + k;                                             \
                    TERMS                                                              \
                    s1[k] = s1[k] + t1;                                                \
                    s2[k] = s2[k] + t2;                                                \
                    s3[k] = s3[k] + t3;                                                \
                }                                                                      \
            ACC                                                                        \
        }                                                                              \
        for (int k = 0; k < L; k++) s1[k] = s2[k] = 0.0;                               \
        for (Py_ssize_t jj = j; jj < (n); jj++) {                                      \
            int k = (int)((jj - j) % L);                                               \
            TERMS                                                                      \
            s1[k] = s1[k] + t1;                                                        \
            s2[k] = s2[k] + t2;                                                        \
            s3[k] = s3[k] + t3;                                                        \
        }                                                                              \
        ACC                                                                            \
    }
#define ACC_DD                                                                          \
    for (int k = 0; k < L; k++) {                                                      \
        dd u1 = two_sum(h1[k], s1[k]), u2 = two_sum(h2[k], s2[k]);                     \
        h1[k] = u1.hi, l1[k] += u1.lo, h2[k] = u2.hi, l2[k] += u2.lo;                  \
    }
    double s1[L], s2[L], s3[L], h1[L], l1[L], h2[L], l2[L];
    if (cols) {
        for (int k = 0; k < L; k++) s3[k] = h1[k] = l1[k] = h2[k] = l2[k] = 0.0;
        BLOCKED(m,
                double t1 = gp[jj] * (double)dyv[jj]; double t2 = t1 * (((double)v[jj] - mh) - ml);
                double t3 = t1 * t1;, ACC_DD)
        dd Ad = lanes_total_f32(h1, l1), Bd = lanes_total_f32(h2, l2);
        A = Ad.hi + Ad.lo;
        B = Bd.hi + Bd.lo;
        for (int k = 0; k < L; k++) g2 += s3[k];
    } else {
        double gr = (VB + 2) * U64 / (1.0 - (VB + 2) * U64);
        for (Py_ssize_t ch = 0; ch < p->cg; ch++) {
            const float *dr = dyv + ch * p->inner, *xr = v + ch * p->inner;
            for (int k = 0; k < L; k++) s3[k] = h1[k] = l1[k] = h2[k] = l2[k] = 0.0;
            BLOCKED(p->inner,
                    double t1 = (double)dr[jj]; double t2 = t1 * (((double)xr[jj] - mh) - ml);
                    double t3 = t1 * t1;, ACC_DD)
            dd Qd = lanes_total_f32(h1, l1), Pd = lanes_total_f32(h2, l2);
            double Q = Qd.hi + Qd.lo, P = Pd.hi + Pd.lo, D2 = 0.0;
            for (int k = 0; k < L; k++) D2 += s3[k];
            double gam = gp[ch];
            A += gam * Q;
            B += gam * P;
            g2 += gam * gam * D2;
            /* partials: dgamma = P·ih, dbeta = Q, and their error bounds (Σ|dy| <= sqrt(n D2),
               Σ|dy d| <= sqrt(D2 · m (var + eps)) <= sqrt(D2 m)/ih) */
            double sdy = sqrt((double)p->inner * D2) * 1.01, sdd = sqrt(D2 * (double)m) / ih * 1.02;
            double pg = P * ih;
            double *o = part + (s * p->cg + ch) * PW;
            o[0] = pg; o[1] = 0.0; o[2] = Q; o[3] = 0.0;
            o[4] = ((gr + 5.0 * U64) * sdd * ih + sdy * (U64 * fabs(ml) + dmu) * ih + fabs(pg) * ev) * 1.02;
            o[5] = (gr + U64) * sdy * 1.01;
        }
    }
#undef BLOCKED
#undef ACC_DD
    double bound = ih * sqrt(g2) * (1.0 + ev + 0x1p-30);
    /* the coefficients a = A/m, b = B·ih²/m and bounds on their errors: the sums' (γ_n over
       n = m/L + 2L + cg terms, each g and g·d rounded: Σ|g| <= sqrt(m g2), Σ|g d| <= sqrt(m g2)/ih),
       d's mean error (u|ml| + dmu per term), and ih's (ev/2, twice in b) */
    /* blocks: γ_VB per block sum (two_sum adds them exactly, the low parts' sums err by about
       u² more); with per-channel gamma, the cg products γ_c·Q_c added in plain double */
    double n = (double)(VB + 2 + (cols ? 0 : p->cg)), gm = n * U64 / (1.0 - n * U64);
    double sg = sqrt((double)m * g2) * 1.02;
    double ahh = p->rms ? 0.0 : A / (double)m, bh = B * ih * ih / (double)m;
    double da = p->rms ? 0.0 : ((gm + 4.0 * U64) * sg / (double)m) * 1.02;
    double dB = (gm + 6.0 * U64) * sg / ih * 1.02 + sg * (U64 * fabs(ml) + dmu) * 1.02;
    double db = dB * ih * ih / (double)m * 1.02 + fabs(bh) * (ev + 8.0 * U64) * 1.02;
    /* |dx − r| <= ih (KREL (|g| + |a| + |d b|) + |d| db + da + |b| (u|ml| + dmu)) + |r| ev */
    double kk = KREL + ev, c0 = (KREL + ev) * fabs(ahh) + da + fabs(bh) * (U64 * fabs(ml) + dmu);
    c0 = c0 * 1.02 + 0x1p-1020;
    db *= 1.02;
    /* e = ih (kk (|g| + |d b|) + |d| db + c0) <= k1 |g| + k2 |d| + k0 (|d·bh| <= |d| |bh| (1 + u)),
       the constants rounded upwards enough to cover the three roundings of e itself */
    double k1 = ih * kk * (1.0 + 8.0 * U64), k2 = ih * (kk * fabs(bh) * (1.0 + 2.0 * U64) + db) * (1.0 + 8.0 * U64);
    double k0 = ih * c0 * (1.0 + 8.0 * U64);
    if (!(kk < 0x1p-20)) kk = INFINITY; /* undecidable: every element is redone */
    int bad = c->force;
    if (p->inner == 1) {
        for (Py_ssize_t j = 0; j < m; j++) {
            DX_FAST(gp[j], dyv[j], v[j])
            bad |= undecided(r, e);
            dxv[j] = (float)r;
        }
    } else {
        for (Py_ssize_t ch = 0; ch < p->cg; ch++) {
            double gam = gp[ch];
            const float *dr = dyv + ch * p->inner, *xr = v + ch * p->inner;
            float *o = dxv + ch * p->inner;
            for (Py_ssize_t j = 0; j < p->inner; j++) {
                DX_FAST(gam, dr[j], xr[j])
                bad |= undecided(r, e);
                o[j] = (float)r;
            }
        }
    }
    if (!bad) return bound;
    dd ac, bc, inv;
    exact_sums_set(p, dyv, v, part, s, &ac, &bc, &inv, 0);
    for (Py_ssize_t j = 0; j < m; j++) {
        double gam = gp[p->inner == 1 ? j : j / p->inner];
        DX_FAST(gam, dyv[j], v[j])
        if (c->force || undecided(r, e))
            dxv[j] = f32_dx_dd(dyv[j], v[j], gam, mh, ml, ac, bc, inv);
    }
    return bound;
}
#undef DX_FAST

/* LayerNorm, RMSNorm: dgamma_j = Σ_sets dy·d·inv and dbeta_j = Σ_sets dy for columns [j0, j1),
   each column's sets in order. Mode 2 (only the blocks holding a column flagged in part[:, 4]):
   double-doubles (d by two_sum, products by two_prod) with the exact inv mode 2 recomputed.
   Mode 0: plain double over blocks of CH sets, the blocks added as double-doubles, with error
   bounds (Σ|t| and Σ|dy| per column, the forward's inv within ev/2, the mean's error). */
#define FCOLS 64
#define CH 16
FK void fast_columns(const plan *p, const float *restrict dy, const float *restrict x, double *restrict part,
                     Py_ssize_t j0, Py_ssize_t j1, int exact)
{
    Py_ssize_t sets = p->nb * p->g, m = p->cg * p->inner, w = j1 - j0;
    double sgh[FCOLS], sgl[FCOLS], sbh[FCOLS], sbl[FCOLS];
    for (Py_ssize_t j = 0; j < FCOLS; j++) sgh[j] = sgl[j] = sbh[j] = sbl[j] = 0.0;
    if (exact == 2) { /* only blocks with a column the caller flagged in part[:, 4] */
        int any = 0;
        for (Py_ssize_t j = j0; j < j1; j++) any |= part[j * PW + 4] != 0.0;
        if (!any) return;
    }
    if (exact) {
        for (Py_ssize_t r = 0; r < sets; r++) {
            double mh = p->mean_hi[r], ml = p->mean_lo[r], ih = p->inv_hi[r], il = p->inv_lo[r];
            const float *dyr = dy + r * m + j0, *xr = x + r * m + j0;
            for (Py_ssize_t j = 0; j < w; j++) {
                double d1 = (double)dyr[j], xv = (double)xr[j];
                double a = xv - mh, bb = a - xv;
                double dl = ((xv - (a - bb)) + (-mh - bb)) - ml;
                double q = d1 * a, qe = fma(d1, a, -q) + d1 * dl;
                double t = q * ih, te = fma(q, ih, -t) + (q * il + qe * ih);
                double u = sgh[j] + t, uu = u - sgh[j];
                sgl[j] += ((sgh[j] - (u - uu)) + (t - uu)) + te;
                sgh[j] = u;
                double vv0 = sbh[j] + d1, vv = vv0 - sbh[j];
                sbl[j] += (sbh[j] - (vv0 - vv)) + (d1 - vv);
                sbh[j] = vv0;
            }
        }
        for (Py_ssize_t j = 0; j < w; j++) {
            double *o = part + (j0 + j) * PW;
            o[0] = sgh[j]; o[1] = sgl[j]; o[2] = sbh[j]; o[3] = sbl[j]; o[4] = o[5] = 0.0;
        }
        return;
    }
    double tg[FCOLS], ta[FCOLS], tb[FCOLS], tba[FCOLS], ag[FCOLS], ab[FCOLS];
    for (Py_ssize_t j = 0; j < FCOLS; j++) ag[j] = ab[j] = 0.0;
    double wmax = 0.0, evmax = 0.0; /* max over sets of ih (u|ml| + dmu), of ev */
    for (Py_ssize_t r0 = 0; r0 < sets; r0 += CH) {
        Py_ssize_t r1 = r0 + CH < sets ? r0 + CH : sets;
        for (Py_ssize_t j = 0; j < FCOLS; j++) tg[j] = ta[j] = tb[j] = tba[j] = 0.0;
        for (Py_ssize_t r = r0; r < r1; r++) {
            double mh = p->mean_hi[r], ml = p->mean_lo[r], ih = p->inv_hi[r];
            double dmu = p->rms ? 0.0 : mean_err(m, mh, 1.0 / ih) + 2.0 * U64 * fabs(ml);
            double ev = var_err(m, mh, ih, dmu), wv = ih * (U64 * fabs(ml) + dmu);
            wmax = wv > wmax ? wv : wmax;
            evmax = ev > evmax ? ev : evmax;
            const float *dyr = dy + r * m + j0, *xr = x + r * m + j0;
            for (Py_ssize_t j = 0; j < w; j++) {
                double d1 = (double)dyr[j], d = ((double)xr[j] - mh) - ml;
                double t = (d1 * d) * ih;
                tg[j] = tg[j] + t;
                ta[j] = ta[j] + fabs(t);
                tb[j] = tb[j] + d1;
                tba[j] = tba[j] + fabs(d1);
            }
        }
        for (Py_ssize_t j = 0; j < w; j++) {
            dd u = two_sum(sgh[j], tg[j]);
            sgh[j] = u.hi; sgl[j] += u.lo;
            dd v2 = two_sum(sbh[j], tb[j]);
            sbh[j] = v2.hi; sbl[j] += v2.lo;
            ag[j] += ta[j];
            ab[j] += tba[j];
        }
    }
    double gc = (double)(CH + 2) * U64 / (1.0 - (double)(CH + 2) * U64);
    double nb = (double)(sets / CH + 2), gb = nb * U64 / (1.0 - nb * U64);
    for (Py_ssize_t j = 0; j < w; j++) {
        double *o = part + (j0 + j) * PW;
        o[0] = sgh[j]; o[1] = sgl[j]; o[2] = sbh[j]; o[3] = sbl[j];
        /* per term: d (2u + mean error), d1·d, ·ih (u + ev/2): 6u + ev; the block sums γ_CH;
           the errors collected in sgl (γ over the blocks, times their error sums) */
        o[4] = ((gc + 6.0 * U64 + evmax) * ag[j] + wmax * ab[j] + gb * gb * ag[j]) * 1.03;
        o[5] = (gc * ab[j] + gb * gb * ab[j]) * 1.03;
    }
}
#undef CH

static int fast_ctx_init(fast_ctx *c, const plan *p, int force)
{
    Py_ssize_t n = p->g * p->cg;
    double *mem = malloc((size_t)(2 * (n > 0 ? n : 1)) * sizeof(double));
    if (!mem) return -1;
    double *ones = mem, *zeros = mem + n;
    c->maxg = 1.0;
    if (p->gamma) {
        c->maxg = 0.0;
        for (Py_ssize_t i = 0; i < n; i++) c->maxg = fabs(p->gamma[i]) > c->maxg ? fabs(p->gamma[i]) : c->maxg;
    }
    c->maxb = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        ones[i] = 1.0;
        zeros[i] = 0.0;
        if (p->beta) c->maxb = fabs(p->beta[i]) > c->maxb ? fabs(p->beta[i]) : c->maxb;
    }
    c->ones = ones; c->zeros = zeros; c->force = force;
    return 0;
}

static int fast_forward(const plan *p, const float *x, float *y, int threads, int force)
{
    fast_ctx c;
    if (fast_ctx_init(&c, p, force) < 0) return -1;
    Py_ssize_t sets = p->nb * p->g, m = p->cg * p->inner, s;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (s = 0; s < sets; s++) fast_forward_set(p, &c, x + s * m, y + s * m, s); /* and the checksum */
    free((void *)c.ones);
    return 0;
}

static int fast_backward(const plan *p, const float *dy, const float *x, float *dx, double *part,
                         double *bounds, int threads, int force, int exact)
{
    fast_ctx c;
    if (fast_ctx_init(&c, p, force) < 0) return -1;
    Py_ssize_t sets = p->nb * p->g, m = p->cg * p->inner, s;
    int columns = p->inner == 1 && p->g == 1;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
#pragma omp for schedule(static)
        for (s = 0; s < sets; s++) {
            if (p->hash) p->hash[s] = hash_set_f32(x + s * m, m);
            double bd = fast_backward_set(p, &c, dy + s * m, x + s * m, dx + s * m, part, s, exact);
            if (exact != 2) bounds[s] = bd;
        }
        if (columns) {
            Py_ssize_t blocks = (m + FCOLS - 1) / FCOLS, bi;
#pragma omp for schedule(static)
            for (bi = 0; bi < blocks; bi++)
                fast_columns(p, dy, x, part, bi * FCOLS, (bi + 1) * FCOLS < m ? (bi + 1) * FCOLS : m, exact);
        }
    }
    free((void *)c.ones);
    return 0;
}

/* ---- the arithmetic floor (benchmarks only; not a normalization bncheck offers) ----------------
   The least arithmetic a two-pass float32 member computed in plain double does, on the threads
   bncheck uses: per set Σ x, then Σ (x − mean)² and y = (x − mean)·inv·gamma + beta rounded
   once to float32; the backward Σ g and Σ g·(x − mean) (g = gamma·dy), dx and the parameter
   sums. No compensated sums, no rounding check, no checksum, no redo: its results are not
   guaranteed correctly rounded (they are within about 1e-15 relative before the rounding to
   float32), and `bncheck bench` times it beside bncheck's kernels to say what bncheck's
   accuracy guarantee costs over it. psum: gamma's sums then beta's, G·Cg each. */
FK void floor_set(const plan *p, const float *restrict v, float *restrict out, const float *restrict dyv,
                  float *restrict dxv, double *restrict psum, Py_ssize_t s)
{
    Py_ssize_t m = p->cg * p->inner, base = (s % p->g) * p->cg, j;
    double a[16], b[16];
    for (int k = 0; k < 16; k++) a[k] = b[k] = 0.0;
    for (j = 0; j + 16 <= m; j += 16)
        for (int k = 0; k < 16; k++) a[k] += (double)v[j + k];
    double sum = 0.0;
    for (int k = 0; k < 16; k++) sum += a[k];
    for (; j < m; j++) sum += (double)v[j];
    double mu = p->rms ? 0.0 : sum / (double)m;
    for (j = 0; j + 16 <= m; j += 16)
        for (int k = 0; k < 16; k++) {
            double d = (double)v[j + k] - mu;
            b[k] += d * d;
        }
    double q = 0.0;
    for (int k = 0; k < 16; k++) q += b[k];
    for (; j < m; j++) q += ((double)v[j] - mu) * ((double)v[j] - mu);
    double inv = 1.0 / sqrt(q / (double)m + p->eps);
    const double *gp = p->gamma ? p->gamma + base : NULL, *bp = p->beta ? p->beta + base : NULL;
    if (p->inner == 1) {
        for (j = 0; j < m; j++)
            out[j] = (float)(((double)v[j] - mu) * inv * (gp ? gp[j] : 1.0) + (bp ? bp[j] : 0.0));
    } else {
        for (Py_ssize_t c = 0; c < p->cg; c++) {
            double g = gp ? gp[c] : 1.0, bb = bp ? bp[c] : 0.0;
            const float *vr = v + c * p->inner;
            float *yr = out + c * p->inner;
            for (j = 0; j < p->inner; j++) yr[j] = (float)(((double)vr[j] - mu) * inv * g + bb);
        }
    }
    if (!dyv) return;
    double sa = 0.0, sb = 0.0;
    for (int k = 0; k < 16; k++) a[k] = b[k] = 0.0;
    double *pg = psum + base, *pb = psum + p->g * p->cg + base;
    if (p->inner == 1) { /* per-element parameters: column sums */
        for (j = 0; j + 16 <= m; j += 16)
            for (int k = 0; k < 16; k++) {
                double g = (gp ? gp[j + k] : 1.0) * (double)dyv[j + k];
                a[k] += g;
                b[k] += g * ((double)v[j + k] - mu);
            }
        for (int k = 0; k < 16; k++) sa += a[k], sb += b[k];
        for (; j < m; j++) {
            double g = (gp ? gp[j] : 1.0) * (double)dyv[j];
            sa += g;
            sb += g * ((double)v[j] - mu);
        }
        double ac = p->rms ? 0.0 : sa / (double)m, bc = sb * inv * inv / (double)m;
        for (j = 0; j < m; j++) {
            double dy = (double)dyv[j], d = (double)v[j] - mu;
            dxv[j] = (float)(((gp ? gp[j] : 1.0) * dy - ac - d * bc) * inv);
            pg[j] += dy * d * inv;
            pb[j] += dy;
        }
        return;
    }
    /* per-channel parameters, runs of inner values: lane sums (a strict-order scalar sum
       would not vectorize), Σ dy and Σ dy·d per run */
    double rs[16], rd[16];
    for (Py_ssize_t c = 0; c < p->cg; c++) {
        double gam = gp ? gp[c] : 1.0, s0 = 0.0, s1 = 0.0;
        const float *vr = v + c * p->inner, *dr = dyv + c * p->inner;
        for (int k = 0; k < 16; k++) rs[k] = rd[k] = 0.0;
        for (j = 0; j + 16 <= p->inner; j += 16)
            for (int k = 0; k < 16; k++) {
                double dy = (double)dr[j + k];
                rs[k] += dy;
                rd[k] += dy * ((double)vr[j + k] - mu);
            }
        for (int k = 0; k < 16; k++) s0 += rs[k], s1 += rd[k];
        for (; j < p->inner; j++) {
            s0 += (double)dr[j];
            s1 += (double)dr[j] * ((double)vr[j] - mu);
        }
        sa += gam * s0;
        sb += gam * s1;
        pg[c] += s1 * inv;
        pb[c] += s0;
    }
    double ac = p->rms ? 0.0 : sa / (double)m, bc = sb * inv * inv / (double)m;
    for (Py_ssize_t c = 0; c < p->cg; c++) {
        double gam = gp ? gp[c] : 1.0;
        const float *vr = v + c * p->inner, *dr = dyv + c * p->inner;
        float *xr = dxv + c * p->inner;
        for (j = 0; j < p->inner; j++)
            xr[j] = (float)((gam * (double)dr[j] - ac - ((double)vr[j] - mu) * bc) * inv);
    }
}

/* ---- binding ------------------------------------------------------------------------- */

static int fork_child = 0;

static int get_buf(PyObject *o, Py_buffer *b, int writable, const char *name)
{
    if (PyObject_GetBuffer(o, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous%s buffer", name, writable ? " writable" : "");
        return -1;
    }
    return 0;
}

static int kind_of(Py_buffer *b, const char *name)
{
    const char *f = b->format ? b->format : "B";
    if ((strcmp(f, "f") == 0 || strcmp(f, "<f") == 0 || strcmp(f, "=f") == 0) && b->itemsize == 4) return 4;
    if ((strcmp(f, "d") == 0 || strcmp(f, "<d") == 0 || strcmp(f, "=d") == 0) && b->itemsize == 8) return 8;
    PyErr_Format(PyExc_TypeError, "%s must hold float32 or float64 values", name);
    return -1;
}

static int check_len(Py_buffer *b, Py_ssize_t n, Py_ssize_t item, const char *name)
{
    if (b->len != n * item) {
        PyErr_Format(PyExc_ValueError, "%s has %zd bytes; expected %zd", name, b->len, n * item);
        return -1;
    }
    return 0;
}

/* hash: None, or a writable uint32 buffer of one value per set (the checksum of x) */
static int get_hash(PyObject *o, Py_buffer *b, Py_ssize_t sets)
{
    if (o == Py_None) return 0;
    if (get_buf(o, b, 1, "hash")) return -1;
    const char *f = b->format ? b->format : "B";
    if (!((strcmp(f, "I") == 0 || strcmp(f, "<I") == 0 || strcmp(f, "=I") == 0) && b->itemsize == 4)) {
        PyErr_SetString(PyExc_TypeError, "hash must hold uint32 values");
        return -1;
    }
    return check_len(b, sets, 4, "hash");
}

/* floor(x, y, dy|None, dx|None, gamma|None, beta|None, nb, g, cg, inner, eps, rms, threads):
   float32 only; with dy, the backward too (the parameter sums into per-thread buffers, added
   in thread order, then dropped: only their arithmetic is timed) */
static PyObject *py_floor(PyObject *self, PyObject *args)
{
    PyObject *ox, *oy, *ody, *odx, *og, *ob;
    plan p;
    memset(&p, 0, sizeof p);
    int threads;
    if (!PyArg_ParseTuple(args, "OOOOOOnnnndpi", &ox, &oy, &ody, &odx, &og, &ob, &p.nb, &p.g, &p.cg,
                          &p.inner, &p.eps, &p.rms, &threads))
        return NULL;
    Py_buffer bx = {0}, by = {0}, bdy = {0}, bdx = {0}, bg = {0}, bb = {0};
    PyObject *res = NULL;
    Py_ssize_t sets = p.nb * p.g, m = p.cg * p.inner, width = p.g * p.cg;
    int back = ody != Py_None;
    if (get_buf(ox, &bx, 0, "x") || get_buf(oy, &by, 1, "y")) goto done;
    if (kind_of(&bx, "x") != 4 || kind_of(&by, "y") != 4) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "the floor takes float32 x and y");
        goto done;
    }
    if (check_len(&bx, sets * m, 4, "x") || check_len(&by, sets * m, 4, "y")) goto done;
    if (back) {
        if (get_buf(ody, &bdy, 0, "dy") || get_buf(odx, &bdx, 1, "dx")) goto done;
        if (kind_of(&bdy, "dy") != 4 || kind_of(&bdx, "dx") != 4) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "the floor takes float32 dy and dx");
            goto done;
        }
        if (check_len(&bdy, sets * m, 4, "dy") || check_len(&bdx, sets * m, 4, "dx")) goto done;
    }
    if (og != Py_None && (get_buf(og, &bg, 0, "gamma") || check_len(&bg, p.g * p.cg, 8, "gamma"))) goto done;
    if (ob != Py_None && (get_buf(ob, &bb, 0, "beta") || check_len(&bb, p.g * p.cg, 8, "beta"))) goto done;
    p.gamma = og == Py_None ? NULL : (const double *)bg.buf;
    p.beta = ob == Py_None ? NULL : (const double *)bb.buf;
    if (fork_child || threads < 1) threads = 1;
    double *psum = back ? calloc((size_t)threads * 2 * (size_t)width, sizeof(double)) : NULL;
    if (back && !psum) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t s;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (s = 0; s < sets; s++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        floor_set(&p, (const float *)bx.buf + s * m, (float *)by.buf + s * m,
                  back ? (const float *)bdy.buf + s * m : NULL, back ? (float *)bdx.buf + s * m : NULL,
                  back ? psum + (size_t)t * 2 * (size_t)width : NULL, s);
    }
    if (back)
        for (int t = 1; t < threads; t++)
            for (Py_ssize_t i = 0; i < 2 * width; i++) psum[i] += psum[(size_t)t * 2 * (size_t)width + i];
    Py_END_ALLOW_THREADS
    free(psum);
    res = Py_None;
    Py_INCREF(res);
done:
    Py_buffer *all[] = {&bx, &by, &bdy, &bdx, &bg, &bb};
    for (int i = 0; i < 6; i++) if (all[i]->obj) PyBuffer_Release(all[i]);
    return res;
}

/* forward(x, y, gamma|None, beta|None, mean_hi, mean_lo, inv_hi, inv_lo, nb, g, cg, inner, eps,
           rms, threads, force, hash|None): with hash, also the checksum of each set of x */
static PyObject *py_forward(PyObject *self, PyObject *args)
{
    PyObject *ox, *oy, *og, *ob, *o1, *o2, *o3, *o4, *ok;
    plan p;
    int threads, force;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnnnndpipO", &ox, &oy, &og, &ob, &o1, &o2, &o3, &o4, &p.nb,
                          &p.g, &p.cg, &p.inner, &p.eps, &p.rms, &threads, &force, &ok))
        return NULL;
    Py_buffer bx = {0}, by = {0}, bg = {0}, bb = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, bk = {0};
    PyObject *res = NULL;
    Py_ssize_t sets = p.nb * p.g, m = p.cg * p.inner;
    if (get_buf(ox, &bx, 0, "x") || get_buf(oy, &by, 1, "y")) goto done;
    int k = kind_of(&bx, "x");
    if (k < 0 || kind_of(&by, "y") != k || check_len(&bx, sets * m, k, "x") || check_len(&by, sets * m, k, "y")) goto done;
    if (og != Py_None && (get_buf(og, &bg, 0, "gamma") || check_len(&bg, p.g * p.cg, 8, "gamma"))) goto done;
    if (ob != Py_None && (get_buf(ob, &bb, 0, "beta") || check_len(&bb, p.g * p.cg, 8, "beta"))) goto done;
    if (get_hash(ok, &bk, sets)) goto done;
    if (get_buf(o1, &s1, 1, "mean_hi") || get_buf(o2, &s2, 1, "mean_lo") || get_buf(o3, &s3, 1, "inv_hi") ||
        get_buf(o4, &s4, 1, "inv_lo"))
        goto done;
    if (check_len(&s1, sets, 8, "mean_hi") || check_len(&s2, sets, 8, "mean_lo") || check_len(&s3, sets, 8, "inv_hi") ||
        check_len(&s4, sets, 8, "inv_lo"))
        goto done;
    p.gamma = og == Py_None ? NULL : (const double *)bg.buf;
    p.beta = ob == Py_None ? NULL : (const double *)bb.buf;
    p.mean_hi = s1.buf; p.mean_lo = s2.buf; p.inv_hi = s3.buf; p.inv_lo = s4.buf;
    p.hash = ok == Py_None ? NULL : (uint32_t *)bk.buf;
    if (fork_child) threads = 1;
    int fail = 0;
    Py_BEGIN_ALLOW_THREADS
    if (k == 4) fail = fast_forward(&p, bx.buf, by.buf, threads, force);
    else forward_f64(&p, bx.buf, by.buf, threads);
    Py_END_ALLOW_THREADS
    if (fail) {
        PyErr_NoMemory();
        goto done;
    }
    res = Py_None;
    Py_INCREF(res);
done:
    Py_buffer *all[] = {&bx, &by, &bg, &bb, &s1, &s2, &s3, &s4, &bk};
    for (int i = 0; i < 9; i++) if (all[i]->obj) PyBuffer_Release(all[i]);
    return res;
}

/* backward(dy, x, dx, gamma|None, mean_hi, mean_lo, inv_hi, inv_lo, part, bounds, nb, g, cg,
            inner, eps, rms, threads, force, mode, hash|None): mode 0 (fast) or 2 (the parameter sums only, exactly;
   dx and bounds untouched); float32 parts have 6 doubles per entry (the last
   two: error bounds of the dgamma and dbeta sums); float64 parts 4: dx, and per (set, channel run) Σ dy·x_hat and Σ dy as double-doubles in
   part (4 doubles each); with inner == 1 and G == 1 (LayerNorm, RMSNorm), part has 4 doubles per column
   (dgamma_hi, dgamma_lo, dbeta_hi, dbeta_lo) summed over the sets. */
static PyObject *py_backward(PyObject *self, PyObject *args)
{
    PyObject *ody, *ox, *odx, *og, *o1, *o2, *o3, *o4, *opart, *obd, *oh;
    plan p;
    int threads, force, exact;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOnnnndpipiO", &ody, &ox, &odx, &og, &o1, &o2, &o3, &o4, &opart,
                          &obd, &p.nb, &p.g, &p.cg, &p.inner, &p.eps, &p.rms, &threads, &force, &exact, &oh))
        return NULL;
    Py_buffer bdy = {0}, bx = {0}, bdx = {0}, bg = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, bp = {0},
              bbd = {0}, bh = {0};
    PyObject *res = NULL;
    Py_ssize_t sets = p.nb * p.g, m = p.cg * p.inner;
    p.beta = NULL;
    if (get_buf(ody, &bdy, 0, "dy") || get_buf(ox, &bx, 0, "x") || get_buf(odx, &bdx, 1, "dx")) goto done;
    int k = kind_of(&bx, "x");
    if (k < 0 || kind_of(&bdy, "dy") != k || kind_of(&bdx, "dx") != k) goto done;
    if (check_len(&bx, sets * m, k, "x") || check_len(&bdy, sets * m, k, "dy") || check_len(&bdx, sets * m, k, "dx")) goto done;
    if (og != Py_None && (get_buf(og, &bg, 0, "gamma") || check_len(&bg, p.g * p.cg, 8, "gamma"))) goto done;
    if (get_buf(o1, &s1, 0, "mean_hi") || get_buf(o2, &s2, 0, "mean_lo") || get_buf(o3, &s3, 1, "inv_hi") ||
        get_buf(o4, &s4, 1, "inv_lo") || get_buf(opart, &bp, 1, "part") || get_buf(obd, &bbd, 1, "bounds"))
        goto done;
    if (check_len(&s1, sets, 8, "mean_hi") || check_len(&s2, sets, 8, "mean_lo") || check_len(&s3, sets, 8, "inv_hi") ||
        check_len(&s4, sets, 8, "inv_lo") || check_len(&bbd, sets, 8, "bounds"))
        goto done;
    if (check_len(&bp, ((p.inner == 1 && p.g == 1) ? m : sets * p.cg) * (k == 4 ? PW : 4), 8, "part")) goto done;
    if (get_hash(oh, &bh, sets)) goto done;
    p.gamma = og == Py_None ? NULL : (const double *)bg.buf;
    p.mean_hi = s1.buf; p.mean_lo = s2.buf; p.inv_hi = s3.buf; p.inv_lo = s4.buf;
    p.hash = oh == Py_None ? NULL : (uint32_t *)bh.buf;
    if (fork_child) threads = 1;
    int fail = 0;
    Py_BEGIN_ALLOW_THREADS
    if (k == 4) fail = fast_backward(&p, bdy.buf, bx.buf, bdx.buf, bp.buf, bbd.buf, threads, force, exact);
    else backward_f64(&p, bdy.buf, bx.buf, bdx.buf, bp.buf, threads);
    Py_END_ALLOW_THREADS
    if (fail) {
        PyErr_NoMemory();
        goto done;
    }
    res = Py_None;
    Py_INCREF(res);
done:
    Py_buffer *all[] = {&bdy, &bx, &bdx, &bg, &s1, &s2, &s3, &s4, &bp, &bbd, &bh};
    for (int i = 0; i < 11; i++) if (all[i]->obj) PyBuffer_Release(all[i]);
    return res;
}

static PyMethodDef methods[] = {
    {"forward", py_forward, METH_VARARGS, "forward kernel of the family"},
    {"backward", py_backward, METH_VARARGS, "backward kernel of the family"},
    {"floor", py_floor, METH_VARARGS, "the arithmetic floor the benchmark compares with"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_family", NULL, -1, methods};

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
static void in_child(void) { fork_child = 1; }
#endif

PyMODINIT_FUNC PyInit__family(void)
{
#if defined(__unix__) || defined(__APPLE__)
    pthread_atfork(NULL, NULL, in_child);
#endif
    return PyModule_Create(&module);
}
