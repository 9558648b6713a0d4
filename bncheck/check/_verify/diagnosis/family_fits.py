"""Named mistakes of the normalization family (Layer, Group, Instance, RMS), fitted on one run.

The models are the member's own formulas with one thing changed, evaluated in float64 on the
view of :class:`bncheck.check.norms.Member` (columns of its spec):

forward (y):
    ``eps-outside-sqrt``   x_hat = (x − mu)/(sqrt(var) + eps) (RMS: x/(sqrt(ms) + eps))
    ``unbiased-normalize`` the variance divided by m − 1
    ``rms-subtracts-mean`` an RMSNorm that subtracts the mean (it computes LayerNorm)
backward (dx):
    ``eps-outside-sqrt``   the exact gradient of the forward above with eps outside the root
                           (a backward derived, or taken by autograd, from that forward)
    with the forward right:
    ``missing-mu-path``    dx without −Σdelta/m
    ``missing-var-path``   dx without −x_hat·Σ(delta·x_hat)/m (RMS: the path through ms)
forward and backward, GroupNorm:
    ``wrong-reduction-axes`` channels grouped in the wrong order: channel c in group c mod G
                           instead of c // (C/G) (y, and dx the exact gradient of that y)

A model explains a run when it reproduces the failed output within ``MATCH`` of its size
(relative, normwise): far below the effect of any of these mistakes on the inputs verify
uses (eps = 1e-5 against a tiny-variance regime, O(1) for the paths), far above float64
rounding. A float32 run is named by the same models judged within its own budget
(:func:`model_outputs` gives them to the checks), else as its float64 sibling (the suite
carries names across dtypes). Statistics over the wrong axes are named by the member fit
(:mod:`bncheck.check._verify.checks.family`), but a grouping of the right size in the wrong
order fits no member: that one is named here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.check.norms import Member

__all__ = ["MATCH", "diagnose_family", "model_outputs"]

F64 = Any

#: relative normwise distance under which a model reproduces an output (float64 runs)
MATCH = 1e-7


def _cols(member: Member, x: F64, g: F64, dy: F64) -> tuple[F64, F64, F64, Callable[..., F64]]:
    xv = member.view(x)
    spec = member.spec(xv.ndim)
    gv = member.param_view(g)
    xc = spec.columns(xv)
    gc = spec.param_columns(gv, xv.shape)
    dc = spec.columns(member.view(dy))

    def back(cols: F64) -> F64:
        return np.asarray(spec.from_columns(cols, xv.shape)).reshape(x.shape)

    return xc, gc, dc, back


def _interleaved(member: Member, x: F64) -> Any:
    """For a GroupNorm of G groups over C channels (C/G > 1): the channel order that puts the
    channels c ≡ k (mod G) together as group k (the grouping of a GroupNorm that groups
    channel c as c mod G instead of c // (C/G)), and its inverse; None when it is the same."""
    c = x.shape[1]
    groups = member.groups
    if member.kind != "group" or groups < 2 or c % groups or c // groups < 2:
        return None
    perm = np.concatenate([np.arange(k, c, groups) for k in range(groups)])
    return perm, np.argsort(perm)


def _forward_models(member: Member, x: F64, g: F64, b: F64, eps: float) -> dict[str, F64]:
    out = _plain_forward_models(member, x, g, b, eps)
    order = _interleaved(member, x)
    if order is not None:  # channels grouped in the wrong order
        perm, inv = order
        bp = None if b is None else np.asarray(b, np.float64)[perm]
        xc, gc, _, back = _cols(member, x[:, perm], np.asarray(g)[perm], x[:, perm])
        bc = 0.0 if bp is None else _cols(member, x[:, perm], bp, x)[1]
        mu = xc.mean(axis=0)
        var = ((xc - mu) ** 2).mean(axis=0)
        out["wrong-reduction-axes"] = back(gc * (xc - mu) / np.sqrt(var + eps) + bc)[:, inv]
    return out


def _plain_forward_models(member: Member, x: F64, g: F64, b: F64, eps: float) -> dict[str, F64]:
    xc, gc, _, back = _cols(member, x, g, x)
    m = xc.shape[0]
    bc = 0.0 if b is None else _cols(member, x, b, x)[1]
    out: dict[str, F64] = {}
    if member.centered:
        mu = xc.mean(axis=0)
        var = ((xc - mu) ** 2).mean(axis=0)
        out["eps-outside-sqrt"] = back(gc * (xc - mu) / (np.sqrt(var) + eps) + bc)
        if m > 1:
            out["unbiased-normalize"] = back(gc * (xc - mu) / np.sqrt(var * m / (m - 1) + eps) + bc)
    else:
        ms = (xc**2).mean(axis=0)
        out["eps-outside-sqrt"] = back(gc * xc / (np.sqrt(ms) + eps))
        mu = xc.mean(axis=0)
        var = ((xc - mu) ** 2).mean(axis=0)
        out["rms-subtracts-mean"] = back(gc * (xc - mu) / np.sqrt(var + eps))
    return out


def _backward_models(member: Member, x: F64, g: F64, dy: F64, eps: float) -> dict[str, F64]:
    out = _plain_backward_models(member, x, g, dy, eps)
    order = _interleaved(member, x)
    if order is not None:  # the exact gradient of the wrongly grouped forward
        perm, inv = order
        xc, gc, dc, back = _cols(member, x[:, perm], np.asarray(g)[perm], dy[:, perm])
        delta = gc * dc
        mu = xc.mean(axis=0)
        r = 1 / np.sqrt(((xc - mu) ** 2).mean(axis=0) + eps)
        xh = (xc - mu) * r
        dx = r * (delta - delta.mean(axis=0) - xh * (delta * xh).mean(axis=0))
        out["wrong-reduction-axes"] = back(dx)[:, inv]
    return out


def _plain_backward_models(member: Member, x: F64, g: F64, dy: F64, eps: float) -> dict[str, F64]:
    xc, gc, dc, back = _cols(member, x, g, dy)
    delta = gc * dc
    if member.centered:
        mu = xc.mean(axis=0)
        r = 1 / np.sqrt(((xc - mu) ** 2).mean(axis=0) + eps)
        xh = (xc - mu) * r
        s1 = delta.mean(axis=0)
        s2 = (delta * xh).mean(axis=0)
        xm = xc - mu
        sd = np.sqrt((xm**2).mean(axis=0))
        d = sd + eps  # eps outside the root: y = (x − mu)/d, d' = (x − mu)/(m·sd)
        return {
            "missing-mu-path": back(r * (delta - xh * s2)),
            "missing-var-path": back(r * (delta - s1)),
            "eps-outside-sqrt": back(
                (delta - s1) / d - xm * (delta * xm).mean(axis=0) / (d**2 * sd)
            ),
        }
    ms = (xc**2).mean(axis=0)
    r = 1 / np.sqrt(ms + eps)
    d = np.sqrt(ms) + eps  # eps outside the root: y = x/d, d' = x/(m·sqrt(ms))
    return {
        "missing-var-path": back(r * delta),
        "eps-outside-sqrt": back(delta / d - xc * (delta * xc).mean(axis=0) / (d**2 * np.sqrt(ms))),
    }


def _close(got: F64, model: F64) -> bool:
    a, t = np.asarray(got, dtype=np.float64), np.asarray(model, dtype=np.float64)
    size = float(np.max(np.abs(t), initial=0.0))
    return bool(size > 0 and np.all(np.isfinite(a)) and np.max(np.abs(a - t)) <= MATCH * size)


def model_outputs(
    member: Member, stage: str, x: F64, gamma: F64, beta: F64, eps: float, dy: F64
) -> dict[str, F64]:
    """Each model's float64 output of ``stage`` ("forward": y, else dx) for one run, by
    mistake id (the models the module docstring lists)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.ones(member.param_shape(x.shape)) if gamma is None else np.asarray(gamma, np.float64)
    with np.errstate(all="ignore"):
        if stage == "forward":
            return _forward_models(member, x, g, beta, eps)
        return _backward_models(member, x, g, np.asarray(dy, np.float64), eps)


def diagnose_family(
    member: Member,
    stage: str,
    x: F64,
    gamma: F64,
    beta: F64,
    eps: float,
    dy: F64,
    y: F64,
    dx: F64,
) -> tuple[list[str], str]:
    """The mistake ids whose model reproduces the failed ``stage`` of one float64 run, and
    what was fitted ("" when nothing)."""
    models = model_outputs(member, stage, x, gamma, beta, eps, dy)
    got = y if stage == "forward" else dx
    with np.errstate(all="ignore"):
        found = [k for k, v in models.items() if got is not None and _close(got, v)]
    if not found:
        return [], ""
    said = f"the output matches the model of {', '.join(found)} within {MATCH:g}"
    if "wrong-reduction-axes" in found:  # the only model of that name here: the grouping
        said += (
            f" (channels grouped in the wrong order: group k holds channels k, k + G, k + 2G, "
            f"..., channel c in group c mod G instead of c // (C/G), G = {member.groups})"
        )
    return found, said
