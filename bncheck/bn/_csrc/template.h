/* Per-channel BN kernels for one element type; included once per type by bn.c with
 *   T    the element type of x, dy, y and dx (float or double)
 *   SUF  the name suffix (_f32, _f64)
 *
 * Layout: every array is C-contiguous with shape (outer, C, inner); the channel is the middle
 * axis (outer = product of the axes before the channel axis, inner = of those after it). A
 * call handles channels [c0, c1), so threads can share an array by channel ranges.
 *
 * Two traversals:
 *   inner == 1 ("rows", e.g. (N, C)): a block of W channels is one contiguous row segment;
 *     loops run over rows with the channels as independent SIMD lanes.
 *   inner > 1  ("runs", e.g. NCHW): channel c is `outer` contiguous runs of `inner` values;
 *     each run is split over L independent lanes.
 * Lanes are independent accumulations, so vectorising them changes no result: the compiler
 * needs no reassociation (and gets none: no -ffast-math).
 *
 * "dd" kernels carry every per-channel sum as a double-double (compensated, Sum2/Dot2 of
 * Ogita, Rump and Oishi) and the centred value x - mu as a double-double; "fast" kernels use
 * plain double sums, blocked every B rows so no sum runs over more than B + outer/B terms.
 */

#define BN_CAT2(a, b) a##b
#define BN_CAT(a, b) BN_CAT2(a, b)
#define BN_FN(name) BN_CAT(name, SUF)

/* x - (mh + ml) as a double-double */
static inline void BN_FN(center_dd)(T xv, double mh, double ml, double *ch, double *cl)
{
    double s, e;
    two_sum((double)xv, -mh, &s, &e);
    two_sum(s, e - ml, ch, cl);
}

/* ---- per-channel double-double reductions: Σ x and Σ (x - mu)^2 ---------------------- */
/* (hi, lo) += x; mu is not used (bn_sum_dd takes the same arguments as bn_sqdev_dd) */
static inline void BN_FN(x_dd)(T xv, double mh, double ml, double *ah, double *al)
{
    (void)mh;
    (void)ml;
    dd_acc(ah, al, (double)xv);
}

/* (hi, lo) += (x - mu)^2, x - mu as a double-double */
static inline void BN_FN(sq_dd)(T xv, double mh, double ml, double *ah, double *al)
{
    double ch, cl, p, e;
    BN_FN(center_dd)(xv, mh, ml, &ch, &cl);
    two_prod(ch, ch, &p, &e);
    dd_acc(ah, al, p);
    *al += e + 2.0 * ch * cl;
}

#define BN_DD_REDUCE(NAME, ELEM)                                                                  \
BN_EXPORT void BN_FN(NAME)(const T *x, idx outer, idx C, idx inner, idx c0, idx c1,               \
                                   const double *mh, const double *ml, double *out_h,             \
                                   double *out_l)                                                 \
{                                                                                                 \
    if (inner == 1) {                                                                             \
        for (idx cb = c0; cb < c1; cb += W) {                                                     \
            idx w = c1 - cb < W ? c1 - cb : W;                                                    \
            double ah[W], al[W];                                                                  \
            for (idx j = 0; j < w; j++) ah[j] = al[j] = 0.0;                                      \
            idx o = 0;                                                                            \
            for (; o + R <= outer; o += R) {                                                      \
                const T *restrict p = x + o * C + cb;                                             \
                for (idx j = 0; j < w; j++) {                                                     \
                    double h = ah[j], l = al[j], h0 = mh[cb + j], l0 = ml[cb + j];                \
                    for (idx r = 0; r < R; r++) BN_FN(ELEM)(p[r * C + j], h0, l0, &h, &l);        \
                    ah[j] = h;                                                                    \
                    al[j] = l;                                                                    \
                }                                                                                 \
            }                                                                                     \
            for (; o < outer; o++) {                                                              \
                const T *restrict p = x + o * C + cb;                                             \
                for (idx j = 0; j < w; j++) BN_FN(ELEM)(p[j], mh[cb + j], ml[cb + j], &ah[j], &al[j]);\
            }                                                                                     \
            for (idx j = 0; j < w; j++) {                                                         \
                double h = ah[j], l = al[j];                                                      \
                dd_norm(&h, &l);                                                                  \
                out_h[cb + j] = h;                                                                \
                out_l[cb + j] = l;                                                                \
            }                                                                                     \
        }                                                                                         \
        return;                                                                                   \
    }                                                                                             \
    for (idx c = c0; c < c1; c++) {                                                               \
        double ah[L], al[L];                                                                      \
        double h0 = mh[c], l0 = ml[c];                                                            \
        for (idx j = 0; j < L; j++) ah[j] = al[j] = 0.0;                                          \
        for (idx o = 0; o < outer; o++) {                                                         \
            const T *restrict p = x + (o * C + c) * inner;                                        \
            idx i = 0;                                                                            \
            for (; i + L <= inner; i += L)                                                        \
                for (idx j = 0; j < L; j++) BN_FN(ELEM)(p[i + j], h0, l0, &ah[j], &al[j]);        \
            for (; i < inner; i++) BN_FN(ELEM)(p[i], h0, l0, &ah[0], &al[0]);                     \
        }                                                                                         \
        double h = 0.0, l = 0.0;                                                                  \
        for (idx j = 0; j < L; j++) dd_add(h, l, ah[j], al[j], &h, &l);                           \
        out_h[c] = h;                                                                             \
        out_l[c] = l;                                                                             \
    }                                                                                             \
}

