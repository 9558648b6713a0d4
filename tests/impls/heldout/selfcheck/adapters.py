"""Self-check adapters: drive each corpus file through one uniform interface.
Written only for the author's own numerical check (not part of the corpus)."""
import importlib.util
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent.parent


def load(name):
    path = HERE / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name + "_sc", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


class Base:
    axis = 1          # channel axis of the arrays handed to the target
    conv = None       # running-statistics convention
    eps = 1e-5
    mom = None
    has_state = True

    def __init__(self, C, g, b):
        self.C = C


# ---------------------------------------------------------------- h01 d2l function
class H01(Base):
    conv, mom = "keras", 0.9
    def __init__(self, C, g, b):
        self.m = load("h01_d2l_moving_stats"); self.g, self.b = g, b
        self.rm, self.rv = np.zeros(C), np.ones(C)
    def train(self, x):
        y, self.rm, self.rv, self.cache = self.m.batch_norm(x, self.g, self.b, self.rm, self.rv, 1e-5, 0.9, True)
        return y
    def backward(self, dy): return self.m.batch_norm_backward(dy, self.cache)
    def evaluate(self, x): return self.m.batch_norm(x, self.g, self.b, self.rm, self.rv, 1e-5, 0.9, False)[0]
    def stats(self): return self.rm, self.rv


# ---------------------------------------------------------------- functional kernels
class Functional(Base):
    has_state = False
    modname = None; prefix = None
    def __init__(self, C, g, b):
        self.m = load(self.modname); self.g, self.b = g, b
        self.f = getattr(self.m, f"{self.prefix}forward"); self.bw = getattr(self.m, f"{self.prefix}backward")
    def train(self, x):
        y, self.cache = self.f(x, self.g, self.b, 1e-5); return y
    def backward(self, dy): return self.bw(dy, self.cache)


class H02(Functional): modname, prefix = "h02_blocked_merge_kernel", "blocked_"
class H06(Functional): modname, prefix = "h06_zero_copy_ravel", "fast_"
class H08(Functional): modname, prefix = "h08_simd_channel_tiles", ""
class H13(Functional): modname, prefix = "h13_blocked_tiled_kernel", "blocked_"
class H29(Functional): modname, prefix = "h29_float32_compute", "bn32_"


# ---------------------------------------------------------------- h03 chainer + global config
class H03(Base):
    conv, mom, eps = "chainer", 0.9, 2e-5
    def __init__(self, C, g, b):
        self.m = load("h03_chainer_link_global_config"); self.l = self.m.BatchNormalization(C)
        self.l.gamma.data = g.copy(); self.l.beta.data = b.copy()
    def train(self, x): return self.l(x)
    def backward(self, dy):
        dx = self.l.backward(dy); return dx, self.l.gamma.grad, self.l.beta.grad
    def evaluate(self, x):
        with self.m.using_config("train", False):
            return self.l(x)
    def stats(self): return self.l.avg_mean, self.l.avg_var


class H04(Base):
    conv, mom = "torch", 0.1
    def __init__(self, C, g, b):
        self.d = load("h04_closure_dict_layer").batchnorm_layer(C)
        self.d["params"]["gamma"] = g.copy(); self.d["params"]["beta"] = b.copy()
    def train(self, x): self.d["train"](); return self.d["forward"](x)
    def backward(self, dy):
        dx = self.d["backward"](dy); return dx, self.d["grads"]["gamma"], self.d["grads"]["beta"]
    def evaluate(self, x): self.d["eval"](); return self.d["forward"](x)
    def stats(self): return self.d["running"]["mean"], self.d["running"]["var"]


