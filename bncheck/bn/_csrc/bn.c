/* bncheck's compiled BN kernels: the extension module bncheck.bn._bn.
 *
 * Python (bncheck/bn/_compiled.py) calls three entry points, forward, backward and inference,
 * with NumPy arrays. Each argument is taken through the buffer protocol and checked (C order,
 * element format and size, shape, writable outputs that overlap nothing else) before any
 * arithmetic; then the GIL is released and the plan (plan.h) runs in two phases, per channel on
 * ranges of channels, then element-wise on ranges of rows, one range per thread (OpenMP).
 *
 * Numerics: see bncheck/bn/functional.py and docs/numerics.md. Compile without -ffast-math
 * and with -ffp-contract=off (setup.py): the error-free transformations in eft.h rely on every
 * operation being rounded exactly as written.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define BN_HAVE_FORK 1
#endif

#include "scalars.h"
#include "binding.h"

#define W 512 /* channels per block in the rows traversal (accumulators stay in L1) */
#define L 8   /* lanes per channel in the runs traversal */
#define B 256 /* rows per block of the fast sums (a multiple of R) */
#define R 4   /* rows per step in the rows traversal: per-channel values load once per R rows */

#include "args.h"

/* float64: every step in double-double */
#define T double
#define SUF _f64
#include "template.h"
#include "template_backward.h"
#include "plan.h"
#undef T
#undef SUF

/* float32: plain double where it suffices, double-double sums; Σ dy^2 tells which channels'
 * dx may use the plain-double bracket */
#define T float
#define SUF _f32
#include "template.h"
#include "template_backward.h"
#include "plan.h"
#undef T
#undef SUF

/* ---- threads ------------------------------------------------------------------------------ */

/* Set in the child of a fork(): GNU OpenMP cannot start a team there once the parent has had
 * one (the child inherits a pool whose threads do not exist, and waits for them forever), so
 * every call in a forked child runs its ranges one after the other. */
static volatile int bn_forked = 0;

#ifdef BN_HAVE_FORK
static void bn_after_fork_in_child(void) { bn_forked = 1; }
#endif

/* the first channel (or row) of range i of n over C channels (or rows) */
static idx bn_bound(idx C, idx n, idx i) { return C * i / n; }

typedef void (*bn_channels_job)(void *args, int f64, idx c0, idx c1, bn_range_out *out);
typedef void (*bn_part_job)(void *args, int f64, bn_part p, bn_range_out *out);

/* Range i of n, of phase 1 (channels) and of phase 2 (rows when there are enough, since a
 * thread streaming whole rows is faster than one reading pieces of every row). */
static void bn_phase1(bn_channels_job job, void *args, int f64, bn_shape s, int n, int i,
                      bn_range_out *out)
{
    job(args, f64, bn_bound(s.C, n, i), bn_bound(s.C, n, i + 1), out);
}

static void bn_phase2(bn_part_job job, void *args, int f64, bn_shape s, int n, int i,
                      bn_range_out *out)
{
    bn_part p = {0, s.outer, 0, s.C};
    if (s.outer >= n) {
        p.o0 = bn_bound(s.outer, n, i);
        p.o1 = bn_bound(s.outer, n, i + 1);
    } else {
        p.c0 = bn_bound(s.C, n, i);
        p.c1 = bn_bound(s.C, n, i + 1);
    }
    job(args, f64, p, out);
}

/* Run both phases of a plan on n ranges, phase 2 after all of phase 1; returns how many
 * threads ran them. */