BN_DD_REDUCE(bn_sum_dd, x_dd)
BN_DD_REDUCE(bn_sqdev_dd, sq_dd)
#undef BN_DD_REDUCE

/* ---- Σ (x - mu)^2, plain double, blocked ------------------------------------------------ */
BN_EXPORT void BN_FN(bn_sqdev_fast)(const T *x, idx outer, idx C, idx inner, idx c0, idx c1,
                                     const double *mh, const double *ml, double *out)
{
    if (inner == 1) {
        for (idx cb = c0; cb < c1; cb += W) {
            idx w = c1 - cb < W ? c1 - cb : W;
            double tot[W], acc[W];
            for (idx j = 0; j < w; j++) tot[j] = 0.0;
            for (idx o0 = 0; o0 < outer; o0 += B) {
                idx o1 = outer - o0 < B ? outer : o0 + B;
                for (idx j = 0; j < w; j++) acc[j] = 0.0;
                idx o = o0;
                for (; o + R <= o1; o += R) {
                    const T *restrict p = x + o * C + cb;
                    for (idx j = 0; j < w; j++) {
                        double t = acc[j], h0 = mh[cb + j], l0 = ml[cb + j];
                        for (idx r = 0; r < R; r++) {
                            double c = ((double)p[r * C + j] - h0) - l0;
                            t += c * c;
                        }
                        acc[j] = t;
                    }
                }
                for (; o < o1; o++) {
                    const T *restrict p = x + o * C + cb;
                    for (idx j = 0; j < w; j++) {
                        double c = ((double)p[j] - mh[cb + j]) - ml[cb + j];
                        acc[j] += c * c;
                    }
                }
                for (idx j = 0; j < w; j++) tot[j] += acc[j];
            }
            for (idx j = 0; j < w; j++) out[cb + j] = tot[j];
        }
        return;
    }
    for (idx c = c0; c < c1; c++) {
        double h0 = mh[c], l0 = ml[c], tot = 0.0;
        for (idx o = 0; o < outer; o++) {
            const T *restrict p = x + (o * C + c) * inner;
            double acc[L];
            for (idx j = 0; j < L; j++) acc[j] = 0.0;
            idx i = 0;
            for (; i + L <= inner; i += L)
                for (idx j = 0; j < L; j++) {
                    double v = ((double)p[i + j] - h0) - l0;
                    acc[j] += v * v;
                }
            for (; i < inner; i++) {
                double v = ((double)p[i] - h0) - l0;
                acc[0] += v * v;
            }
            double s = 0.0;
            for (idx j = 0; j < L; j++) s += acc[j];
            tot += s;
        }
        out[c] = tot;
    }
}

/* ---- y = (x - mu) * s + beta ------------------------------------------------------------ */
static inline T BN_FN(affine_dd)(T xv, double mh, double ml, double sh, double sl, double b)
{
    double ch, cl, p, e, s, f;
    BN_FN(center_dd)(xv, mh, ml, &ch, &cl);
    two_prod(ch, sh, &p, &e);
    e += ch * sl + cl * sh;
    two_sum(p, b, &s, &f);
    return (T)(s + (f + e));
}