class H05(Base):
    conv, mom = "torch", 0.1
    def __init__(self, C, g, b):
        self.m = load("h05_pure_state_dataclass"); p, self.s = self.m.bn_init(C)
        self.p = self.m.BNParams(g.copy(), b.copy())
    def train(self, x):
        y, self.s, self.r = self.m.bn_apply(self.p, self.s, x, train=True); return y
    def backward(self, dy):
        dx, gr = self.m.bn_vjp(self.p, self.r, dy); return dx, gr.scale, gr.offset
    def evaluate(self, x): return self.m.bn_apply(self.p, self.s, x, train=False)[0]
    def stats(self): return self.s.mean, self.s.var


class H07(Base):
    conv, mom = "torch", 0.1
    def __init__(self, C, g, b):
        self.n = load("h07_closure_namespace").make_bn(C)
        self.n.params["gamma"] = g.copy(); self.n.params["beta"] = b.copy()
    def train(self, x): self.n.set_mode("train"); return self.n.forward(x)
    def backward(self, dy):
        dx = self.n.backward(dy); return dx, self.n.grads["gamma"], self.n.grads["beta"]
    def evaluate(self, x): self.n.set_mode("infer"); return self.n.forward(x)
    def stats(self): return self.n.stats["mean"], self.n.stats["var"]


class H09(Base):
    axis, conv, mom = -1, "torch", 0.1
    def __init__(self, C, g, b):
        self.l = load("h09_channels_last_image").ChannelsLastBatchNorm(C); self.l.gamma, self.l.beta = g.copy(), b.copy()
    def train(self, x): return self.l.forward(x, training=True)
    def backward(self, dy): return self.l.backward(dy), self.l.dgamma, self.l.dbeta
    def evaluate(self, x): return self.l.forward(x, training=False)
    def stats(self): return self.l.running_mean, self.l.running_var


class H10(Base):
    conv, mom = "torch", 0.1
    def __init__(self, C, g, b):
        self.l = load("h10_layer_base_flatten").BatchNorm(C); self.l.params["gamma"] = g.copy(); self.l.params["beta"] = b.copy()
    def train(self, x): return self.l(x, training=True)
    def backward(self, dy): return self.l.backward(dy), self.l.grads["gamma"], self.l.grads["beta"]
    def evaluate(self, x): return self.l(x)
    def stats(self): return self.l.running_mean, self.l.running_var


class Lasagne(Base):
    conv, mom, eps = "invstd", 0.1, 1e-4
    modname = None
    def __init__(self, C, g, b):
        self.l = load(self.modname).BatchNormLayer(C); self.l.gamma, self.l.beta = g.copy(), b.copy()
    def train(self, x): return self.l.get_output_for(x, deterministic=False)
    def backward(self, dy): return self.l.backward(dy)
    def evaluate(self, x): return self.l.get_output_for(x, deterministic=True)
    def stats(self): return self.l.mean, self.l.inv_std


class H11(Lasagne): modname = "h11_lasagne_inv_std"
class H12(Lasagne): modname = "h12_lasagne_std_epsilon"


class MiniTorch(Base):
    conv, mom = "torch", 0.1
    modname, cls = None, None
    def __init__(self, C, g, b):
        m = load(self.modname); self.l = getattr(m, self.cls)(C)
        self.l.weight.data = g.copy(); self.l.bias.data = b.copy()
    def train(self, x): self.l.train(); return self.l(x)
    def backward(self, dy): return self.l.backward(dy), self.l.weight.grad, self.l.bias.grad
    def evaluate(self, x): self.l.eval(); return self.l(x)
    def stats(self): return self.l.running_mean, self.l.running_var


class H14(MiniTorch): modname, cls = "h14_minitorch_bn2d", "BatchNorm2d"
class H23(MiniTorch):
    modname, cls = "h23_minitorch_module", "BatchNorm2d"
    def __init__(self, C, g, b):
        self.m = load(self.modname); self.l4 = self.m.BatchNorm2d(C); self.l2 = self.m.BatchNorm1d(C)
        for l in (self.l4, self.l2):
            l.weight.data = g.copy(); l.bias.data = b.copy()
        self.l = None
    def pick(self, x):
        self.l = self.l4 if x.ndim == 4 else self.l2
    def train(self, x): self.pick(x); self.l.train(); return self.l(x)
    def evaluate(self, x): self.pick(x); self.l.eval(); return self.l(x)


