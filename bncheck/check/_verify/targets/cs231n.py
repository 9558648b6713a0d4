"""The adapter of a cs231n-style BN: ``batchnorm_forward(x, gamma, beta, bn_param)`` /
``batchnorm_backward(dout, cache)``, with the running statistics in the ``bn_param`` dict, and
its ``_alt`` and ``spatial_`` variants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.check._verify.targets.common import as_number, returned
from bncheck.check._verify.targets.functional import FunctionalAdapter


class Cs231nAdapter(FunctionalAdapter):
    """``batchnorm_forward(x, gamma, beta, bn_param)``: running statistics live in the dict."""

    kind = "cs231n"
    MOMENTUM = 0.9  # cs231n's default, passed explicitly so the checks know it

    def __init__(
        self,
        fwd: Callable[..., Any],
        bwd: Callable[..., Any],
        name: str,
        spatial: tuple[Callable[..., Any], Callable[..., Any]] | None = None,
        variants: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] | None = None,
        param_name: str = "bn_param",
    ) -> None:
        super().__init__(fwd, bwd, name)
        self.flat = (fwd, bwd)
        self.spatial = spatial
        self.variants = variants or {}
        self.param_name = param_name
        self.current = "batchnorm_backward"

    def describe(self) -> dict[str, Any]:
        # cs231n's batchnorm_forward takes (N, D); (N, C, H, W) needs spatial_batchnorm_forward
        ndims = [2, 4] if self.spatial else [2]
        mapping = [
            f"batchnorm_forward(x, gamma, beta, {self.param_name}) with "
            f"{self.param_name}['mode'] = 'train'|'test'; batchnorm_backward(dout, cache)",
        ]
        if self.spatial:
            mapping.append("4-D: spatial_batchnorm_forward / spatial_batchnorm_backward")
        mapping += [f"also checked: {v}" for v in self.variants]
        return {
            "kind": self.kind,
            "name": self.name,
            "running": True,
            "ndims": ndims,
            "mapping": mapping,
            "variants": sorted(self.variants),
        }

    def variant(self, name: str) -> None:
        if name != "batchnorm_backward" and name not in self.variants:
            raise ValueError(f"no backward variant {name!r}")
        self.current = name

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        super().new(num_features, dtype, eps, ndim)
        # as the cs231n network code does: mode, eps and momentum only; the function creates
        # its running statistics (in the shape it wants) at the first call
        self.bn_param: dict[str, Any] = {"mode": "train", "eps": eps, "momentum": self.MOMENTUM}
        self.dtype = dtype
        return {"eps": eps, "momentum": self.MOMENTUM}

    def forward(self, x: Any, train: bool) -> Any:
        self.fwd, self.bwd = self.spatial if x.ndim == 4 and self.spatial else self.flat
        if self.current in self.variants and x.ndim == 2:
            fwd_v, bwd_v = self.variants[self.current]
            self.fwd, self.bwd = fwd_v, bwd_v or self.bwd
        self.bn_param["mode"] = "train" if train else "test"
        self.last_x = x
        try:
            out = self.fwd(x, self.gamma, self.beta, self.bn_param)
        except KeyError as exc:
            if exc.args[:1] not in (("running_mean",), ("running_var",)):
                raise
            # it reads the running statistics without a default: give it zeros and ones
            c = self.gamma.shape[0]
            self.bn_param.setdefault("running_mean", np.zeros(c, self.dtype))
            self.bn_param.setdefault("running_var", np.ones(c, self.dtype))
            out = self.fwd(x, self.gamma, self.beta, self.bn_param)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(
                f"batchnorm_forward returned {type(out).__name__}; expected (out, cache)"
            )
        y, self.cache = out
        return returned(y)

    def state(self) -> dict[str, Any]:
        c = self.gamma.shape[0]
        return {
            "running_mean": self.contracts.per_channel(
                self.bn_param.get("running_mean"), c, "running_mean"
            ),
            "running_var": self.contracts.per_channel(
                self.bn_param.get("running_var"), c, "running_var"
            ),
            "gamma": self.gamma,
            "beta": self.beta,
            "momentum": as_number(self.bn_param.get("momentum")),
            "eps": as_number(self.bn_param.get("eps")),
        }
