"""What a user would write with the documented adapter API for the targets the CLI refused
(supplementary runs; not part of the score)."""
from bncheck import adapt

import n07_keras_decay_stack as n07
import n08_export_inference as n08
import n10_affine_rows as n10


class _RowView:
    """exposes rows of a (2, C) array as attributes (views, so writes go through)"""
    def __init__(self, owner, attr):
        self._o, self._a = owner, attr

    @property
    def r0(self):
        return getattr(self._o, self._a)[0]

    @r0.setter
    def r0(self, v):
        a = getattr(self._o, self._a)
        setattr(self._o, self._a, __import__("numpy").stack([v, a[1].astype(v.dtype)]))

    @property
    def r1(self):
        return getattr(self._o, self._a)[1]

    @r1.setter
    def r1(self, v):
        a = getattr(self._o, self._a)
        setattr(self._o, self._a, __import__("numpy").stack([a[0].astype(v.dtype), v]))


def n10_target(num_features):
    bn = n10.AffineRowsBN(num_features)
    bn.p = _RowView(bn, "affine")
    bn.s = _RowView(bn, "running")

    def backward(dy):
        dx = bn.backward(dy)
        return dx, bn.d_affine[0], bn.d_affine[1]
    return adapt(bn, forward=lambda x, train: bn.forward(x, training=train), backward=backward,
                 gamma="p.r0", beta="p.r1", running_mean="s.r0", running_var="s.r1",
                 eps=None, momentum=None)


def n08_target(num_features):
    bn = n08.TrainBN(num_features)
    return adapt(bn, forward=lambda x, train: bn.forward(x) if train else bn.export().forward(x),
                 backward=lambda dy: (bn.backward(dy), bn.weight_grad, bn.bias_grad),
                 gamma="weight", beta="bias", running_mean="running_mean", running_var="running_var",
                 eps=None, momentum=None)


def n07_target(num_features):
    bn = n07.StackedBN(num_features)
    bn.s = _RowView(bn, "moving")
    return adapt(bn, forward=lambda x, train: bn.call(x, training=train),
                 backward=lambda dy: (bn.backprop(dy), bn.gamma_grad, bn.beta_grad),
                 gamma="gamma", beta="beta", running_mean="s.r0", running_var="s.r1",
                 eps=None, momentum=None, axis=-1)
