/* bncheck's compiled BN kernels, called through ctypes (bncheck/bn/_compiled.py).
 *
 * Plain C functions on raw arrays; ctypes releases the GIL around each call, so Python
 * threads can run them on disjoint channel ranges. The module init exists only so that
 * setuptools can build and locate the shared object like any extension module.
 *
 * Numerics: see bncheck/bn/functional.py. Compile without -ffast-math and with
 * -ffp-contract=off (setup.py): the error-free transformations in eft.h rely on every
 * operation being rounded exactly as written.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stddef.h>

#include "eft.h"

typedef ptrdiff_t idx;

/* With GCC >= 12 on x86-64 glibc, build each kernel twice, for baseline x86-64 and for
 * x86-64-v3 (AVX2 + FMA), and let the loader pick (ifunc): same arithmetic, wider SIMD,
 * hardware fma. Elsewhere one build; fma() is then the C library's, correctly rounded. */
#if defined(_MSC_VER)
#define BN_EXPORT __declspec(dllexport)
#define restrict __restrict
#elif defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && \
    __GNUC__ >= 12
#define BN_EXPORT __attribute__((visibility("default"), target_clones("arch=x86-64-v3", "default")))
#else
#define BN_EXPORT __attribute__((visibility("default")))
#endif

/* The error-free transformations need every operation rounded to double: no x87 extended
 * precision (32-bit x86 without SSE2 math). */
#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ != 0
#error "bncheck's kernels need FLT_EVAL_METHOD == 0 (on 32-bit x86: -msse2 -mfpmath=sse)"
#endif

#define W 512 /* channels per block in the rows traversal (accumulators stay in L1) */
#define L 8   /* lanes per channel in the runs traversal */
#define B 256 /* rows per block of the fast sums (a multiple of R) */
#define R 4   /* rows per step in the rows traversal: per-channel values load once per R rows */

/* float64: every step in double-double */
#define T double
#define SUF _f64
#define BN_DY_SQUARES 1
#include "template.h"
#undef T
#undef SUF
#undef BN_DY_SQUARES

/* float32: the same sums; Σ dy^2 also tells which channels' dx may use the plain-double
 * bracket */
#define T float
#define SUF _f32
#define BN_DY_SQUARES 1
#include "template.h"
#undef T
#undef SUF
#undef BN_DY_SQUARES

/* ---- per-channel scalars (double-double) ------------------------------------------------ */

/* in place: (h, l) = Σ / m */
BN_EXPORT void bn_divide(idx n, double m, double *h, double *l)
{
    for (idx i = 0; i < n; i++) dd_div(h[i], l[i], m, 0.0, &h[i], &l[i]);
}

/* From the sum of squared deviations m2 (dd): var = m2/m (rounded), inv = 1/sqrt(var + eps)
 * (dd) and the scale s = gamma * inv (dd; gamma NULL means 1). Also used in eval mode with
 * m = 1 and m2 = the running variance. */
BN_EXPORT void bn_scales(idx n, double m, double eps, const double *m2h, const double *m2l,
                         const double *gamma, double *var, double *ih, double *il, double *sh,
                         double *sl)
{
    for (idx i = 0; i < n; i++) {
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

/* From S1 = Σ dy, S2 = Σ dy (x - mu), S3 = Σ dy^2 (dd; S3 may be NULL) and
 * inv = 1/sqrt(var + eps):
 *   dbeta = S1, dgamma = S2 inv, a = S1/m, b = S2 inv^2 / m, k = gamma inv,
 * so that dx = k (dy - a - (x - mu) b). With S3, also the amplification of the plain-double
 * bracket r = dy - a - (x - mu) b (bncheck/bn/_compiled.py):
 *   amp = sqrt(m) (||dy - a|| + |b| ||x - mu|| + |a|) / ||r||,
 *   ||dy - a||^2 = S3 - S1^2/m,  ||r||^2 = ||dy - a||^2 - (2 - rho) dgamma^2 / m,
 *   rho = var/(var + eps),  ||x - mu||^2 = m var,
 * all in double-double, so a bracket that cancels shows as a large amp, not as noise.
 * z (may be NULL) is Σ |dy - dy_first|: where it is 0, dy is constant and S2 is taken as 0. */
BN_EXPORT void bn_backward_coefs(idx n, double m, double eps, const double *s1h,
                                 const double *s1l, const double *s2h, const double *s2l,
                                 const double *s3h, const double *s3l, const double *z,
                                 const double *var,
                                 const double *ih, const double *il, const double *gamma,
                                 double *ah, double *al, double *bh, double *bl, double *kh,
                                 double *kl, double *dgamma, double *dbeta, double *amp)
{
    for (idx i = 0; i < n; i++) {
        double h1 = s1h[i], l1 = s1l[i], h2 = s2h[i], l2 = s2l[i];
        double th, tl, h, l;
        if (z && z[i] == 0.0) h2 = l2 = 0.0; /* constant dy: Σ dy (x - mu) is 0 exactly */
        dd_norm(&h1, &l1);
        dbeta[i] = h1;
        dd_div(h1, l1, m, 0.0, &h, &l);
        ah[i] = h;
        al[i] = l;
        dd_mul(h2, l2, ih[i], il[i], &th, &tl);
        dgamma[i] = th;
        dd_mul(th, tl, ih[i], il[i], &h, &l);
        dd_div(h, l, m, 0.0, &h, &l);
        bh[i] = h;
        bl[i] = l;
        h = ih[i];
        l = il[i];
        if (gamma) dd_mul(gamma[i], 0.0, h, l, &h, &l);
        kh[i] = h;
        kl[i] = l;
        if (s3h && amp) {
            double qh, ql, dh, dl, rh, rl;
            dd_mul(h1, l1, h1, l1, &qh, &ql); /* S1^2 / m */
            dd_div(qh, ql, m, 0.0, &qh, &ql);
            dd_add(s3h[i], s3l[i], -qh, -ql, &dh, &dl); /* ||dy - a||^2 */
            double two_minus_rho = 1.0 + eps / (var[i] + eps);
            dd_mul(th, tl, th, tl, &qh, &ql);
            dd_mul(qh, ql, two_minus_rho, 0.0, &qh, &ql);
            dd_div(qh, ql, m, 0.0, &qh, &ql);
            dd_add(dh, dl, -qh, -ql, &rh, &rl); /* ||r||^2 */
            double num = sqrt(dh > 0.0 ? dh : 0.0) + fabs(bh[i]) * sqrt(m * var[i]) + fabs(ah[i]);
            amp[i] = rh > 0.0 ? sqrt(m) * num / sqrt(rh) : INFINITY;
        }
    }
}

static struct PyModuleDef bn_module = {
    PyModuleDef_HEAD_INIT, "_bn", "bncheck's compiled BN kernels (called through ctypes)", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bn(void) { return PyModule_Create(&bn_module); }
