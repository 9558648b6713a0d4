"""Batch norm through MyGrad's nnet.layers.batchnorm, with MyGrad's autograd as the
backward (a student's forward/backward pair around it). Correct.
"""

import mygrad as mg
from mygrad.nnet.layers import batchnorm


def forward(x, gamma, beta, eps):
    xt, gt, bt = mg.tensor(x), mg.tensor(gamma), mg.tensor(beta)
    y = batchnorm(xt, gamma=gt, beta=bt, eps=eps)
    return y.data, (y, xt, gt, bt)


def backward(dy, cache):
    y, xt, gt, bt = cache
    y.backward(dy)
    return xt.grad, gt.grad, bt.grad
