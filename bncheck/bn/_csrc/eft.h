/* Error-free transformations and double-double arithmetic for bncheck's kernels.
 *
 * A double-double (hi, lo) represents hi + lo with |lo| <= ulp(hi)/2: about 106 bits.
 * two_sum and two_prod are exact (Knuth; Dekker/Kahan with a fused multiply-add); the
 * dd_* operations below are the usual ones (Bailey's QD library, "sloppy" variants) and
 * err by a few units of 2^-104 relative. This file must be compiled without value-changing
 * optimisations (no -ffast-math, -ffp-contract=off): setup.py says so.
 */
#ifndef BNCHECK_EFT_H
#define BNCHECK_EFT_H

#include <math.h>

static inline void two_sum(double a, double b, double *s, double *e)
{
    double x = a + b;
    double z = x - a;
    *e = (a - (x - z)) + (b - z);
    *s = x;
}

/* valid when |a| >= |b| (or a == 0) */
static inline void fast_two_sum(double a, double b, double *s, double *e)
{
    double x = a + b;
    *e = b - (x - a);
    *s = x;
}

static inline void two_prod(double a, double b, double *p, double *e)
{
    double x = a * b;
    *e = fma(a, b, -x);
    *p = x;
}

/* (hi, lo) += v: Sum2 of Ogita, Rump and Oishi (compensated summation, lo collects errors) */
static inline void dd_acc(double *hi, double *lo, double v)
{
    double s, e;
    two_sum(*hi, v, &s, &e);
    *hi = s;
    *lo += e;
}

static inline void dd_norm(double *hi, double *lo)
{
    double s, e;
    two_sum(*hi, *lo, &s, &e);
    *hi = s;
    *lo = e;
}

static inline void dd_add(double ah, double al, double bh, double bl, double *h, double *l)
{
    double s, e;
    two_sum(ah, bh, &s, &e);
    e += al + bl;
    fast_two_sum(s, e, h, l);
}

static inline void dd_mul(double ah, double al, double bh, double bl, double *h, double *l)
{
    double p, e;
    two_prod(ah, bh, &p, &e);
    e += ah * bl + al * bh;
    fast_two_sum(p, e, h, l);
}

static inline void dd_div(double ah, double al, double bh, double bl, double *h, double *l)
{
    double q1 = ah / bh;
    double ph, pl, rh, rl;
    dd_mul(bh, bl, q1, 0.0, &ph, &pl);
    dd_add(ah, al, -ph, -pl, &rh, &rl);
    double q2 = rh / bh;
    dd_mul(bh, bl, q2, 0.0, &ph, &pl);
    dd_add(rh, rl, -ph, -pl, &rh, &rl);
    double q3 = rh / bh;
    fast_two_sum(q1, q2, h, l);
    dd_add(*h, *l, q3, 0.0, h, l);
}

static inline void dd_sqrt(double ah, double al, double *h, double *l)
{
    if (!(ah > 0.0)) {
        *h = sqrt(ah);
        *l = 0.0;
        return;
    }
    double s = sqrt(ah);
    double p, e;
    two_prod(s, s, &p, &e);
    double r = ((ah - p) - e) + al;
    fast_two_sum(s, r / (2.0 * s), h, l);
}

#endif
