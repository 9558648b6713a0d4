"""Layers written in styles no name table lists, for the discovery by behaviour
(tests/check/test_discovery.py): parameters and gradients in lists, a mode string read from the
code, a backward called grad, a dict of functions, caches named like running statistics."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np


def _axes(x: Any) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _shape(x: Any) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.ndim - 2)


class ListedBN:
    """``__call__(x, train=)`` and ``grad(dout)``; ``self.params = [gamma, beta]``, gradients in
    ``self.grads = [dgamma, dbeta]``, running statistics in ``self.stats = (mean, var)``
    (torch convention, momentum 0.1). ``sign`` flips the x_hat term of dx (a planted bug)."""

    sign = 1.0

    def __init__(self, n: int) -> None:
        self.params = [np.ones(n), np.zeros(n)]
        self.grads = [np.zeros(n), np.zeros(n)]
        self.stats = (np.zeros(n), np.ones(n))
        self.eps = 1e-5

    def __call__(self, x: Any, train: bool = True) -> Any:
        ax, sh = _axes(x), _shape(x)
        if train:
            mu, var = x.mean(axis=ax), x.var(axis=ax)
            m = x.size // x.shape[1]
            self.stats[0][...] = 0.9 * self.stats[0] + 0.1 * mu
            self.stats[1][...] = 0.9 * self.stats[1] + 0.1 * var * m / (m - 1)
        else:
            mu, var = self.stats
        self.inv = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (x - mu.reshape(sh)) * self.inv.reshape(sh)
        self.ax, self.sh = ax, sh
        return self.params[0].reshape(sh) * self.xhat + self.params[1].reshape(sh)

    def grad(self, dout: Any) -> Any:
        m = dout.size // dout.shape[1]
        self.grads[1] = dout.sum(axis=self.ax)
        self.grads[0] = (dout * self.xhat).sum(axis=self.ax)
        term = self.sign * self.xhat * self.grads[0].reshape(self.sh) / m
        bracket = dout - self.grads[1].reshape(self.sh) / m - term
        return (self.params[0] * self.inv).reshape(self.sh) * bracket


class ListedBNSignError(ListedBN):
    """ListedBN with the sign of the x_hat term of dx flipped."""

    sign = -1.0


class PhaseBN:
    """A ``stage`` attribute that takes "fit" or "serve" (words no table lists); keeps its running
    statistics as ``ema = {"m": ..., "v": ...}`` (keras convention, momentum 0.9 of the old)."""

    def __init__(self, n: int) -> None:
        self.stage = "fit"
        self.w, self.b = np.ones(n), np.zeros(n)
        self.ema = {"m": np.zeros(n), "v": np.ones(n)}
        self.eps = 1e-3

    def forward(self, x: Any) -> Any:
        ax, sh = _axes(x), _shape(x)
        if self.stage == "fit":
            mu, var = x.mean(axis=ax), x.var(axis=ax)
            self.ema = {
                "m": 0.9 * self.ema["m"] + 0.1 * mu,
                "v": 0.9 * self.ema["v"] + 0.1 * var,
            }
        elif self.stage == "serve":
            mu, var = self.ema["m"], self.ema["v"]
        else:
            raise ValueError(f"stage must be 'fit' or 'serve', not {self.stage!r}")
        self.inv = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (x - mu.reshape(sh)) * self.inv.reshape(sh)
        self.ax, self.sh = ax, sh
        return self.w.reshape(sh) * self.xhat + self.b.reshape(sh)

    def backward(self, dy: Any) -> Any:
        m = dy.size // dy.shape[1]
        self.gw = (dy * self.xhat).sum(axis=self.ax)
        self.gb = dy.sum(axis=self.ax)
        bracket = dy - self.gb.reshape(self.sh) / m - self.xhat * self.gw.reshape(self.sh) / m
        return (self.w * self.inv).reshape(self.sh) * bracket


class PhaseBNServeShift(PhaseBN):
    """PhaseBN whose serve stage forgets beta (a planted eval-only bug)."""

    def forward(self, x: Any) -> Any:
        y = super().forward(x)
        if self.stage == "serve":
            y = y - self.b.reshape(_shape(x))
        return y


def dict_layer(n: int) -> dict[str, Any]:
    """A factory returning a dict of closures sharing state (no class at all)."""
    params = {"g": np.ones(n), "b": np.zeros(n)}
    running = {"mean": np.zeros(n), "var": np.ones(n)}
    grads: dict[str, Any] = {}
    state: dict[str, Any] = {"training": True}
    eps = 1e-5

    def forward(x: Any) -> Any:
        ax, sh = _axes(x), _shape(x)
        if state["training"]:
            mu, var = x.mean(axis=ax), x.var(axis=ax)
            m = x.size // x.shape[1]
            running["mean"] = 0.9 * running["mean"] + 0.1 * mu
            running["var"] = 0.9 * running["var"] + 0.1 * var * m / (m - 1)
        else:
            mu, var = running["mean"], running["var"]
        inv = 1.0 / np.sqrt(var + eps)
        xhat = (x - mu.reshape(sh)) * inv.reshape(sh)
        state.update(xhat=xhat, inv=inv, ax=ax, sh=sh)
        return params["g"].reshape(sh) * xhat + params["b"].reshape(sh)

    def backward(dy: Any) -> Any:
        xhat, inv, ax, sh = state["xhat"], state["inv"], state["ax"], state["sh"]
        m = dy.size // dy.shape[1]
        grads["b"] = dy.sum(axis=ax)
        grads["g"] = (dy * xhat).sum(axis=ax)
        bracket = dy - grads["b"].reshape(sh) / m - xhat * grads["g"].reshape(sh) / m
        return (params["g"] * inv).reshape(sh) * bracket

    def train() -> None:
        state["training"] = True

    def eval() -> None:
        state["training"] = False

    return {
        "forward": forward,
        "backward": backward,
        "train": train,
        "eval": eval,
        "params": params,
        "running": running,
        "grads": grads,
    }


class NoSwitchBN:
    """Keeps running statistics but has no way to be put in eval mode at all."""

    def __init__(self, n: int) -> None:
        self.gamma, self.beta = np.ones(n), np.zeros(n)
        self.running_mean, self.running_var = np.zeros(n), np.ones(n)

    def forward(self, x: Any) -> Any:
        ax, sh = _axes(x), _shape(x)
        mu, var = x.mean(axis=ax), x.var(axis=ax)
        self.running_mean = 0.9 * self.running_mean + 0.1 * mu
        self.running_var = 0.9 * self.running_var + 0.1 * var
        self.inv = 1.0 / np.sqrt(var + 1e-5)
        self.xhat = (x - mu.reshape(sh)) * self.inv.reshape(sh)
        self.ax, self.sh = ax, sh
        return self.gamma.reshape(sh) * self.xhat + self.beta.reshape(sh)

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        m = dy.size // dy.shape[1]
        dg, db = (dy * self.xhat).sum(axis=self.ax), dy.sum(axis=self.ax)
        bracket = dy - db.reshape(self.sh) / m - self.xhat * dg.reshape(self.sh) / m
        return (self.gamma * self.inv).reshape(self.sh) * bracket, dg, db


class Float64StatsBN(NoSwitchBN):
    """Keeps float64 running statistics whatever the input, updated as
    ``0.9·old + 0.1·batch`` (keras convention, biased variance) with a ``training`` flag; handed
    float32 statistics for a float32 run, its first update rounds ``0.9·old`` in float32."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.training = True

    def forward(self, x: Any) -> Any:
        ax, sh = _axes(x), _shape(x)
        xw = x.astype(np.float64)
        if self.training:
            mu, var = xw.mean(axis=ax), xw.var(axis=ax)
            self.running_mean = 0.9 * self.running_mean + 0.1 * mu
            self.running_var = 0.9 * self.running_var + 0.1 * var
        else:
            mu, var = self.running_mean, self.running_var
        self.inv = 1.0 / np.sqrt(var + 1e-5)
        self.xhat = (xw - mu.reshape(sh)) * self.inv.reshape(sh)
        self.ax, self.sh = ax, sh
        y = self.gamma.reshape(sh) * self.xhat + self.beta.reshape(sh)
        return y.astype(x.dtype)

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        dx, dg, db = super().backward(dy.astype(np.float64))
        return dx.astype(dy.dtype), dg, db


