/* Per-channel backward kernels for one element type; included once per type by bn.c after
 * template.h (same T, SUF, layout and traversals: see template.h). */

/* ---- backward sums: S1 = Σ dy, S2 = Σ dy (x - mu), S3 = Σ dy^2 (double-double) and
 * Z = Σ |dy - dy_first|, which is 0 exactly when the channel's dy is constant (then dx = 0
 * and dgamma = 0 exactly, not rounding noise). `semi` (the float32 first pass): x - mu in
 * plain double (error u64 |x - mu|, far below float32's), the products rounded once (dy^2 is
 * exact for float32 dy), the sums compensated; channels whose dx bracket cancels are redone
 * without it. ---------------------------------------------------------------------------- */
static inline void BN_FN(bsum)(T xv, T dv, double mh, double ml, double g0, double *ah,
                               double *al, double *bh, double *bl, double *sh, double *sl,
                               double *za, int semi)
{
    double d = (double)dv;
    *za += fabs(d - g0);
    dd_acc(ah, al, d);
    if (semi) {
        double c = ((double)xv - mh) - ml;
        dd_acc(bh, bl, d * c);
        dd_acc(sh, sl, d * d);
        return;
    }
    double ch, cl, p, e;
    BN_FN(center_dd)(xv, mh, ml, &ch, &cl);
    two_prod(d, ch, &p, &e);
    dd_acc(bh, bl, p);
    *bl += e + d * cl;
    two_prod(d, d, &p, &e);
    dd_acc(sh, sl, p);
    *sl += e;
}

