/* The compiled kernels of bncheck.family (extension bncheck.family._family).

   The input is Nb*G reduction sets of m = Cg*inner contiguous values (C order), float32 or
   float64; the affine parameters are float64 of shape (G, Cg): element (set s, value j) uses
   parameter (s % G)*Cg + j / inner.  Every sum is a double-double accumulated in L = 8
   independent lanes (combined in a fixed order), every elementwise result is formed in
   double-double and rounded once: the same arithmetic as bncheck.family._numpy_kernels.
   Sets are independent, so splitting them over OpenMP threads changes no bit; the parameter
   sums of the elementwise layout (LayerNorm, RMSNorm) run over column blocks, each column's
   rows in order, so they do not depend on the thread count either.

   Built with -ffp-contract=off -fno-fast-math (setup.py): every operation rounds as written. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
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
} plan;

#define T float
#define SFX f32
#include "family_template.h"
#undef T
#undef SFX
#define T double
#define SFX f64
#include "family_template.h"
#undef T
#undef SFX

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

/* forward(x, y, gamma|None, beta|None, mean_hi, mean_lo, inv_hi, inv_lo, nb, g, cg, inner, eps,
           rms, threads) */
static PyObject *py_forward(PyObject *self, PyObject *args)
{
    PyObject *ox, *oy, *og, *ob, *o1, *o2, *o3, *o4;
    plan p;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnnnndpi", &ox, &oy, &og, &ob, &o1, &o2, &o3, &o4, &p.nb,
                          &p.g, &p.cg, &p.inner, &p.eps, &p.rms, &threads))
        return NULL;
    Py_buffer bx = {0}, by = {0}, bg = {0}, bb = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0};
    PyObject *res = NULL;
    Py_ssize_t sets = p.nb * p.g, m = p.cg * p.inner;
    if (get_buf(ox, &bx, 0, "x") || get_buf(oy, &by, 1, "y")) goto done;
    int k = kind_of(&bx, "x");
    if (k < 0 || kind_of(&by, "y") != k || check_len(&bx, sets * m, k, "x") || check_len(&by, sets * m, k, "y")) goto done;
    if (og != Py_None && (get_buf(og, &bg, 0, "gamma") || check_len(&bg, p.g * p.cg, 8, "gamma"))) goto done;
    if (ob != Py_None && (get_buf(ob, &bb, 0, "beta") || check_len(&bb, p.g * p.cg, 8, "beta"))) goto done;
    if (get_buf(o1, &s1, 1, "mean_hi") || get_buf(o2, &s2, 1, "mean_lo") || get_buf(o3, &s3, 1, "inv_hi") ||
        get_buf(o4, &s4, 1, "inv_lo"))
        goto done;
    if (check_len(&s1, sets, 8, "mean_hi") || check_len(&s2, sets, 8, "mean_lo") || check_len(&s3, sets, 8, "inv_hi") ||
        check_len(&s4, sets, 8, "inv_lo"))
        goto done;
    p.gamma = og == Py_None ? NULL : (const double *)bg.buf;
    p.beta = ob == Py_None ? NULL : (const double *)bb.buf;
    p.mean_hi = s1.buf; p.mean_lo = s2.buf; p.inv_hi = s3.buf; p.inv_lo = s4.buf;
    if (fork_child) threads = 1;
    Py_BEGIN_ALLOW_THREADS
    if (k == 4) forward_f32(&p, bx.buf, by.buf, threads);
    else forward_f64(&p, bx.buf, by.buf, threads);
    Py_END_ALLOW_THREADS
    res = Py_None;
    Py_INCREF(res);
done:
    Py_buffer *all[] = {&bx, &by, &bg, &bb, &s1, &s2, &s3, &s4};
    for (int i = 0; i < 8; i++) if (all[i]->obj) PyBuffer_Release(all[i]);
    return res;
}

/* backward(dy, x, dx, gamma|None, mean_hi, mean_lo, inv_hi, inv_lo, part, nb, g, cg, inner, rms,
            threads): dx, and per (set, channel run) Σ dy·x_hat and Σ dy as double-doubles in
   part (4 doubles each); with inner == 1 and G == 1 (LayerNorm, RMSNorm), part has 4 doubles per column
   (dgamma_hi, dgamma_lo, dbeta_hi, dbeta_lo) summed over the sets. */
static PyObject *py_backward(PyObject *self, PyObject *args)
{
    PyObject *ody, *ox, *odx, *og, *o1, *o2, *o3, *o4, *opart;
    plan p;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOnnnnpi", &ody, &ox, &odx, &og, &o1, &o2, &o3, &o4, &opart, &p.nb,
                          &p.g, &p.cg, &p.inner, &p.rms, &threads))
        return NULL;
    Py_buffer bdy = {0}, bx = {0}, bdx = {0}, bg = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, bp = {0};
    PyObject *res = NULL;
    Py_ssize_t sets = p.nb * p.g, m = p.cg * p.inner;
    p.beta = NULL;
    p.eps = 0.0;
    if (get_buf(ody, &bdy, 0, "dy") || get_buf(ox, &bx, 0, "x") || get_buf(odx, &bdx, 1, "dx")) goto done;
    int k = kind_of(&bx, "x");
    if (k < 0 || kind_of(&bdy, "dy") != k || kind_of(&bdx, "dx") != k) goto done;
    if (check_len(&bx, sets * m, k, "x") || check_len(&bdy, sets * m, k, "dy") || check_len(&bdx, sets * m, k, "dx")) goto done;
    if (og != Py_None && (get_buf(og, &bg, 0, "gamma") || check_len(&bg, p.g * p.cg, 8, "gamma"))) goto done;
    if (get_buf(o1, &s1, 0, "mean_hi") || get_buf(o2, &s2, 0, "mean_lo") || get_buf(o3, &s3, 0, "inv_hi") ||
        get_buf(o4, &s4, 0, "inv_lo") || get_buf(opart, &bp, 1, "part"))
        goto done;
    if (check_len(&s1, sets, 8, "mean_hi") || check_len(&s2, sets, 8, "mean_lo") || check_len(&s3, sets, 8, "inv_hi") ||
        check_len(&s4, sets, 8, "inv_lo"))
        goto done;
    if (check_len(&bp, (p.inner == 1 && p.g == 1) ? m * 4 : sets * p.cg * 4, 8, "part")) goto done;
    p.gamma = og == Py_None ? NULL : (const double *)bg.buf;
    p.mean_hi = s1.buf; p.mean_lo = s2.buf; p.inv_hi = s3.buf; p.inv_lo = s4.buf;
    if (fork_child) threads = 1;
    Py_BEGIN_ALLOW_THREADS
    if (k == 4) backward_f32(&p, bdy.buf, bx.buf, bdx.buf, bp.buf, threads);
    else backward_f64(&p, bdy.buf, bx.buf, bdx.buf, bp.buf, threads);
    Py_END_ALLOW_THREADS
    res = Py_None;
    Py_INCREF(res);
done:
    Py_buffer *all[] = {&bdy, &bx, &bdx, &bg, &s1, &s2, &s3, &s4, &bp};
    for (int i = 0; i < 9; i++) if (all[i]->obj) PyBuffer_Release(all[i]);
    return res;
}

static PyMethodDef methods[] = {
    {"forward", py_forward, METH_VARARGS, "forward kernel of the family"},
    {"backward", py_backward, METH_VARARGS, "backward kernel of the family"},
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
