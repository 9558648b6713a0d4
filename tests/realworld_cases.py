"""Expected verdicts for the corpus in tests/impls/realworld/: BN implementations written the way
public NumPy code writes them (cs231n assignment solutions, "Deep Learning from Scratch",
numpy-ml, torch- and keras-like from-scratch layers), right and wrong.

One record per target. ``target`` is what to pass to ``bncheck verify`` (relative to
tests/impls/realworld/). ``checks`` holds the check-id prefixes expected to fail (``forward``,
``backward``, ``running``, ``eval``, ``eval-state``); ``diagnosis`` the mistake ids the verifier
should name. ``convention`` is the running-statistics convention the target follows or claims
("keras" also covers cs231n and Deep Learning from Scratch: running = momentum·running +
(1−momentum)·batch with the biased variance); "any" for stateless targets. ``ndims`` lists the
input ranks the target accepts. ``contract_warning``: correct maths behind an interface
deviation (float64 dx for float32 input, per-channel arrays kept as (1, C) or (1, C, 1, 1)).
Every record was checked by driving the file directly against ``bncheck.batchnorm_forward`` /
``batchnorm_backward`` (float64, (8, 3) and (4, 3, 2, 2), gamma/beta non-trivial): correct ones
agree to 1e-10, wrong ones differ exactly in the outputs the mistake changes and match the
mistake's formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DIRECTORY = Path(__file__).parent / "impls" / "realworld"


@dataclass(frozen=True)
class Case:
    file: str
    target: str
    style: str
    convention: str
    ndims: tuple[int, ...]
    passes: bool
    diagnosis: frozenset[str]
    checks: frozenset[str]
    contract_warning: bool
    mapping: str
    note: str = ""

    @property
    def path(self) -> Path:
        return DIRECTORY / self.file

    @property
    def spec(self) -> str:
        """The target with the file's full path, ready for ``bncheck verify``."""
        return str(DIRECTORY / self.target)


_NONE: frozenset[str] = frozenset()


def _ok(
    file: str,
    target: str,
    style: str,
    convention: str,
    ndims: tuple[int, ...],
    mapping: str,
    *,
    contract_warning: bool = False,
    note: str = "",
) -> Case:
    return Case(
        file, target, style, convention, ndims, True, _NONE, _NONE, contract_warning, mapping, note
    )


def _bad(
    file: str,
    target: str,
    style: str,
    convention: str,
    ndims: tuple[int, ...],
    diagnosis: set[str],
    checks: set[str],
    mapping: str,
    *,
    note: str = "",
) -> Case:
    return Case(
        file,
        target,
        style,
        convention,
        ndims,
        False,
        frozenset(diagnosis),
        frozenset(checks),
        False,
        mapping,
        note,
    )


CS231N = (
    "module batchnorm_forward(x, gamma, beta, {p}) / batchnorm_backward(dout, cache); "
    "mode {p}['mode'] 'train'/'test'; params gamma/beta (C,); grads tuple; "
    "running {p}['running_mean'/'running_var'] (defaults zeros), momentum {p}['momentum'] "
    "0.9, eps {p}['eps']"
)
CS231N_SPATIAL = CS231N + "; 4-D via spatial_batchnorm_forward/backward"
FUNCTIONAL = (
    "module forward(x, gamma, beta, eps) / backward(dy, cache); no mode; params "
    "gamma/beta (C,); grads tuple; no running statistics"
)
DLFS = (
    "ctor(gamma, beta) [momentum=0.9]; mode forward(x, train_flg=True); params gamma/beta; "
    "grads attributes dgamma/dbeta (backward returns dx); running running_mean/running_var "
    "(lazy: None until the first forward); eps 10e-7 hard-coded"
)
NUMPYML = (
    "ctor() [momentum=0.9, epsilon=1e-5] lazy; mode forward(X, retain_derived=True) "
    "(False, or freeze() / trainable=False: inference); params parameters['scaler'/"
    "'intercept']; grads gradients['scaler'/'intercept'] (backward(dLdy) returns dX); "
    "running parameters['running_mean'/'running_var'] (lazy)"
)
KERAS_CALL = (
    "ctor() [momentum=0.99, epsilon=1e-3] lazy (built on first call); mode "
    "__call__(x, training=False) (inference by default); params gamma/beta; grads "
    "dict self.grads['gamma'/'beta'] (backward returns dx); running "
    "moving_mean/moving_variance (lazy)"
)


