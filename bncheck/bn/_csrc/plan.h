/* The per-channel plans for one element type: which kernels run, in which order, on which
 * channels. Included once per type by bn.c after the kernels (same T, SUF).
 *
 * Every plan has two phases (bn.c runs them in one parallel region, a barrier between):
 *   1. per channel, on a range of channels [c0, c1): the statistics and coefficients (the
 *      reductions, whose order of operations depends only on the layout);
 *   2. element-wise, on a part of the array (bn_part: rows [o0, o1) of channels [c0, c1)): the
 *      output, y or dx, from the coefficients of phase 1.
 * Phase 2 is split by rows when there are enough: a thread then streams whole rows, which a
 * split by channels would cut into pieces (the prefetcher's streams break at every piece).
 * Each element's arithmetic is the same whatever the part, and each channel's whatever the
 * range, so the results are the same for any number of threads. float64 (and float16, widened
 * by the caller) is double-double throughout; float32 computes in plain double where that is
 * accurate enough (template.h). */

/* float64 carries x - mu, the sums and the dx bracket in double-double; float32 does not */
#define BN_WIDE (sizeof(T) == sizeof(double))

/* the part's rows as an array of their own: the kernels run on `outer` rows from the start */
static inline bn_shape BN_FN(part_shape)(bn_shape s, bn_part p)
{
    bn_shape r = {p.o1 - p.o0, s.C, s.inner};
    return r;
}
#define BN_ROWS(ptr, s, p) ((T *)(ptr) + (p).o0 * (s).C * (s).inner)
/* the same for an input (x, dy): a byte pointer, aligned or not (template.h) */
#define BN_ROWS_IN(ptr, s, p) BN_AT((const bn_byte *)(ptr), (p).o0 * (s).C * (s).inner)

/* ---- train-mode forward: mean (hi, lo), var, inv (hi, lo), then y ------------------------ */
static void BN_FN(forward_channels)(const bn_forward_args *a, idx c0, idx c1)
{
    const bn_shape s = a->shape;
    const double m = (double)(s.outer * s.inner);
    const bn_byte *x = a->x;
    double *mh = a->mean_hi, *ml = a->mean_lo;
    const bn_work *w = &a->work;
    BN_FN(bn_sum_dd)(x, s, c0, c1, mh, ml, a->hash);
    bn_divide(c0, c1, m, mh, ml);
    if (BN_WIDE) {
        BN_FN(bn_sqdev_dd)(x, s, c0, c1, mh, ml, w->m2h, w->m2l);
    } else {
        BN_FN(bn_sqdev_fast)(x, s, c0, c1, mh, ml, w->m2h);
        for (idx c = c0; c < c1; c++) w->m2l[c] = 0.0;
    }
    bn_scales(c0, c1, m, a->eps, w->m2h, w->m2l, a->gamma, a->var, a->inv_hi, a->inv_lo, w->sh,
              w->sl);
    for (idx c = c0; c < c1; c++) w->b[c] = a->beta ? a->beta[c] : 0.0;
    if (!BN_WIDE)
        for (idx c = c0; c < c1; c++) w->b[c] -= ml[c] * w->sh[c]; /* beta - ml * s */
}

static void BN_FN(forward_part)(const bn_forward_args *a, bn_part p)
{
    const bn_work *w = &a->work;
    bn_shape s = BN_FN(part_shape)(a->shape, p);
    const bn_byte *x = BN_ROWS_IN(a->x, a->shape, p);
    T *y = BN_ROWS(a->y, a->shape, p);
    if (BN_WIDE)
        BN_FN(bn_affine_dd)(x, s, p.c0, p.c1, a->mean_hi, a->mean_lo, w->sh, w->sl, w->b, y, 0, 0,
                            NULL);
    else
        BN_FN(bn_affine_fast)(x, s, p.c0, p.c1, a->mean_hi, w->sh, w->b, y, 0, 0, NULL);
}

/* ---- eval-mode forward: scale and shift per channel from the running statistics (the scales
 * step with m = 1, the running mean as mean_hi and mean_lo = 0), then one streaming pass over
 * x that also tells whether y has a non-finite value and, when asked (hash not NULL), adds the
 * part's checksum terms into hash, the range's own array of C partial sums ------------------ */
static void BN_FN(inference_channels)(const bn_inference_args *a, idx c0, idx c1)
{
    const bn_work *w = &a->work;
    bn_scales(c0, c1, 1.0, a->eps, a->var, NULL, a->gamma, w->var, w->ih, w->il, w->sh, w->sl);
    for (idx c = c0; c < c1; c++) {
        w->b[c] = a->beta ? a->beta[c] : 0.0;
        w->m2l[c] = 0.0; /* mean_lo */
        if (!BN_WIDE) w->b[c] -= w->m2l[c] * w->sh[c]; /* beta - 0 * s */
    }
}

static int BN_FN(inference_part)(const bn_inference_args *a, bn_part p, uint32_t *hash)
{
    const bn_work *w = &a->work;
    bn_shape s = BN_FN(part_shape)(a->shape, p);
    const bn_byte *x = BN_ROWS_IN(a->x, a->shape, p);
    T *y = BN_ROWS(a->y, a->shape, p);
    if (BN_WIDE)
        return BN_FN(bn_affine_dd)(x, s, p.c0, p.c1, a->mean, w->m2l, w->sh, w->sl, w->b, y, 1,
                                   p.o0, hash);
    return BN_FN(bn_affine_fast)(x, s, p.c0, p.c1, a->mean, w->sh, w->b, y, 1, p.o0, hash);
}

/* ---- the checksum of x alone, per channel ------------------------------------------------- */
static void BN_FN(checksum_channels)(const bn_checksum_args *a, idx c0, idx c1)
{
    BN_FN(bn_hash)(a->x, a->shape, c0, c1, a->hash);
}

