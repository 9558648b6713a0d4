"""User subclasses of torch.nn.BatchNorm1d that override forward: one correct, three with one
planted bug each (eval silently on batch statistics, running statistics frozen, the weight
applied twice)."""

import torch.nn.functional as F
from torch import nn


class CheckedBN1d(nn.BatchNorm1d):
    """Correct: validates the input, then defers to BatchNorm1d."""

    def forward(self, x):
        if x.dim() not in (2, 3):
            raise ValueError(f"CheckedBN1d expected 2D or 3D input, got {x.dim()}D")
        if x.shape[1] != self.num_features:
            raise ValueError(f"expected {self.num_features} channels, got {x.shape[1]}")
        return super().forward(x)


class AlwaysBatchStatsBN(nn.BatchNorm1d):
    """BUG: copied F.batch_norm's call with training hard-wired to True, so eval mode
    normalizes by the batch (and keeps updating the running buffers)."""

    def forward(self, x):
        if x.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {x.dim()}D input)")
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            True,
            self.momentum,
            self.eps,
        )


class FrozenStatsBN(nn.BatchNorm1d):
    """BUG: passes copies of the running buffers to F.batch_norm "to keep autograd happy",
    so the updates land in the copies and the buffers stay at 0 / 1 forever."""

    def forward(self, x):
        if x.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {x.dim()}D input)")
        if self.training:
            return F.batch_norm(
                x,
                self.running_mean.clone(),
                self.running_var.clone(),
                self.weight,
                self.bias,
                True,
                self.momentum,
                self.eps,
            )
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            False,
            0.0,
            self.eps,
        )


class DoubleGainBN(nn.BatchNorm1d):
    """BUG: applies the learnable weight once inside F.batch_norm and again afterwards
    (an extra scale; invisible while weight == 1)."""

    def forward(self, x):
        y = super().forward(x)
        shape = [1, -1] + [1] * (x.dim() - 2)
        return y * self.weight.view(shape)