class H15(Base):
    conv, mom = "torch", 0.1
    def __init__(self, C, g, b):
        self.m = load("h15_tiny_autograd_tensor"); self.l = self.m.BatchNorm(C)
        self.l.weight.data = g.copy(); self.l.bias.data = b.copy()
    def train(self, x):
        self.l.train(); self.xt = self.m.Tensor(x, requires_grad=True); self.l.zero_grad()
        self.y = self.l(self.xt); return self.y.data
    def backward(self, dy):
        self.y.backward(dy); return self.xt.grad, self.l.weight.grad, self.l.bias.grad
    def evaluate(self, x): self.l.eval(); return self.l(x).data
    def stats(self): return self.l.running_mean, self.l.running_var


class H16(Base):
    conv, mom = "keras", 0.9
    def __init__(self, C, g, b):
        self.l = load("h16_test_batch_adaptive").BatchNorm1dNP(C); self.l.gamma, self.l.beta = g.copy(), b.copy()
    def train(self, x): return self.l.forward(x, True)
    def backward(self, dy): return self.l.backward(dy)
    def evaluate(self, x): return self.l.forward(x, False)
    def stats(self): return self.l.running_mean, self.l.running_var


class CS231n(Base):
    conv, mom = "keras", 0.9
    modname = None
    def __init__(self, C, g, b):
        self.m = load(self.modname); self.g, self.b = g, b; self.p = {"eps": 1e-5, "momentum": 0.9}
        self.p["running_mean"] = np.zeros(C); self.p["running_var"] = np.ones(C)
    def _f(self, x):
        return self.m.spatial_batchnorm_forward if x.ndim == 4 else self.m.batchnorm_forward
    def train(self, x):
        self.p["mode"] = "train"; self.nd = x.ndim
        y, self.cache = self._f(x)(x, self.g, self.b, self.p); return y
    def backward(self, dy):
        f = self.m.spatial_batchnorm_backward if dy.ndim == 4 else self.m.batchnorm_backward
        return f(dy, self.cache)
    def evaluate(self, x):
        self.p["mode"] = "test"; return self._f(x)(x, self.g, self.b, self.p)[0]
    def stats(self): return self.p["running_mean"], self.p["running_var"]
    supports = (2, 4)


class H17(CS231n): modname = "h17_cs231n_einsum"
class H20(CS231n): modname = "h20_cs231n_spatial_direct"


class H18(Base):
    conv, mom = "torch", 0.1
    def __init__(self, C, g, b):
        self.l = load("h18_dataclass_training_field").BatchNormLayer(C, gamma=g.copy(), beta=b.copy())
    def train(self, x): self.l.training = True; return self.l.forward(x)
    def backward(self, dy):
        d = self.l.backward(dy); return d["x"], d["gamma"], d["beta"]
    def evaluate(self, x): self.l.training = False; return self.l.forward(x)
    def stats(self): return self.l.running_mean, self.l.running_var


class Keras(Base):
    axis, conv, mom, eps = -1, "keras", 0.99, 1e-3
    modname = None
    def __init__(self, C, g, b):
        self.l = load(self.modname).BatchNormalization(); self.g, self.b = g, b; self.C = C
    def _ensure(self, x):
        if not self.l.built:
            self.l.build(x.shape); self.l.gamma, self.l.beta = self.g.copy(), self.b.copy()
    def train(self, x): self._ensure(x); return self.l(x, training=True)
    def backward(self, dy): return self.l.backward(dy), self.l.gamma_grad, self.l.beta_grad
    def evaluate(self, x): self._ensure(x); return self.l(x)
    def stats(self):
        if not self.l.built: return np.zeros(self.C), np.ones(self.C)
        return self.l.moving_mean, self.l.moving_variance