static int bn_run(bn_channels_job phase1, bn_part_job phase2, void *args, int f64, bn_shape s,
                  int n, bn_range_out *outs)
{
    int team = 1;
    memset(outs, 0, (size_t)n * sizeof *outs);
    for (int i = 0; i < n; i++) outs[i].index = i;
#ifdef _OPENMP
    if (n > 1 && !bn_forked) {
#pragma omp parallel num_threads(n)
        {
#pragma omp for schedule(static)
            for (int i = 0; i < n; i++) bn_phase1(phase1, args, f64, s, n, i, &outs[i]);
#pragma omp for schedule(static)
            for (int i = 0; i < n; i++) bn_phase2(phase2, args, f64, s, n, i, &outs[i]);
            if (omp_get_thread_num() == 0) team = omp_get_num_threads();
        }
        return team;
    }
#endif
    for (int i = 0; i < n; i++) bn_phase1(phase1, args, f64, s, n, i, &outs[i]);
    for (int i = 0; i < n; i++) bn_phase2(phase2, args, f64, s, n, i, &outs[i]);
    return team;
}

static void bn_forward_channels(void *args, int f64, idx c0, idx c1, bn_range_out *out)
{
    (void)out;
    if (f64)
        forward_channels_f64(args, c0, c1);
    else
        forward_channels_f32(args, c0, c1);
}

static void bn_forward_part(void *args, int f64, bn_part p, bn_range_out *out)
{
    (void)out;
    if (f64)
        forward_part_f64(args, p);
    else
        forward_part_f32(args, p);
}

static void bn_inference_channels(void *args, int f64, idx c0, idx c1, bn_range_out *out)
{
    (void)out;
    if (f64)
        inference_channels_f64(args, c0, c1);
    else
        inference_channels_f32(args, c0, c1);
}

static void bn_inference_part(void *args, int f64, bn_part p, bn_range_out *out)
{
    const bn_inference_args *a = args;
    uint32_t *hash = a->hash_parts ? a->hash_parts + (idx)out->index * a->shape.C : NULL;
    out->nonfinite = f64 ? inference_part_f64(a, p, hash) : inference_part_f32(a, p, hash);
}

static void bn_checksum_channels(void *args, int f64, idx c0, idx c1, bn_range_out *out)
{
    (void)out;
    if (f64)
        checksum_channels_f64(args, c0, c1);
    else
        checksum_channels_f32(args, c0, c1);
}

static void bn_no_part(void *args, int f64, bn_part p, bn_range_out *out)
{
    (void)args, (void)f64, (void)p, (void)out;
}

static void bn_backward_channels(void *args, int f64, idx c0, idx c1, bn_range_out *out)
{
    if (f64)
        backward_channels_f64(args, c0, c1, out);
    else
        backward_channels_f32(args, c0, c1, out);
}

static void bn_backward_part(void *args, int f64, bn_part p, bn_range_out *out)
{
    (void)out;
    if (f64)
        backward_part_f64(args, p);
    else
        backward_part_f32(args, p);
}

/* point the work arrays into one allocation of `count` arrays of C doubles */
static double *bn_work_alloc(bn_work *w, idx C, int count)
{
    double *mem = malloc((size_t)(count * (C > 0 ? C : 1)) * sizeof(double));
    double **slots[BN_WORK_BACKWARD] = {
        &w->m2h,      &w->m2l,       &w->sh,        &w->sl,         &w->b,
        &w->var,      &w->ih,        &w->il,        &w->e,          &w->sums.s1h,
        &w->sums.s1l, &w->sums.s2h,  &w->sums.s2l,  &w->sums.s3h,   &w->sums.s3l,
        &w->sums.z,   &w->coefs.ah,  &w->coefs.al,  &w->coefs.bh,   &w->coefs.bl,
        &w->coefs.kh, &w->coefs.kl,  &w->coefs.amp, &w->coefs.dgamma, &w->coefs.dbeta,
    };
    for (int i = 0; i < BN_WORK_BACKWARD; i++) *slots[i] = mem && i < count ? mem + i * C : NULL;
    return mem;
}

/* ---- entry points ------------------------------------------------------------------------ */