BN_EXPORT void BN_FN(bn_affine_dd)(const T *x, idx outer, idx C, idx inner, idx c0, idx c1,
                                    const double *mh, const double *ml, const double *sh,
                                    const double *sl, const double *beta, T *y)
{
    if (inner == 1) {
        for (idx o = 0; o < outer; o++) {
            const T *restrict p = x + o * C;
            T *restrict q = y + o * C;
            for (idx c = c0; c < c1; c++)
                q[c] = BN_FN(affine_dd)(p[c], mh[c], ml[c], sh[c], sl[c], beta[c]);
        }
        return;
    }
    for (idx c = c0; c < c1; c++) {
        double a0 = mh[c], a1 = ml[c], s0 = sh[c], s1 = sl[c], b = beta[c];
        for (idx o = 0; o < outer; o++) {
            const T *restrict p = x + (o * C + c) * inner;
            T *restrict q = y + (o * C + c) * inner;
            for (idx i = 0; i < inner; i++) q[i] = BN_FN(affine_dd)(p[i], a0, a1, s0, s1, b);
        }
    }
}

/* y = (x - mh) * s + beta2 with beta2 = beta - ml * s folded by the caller (plain double) */
BN_EXPORT void BN_FN(bn_affine_fast)(const T *x, idx outer, idx C, idx inner, idx c0, idx c1,
                                      const double *mh, const double *sh, const double *beta2,
                                      T *y)
{
    if (inner == 1) {
        for (idx o = 0; o < outer; o++) {
            const T *restrict p = x + o * C;
            T *restrict q = y + o * C;
            for (idx c = c0; c < c1; c++) q[c] = (T)(((double)p[c] - mh[c]) * sh[c] + beta2[c]);
        }
        return;
    }
    for (idx c = c0; c < c1; c++) {
        double a0 = mh[c], s0 = sh[c], b = beta2[c];
        for (idx o = 0; o < outer; o++) {
            const T *restrict p = x + (o * C + c) * inner;
            T *restrict q = y + (o * C + c) * inner;
            for (idx i = 0; i < inner; i++) q[i] = (T)(((double)p[i] - a0) * s0 + b);
        }
    }
}

/* ---- backward sums: Σ dy and Σ dy * (x - mu) ------------------------------------------- */
static inline void BN_FN(bsum_dd)(T xv, T dv, double mh, double ml, double g0, double *ah,
                                  double *al, double *bh, double *bl, double *sh, double *sl,
                                  double *za)
{
    double ch, cl, p, e, d = (double)dv;
    *za += fabs(d - g0);
    BN_FN(center_dd)(xv, mh, ml, &ch, &cl);
    dd_acc(ah, al, d);
    two_prod(d, ch, &p, &e);
    dd_acc(bh, bl, p);
    *bl += e + d * cl;
#if BN_DY_SQUARES
    two_prod(d, d, &p, &e);
    dd_acc(sh, sl, p);
    *sl += e;
#else
    (void)sh;
    (void)sl;
#endif
}

/* S1 = Σ dy, S2 = Σ dy (x - mu) and, when BN_DY_SQUARES, S3 = Σ dy^2, all double-double
 * (S3 is left 0 otherwise); and Z = Σ |dy - dy_first|, which is 0 exactly when the channel's
 * dy is constant (then dx = 0 and dgamma = 0 exactly, not rounding noise). */
/* float32 first pass: x - mu in plain double (error u64 |x - mu|, far below float32's), the
 * products rounded once, the sums compensated. Channels whose dx bracket cancels are redone
 * with bsum_dd. */
static inline void BN_FN(bsum_semi)(T xv, T dv, double mh, double ml, double g0, double *ah,
                                    double *al, double *bh, double *bl, double *sh, double *sl,
                                    double *za)
{
    double d = (double)dv;
    *za += fabs(d - g0);
    double c = ((double)xv - mh) - ml;
    dd_acc(ah, al, d);
    dd_acc(bh, bl, d * c);
#if BN_DY_SQUARES
    dd_acc(sh, sl, d * d); /* exact for float32 dy */
#else
    (void)sh;
    (void)sl;
#endif
}

