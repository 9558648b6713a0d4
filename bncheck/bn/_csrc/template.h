/* Per-channel BN kernels for one element type; included once per type by bn.c with
 *   T    the element type of x, dy, y and dx (float or double)
 *   SUF  the name suffix (_f32, _f64)
 *
 * Layout: every array is C-contiguous with shape (outer, C, inner) (bn_shape); the channel is
 * the middle axis (outer = product of the axes before the channel axis, inner = of those after
 * it). A kernel handles channels [c0, c1), so threads can share an array by channel ranges.
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

/* The inputs x and dy may sit at any byte address: NumPy hands over any C-contiguous view,
 * including one at an odd offset into a buffer (np.frombuffer(buf, offset=1)), and reading a T
 * through a pointer not aligned for T is undefined behaviour (C11 6.3.2.3p7), whatever the CPU
 * allows. So no T pointer to them is ever formed: they are byte pointers (bn_byte), BN_AT gives
 * the address of element i and BN_LD loads it with a fixed-size memcpy, which compilers turn into
 * one unaligned load (vectorised like a plain one; on x86-64 the same instruction whatever the
 * alignment). Outputs (y, dx) and per-channel vectors are aligned: binding.h refuses others. */
#define BN_AT(p, i) ((p) + (i) * (idx)sizeof(T))

static inline T BN_FN(ld)(const bn_byte *p, idx i)
{
    T v;
    memcpy(&v, BN_AT(p, i), sizeof v);
    return v;
}
#define BN_LD(p, i) BN_FN(ld)(p, i)
#define BN_LDD(p, i) ((double)BN_FN(ld)(p, i)) /* widened to double */

/* the checksum term of value v at the position whose key is `key` (scalars.h) */
static inline uint32_t BN_FN(hash)(T v, uint32_t key)
{
    if (sizeof(T) == sizeof(float)) return bn_value_hash_f32((float)v, key);
    return bn_value_hash_f64((double)v, key);
}
#define BN_KEY(pos) ((uint32_t)(pos) * BN_HASH_KEY)

/* Checksum terms are added in loops of their own over data a kernel's main loop has just read
 * (still in L1), so that neither loop keeps the other from vectorising: mixing 32-bit words
 * with the main loops' doubles in one loop costs far more. */
#define BN_CHUNK 1024 /* values of a run per step (a multiple of L): the chunk stays in L1 */
#define BN_CB 16      /* channels per block of the reductions over runs (accumulators in L1) */

/* h[j] += the term of value j of a row segment of n values, all at one position (key) */
static inline void BN_FN(hash_row)(const bn_byte *restrict p, idx n, uint32_t key,
                                   uint32_t *restrict h)
{
    for (idx j = 0; j < n; j++) h[j] += BN_FN(hash)(BN_LD(p, j), key);
}

/* h[j] += the terms of value j of `rows` consecutive rows (C values apart) of a row segment of
 * n values, the first row at the position whose key is `key`: four rows per step add their
 * terms together before one update of h (a quarter of the loads and stores of h) */
static inline void BN_FN(hash_rows)(const bn_byte *restrict p, idx C, idx rows, idx n,
                                    uint32_t key, uint32_t *restrict h)
{
    idx r = 0;
    for (; r + 4 <= rows; r += 4) {
        const bn_byte *restrict p0 = BN_AT(p, r * C), *restrict p1 = BN_AT(p, (r + 1) * C);
        const bn_byte *restrict p2 = BN_AT(p, (r + 2) * C), *restrict p3 = BN_AT(p, (r + 3) * C);
        const uint32_t k0 = key + (uint32_t)r * BN_HASH_KEY, k1 = k0 + BN_HASH_KEY;
        const uint32_t k2 = k1 + BN_HASH_KEY, k3 = k2 + BN_HASH_KEY;
        for (idx j = 0; j < n; j++)
            h[j] += (BN_FN(hash)(BN_LD(p0, j), k0) + BN_FN(hash)(BN_LD(p1, j), k1)) +
                    (BN_FN(hash)(BN_LD(p2, j), k2) + BN_FN(hash)(BN_LD(p3, j), k3));
    }
    for (; r < rows; r++)
        BN_FN(hash_row)(BN_AT(p, r * C), n, key + (uint32_t)r * BN_HASH_KEY, h);
}