static BN_ALWAYS_INLINE void BN_FN(bsums)(const bn_byte *x, const bn_byte *dy, bn_shape s,
                                          idx c0, idx c1, const double *mh, const double *ml,
                                          const bn_sums *out, int semi, uint32_t *hash,
                                          int hashing)
{
    const idx C = s.C, inner = s.inner;
    if (inner == 1) {
        for (idx cb = c0; cb < c1; cb += W) {
            idx w = c1 - cb < W ? c1 - cb : W;
            double ah[W], al[W], bh[W], bl[W], sh[W], sl[W], za[W];
            uint32_t hh[W];
            for (idx j = 0; j < w; j++) ah[j] = al[j] = bh[j] = bl[j] = sh[j] = sl[j] = za[j] = 0;
            for (idx j = 0; j < w; j++) hh[j] = 0;
            idx o = 0;
            for (; o + R <= s.outer; o += R) {
                const bn_byte *restrict p = BN_AT(x, o * C + cb);
                const bn_byte *restrict g = BN_AT(dy, o * C + cb);
                for (idx j = 0; j < w; j++) {
                    double h0 = mh[cb + j], l0 = ml[cb + j], g0 = BN_LDD(dy, cb + j);
                    double u = ah[j], v = al[j], q = bh[j], t = bl[j], a = sh[j], b = sl[j];
                    double k = za[j];
                    for (idx r = 0; r < R; r++)
                        BN_FN(bsum)(BN_LD(p, r * C + j), BN_LD(g, r * C + j), h0, l0, g0, &u,
                                    &v, &q, &t, &a, &b, &k, semi);
                    ah[j] = u, al[j] = v, bh[j] = q, bl[j] = t, sh[j] = a, sl[j] = b, za[j] = k;
                }
                if (hashing)
                    for (idx r = 0; r < R; r++)
                        BN_FN(hash_row)(BN_AT(p, r * C), w, BN_KEY(o + r), hh);
            }
            for (; o < s.outer; o++) {
                const bn_byte *restrict p = BN_AT(x, o * C + cb);
                const bn_byte *restrict g = BN_AT(dy, o * C + cb);
                for (idx j = 0; j < w; j++)
                    BN_FN(bsum)(BN_LD(p, j), BN_LD(g, j), mh[cb + j], ml[cb + j],
                                BN_LDD(dy, cb + j), &ah[j], &al[j], &bh[j], &bl[j], &sh[j],
                                &sl[j], &za[j], semi);
                if (hashing) BN_FN(hash_row)(p, w, BN_KEY(o), hh);
            }
            for (idx j = 0; j < w; j++) {
                idx c = cb + j;
                dd_norm(&ah[j], &al[j]);
                dd_norm(&bh[j], &bl[j]);
                dd_norm(&sh[j], &sl[j]);
                out->s1h[c] = ah[j], out->s1l[c] = al[j], out->s2h[c] = bh[j];
                out->s2l[c] = bl[j], out->s3h[c] = sh[j], out->s3l[c] = sl[j], out->z[c] = za[j];
                if (hashing) hash[c] = hh[j];
            }
        }
        return;
    }
    /* blocks of BN_CB channels, rows outside (memory order, as in reduce_dd): each channel's
     * values reach its lanes in the same order as one channel at a time */
    for (idx cb = c0; cb < c1; cb += BN_CB) {
        const idx w = c1 - cb < BN_CB ? c1 - cb : BN_CB;
        double ah[BN_CB][L], al[BN_CB][L], bh[BN_CB][L], bl[BN_CB][L], sh[BN_CB][L];
        double sl[BN_CB][L], za[BN_CB][L];
        uint32_t e[BN_CB];
        for (idx q = 0; q < w; q++) {
            e[q] = 0;
            for (idx j = 0; j < L; j++)
                ah[q][j] = al[q][j] = bh[q][j] = bl[q][j] = sh[q][j] = sl[q][j] = za[q][j] = 0.0;
        }
        for (idx o = 0; o < s.outer; o++) {
            for (idx q = 0; q < w; q++) {
                const idx c = cb + q;
                const double h0 = mh[c], l0 = ml[c], g0 = BN_LDD(dy, c * inner);
                double *restrict a1 = ah[q], *restrict a2 = al[q], *restrict a3 = bh[q];
                double *restrict a4 = bl[q], *restrict a5 = sh[q], *restrict a6 = sl[q];
                double *restrict a7 = za[q];
                const bn_byte *restrict p = BN_AT(x, (o * C + c) * inner);
                const bn_byte *restrict g = BN_AT(dy, (o * C + c) * inner);
                for (idx i0 = 0; i0 < inner; i0 += BN_CHUNK) { /* lanes as without chunks */
                    const idx i1 = inner - i0 < BN_CHUNK ? inner : i0 + BN_CHUNK;
                    idx i = i0;
                    for (; i + L <= i1; i += L)
                        for (idx j = 0; j < L; j++)
                            BN_FN(bsum)(BN_LD(p, i + j), BN_LD(g, i + j), h0, l0, g0, &a1[j],
                                        &a2[j], &a3[j], &a4[j], &a5[j], &a6[j], &a7[j], semi);
                    for (; i < i1; i++)
                        BN_FN(bsum)(BN_LD(p, i), BN_LD(g, i), h0, l0, g0, &a1[0], &a2[0], &a3[0],
                                    &a4[0], &a5[0], &a6[0], &a7[0], semi);
                    if (hashing) e[q] += BN_FN(hash_run)(BN_AT(p, i0), i1 - i0, o * inner + i0);
                }
            }
        }
        for (idx q = 0; q < w; q++) {
            const idx c = cb + q;
            double h = 0.0, l = 0.0, h2 = 0.0, l2 = 0.0, h3 = 0.0, l3 = 0.0, zz = 0.0;
            for (idx j = 0; j < L; j++) {
                zz += za[q][j];
                dd_add(h, l, ah[q][j], al[q][j], &h, &l);
                dd_add(h2, l2, bh[q][j], bl[q][j], &h2, &l2);
                dd_add(h3, l3, sh[q][j], sl[q][j], &h3, &l3);
            }
            out->s1h[c] = h, out->s1l[c] = l, out->s2h[c] = h2, out->s2l[c] = l2;
            out->s3h[c] = h3, out->s3l[c] = l3, out->z[c] = zz;
            if (hashing) hash[c] = e[q];
        }
    }
}

/* the sums, and with hash (not NULL) the checksum of x */
BN_KERNEL void BN_FN(bn_bsums_dd)(const bn_byte *x, const bn_byte *dy, bn_shape s, idx c0, idx c1,
                                  const double *mh, const double *ml, const bn_sums *out,
                                  uint32_t *hash)
{
    if (hash)
        BN_FN(bsums)(x, dy, s, c0, c1, mh, ml, out, 0, hash, 1);
    else
        BN_FN(bsums)(x, dy, s, c0, c1, mh, ml, out, 0, NULL, 0);
}

