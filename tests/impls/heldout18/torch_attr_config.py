"""PyTorch's own BatchNorm1d, configured the way YOLO-style code does it: built with the
defaults, then eps and momentum set as attributes after construction by a model-wide
"initialize" pass (`m.eps = 1e-3; m.momentum = 0.03` for every BN). `make_bn(C)` returns the
module after that pass; the values that count are eps 1e-3 and momentum 0.03, not the
constructor's 1e-5 / 0.1.

No planted mistake.
"""

from torch import nn


def initialize_weights(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.eps = 1e-3
            m.momentum = 0.03


def make_bn(num_features):
    bn = nn.BatchNorm1d(num_features)
    initialize_weights(bn)
    return bn
