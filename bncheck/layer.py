"""The BatchNorm layer: parameters, running statistics, train/eval, save/load."""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck._checks import (
    FLOAT_DTYPES,
    BatchNormError,
    check_axis,
    check_float_array,
    check_num_features,
    check_positive_finite,
)
from bncheck.batchnorm import (
    BatchNormCache,
    BatchNormGrads,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    inference_backward,
)
from bncheck.running import DEFAULT, get_convention, resolve_momentum, update_running

__all__ = ["FORMAT", "BatchNorm"]

#: Identifies the layout of a saved BatchNorm file; bump the number when it changes.
FORMAT = "bncheck.BatchNorm/1"

FloatArray = NDArray[np.floating[Any]]


class BatchNorm:
    """Batch Normalization layer with running statistics.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    axis : int
        The channel axis of the inputs (1 for (N, C, ...), -1 for channels-last).
    eps : float > 0
        Added to the variance inside the square root.
    momentum : float in [0, 1], or None
        Running-statistics weight, in the convention's own meaning (see ``bncheck.running``).
        Default: the convention's (torch 0.1, keras 0.99, cumulative None). None (torch,
        cumulative) means the cumulative average over all batches.
    convention : "torch", "keras" or "cumulative"
    unbiased : bool or None
        Store the unbiased m/(m−1)·sigma2_B as running variance; None: the convention's default.
    affine : bool
        Learnable gamma (ones) and beta (zeros); False means no scale and shift.
    dtype : float16, float32 or float64
        dtype of gamma, beta and the running statistics. Inputs of any float dtype are accepted;
        outputs have the input's dtype.

    Training normalizes with the biased batch variance (eq 7) and updates the running
    statistics; eval mode normalizes with the running statistics and changes no state. A call
    that raises changes no state.
    """

    def __init__(
        self,
        num_features: int,
        *,
        axis: int = 1,
        eps: float = 1e-5,
        momentum: float | None = DEFAULT,
        convention: str = "torch",
        unbiased: bool | None = None,
        affine: bool = True,
        dtype: Any = np.float64,
    ) -> None:
        c = check_num_features(num_features)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis={axis!r} must be an int (the channel axis)")
        eps_f = check_positive_finite("eps", eps)
        get_convention(convention)
        mom = resolve_momentum(convention, momentum)
        if unbiased is not None and not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"unbiased={unbiased!r} must be True, False or None")
        if not isinstance(affine, (bool, np.bool_)):
            raise TypeError(f"affine={affine!r} must be True or False")
        try:
            dt = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(f"dtype={dtype!r} is not a dtype; expected float16/32/64") from exc
        if dt not in FLOAT_DTYPES:
            raise TypeError(f"dtype={dt} must be float16, float32 or float64")
        self.num_features = c
        self.axis = int(axis)
        self.eps = eps_f
        self.momentum = mom
        self.convention = convention
        self.unbiased = None if unbiased is None else bool(unbiased)
        self.affine = bool(affine)
        self.dtype = dt
        self.gamma: FloatArray | None = np.ones(c, dt) if affine else None
        self.beta: FloatArray | None = np.zeros(c, dt) if affine else None
        self.running_mean: FloatArray = np.zeros(c, dt)
        self.running_var: FloatArray = np.ones(c, dt)
        self.num_batches_tracked = 0
        self.training = True
        self._cache: BatchNormCache | None = None
        self._eval_input: FloatArray | None = None

    # -- mode -------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> BatchNorm:
        """Set training mode (``mode=False`` is eval mode); returns self."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode={mode!r} must be True or False")
        self.training = bool(mode)
        return self

    def eval(self) -> BatchNorm:
        """Set eval mode: normalize with the running statistics, change no state."""
        return self.train(False)

    def __repr__(self) -> str:
        mom = "None" if self.momentum is None else repr(self.momentum)
        return (
            f"BatchNorm({self.num_features}, axis={self.axis}, eps={self.eps!r}, "
            f"momentum={mom}, convention={self.convention!r}, unbiased={self.unbiased}, "
            f"affine={self.affine}, dtype={self.dtype.name})"
        )

    # -- compute ----------------------------------------------------------------------------
    def _check_input(self, x: ArrayLike) -> FloatArray:
        xa = check_float_array("x", x)
        if xa.ndim >= 2:
            ax = check_axis(self.axis, xa.ndim)
            if xa.shape[ax] != self.num_features:
                raise BatchNormError(
                    f"x has shape {xa.shape} with {xa.shape[ax]} channels along axis={self.axis}"
                    f"; expected num_features={self.num_features}"
                )
        return xa

    def __call__(self, x: ArrayLike) -> FloatArray:
        return self.forward(x)

    def forward(self, x: ArrayLike) -> FloatArray:
        """Normalize ``x``: batch statistics in training (and update the running ones), running
        statistics in eval mode."""
        xa = self._check_input(x)
        if not self.training:
            y = batchnorm_inference(
                xa, self.gamma, self.beta, self.running_mean, self.running_var,
                eps=self.eps, axis=self.axis,
            )  # fmt: skip
            self._cache, self._eval_input = None, xa.copy()
            return y
        y, cache = batchnorm_forward(xa, self.gamma, self.beta, eps=self.eps, axis=self.axis)
        new = update_running(
            self.running_mean, self.running_var, cache.mean, cache.var, cache.m,
            convention=self.convention, momentum=self.momentum, unbiased=self.unbiased,
            num_batches_tracked=self.num_batches_tracked,
        )  # fmt: skip
        # Everything that can fail has run: commit the new state at once.
        self.running_mean, self.running_var, self.num_batches_tracked = new
        self._cache, self._eval_input = cache, None
        return y

    def backward(self, dy: ArrayLike) -> BatchNormGrads:
        """Gradients (dx, dgamma, dbeta) for the last forward call, in its mode."""
        if self._cache is not None:
            return batchnorm_backward(dy, self._cache)
        if self._eval_input is not None:
            return inference_backward(
                dy, self._eval_input, self.gamma, self.running_mean, self.running_var,
                eps=self.eps, axis=self.axis, has_beta=self.beta is not None,
            )  # fmt: skip
        raise BatchNormError("backward() was called before forward(); call the layer on x first")

    # -- state ------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {
            "num_features": self.num_features,
            "axis": self.axis,
            "eps": self.eps,
            "momentum": self.momentum,
            "convention": self.convention,
            "unbiased": self.unbiased,
            "affine": self.affine,
            "dtype": self.dtype.name,
        }

    def _state_shapes(self) -> dict[str, tuple[int, ...]]:
        keys = ["running_mean", "running_var"] + (["gamma", "beta"] if self.affine else [])
        return {k: (self.num_features,) for k in keys} | {"num_batches_tracked": ()}

    def state_dict(self) -> dict[str, Any]:
        """Copies of the learnable parameters and running statistics, plus the batch counter."""
        d: dict[str, Any] = {
            "running_mean": self.running_mean.copy(),
            "running_var": self.running_var.copy(),
            "num_batches_tracked": int(self.num_batches_tracked),
        }
        if self.gamma is not None and self.beta is not None:
            d["gamma"] = self.gamma.copy()
            d["beta"] = self.beta.copy()
        return d

    def load_state_dict(self, state: dict[str, Any], *, source: str = "state") -> None:
        """Replace parameters and running statistics; validates everything before changing any.

        Keys must be exactly those of :meth:`state_dict`, arrays of shape (num_features,) and
        of this layer's dtype, finite, running_var >= 0; num_batches_tracked an int >= 0.
        """
        if not isinstance(state, dict):
            raise TypeError(f"{source}={type(state).__name__} must be a dict from state_dict()")
        expected = self._state_shapes()
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise BatchNormError(
                f"{source} has keys {sorted(state)}; expected {sorted(expected)}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unexpected {extra})" if extra else "")
            )
        new: dict[str, Any] = {}
        for key, shape in expected.items():
            value = np.asarray(state[key])
            if key == "num_batches_tracked":
                if value.shape != () or value.dtype.kind not in "iu" or int(value) < 0:
                    raise BatchNormError(
                        f"{source}['num_batches_tracked']={state[key]!r}; expected an int >= 0"
                    )
                new[key] = int(value)
                continue
            if value.dtype != self.dtype or value.shape != shape:
                raise BatchNormError(
                    f"{source}[{key!r}] has shape {value.shape} and dtype {value.dtype}; "
                    f"expected shape {shape} and dtype {self.dtype.name}"
                )
            if not np.isfinite(value).all():
                raise BatchNormError(f"{source}[{key!r}] contains NaN or Inf; expected finite")
            new[key] = value.copy()
        if (new["running_var"] < 0).any():
            raise BatchNormError(f"{source}['running_var'] has negative entries; expected >= 0")
        self.running_mean = new["running_mean"]
        self.running_var = new["running_var"]
        self.num_batches_tracked = new["num_batches_tracked"]
        if self.affine:
            self.gamma, self.beta = new["gamma"], new["beta"]
        self._cache = self._eval_input = None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write configuration and state to an ``.npz`` file (no pickles)."""
        arrays: dict[str, Any] = {
            "format": np.array(FORMAT),
            "config": np.array(json.dumps(self._config(), sort_keys=True)),
        }
        arrays.update(self.state_dict())
        arrays["num_batches_tracked"] = np.array(self.num_batches_tracked, dtype=np.int64)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BatchNorm:
        """Read a layer written by :meth:`save`; a bad file raises BatchNormError naming it."""
        name = os.fspath(path)
        try:
            with np.load(name, allow_pickle=False) as data:
                contents = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            why = "no .npz archive" if "pickled" in str(exc) else str(exc)
            raise BatchNormError(f"{name}: not a readable .npz file ({why})") from exc
        fmt = contents.pop("format", None)
        if fmt is None or fmt.shape != () or str(fmt) != FORMAT:
            raise BatchNormError(
                f"{name}: format={None if fmt is None else str(fmt)!r}; expected {FORMAT!r} "
                "(a file written by bncheck.BatchNorm.save)"
            )
        raw = contents.pop("config", None)
        try:
            config = json.loads(str(raw)) if raw is not None else None
            layer = cls(**config) if isinstance(config, dict) else None
        except (TypeError, ValueError) as exc:
            raise BatchNormError(f"{name}: bad 'config' entry ({exc})") from exc
        if layer is None:
            raise BatchNormError(f"{name}: missing or malformed 'config' entry")
        layer.load_state_dict(contents, source=name)
        return layer