static PyObject *bn_py_forward(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *o[10];
    double eps;
    int n;
    o[9] = Py_None;
    if (!PyArg_ParseTuple(args, "OOOdiOOOOOO|O:forward", &o[0], &o[1], &o[2], &eps, &n, &o[3],
                          &o[4], &o[5], &o[6], &o[7], &o[8], &o[9]))
        return NULL;
    bn_views v = {0};
    bn_forward_args a = {0};
    int f64 = bn_get_data(&v, o[0], "x", 0, -1, &a.x);
    idx C = f64 < 0 ? 0 : v.shape.C;
    if (f64 < 0 || bn_get_vec(&v, o[1], "gamma", C, 0, 1, &a.gamma) < 0 ||
        bn_get_vec(&v, o[2], "beta", C, 0, 1, &a.beta) < 0 || bn_team(&n, C) < 0 ||
        bn_get_data(&v, o[3], "y", 1, f64, &a.y) < 0 ||
        bn_get_vec(&v, o[4], "mean_hi", C, 1, 0, &a.mean_hi) < 0 ||
        bn_get_vec(&v, o[5], "mean_lo", C, 1, 0, &a.mean_lo) < 0 ||
        bn_get_vec(&v, o[6], "var", C, 1, 0, &a.var) < 0 ||
        bn_get_vec(&v, o[7], "inv_hi", C, 1, 0, &a.inv_hi) < 0 ||
        bn_get_vec(&v, o[8], "inv_lo", C, 1, 0, &a.inv_lo) < 0 ||
        bn_get_hash(&v, o[9], "hash", C, &a.hash) < 0 || bn_no_overlap(&v) < 0)
        return bn_release(&v, NULL);
    a.shape = v.shape;
    a.eps = eps;
    bn_range_out outs[BN_MAX_THREADS];
    double *mem = bn_work_alloc(&a.work, C, BN_WORK_FORWARD);
    if (!mem) return bn_release(&v, PyErr_NoMemory());
    int team;
    Py_BEGIN_ALLOW_THREADS
    team = bn_run(bn_forward_channels, bn_forward_part, &a, f64, a.shape, n, outs);
    Py_END_ALLOW_THREADS
    free(mem);
    return bn_release(&v, PyLong_FromLong(team));
}

static PyObject *bn_py_inference(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *o[7];
    double eps;
    int n;
    o[6] = Py_None;
    if (!PyArg_ParseTuple(args, "OOOOOdiO|O:inference", &o[0], &o[1], &o[2], &o[3], &o[4], &eps,
                          &n, &o[5], &o[6]))
        return NULL;
    uint32_t *hash = NULL;
    bn_views v = {0};
    bn_inference_args a = {0};
    int f64 = bn_get_data(&v, o[0], "x", 0, -1, &a.x);
    idx C = f64 < 0 ? 0 : v.shape.C;
    if (f64 < 0 || bn_get_vec(&v, o[1], "gamma", C, 0, 1, &a.gamma) < 0 ||
        bn_get_vec(&v, o[2], "beta", C, 0, 1, &a.beta) < 0 ||
        bn_get_vec(&v, o[3], "mean", C, 0, 0, &a.mean) < 0 ||
        bn_get_vec(&v, o[4], "var", C, 0, 0, &a.var) < 0 || bn_team(&n, C) < 0 ||
        bn_get_data(&v, o[5], "y", 1, f64, &a.y) < 0 ||
        bn_get_hash(&v, o[6], "hash", C, &hash) < 0 || bn_no_overlap(&v) < 0)
        return bn_release(&v, NULL);
    a.shape = v.shape;
    a.eps = eps;
    bn_range_out outs[BN_MAX_THREADS];
    double *mem = bn_work_alloc(&a.work, C, BN_WORK_FORWARD);
    if (hash) a.hash_parts = calloc((size_t)n * (size_t)(C > 0 ? C : 1), sizeof(uint32_t));
    if (!mem || (hash && !a.hash_parts)) {
        free(mem);
        free(a.hash_parts);
        return bn_release(&v, PyErr_NoMemory());
    }
    int team, nonfinite = 0;
    Py_BEGIN_ALLOW_THREADS
    team = bn_run(bn_inference_channels, bn_inference_part, &a, f64, a.shape, n, outs);
    if (hash) { /* the ranges' partial checksums, added (mod 2^32: in any order the same) */
        for (idx c = 0; c < C; c++) hash[c] = 0;
        for (int i = 0; i < n; i++)
            for (idx c = 0; c < C; c++) hash[c] += a.hash_parts[(idx)i * C + c];
    }
    Py_END_ALLOW_THREADS
    free(mem);
    free(a.hash_parts);
    for (int i = 0; i < n; i++) nonfinite |= outs[i].nonfinite;
    return bn_release(&v, Py_BuildValue("(Ni)", PyBool_FromLong(!nonfinite), team));
}

