"""Independent self-check of the held-out BN corpus (float64 reference, finite differences,
running statistics per convention, eval, input mutation, cache reuse, layouts, sizes)."""
import importlib
import sys
import traceback

import numpy as np

sys.path.insert(0, ".")
rng = np.random.default_rng(12345)


# ---------------------------------------------------------------- reference
def ref_fwd(x, g, b, eps, axis):
    x = np.asarray(x, dtype=np.float64)
    ax = axis % x.ndim
    red = tuple(i for i in range(x.ndim) if i != ax)
    shp = [1] * x.ndim
    shp[ax] = -1
    mu = x.mean(axis=red, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=red, keepdims=True)
    xhat = xc / np.sqrt(var + eps)
    return xhat * np.reshape(g, shp) + np.reshape(b, shp), (xhat, var, red, shp, g, eps)


def ref_bwd(dy, c):
    xhat, var, red, shp, g, eps = c
    dy = np.asarray(dy, np.float64)
    db = dy.sum(axis=red)
    dg = (dy * xhat).sum(axis=red)
    d = dy * np.reshape(g, shp)
    dx = (d - d.mean(axis=red, keepdims=True) - xhat * (d * xhat).mean(axis=red, keepdims=True)) / np.sqrt(var + eps)
    return dx, dg, db


def close(a, b, rtol=1e-8, atol=None):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False, f"shape {a.shape} vs {b.shape}"
    scale = max(np.abs(b).max(), 1e-300)
    err = np.abs(a - b).max()
    tol = atol if atol is not None else rtol * scale
    return err <= tol, f"maxerr {err:.3g} (tol {tol:.3g})"


# ---------------------------------------------------------------- adapters
class Fn:
    kind = "fn"

    def __init__(self, mod, f, b, axis=1, eps=1e-5):
        self.m = importlib.import_module(mod)
        self.f, self.b = getattr(self.m, f), getattr(self.m, b)
        self.axis, self.eps = axis, eps

    def fwd(self, x, g, b):
        y, c = self.f(x, g, b, self.eps)
        return np.asarray(y), c

    def bwd(self, dy, c):
        dx, dg, db = self.b(dy, c)
        return dx, dg, db


class Layer:
    kind = "layer"

    def __init__(self, mod, make, setgb, train, bwd, ev, stats, conv="torch", mom=0.1, eps=1e-5, axis=1):
        self.m = importlib.import_module(mod)
        self._make, self._setgb, self._train, self._bwd, self._eval, self._stats = make, setgb, train, bwd, ev, stats
        self.conv, self.mom, self.eps, self.axis = conv, mom, eps, axis

    def make(self, C):
        o = self._make(self.m, C)
        self.st = {}
        return o

    def setgb(self, o, g, b):
        self._setgb(o, g, b)

    def train(self, o, x):
        return np.asarray(self._train(o, x, self.st))

    def bwd(self, o, dy):
        return self._bwd(o, dy, self.st)

    def eval(self, o, x):
        return np.asarray(self._eval(o, x))

    def stats(self, o):
        rm, rv = self._stats(o)
        return np.array(rm, np.float64), np.array(rv, np.float64)


def _n03_train(o, x, st):
    V = sys.modules["n03_variable_graph"].Variable
    xv = V(x)
    o.train()
    y = o(xv)
    st["x"], st["y"] = xv, y
    return y.data


def _n03_bwd(o, dy, st):
    st["y"].backward(dy)
    return st["x"].grad, o.gamma.grad, o.beta.grad


def _n03_eval(o, x):
    o.eval()
    return o(x).data


def _n02_train(m, x, st):
    m.train()
    return m.forward(x)


def _n02_bwd(m, dy, st):
    dx = m.backward(dy)
    bn = m.layers[0]
    return dx, bn.weight.grad, bn.bias.grad


def _n02_eval(m, x):
    m.eval()
    return m.forward(x)


def _n11_train(o, x, st):
    o.train()
    return o.forward(x)


def _n11_eval(o, x):
    o.eval()
    return o.forward(x)


def _n12_set(o, mode):
    o.set_mode(mode)
    return o


def _setattr2(a, b):
    def f(o, g, bb):
        setattr(o, a, g.copy())
        setattr(o, b, bb.copy())
    return f


