/* Kernels for one element type T (float or double), suffix SFX; included twice by family.c. */
#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(name, SFX)

/* statistics of one set: mean (0 for RMS) and 1/sqrt(v + eps), double-doubles */
static void FN(set_stats)(const plan *p, const T *restrict v, Py_ssize_t m, Py_ssize_t s)
{
    double mh = 0.0, ml = 0.0;
    double hi[L], lo[L];
    Py_ssize_t j, k;
    if (!p->rms) {
        for (k = 0; k < L; k++) hi[k] = lo[k] = 0.0;
        for (j = 0; j + L <= m; j += L)
            for (k = 0; k < L; k++) {
                double a = (double)v[j + k], t = hi[k] + a, bb = t - hi[k];
                lo[k] += (hi[k] - (t - bb)) + (a - bb);
                hi[k] = t;
            }
        for (; j < m; j++) {
            double a = (double)v[j], t = hi[0] + a, bb = t - hi[0];
            lo[0] += (hi[0] - (t - bb)) + (a - bb);
            hi[0] = t;
        }
        dd mean = dd_div_d(lanes_total(hi, lo), (double)m);
        mh = mean.hi;
        ml = mean.lo;
    }
    for (k = 0; k < L; k++) hi[k] = lo[k] = 0.0;
    for (j = 0; j + L <= m; j += L)
        for (k = 0; k < L; k++) {
            double x = (double)v[j + k];
            double a = x - mh, bb = a - x;
            double b = ((x - (a - bb)) + (-mh - bb)) - ml; /* x - mean = a + b */
            double q = a * a, e = prod_err(a, a, q) + 2.0 * a * b;
            double t = hi[k] + q, cc = t - hi[k];
            lo[k] += ((hi[k] - (t - cc)) + (q - cc)) + e;
            hi[k] = t;
        }
    for (; j < m; j++) {
        double x = (double)v[j];
        double a = x - mh, bb = a - x;
        double b = ((x - (a - bb)) + (-mh - bb)) - ml;
        double q = a * a, e = prod_err(a, a, q) + 2.0 * a * b;
        double t = hi[0] + q, cc = t - hi[0];
        lo[0] += ((hi[0] - (t - cc)) + (q - cc)) + e;
        hi[0] = t;
    }
    dd var = dd_div_d(lanes_total(hi, lo), (double)m);
    dd e = {p->eps, 0.0};
    dd inv = dd_rsqrt(dd_add(var, e));
    p->mean_hi[s] = mh;
    p->mean_lo[s] = ml;
    p->inv_hi[s] = inv.hi;
    p->inv_lo[s] = inv.lo;
}

/* y = gamma·(x − mean)·inv + beta, in double-double, rounded once */
static inline T FN(affine)(double x, double mh, double ml, dd inv, double g, double b)
{
    double a = x - mh, bb = a - x;
    double lo = ((x - (a - bb)) + (-mh - bb)) - ml;
    double n = a * inv.hi;
    double nl = prod_err(a, inv.hi, n) + (a * inv.lo + lo * inv.hi);
    double y = g * n;
    double yl = prod_err(g, n, y) + g * nl;
    double s = y + b, sb = s - y;
    double sl = ((y - (s - sb)) + (b - sb)) + yl;
    return (T)(s + sl);
}

static void FN(forward)(const plan *p, const T *restrict x, T *restrict y, int threads)
{
    Py_ssize_t sets = p->nb * p->g, m = p->cg * p->inner;
    Py_ssize_t s;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (s = 0; s < sets; s++) {
        const T *v = x + s * m;
        T *out = y + s * m;
        if (p->hash) p->hash[s] = hash_set_f64(v, m);
        FN(set_stats)(p, v, m, s);
        dd inv = {p->inv_hi[s], p->inv_lo[s]};
        double mh = p->mean_hi[s], ml = p->mean_lo[s];
        Py_ssize_t base = (s % p->g) * p->cg;
        for (Py_ssize_t c = 0; c < p->cg; c++) {
            Py_ssize_t off = c * p->inner;
            if (p->inner == 1) {
                /* elementwise parameters: one loop over the whole set */
                const double *gp = p->gamma ? p->gamma + base : NULL;
                const double *bp = p->beta ? p->beta + base : NULL;
                for (Py_ssize_t j = 0; j < m; j++)
                    out[j] = FN(affine)((double)v[j], mh, ml, inv, gp ? gp[j] : 1.0, bp ? bp[j] : 0.0);
                break;
            }
            double g = p->gamma ? p->gamma[base + c] : 1.0;
            double b = p->beta ? p->beta[base + c] : 0.0;
            for (Py_ssize_t j = 0; j < p->inner; j++)
                out[off + j] = FN(affine)((double)v[off + j], mh, ml, inv, g, b);
        }
    }
}

