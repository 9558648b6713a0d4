"""Inputs where kernels break: the layouts of bncheck.check.strategies, the wire carrying a layout
to the target process, the kernel cases verify runs by default, the double-double truth for the
large ones, and the target actually holding the layout under test (targets that record what
they were handed: tests/impls/layout_recorder.py, layout_recorder_torch.py)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bncheck.check import verify
from bncheck.check.norms import Member
from bncheck.check.regimes import DY_KINDS, REGIME_TABLE, make_dy, make_x
from bncheck.check.strategies import (
    LAYOUTS,
    MIXED_LAYOUTS,
    BNCase,
    case_layouts,
    kernel_shapes,
    layout_text,
    with_layout,
)
from bncheck.check.tolerances import LARGE_TRUTH
from bncheck.check.truth import exact_batchnorm, exact_rmsnorm
from tests.frameworks import needs
from tests.internals import TargetProcess, kernel_inputs, large_truth, load_adapter, wire
from tests.paths import IMPLS


def _layout_claims(a: np.ndarray, layout: str, axis: int = 1) -> bool:
    """What each layout promises about the strides of an array of at least 2 per side."""
    if layout == "C":
        return a.flags.c_contiguous
    if layout == "F":
        return a.flags.f_contiguous and not a.flags.c_contiguous
    if layout == "transposed":  # channel-major memory
        return abs(a.strides[axis]) == max(abs(s) for s in a.strides) and not a.flags.c_contiguous
    if layout == "channels_last":
        return a.strides[axis] == a.itemsize
    if layout == "sliced":
        return not a.flags.c_contiguous and not a.flags.f_contiguous and min(a.strides) > 0
    return all(s < 0 for s in a.strides)  # reversed


# -- layouts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4, 5), (2, 3, 4)])
def test_every_layout_keeps_the_values_and_lays_them_out_as_it_says(
    layout: str, shape: tuple[int, ...]
) -> None:
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    b = with_layout(a, layout)
    assert np.array_equal(a, b) and b.dtype == a.dtype
    assert not np.shares_memory(a, b)
    if layout == "channels_last" and len(shape) == 2:
        assert b.flags.c_contiguous  # channel axis last already: C order
    else:
        assert _layout_claims(b, layout), (layout, b.strides)


def test_an_unknown_layout_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="layout='diagonal'; expected one of C, F"):
        with_layout(np.zeros((2, 2)), "diagonal")


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_layout_is_made_in_the_order_of_the_targets_own_channel_axis(layout: str) -> None:
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)  # channels on axis 1
    sent = kernel_inputs.laid_out(a, layout, axis=-1)
    assert np.array_equal(sent, a)
    held = np.moveaxis(sent, 1, -1)  # what the adapter hands a channels-last target
    assert _layout_claims(held, layout, axis=-1), (layout, held.strides)


# -- the wire ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int32"])
def test_the_wire_rebuilds_exactly_the_layout_it_was_given(layout: str, dtype: str) -> None:
    a = with_layout(np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5).astype(dtype), layout)
    got = wire.decode(wire.encode(("x", a), strict=True, layouts=True), layouts=True)[1]
    assert got.shape == a.shape and got.strides == a.strides and got.dtype == a.dtype
    assert (got.flags.c_contiguous, got.flags.f_contiguous) == (
        a.flags.c_contiguous,
        a.flags.f_contiguous,
    )
    assert np.array_equal(got, a) and got.flags.writeable


def test_the_gaps_of_a_sliced_view_arrive_as_nan() -> None:
    a = with_layout(np.ones((3, 4)), "sliced")
    got = wire.decode(wire.encode(a, strict=True, layouts=True), layouts=True)
    assert np.isnan(got.base).sum() == got.base.size - got.size


def test_replies_never_carry_a_layout_and_a_reader_not_expecting_one_refuses_it() -> None:
    a = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    plain = wire.encode(a)  # a target's reply: C order, as before
    assert wire.decode(plain).flags.c_contiguous
    laid = wire.encode(a, strict=True, layouts=True)
    with pytest.raises(wire.WireError, match="laid-out array"):
        wire.decode(laid)


def test_a_layout_the_wire_cannot_rebuild_is_an_error_for_verifys_data_only() -> None:
    broadcast = np.broadcast_to(np.arange(3.0), (4, 3))  # stride 0: overlapping elements
    with pytest.raises(wire.WireError, match="cannot be sent as laid out"):
        wire.encode(broadcast, strict=True, layouts=True)
    got = wire.decode(wire.encode(broadcast, layouts=True), layouts=True)
    assert got.flags.c_contiguous and np.array_equal(got, broadcast)


def test_a_laid_out_array_whose_strides_leave_its_buffer_is_refused() -> None:
    a = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    data = bytearray(wire.encode(a, strict=True, layouts=True))
    # the header: tag, dtype code, ndim, 2 sides, 2 strides, then offset, span and nbytes
    code_len = data[1]
    strides_at = 2 + code_len + 1 + 16
    data[strides_at : strides_at + 8] = (64).to_bytes(8, "big", signed=True)
    with pytest.raises(wire.WireError, match="do not lay out"):
        wire.decode(bytes(data), layouts=True)


def test_the_target_process_is_handed_the_layout_verify_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "layouts.txt"
    monkeypatch.setenv("BNCHECK_LAYOUT_LOG", str(log))
    loader = functools.partial(load_adapter, f"{IMPLS / 'layout_recorder.py'}")
    sent = []
    with TargetProcess(loader, timeout=20) as proc:
        proc.start()
        proc.call("new", 3, "float64", 1e-5, 4)
        for layout in LAYOUTS:
            x = with_layout(np.random.default_rng(0).normal(size=(2, 3, 4, 5)), layout)
            y, mutated = proc.call("forward", x, True, names=("x",))
            assert mutated == [] and y.shape == x.shape and y.flags.c_contiguous
            sent.append((x.shape, x.strides))
    got = [(shape, strides) for _, shape, strides, _ in _recorded(log)]
    assert got == [(shape, _strides(shape, strides)) for shape, strides in sent]


# -- the kernel cases ----------------------------------------------------------------------------


@pytest.mark.parametrize("ndim", [2, 3, 4, 5])
def test_the_kernel_cases_cross_every_boundary_the_issue_names(ndim: int) -> None:
    cases = kernel_inputs.kernel_cases("float64", ndim)
    channels = {c.x.shape[1] for c in cases}
    per_channel = {c.x.size // c.x.shape[1] for c in cases}
    assert {1, 5, 8, 17, 33, 64, 65, 129} <= channels
    assert min(per_channel) == 2 and max(per_channel) > 65536
    assert any(m > 4096 and m % 4096 for m in per_channel)
    layouts = {c.layout for c in cases}
    expected = set(LAYOUTS) - ({"channels_last"} if ndim == 2 else set())
    assert expected <= layouts
    assert layouts & set(MIXED_LAYOUTS)  # x and dy in different layouts too
    if ndim == 2:
        assert max(channels) > 2000
    else:
        assert any(c.x.shape[0] == 1 for c in cases)  # a batch of 1 with spatial sides
    for case in cases:
        assert case.x.ndim == ndim and case.dy.shape == case.x.shape
        assert case.x.size // case.x.shape[1] >= 2
        xl, dl = case_layouts(case.layout)
        if case.x.size // case.x.shape[1] > 1 and min(case.x.shape) > 1:
            assert _layout_claims(case.x, xl), (case.x.shape, case.layout)
            assert _layout_claims(case.dy, dl), (case.dy.shape, case.layout)
        if xl == dl:
            assert case.dy.strides == case.x.strides
        else:  # the strides differ even where size-1 sides make both layouts contiguous
            assert case.dy.strides != case.x.strides


def test_a_target_of_fixed_width_keeps_the_sizes_and_layouts() -> None:
    cases = kernel_inputs.kernel_cases("float32", 4, channels=3)
    assert {c.x.shape[1] for c in cases} == {3}
    assert max(c.x.size // 3 for c in cases) > 65536
    assert {c.layout for c in cases} == set(LAYOUTS) | {
        k for k in MIXED_LAYOUTS if any(c.layout == k for c in cases)
    }
    assert {case_layouts(c.layout) for c in cases} >= {("C", "F")}


def test_a_case_layout_names_x_and_dy_and_refuses_an_unknown_key() -> None:
    assert case_layouts("sliced") == ("sliced", "sliced")
    assert case_layouts("F-dy") == ("C", "F") and case_layouts("F-x") == ("F", "C")
    assert layout_text("F-dy") == f"x {LAYOUTS['C']}, dy {LAYOUTS['F']}"
    assert layout_text("reversed") == LAYOUTS["reversed"]
    with pytest.raises(ValueError, match=r"layout='G'; expected one of C, F, .*F-dy, F-x"):
        case_layouts("G")
    # a shrunk case keeps x's and dy's own layouts
    case = next(c for c in kernel_inputs.kernel_cases("float64", 2) if c.layout == "F-x")
    small = kernel_inputs.shrink(case, lambda c: True, 3)
    assert small.layout == "F-x" and small.x.size < case.x.size
    assert small.x.strides == np.asfortranarray(small.x).strides
    assert small.dy.strides == np.ascontiguousarray(small.dy).strides


def test_shrinking_keeps_the_layout_that_failed() -> None:
    case = kernel_inputs.kernel_cases("float64", 2)[5]  # (129, 33), F
    assert case.layout == "F"

    def fails(c: BNCase) -> bool:  # fails while it is Fortran-ordered with >= 2 channels
        return c.x.flags.f_contiguous and not c.x.flags.c_contiguous and c.x.shape[1] >= 2

    small = kernel_inputs.shrink(case, fails)
    assert small.layout == "F" and fails(small)
    assert small.x.size < case.x.size


def test_shrinking_a_compiling_target_tries_only_the_shapes_it_allows() -> None:
    """A target that compiles per shape is shrunk over shapes it has already run: a candidate
    the predicate refuses is never evaluated, and the result is one it allows (or the case)."""
    case = kernel_inputs.kernel_cases("float64", 2)[5]  # (129, 33)
    n, c = case.x.shape
    compiled = {(n // 2, c), (n // 2, 1)}  # two smaller shapes it "has run"
    asked: list[tuple[int, ...]] = []

    def fails(k: BNCase) -> bool:
        asked.append(k.x.shape)
        return True

    small = kernel_inputs.shrink(case, fails, allowed=lambda k: k.x.shape in compiled)
    assert asked and set(asked) <= compiled
    assert small.x.shape == (n // 2, 1)
    free = kernel_inputs.shrink(case, fails)  # unrestricted: it shrinks further
    assert free.x.size < small.x.size
    none = kernel_inputs.shrink(case, fails, allowed=lambda k: False)
    assert none is case


@settings(max_examples=30, database=None, deadline=None)
@given(st.data())
def test_the_search_of_a_compiling_target_draws_only_the_shapes_given(data: st.DataObject) -> None:
    shapes = [(5, 3), (16, 3), (2, 17)]
    case = data.draw(kernel_inputs.search_strategy("float32", 2, shapes=shapes))
    assert case.x.shape in shapes and case.x.dtype == np.float32


@settings(max_examples=40, database=None, deadline=None)
@given(kernel_shapes(4, max_values=LARGE_TRUTH.mpmath_values))
def test_the_thorough_search_draws_kernel_shapes_within_the_mpmath_size(
    shape: tuple[int, ...],
) -> None:
    assert len(shape) == 4 and np.prod(shape) <= LARGE_TRUTH.mpmath_values
    assert np.prod(shape) // shape[1] >= 2


@settings(max_examples=60, database=None, deadline=None, derandomize=True)
@given(st.data())
def test_the_thorough_search_lays_x_and_dy_out_as_its_case_says(data: st.DataObject) -> None:
    case = data.draw(kernel_inputs.search_strategy("float64", 2, thorough=True))
    assert case.layout in LAYOUTS or case.layout in MIXED_LAYOUTS
    xl, dl = case_layouts(case.layout)
    if min(case.x.shape) > 1:
        assert _layout_claims(case.x, xl) and _layout_claims(case.dy, dl), case.layout


@pytest.mark.parametrize("key", list(MIXED_LAYOUTS))
def test_the_thorough_search_draws_x_and_dy_in_different_layouts(key: str) -> None:
    from hypothesis import find

    # find() raises if no draw within its budget has the layout
    found = find(
        kernel_inputs.search_strategy("float64", 2, thorough=True),
        lambda c: c.layout == key,
        settings=settings(database=None, max_examples=500),
    )
    assert found.dy.strides != found.x.strides or min(found.x.shape) == 1


# -- the truth of large inputs -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("regime", list(REGIME_TABLE))
def test_the_double_double_truth_is_the_mpmath_truth_to_the_last_bit_or_one(
    regime: str, dtype: str
) -> None:
    identical = 0
    for k, kind in enumerate(DY_KINDS):
        rng = np.random.default_rng([k, len(regime)])
        shape = (37, 3) if k % 2 else (3, 2, 3, 4)
        x = make_x(rng, shape, 1, regime, 1e-5, dtype)
        dy = make_dy(rng, kind, shape, 1, dtype)
        g, b = np.array([1.5, -0.7, 2.0][: shape[1]]), np.array([0.3, -1.2, 0.8][: shape[1]])
        truth = exact_batchnorm(x, g, b, dy, eps=1e-5)
        dd = large_truth.dd_batchnorm(x, g, b, dy, eps=1e-5)
        for name in ("y", "dx", "dgamma", "dbeta"):
            t, d = getattr(truth, name), dd[name]
            assert np.all(np.abs(t - d) <= np.spacing(np.abs(t))), (name, kind)
            identical += int(np.array_equal(t, d))
    assert identical >= 3 * len(DY_KINDS)  # nearly always the same bits


@pytest.mark.parametrize("member", ["layer:1", "layer:2", "rms:1", "rms:2", "group:2", "instance"])
@pytest.mark.parametrize("regime", ["standard", "large-mean", "tiny-variance"])
def test_the_family_double_double_truth_is_the_mpmath_truth_to_the_last_bit_or_one(
    member: str, regime: str
) -> None:
    # every reduction set and parameter layout of the family (per-element gamma for layer and
    # RMS norm, per channel over a group's channels), against mpmath's exact_batchnorm over
    # the member's spec and exact_rmsnorm
    mem = Member.parse(member)
    identical = total = 0
    for k, shape in enumerate([(5, 4, 3), (2, 6, 2, 3)]):
        rng = np.random.default_rng([k, len(regime), len(member)])
        z = rng.standard_normal(shape)
        x = {"standard": z, "large-mean": 1e4 + z, "tiny-variance": 3 + 1e-4 * z}[regime]
        dy = rng.standard_normal(shape)
        pshape = mem.param_shape(shape)
        g, b = 1 + 0.5 * rng.standard_normal(pshape), rng.standard_normal(pshape)
        xv, spec = mem.view(x), mem.spec(mem.view(x).ndim)
        gv, dyv = mem.param_view(g), mem.view(dy)
        if mem.centered:
            t = exact_batchnorm(xv, gv, mem.param_view(b), dyv, eps=1e-5, spec=spec)
            truth = {"y": t.y, "dx": t.dx, "dgamma": t.dgamma, "dbeta": t.dbeta}
        else:
            r = exact_rmsnorm(xv, gv, dyv, eps=1e-5, spec=spec)
            truth = {"y": r.y, "dx": r.dx, "dgamma": r.dgamma}
        dd = large_truth.dd_norm(
            xv, gv, mem.param_view(b), dyv, eps=1e-5, spec=spec, centered=mem.centered
        )
        for name, t in truth.items():
            got = np.asarray(dd[name]).reshape(np.shape(t))
            assert np.all(np.abs(t - got) <= np.spacing(np.abs(t))), (name, shape)
            identical += int(np.array_equal(t, got))
            total += 1
    assert identical >= total - 2  # nearly always the same bits


def test_the_double_double_truth_refuses_what_it_cannot_compute_to_its_budget() -> None:
    rng = np.random.default_rng(0)
    x = 1e15 + rng.integers(-2, 3, size=(8, 2)).astype(np.float64) * 0.125  # |mean|/std ~ 1e16
    with pytest.raises(large_truth.TooIllConditioned, match="x − mean"):
        large_truth.dd_batchnorm(x, None, None, rng.normal(size=x.shape), eps=1e-30)


def test_the_checks_use_the_double_double_truth_only_above_the_mpmath_size() -> None:
    assert not large_truth.use_large_truth(np.zeros(LARGE_TRUTH.mpmath_values))
    assert large_truth.use_large_truth(np.zeros(LARGE_TRUTH.mpmath_values + 1))


# -- verify hands targets exactly the layout under test ------------------------------------------


def _recorded(path: Path) -> list[tuple[str, tuple[int, ...], tuple[int, ...], str]]:
    """(name, shape, strides, flags) per recorded array; the stride of an axis of size 1 means
    nothing (NumPy sets it as it likes) and is recorded as 0."""
    rows = []
    for line in path.read_text().splitlines():
        name, shape, strides, flags = line.split(";")[:4]
        sides = tuple(int(n) for n in shape.strip("()").split(",") if n.strip())
        steps = tuple(int(n) for n in strides.strip("()").split(",") if n.strip())
        rows.append((name, sides, _strides(sides, steps), flags))
    return rows


def _strides(shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(0 if n == 1 else s for n, s in zip(shape, strides, strict=True))


def test_a_functional_target_is_handed_every_kernel_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "layouts.txt"
    monkeypatch.setenv("BNCHECK_LAYOUT_LOG", str(log))
    report = verify(str(IMPLS / "layout_recorder.py"), examples=0, dtypes=("float64",))
    assert report.passed, [(c.id, c.message) for c in report.failed]
    rows = _recorded(log)
    held = {(shape, strides) for _, shape, strides, _ in rows}
    for ndim in (2, 4):
        for case in kernel_inputs.kernel_cases("float64", ndim):
            x_key = (case.x.shape, _strides(case.x.shape, case.x.strides))
            dy_key = (case.dy.shape, _strides(case.dy.shape, case.dy.strides))
            assert x_key in held, (case.x.shape, case.layout)
            assert dy_key in held, (case.dy.shape, case.layout)
    assert any(flags == "0 1" for name, _, _, flags in rows if name == "dy")  # Fortran dy
    forward = next(c for c in report.checks if c.id == "forward/4d/float64")
    assert any("(1, 3, 257, 257) F" in line for line in forward.inputs)
    assert "layouts" in forward.message and "batch of 1" in forward.message


def test_a_channels_last_layer_is_handed_the_layout_in_its_own_axis_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "layouts.txt"
    monkeypatch.setenv("BNCHECK_LAYOUT_LOG", str(log))
    target = f"{IMPLS / 'layout_recorder.py'}:ChannelsLastLayer"
    report = verify(target, axis=-1, convention="torch", examples=0, dtypes=("float64",))
    assert report.passed, [(c.id, c.message) for c in report.failed]
    rows = _recorded(log)
    # the F-ordered (2, 8, 3, 3) case reaches the layer as an F-ordered (2, 3, 3, 8) array
    assert ("x", (2, 3, 3, 8), (8, 16, 48, 144), "0 1") in rows
    # the channels-last case of the channels-first world is C order for this layer
    assert any(shape == (1, 5, 7, 33) and flags == "1 0" for _, shape, _, flags in rows)


def test_a_target_that_refuses_a_layout_is_a_finding_not_a_crash(
    tmp_path: Path,
) -> None:
    source = (IMPLS / "layout_recorder.py").read_text()
    strict = tmp_path / "contiguous_only.py"
    strict.write_text(
        source + "\n\n_plain_forward = forward\n\n\ndef forward(x, gamma, beta, eps):\n"
        "    if not x.flags.c_contiguous:\n"
        "        raise ValueError('x must be C-contiguous')\n"
        "    return _plain_forward(x, gamma, beta, eps)\n"
    )
    report = verify(str(strict), examples=0, dtypes=("float64",), ndims=(2,))
    assert report.passed  # the values are right: checked on C-contiguous copies
    refusals = [w for w in report.contract if w.startswith("refuses ")]
    assert any("Fortran-ordered" in w and "x must be C-contiguous" in w for w in refusals)
    assert any("negative strides" in w for w in refusals)
    strict_report = verify(str(strict), examples=0, dtypes=("float64",), ndims=(2,), strict=True)
    assert not strict_report.passed


@needs("torch")
def test_a_torch_module_gets_the_channels_last_memory_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "layouts.txt"
    monkeypatch.setenv("BNCHECK_LAYOUT_LOG", str(log))
    target = f"{IMPLS / 'layout_recorder_torch.py'}:TorchRecorder"
    report = verify(target, examples=0, dtypes=("float32",), timeout=30)
    # its only failure is PyTorch's own backward on x and dy in different layouts
    # (tests/check/test_kernel_bugs.py shows that bug by torch alone)
    for check in report.failed:
        assert check.id == "backward/4d/float32", (check.id, check.message)
        assert check.counterexample is not None
        assert check.counterexample["layout"] in MIXED_LAYOUTS
    rows = _recorded(log)
    channels_last = [r for r in rows if r[3] == "0 1"]  # not contiguous, channels-last format
    assert {(2, 16, 51, 50), (1, 33, 5, 7)} <= {shape for _, shape, _, _ in channels_last}
    assert any(flags == "0 0" for _, _, _, flags in rows)  # Fortran, sliced: kept as strided


@pytest.mark.parametrize("ndim", [2, 4])
def test_float16_kernel_cases_have_exact_gradients_a_float16_holds(ndim: int) -> None:
    """dbeta = Σ dy and dgamma = Σ dy·x_hat of every float16 kernel case, exact in float64,
    fit in float16: a dy of 10 + N(0, 1) over 66,049 values sums to 6.6e5, which only
    overflows (held-out 17, row 10: a false FAIL of every float16 BN, bncheck's own too)."""
    for case in kernel_inputs.kernel_cases("float16", ndim):
        x, dy = case.x.astype(np.float64), case.dy.astype(np.float64)
        axes = (0, *range(2, ndim))
        x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(
            x.var(axis=axes, keepdims=True) + case.eps
        )
        for total in (dy.sum(axis=axes), (dy * x_hat).sum(axis=axes)):
            assert np.abs(total).max() <= np.finfo(np.float16).max / 2, case.x.shape


def test_bnchecks_own_bn_passes_in_float16_where_exact_outputs_would_overflow() -> None:
    """A float16 case whose exact dx is past 65504 (a variance near eps, an offset dy) is not
    judged: its correctly rounded answer is an infinity, and bncheck's own BN refuses it."""
    report = verify("bncheck", dtypes=("float16",), seed=0, timeout=30)
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
