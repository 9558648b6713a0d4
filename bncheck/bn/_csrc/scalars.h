/* Types shared by the kernels, and the per-channel scalar steps (double-double, independent of
 * the element type): the mean from Σ x, the scales from Σ (x - mu)^2, the backward
 * coefficients from the backward sums. Each handles channels [c0, c1). */
#ifndef BNCHECK_SCALARS_H
#define BNCHECK_SCALARS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eft.h"

/* With GCC >= 12 on x86-64 glibc, build each kernel three times, for baseline x86-64, for
 * x86-64-v3 (AVX2 + FMA) and for x86-64-v4 (AVX-512), and let the loader pick (ifunc): the
 * same arithmetic (every lane's operations are the source's, in its order; no reassociation),
 * wider SIMD, hardware fma. Elsewhere one build; fma() is then the C library's, correctly
 * rounded. */
#if defined(_MSC_VER)
#define BN_KERNEL static
#define BN_ALWAYS_INLINE __forceinline
#define restrict __restrict
#elif defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && \
    __GNUC__ >= 12
#define BN_KERNEL \
    static __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define BN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define BN_KERNEL static
#define BN_ALWAYS_INLINE inline __attribute__((always_inline))
#endif

/* The error-free transformations need every operation rounded to double: no x87 extended
 * precision (32-bit x86 without SSE2 math). */
#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ != 0
#error "bncheck's kernels need FLT_EVAL_METHOD == 0 (on 32-bit x86: -msse2 -mfpmath=sse)"
#endif

typedef ptrdiff_t idx;

/* the kernels' inputs x and dy are read through byte pointers: they may be misaligned
 * (template.h) */
typedef unsigned char bn_byte;

/* a C-contiguous (outer, C, inner) array, the channel axis in the middle */
typedef struct {
    idx outer, C, inner;
} bn_shape;

/* the backward sums, per channel: S1 = Σ dy, S2 = Σ dy (x - mu), S3 = Σ dy^2 (double-double)
 * and Z = Σ |dy - dy_first| */
typedef struct {
    double *s1h, *s1l, *s2h, *s2l, *s3h, *s3l, *z;
} bn_sums;

/* the backward coefficients, per channel: dx = k (dy - a - (x - mu) b), dgamma, dbeta, and
 * the amplification of rounding by the plain-double bracket */
typedef struct {
    double *ah, *al, *bh, *bl, *kh, *kl, *dgamma, *dbeta, *amp;
} bn_coefs;

/* one channel's mean and coefficients, for the double-double dx */
typedef struct {
    double mh, ml, ah, al, bh, bl, kh, kl;
} bn_dxc;

/* ---- the input checksum (docs/numerics.md, "Edits of x after the forward") -----------------
 * Per channel, h = Σ_i mix(w_i, key_i) mod 2^32 over the values x_i of the channel, i their
 * position in it (o * inner + k, mod 2^32), key_i = i * BN_HASH_KEY; w_i is the 32-bit word of a
 * float32 value, and a float64 value (float16 widened) adds mix(low word, key_i) +
 * mix(high word, ~key_i). mix is a bijection of w for each key, so changing any one value
 * always changes h; its multiply and shift make the sum nonlinear, so that swapped or shifted
 * values change it too. A sum, it does not depend on the order the values are visited in: the
 * forward, the backward, any thread split and the NumPy kernels (_numpy_kernels.checksum)
 * agree on it. It is fused into passes over x the kernels make anyway. */
#define BN_HASH_KEY 0x9E3779B1u
#define BN_HASH_MUL 0x85EBCA77u

static inline uint32_t bn_mix(uint32_t w, uint32_t key)
{
    uint32_t v = (w ^ key) * BN_HASH_MUL;
    return v ^ (v >> 15);
}

static inline uint32_t bn_value_hash_f32(float v, uint32_t key)
{
    uint32_t w;
    memcpy(&w, &v, sizeof w);
    return bn_mix(w, key);
}

static inline uint32_t bn_value_hash_f64(double v, uint32_t key)
{
    uint64_t w;
    memcpy(&w, &v, sizeof w);
    return bn_mix((uint32_t)w, key) + bn_mix((uint32_t)(w >> 32), ~key);
}

/* in place: (h, l) = Σ / m */
BN_KERNEL void bn_divide(idx c0, idx c1, double m, double *h, double *l)
{
    for (idx i = c0; i < c1; i++) dd_div(h[i], l[i], m, 0.0, &h[i], &l[i]);
}