class Float64StatsOffBN(Float64StatsBN):
    """Float64StatsBN whose running variance update uses 0.89 for the old value (a planted
    error of 1 % of the old weight, far above any rounding)."""

    def forward(self, x: Any) -> Any:
        old = np.array(self.running_var, dtype=np.float64)
        y = super().forward(x)
        if self.training:
            self.running_var = self.running_var - 0.01 * old
        return y


class InvStdEpsOutsideBN(NoSwitchBN):
    """A running inverse standard deviation 1/(sqrt(var) + eps) (eps outside the root) with a
    ``training`` flag; the forward in training is right."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        del self.running_var
        self.inv_std = np.ones(n)
        self.training = True
        self.eps = 1e-3

    def forward(self, x: Any) -> Any:
        ax, sh = _axes(x), _shape(x)
        if self.training:
            mu, var = x.mean(axis=ax), x.var(axis=ax)
            self.running_mean = 0.9 * self.running_mean + 0.1 * mu
            self.inv_std = 0.9 * self.inv_std + 0.1 / (np.sqrt(var) + self.eps)
            self.inv = 1.0 / np.sqrt(var + self.eps)
        else:
            mu, self.inv = self.running_mean, self.inv_std
        self.xhat = (x - mu.reshape(sh)) * self.inv.reshape(sh)
        self.ax, self.sh = ax, sh
        return self.gamma.reshape(sh) * self.xhat + self.beta.reshape(sh)


class _Settings:
    """A process-wide configuration, as some frameworks keep their train/test switch."""

    learning = True


SETTINGS = _Settings()


class GlobalSwitchBN(NoSwitchBN):
    """Switched only by the module-level ``SETTINGS.learning`` (no argument, attribute or
    method of its own); torch convention."""

    def forward(self, x: Any) -> Any:
        ax, sh = _axes(x), _shape(x)
        if SETTINGS.learning:
            mu, var = x.mean(axis=ax), x.var(axis=ax)
            m = x.size // x.shape[1]
            self.running_mean = 0.9 * self.running_mean + 0.1 * mu
            self.running_var = 0.9 * self.running_var + 0.1 * var * m / (m - 1)
        else:
            mu, var = self.running_mean, self.running_var
        self.inv = 1.0 / np.sqrt(var + 1e-5)
        self.xhat = (x - mu.reshape(sh)) * self.inv.reshape(sh)
        self.ax, self.sh = ax, sh
        return self.gamma.reshape(sh) * self.xhat + self.beta.reshape(sh)


class KeepsInputsBN(NoSwitchBN):
    """Keeps every training input since its last ``flush_gradients()`` and back-propagates the
    oldest when given one dy (as a layer accumulating a batch of steps before an update does);
    correct when driven one forward per flush. ``trainable`` switches train/eval."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.trainable = True
        self.kept: list[Any] = []

    def flush_gradients(self) -> None:
        self.kept = []

    def forward(self, x: Any) -> Any:
        ax, sh = _axes(x), _shape(x)
        if not self.trainable:
            xhat = (x - self.running_mean.reshape(sh)) / np.sqrt(
                self.running_var.reshape(sh) + 1e-5
            )
            return self.gamma.reshape(sh) * xhat + self.beta.reshape(sh)
        mu, var = x.mean(axis=ax), x.var(axis=ax)
        self.running_mean = 0.9 * self.running_mean + 0.1 * mu
        self.running_var = 0.9 * self.running_var + 0.1 * var
        inv = 1.0 / np.sqrt(var + 1e-5)
        xhat = (x - mu.reshape(sh)) * inv.reshape(sh)
        self.kept.append((xhat, inv, ax, sh))
        return self.gamma.reshape(sh) * xhat + self.beta.reshape(sh)

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        xhat, inv, ax, sh = self.kept[0]
        m = dy.size // dy.shape[1]
        dg, db = (dy * xhat).sum(axis=ax), dy.sum(axis=ax)
        bracket = dy - db.reshape(sh) / m - xhat * dg.reshape(sh) / m
        return (self.gamma * inv).reshape(sh) * bracket, dg, db


