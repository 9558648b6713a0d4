"""The checks of one distributed case, once every rank has answered: forward, backward,
running statistics, eval and eval-state, against the single-process truth of the
concatenated batch (budgets and models: :mod:`bncheck.check._verify.diagnosis.sync_models`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bncheck.bn.running import update_running
from bncheck.check._verify.diagnosis import fits as single
from bncheck.check._verify.diagnosis.sync_models import (
    Judged,
    Shards,
    batch_stats,
    diagnose_backward,
    diagnose_forward,
    judge,
    merge_term,
)
from bncheck.check._verify.results import CheckResult
from bncheck.check.metrics import compare
from bncheck.check.norms import BATCH_NORM
from bncheck.check.tolerances import running_budget, unit_roundoff
from bncheck.check.truth import exact_batchnorm, exact_inference
from bncheck.exceptions import BatchNormError

__all__ = ["forward_backward", "running_and_eval"]

F64 = np.float64
DEFAULT_BIAS = {"torch": True, "keras": False, "cumulative": True}


def worst_entries(actual: Any, truth: Any, k: int = 3) -> list[dict[str, Any]]:
    """The k entries farthest from the truth: index, value got, truth."""
    a, t = np.asarray(actual, dtype=F64), np.asarray(truth, dtype=F64)
    order = np.argsort(np.nan_to_num(np.abs(a - t), nan=np.inf).ravel())[::-1][:k]
    out = []
    for flat in order:
        idx = tuple(int(i) for i in np.unravel_index(int(flat), a.shape))
        out.append({"index": list(idx), "got": float(a[idx]), "truth": float(t[idx])})
    return out


def _params(case: dict[str, Any], values: list[dict[str, Any]]) -> tuple[Any, Any]:
    c = case["gamma"].size
    if all(v["affine"] for v in values):
        return case["gamma"].astype(F64), case["beta"].astype(F64)
    return np.ones(c), np.zeros(c)


def case_eps(values: list[dict[str, Any]], notes: list[str]) -> float:
    eps = values[0].get("eps")
    if not isinstance(eps, float) or not eps > 0:
        notes.append("the target has no eps attribute: eps = 1e-05 assumed")
        return 1e-5
    return eps


def _fail_text(name: str, j: Judged, what: str) -> str:
    return f"{name} off by {j.ulp:.3g} ulp (budget {j.budget:.3g}, with the merge term) from {what}"


def forward_backward(
    case: dict[str, Any], values: list[dict[str, Any]], tag: str, eps: float
) -> list[CheckResult]:
    """``forward/<tag>`` and ``backward/<tag>``: y and dx concatenated over the ranks,
    dgamma and dbeta summed, against the truth of the whole batch."""
    dtype = np.dtype(case["dtype"])
    x, dy = case["x"].astype(F64), case["dy"].astype(F64)
    g, b = _params(case, values)
    sh = Shards(x, case["rows"])
    extra = merge_term(sh, eps, dtype)
    truth = exact_batchnorm(x, g, b, dy, eps=eps, spec=BATCH_NORM)
    what = "the single-process truth of the concatenated batch"
    y = np.concatenate([v["y"] for v in values]).astype(F64)
    fj = judge("y", y, truth.y, sh, x, eps, dtype, extra, gamma=g)
    if fj.passed:
        forward = CheckResult(f"forward/{tag}", "pass", fj.ulp, fj.budget)
    else:
        found = diagnose_forward(sh, g, b, eps, y, truth.y, dtype, extra, x)
        if not found.ids:
            found = single.diagnose_forward(x, g, b, eps, y, dtype=dtype)
        forward = CheckResult(
            f"forward/{tag}",
            "fail",
            fj.ulp,
            fj.budget,
            message=_fail_text("y", fj, what),
            worst_entries=worst_entries(y, truth.y),
            diagnosis=list(found.ids),
            explanation=found.fitted,
        )
    grads: dict[str, Any] = {"dx": None, "dgamma": None, "dbeta": None}
    missing = []
    for name in grads:
        parts = [v[name] for v in values]
        if any(p is None for p in parts):
            if name == "dx" or all(v["affine"] for v in values):
                missing.append(name)
            continue
        grads[name] = (np.concatenate(parts) if name == "dx" else np.sum(parts, axis=0)).astype(F64)
    if missing:
        return [
            forward,
            CheckResult(
                f"backward/{tag}",
                "fail",
                message=f"no gradient reached {', '.join(missing)} (.grad is None after backward)",
            ),
        ]
    ref = {"dx": truth.dx, "dgamma": truth.dgamma, "dbeta": truth.dbeta}
    judged = {
        n: judge(n, v, ref[n], sh, x, eps, dtype, extra, gamma=g, dy=dy)
        for n, v in grads.items()
        if v is not None
    }
    name = max(
        judged, key=lambda n: (not judged[n].passed, judged[n].ulp / max(judged[n].budget, 1e-300))
    )
    worst = judged[name]
    if all(j.passed for j in judged.values()):
        return [forward, CheckResult(f"backward/{tag}", "pass", worst.ulp, worst.budget)]
    failed = [n for n, j in judged.items() if not j.passed]
    found = diagnose_backward(sh, g, b, eps, dy, y, grads, ref, dtype, extra, x)
    if not found.ids:
        found = single.diagnose_backward(
            x, g, b, eps, dy, grads["dx"], grads["dgamma"], grads["dbeta"], failed, dtype=dtype
        )
    entries = [dict(e, output=n) for n in failed for e in worst_entries(grads[n], ref[n], 2)]
    return [
        forward,
        CheckResult(
            f"backward/{tag}",
            "fail",
            worst.ulp,
            worst.budget,
            message=_fail_text(name, worst, what)
            + (f" (also {', '.join(failed[1:])})" if len(failed) > 1 else ""),
            worst_entries=entries,
            diagnosis=list(found.ids),
            explanation=found.fitted,
        ),
    ]


# -- running statistics and eval ---------------------------------------------------------------


def _expected(
    s0: Any, stats: list[tuple[Any, Any]], m: int, conv: str, momentum: Any, unbiased: bool
) -> list[tuple[Any, Any]] | None:
    mean: Any = np.asarray(s0[0], F64)
    var: Any = np.asarray(s0[1], F64)
    out = []
    for t, (bm, bv) in enumerate(stats):
        try:
            mean, var, _ = update_running(
                mean,
                var,
                bm,
                bv,
                m,
                convention=conv,
                momentum=None if conv == "cumulative" else momentum,
                unbiased=unbiased,
                num_batches_tracked=t,
            )
        except (BatchNormError, TypeError):
            return None
        out.append((mean, var))
    return out


def _score(
    observed: list[Any], expected: list[tuple[Any, Any]] | None, m: int, var_extra: list[Any]
) -> float:
    """Worst |observed − expected| over the steps, in units of its budget (<= 1 matches)."""
    if expected is None:
        return float("inf")
    worst = 0.0
    for t, ((om, ov), (em, ev)) in enumerate(zip(observed, expected, strict=True), start=1):
        if not (np.all(np.isfinite(om)) and np.all(np.isfinite(ov))):
            return float("inf")
        base = running_budget(t, m, np.asarray(om).dtype)
        merged = max(np.max(e) for e in var_extra[:t]) * unit_roundoff(np.asarray(ov).dtype)
        for o, e, more in ((om, em, 0.0), (ov, ev, merged)):
            allowed = base * np.maximum(np.abs(e), 1.0) + more
            worst = max(worst, float(np.max(np.abs(np.asarray(o, F64) - e) / allowed)))
    return worst


def _running(
    case: dict[str, Any],
    values: list[dict[str, Any]],
    check_id: str,
    convention: str,
    eps: float,
    notes: list[str],
) -> CheckResult:
    rows = case["rows"]
    steps = [s.astype(F64) for s in case["steps"]]
    c = steps[0].shape[1]
    m = steps[0].size // c
    momentum = values[0].get("momentum")
    if momentum == "missing":
        momentum = 0.1
        notes.append("the target has no momentum attribute: 0.1 assumed")
    exact = [exact_batchnorm(s, None, None, eps=eps, spec=BATCH_NORM) for s in steps]
    truth: dict[tuple[str, ...], list[tuple[Any, Any]]] = {(): [(e.mean, e.var) for e in exact]}
    for s in steps:
        for ids, stat in batch_stats(s, rows).items():
            if ids:
                truth.setdefault(ids, []).append(stat)
    var_extra: list[Any] = []
    for s, e in zip(steps, exact, strict=True):
        e_s = merge_term(Shards(s, rows), eps, np.dtype(case["dtype"]))
        var_extra.append(2.0 * e_s * e.var * m / (m - 1))
    every = [(conv, bias) for conv in ("torch", "keras", "cumulative") for bias in (True, False)]
    wanted = every if convention == "any" else [(convention, DEFAULT_BIAS[convention])]

    def score(ids: tuple[str, ...], conv: str, bias: bool) -> float:
        return max(
            _score(
                [(np.asarray(a), np.asarray(b)) for a, b in v["running"][1:]],
                _expected(v["running"][0], truth[ids], m, conv, momentum, bias),
                m,
                var_extra,
            )
            for v in values
        )

    scores = {k: score((), *k) for k in wanted}
    best = min(wanted, key=lambda k: scores[k])
    label = f"{best[0]} ({'unbiased' if best[1] else 'biased'} variance, momentum={momentum!r})"
    if scores[best] <= 1.0:
        return CheckResult(
            check_id,
            "pass",
            scores[best],
            1.0,
            unit="×budget",
            message=f"follows {label}" if convention == "any" else "",
        )
    diagnosis: list[str] = []
    for ids in truth:
        hit = next((k for k in every if score(ids, *k) <= 1.0), None)
        if hit is not None and (ids or hit not in wanted):
            diagnosis = list(ids)
            if hit not in wanted and convention != "any":
                if hit[1] != DEFAULT_BIAS[convention]:
                    diagnosis.append("running-var-bias")
                if {hit[0], convention} == {"torch", "keras"}:
                    diagnosis.append("momentum-swapped")
            break
    want = "any known convention" if convention == "any" else f"convention {convention!r}"
    return CheckResult(
        check_id,
        "fail",
        scores[best],
        1.0,
        unit="×budget",
        message=f"the ranks' running statistics after {len(steps)} steps do not "
        f"follow {want} on the statistics of the whole batch",
        diagnosis=diagnosis,
    )


def running_and_eval(
    case: dict[str, Any],
    values: list[dict[str, Any]],
    tag: str,
    convention: str,
    eps: float,
    notes: list[str],
) -> list[CheckResult]:
    """``running``, ``eval`` and ``eval-state`` of a case (skipped without running stats)."""
    ids = [f"{k}/{tag}" for k in ("running", "eval", "eval-state")]
    if any(not isinstance(v.get("running"), list) for v in values):
        why = "the target has no running statistics or eval mode"
        return [CheckResult(i, "skip", message=why) for i in ids]
    out = [_running(case, values, ids[0], convention, eps, notes)]
    g, b = _params(case, values)
    dtype = np.dtype(case["dtype"])
    xe = case["x_eval"].astype(F64)
    bounds = np.cumsum([0, *case["rows"]])
    finals = [[np.asarray(a, F64) for a in v["running"][-1]] for v in values]
    if any(
        not (np.all(np.isfinite(rm)) and np.all(np.isfinite(rv)) and np.all(rv + eps > 0))
        for rm, rv in finals
    ):
        out.append(
            CheckResult(
                ids[1],
                "fail",
                message="a rank's running statistics are not finite, or running_var + eps <= 0",
            )
        )
    else:
        truth = np.concatenate(
            [
                exact_inference(
                    xe[bounds[r] : bounds[r + 1]], g, b, rm, rv, eps=eps, spec=BATCH_NORM
                )
                for r, (rm, rv) in enumerate(finals)
            ]
        )
        y = np.concatenate([v["y_eval"] for v in values]).astype(F64)
        cmp = compare(y, truth, "y", dtype, x=xe, eps=eps, spec=BATCH_NORM, gamma=g)
        if cmp.passed:
            out.append(CheckResult(ids[1], "pass", cmp.ulp, cmp.budget))
        else:
            same = all(
                np.array_equal(f[0], finals[0][0]) and np.array_equal(f[1], finals[0][1])
                for f in finals
            )
            found = (
                single.diagnose_eval(xe, g, b, finals[0][0], finals[0][1], eps, y)
                if same
                else single.Finding([], "the ranks hold different running statistics")
            )
            out.append(
                CheckResult(
                    ids[1],
                    "fail",
                    cmp.ulp,
                    cmp.budget,
                    message=f"eval output off by {cmp.ulp:.3g} ulp (budget "
                    f"{cmp.budget:.3g}) from gamma·(x − running_mean)/"
                    "sqrt(running_var + eps) + beta with each rank's own "
                    "running statistics",
                    worst_entries=worst_entries(y, truth),
                    diagnosis=list(found.ids),
                    explanation=found.fitted,
                )
            )
    changed = [
        r
        for r, v in enumerate(values)
        if not all(
            np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
            for a, b in zip(v["after_eval"], v["running"][-1], strict=True)
        )
    ]
    out.append(
        CheckResult(ids[2], "pass")
        if not changed
        else CheckResult(
            ids[2],
            "fail",
            message=f"eval forward changed the running statistics on rank(s) "
            f"{', '.join(map(str, changed))}",
            diagnosis=["state-updated-in-eval"],
        )
    )
    return out