/* Σ of the terms of n consecutive values of a channel, the first at position pos */
static inline uint32_t BN_FN(hash_run)(const bn_byte *restrict p, idx n, idx pos)
{
    uint32_t k = 0, key = BN_KEY(pos);
    for (idx i = 0; i < n; i++) {
        k += BN_FN(hash)(BN_LD(p, i), key);
        key += BN_HASH_KEY;
    }
    return k;
}

/* x - (mh + ml) as a double-double */
static inline void BN_FN(center_dd)(T xv, double mh, double ml, double *ch, double *cl)
{
    double s, e;
    two_sum((double)xv, -mh, &s, &e);
    two_sum(s, e - ml, ch, cl);
}

/* ---- per-channel double-double reductions: Σ x and Σ (x - mu)^2 ---------------------- */
/* (hi, lo) += x, or with `squares` (hi, lo) += (x - mu)^2, x - mu as a double-double */
static inline void BN_FN(acc_dd)(T xv, double mh, double ml, double *ah, double *al, int squares)
{
    if (!squares) {
        dd_acc(ah, al, (double)xv);
        return;
    }
    double ch, cl, p, e;
    BN_FN(center_dd)(xv, mh, ml, &ch, &cl);
    two_prod(ch, ch, &p, &e);
    dd_acc(ah, al, p);
    *al += e + 2.0 * ch * cl;
}

/* Σ x (squares = 0; mh, ml unused) or Σ (x - mu)^2 (squares = 1), normalised double-doubles;
 * with `hashing`, also each channel's checksum of x into hash (scalars.h). Inlined into its
 * kernels with `squares` and `hashing` constants. */
static BN_ALWAYS_INLINE void BN_FN(reduce_dd)(const bn_byte *x, bn_shape s, idx c0, idx c1,
                                              const double *mh, const double *ml, double *out_h,
                                              double *out_l, int squares, uint32_t *hash,
                                              int hashing)
{
    const idx C = s.C, inner = s.inner;
    if (inner == 1) {
        for (idx cb = c0; cb < c1; cb += W) {
            idx w = c1 - cb < W ? c1 - cb : W;
            double ah[W], al[W], h0[W], l0[W];
            uint32_t hh[W];
            for (idx j = 0; j < w; j++) {
                ah[j] = al[j] = 0.0;
                h0[j] = squares ? mh[cb + j] : 0.0;
                l0[j] = squares ? ml[cb + j] : 0.0;
                hh[j] = 0;
            }
            idx o = 0;
            for (; o + R <= s.outer; o += R) {
                const bn_byte *restrict p = BN_AT(x, o * C + cb);
                for (idx j = 0; j < w; j++) {
                    double h = ah[j], l = al[j];
                    for (idx r = 0; r < R; r++)
                        BN_FN(acc_dd)(BN_LD(p, r * C + j), h0[j], l0[j], &h, &l, squares);
                    ah[j] = h;
                    al[j] = l;
                }
                if (hashing)
                    for (idx r = 0; r < R; r++)
                        BN_FN(hash_row)(BN_AT(p, r * C), w, BN_KEY(o + r), hh);
            }
            for (; o < s.outer; o++) {
                const bn_byte *restrict p = BN_AT(x, o * C + cb);
                for (idx j = 0; j < w; j++)
                    BN_FN(acc_dd)(BN_LD(p, j), h0[j], l0[j], &ah[j], &al[j], squares);
                if (hashing) BN_FN(hash_row)(p, w, BN_KEY(o), hh);
            }
            for (idx j = 0; j < w; j++) {
                double h = ah[j], l = al[j];
                dd_norm(&h, &l);
                out_h[cb + j] = h;
                out_l[cb + j] = l;
                if (hashing) hash[cb + j] = hh[j];
            }
        }
        return;
    }
    /* blocks of BN_CB channels, rows outside: the runs are read in memory order, and each
     * channel's values reach its lanes in the same order as one channel at a time */
    for (idx cb = c0; cb < c1; cb += BN_CB) {
        const idx w = c1 - cb < BN_CB ? c1 - cb : BN_CB;
        double ah[BN_CB][L], al[BN_CB][L];
        uint32_t kk[BN_CB];
        for (idx q = 0; q < w; q++) {
            kk[q] = 0;
            for (idx j = 0; j < L; j++) ah[q][j] = al[q][j] = 0.0;
        }
        for (idx o = 0; o < s.outer; o++) {
            for (idx q = 0; q < w; q++) {
                const idx c = cb + q;
                const double h0 = squares ? mh[c] : 0.0, l0 = squares ? ml[c] : 0.0;
                double *restrict vh = ah[q], *restrict vl = al[q];
                const bn_byte *restrict p = BN_AT(x, (o * C + c) * inner);
                for (idx i0 = 0; i0 < inner; i0 += BN_CHUNK) { /* lanes as without chunks */
                    const idx i1 = inner - i0 < BN_CHUNK ? inner : i0 + BN_CHUNK;
                    idx i = i0;
                    for (; i + L <= i1; i += L)
                        for (idx j = 0; j < L; j++)
                            BN_FN(acc_dd)(BN_LD(p, i + j), h0, l0, &vh[j], &vl[j], squares);
                    for (; i < i1; i++)
                        BN_FN(acc_dd)(BN_LD(p, i), h0, l0, &vh[0], &vl[0], squares);
                    if (hashing) kk[q] += BN_FN(hash_run)(BN_AT(p, i0), i1 - i0, o * inner + i0);
                }
            }
        }
        for (idx q = 0; q < w; q++) {
            double h = 0.0, l = 0.0;
            for (idx j = 0; j < L; j++) dd_add(h, l, ah[q][j], al[q][j], &h, &l);
            out_h[cb + q] = h;
            out_l[cb + q] = l;
            if (hashing) hash[cb + q] = kk[q];
        }
    }
}