class RowsBN(NoSwitchBN):
    """gamma and beta as the rows of one (2, C) array ``affine``, their gradients as the rows of
    ``d_affine``, the running mean and variance as the rows of ``stats``; keras convention;
    a ``training`` flag. ``d_affine`` is made by the backward."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        del self.gamma, self.beta, self.running_mean, self.running_var
        self.affine = np.stack([np.ones(n), np.zeros(n)])
        self.stats = np.stack([np.zeros(n), np.ones(n)])
        self.training = True

    def forward(self, x: Any) -> Any:
        ax, sh = _axes(x), _shape(x)
        if self.training:
            mu, var = x.mean(axis=ax), x.var(axis=ax)
            self.stats[0] = 0.9 * self.stats[0] + 0.1 * mu
            self.stats[1] = 0.9 * self.stats[1] + 0.1 * var
        else:
            mu, var = self.stats[0], self.stats[1]
        self.inv = 1.0 / np.sqrt(var + 1e-5)
        self.xhat = (x - mu.reshape(sh)) * self.inv.reshape(sh)
        self.ax, self.sh = ax, sh
        return self.affine[0].reshape(sh) * self.xhat + self.affine[1].reshape(sh)

    def backward(self, dy: Any) -> Any:
        m = dy.size // dy.shape[1]
        dg, db = (dy * self.xhat).sum(axis=self.ax), dy.sum(axis=self.ax)
        self.d_affine = np.stack([dg, db])
        bracket = dy - db.reshape(self.sh) / m - self.xhat * dg.reshape(self.sh) / m
        return (self.affine[0] * self.inv).reshape(self.sh) * bracket


class Phase(enum.Enum):
    LEARN = "learn"
    SERVE = "serve"


class EnumPhaseBN(NoSwitchBN):
    """Switched by an enum.Enum attribute ``phase`` (Phase.LEARN / Phase.SERVE)."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.phase = Phase.LEARN

    def forward(self, x: Any) -> Any:
        ax, sh = _axes(x), _shape(x)
        if self.phase is Phase.LEARN:
            mu, var = x.mean(axis=ax), x.var(axis=ax)
            self.running_mean = 0.9 * self.running_mean + 0.1 * mu
            self.running_var = 0.9 * self.running_var + 0.1 * var
        else:
            mu, var = self.running_mean, self.running_var
        self.inv = 1.0 / np.sqrt(var + 1e-5)
        self.xhat = (x - mu.reshape(sh)) * self.inv.reshape(sh)
        self.ax, self.sh = ax, sh
        return self.gamma.reshape(sh) * self.xhat + self.beta.reshape(sh)