BN_KERNEL void BN_FN(bn_bsums_semi)(const bn_byte *x, const bn_byte *dy, bn_shape s, idx c0, idx c1,
                                    const double *mh, const double *ml, const bn_sums *out,
                                    uint32_t *hash)
{
    if (hash)
        BN_FN(bsums)(x, dy, s, c0, c1, mh, ml, out, 1, hash, 1);
    else
        BN_FN(bsums)(x, dy, s, c0, c1, mh, ml, out, 1, NULL, 0);
}

/* ---- dx = k * (dy - a - (x - mu) * b) ---------------------------------------------------- */
static inline T BN_FN(dx_dd)(T xv, T dv, const bn_dxc *q)
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

BN_KERNEL void BN_FN(bn_dx_dd)(const bn_byte *x, const bn_byte *dy, bn_shape s, idx c0, idx c1,
                               const double *mh, const double *ml, const bn_coefs *k, T *dx)
{
    const idx C = s.C, inner = s.inner;
    if (inner == 1) {
        for (idx o = 0; o < s.outer; o++) {
            const bn_byte *restrict p = BN_AT(x, o * C);
            const bn_byte *restrict g = BN_AT(dy, o * C);
            T *restrict d = dx + o * C;
            for (idx c = c0; c < c1; c++) {
                bn_dxc q = {mh[c], ml[c], k->ah[c], k->al[c], k->bh[c], k->bl[c], k->kh[c],
                            k->kl[c]};
                d[c] = BN_FN(dx_dd)(BN_LD(p, c), BN_LD(g, c), &q);
            }
        }
        return;
    }
    for (idx o = 0; o < s.outer; o++) { /* memory order: each element's arithmetic is fixed */
        for (idx c = c0; c < c1; c++) {
            bn_dxc q = {mh[c], ml[c], k->ah[c], k->al[c], k->bh[c], k->bl[c], k->kh[c],
                        k->kl[c]};
            idx off = (o * C + c) * inner;
            const bn_byte *restrict p = BN_AT(x, off);
            const bn_byte *restrict g = BN_AT(dy, off);
            T *restrict d = dx + off;
            for (idx i = 0; i < inner; i++) d[i] = BN_FN(dx_dd)(BN_LD(p, i), BN_LD(g, i), &q);
        }
    }
}

/* dx = k * ((dy - e) - (x - mh) * b), plain double, with e = a - ml * b folded by the caller.
 * The caller decides beforehand, from double-double norms, which channels may use it. */
BN_KERNEL void BN_FN(bn_dx_fast)(const bn_byte *x, const bn_byte *dy, bn_shape s, idx c0, idx c1,
                                 const double *mh, const double *e, const double *b,
                                 const double *k, T *dx)
{
    const idx C = s.C, inner = s.inner;
    if (inner == 1) {
        for (idx o = 0; o < s.outer; o++) {
            const bn_byte *restrict p = BN_AT(x, o * C);
            const bn_byte *restrict g = BN_AT(dy, o * C);
            T *restrict d = dx + o * C;
            for (idx c = c0; c < c1; c++)
                d[c] = (T)(((BN_LDD(g, c) - e[c]) - (BN_LDD(p, c) - mh[c]) * b[c]) * k[c]);
        }
        return;
    }
    for (idx o = 0; o < s.outer; o++) { /* memory order: each element's arithmetic is fixed */
        for (idx c = c0; c < c1; c++) {
            double h0 = mh[c], e0 = e[c], b0 = b[c], k0 = k[c];
            idx off = (o * C + c) * inner;
            const bn_byte *restrict p = BN_AT(x, off);
            const bn_byte *restrict g = BN_AT(dy, off);
            T *restrict d = dx + off;
            for (idx i = 0; i < inner; i++)
                d[i] = (T)(((BN_LDD(g, i) - e0) - (BN_LDD(p, i) - h0) * b0) * k0);
        }
    }
}