/* ---- train-mode backward ------------------------------------------------------------------ */
/* var, inv (hi, lo) of channels [c0, c1) recomputed from a double-double Σ (x - mu)^2, into
 * the work arrays (the float32 forward's is plain double) */
static void BN_FN(refine_variance)(const bn_backward_args *a, idx c0, idx c1)
{
    const bn_work *w = &a->work;
    const double m = (double)(a->shape.outer * a->shape.inner);
    BN_FN(bn_sqdev_dd)(a->x, a->shape, c0, c1, a->mean_hi, a->mean_lo, w->m2h, w->m2l);
    bn_scales(c0, c1, m, a->eps, w->m2h, w->m2l, NULL, w->var, w->ih, w->il, w->sh, w->sl);
}

/* a float32 channel whose plain-double bracket could amplify rounding too much */
static inline int BN_FN(cancels)(const bn_backward_args *a, idx c)
{
    return !BN_WIDE && !(a->work.coefs.amp[c] <= a->amp_limit);
}

/* The sums and coefficients; returns in *out a bound on max |dx| over the range and how many
 * float32 channels are redone: where the bracket cancels, it leaves about
 * (1 - var/(var + eps)) dy, and the forward's plain-double variance is then not enough
 * either, so their variance, sums and coefficients are computed again in double-double (by
 * runs of neighbours), and their dx in double-double (phase 2). */
static void BN_FN(backward_channels)(const bn_backward_args *a, idx c0, idx c1, bn_range_out *out)
{
    const bn_shape s = a->shape;
    const double m = (double)(s.outer * s.inner);
    const double *var = a->var, *ih = a->inv_hi, *il = a->inv_lo;
    const bn_work *w = &a->work;
    const bn_coefs *k = &w->coefs;
    if (a->refine) { /* a float64 backward of a float32 forward */
        BN_FN(refine_variance)(a, c0, c1);
        var = w->var, ih = w->ih, il = w->il;
    }
    if (BN_WIDE)
        BN_FN(bn_bsums_dd)(a->x, a->dy, s, c0, c1, a->mean_hi, a->mean_lo, &w->sums, a->hash);
    else
        BN_FN(bn_bsums_semi)(a->x, a->dy, s, c0, c1, a->mean_hi, a->mean_lo, &w->sums, a->hash);
    bn_backward_coefs(c0, c1, m, a->eps, &w->sums, var, ih, il, a->gamma, k, 1);
    /* |dx_i| <= |k| ||dy - a|| <= |k| sqrt(Σ dy^2): only when this bound reaches the dtype's
     * largest value can dx overflow, and only then is dx scanned (by the caller) */
    double bound = 0.0;
    for (idx c = c0; c < c1; c++) bound = bn_max_nan(bound, fabs(k->kh[c]) * sqrt(w->sums.s3h[c]));
    out->dx_bound = bound;
    out->redone = 0;
    if (BN_WIDE) return;
    for (idx c = c0; c < c1; c++) w->e[c] = k->ah[c] - a->mean_lo[c] * k->bh[c];
    for (idx c = c0; c < c1;) {
        if (!BN_FN(cancels)(a, c)) {
            c++;
            continue;
        }
        idx end = c + 1;
        while (end < c1 && BN_FN(cancels)(a, end)) end++;
        BN_FN(refine_variance)(a, c, end);
        BN_FN(bn_bsums_dd)(a->x, a->dy, s, c, end, a->mean_hi, a->mean_lo, &w->sums, NULL);
        bn_backward_coefs(c, end, m, a->eps, &w->sums, w->var, w->ih, w->il, a->gamma, k, 0);
        out->redone += end - c;
        c = end;
    }
}

/* dx of the part: double-double for float64; for float32 plain double, then the redone
 * channels again in double-double, a block of rows at a time (still in cache) */
static void BN_FN(backward_part)(const bn_backward_args *a, bn_part p)
{
    const bn_work *w = &a->work;
    const bn_coefs *k = &w->coefs;
    const double *mh = a->mean_hi, *ml = a->mean_lo;
    const bn_shape s = a->shape;
    if (BN_WIDE) {
        BN_FN(bn_dx_dd)(BN_ROWS_IN(a->x, s, p), BN_ROWS_IN(a->dy, s, p), BN_FN(part_shape)(s, p),
                        p.c0, p.c1, mh, ml, k, BN_ROWS(a->dx, s, p));
        return;
    }
    idx row = s.C * s.inner > 0 ? s.C * s.inner : 1;
    idx block = (1 << 16) / row + 1; /* rows per block: about 2^16 values */
    for (idx o = p.o0; o < p.o1; o += block) {
        bn_part q = {o, o + block < p.o1 ? o + block : p.o1, p.c0, p.c1};
        const bn_byte *x = BN_ROWS_IN(a->x, s, q), *dy = BN_ROWS_IN(a->dy, s, q);
        T *dx = BN_ROWS(a->dx, s, q);
        bn_shape sq = BN_FN(part_shape)(s, q);
        BN_FN(bn_dx_fast)(x, dy, sq, q.c0, q.c1, mh, w->e, k->bh, k->kh, dx);
        for (idx c = q.c0; c < q.c1;) {
            if (!BN_FN(cancels)(a, c)) {
                c++;
                continue;
            }
            idx end = c + 1;
            while (end < q.c1 && BN_FN(cancels)(a, end)) end++;
            BN_FN(bn_dx_dd)(x, dy, sq, c, end, mh, ml, k, dx);
            c = end;
        }
    }
}

#undef BN_ROWS
#undef BN_ROWS_IN
#undef BN_WIDE
