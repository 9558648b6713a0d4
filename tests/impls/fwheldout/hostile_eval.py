"""Hostile: a torch BN whose eval() is a no-op."""

from torch import nn


class StuckInTrainBN(nn.BatchNorm1d):
    """BUG (hostile): train() is overridden to do nothing, so .eval() is a no-op and the module
    stays in training mode: "eval" normalizes by the batch and updates the running buffers."""

    def train(self, mode=True):
        return self
