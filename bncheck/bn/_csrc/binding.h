/* Argument checks of the entry points (bn.c): every array arrives through the buffer
 * protocol and is checked before any arithmetic. Errors name the argument, what it is and what
 * is expected. Included once by bn.c, after Python.h and scalars.h. */
#ifndef BNCHECK_BINDING_H
#define BNCHECK_BINDING_H

#define BN_MAX_VIEWS 16   /* buffers of one call */
#define BN_MAX_THREADS 1024 /* ranges of one call (more would not run faster) */

/* the buffers a call holds (released together), and the (outer, C, inner) shape of its x */
typedef struct {
    Py_buffer view[BN_MAX_VIEWS];
    const char *name[BN_MAX_VIEWS];
    int written[BN_MAX_VIEWS]; /* an output */
    int count;
    bn_shape shape;
} bn_views;

/* release every buffer; returns `result` (NULL on an error) */
static PyObject *bn_release(bn_views *v, PyObject *result)
{
    for (int i = 0; i < v->count; i++) PyBuffer_Release(&v->view[i]);
    v->count = 0;
    return result;
}

/* 1 for float64 ("d"), 0 for float32 ("f"), -1 for anything else */
static int bn_kind(const Py_buffer *b)
{
    const char *f = b->format ? b->format : "B";
    if (f[0] == '@' || f[0] == '=') f++;
    if (strcmp(f, "d") == 0 && b->itemsize == (Py_ssize_t)sizeof(double)) return 1;
    if (strcmp(f, "f") == 0 && b->itemsize == (Py_ssize_t)sizeof(float)) return 0;
    return -1;
}

/* take obj's buffer, C-contiguous with its format (and writable when asked) */
static Py_buffer *bn_take(bn_views *v, PyObject *obj, const char *name, int writable)
{
    Py_buffer *b = &v->view[v->count];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (v->count >= BN_MAX_VIEWS) {
        PyErr_SetString(PyExc_RuntimeError, "bncheck.bn._bn: too many buffers in one call");
        return NULL;
    }
    if (PyObject_GetBuffer(obj, b, flags) < 0) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_Format(PyExc_TypeError, "%s=%.100s object (%S); expected a C-contiguous%s array",
                     name, Py_TYPE(obj)->tp_name, value ? value : Py_None,
                     writable ? ", writable" : "");
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return NULL;
    }
    v->name[v->count] = name;
    v->written[v->count++] = writable;
    return b;
}

/* Whether b's data may be read and written through a pointer to its element type (kind 1:
 * double, 0: float). The inputs x and dy need not be (the kernels read them byte-wise,
 * template.h); outputs and per-channel vectors are accessed as double or T, and a pointer to a
 * misaligned one would be undefined behaviour, so they are refused (bncheck.bn._compiled
 * passes aligned ones). */
static int bn_aligned(bn_views *v, const Py_buffer *b, int kind)
{
    size_t align = kind ? _Alignof(double) : _Alignof(float);
    if ((uintptr_t)b->buf % align == 0) return 0;
    PyErr_Format(PyExc_ValueError, "%s is not aligned (its data is at an address that is not a "
                 "multiple of %zu bytes); expected an aligned array", v->name[v->count - 1],
                 align);
    return -1;
}

/* An (outer, C, inner) array: 3 dimensions, float32 or float64. want: -1 either (the first
 * array, x: sets v->shape), else 1 (float64) or 0 (float32) with the shape v->shape. An
 * input may be misaligned, an output (writable) must be aligned.
 * Returns the kind (1 float64, 0 float32) or -1 on an error. */
static int bn_get_data(bn_views *v, PyObject *obj, const char *name, int writable, int want,
                       void **data)
{
    const char *kinds[2] = {"float32", "float64"};
    Py_buffer *b = bn_take(v, obj, name, writable);
    if (!b) return -1;
    int kind = bn_kind(b);
    if (kind < 0 || (want >= 0 && kind != want)) {
        PyErr_Format(PyExc_TypeError, "%s has element format '%s' (%zd bytes); expected %s", name,
                     b->format ? b->format : "B", b->itemsize,
                     want < 0 ? "float32 or float64" : kinds[want]);
        return -1;
    }
    if (b->ndim != 3) {
        PyErr_Format(PyExc_ValueError, "%s has %d dimensions; expected 3, (outer, C, inner)",
                     name, b->ndim);
        return -1;
    }
    bn_shape s = {b->shape[0], b->shape[1], b->shape[2]};
    if (want < 0) {
        v->shape = s;
    } else if (s.outer != v->shape.outer || s.C != v->shape.C || s.inner != v->shape.inner) {
        PyErr_Format(PyExc_ValueError, "%s has shape (%zd, %zd, %zd); expected (%zd, %zd, %zd), "
                     "the shape of x", name, s.outer, s.C, s.inner, v->shape.outer, v->shape.C,
                     v->shape.inner);
        return -1;
    }
    if (writable && bn_aligned(v, b, kind) < 0) return -1;
    *data = b->buf;
    return kind;
}