/* one set's backward: dx, and (channel runs) the parameter partial sums */
static void FN(set_backward)(const plan *p, const T *restrict dyv, const T *restrict v, T *restrict dxv,
                             double *restrict part, Py_ssize_t s)
{
    Py_ssize_t m = p->cg * p->inner, base = (s % p->g) * p->cg;
    double mh = p->mean_hi[s], ml = p->mean_lo[s];
    dd inv = {p->inv_hi[s], p->inv_lo[s]};
    double ah[L], al[L], bh[L], bl[L];
    for (int k = 0; k < L; k++) ah[k] = al[k] = bh[k] = bl[k] = 0.0;
    /* A = Σ g, B = Σ g·d, g = gamma·dy, d = x − mean; lane = j mod L */
    for (Py_ssize_t j = 0; j < m; j++) {
        int k = (int)(j % L);
        double gam = p->gamma ? p->gamma[base + (p->inner == 1 ? j : j / p->inner)] : 1.0;
        double dy = (double)dyv[j], x = (double)v[j];
        double gh = gam * dy, gl = prod_err(gam, dy, gh);
        double a = x - mh, bb = a - x;
        double d_lo = ((x - (a - bb)) + (-mh - bb)) - ml;
        double t = ah[k] + gh, cc = t - ah[k];
        al[k] += ((ah[k] - (t - cc)) + (gh - cc)) + gl;
        ah[k] = t;
        double q = gh * a, qe = prod_err(gh, a, q) + (gh * d_lo + gl * a);
        double u = bh[k] + q, uu = u - bh[k];
        bl[k] += ((bh[k] - (u - uu)) + (q - uu)) + qe;
        bh[k] = u;
    }
    dd A = lanes_total(ah, al), B = lanes_total(bh, bl);
    dd ac = dd_div_d(A, (double)m);
    dd bc = dd_div_d(dd_mul(dd_mul(B, inv), inv), (double)m);
    if (p->rms) ac.hi = ac.lo = 0.0;
    for (Py_ssize_t j = 0; j < m; j++) {
        double gam = p->gamma ? p->gamma[base + (p->inner == 1 ? j : j / p->inner)] : 1.0;
        double dy = (double)dyv[j], x = (double)v[j];
        dd g = {gam * dy, 0.0};
        g.lo = prod_err(gam, dy, g.hi);
        double a = x - mh, bb = a - x;
        dd d = {a, ((x - (a - bb)) + (-mh - bb)) - ml};
        dd db = dd_mul(d, bc);
        dd br = dd_add(g, (dd){-db.hi, -db.lo});
        br = dd_add(br, (dd){-ac.hi, -ac.lo});
        double r = br.hi * inv.hi;
        double rl = prod_err(br.hi, inv.hi, r) + (br.hi * inv.lo + br.lo * inv.hi);
        dxv[j] = (T)(r + rl);
    }
    if (!(p->inner == 1 && p->g == 1)) {
        for (Py_ssize_t c = 0; c < p->cg; c++) {
            dd sg = {0.0, 0.0}, sb = {0.0, 0.0};
            for (Py_ssize_t j = c * p->inner; j < (c + 1) * p->inner; j++) {
                double dy = (double)dyv[j], x = (double)v[j];
                double a = x - mh, bb = a - x;
                dd d = {a, ((x - (a - bb)) + (-mh - bb)) - ml};
                double q = dy * d.hi;
                dd t = {q, prod_err(dy, d.hi, q) + dy * d.lo};
                sg = dd_add(sg, t);
                sb = dd_add(sb, (dd){dy, 0.0});
            }
            sg = dd_mul(sg, inv);
            double *o = part + (s * p->cg + c) * 4;
            o[0] = sg.hi; o[1] = sg.lo; o[2] = sb.hi; o[3] = sb.lo;
        }
    }
}

#define COLS 64
static void FN(backward)(const plan *p, const T *restrict dy, const T *restrict x, T *restrict dx,
                         double *restrict part, int threads)
{
    Py_ssize_t sets = p->nb * p->g, m = p->cg * p->inner;
    Py_ssize_t s;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
#pragma omp for schedule(static)
        for (s = 0; s < sets; s++) {
            if (p->hash) p->hash[s] = hash_set_f64(x + s * m, m);
            FN(set_backward)(p, dy + s * m, x + s * m, dx + s * m, part, s);
        }
        if (p->inner == 1 && p->g == 1) {
            /* elementwise parameters: column blocks, each column's sets in order */
            Py_ssize_t blocks = (m + COLS - 1) / COLS, bi;
#pragma omp for schedule(static)
            for (bi = 0; bi < blocks; bi++) {
                Py_ssize_t j0 = bi * COLS, j1 = j0 + COLS < m ? j0 + COLS : m;
                dd sg[COLS], sb[COLS];
                for (Py_ssize_t j = j0; j < j1; j++) sg[j - j0] = sb[j - j0] = (dd){0.0, 0.0};
                for (Py_ssize_t r = 0; r < sets; r++) {
                    double mh = p->mean_hi[r], ml = p->mean_lo[r];
                    dd inv = {p->inv_hi[r], p->inv_lo[r]};
                    const T *dyr = dy + r * m, *xr = x + r * m;
                    for (Py_ssize_t j = j0; j < j1; j++) {
                        double d1 = (double)dyr[j], xv = (double)xr[j];
                        double a = xv - mh, bb = a - xv;
                        dd d = {a, ((xv - (a - bb)) + (-mh - bb)) - ml};
                        dd t = dd_mul(dd_mul(d, inv), (dd){d1, 0.0});
                        sg[j - j0] = dd_add(sg[j - j0], t);
                        sb[j - j0] = dd_add(sb[j - j0], (dd){d1, 0.0});
                    }
                }
                for (Py_ssize_t j = j0; j < j1; j++) {
                    double *o = part + j * 4;
                    o[0] = sg[j - j0].hi; o[1] = sg[j - j0].lo; o[2] = sb[j - j0].hi; o[3] = sb[j - j0].lo;
                }
            }
        }
    }
}
#undef COLS
#undef FN
#undef CAT
#undef CAT2
