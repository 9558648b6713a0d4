"""Find how a layer object speaks BN, without an adapter (runs inside the worker process).

Real layers differ in every detail: how they are built (``Layer(C)``, ``Layer()`` with
parameters created at the first forward, ``Layer(gamma, beta)``), how the mode is chosen
(``train=``, ``training=``, ``train_flg=``, ``mode="train"|"test"``, ``train()``/``eval()``, a
``training`` attribute), what the parameters, running statistics and gradients are called and
where they live (attributes, ``params``/``grads`` dicts, shapes (C,), (1, C), (1, C, 1, 1)),
and what backward returns. This module holds the names and :class:`Slot`, which reads and
writes one value wherever it lives, in the shape the layer keeps it;
:mod:`bncheck.check._verify.targets.layout` finds the mode switch and the construction from the
signatures.

The names below are tables: adding a spelling is adding an entry.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from bncheck.check._verify.targets.values import c_values

__all__ = [
    "BOOL_MODE_PARAMS",
    "GRAD_NAMES",
    "PARAM_NAMES",
    "RUNNING_NAMES",
    "Slot",
    "c_valued_slots",
    "find_pair",
    "scalar_attr",
]


#: keyword parameters of forward that take a bool: True = training
BOOL_MODE_PARAMS = (
    "train",
    "training",
    "train_flg",
    "train_flag",
    "is_training",
    "train_mode",
    "is_train",
    "istrain",
    "training_mode",
    "trainable",
    "use_batch_stats",
    "phase_train",
    "is_train_phase",
    "train_phase",
    "update_stats",
    "bn_training",
)
#: keyword parameters of forward that take a bool: True = eval (inverted)
INVERTED_MODE_PARAMS = (
    "eval",
    "is_eval",
    "evaluation",
    "inference",
    "is_inference",
    "test",
    "is_test",
    "test_mode",
    "eval_mode",
    "predict",
)
#: methods some layers use for eval mode beside a train-only forward(x)
EVAL_METHODS = (
    "predict",
    "inference",
    "infer",
    "forward_inference",
    "forward_test",
    "forward_eval",
    "eval_forward",
    "test_forward",
    "forward_predict",
)
#: keyword parameters of forward that take a string, and the strings for (train, eval)
STRING_MODE_PARAMS = ("mode", "phase", "stage")
EVAL_STRINGS = ("test", "eval", "inference", "predict", "val")
#: attributes a layer reads its mode from, when it has no train()/eval()
MODE_ATTRIBUTES = ("training", "is_training", "train_mode", "train_flg", "is_train", "trainable")
#: attributes holding the mode as a string ("train" / "test")
STRING_MODE_ATTRIBUTES = ("mode", "phase")

#: (scale, shift) parameter names, most specific first
PARAM_NAMES = (
    ("gamma", "beta"),
    ("weight", "bias"),
    ("scale", "bias"),
    ("scale", "offset"),
    ("scale", "shift"),
    ("scaler", "intercept"),
    ("gain", "bias"),
    ("gama", "beta"),
    ("weights", "bias"),
    ("gamma", "bias"),
    ("W", "b"),
)
RUNNING_NAMES = (
    ("running_mean", "running_var"),
    ("moving_mean", "moving_var"),
    ("moving_mean", "moving_variance"),
    ("running_mean", "running_variance"),
    ("running_avg_mean", "running_avg_var"),
    ("mean_running", "var_running"),
    ("pop_mean", "pop_var"),
    ("population_mean", "population_var"),
    ("avg_mean", "avg_var"),
    ("_running_mean", "_running_var"),
    ("test_mean", "test_var"),
    ("running_mu", "running_var"),
    ("rolling_mean", "rolling_var"),
    ("ema_mean", "ema_var"),
    ("global_mean", "global_var"),
    ("mean_avg", "var_avg"),
    ("moving_avg_mean", "moving_avg_var"),
    ("mov_mean", "mov_var"),
    ("runMean", "runVar"),
    ("run_mean", "run_var"),
)
#: where gradients are kept when backward returns dx alone
GRAD_NAMES = (
    ("dgamma", "dbeta"),
    ("d_gamma", "d_beta"),
    ("gamma_grad", "beta_grad"),
    ("grad_gamma", "grad_beta"),
    ("dweight", "dbias"),
    ("d_weight", "d_bias"),
    ("weight_grad", "bias_grad"),
    ("grad_weight", "grad_bias"),
    ("dscale", "dbias"),
    ("dscale", "doffset"),
    ("dscale", "dshift"),
    ("d_scale", "d_bias"),
    ("dW", "db"),
    ("gamma", "beta"),
    ("weight", "bias"),
    ("scale", "bias"),
    ("scale", "offset"),
    ("scaler", "intercept"),
)
#: dict attributes that may hold parameters, statistics or gradients
CONTAINERS = ("params", "parameters", "param", "bn_param", "bn_params", "state", "buffers")
GRAD_CONTAINERS = ("grads", "gradients", "grad", "param_grads", "dparams", "derived_variables")
#: names of the constructor's channel-count parameter
CHANNEL_PARAMS = (
    "num_features",
    "num_channels",
    "n_channels",
    "channels",
    "features",
    "n_features",
    "num_feats",
    "feature_dim",
    "dim",
    "size",
    "n_in",
    "in_channels",
    "input_dim",
    "n",
    "c",
    "C",
    "D",
    "d",
    "units",
    "n_units",
    "out_channels",
    "nf",
    "num_filters",
)
#: names of a constructor parameter that takes the input rank (d2l's BatchNorm(C, num_dims))
RANK_PARAMS = ("num_dims", "ndim", "n_dims", "dims", "ndims", "rank", "input_dims")
EPS_NAMES = ("eps", "epsilon", "_eps", "variance_epsilon")
MOMENTUM_NAMES = ("momentum", "_momentum", "decay", "decay_rate", "rho", "alpha")
#: momentum names whose value is, by the word's meaning, the weight of the OLD running value
#: (new = decay·old + (1 − decay)·batch), whatever convention the layer follows otherwise
DECAY_NAMES = ("decay", "decay_rate", "rho")


# -- slots: one value, wherever it lives --------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """Where a value lives: ``obj.name`` or ``obj.container[name]``; read and write it."""

    name: str
    container: str | None = None

    def label(self) -> str:
        return f"{self.container}[{self.name!r}]" if self.container else self.name

    def exists(self, obj: Any) -> bool:
        holder = _holder(obj, self.container)
        if holder is None:
            return False
        if isinstance(holder, dict):
            return self.name in holder
        return has_attr(holder, self.name)

    def get(self, obj: Any) -> Any:
        holder = _holder(obj, self.container)
        if isinstance(holder, dict):
            return holder.get(self.name)
        return getattr(holder, self.name, None)

    def set(self, obj: Any, value: Any) -> None:
        """Write ``value`` (C values) in the shape and kind the layer holds now.

        A held array keeps its shape ((1, C) stays (1, C)); the dtype is ``value``'s, so that
        a float32 run gives the layer float32 parameters. A framework tensor or parameter is
        filled in place.
        """
        holder = _holder(obj, self.container)
        old: Any = (
            holder.get(self.name) if isinstance(holder, dict) else getattr(holder, self.name, None)
        )
        new: Any = np.array(value, copy=True)
        if hasattr(old, "detach") and hasattr(old, "copy_"):  # a torch tensor or Parameter
            import torch

            with torch.no_grad():
                old.copy_(torch.as_tensor(new.reshape(tuple(old.shape))))
            return
        data = getattr(old, "data", None) if not isinstance(old, np.ndarray) else None
        if isinstance(data, np.ndarray):  # a mini-framework parameter: fill its .data
            old.data = new.reshape(data.shape) if data.size == new.size else new
            return
        if isinstance(old, np.ndarray) and old.size == new.size:
            new = new.reshape(old.shape)
        if isinstance(holder, dict):
            holder[self.name] = new
        else:
            setattr(holder, self.name, new)


def has_attr(obj: Any, name: str) -> bool:
    """Whether ``obj`` has ``name``, without running a property; objects that keep
    attributes elsewhere (torch modules keep parameters in ``_parameters``) list them in
    ``dir()``."""
    try:
        inspect.getattr_static(obj, name)
        return True
    except AttributeError:
        pass
    try:
        return name in dir(obj)
    except Exception:
        return False


def _holder(obj: Any, container: str | None) -> Any:
    if container is None:
        return obj
    value = getattr(obj, container, None)
    return value if isinstance(value, dict) else None


def find_pair(
    obj: Any,
    names: tuple[tuple[str, str], ...],
    containers: tuple[str, ...],
    c: int | None,
    *,
    allow_none: bool,
    attributes: bool = True,
) -> tuple[Slot, Slot] | None:
    """The first pair of names both present (as attributes, then inside a container dict),
    holding C values each (or None, when ``allow_none``: a lazy layer before its first
    forward). ``attributes=False`` looks inside the containers only."""
    for holder in ((None,) if attributes else ()) + tuple(containers):
        for a, b in names:
            sa, sb = Slot(a, holder), Slot(b, holder)
            if not (sa.exists(obj) and sb.exists(obj)):
                continue
            va, vb = sa.get(obj), sb.get(obj)
            ok = all(
                ((v is None or _scalar_number(v)) and allow_none) or c_values(v, c, array_like=True)
                for v in (va, vb)
            )
            if ok:
                return sa, sb
    return _held_pair(obj, names, c, allow_none=allow_none)


#: the role a table of pair names stands for, by its first pair
_ROLES = {("gamma", "beta"): "params", ("running_mean", "running_var"): "running"}


def _held_pair(
    obj: Any, names: tuple[tuple[str, str], ...], c: int | None, *, allow_none: bool
) -> tuple[Slot, Slot] | None:
    """The pair of a registered framework's layer that ``obj`` (a user's own object) holds,
    where the framework finds it (an Equinox BN's weight and bias, written by eqx.tree_at)."""
    role = _ROLES.get(names[0]) if names else None
    if role is None:
        return None
    from bncheck.check._verify.targets.frameworks import held_by

    pair = held_by(obj).get(role)
    if pair is None:
        return None
    values = [slot.get(obj) for slot in pair]
    if all((v is None and allow_none) or c_values(v, c, array_like=True) for v in values):
        return pair[0], pair[1]
    return None


def _scalar_number(value: Any) -> bool:
    """A plain number where C values belong: a layer that starts its running statistics as
    0 and 1 and lets broadcasting size them (treated like None: created at the first use)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def c_valued_slots(obj: Any, c: int) -> dict[str, Slot]:
    """Every attribute (and container item) holding C values: label -> slot."""
    out: dict[str, Slot] = {}
    names = [n for n in dir(obj) if not n.startswith("__")]
    for name in names:
        try:
            value = getattr(obj, name)
        except Exception:
            continue
        if isinstance(value, dict) and name in (*CONTAINERS, *GRAD_CONTAINERS):
            for key in list(value):
                if isinstance(key, str) and c_values(value[key], c, array_like=True):
                    out[f"{name}[{key!r}]"] = Slot(key, name)
        elif not callable(value) and c_values(value, c, array_like=True):
            out[name] = Slot(name)
    return out


def scalar_attr(obj: Any, names: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first attribute (or container item) of ``names`` that holds a number (or None)."""
    for holder in (None, *CONTAINERS, "hyperparameters", "config", "hparams"):
        source = obj if holder is None else getattr(obj, holder, None)
        if holder is not None and not isinstance(source, dict):
            continue
        for name in names:
            if isinstance(source, dict):
                if name in source:
                    return (f"{holder}[{name!r}]", source[name])
            elif has_attr(source, name):
                value = getattr(source, name, None)
                if not callable(value):
                    return (name, value)
    role = names[0] if names and names[0] in ("eps", "momentum") else None
    if role is not None:  # a framework layer's, held inside the object (a dotted path)
        from bncheck.check._verify.targets.frameworks import held_by

        found = held_by(obj).get(role)
        if found is not None:
            return (str(found[0]), found[1])
    return None