/* Σ x per channel (double-double), and with hash (not NULL) the checksum of x */
BN_KERNEL void BN_FN(bn_sum_dd)(const bn_byte *x, bn_shape s, idx c0, idx c1, double *out_h,
                                double *out_l, uint32_t *hash)
{
    if (hash)
        BN_FN(reduce_dd)(x, s, c0, c1, NULL, NULL, out_h, out_l, 0, hash, 1);
    else
        BN_FN(reduce_dd)(x, s, c0, c1, NULL, NULL, out_h, out_l, 0, NULL, 0);
}

/* Σ (x - mu)^2 per channel (double-double) */
BN_KERNEL void BN_FN(bn_sqdev_dd)(const bn_byte *x, bn_shape s, idx c0, idx c1, const double *mh,
                                  const double *ml, double *out_h, double *out_l)
{
    BN_FN(reduce_dd)(x, s, c0, c1, mh, ml, out_h, out_l, 1, NULL, 0);
}

/* the checksum of x alone, per channel (a pass of its own: the eval-mode backward, and a
 * backward whose x reaches the kernels widened) */
BN_KERNEL void BN_FN(bn_hash)(const bn_byte *x, bn_shape s, idx c0, idx c1, uint32_t *hash)
{
    const idx C = s.C, inner = s.inner;
    for (idx c = c0; c < c1; c++) hash[c] = 0;
    if (inner == 1) {
        for (idx o = 0; o < s.outer; o++)
            BN_FN(hash_row)(BN_AT(x, o * C + c0), c1 - c0, BN_KEY(o), hash + c0);
        return;
    }
    for (idx c = c0; c < c1; c++) {
        uint32_t k = 0;
        for (idx o = 0; o < s.outer; o++)
            k += BN_FN(hash_run)(BN_AT(x, (o * C + c) * inner), inner, o * inner);
        hash[c] = k;
    }
}

