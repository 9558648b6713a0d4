/* What one call of a plan (plan.h) works on: its arguments, its per-channel work arrays, the
 * part of the array a thread's phase 2 handles, and what a range reports back. Included once
 * by bn.c, after scalars.h. */
#ifndef BNCHECK_ARGS_H
#define BNCHECK_ARGS_H

/* per-channel work arrays of one call (length C each); the backward's are the last 16 */
typedef struct {
    double *m2h, *m2l, *sh, *sl, *b, *var, *ih, *il, *e;
    bn_sums sums;
    bn_coefs coefs;
} bn_work;
#define BN_WORK_FORWARD 9
#define BN_WORK_BACKWARD 25

/* the part of an array that phase 2 of a plan handles: rows [o0, o1) of channels [c0, c1) */
typedef struct {
    idx o0, o1, c0, c1;
} bn_part;

typedef struct {
    idx redone;      /* float32 channels redone in double-double */
    double dx_bound; /* bound on max |dx| */
    int nonfinite;   /* y has a NaN or Inf (eval mode) */
    int index;       /* which range: set by bn_run */
} bn_range_out;

typedef struct {
    bn_shape shape;
    void *x, *y;
    double *gamma, *beta; /* NULL: 1, respectively 0 */
    double eps;
    double *mean_hi, *mean_lo, *var, *inv_hi, *inv_lo;
    uint32_t *hash; /* the checksum of x, per channel (NULL: not computed) */
    bn_work work;
} bn_forward_args;

typedef struct {
    bn_shape shape;
    void *x, *y;
    double *gamma, *beta, *mean, *var;
    double eps;
    uint32_t *hash_parts; /* one array of C partial checksums per range (NULL: none) */
    bn_work work;
} bn_inference_args;

typedef struct {
    bn_shape shape;
    void *x;
    uint32_t *hash;
} bn_checksum_args;

typedef struct {
    bn_shape shape;
    void *x, *dy, *dx;
    double *mean_hi, *mean_lo, *var, *inv_hi, *inv_lo, *gamma;
    double eps, amp_limit;
    int refine; /* recompute var and inv in double-double first (float64 dx, float32 forward) */
    uint32_t *hash; /* the checksum of x, per channel (NULL: not computed) */
    bn_work work;
} bn_backward_args;

#endif