#define BN_BSUMS_KERNEL(NAME, ELEM)                                                               \
BN_EXPORT void BN_FN(NAME)(const T *x, const T *dy, idx outer, idx C, idx inner, idx c0,          \
                                   idx c1, const double *mh, const double *ml, double *s1h,       \
                                   double *s1l, double *s2h, double *s2l, double *s3h,            \
                                   double *s3l, double *z)                                        \
{                                                                                                 \
    if (inner == 1) {                                                                             \
        for (idx cb = c0; cb < c1; cb += W) {                                                     \
            idx w = c1 - cb < W ? c1 - cb : W;                                                    \
            double ah[W], al[W], bh[W], bl[W], sh[W], sl[W], za[W];                               \
            for (idx j = 0; j < w; j++) ah[j] = al[j] = bh[j] = bl[j] = sh[j] = sl[j] = za[j] = 0.0;\
            idx o = 0;                                                                            \
            for (; o + R <= outer; o += R) {                                                      \
                const T *restrict p = x + o * C + cb;                                             \
                const T *restrict g = dy + o * C + cb;                                            \
                for (idx j = 0; j < w; j++) {                                                     \
                    double h0 = mh[cb + j], l0 = ml[cb + j], g0 = (double)dy[cb + j];             \
                    double u = ah[j], v = al[j], s = bh[j], t = bl[j], q = sh[j], y = sl[j];      \
                    double k = za[j];                                                             \
                    for (idx r = 0; r < R; r++)                                                   \
                        BN_FN(ELEM)(p[r * C + j], g[r * C + j], h0, l0, g0, &u, &v, &s, &t, &q,   \
                                    &y, &k);                                                      \
                    za[j] = k;                                                                    \
                    ah[j] = u;                                                                    \
                    al[j] = v;                                                                    \
                    bh[j] = s;                                                                    \
                    bl[j] = t;                                                                    \
                    sh[j] = q;                                                                    \
                    sl[j] = y;                                                                    \
                }                                                                                 \
            }                                                                                     \
            for (; o < outer; o++) {                                                              \
                const T *restrict p = x + o * C + cb;                                             \
                const T *restrict g = dy + o * C + cb;                                            \
                for (idx j = 0; j < w; j++)                                                       \
                    BN_FN(ELEM)(p[j], g[j], mh[cb + j], ml[cb + j], (double)dy[cb + j], &ah[j],   \
                                &al[j], &bh[j], &bl[j], &sh[j], &sl[j], &za[j]);                  \
            }                                                                                     \
            for (idx j = 0; j < w; j++) {                                                         \
                dd_norm(&ah[j], &al[j]);                                                          \
                dd_norm(&bh[j], &bl[j]);                                                          \
                dd_norm(&sh[j], &sl[j]);                                                          \
                s1h[cb + j] = ah[j];                                                              \
                s1l[cb + j] = al[j];                                                              \
                s2h[cb + j] = bh[j];                                                              \
                s2l[cb + j] = bl[j];                                                              \
                s3h[cb + j] = sh[j];                                                              \
                s3l[cb + j] = sl[j];                                                              \
                z[cb + j] = za[j];                                                                \
            }                                                                                     \
        }                                                                                         \
        return;                                                                                   \
    }                                                                                             \
    for (idx c = c0; c < c1; c++) {                                                               \
        double ah[L], al[L], bh[L], bl[L], sh[L], sl[L], za[L];                                   \
        double h0 = mh[c], l0 = ml[c], g0 = (double)dy[c * inner];                                \
        for (idx j = 0; j < L; j++) ah[j] = al[j] = bh[j] = bl[j] = sh[j] = sl[j] = za[j] = 0.0;  \
        for (idx o = 0; o < outer; o++) {                                                         \
            const T *restrict p = x + (o * C + c) * inner;                                        \
            const T *restrict g = dy + (o * C + c) * inner;                                       \
            idx i = 0;                                                                            \
            for (; i + L <= inner; i += L)                                                        \
                for (idx j = 0; j < L; j++)                                                       \
                    BN_FN(ELEM)(p[i + j], g[i + j], h0, l0, g0, &ah[j], &al[j], &bh[j], &bl[j],   \
                                &sh[j], &sl[j], &za[j]);                                          \
            for (; i < inner; i++)                                                                \
                BN_FN(ELEM)(p[i], g[i], h0, l0, g0, &ah[0], &al[0], &bh[0], &bl[0], &sh[0],       \
                            &sl[0], &za[0]);                                                      \
        }                                                                                         \
        double h = 0.0, l = 0.0, h2 = 0.0, l2 = 0.0, h3 = 0.0, l3 = 0.0, zz = 0.0;                \
        for (idx j = 0; j < L; j++) {                                                             \
            zz += za[j];                                                                          \
            dd_add(h, l, ah[j], al[j], &h, &l);                                                   \
            dd_add(h2, l2, bh[j], bl[j], &h2, &l2);                                               \
            dd_add(h3, l3, sh[j], sl[j], &h3, &l3);                                               \
        }                                                                                         \
        s1h[c] = h;                                                                               \
        s1l[c] = l;                                                                               \
        s2h[c] = h2;                                                                              \
        s2l[c] = l2;                                                                              \
        s3h[c] = h3;                                                                              \
        s3l[c] = l3;                                                                              \
        z[c] = zz;                                                                                \
    }                                                                                             \
}