CASES: list[Case] = [
    # -- correct --------------------------------------------------------------------------------
    _ok(
        "cs231n_bn_param_ok.py",
        "cs231n_bn_param_ok.py",
        "cs231n bn_param; staged backward; backward_alt; spatial",
        "keras",
        (2, 4),
        CS231N_SPATIAL.format(p="bn_param"),
    ),
    _ok(
        "cs231n_config_ok.py",
        "cs231n_config_ok.py",
        "cs231n config (4th param named config); paper-equation backward; 2-D only",
        "keras",
        (2,),
        CS231N.format(p="config"),
    ),
    _ok(
        "functional_ok.py",
        "functional_ok.py",
        "functional forward(x, gamma, beta, eps)",
        "any",
        (2, 4),
        FUNCTIONAL,
    ),
    _ok(
        "dlfs_ok.py",
        "dlfs_ok.py:BatchNormalization",
        "Deep Learning from Scratch BatchNormalization",
        "keras",
        (2,),
        DLFS,
        note="a 4-D input is flattened to (N, C*H*W) and fails to broadcast with (C,) gamma",
    ),
    _ok(
        "numpyml_ok.py",
        "numpyml_ok.py:BatchNorm1D",
        "numpy-ml BatchNorm1D",
        "keras",
        (2,),
        NUMPYML,
        note="scaler initialised at random until set",
    ),
    _ok(
        "torch_style_ok.py",
        "torch_style_ok.py:BatchNorm",
        "torch-like module; train()/eval(); weight/bias",
        "torch",
        (2, 4),
        "ctor(num_features, eps=1e-5, momentum=0.1); mode train()/eval() + training attribute, "
        "forward(x); params weight/bias (C,); grads attributes dweight/dbias (backward returns "
        "dx); running running_mean/running_var",
    ),
    _ok(
        "keras_style_ok.py",
        "keras_style_ok.py:BatchNormalization",
        "keras-like layer; __call__(x, training); moving_variance",
        "keras",
        (2,),
        KERAS_CALL,
    ),
    _ok(
        "mode_string_ok.py",
        "mode_string_ok.py:BatchNorm",
        "layer with forward(x, mode='train'|'test'); scale/bias",
        "keras",
        (2, 4),
        "ctor(num_features, eps=1e-5, momentum=0.9); mode forward(x, mode='train'|'test'); "
        "params scale/bias (C,); grads tuple (dx, dscale, dbias); running "
        "running_mean/running_var",
    ),
    _ok(
        "scale_offset_ok.py",
        "scale_offset_ok.py:BatchNorm",
        "layer with tf names scale/offset; forward(x, train)",
        "keras",
        (2,),
        "ctor(num_features, eps=1e-3, momentum=0.99); mode forward(x, train=True); params "
        "scale/offset (C,); grads tuple (dx, dscale, doffset); running moving_mean/moving_var",
    ),
    _ok(
        "nchw_keepdims_ok.py",
        "nchw_keepdims_ok.py:BatchNorm2d",
        "conv BatchNorm2d, every per-channel array (1, C, 1, 1); 4-D only",
        "torch",
        (4,),
        "ctor(num_features, eps=1e-5, momentum=0.1); mode forward(x, training=True); params "
        "gamma/beta (1, C, 1, 1); grads attributes d_gamma/d_beta (1, C, 1, 1) (backward "
        "returns dx); running running_mean/running_var (1, C, 1, 1)",
        contract_warning=True,
        note="parameters must be set with shape (1, C, 1, 1): a (C,) gamma would broadcast "
        "against W; 2-D input raises ValueError",
    ),
    _ok(
        "keepdims_1xC_ok.py",
        "keepdims_1xC_ok.py:BatchNorm",
        "MLP layer keeping per-feature arrays as (1, C)",
        "keras",
        (2,),
        "ctor(fan_in, eps=1e-8, momentum=0.9); mode forward(x, train=True); params gamma/beta "
        "(1, C); grads tuple (dx, dgamma, dbeta) with dgamma/dbeta (1, C); running "
        "running_mean/running_var (1, C)",
        contract_warning=True,
    ),
    _ok(
        "float64_dx_ok.py",
        "float64_dx_ok.py:BatchNormLayer",
        "staged blog backward with np.ones((N, D)): float64 dx for float32 input",
        "torch",
        (2,),
        "ctor(num_features, eps=1e-5, momentum=0.1); mode forward(x, train=True); params "
        "gamma/beta (C,); grads tuple; running running_mean/running_var",
        contract_warning=True,
        note="float32 call: y, dgamma, dbeta float32, dx float64",
    ),
    _ok(
        "cumulative_ok.py",
        "cumulative_ok.py:BatchNorm1d",
        "torch-like BatchNorm1d(momentum=None): cumulative average",
        "cumulative",
        (2,),
        "ctor(num_features, eps=1e-5, momentum=None); mode train()/eval() + training "
        "attribute, forward(x); params weight/bias (C,); grads dict self.grads['weight'/'bias'] "
        "(backward returns dx); running running_mean/running_var, num_batches_tracked",
    ),
    # -- wrong ----------------------------------------------------------------------------------
    _bad(
        "w01_functional_missing_mu_var.py",
        "w01_functional_missing_mu_var.py",
        "functional; dx = gamma*dy/sqrt(var+eps)",
        "any",
        (2, 4),
        {"missing-mu-and-var-paths"},
        {"backward"},
        FUNCTIONAL,
    ),
    _bad(
        "w02_cs231n_missing_mu.py",
        "w02_cs231n_missing_mu.py",
        "cs231n bn_param; staged backward without dx2 = dmu/N; 2-D only",
        "keras",
        (2,),
        {"missing-mu-path"},
        {"backward"},
        CS231N.format(p="bn_param"),
    ),
    _bad(
        "w03_dlfs_missing_var.py",
        "w03_dlfs_missing_var.py:BatchNormalization",
        "Deep Learning from Scratch; dxc += (2/N)*xc*dvar dropped",
        "keras",
        (2,),
        {"missing-var-path"},
        {"backward"},
        DLFS,
    ),
    _bad(
        "w04_torch_dmu_sum_all.py",
        "w04_torch_dmu_sum_all.py:BatchNorm1d",
        "torch-like forward(x, train); np.sum without axis in dmu",
        "torch",
        (2, 4),
        {"dmu-sum-all-channels"},
        {"backward"},
        "ctor(num_features, eps=1e-5, momentum=0.1); mode forward(x, train=True); params "
        "gamma/beta (C,); grads tuple; running running_mean/running_var",
        note="only visible with C > 1",
    ),
    _bad(
        "w05_cs231n_eps_in_running_var.py",
        "w05_cs231n_eps_in_running_var.py",
        "cs231n bn_params; var+eps stored in running_var, eps added again in test",
        "keras",
        (2,),
        {"eval-eps-in-running-var"},
        {"running"},
        CS231N.format(p="bn_params"),
        note="running_var carries (1 - momentum^t)*eps too much; test mode computes "
        "sqrt(running_var + eps) from that, so eval is consistent with the stored state and "
        "fails only if judged against the convention's running variance",
    ),
    _bad(
        "w06_mode_drops_affine.py",
        "w06_mode_drops_affine.py:BatchNorm",
        "layer forward(x, mode='train'|'test'); test returns x_hat",
        "keras",
        (2, 4),
        {"eval-drops-affine"},
        {"eval"},
        "ctor(num_features, eps=1e-3, momentum=0.99); mode forward(x, mode='train'|'test'); "
        "params gamma/beta (C,); grads tuple; running moving_mean/moving_var",
    ),
    _bad(
        "w07_numpyml_dx_sign.py",
        "w07_numpyml_dx_sign.py:BatchNorm1D",
        "numpy-ml BatchNorm1D; compact dX with its terms in the wrong order",
        "keras",
        (2,),
        {"dx-sign"},
        {"backward"},
        NUMPYML,
    ),
    _bad(
        "w08_cs231n_swapped_grads.py",
        "w08_cs231n_swapped_grads.py",
        "cs231n param (4th param named param); return dx, dbeta, dgamma",
        "keras",
        (2,),
        {"swapped-dgamma-dbeta"},
        {"backward"},
        CS231N.format(p="param"),
    ),
    _bad(
        "w09_functional_float32.py",
        "w09_functional_float32.py",
        "functional; casts to float32 inside, casts back",
        "any",
        (2, 4),
        {"float32-arithmetic"},
        {"forward", "backward"},
        FUNCTIONAL,
        note="fails in float64 only (float32 rounding errors in y, dx, dgamma, dbeta); right "
        "for float32 input",
    ),
    _bad(
        "w10_torch_dvar_no_eps.py",
        "w10_torch_dvar_no_eps.py:BatchNorm",
        "torch-like module train()/eval(); dvar = ... * var**-1.5",
        "torch",
        (2, 4),
        {"dvar-without-eps"},
        {"backward"},
        "ctor(num_features, eps=1e-5, momentum=0.1); mode train()/eval() + training "
        "attribute, forward(x); params weight/bias (C,); grads attributes dweight/dbias "
        "(backward returns dx); running running_mean/running_var",
    ),
    _bad(
        "w11_keras_eval_eps_outside.py",
        "w11_keras_eval_eps_outside.py:BatchNormalization",
        "keras-like __call__(x, training); inference divides by sqrt(var) + eps",
        "keras",
        (2,),
        {"eval-eps-outside-sqrt"},
        {"eval"},
        KERAS_CALL,
    ),
    _bad(
        "w12_functional_eps_outside.py",
        "w12_functional_eps_outside.py",
        "functional, dict cache; x_hat = xc / (sqrt(var) + eps), exact backward of that",
        "any",
        (2, 4),
        {"eps-outside-sqrt"},
        {"forward", "backward"},
        FUNCTIONAL,
    ),
    _bad(
        "w13_torch_unbiased_normalize.py",
        "w13_torch_unbiased_normalize.py:BatchNorm1d",
        "torch-like forward(x, training); np.var(ddof=1) used to normalize",
        "torch",
        (2,),
        {"unbiased-normalize"},
        {"forward", "backward"},
        "ctor(num_features, eps=1e-5, momentum=0.1); mode forward(x, training=True); params "
        "gamma/beta (C,); grads tuple; running running_mean/running_var",
    ),
    _bad(
        "w14_lazy_eval_batch_stats.py",
        "w14_lazy_eval_batch_stats.py:BatchNormLayer",
        "lazy layer ctor(); eval normalizes with the batch statistics",
        "keras",
        (2,),
        {"eval-batch-stats"},
        {"eval"},
        "ctor() [momentum=0.9, eps=1e-5] lazy; mode forward(x, training=True); params "
        "gamma/beta (lazy); grads attributes dgamma/dbeta (backward returns dx); running "
        "running_mean/running_var (lazy)",
    ),
    _bad(
        "w15_torch_momentum_swapped.py",
        "w15_torch_momentum_swapped.py:BatchNorm",
        "torch-like module momentum=0.1 updating momentum*old + (1-momentum)*batch",
        "torch",
        (2,),
        {"momentum-swapped"},
        {"running"},
        "ctor(num_features, eps=1e-5, momentum=0.1); mode train()/eval() + training "
        "attribute, forward(x); params scale/bias (C,); grads tuple (dx, dscale, dbias); "
        "running running_mean/running_var",
        note="unbiased running variance, as torch: only the momentum meaning is wrong",
    ),
    _bad(
        "w16_torch_running_biased.py",
        "w16_torch_running_biased.py:BatchNorm1d",
        "torch-like BatchNorm1d(momentum=0.1) storing the biased variance",
        "torch",
        (2,),
        {"running-var-bias"},
        {"running"},
        "ctor(num_features, eps=1e-5, momentum=0.1); mode forward(x, train=True); params "
        "gamma/beta (C,); grads tuple; running running_mean/running_var",
    ),
    _bad(
        "w17_cs231n_dbeta_mean.py",
        "w17_cs231n_dbeta_mean.py",
        "cs231n bn_param; backward_alt; spatial; dbeta = mean(dout)",
        "keras",
        (2, 4),
        {"dbeta-mean"},
        {"backward"},
        CS231N_SPATIAL.format(p="bn_param"),
    ),
    _bad(
        "w18_grads_dict_dgamma_xc.py",
        "w18_grads_dict_dgamma_xc.py:BatchNorm",
        "framework layer, grads dict; dgamma = sum(dout*(x - mu))",
        "keras",
        (2,),
        {"dgamma-from-xc"},
        {"backward"},
        "ctor(num_features, eps=1e-3, momentum=0.99); mode forward(x, train=True); params "
        "gamma/beta (C,); grads dict self.grads['gamma'/'beta'] (backward returns dx); "
        "running moving_mean/moving_var",
    ),
    _bad(
        "w19_attrs_missing_gamma.py",
        "w19_attrs_missing_gamma.py:BatchNormalization",
        "MLP layer, d_gamma/d_beta attributes; dx_hat = dout",
        "keras",
        (2,),
        {"missing-gamma"},
        {"backward"},
        "ctor(num_features, eps=1e-5, momentum=0.9); mode forward(x, train=True); params "
        "gamma/beta (C,); grads attributes d_gamma/d_beta (backward returns dx); running "
        "running_mean/running_var",
    ),
    _bad(
        "w20_functional_wrong_axes.py",
        "w20_functional_wrong_axes.py",
        "functional; dense code on feature maps: statistics over N only",
        "any",
        (2, 4),
        {"wrong-axes"},
        {"forward", "backward"},
        FUNCTIONAL,
        note="4-D only (per (c, h, w) statistics); right for (N, C) input",
    ),
    _bad(
        "w21_training_missing_gamma_mu.py",
        "w21_training_missing_gamma_mu.py:BatchNorm1d",
        "torch-like forward(x, training); dx_hat = dy and no mean term (two mistakes)",
        "torch",
        (2,),
        {"missing-gamma", "missing-mu-path"},
        {"backward"},
        "ctor(num_features, eps=1e-5, momentum=0.1); mode forward(x, training=True); params "
        "weight/bias (C,); grads tuple (dx, dweight, dbias); running "
        "running_mean/running_var",
    ),
    _bad(
        "w22_keras_updates_in_eval.py",
        "w22_keras_updates_in_eval.py:BatchNormalization",
        "keras-like __call__(x, training); moving update after the if/else",
        "keras",
        (2,),
        {"state-updated-in-eval"},
        {"eval-state"},
        KERAS_CALL,
        note="the eval output itself is right (computed before the update)",
    ),
    _bad(
        "w23_cs231n_missing_sum_dmu.py",
        "w23_cs231n_missing_sum_dmu.py",
        "cs231n bn_param; paper eq (18) as printed: dJ/dmu per element, no sum",
        "keras",
        (2,),
        {"missing-sum-dmu"},
        {"backward"},
        CS231N.format(p="bn_param"),
    ),
    _bad(
        "w24_cs231n_eps_twice.py",
        "w24_cs231n_eps_twice.py",
        "cs231n bn_params; spatial; sqrt((var + eps) + eps)",
        "keras",
        (2, 4),
        {"eps-twice"},
        {"forward", "backward"},
        CS231N_SPATIAL.format(p="bn_params"),
    ),
    _ok(
        "more_styles_ok.py",
        "more_styles_ok.py:Inverted",
        "__call__(x, eval=False) inverted flag; scalar running stats 0/1; test_mean/test_var",
        "keras",
        (2,),
        "ctor(n); mode __call__(x, eval=False|True); params gamma/beta; grads attributes "
        "dgamma/dbeta; running test_mean/test_var (scalars until the first forward)",
    ),
    _ok(
        "more_styles_ok.py",
        "more_styles_ok.py:Predictor",
        "train-only forward(x) with a separate predict(x) for inference",
        "torch",
        (2,),
        "ctor(dim); mode forward(x) / predict(x); params gamma/beta; grads tuple; running "
        "running_mean/running_var",
    ),
    _ok(
        "more_styles_ok.py",
        "more_styles_ok.py:ModeAttr",
        "mode as a string attribute self.mode = 'train'|'test'; params in a dict",
        "keras",
        (2,),
        "ctor(C); mode attribute mode 'train'/'test'; params params['gamma'/'beta']; grads "
        "dict grads['gamma'/'beta']; running running_mean/running_var",
    ),
    _bad(
        "w25_cs231n_spatial_no_transpose.py",
        "w25_cs231n_spatial_no_transpose.py",
        "cs231n spatial via x.reshape(N*H*W, C) without the transpose",
        "keras",
        (2, 4),
        {"reshape-without-transpose"},
        {"forward", "backward"},
        CS231N_SPATIAL.format(p="bn_param"),
    ),
]
