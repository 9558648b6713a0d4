"""What a framework BN does, found on probe train steps (for the mapping of verify's report).

Each probe runs one train step of a fresh instance (gamma = 1, beta = 0) and reads y and the
running statistics after it; with new = (1 − a)·old + a·batch, the mean gives the weight a of
the new batch and the variance the batch variance that went into the update:

- precision: whether y of a float64 batch holds only float32 numbers (a BN computing in float32
  and casting back; a float64 computation, right or wrong, does not);
- the running update: a, momentum as the weight of the old value (bncheck's 'keras'
  convention: Flax, Keras) or of the new batch ('torch'), and a biased or unbiased variance;
- one pass: the variance a train step normalizes a batch of mean 1e8 and variance ~1 by in
  float64 (of mean 1e4 in float32, for a BN that computes in float32 anyway), read from y
  (y = (x − mean)/sqrt(v + eps) with gamma = 1, beta = 0, so sqrt(v + eps) is the slope of
  x − mean against y): E[x²] − E[x]² loses all of it, a two-pass variance keeps it to ~1e-15
  (float32: ~1e-3). Read from y, not from the running update, whose variance a layer may
  reshape (Equinox's batch mode debiases it).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np

from bncheck.check.tolerances import TOLERANCES, FrameworkProbe

__all__ = ["conventions", "variance_from_y"]


def _probe(dtype: str) -> FrameworkProbe:
    """The probe row of the tolerance table for the dtype a probe computes in."""
    probe = TOLERANCES[dtype].probe
    assert probe is not None
    return probe


#: the offset of the one-pass probe, and the relative error of the variance beyond which the
#: variance is one-pass, per dtype the probe computes in (from the tolerance table)
ONE_PASS = MappingProxyType(
    {d: (_probe(d).one_pass_offset, _probe(d).one_pass_limit) for d in ("float64", "float32")}
)


def _step(adapter: Any, x: Any) -> tuple[Any, Any, Any]:
    """(a, batch variance, y) of one train step of a fresh instance on ``x`` (channels on axis
    1); a and the variance are None when the layer keeps no running statistics."""
    c = x.shape[1]
    s0 = adapter.new(c, x.dtype.name, 1e-5, x.ndim)
    y = np.asarray(adapter.forward(x, True), dtype=np.float64)
    s1 = adapter.state()
    if "running_mean" not in s1 or "running_var" not in s1:
        return None, None, y
    m0, v0 = (np.asarray(s0[k], dtype=np.float64) for k in ("running_mean", "running_var"))
    m1, v1 = (np.asarray(s1[k], dtype=np.float64) for k in ("running_mean", "running_var"))
    xw = x.astype(np.float64)
    with np.errstate(all="ignore"):
        a = (m1 - m0) / (xw.mean(0) - m0)
        v = (v1 - (1 - a) * v0) / a
    return a, v, y


def _precise(adapter: Any, c: int) -> tuple[bool, str]:
    """Whether float64 input is computed in float64: y of a float64 batch holds float32
    numbers only if it was computed in float32 (or lower) and cast back."""
    x = np.random.default_rng(4321).normal(2.0, 1.5, size=(16, c))
    _, _, y = _step(adapter, x)
    if not np.array_equal(y, y.astype(np.float32).astype(np.float64)):
        return True, ""
    return False, (
        "float64 input is computed in float32: y of a float64 probe batch holds "
        "float32 numbers only (cast back to float64); the float64 checks judge it "
        "as float64"
    )


def _update_text(adapter: Any, c: int, precise: bool) -> str:
    mom = adapter.attrs.get("momentum")
    dtype = "float64" if precise else "float32"
    x = np.random.default_rng(4321).normal(2.0, 1.5, size=(16, c)).astype(dtype)
    a, v, _ = _step(adapter, x)
    tol = _probe(dtype).update_tol
    if a is None or not np.all(np.isfinite(a)) or np.ptp(a) > tol:
        return "running update: not of the form new = (1 − a)·old + a·batch on a probe step"
    a0 = float(np.median(a))
    text = f"running update (a probe step): new = {1 - a0:.4g}·old + {a0:.4g}·batch"
    if isinstance(mom, float) and abs(mom - (1 - a0)) < tol:
        text += f"; momentum={mom:g} is the weight of the OLD value (bncheck's 'keras' convention)"
    elif isinstance(mom, float) and abs(mom - a0) < tol:
        text += f"; momentum={mom:g} is the weight of the new batch (the 'torch' convention)"
    xw = x.astype(np.float64)
    kind = (
        "biased"
        if np.allclose(v, xw.var(0), rtol=100 * tol)
        else "unbiased"
        if np.allclose(v, xw.var(0, ddof=1), rtol=100 * tol)
        else "neither the biased nor the unbiased"
    )
    return f"{text}; {kind} batch variance in the running variance"


def _one_pass_text(adapter: Any, c: int, precise: bool) -> str:
    dtype = "float64" if precise else "float32"
    offset, limit = ONE_PASS[dtype]
    rng = np.random.default_rng(6)
    x = (rng.normal(size=(16, c)) + offset).astype(dtype)
    _, _, y = _step(adapter, x)
    v = variance_from_y(x, y, _eps(adapter))
    xw = x.astype(np.float64)
    with np.errstate(all="ignore"):
        err = float(np.max(np.abs(v - xw.var(0)) / xw.var(0)))
    flag = adapter.attrs.get("fast_variance")
    one_pass = not err <= limit
    said = ""
    if flag is not None:  # Flax's documented switch, checked against what the layer does
        agrees = bool(flag) == one_pass
        said = (
            f" (the layer's use_fast_variance={flag}, "
            + ("as it documents" if agrees else "CONTRARY to what it documents")
            + ")"
        )
    if one_pass:
        return (
            f"batch variance: ONE PASS, E[x²] − E[x]²{said}: on a {dtype} probe batch of "
            f"mean {offset:g} and variance ~1 the variance y is normalized by is off by "
            f"{err:.2g} of itself (two-pass: below {limit:g}); the accuracy checks show what "
            "this costs"
        )
    return (
        f"batch variance: two-pass{said} (off by {err:.1g} of itself on a {dtype} probe "
        f"batch of mean {offset:g}, read from y)"
    )


def _eps(adapter: Any) -> float:
    eps = adapter.attrs.get("eps", getattr(adapter, "eps_inferred", None))
    return float(eps) if isinstance(eps, (int, float)) else 1e-5


def variance_from_y(x: Any, y: Any, eps: float) -> Any:
    """Per channel (axis 1 of a 2-D x), the variance v a train step with gamma = 1, beta = 0
    normalized by: the least-squares slope s of x − mean(x) against y − mean(y) is
    sqrt(v + eps); NaN where y is not finite or constant.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.targets.frameworks.probes import variance_from_y
    >>> x = np.array([[1.0], [2.0], [3.0], [6.0]])
    >>> y = (x - x.mean(0)) / np.sqrt(4.0 + 1e-5)
    >>> np.round(variance_from_y(x, y, 1e-5), 12).tolist()
    [4.0]
    """
    xw = np.asarray(x, dtype=np.float64)
    yw = np.asarray(y, dtype=np.float64)
    xc = xw - xw.mean(axis=0)
    yc = yw - yw.mean(axis=0)
    with np.errstate(all="ignore"):
        slope = (xc * yc).sum(axis=0) / (yc * yc).sum(axis=0)
        return slope * slope - eps


def conventions(adapter: Any, c: int) -> list[str]:
    """Mapping lines: eps, the running statistics, the update, precision and one pass.

    Examples
    --------
    >>> from bncheck.check._verify.targets.frameworks.probes import ONE_PASS
    >>> ONE_PASS["float64"]
    (100000000.0, 1e-06)
    """
    lines = []
    eps = adapter.attrs.get("eps")
    if eps is not None:
        lines.append(f"eps: {adapter.attrs.get('eps_name', 'epsilon')} = {eps:g}")
    try:
        precise, text = _precise(adapter, c)
    except Exception as exc:
        return [*lines, f"probe steps failed ({type(exc).__name__}: {str(exc)[:200]})"]
    if text:
        lines.append(text)
    cur = adapter.cur
    if cur is None or cur.stat_paths is None:
        return [*lines, "running statistics: none found"]
    if not adapter.has_modes:
        lines.append("no train/eval switch found: only train mode is verified")
    lines.append(
        "running statistics: " + ", ".join(adapter.label(p, "stats") for p in cur.stat_paths)
    )
    for probe in (_update_text, _one_pass_text):
        try:
            lines.append(probe(adapter, c, precise))
        except Exception as exc:
            lines.append(f"a probe step failed ({type(exc).__name__}: {str(exc)[:200]})")
    return lines
