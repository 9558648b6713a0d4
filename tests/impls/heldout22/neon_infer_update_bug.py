"""BatchNorm in the style of Nervana's neon (fprop / bprop), in NumPy.

The layer is configured at the first fprop (sizes from the input). gmean / gvar are the
global statistics: gmean = rho * gmean + (1 - rho) * batch mean, same for gvar with the
biased batch variance; rho = 0.9. fprop(inputs, inference=False): inference uses gmean /
gvar. bprop(error) returns the error for the layer below and leaves the parameter gradients
in grad_gamma / grad_beta (get_params() pairs them with their parameters).
"""

import numpy as np


class Layer:
    def __init__(self, name=None):
        self.name = name
        self.inputs = None
        self.outputs = None


class BatchNorm(Layer):
    def __init__(self, rho=0.9, eps=1e-3, name=None):
        super().__init__(name)
        self.rho = rho
        self.eps = eps
        self.allocated = False

    def allocate(self, nfm):
        self.nfm = nfm
        self.beta = np.zeros(nfm)
        self.gamma = np.ones(nfm)
        self.grad_beta = np.zeros(nfm)
        self.grad_gamma = np.zeros(nfm)
        self.gmean = np.zeros(nfm)
        self.gvar = np.ones(nfm)
        self.allocated = True

    def get_params(self):
        return [((self.beta, self.grad_beta), []), ((self.gamma, self.grad_gamma), [])]

    def fprop(self, inputs, inference=False):
        if not self.allocated:
            self.allocate(inputs.shape[1])
        self.inputs = inputs
        x = inputs.astype(np.float64)
        self.axes = (0, *tuple(range(2, x.ndim)))
        self.bshape = (1, -1) + (1,) * (x.ndim - 2)
        self.inference = inference
        mean = x.mean(axis=self.axes)
        var = ((x - mean.reshape(self.bshape)) ** 2).mean(axis=self.axes)
        self.gmean[:] = self.gmean * self.rho + (1.0 - self.rho) * mean
        self.gvar[:] = self.gvar * self.rho + (1.0 - self.rho) * var
        if inference:
            mean, var = self.gmean, self.gvar
        self.xvar_inv = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (x - mean.reshape(self.bshape)) * self.xvar_inv.reshape(self.bshape)
        self.outputs = self.xhat * self.gamma.reshape(self.bshape) + self.beta.reshape(self.bshape)
        return self.outputs.astype(inputs.dtype)

    def bprop(self, error):
        e = error.astype(np.float64)
        self.grad_gamma[:] = (self.xhat * e).sum(axis=self.axes)
        self.grad_beta[:] = e.sum(axis=self.axes)
        k = (self.gamma * self.xvar_inv).reshape(self.bshape)
        if self.inference:
            return (k * e).astype(error.dtype)
        n = e.size // e.shape[1]
        dx = k * (
            e
            - (
                self.xhat * self.grad_gamma.reshape(self.bshape)
                + self.grad_beta.reshape(self.bshape)
            )
            / n
        )
        return dx.astype(error.dtype)
