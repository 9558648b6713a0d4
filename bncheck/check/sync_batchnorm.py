"""A correct synchronized BatchNorm for PyTorch: the reference ``bncheck verify --world-size``
is checked against, and a drop-in for CPU (gloo) training, where ``torch.nn.SyncBatchNorm``
refuses to run.

Forward (train): every rank computes, per channel, its count n_r, local mean c_r, local
M2_r = Σ (x − c_r)² and residual e_r = Σ (x − c_r) (rounding noise, nearly 0), and all ranks
all-gather these rows. Each rank then merges them in rank order (so every rank gets the same
bits): the count-weighted mean c = Σ n_r·c_r / n, and Chan's parallel merge with the
between-shard term, M2 = Σ_r [M2_r + 2(c_r − c)·e_r + n_r·(c_r − c)²]. The middle term is
the one plain Chan merges drop: it makes M2 exactly Σ_i (x_i − c)², so the variance is as
insensitive to the rounding of the local means as a single-process two-pass variance
(bncheck.check._verify.diagnosis.sync_models explains the budget). Unequal shards merge exactly like
the whole batch; an empty shard counts for nothing.

Backward: each rank sums Σ dy and Σ dy·x_hat over its shard; one all-reduce gives the global
sums, and dx = gamma/sqrt(var + eps)·(dy − Σdy/n − x_hat·Σ(dy·x_hat)/n). dgamma = Σ dy·x_hat
and dbeta = Σ dy are returned as each rank's *local* sums, as in ``torch.nn.SyncBatchNorm``:
data-parallel training (DDP) all-reduces parameter gradients itself.

Running statistics follow PyTorch: new = (1 − momentum)·old + momentum·batch with the
unbiased variance n/(n − 1)·var of the whole batch (momentum None: the cumulative average).
float16 and bfloat16 inputs are computed in float32.

PyTorch is imported when :class:`SyncBatchNorm` is first used; without it that raises
ModuleNotFoundError naming the extra to install (``pip install 'bncheck[compare]'``).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SyncBatchNorm"]

#: the class, built (and PyTorch imported) on first access by the module ``__getattr__``
SyncBatchNorm: Any

_MISSING = (
    "bncheck.check.sync_batchnorm needs PyTorch, which is not installed; install the "
    "[compare] extra: pip install 'bncheck[compare]'"
)


def __getattr__(name: str) -> Any:
    if name == "SyncBatchNorm":
        cls = _build()
        globals()["SyncBatchNorm"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _world(dist: Any, group: Any) -> int:
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return int(dist.get_world_size(group))


def _build() -> Any:
    try:
        import torch
        import torch.distributed as dist
    except ImportError:
        raise ModuleNotFoundError(_MISSING, name="torch") from None

    def shape_of(x: Any) -> tuple[int, ...]:
        return (1, -1, *([1] * (x.dim() - 2)))

    class _Function(torch.autograd.Function):  # type: ignore[misc, unused-ignore]
        @staticmethod
        def forward(ctx: Any, x: Any, weight: Any, bias: Any, eps: float, group: Any) -> Any:
            acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
            xa = x.to(acc)
            c = x.shape[1]
            dims = [0, *range(2, x.dim())]
            n_local = x.numel() // c if c else 0
            if n_local:
                center = xa.mean(dims)
                dev = xa - center.view(shape_of(x))
                m2, res = (dev * dev).sum(dims), dev.sum(dims)
            else:
                center = m2 = res = torch.zeros(c, dtype=acc)
            row = torch.cat([torch.tensor([float(n_local)], dtype=acc), center, m2, res])
            world = _world(dist, group)
            if world > 1:
                rows = [torch.empty_like(row) for _ in range(world)]
                dist.all_gather(rows, row, group=group)
                table = torch.stack(rows)
            else:
                table = row[None]
            counts = table[:, 0]
            keep = counts > 0
            counts, centers = counts[keep], table[keep, 1 : 1 + c]
            m2s, residuals = table[keep, 1 + c : 1 + 2 * c], table[keep, 1 + 2 * c :]
            n = float(counts.sum())
            if n < 2:
                raise ValueError(
                    f"the whole batch holds {n:g} values per channel; training "
                    "needs at least 2 (across all ranks)"
                )
            mean = (counts[:, None] * centers).sum(0) / n
            d = centers - mean
            var = (m2s + 2 * d * residuals + counts[:, None] * d * d).sum(0) / n
            invstd = torch.rsqrt(var + eps)
            x_hat = (xa - mean.view(shape_of(x))) * invstd.view(shape_of(x))
            y = x_hat * weight.to(acc).view(shape_of(x)) + bias.to(acc).view(shape_of(x))
            ctx.save_for_backward(x_hat, weight, invstd)
            ctx.n, ctx.group, ctx.world = n, group, world
            count = torch.tensor(n, dtype=acc)
            ctx.mark_non_differentiable(mean, var, count)
            return y.to(x.dtype), mean, var, count

        @staticmethod
        def backward(ctx: Any, dy: Any, *_: Any) -> Any:
            x_hat, weight, invstd = ctx.saved_tensors
            dya = dy.to(x_hat.dtype)
            dims = [0, *range(2, dy.dim())]
            sum_dy, sum_dy_xhat = dya.sum(dims), (dya * x_hat).sum(dims)
            total = torch.cat([sum_dy, sum_dy_xhat])
            if ctx.world > 1:
                dist.all_reduce(total, group=ctx.group)
            c = sum_dy.numel()
            g_dy, g_dy_xhat = total[:c], total[c:]
            s = shape_of(dy)
            scale = (weight.to(x_hat.dtype) * invstd).view(s)
            dx = scale * (dya - g_dy.view(s) / ctx.n - x_hat * g_dy_xhat.view(s) / ctx.n)
            return (
                dx.to(dy.dtype),
                sum_dy_xhat.to(weight.dtype),
                sum_dy.to(weight.dtype),
                None,
                None,
            )

    class SyncBatchNorm(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        """Batch Normalization synchronized across the ranks of a process group.

        Parameters
        ----------
        num_features : int
            C, the channels (axis 1 of the input, of any rank >= 2).
        eps : float
            Added to the variance inside the square root (> 0).
        momentum : float or None
            PyTorch's meaning: the weight of the new batch in the running statistics;
            None gives the cumulative average.
        process_group : ProcessGroup or None
            The ranks to synchronize over (None: the default group). Without an initialized
            process group (or with one rank) it is an ordinary BatchNorm.

        Examples
        --------
        >>> import torch
        >>> from bncheck.check.sync_batchnorm import SyncBatchNorm
        >>> bn = SyncBatchNorm(3)
        >>> y = bn(torch.arange(24.0).reshape(8, 3))
        >>> y.mean(0).abs().max().item() < 1e-6, [round(v, 4) for v in bn.running_mean.tolist()]
        (True, [1.05, 1.15, 1.25])

        Across processes (each rank passes its shard; see ``bncheck verify --world-size``):

        >>> import torch.distributed as dist
        >>> dist.init_process_group("gloo", ...)  # doctest: +SKIP
        >>> y = SyncBatchNorm(3)(my_shard)  # doctest: +SKIP
        """

        running_mean: Any
        running_var: Any
        num_batches_tracked: Any

        def __init__(
            self,
            num_features: int,
            eps: float = 1e-5,
            momentum: float | None = 0.1,
            process_group: Any = None,
        ) -> None:
            super().__init__()
            if (
                isinstance(num_features, bool)
                or not isinstance(num_features, int)
                or (num_features < 1)
            ):
                raise ValueError(f"num_features={num_features!r}; expected a whole number >= 1")
            if (
                isinstance(eps, bool)
                or not isinstance(eps, (int, float))
                or not (math.isfinite(eps) and eps > 0)
            ):
                raise ValueError(f"eps={eps!r}; expected a finite number > 0")
            if momentum is not None and (
                isinstance(momentum, bool)
                or not isinstance(momentum, (int, float))
                or not 0 <= momentum <= 1
            ):
                raise ValueError(f"momentum={momentum!r}; expected a number in [0, 1] or None")
            self.num_features, self.eps, self.momentum = num_features, float(eps), momentum
            self.process_group = process_group
            self.weight = torch.nn.Parameter(torch.ones(num_features))
            self.bias = torch.nn.Parameter(torch.zeros(num_features))
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

        def forward(self, x: Any) -> Any:
            """Normalize ``x`` (N, C, ...): with the statistics of the whole batch across the
            process group in training mode (this process's alone when no group is
            initialized), with the running statistics in eval mode.

            Examples
            --------
            >>> import torch
            >>> from bncheck.check.sync_batchnorm import SyncBatchNorm
            >>> y = SyncBatchNorm(3)(torch.randn(8, 3, dtype=torch.float64))
            >>> tuple(y.shape), bool(abs(float(y.mean())) < 1e-12)
            ((8, 3), True)
            """
            if not isinstance(x, torch.Tensor) or x.dim() < 2 or (x.shape[1] != self.num_features):
                what = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"x has shape {what}; expected (N, {self.num_features}, ...)")
            s = shape_of(x)
            if not self.training:
                acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
                inv = torch.rsqrt(self.running_var.to(acc) + self.eps)
                y = (x.to(acc) - self.running_mean.to(acc).view(s)) * (
                    inv * self.weight.to(acc)
                ).view(s) + self.bias.to(acc).view(s)
                return y.to(x.dtype)
            group = self.process_group
            if group is None and dist.is_available() and dist.is_initialized():
                group = dist.group.WORLD
            apply: Any = _Function.apply
            y, mean, var, count = apply(x, self.weight, self.bias, self.eps, group)
            with torch.no_grad():
                n = float(count)
                self.num_batches_tracked += 1
                a = (
                    1.0 / float(self.num_batches_tracked)
                    if self.momentum is None
                    else self.momentum
                )
                unbiased = var * (n / (n - 1))
                self.running_mean += a * (mean.to(self.running_mean.dtype) - self.running_mean)
                self.running_var += a * (unbiased.to(self.running_var.dtype) - self.running_var)
            return y

    SyncBatchNorm.__module__ = __name__
    SyncBatchNorm.__qualname__ = "SyncBatchNorm"
    return SyncBatchNorm