static PyObject *bn_py_backward(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *o[12];
    double eps, amp_limit;
    int refine, n;
    o[11] = Py_None;
    if (!PyArg_ParseTuple(args, "OOOOOOOOddpiOOO|O:backward", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o[6], &o[7], &eps, &amp_limit, &refine, &n, &o[8], &o[9],
                          &o[10], &o[11]))
        return NULL;
    bn_views v = {0};
    bn_backward_args a = {0};
    double *dgamma = NULL, *dbeta = NULL;
    int f64 = bn_get_data(&v, o[0], "x", 0, -1, &a.x);
    idx C = f64 < 0 ? 0 : v.shape.C;
    if (f64 < 0 || bn_get_data(&v, o[1], "dy", 0, f64, &a.dy) < 0 ||
        bn_get_vec(&v, o[2], "mean_hi", C, 0, 0, &a.mean_hi) < 0 ||
        bn_get_vec(&v, o[3], "mean_lo", C, 0, 0, &a.mean_lo) < 0 ||
        bn_get_vec(&v, o[4], "var", C, 0, 0, &a.var) < 0 ||
        bn_get_vec(&v, o[5], "inv_hi", C, 0, 0, &a.inv_hi) < 0 ||
        bn_get_vec(&v, o[6], "inv_lo", C, 0, 0, &a.inv_lo) < 0 ||
        bn_get_vec(&v, o[7], "gamma", C, 0, 1, &a.gamma) < 0 || bn_team(&n, C) < 0 ||
        bn_get_data(&v, o[8], "dx", 1, f64, &a.dx) < 0 ||
        bn_get_vec(&v, o[9], "dgamma", C, 1, 0, &dgamma) < 0 ||
        bn_get_vec(&v, o[10], "dbeta", C, 1, 0, &dbeta) < 0 ||
        bn_get_hash(&v, o[11], "hash", C, &a.hash) < 0 || bn_no_overlap(&v) < 0)
        return bn_release(&v, NULL);
    a.shape = v.shape;
    a.eps = eps;
    a.amp_limit = amp_limit;
    a.refine = refine;
    bn_range_out outs[BN_MAX_THREADS];
    double *mem = bn_work_alloc(&a.work, C, BN_WORK_BACKWARD);
    if (!mem) return bn_release(&v, PyErr_NoMemory());
    a.work.coefs.dgamma = dgamma;
    a.work.coefs.dbeta = dbeta;
    int team;
    Py_BEGIN_ALLOW_THREADS
    team = bn_run(bn_backward_channels, bn_backward_part, &a, f64, a.shape, n, outs);
    Py_END_ALLOW_THREADS
    free(mem);
    Py_ssize_t redone = 0;
    double bound = 0.0;
    for (int i = 0; i < n; i++) {
        redone += outs[i].redone;
        bound = bn_max_nan(bound, outs[i].dx_bound);
    }
    return bn_release(&v, Py_BuildValue("(ndi)", redone, bound, team));
}