/* A per-channel float64 vector of length C, aligned (None allowed when allow_none:
 * *data = NULL). Returns 0, or -1 on an error. */
static int bn_get_vec(bn_views *v, PyObject *obj, const char *name, idx C, int writable,
                      int allow_none, double **data)
{
    *data = NULL;
    if (obj == Py_None && allow_none) return 0;
    Py_buffer *b = bn_take(v, obj, name, writable);
    if (!b) return -1;
    if (bn_kind(b) != 1) {
        PyErr_Format(PyExc_TypeError, "%s has element format '%s' (%zd bytes); expected float64",
                     name, b->format ? b->format : "B", b->itemsize);
        return -1;
    }
    if (b->ndim != 1 || b->shape[0] != C) {
        PyErr_Format(PyExc_ValueError, "%s has %d dimensions and %zd values; expected a vector "
                     "of %zd, one per channel", name, b->ndim, b->len / b->itemsize, C);
        return -1;
    }
    if (bn_aligned(v, b, 1) < 0) return -1;
    *data = b->buf;
    return 0;
}

/* A writable uint32 vector of length C, aligned, for a checksum (None: *data = NULL).
 * Returns 0, or -1 on an error. */
static int bn_get_hash(bn_views *v, PyObject *obj, const char *name, idx C, uint32_t **data)
{
    *data = NULL;
    if (obj == Py_None) return 0;
    Py_buffer *b = bn_take(v, obj, name, 1);
    if (!b) return -1;
    const char *f = b->format ? b->format : "B";
    if (f[0] == '@' || f[0] == '=') f++;
    if ((strcmp(f, "I") != 0 && strcmp(f, "L") != 0) || b->itemsize != 4) {
        PyErr_Format(PyExc_TypeError, "%s has element format '%s' (%zd bytes); expected uint32",
                     name, b->format ? b->format : "B", b->itemsize);
        return -1;
    }
    if (b->ndim != 1 || b->shape[0] != C) {
        PyErr_Format(PyExc_ValueError, "%s has %d dimensions and %zd values; expected a vector "
                     "of %zd, one per channel", name, b->ndim, b->len / b->itemsize, C);
        return -1;
    }
    if ((uintptr_t)b->buf % _Alignof(uint32_t) != 0) {
        PyErr_Format(PyExc_ValueError, "%s is not aligned; expected an aligned array", name);
        return -1;
    }
    *data = b->buf;
    return 0;
}

/* A written buffer must not share memory with any other (the kernels' restrict pointers).
 * Addresses are compared as integers: relational operators on pointers into different objects
 * are undefined behaviour in C. */
static int bn_no_overlap(const bn_views *v)
{
    for (int i = 0; i < v->count; i++) {
        if (!v->written[i] || v->view[i].len == 0) continue;
        uintptr_t a = (uintptr_t)v->view[i].buf;
        for (int j = 0; j < v->count; j++) {
            uintptr_t b = (uintptr_t)v->view[j].buf;
            if (j == i || v->view[j].len == 0) continue;
            if (a < b + (uintptr_t)v->view[j].len && b < a + (uintptr_t)v->view[i].len) {
                PyErr_Format(PyExc_ValueError, "%s shares memory with %s; expected separate "
                             "arrays", v->name[i], v->name[j]);
                return -1;
            }
        }
    }
    return 0;
}

/* threads: a positive int; at most one range per channel (and at most BN_MAX_THREADS) */
static int bn_team(int *n, idx C)
{
    if (*n < 1) {
        PyErr_Format(PyExc_ValueError, "threads=%d; expected a positive integer", *n);
        return -1;
    }
    if ((idx)*n > C) *n = C > 1 ? (int)C : 1;
    if (*n > BN_MAX_THREADS) *n = BN_MAX_THREADS;
    return 0;
}

#endif