class H19(Keras): modname = "h19_keras_build_call"
class H26(Keras): modname = "h26_keras_like_refresh"


class H21(Base):
    conv = "cumulative"
    def __init__(self, C, g, b):
        self.l = load("h21_dataclass_phase_cumulative").BatchNorm(C); self.l.gamma, self.l.beta = g.copy(), b.copy()
    def train(self, x): self.l.phase = "train"; return self.l.forward(x)
    def backward(self, dy):
        d = self.l.backward(dy); return d["x"], d["gamma"], d["beta"]
    def evaluate(self, x): self.l.phase = "inference"; return self.l.forward(x)
    def stats(self): return self.l.running_mean, self.l.running_var


class H22(Base):
    conv, mom, eps = "chainer", 0.9, 2e-5
    def __init__(self, C, g, b):
        self.l = load("h22_chainer_v1_link").BatchNormalization(C); self.l.gamma, self.l.beta = g.copy(), b.copy()
    def train(self, x): return self.l(x)
    def backward(self, dy): return self.l.backward(dy)
    def evaluate(self, x): return self.l(x, test=True)
    def stats(self): return self.l.avg_mean, self.l.avg_var


class Registry(Base):
    conv, mom = "torch", 0.1
    modname, gk, bk, mk, vk = None, None, None, None, None
    def __init__(self, C, g, b):
        self.m = load(self.modname); self.l = self.m.BatchNorm(C); n = self.l.name
        self.m.PARAMS[f"{n}/gamma"] = g.copy(); self.m.PARAMS[f"{n}/beta"] = b.copy()
    def train(self, x): return self.l.forward(x, True)
    def backward(self, dy):
        n = self.l.name; dx = self.l.backward(dy)
        return dx, self.m.GRADS[f"{n}/gamma"], self.m.GRADS[f"{n}/beta"]
    def evaluate(self, x): return self.l.forward(x, False)
    def stats(self):
        n = self.l.name; return self.m.STATE[f"{n}/{self.mk}"], self.m.STATE[f"{n}/{self.vk}"]


class H24(Registry): modname, mk, vk = "h24_registry_inplace_centre", "mean", "var"
class H27(Registry): modname, mk, vk = "h27_global_registry", "running_mean", "running_var"


class H25(Base):
    conv, mom = "keras", 0.9
    def __init__(self, C, g, b):
        self.l = load("h25_welford_is_training").BN(C); self.l.gamma, self.l.beta = g.copy(), b.copy()
    def train(self, x): return self.l.forward(x, True)
    def backward(self, dy): return self.l.backward(dy)
    def evaluate(self, x): return self.l.forward(x, False)
    def stats(self): return self.l.running_mean, self.l.running_var


class H28(Base):
    conv = "cumulative"
    def __init__(self, C, g, b):
        self.m = load("h28_pure_state_cumulative"); _, self.s = self.m.init(C); self.p = self.m.Params(g.copy(), b.copy())
    def train(self, x):
        y, self.s, self.r = self.m.apply(self.p, self.s, x, is_training=True); return y
    def backward(self, dy):
        dx, gr = self.m.vjp(self.p, self.r, dy); return dx, gr.gamma, gr.beta
    def evaluate(self, x): return self.m.apply(self.p, self.s, x, is_training=False)[0]
    def stats(self): return self.s.mean, self.s.var


class H30(Base):
    conv, mom = "invstd", 0.1
    def __init__(self, C, g, b):
        self.l = load("h30_phase_string_inv_std").BatchNorm(C); self.l.gamma, self.l.beta = g.copy(), b.copy()
    def train(self, x): return self.l.forward(x, "train")
    def backward(self, dy): return self.l.backward(dy)
    def evaluate(self, x): return self.l.forward(x, "test")
    def stats(self): return self.l.running_mean, self.l.inv_std


ALL = {k: v for k, v in globals().items() if k.startswith("H") and k[1:].isdigit()}