/* ---- Σ (x - mu)^2, plain double, blocked ------------------------------------------------ */
BN_KERNEL void BN_FN(bn_sqdev_fast)(const bn_byte *x, bn_shape s, idx c0, idx c1, const double *mh,
                                    const double *ml, double *out)
{
    const idx C = s.C, inner = s.inner, outer = s.outer;
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
                    const bn_byte *restrict p = BN_AT(x, o * C + cb);
                    for (idx j = 0; j < w; j++) {
                        double t = acc[j], h0 = mh[cb + j], l0 = ml[cb + j];
                        for (idx r = 0; r < R; r++) {
                            double c = (BN_LDD(p, r * C + j) - h0) - l0;
                            t += c * c;
                        }
                        acc[j] = t;
                    }
                }
                for (; o < o1; o++) {
                    const bn_byte *restrict p = BN_AT(x, o * C + cb);
                    for (idx j = 0; j < w; j++) {
                        double c = (BN_LDD(p, j) - mh[cb + j]) - ml[cb + j];
                        acc[j] += c * c;
                    }
                }
                for (idx j = 0; j < w; j++) tot[j] += acc[j];
            }
            for (idx j = 0; j < w; j++) out[cb + j] = tot[j];
        }
        return;
    }
    for (idx cb = c0; cb < c1; cb += BN_CB) { /* memory order, as in reduce_dd */
        const idx w = c1 - cb < BN_CB ? c1 - cb : BN_CB;
        double tot[BN_CB];
        for (idx q = 0; q < w; q++) tot[q] = 0.0;
        for (idx o = 0; o < outer; o++) {
            for (idx q = 0; q < w; q++) {
                const idx c = cb + q;
                const double h0 = mh[c], l0 = ml[c];
                const bn_byte *restrict p = BN_AT(x, (o * C + c) * inner);
                double acc[L];
                for (idx j = 0; j < L; j++) acc[j] = 0.0;
                idx i = 0;
                for (; i + L <= inner; i += L)
                    for (idx j = 0; j < L; j++) {
                        double v = (BN_LDD(p, i + j) - h0) - l0;
                        acc[j] += v * v;
                    }
                for (; i < inner; i++) {
                    double v = (BN_LDD(p, i) - h0) - l0;
                    acc[0] += v * v;
                }
                double t = 0.0;
                for (idx j = 0; j < L; j++) t += acc[j];
                tot[q] += t;
            }
        }
        for (idx q = 0; q < w; q++) out[cb + q] = tot[q];
    }
}

/* ---- y = (x - mu) * s + beta ------------------------------------------------------------ */
/* Each kernel also tells whether y has a NaN or Inf when `check` (eval mode): r - r is 0
 * exactly for a finite r, NaN otherwise; fused into the loop that writes y, it costs about
 * nothing, where a second pass over y would cost a third of the pass. With `hashing` (eval
 * mode for the layer), it also adds each value's checksum term (scalars.h) into hash[c]; the
 * part's rows are rows o0.. of the whole array (their positions in the channel). */
static inline T BN_FN(affine_dd)(T xv, double mh, double ml, double sh, double sl, double b)
{
    double ch, cl, p, e, s, f;
    BN_FN(center_dd)(xv, mh, ml, &ch, &cl);
    two_prod(ch, sh, &p, &e);
    e += ch * sl + cl * sh;
    two_sum(p, b, &s, &f);
    return (T)(s + (f + e));
}

static BN_ALWAYS_INLINE int BN_FN(affine_dd_loops)(const bn_byte *x, bn_shape s, idx c0, idx c1,
                                                   const double *mh, const double *ml,
                                                   const double *sh, const double *sl,
                                                   const double *beta, T *y, int check, idx o0,
                                                   uint32_t *hash, int hashing)
{
    const idx C = s.C, inner = s.inner;
    int bad = 0;
    if (inner == 1) {
        for (idx o = 0; o < s.outer; o++) {
            const bn_byte *restrict p = BN_AT(x, o * C);
            T *restrict q = y + o * C;
            for (idx c = c0; c < c1; c++) {
                T r = BN_FN(affine_dd)(BN_LD(p, c), mh[c], ml[c], sh[c], sl[c], beta[c]);
                q[c] = r;
                if (check) bad |= r - r != 0;
            }
            if (hashing && (o % 4 == 3 || o == s.outer - 1)) /* the last 1 to 4 rows */
                BN_FN(hash_rows)(BN_AT(x, (o - o % 4) * C + c0), C, o % 4 + 1, c1 - c0,
                                 BN_KEY(o0 + o - o % 4), hash + c0);
        }
        return bad;
    }
    /* rows outside, channels inside: the runs are visited in memory order (each element's
     * arithmetic is the same in any order; the checksum is a sum mod 2^32) */
    for (idx o = 0; o < s.outer; o++) {
        for (idx c = c0; c < c1; c++) {
            double a0 = mh[c], a1 = ml[c], s0 = sh[c], s1 = sl[c], b = beta[c];
            uint32_t k = 0;
            const bn_byte *restrict p = BN_AT(x, (o * C + c) * inner);
            T *restrict q = y + (o * C + c) * inner;
            const idx pos = (o0 + o) * inner;
            for (idx i0 = 0; i0 < inner; i0 += BN_CHUNK) {
                const idx i1 = inner - i0 < BN_CHUNK ? inner : i0 + BN_CHUNK;
                for (idx i = i0; i < i1; i++) {
                    T r = BN_FN(affine_dd)(BN_LD(p, i), a0, a1, s0, s1, b);
                    q[i] = r;
                    if (check) bad |= r - r != 0;
                }
                if (hashing) k += BN_FN(hash_run)(BN_AT(p, i0), i1 - i0, pos + i0);
            }
            if (hashing) hash[c] += k;
        }
    }
    return bad;
}