TARGETS = {
    "n01_slots_callable": Layer("n01_slots_callable", lambda m, C: m.SlotsBN(C), _setattr2("gamma", "beta"),
                                lambda o, x, st: o(x, training=True),
                                lambda o, dy, st: (o.backward(dy), o.dgamma, o.dbeta),
                                lambda o, x: o(x, training=False), lambda o: (o.running_mean, o.running_var)),
    "n02_sequential_container": Layer("n02_sequential_container", lambda m, C: m.model(C),
                                      lambda m, g, b: (setattr(m.layers[0].weight, "value", g.copy()), setattr(m.layers[0].bias, "value", b.copy())),
                                      _n02_train, _n02_bwd, _n02_eval,
                                      lambda m: (m.layers[0].buffers["running_mean"], m.layers[0].buffers["running_var"])),
    "n03_variable_graph": Layer("n03_variable_graph", lambda m, C: m.BatchNorm(C),
                                lambda o, g, b: (setattr(o, "gamma", sys.modules["n03_variable_graph"].Variable(g.copy())),
                                                 setattr(o, "beta", sys.modules["n03_variable_graph"].Variable(b.copy()))),
                                _n03_train, _n03_bwd, _n03_eval, lambda o: (o.running_mean, o.running_var)),
    "n04_generator_cache": Fn("n04_generator_cache", "forward", "backward"),
    "n05_einsum_keepdims": Fn("n05_einsum_keepdims", "bn_forward", "bn_backward"),
    "n06_per_sample_list": Layer("n06_per_sample_list", lambda m, C: m.ListBatchNorm(C), _setattr2("scale", "shift"),
                                 lambda o, x, st: o.forward(list(x), train=True),
                                 lambda o, dy, st: (o.backward(list(dy)), o.grad["scale"], o.grad["shift"]),
                                 lambda o, x: o.forward(list(x), train=False), lambda o: (o.mean_ema, o.var_ema)),
    "n07_keras_decay_stack": Layer("n07_keras_decay_stack", lambda m, C: m.StackedBN(C), _setattr2("gamma", "beta"),
                                   lambda o, x, st: o.call(x, training=True),
                                   lambda o, dy, st: (o.backprop(dy), o.gamma_grad, o.beta_grad),
                                   lambda o, x: o.call(x, training=False), lambda o: (o.moving[0], o.moving[1]),
                                   conv="keras", mom=0.99, eps=1e-3, axis=-1),
    "n08_export_inference": Layer("n08_export_inference", lambda m, C: m.TrainBN(C), _setattr2("weight", "bias"),
                                  lambda o, x, st: o.forward(x),
                                  lambda o, dy, st: (o.backward(dy), o.weight_grad, o.bias_grad),
                                  lambda o, x: o.export().forward(x), lambda o: (o.running_mean, o.running_var)),
    "n09_namedtuple_workspace": Fn("n09_namedtuple_workspace", "batchnorm_forward", "batchnorm_backward"),
    "n10_affine_rows": Layer("n10_affine_rows", lambda m, C: m.AffineRowsBN(C),
                             lambda o, g, b: setattr(o, "affine", np.stack([g, b])),
                             lambda o, x, st: o.forward(x, training=True),
                             lambda o, dy, st: (o.backward(dy), o.d_affine[0], o.d_affine[1]),
                             lambda o, x: o.forward(x, training=False), lambda o: (o.running[0], o.running[1])),
    "n11_decay_tracked": Layer("n11_decay_tracked", lambda m, C: m.TrackedBatchNorm(C), _setattr2("weight", "bias"),
                               _n11_train, lambda o, dy, st: (o.backward(dy), o.grad_weight, o.grad_bias),
                               _n11_eval, lambda o: (o.running_mean, o.running_var), conv="cumulative"),
    "n12_mode_enum": Layer("n12_mode_enum", lambda m, C: m.EnumModeBN(C), _setattr2("gamma", "beta"),
                           lambda o, x, st: _n12_set(o, "train").forward(x),
                           lambda o, dy, st: (o.backward(dy), o.dgamma, o.dbeta),
                           lambda o, x: _n12_set(o, "infer").forward(x), lambda o: (o.running_mean, o.running_var)),
    "n13_loop_kernel": Fn("n13_loop_kernel", "bn_loop_forward", "bn_loop_backward"),
    "n14_sum_sumsq_stats": Fn("n14_sum_sumsq_stats", "bn_forward", "bn_backward"),
    "n15_ctx_function": Layer("n15_ctx_function", lambda m, C: m.BatchNorm(C), _setattr2("weight", "bias"),
                              _n11_train, lambda o, dy, st: (o.backward(dy), o.weight_grad, o.bias_grad),
                              _n11_eval, lambda o: (o.running_mean, o.running_var)),
    "n16_nhwc_tiles": Fn("n16_nhwc_tiles", "nhwc_bn_forward", "nhwc_bn_backward", axis=-1),
}


