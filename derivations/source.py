"""The sources' equations and claims, transcribed exactly as printed — one table, no verdicts.

``printed`` is the source text verbatim (LaTeX or Chinese). ``sides`` is the same equation as a
SymPy chain ``sides[0] = sides[1] = …``. Intermediate derivatives the source writes as fractions
(dJ/dn_i, dJ/dσ²_B, …) are placeholders; the audit substitutes the derivation's value with the
meaning stated in ``staged`` so that each equation is tested on its own. The free sample index i
of the source is the SymPy symbol k (i is kept for summation). A plain δ in a per-sample formula is
read as δ_k, the matching row of the δ matrix.

``corrected`` is a candidate correct form; the audit checks it as strictly as the claim and only
reports it when the claim fails. ``effect`` says what a program that implements the printed form
literally does; it is shown only for failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp
from bncheck.derivations.algebra import DELTA, EPS, GAMMA, I, K, M, X, batch_sum
from bncheck.derivations.symbolic import MU_B, VAR_B, N

# Placeholders for the source's fractions; names match ``staged.quantities()``.
P = {
    name: sp.IndexedBase(tex) if per_sample else sp.Symbol(tex)
    for name, tex, per_sample in (
        ("dJ/dz", r"\frac{dJ}{dz}", True),
        ("dJ/dn", r"\frac{dJ}{dn}", True),
        ("dz/dgamma", r"\frac{dz}{d\gamma}", True),
        ("dz/dbeta", r"\frac{dz}{d\beta}", True),
        ("dz/dn", r"\frac{dz}{dn}", True),
        ("dJ/dx", r"\frac{dJ}{dx}", True),
        ("dn/dx", r"\frac{dn}{dx}", True),
        ("dn/dvar", r"\frac{dn}{d\sigma^2_B}", True),
        ("dn/dmu", r"\frac{dn}{d\mu_B}", True),
        ("dvar/dx", r"\frac{d\sigma^2_B}{dx}", True),
        ("dvar/dx total", r"\frac{d\sigma^2_B}{dx}\Big|_{\mathrm{total}}", True),
        ("dmu/dx", r"\frac{d\mu_B}{dx}", True),
        ("dJ/dgamma", r"\frac{dJ}{d\gamma}", False),
        ("dJ/dbeta", r"\frac{dJ}{d\beta}", False),
        ("dJ/dvar", r"\frac{dJ}{d\sigma^2_B}", False),
        ("dJ/dmu", r"\frac{dJ}{d\mu_B}", False),
        ("dvar/dmu", r"\frac{d\sigma^2_B}{d\mu_B}", False),
        ("E[x]", r"E[x]", False),
        ("Var[x]", r"Var[x]", False),
    )
}
E = sp.Function("E")  # expectation over i.i.d. samples x_i, applied by the audit
ROOT = sp.sqrt(VAR_B + EPS)


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    printed: str
    meaning: str
    kind: str
    sides: tuple[sp.Expr, ...] = ()
    params: Mapping[str, object] = field(default_factory=dict)
    corrected: tuple[sp.Expr, ...] | Mapping[str, object] | None = None
    corrected_text: str | None = None
    effect: str | None = None


def _p(name: str, idx: sp.Expr | None = None) -> sp.Expr:
    base = P[name]
    return base[idx] if idx is not None else base


# Right-hand sides reused by the composed row (what a literal program computes from (13)).
EQ16 = (
    -sp.Rational(1, 2)
    * (VAR_B + EPS) ** sp.Rational(-3, 2)
    * batch_sum(_p("dJ/dn", I) * (X[I] - MU_B))
)
EQ18 = -DELTA[K] * GAMMA / ROOT - 2 / M * _p("dJ/dvar") * batch_sum(X[I] - MU_B)
EQ18_FIXED = -GAMMA / ROOT * batch_sum(DELTA[I]) - 2 / M * _p("dJ/dvar") * batch_sum(X[I] - MU_B)
EQ13_RHS = DELTA[K] * GAMMA / ROOT + _p("dJ/dvar") * 2 * (X[K] - MU_B) / M + _p("dJ/dmu") / M

_MU_PER_SAMPLE = (
    "A program that codes (18) literally gets dJ/dμ_B per sample (a [batchSize, Features] "
    "matrix −δ_i·γ/√(σ²_B+ε)) instead of the batch sum −γ/√(σ²_B+ε)·Σδ_i; through (13) every "
    "dJ/dx_i then carries the error shown, Σ_i dJ/dx_i ≠ 0, and dx ≠ 0 for a uniform δ."
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "eq10",
        "004",
        r"\delta = {dJ \over dZ}，\delta_i = {dJ \over dz_i}",
        "δ_k = ∂J/∂z_k for J = Σ δ_i z_i (the definition of the upstream gradient)",
        "identity",
        (_p("dJ/dz", K), DELTA[K]),
    ),
    Claim(
        "eq11",
        "004",
        r"{dJ \over d\gamma} = \sum_{i=1}^m {dJ \over dz_i}{dz_i \over d\gamma}"
        r"=\sum_{i=1}^m \delta_i \cdot n_i",
        "both equalities, dJ/dγ total",
        "identity",
        (
            _p("dJ/dgamma"),
            batch_sum(_p("dJ/dz", I) * _p("dz/dgamma", I)),
            batch_sum(DELTA[I] * N[I]),
        ),
    ),
    Claim(
        "eq12",
        "004",
        r"{dJ \over d\beta} = \sum_{i=1}^m {dJ \over dz_i}{dz_i \over d\beta}"
        r"=\sum_{i=1}^m \delta_i",
        "both equalities, dJ/dβ total",
        "identity",
        (_p("dJ/dbeta"), batch_sum(_p("dJ/dz", I) * _p("dz/dbeta", I)), batch_sum(DELTA[I])),
    ),
    Claim(
        "eq13a",
        "004",
        r"{dJ \over dx_i} = {dJ \over d n_i}{d n_i \over dx_i} + {dJ \over d \sigma^2_B}"
        r"{d \sigma^2_B \over dx_i} + {dJ \over d \mu_B}{d \mu_B \over dx_i}",
        "total dJ/dx_i from the partials of `staged` (n_i, σ²_B, μ_B held as stated there)",
        "identity",
        (
            _p("dJ/dx", K),
            _p("dJ/dn", K) * _p("dn/dx", K)
            + _p("dJ/dvar") * _p("dvar/dx", K)
            + _p("dJ/dmu") * _p("dmu/dx", K),
        ),
    ),
    Claim(
        "eq14a",
        "004",
        r"{dJ \over d n_i}=  {dJ \over dz_i}{dz_i \over dn_i} = \delta_i \cdot \gamma",
        "both equalities, ∂J/∂n_i with n as the variables",
        "identity",
        (_p("dJ/dn", K), _p("dJ/dz", K) * _p("dz/dn", K), DELTA[K] * GAMMA),
    ),
    Claim(
        "eq14",
        "004",
        r"{dJ \over d N}= \delta \cdot \gamma",
        "element (i, f) of the matrix form: ∂J/∂N_if = δ_if·γ_f (γ broadcast over rows)",
        "identity",
        (_p("dJ/dn", K), DELTA[K] * GAMMA),
    ),
    Claim(
        "eq14_broadcast",
        "004",
        r"\delta^{(64 \times 10)} \odot \gamma^{(1 \times 10)}=R^{(64 \times 10)}",
        "the broadcast shape of δ ⊙ γ",
        "broadcast",
        params={"left": (64, 10), "right": (1, 10), "printed": (64, 10)},
    ),
    Claim(
        "eq15",
        "004",
        r"{d n_i \over dx_i}={1 \over \sqrt{\sigma^2_B + \epsilon}}",
        "partial ∂n_i/∂x_i with μ_B, σ²_B held fixed",
        "identity",
        (_p("dn/dx", K), 1 / ROOT),
    ),
    Claim(
        "eq16",
        "004",
        r"{dJ \over d \sigma^2_B} = \sum_{i=1}^m {dJ \over d n_i}{d n_i \over d \sigma^2_B} "
        r"= -{1 \over 2}(\sigma^2_B + \epsilon)^{-3/2}"
        r"\sum_{i=1}^m {dJ \over d n_i} \cdot (x_i-\mu_B)",
        "both equalities, ∂J/∂σ²_B with x, μ_B held fixed",
        "identity",
        (_p("dJ/dvar"), batch_sum(_p("dJ/dn", I) * _p("dn/dvar", I)), EQ16),
    ),
    Claim(
        "eq17",
        "004",
        r"{d \sigma^2_B \over dx_i} = {2(x_i - \mu_B) \over m}",
        "partial ∂σ²_B/∂x_i with μ_B held fixed (the meaning (13) needs)",
        "identity",
        (_p("dvar/dx", K), 2 * (X[K] - MU_B) / M),
    ),
    Claim(
        "eq17_total",
        "004",
        r"{d \sigma^2_B \over dx_i} = {2(x_i - \mu_B) \over m}",
        "the same formula read as the total derivative (through μ_B(x) as well)",
        "identity",
        (_p("dvar/dx total", K), 2 * (X[K] - MU_B) / M),
    ),
    Claim(
        "eq18a",
        "004",
        r"{dJ \over d \mu_B}={dJ \over d n_i}{d n_i \over d \mu_B} + {dJ \over  d\sigma^2_B}"
        r"{d \sigma^2_B \over d \mu_B}",
        "dJ/dμ_B (x fixed, through n and σ²_B) as printed: no sum over i",
        "identity",
        (_p("dJ/dmu"), _p("dJ/dn", K) * _p("dn/dmu", K) + _p("dJ/dvar") * _p("dvar/dmu")),
        corrected=(
            _p("dJ/dmu"),
            batch_sum(_p("dJ/dn", I) * _p("dn/dmu", I)) + _p("dJ/dvar") * _p("dvar/dmu"),
        ),
        corrected_text=r"{dJ \over d \mu_B}=\sum_{i=1}^m {dJ \over d n_i}{d n_i \over d \mu_B}"
        r" + {dJ \over d\sigma^2_B}{d \sigma^2_B \over d \mu_B}",
        effect=_MU_PER_SAMPLE,
    ),
    Claim(
        "eq18",
        "004",
        r"{dJ \over d \mu_B}=-{\delta \cdot \gamma \over \sqrt{\sigma^2_B + \epsilon}}"
        r" - {2 \over m}"
        r"{dJ \over d \sigma^2_B}\sum_{i=1}^m (x_i- \mu_B)",
        "dJ/dμ_B as printed, δ read per sample (δ_i)",
        "identity",
        (_p("dJ/dmu"), EQ18),
        corrected=(_p("dJ/dmu"), EQ18_FIXED),
        corrected_text=r"{dJ \over d \mu_B}=-{\gamma \over \sqrt{\sigma^2_B + \epsilon}}"
        r"\sum_{i=1}^m \delta_i - {2 \over m}{dJ \over d \sigma^2_B}\sum_{i=1}^m (x_i- \mu_B)",
        effect=_MU_PER_SAMPLE,
    ),
    Claim(
        "eq19",
        "004",
        r"{d n_i \over d \mu_B}={-1 \over \sqrt{\sigma^2_B + \epsilon}}",
        "partial ∂n_i/∂μ_B with x, σ²_B held fixed",
        "identity",
        (_p("dn/dmu", K), -1 / ROOT),
    ),
    Claim(
        "eq20",
        "004",
        r"{d \sigma^2_B \over d \mu_B}=-{2 \over m}\sum_{i=1}^m (x_i- \mu_B)",
        "partial ∂σ²_B/∂μ_B with x held fixed",
        "identity",
        (_p("dvar/dmu"), -2 / M * batch_sum(X[I] - MU_B)),
    ),
    Claim(
        "eq21",
        "004",
        r"{d \mu_B \over dx_i} = {1 \over m}",
        "∂μ_B/∂x_i of (6)",
        "identity",
        (_p("dmu/dx", K), 1 / M),
    ),
    Claim(
        "eq13",
        "004",
        r"{dJ \over dx_i} = {\delta \cdot \gamma \over \sqrt{\sigma^2_B + \epsilon}} + "
        r"{dJ \over d\sigma^2_B} \cdot {2(x_i - \mu_B) \over m}"
        r" + {dJ \over d\mu_B} \cdot {1 \over m}",
        "total dJ/dx_i, δ read as δ_i, dJ/dσ²_B and dJ/dμ_B the derived values",
        "identity",
        (_p("dJ/dx", K), EQ13_RHS),
    ),
    Claim(
        "eq13_with_printed_16_18",
        "004",
        "(13) final form with dJ/dσ²_B from (16) and dJ/dμ_B from (18) as printed",
        "what a program implementing the document literally computes for dJ/dx_i",
        "identity",
        (_p("dJ/dx", K), EQ13_RHS.subs(_p("dJ/dmu"), EQ18).subs(_p("dJ/dvar"), EQ16)),
        corrected=(
            _p("dJ/dx", K),
            EQ13_RHS.subs(_p("dJ/dmu"), EQ18_FIXED).subs(_p("dJ/dvar"), EQ16),
        ),
        corrected_text="(13) with (16) and the corrected (18) (Σ_i δ_i in its first term)",
        effect=_MU_PER_SAMPLE,
    ),
    Claim(
        "inference_mean",
        "004",
        r"E[x] = E[\mu_B]",
        "for i.i.d. x_i with mean μ and variance σ²: E[μ_B] equals E[x]",
        "expectation",
        (_p("E[x]"), E(MU_B)),
    ),
    Claim(
        "inference_var",
        "004",
        r"Var[x] = {m \over m-1} E[\sigma^2_B]",
        "for i.i.d. x_i: m/(m−1)·E[σ²_B] equals Var[x] (Bessel's correction)",
        "expectation",
        (_p("Var[x]"), M / (M - 1) * E(VAR_B)),
    ),
    Claim(
        "running_mean_ema",
        "004",
        r"m_{t} = \alpha \cdot m_{t-1} + (1-\alpha) \cdot \mu_t",
        "α = 0.9: the expected fixed point of the recursion equals E[x]",
        "ema",
        params={"update": MU_B, "target": _p("E[x]")},
    ),
    Claim(
        "running_var_ema",
        "004",
        r"v_{t} = \alpha \cdot v_{t-1} + (1-\alpha) \cdot \sigma_t",
        "α = 0.9, σ_t = √σ²_B as printed: the expected fixed point equals Var[x] "
        "(the variance the document uses at inference)",
        "ema",
        params={"update": sp.sqrt(VAR_B), "target": _p("Var[x]")},
        corrected={"update": M / (M - 1) * VAR_B, "target": _p("Var[x]")},
        corrected_text=r"v_{t} = \alpha \cdot v_{t-1} + (1-\alpha) \cdot {m \over m-1}\sigma^2_t",
        effect="Inference divides by √(v_t + ε) ≈ √(E[σ_B] + ε) instead of √(Var[x] + ε): the "
        "output scale is wrong by the factor shown unless the batch standard deviation is 1, "
        "and the units are wrong (a standard deviation used as a variance).",
    ),
    Claim(
        "eps_guard",
        "004",
        r"$\epsilon$是防止$\mu_B^2$为0时加的一个很小的数值",
        "with ε = 0, (8) divides by zero exactly when μ_B² = 0",
        "eps_guard",
        params={"guard": MU_B**2},
        corrected={"guard": VAR_B},
        corrected_text=r"ε keeps \sqrt{\sigma^2_B + \epsilon} > 0 when σ²_B = 0 "
        "(all x_i of a channel equal)",
        effect="Guarding μ_B² (e.g. adding ε to μ_B² or testing μ_B ≠ 0) leaves (8) dividing by "
        "zero on a constant channel: inf/NaN in n, z and every gradient.",
    ),
    Claim(
        "shape_mu_B",
        "004",
        r"|$\mu_B$| 批数据均值 | [1, Features] |",
        "shape of μ_B by (6)",
        "shape",
        params={"quantity": "mu_B", "printed": ("1", "Features")},
    ),
    Claim(
        "shape_sigma2_B",
        "004",
        r"|$\sigma^2_B$| 批数据方差 | [1, Features] |",
        "shape of σ²_B by (7)",
        "shape",
        params={"quantity": "sigma2_B", "printed": ("1", "Features")},
    ),
    Claim(
        "shape_N",
        "004",
        r"|$N$| 经过归一化的数据矩阵 | [batchSize, Features] |",
        "shape of N by (8)",
        "shape",
        params={"quantity": "N", "printed": ("batchSize", "Features")},
    ),
    Claim(
        "shape_Z",
        "004",
        r"|$Z$|线性变换后的矩阵| [1, Features] |",
        "shape of Z by (9)",
        "shape",
        params={"quantity": "Z", "printed": ("1", "Features")},
        corrected={"quantity": "Z", "printed": ("batchSize", "Features")},
        corrected_text="[batchSize, Features]",
        effect="A buffer for Z allocated as [1, Features] cannot hold the batch: a shape error, "
        "or silently only one row kept.",
    ),
    Claim(
        "shape_delta",
        "004",
        r"|$\delta$| 反向传入的误差 | [batchSize, Features] |",
        "shape of δ = dJ/dZ (10)",
        "shape",
        params={"quantity": "delta", "printed": ("batchSize", "Features")},
    ),
    Claim(
        "shape_gamma",
        "004",
        r"|$\gamma$|线性变换参数| [1, Features] |",
        "shape of dJ/dγ by (11), which must match γ",
        "shape",
        params={"quantity": "dgamma", "printed": ("1", "Features")},
    ),
    Claim(
        "normal_mass_1sd",
        "004",
        "有68%的值落在[-1,1]之间",
        "N(0,1) mass of [−1, 1]",
        "normal_mass",
        params={"mean": 0, "variance": 1, "lo": -1, "hi": 1, "percent": 68},
    ),
    Claim(
        "normal_mass_2sd",
        "004",
        "有95%的值落在[-2,2]之间",
        "N(0,1) mass of [−2, 2]",
        "normal_mass",
        params={"mean": 0, "variance": 1, "lo": -2, "hi": 2, "percent": 95},
    ),
    Claim(
        "sigmoid_derivative_outside_2",
        "004",
        "在[-2,2]之外的区域，其导数值很小（小于0.1）",
        "σ'(x) = σ(x)(1−σ(x)) < 0.1 for every |x| > 2",
        "sigmoid_bound",
        params={"outside": 2, "bound": sp.Rational(1, 10)},
        effect="No effect on BN code; the bound is false just outside ±2 (σ'(2) ≈ 0.105).",
    ),
    Claim(
        "normal_mass_1sd_000",
        "000",
        "在一个标准差的范围内，有64%的概率X的之落在[-1,1]的范围内",
        "N(0,1) mass of [−1, 1]",
        "normal_mass",
        params={"mean": 0, "variance": 1, "lo": -1, "hi": 1, "percent": 64},
        effect="No effect on code; a reader calibrating outlier thresholds would be off by 4 "
        "percentage points.",
    ),
    Claim(
        "normal_mass_2sd_000",
        "000",
        "两个标准差的范围内，也就是95%的概率X的值落在[-2,2]的范围内",
        "N(0,1) mass of [−2, 2]",
        "normal_mass",
        params={"mean": 0, "variance": 1, "lo": -2, "hi": 2, "percent": 95},
    ),
    Claim(
        "variance_minus_one_000",
        "000",
        "原始没有经过调整的x的正态分布是均值为-6,方差是-1的",
        "a variance can be −1",
        "variance",
        params={"variance": -1},
        corrected={"variance": 1},
        corrected_text="均值为-6, 方差是1 (standard deviation 1)",
        effect="A program that takes the variance −1 literally gets √(−1 + ε): NaN in float "
        "arithmetic.",
    ),
    Claim(
        "normal_mass_minus8_minus4_000",
        "000",
        "对应的95%的概率落在[-8,-4]之间",
        "N(−6, 1) mass of [−8, −4] (variance read as +1, since −1 is impossible)",
        "normal_mass",
        params={"mean": -6, "variance": 1, "lo": -8, "hi": -4, "percent": 95},
    ),
)