/* y in double-double; with `check`, returns whether y has a non-finite value; with hash (not
 * NULL; only with `check`), adds the checksum terms */
BN_KERNEL int BN_FN(bn_affine_dd)(const bn_byte *x, bn_shape s, idx c0, idx c1, const double *mh,
                                  const double *ml, const double *sh, const double *sl,
                                  const double *beta, T *y, int check, idx o0, uint32_t *hash)
{
    if (hash) return BN_FN(affine_dd_loops)(x, s, c0, c1, mh, ml, sh, sl, beta, y, 1, o0, hash, 1);
    if (check) return BN_FN(affine_dd_loops)(x, s, c0, c1, mh, ml, sh, sl, beta, y, 1, 0, NULL, 0);
    return BN_FN(affine_dd_loops)(x, s, c0, c1, mh, ml, sh, sl, beta, y, 0, 0, NULL, 0);
}

static BN_ALWAYS_INLINE int BN_FN(affine_fast_loops)(const bn_byte *x, bn_shape s, idx c0, idx c1,
                                                     const double *mh, const double *sh,
                                                     const double *beta2, T *y, int check, idx o0,
                                                     uint32_t *hash, int hashing)
{
    const idx C = s.C, inner = s.inner;
    int bad = 0;
    if (inner == 1) {
        for (idx o = 0; o < s.outer; o++) {
            const bn_byte *restrict p = BN_AT(x, o * C);
            T *restrict q = y + o * C;
            for (idx c = c0; c < c1; c++) {
                T r = (T)((BN_LDD(p, c) - mh[c]) * sh[c] + beta2[c]);
                q[c] = r;
                if (check) bad |= r - r != 0;
            }
            if (hashing && (o % 4 == 3 || o == s.outer - 1)) /* the last 1 to 4 rows */
                BN_FN(hash_rows)(BN_AT(x, (o - o % 4) * C + c0), C, o % 4 + 1, c1 - c0,
                                 BN_KEY(o0 + o - o % 4), hash + c0);
        }
        return bad;
    }
    for (idx o = 0; o < s.outer; o++) { /* memory order, as in affine_dd_loops */
        for (idx c = c0; c < c1; c++) {
            double a0 = mh[c], s0 = sh[c], b = beta2[c];
            uint32_t k = 0;
            const bn_byte *restrict p = BN_AT(x, (o * C + c) * inner);
            T *restrict q = y + (o * C + c) * inner;
            const idx pos = (o0 + o) * inner;
            for (idx i0 = 0; i0 < inner; i0 += BN_CHUNK) {
                const idx i1 = inner - i0 < BN_CHUNK ? inner : i0 + BN_CHUNK;
                for (idx i = i0; i < i1; i++) {
                    T r = (T)((BN_LDD(p, i) - a0) * s0 + b);
                    q[i] = r;
                    if (check) bad |= r - r != 0;
                }
                if (hashing) k += BN_FN(hash_run)(BN_AT(p, i0), i1 - i0, pos + i0);
            }
            if (hashing) hash[c] += k;
        }
    }
    return bad;
}

/* y = (x - mh) * s + beta2 in plain double, beta2 = beta - ml * s folded by the caller; with
 * `check`, returns whether y has a non-finite value; with hash (not NULL; only with `check`),
 * adds the checksum terms */
BN_KERNEL int BN_FN(bn_affine_fast)(const bn_byte *x, bn_shape s, idx c0, idx c1, const double *mh,
                                    const double *sh, const double *beta2, T *y, int check, idx o0,
                                    uint32_t *hash)
{
    if (hash) return BN_FN(affine_fast_loops)(x, s, c0, c1, mh, sh, beta2, y, 1, o0, hash, 1);
    if (check) return BN_FN(affine_fast_loops)(x, s, c0, c1, mh, sh, beta2, y, 1, 0, NULL, 0);
    return BN_FN(affine_fast_loops)(x, s, c0, c1, mh, sh, beta2, y, 0, 0, NULL, 0);
}