# ---------------------------------------------------------------- driving
def run_train(t, x, g, b, obj=None):
    """returns y, backward-callable, obj"""
    if t.kind == "fn":
        y, c = t.fwd(x, g, b)
        return y, (lambda dy: t.bwd(dy, c)), None
    o = obj if obj is not None else t.make(x.shape[t.axis])
    t.setgb(o, g, b)
    y = t.train(o, x)
    return y, (lambda dy: t.bwd(o, dy)), o


def shapes(axis):
    s2 = [(7, 3), (2, 5), (16, 8)]
    s4 = [(3, 4, 5, 2), (2, 3, 1, 1), (4, 2, 3, 3)]
    if axis == -1:
        s4 = [(3, 5, 2, 4), (2, 1, 1, 3), (4, 3, 3, 2)]
    return s2, s4


def mk(shape, axis, dtype=np.float64, mean=0.0):
    ax = axis % len(shape)
    C = shape[ax]
    shp = [1] * len(shape)
    shp[ax] = C
    x = rng.normal(size=shape) * rng.uniform(0.5, 3, C).reshape(shp) + rng.normal(size=C).reshape(shp) * 2 + mean
    return x.astype(dtype), rng.normal(size=C) + 1.5, rng.normal(size=C)


def check_target(name, t):
    res = {}

    def rec(k, ok, msg=""):
        prev = res.get(k)
        if prev is None or prev[0]:
            res[k] = (ok, msg)

    s2, s4 = shapes(t.axis)
    for rank, ss in (("2d", s2), ("4d", s4)):
        for sh in ss:
            x, g, b = mk(sh, t.axis)
            x0 = x.copy()
            try:
                y, back, o = run_train(t, x, g, b)
            except Exception as e:
                rec(f"fwd{rank}", False, f"{sh}: raised {e!r}")
                continue
            rec("input-unchanged", np.array_equal(x, x0), f"{sh}")
            x = x0
            yr, c = ref_fwd(x, g, b, t.eps, t.axis)
            ok, m = close(y, yr, 1e-9)
            rec(f"fwd{rank}", ok, f"{sh} {m}")
            dy = rng.normal(size=sh)
            dy0 = dy.copy()
            dx, dg, db = back(dy)
            dxr, dgr, dbr = ref_bwd(dy0, c)
            for nm, a, r in (("dx", dx, dxr), ("dgamma", dg, dgr), ("dbeta", db, dbr)):
                ok, m = close(np.asarray(a).reshape(r.shape) if np.size(a) == r.size else a, r, 1e-8)
                rec(f"bwd{rank}", ok, f"{sh} {nm} {m}")
            # non-contiguous: same values, transposed-memory layout
            xn = np.asfortranarray(x)
            xs = np.zeros(tuple(2 * s for s in sh[:1]) + sh[1:])
            xs[::2] = x
            for lay, xx in (("fortran", xn), ("strided", xs[::2])):
                y2, back2, _ = run_train(t, xx, g, b)
                ok, m = close(y2, yr, 1e-9)
                rec(f"noncontig-fwd", ok, f"{lay} {sh} {m}")
                dx2, _, _ = back2(np.asfortranarray(dy0))
                ok, m = close(dx2, dxr, 1e-8)
                rec(f"noncontig-bwd", ok, f"{lay} {sh} {m}")
        # finite differences of the target's own forward
        sh = ss[0]
        x, g, b = mk(sh, t.axis)
        dy = rng.normal(size=sh)
        y, back, o = run_train(t, x.copy(), g, b)
        dx = np.asarray(back(dy.copy())[0])
        h = 1e-6
        fd = np.zeros_like(x)
        for i in np.ndindex(*sh):
            xp = x.copy(); xp[i] += h
            xm = x.copy(); xm[i] -= h
            fd[i] = ((run_train(t, xp, g, b)[0] - run_train(t, xm, g, b)[0]) * dy).sum() / (2 * h)
        ok, m = close(dx, fd, 1e-5)
        rec(f"fd{rank}", ok, m)

    # large sizes and many channels
    bigs = [(5000, 3), (300, 16)] + ([(2, 3, 64, 64)] if t.axis == 1 else [(2, 64, 64, 3)])
    for sh in bigs:
        x, g, b = mk(sh, t.axis)
        y, back, _ = run_train(t, x.copy(), g, b)
        yr, c = ref_fwd(x, g, b, t.eps, t.axis)
        ok, m = close(y, yr, 1e-9)
        rec("big-fwd", ok, f"{sh} {m}")
        dy = rng.normal(size=sh)
        dx = back(dy.copy())[0]
        ok, m = close(dx, ref_bwd(dy, c)[0], 1e-8)
        rec("big-bwd", ok, f"{sh} {m}")

    # float32 with a large mean: compare with float64 truth of the float32 values
    for sh in ((64, 4), s4[0]):
        x, g, b = mk(sh, t.axis, np.float32, mean=1000.0)
        y, back, _ = run_train(t, x.copy(), g.astype(np.float32), b.astype(np.float32))
        yr, c = ref_fwd(x.astype(np.float64), g.astype(np.float32), b.astype(np.float32), t.eps, t.axis)
        ok, m = close(y, yr, atol=2e-2)
        rec("f32-largemean-fwd", ok, f"{sh} {m}")
        rec("f32-dtype", np.asarray(y).dtype == np.float32, str(np.asarray(y).dtype))

    # cache independence (function API): backward with an older cache after a second forward
    if t.kind == "fn":
        sh = s4[0]
        x1, g, b = mk(sh, t.axis)
        x2, _, _ = mk(sh, t.axis)
        y1, c1 = t.fwd(x1.copy(), g, b)
        y2, c2 = t.fwd(x2.copy(), g, b)
        dy = rng.normal(size=sh)
        dx = t.bwd(dy.copy(), c1)[0]
        ok, m = close(dx, ref_bwd(dy, ref_fwd(x1, g, b, t.eps, t.axis)[1])[0], 1e-8)
        rec("cache-independent", ok, m)
        dxb = t.bwd(dy.copy(), c1)[0]
        rec("backward-repeatable", np.allclose(dx, dxb), "")

    # running statistics + eval (layers)
    if t.kind == "layer":
        for sh in (s2[0], s4[0]):
            C = sh[t.axis]
            o = t.make(C)
            g = rng.normal(size=C) + 1.5
            b = rng.normal(size=C)
            t.setgb(o, g, b)
            erm, erv = np.zeros(C), np.ones(C)
            ax = t.axis % len(sh)
            red = tuple(i for i in range(len(sh)) if i != ax)
            for k in range(1, 5):
                x, _, _ = mk(sh, t.axis)
                t.train(o, x)
                mu = x.mean(axis=red)
                n = x.size // C
                vb = x.var(axis=red)
                vu = vb * n / (n - 1)
                if t.conv == "torch":
                    erm = 0.9 * erm + 0.1 * mu
                    erv = 0.9 * erv + 0.1 * vu
                elif t.conv == "keras":
                    erm = t.mom * erm + (1 - t.mom) * mu
                    erv = t.mom * erv + (1 - t.mom) * vb
                elif t.conv == "cumulative":
                    erm = erm + (mu - erm) / k
                    erv = erv + (vu - erv) / k
            rm, rv = t.stats(o)
            ok1, m1 = close(rm, erm, 1e-9)
            ok2, m2 = close(rv, erv, 1e-9)
            rec("running", ok1 and ok2, f"{sh} mean {m1}; var {m2}")
            x, _, _ = mk(sh, t.axis)
            shp = [1] * len(sh)
            shp[ax] = -1
            ye = (x - rm.reshape(shp)) / np.sqrt(rv.reshape(shp) + t.eps) * g.reshape(shp) + b.reshape(shp)
            y = t.eval(o, x.copy())
            ok, m = close(y, ye, 1e-9)
            rec("eval", ok, f"{sh} {m}")
            rm2, rv2 = t.stats(o)
            rec("eval-no-state-change", np.array_equal(rm, rm2) and np.array_equal(rv, rv2), "")
            # eval on one sample of the batch equals the same row of the batch eval
            y1 = t.eval(o, x[:1].copy())
            ok, m = close(y1, ye[:1], 1e-9)
            rec("eval-batch-independent", ok, m)
    return res


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(TARGETS)
    for nm in names:
        try:
            res = check_target(nm, TARGETS[nm])
        except Exception:
            print(nm, "CRASH")
            traceback.print_exc()
            continue
        bad = {k: v for k, v in res.items() if not v[0]}
        print(f"{nm}: {'OK (all correct)' if not bad else 'WRONG'}  [{len(res)} checks]")
        for k, (ok, m) in bad.items():
            print(f"    FAIL {k}: {m}")