static PyObject *bn_py_checksum(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *o[2];
    int n;
    if (!PyArg_ParseTuple(args, "OiO:checksum", &o[0], &n, &o[1])) return NULL;
    bn_views v = {0};
    bn_checksum_args a = {0};
    int f64 = bn_get_data(&v, o[0], "x", 0, -1, &a.x);
    idx C = f64 < 0 ? 0 : v.shape.C;
    if (f64 < 0 || bn_team(&n, C) < 0 || o[1] == Py_None ||
        bn_get_hash(&v, o[1], "hash", C, &a.hash) < 0 || bn_no_overlap(&v) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "hash=None; expected a uint32 vector of C values");
        return bn_release(&v, NULL);
    }
    a.shape = v.shape;
    bn_range_out outs[BN_MAX_THREADS];
    int team;
    Py_BEGIN_ALLOW_THREADS
    team = bn_run(bn_checksum_channels, bn_no_part, &a, f64, a.shape, n, outs);
    Py_END_ALLOW_THREADS
    return bn_release(&v, PyLong_FromLong(team));
}

/* ---- the traffic floor (bncheck.report.bench): not a BN, the memory traffic a two-pass BN
 * cannot avoid, streamed with next to no arithmetic on the same threads as the kernels. Train:
 * x read (the statistics), x read and y written, x and dy read (the backward sums), x and dy
 * read and dx written; eval: x read and y written. Each thread streams one range of the
 * values through every pass. */
#define BN_TRAFFIC(T, NAME)                                                                    \
    static double NAME(const T *restrict x, const T *restrict dy, T *restrict y,               \
                       T *restrict dx, idx i0, idx i1, int train)                             \
    {                                                                                          \
        double s = 0.0;                                                                        \
        if (!train) {                                                                          \
            for (idx i = i0; i < i1; i++) y[i] = x[i];                                         \
            return s;                                                                          \
        }                                                                                      \
        T a = 0;                                                                               \
        for (idx i = i0; i < i1; i++) a = a > x[i] ? a : x[i];                                 \
        for (idx i = i0; i < i1; i++) y[i] = x[i];                                             \
        T b = 0;                                                                               \
        for (idx i = i0; i < i1; i++) b = b > x[i] + dy[i] ? b : x[i] + dy[i];                 \
        for (idx i = i0; i < i1; i++) dx[i] = x[i] + dy[i];                                    \
        return (double)a + (double)b;                                                          \
    }
BN_TRAFFIC(float, bn_traffic_f32)
BN_TRAFFIC(double, bn_traffic_f64)

static PyObject *bn_py_traffic(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *o[4];
    int train, n;
    if (!PyArg_ParseTuple(args, "OOOOpi:traffic", &o[0], &o[1], &o[2], &o[3], &train, &n))
        return NULL;
    bn_views v = {0};
    void *x, *dy, *y, *dx;
    int f64 = bn_get_data(&v, o[0], "x", 0, -1, &x);
    if (f64 < 0 || bn_get_data(&v, o[1], "dy", 0, f64, &dy) < 0 ||
        bn_get_data(&v, o[2], "y", 1, f64, &y) < 0 ||
        bn_get_data(&v, o[3], "dx", 1, f64, &dx) < 0 || bn_no_overlap(&v) < 0)
        return bn_release(&v, NULL);
    if (!f64 && ((uintptr_t)x % _Alignof(float) || (uintptr_t)dy % _Alignof(float))) {
        PyErr_SetString(PyExc_ValueError, "x and dy must be aligned");
        return bn_release(&v, NULL);
    }
    if (f64 && ((uintptr_t)x % _Alignof(double) || (uintptr_t)dy % _Alignof(double))) {
        PyErr_SetString(PyExc_ValueError, "x and dy must be aligned");
        return bn_release(&v, NULL);
    }
    idx size = v.shape.outer * v.shape.C * v.shape.inner;
    if (n < 1 || n > BN_MAX_THREADS) {
        PyErr_Format(PyExc_ValueError, "threads=%d; expected 1 to %d", n, BN_MAX_THREADS);
        return bn_release(&v, NULL);
    }
    double sink = 0.0;
    int team = 1;
    Py_BEGIN_ALLOW_THREADS
#ifdef _OPENMP
    if (n > 1 && !bn_forked) {
#pragma omp parallel num_threads(n) reduction(+ : sink)
        {
            int t = omp_get_thread_num(), m = omp_get_num_threads();
            idx i0 = bn_bound(size, m, t), i1 = bn_bound(size, m, t + 1);
            sink += f64 ? bn_traffic_f64(x, dy, y, dx, i0, i1, train)
                        : bn_traffic_f32(x, dy, y, dx, i0, i1, train);
            if (t == 0) team = m;
        }
    } else
#endif
    {
        sink = f64 ? bn_traffic_f64(x, dy, y, dx, 0, size, train)
                   : bn_traffic_f32(x, dy, y, dx, 0, size, train);
    }
    Py_END_ALLOW_THREADS
    (void)sink;
    return bn_release(&v, PyLong_FromLong(team));
}