BN_BSUMS_KERNEL(bn_bsums_dd, bsum_dd)
BN_BSUMS_KERNEL(bn_bsums_semi, bsum_semi)
#undef BN_BSUMS_KERNEL

/* ---- dx = k * (dy - a - (x - mu) * b) ---------------------------------------------------- */
typedef struct {
    double mh, ml, ah, al, bh, bl, kh, kl;
} BN_FN(dxc);

static inline T BN_FN(dx_dd)(T xv, T dv, const BN_FN(dxc) * q)
{
    double ch, cl, p, pe, s1, e1, s2, e2, rh, rl;
    BN_FN(center_dd)(xv, q->mh, q->ml, &ch, &cl);
    two_prod(ch, q->bh, &p, &pe);
    pe += ch * q->bl + cl * q->bh;
    two_sum((double)dv, -q->ah, &s1, &e1);
    two_sum(s1, -p, &s2, &e2);
    two_sum(s2, (e1 + e2) - (q->al + pe), &rh, &rl);
    return (T)fma(rh, q->kh, rh * q->kl + rl * q->kh);
}

BN_EXPORT void BN_FN(bn_dx_dd)(const T *x, const T *dy, idx outer, idx C, idx inner, idx c0,
                                idx c1, const double *mh, const double *ml, const double *ah,
                                const double *al, const double *bh, const double *bl,
                                const double *kh, const double *kl, T *dx)
{
    if (inner == 1) {
        for (idx o = 0; o < outer; o++) {
            const T *restrict p = x + o * C;
            const T *restrict g = dy + o * C;
            T *restrict d = dx + o * C;
            for (idx c = c0; c < c1; c++) {
                BN_FN(dxc) q = {mh[c], ml[c], ah[c], al[c], bh[c], bl[c], kh[c], kl[c]};
                d[c] = BN_FN(dx_dd)(p[c], g[c], &q);
            }
        }
        return;
    }
    for (idx c = c0; c < c1; c++) {
        BN_FN(dxc) q = {mh[c], ml[c], ah[c], al[c], bh[c], bl[c], kh[c], kl[c]};
        for (idx o = 0; o < outer; o++) {
            idx off = (o * C + c) * inner;
            const T *restrict p = x + off;
            const T *restrict g = dy + off;
            T *restrict d = dx + off;
            for (idx i = 0; i < inner; i++) d[i] = BN_FN(dx_dd)(p[i], g[i], &q);
        }
    }
}

/* dx = k * ((dy - e) - (x - mh) * b), plain double, with e = a - ml * b folded by the caller.
 * The caller decides beforehand, from double-double norms, which channels may use it. */
BN_EXPORT void BN_FN(bn_dx_fast)(const T *x, const T *dy, idx outer, idx C, idx inner, idx c0,
                                  idx c1, const double *mh, const double *e, const double *b,
                                  const double *k, T *dx)
{
    if (inner == 1) {
        for (idx o = 0; o < outer; o++) {
            const T *restrict p = x + o * C;
            const T *restrict g = dy + o * C;
            T *restrict d = dx + o * C;
            for (idx c = c0; c < c1; c++)
                d[c] = (T)((((double)g[c] - e[c]) - ((double)p[c] - mh[c]) * b[c]) * k[c]);
        }
        return;
    }
    for (idx c = c0; c < c1; c++) {
        double h0 = mh[c], e0 = e[c], b0 = b[c], k0 = k[c];
        for (idx o = 0; o < outer; o++) {
            idx off = (o * C + c) * inner;
            const T *restrict p = x + off;
            const T *restrict g = dy + off;
            T *restrict d = dx + off;
            for (idx i = 0; i < inner; i++)
                d[i] = (T)((((double)g[i] - e0) - ((double)p[i] - h0) * b0) * k0);
        }
    }
}
