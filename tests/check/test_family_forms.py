"""Family targets in public forms held-out corpus 7 found missing, generalised
(tests/impls/family_forms.py, family_forms_torch.py): a scale of 1 + parameter (Gemma's
RMSNorm, a LayerNorm's ``1 + scale``) in a function, a layer and a torch module; a
channels-last group norm with ``--axis -1``; a layer norm over the channel axis (ConvNeXt's
channels_first); eps outside the root named alone on float32. Float64 unless said."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bncheck.check import verify
from bncheck.check.norms import Member
from bncheck.exceptions import LoadError
from tests.frameworks import marks
from tests.internals import family_targets
from tests.paths import IMPLS

T = marks("torch")


def _run(target: str, **options: Any) -> tuple[Any, set[str], str]:
    report = verify(str(IMPLS / target), seed=0, **{"dtypes": ("float64",), **options})
    diagnosed = {d for c in report.checks if c.status == "fail" for d in c.diagnosis}
    return report, diagnosed, "\n".join(report.mapping)


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("family_forms.py:rmsnorm1p", "gamma = 1 + weight"),
        ("family_forms.py:GemmaRMSNormLayer", "gamma = 1 + weight"),
        pytest.param("family_forms_torch.py:OnePlusScaleLayerNorm", "gamma = 1 + scale", marks=T),
    ],
)
def test_a_scale_of_one_plus_its_parameter_passes_and_is_said(target: str, said: str) -> None:
    report, _, mapping = _run(target)
    assert report.result == "pass", [(c.id, c.message[:200]) for c in report.checks]
    assert said in mapping, mapping


def test_a_scale_not_affine_in_its_parameter_is_said_not_hidden() -> None:
    report, _, mapping = _run("family_forms.py:ExpScaleRMSNorm", ndims=(2,))
    assert "scale: its output is not affine in it" in mapping, mapping
    assert report.result == "fail"  # checked as gamma = scale, and said so


def test_channels_last_group_norm_with_axis_minus_one_passes() -> None:
    report, _, mapping = _run(
        "family_forms.py:nhwc_groupnorm", norm="group:2", axis=-1, ndims=(2, 3, 4)
    )
    assert report.result == "pass", [(c.id, c.message[:200]) for c in report.checks]
    assert "channels last (--axis -1)" in mapping, mapping
    assert {"forward/3d/float64", "forward/4d/float64"} <= {
        c.id for c in report.checks if c.status == "pass"
    }


def test_layer_norm_over_the_channel_axis_is_found_and_checked_on_every_rank() -> None:
    report, _, _ = _run("family_forms.py:ConvNextLayerNorm", ndims=(2, 3, 4))
    assert report.result == "pass", [(c.id, c.message[:200]) for c in report.checks]
    norm = next(c for c in report.checks if c.id == "norm")
    assert "over the channel axis" in norm.message
    assert "forward/4d/float64" in {c.id for c in report.checks if c.status == "pass"}


def test_a_mismatch_with_the_guessed_build_is_not_a_refusal_of_the_rank() -> None:
    # stated as a layer norm over the last axis: built with the last axis' size, its 3-D
    # forward cannot broadcast that weight over its channel axis
    report, _, _ = _run("family_forms.py:ConvNextLayerNorm", norm="layer:1", ndims=(2, 3))
    row = next(c for c in report.checks if c.id == "forward/3d")
    assert row.status == "not-checked", row
    assert "bncheck's guess" in row.message and "not a refusal" in row.message, row.message


def test_eps_outside_the_root_is_named_alone_on_float32_tiny_variance() -> None:
    report, diagnosed, _ = _run(
        "family_forms.py:instancenorm_epsout", dtypes=("float64", "float32"), ndims=(3,)
    )
    assert report.result == "fail"
    assert diagnosed == {"eps-outside-sqrt"}, diagnosed
    f32 = next(c for c in report.checks if c.id == "forward/3d/float32")
    assert f32.status == "fail" and f32.diagnosis == ["eps-outside-sqrt"], f32


@pytest.mark.parametrize("name", [pytest.param("torch.nn.GroupNorm", marks=T)])
def test_torch_own_norms_refuse_axis_minus_one(name: str) -> None:
    with pytest.raises(LoadError, match=r"--axis -1.*channels first"):
        verify(name, norm="group:2", axis=-1, dtypes=("float64",), ndims=(4,))


# -- scale_offset, every branch ---------------------------------------------------------------

XH = np.array([[-1.2, 0.3, 0.9], [0.5, -0.1, -0.4]])


@pytest.mark.parametrize(
    ("ys", "c", "why"),
    [
        ((0 * XH, XH, 2 * XH), 0.0, ""),  # the plain form
        ((XH, 2 * XH, 3 * XH), 1.0, ""),  # Gemma's 1 + weight
        ((0.5 * XH, 1.5 * XH, 2.5 * XH), 0.5, ""),
        ((XH, XH, XH), 0.0, ""),  # the parameter changes nothing: a mistake, not an offset
        ((XH, np.e * XH, np.e**2 * XH), 0.0, "not affine"),
        ((XH + 1, 2 * XH + 1, 3 * XH + 1), 0.0, "not a multiple"),
        ((0 * XH, 0 * XH, 0 * XH), 0.0, ""),
    ],
)
def test_scale_offset(ys: tuple[Any, Any, Any], c: float, why: str) -> None:
    got, said = family_targets.scale_offset(*ys)
    assert got == pytest.approx(c, rel=1e-12, abs=0) and (why in said if why else said == ""), (
        got,
        said,
    )


def test_a_nearly_whole_offset_is_taken_whole() -> None:
    xh = XH.astype(np.float32).astype(np.float64)
    got, _ = family_targets.scale_offset(xh * np.float32(1.0000001), 2 * xh, 3 * xh)
    assert got == 1.0


# -- Member over the channel axis ---------------------------------------------------------------


def test_member_over_the_channel_axis() -> None:
    m = Member.parse("layer:channel")
    assert m == Member("layer", channel=True) and m.text() == "layer:channel"
    assert Member.parse("rms:channels").text() == "rms:channel"
    assert m.param_shape((2, 6, 4)) == (6,) and m.spec(3).reduced(3) == (1,)
    assert m.fits((4, 6)) and m.spec(2).reduced(2) == Member("layer").spec(2).reduced(2)
    with pytest.raises(ValueError, match="channel=True for kind='group'"):
        Member("group", groups=2, channel=True)