static PyObject *bn_py_ranges(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t C;
    int n;
    if (!PyArg_ParseTuple(args, "ni:ranges", &C, &n) || bn_team(&n, C) < 0) return NULL;
    PyObject *out = PyList_New(n);
    for (int i = 0; out && i < n; i++) {
        PyObject *r = Py_BuildValue("(nn)", (Py_ssize_t)bn_bound(C, n, i),
                                    (Py_ssize_t)bn_bound(C, n, i + 1));
        if (!r) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, i, r);
    }
    return out;
}

static PyMethodDef bn_methods[] = {
    {"forward", bn_py_forward, METH_VARARGS,
     "forward(x, gamma, beta, eps, threads, y, mean_hi, mean_lo, var, inv_hi, inv_lo[, hash]) "
     "-> threads used. Train-mode forward of x (outer, C, inner), float32 or float64; gamma and "
     "beta float64 (C,) or None; the outputs are written in place (hash: uint32 (C,), the "
     "checksum of x, or None)."},
    {"inference", bn_py_inference, METH_VARARGS,
     "inference(x, gamma, beta, mean, var, eps, threads, y[, hash]) -> (y is finite, threads "
     "used). Eval-mode forward with running statistics (float64 (C,))."},
    {"backward", bn_py_backward, METH_VARARGS,
     "backward(x, dy, mean_hi, mean_lo, var, inv_hi, inv_lo, gamma, eps, amp_limit, refine, "
     "threads, dx, dgamma, dbeta[, hash]) -> (channels redone, bound on max |dx|, threads "
     "used)."},
    {"checksum", bn_py_checksum, METH_VARARGS,
     "checksum(x, threads, hash) -> threads used. The checksum of x (outer, C, inner) per "
     "channel, into hash (uint32 (C,))."},
    {"traffic", bn_py_traffic, METH_VARARGS,
     "traffic(x, dy, y, dx, train, threads) -> threads used. Not a BN: streams the bytes a "
     "two-pass BN must move (train: x, x -> y, x and dy, x and dy -> dx; eval: x -> y), the "
     "traffic floor of bncheck bench."},
    {"ranges", bn_py_ranges, METH_VARARGS,
     "ranges(C, threads) -> the channel ranges [(c0, c1), ...] a call with that many threads "
     "runs, one per thread."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef bn_module = {
    PyModuleDef_HEAD_INIT, "_bn", "bncheck's compiled BN kernels (see bncheck.bn._compiled)",
    -1, bn_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bn(void)
{
#ifdef BN_HAVE_FORK
    static int registered = 0;
    if (!registered && pthread_atfork(NULL, NULL, bn_after_fork_in_child) == 0) registered = 1;
#endif
    PyObject *m = PyModule_Create(&bn_module);
    if (!m) return NULL;
#ifdef _OPENMP
    int openmp = 1;
#else
    int openmp = 0;
#endif
    if (PyModule_AddIntConstant(m, "OPENMP", openmp) < 0 ||
        PyModule_AddIntConstant(m, "MAX_THREADS", BN_MAX_THREADS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
