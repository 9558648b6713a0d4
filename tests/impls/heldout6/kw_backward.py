"""Params and buffers in a nested dict; keyword-only `backward(*, grad_output)`;
`set_mode('eval')`."""

import numpy as np


class NestedBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.cfg = {"eps": eps, "momentum": momentum}
        self.tree = {
            "params": {"weight": np.ones(num_features), "bias": np.zeros(num_features)},
            "buffers": {"mean": np.zeros(num_features), "var": np.ones(num_features)},
            "grads": {"weight": None, "bias": None},
        }
        self.mode = "train"

    def set_mode(self, mode):
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        self.mode = mode

    def forward(self, x):
        p, b = self.tree["params"], self.tree["buffers"]
        eps, mom = self.cfg["eps"], self.cfg["momentum"]
        red = (0, *range(2, x.ndim))
        bshape = [1] * x.ndim
        bshape[1] = -1
        xx = x.astype(np.float64)
        if self.mode == "train":
            mu = xx.mean(axis=red)
            var = xx.var(axis=red)
            cnt = xx.size / xx.shape[1]
            b["mean"] = b["mean"] + mom * (mu - b["mean"])
            b["var"] = b["var"] + mom * (var * cnt / (cnt - 1) - b["var"])
        else:
            mu, var = b["mean"], b["var"]
        rs = 1.0 / np.sqrt(var + eps)
        xhat = (xx - mu.reshape(bshape)) * rs.reshape(bshape)
        self._mem = {"xhat": xhat, "rs": rs, "bshape": bshape, "red": red, "dtype": x.dtype}
        return (xhat * p["weight"].reshape(bshape) + p["bias"].reshape(bshape)).astype(x.dtype)

    def backward(self, *, grad_output):
        m = self._mem
        bs, red = m["bshape"], m["red"]
        g = grad_output.astype(np.float64)
        n = g.size // g.shape[1]
        gb = g.sum(axis=red)
        gw = (g * m["xhat"]).sum(axis=red)
        self.tree["grads"]["weight"] = gw
        self.tree["grads"]["bias"] = gb
        w = self.tree["params"]["weight"]
        dx = (w * m["rs"] / n).reshape(bs) * (n * g - gb.reshape(bs) - m["xhat"] * gw.reshape(bs))
        return dx.astype(m["dtype"])