/* From the sum of squared deviations m2 (dd; m2l NULL means 0): var = m2/m (rounded),
 * inv = 1/sqrt(var + eps) (dd) and the scale s = gamma * inv (dd; gamma NULL means 1). Also
 * used in eval mode with m = 1 and m2 = the running variance. */
BN_KERNEL void bn_scales(idx c0, idx c1, double m, double eps, const double *m2h,
                         const double *m2l, const double *gamma, double *var, double *ih,
                         double *il, double *sh, double *sl)
{
    for (idx i = c0; i < c1; i++) {
        double vh, vl, eh, el, qh, ql, h, l;
        dd_div(m2h[i], m2l ? m2l[i] : 0.0, m, 0.0, &vh, &vl);
        var[i] = vh;
        dd_add(vh, vl, eps, 0.0, &eh, &el);
        dd_sqrt(eh, el, &qh, &ql);
        dd_div(1.0, 0.0, qh, ql, &h, &l);
        ih[i] = h;
        il[i] = l;
        if (gamma) dd_mul(gamma[i], 0.0, h, l, &h, &l);
        sh[i] = h;
        sl[i] = l;
    }
}

/* From S1, S2, S3 and Z (bn_sums) and inv = 1/sqrt(var + eps):
 *   dbeta = S1, dgamma = S2 inv, a = S1/m, b = S2 inv^2 / m, k = gamma inv,
 * so that dx = k (dy - a - (x - mu) b). With `amp`, also the amplification of the
 * plain-double bracket r = dy - a - (x - mu) b (the float32 backward, plan.h):
 *   amp = sqrt(m) (||dy - a|| + |b| ||x - mu|| + |a|) / ||r||,
 *   ||dy - a||^2 = S3 - S1^2/m,  ||r||^2 = ||dy - a||^2 - (2 - rho) dgamma^2 / m,
 *   rho = var/(var + eps),  ||x - mu||^2 = m var,
 * all in double-double, so a bracket that cancels shows as a large amp, not as noise.
 * Where Z is 0, dy is constant and S2 is taken as 0. */
BN_KERNEL void bn_backward_coefs(idx c0, idx c1, double m, double eps, const bn_sums *s,
                                 const double *var, const double *ih, const double *il,
                                 const double *gamma, const bn_coefs *k, int amp)
{
    const double *z = s->z;
    for (idx i = c0; i < c1; i++) {
        double h1 = s->s1h[i], l1 = s->s1l[i], h2 = s->s2h[i], l2 = s->s2l[i];
        double th, tl, h, l;
        if (z && z[i] == 0.0) h2 = l2 = 0.0; /* constant dy: Σ dy (x - mu) is 0 exactly */
        dd_norm(&h1, &l1);
        k->dbeta[i] = h1;
        dd_div(h1, l1, m, 0.0, &h, &l);
        k->ah[i] = h;
        k->al[i] = l;
        dd_mul(h2, l2, ih[i], il[i], &th, &tl);
        k->dgamma[i] = th;
        dd_mul(th, tl, ih[i], il[i], &h, &l);
        dd_div(h, l, m, 0.0, &h, &l);
        k->bh[i] = h;
        k->bl[i] = l;
        h = ih[i];
        l = il[i];
        if (gamma) dd_mul(gamma[i], 0.0, h, l, &h, &l);
        k->kh[i] = h;
        k->kl[i] = l;
        if (amp) {
            double qh, ql, dh, dl, rh, rl;
            dd_mul(h1, l1, h1, l1, &qh, &ql); /* S1^2 / m */
            dd_div(qh, ql, m, 0.0, &qh, &ql);
            dd_add(s->s3h[i], s->s3l[i], -qh, -ql, &dh, &dl); /* ||dy - a||^2 */
            double two_minus_rho = 1.0 + eps / (var[i] + eps);
            dd_mul(th, tl, th, tl, &qh, &ql);
            dd_mul(qh, ql, two_minus_rho, 0.0, &qh, &ql);
            dd_div(qh, ql, m, 0.0, &qh, &ql);
            dd_add(dh, dl, -qh, -ql, &rh, &rl); /* ||r||^2 */
            double num = sqrt(dh > 0.0 ? dh : 0.0) + fabs(k->bh[i]) * sqrt(m * var[i]) +
                         fabs(k->ah[i]);
            k->amp[i] = rh > 0.0 ? sqrt(m) * num / sqrt(rh) : INFINITY;
        }
    }
}

/* max(a, b) where a NaN stays (NumPy's max): the running maximum of a bound */
static inline double bn_max_nan(double a, double b)
{
    if (isnan(a)) return a;
    return (isnan(b) || b > a) ? b : a;
}

#endif
