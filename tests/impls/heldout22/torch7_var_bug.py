"""nn.BatchNormalization in the style of Torch7's Lua `nn` package, ported to NumPy.

A Module has updateOutput / updateGradInput / accGradParameters; forward and backward call
them. As in Torch7, accGradParameters ADDS into gradWeight / gradBias (scaled by `scale`)
and they keep growing until zeroGradParameters() is called (the training loop does that
once per mini-batch). `self.train` is the mode flag, set by training() / evaluate().
"""

import numpy as np


class Module:
    def __init__(self):
        self.output = None
        self.gradInput = None
        self.train = True

    def forward(self, input):
        return self.updateOutput(input)

    def backward(self, input, gradOutput, scale=1.0):
        self.updateGradInput(input, gradOutput)
        self.accGradParameters(input, gradOutput, scale)
        return self.gradInput

    def parameters(self):
        return [], []

    def zeroGradParameters(self):
        _, grads = self.parameters()
        for g in grads:
            g.fill(0)

    def training(self):
        self.train = True

    def evaluate(self):
        self.train = False


class BatchNormalization(Module):
    def __init__(self, nOutput, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.running_mean = np.zeros(nOutput)
        self.running_var = np.ones(nOutput)
        if affine:
            self.weight = np.ones(nOutput)
            self.bias = np.zeros(nOutput)
            self.gradWeight = np.zeros(nOutput)
            self.gradBias = np.zeros(nOutput)
        self.save_mean = None
        self.save_std = None  # as in THNN: holds 1/sqrt(var + eps)

    def parameters(self):
        if self.affine:
            return [self.weight, self.bias], [self.gradWeight, self.gradBias]
        return [], []

    def _view(self, input):
        # every dim but the feature dim (dim 2 in Lua, axis 1 here) is reduced
        axes = (0, *tuple(range(2, input.ndim)))
        bshape = (1, -1) + (1,) * (input.ndim - 2)
        return axes, bshape

    def updateOutput(self, input):
        axes, bshape = self._view(input)
        x = input.astype(np.float64)
        w = self.weight if self.affine else np.ones(x.shape[1])
        b = self.bias if self.affine else np.zeros(x.shape[1])
        if self.train:
            n = x.size // x.shape[1]
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(bshape)
            var = (xc * xc).mean(axis=axes)
            invstd = 1.0 / np.sqrt(var + self.eps)
            self.save_mean = mean
            self.save_std = invstd
            self.running_mean = self.momentum * mean + (1 - self.momentum) * self.running_mean
            # the C kernel only keeps save_std; get the variance back from it
            unbiased = (1.0 / (invstd * invstd)) * n / (n - 1)
            self.running_var = self.momentum * unbiased + (1 - self.momentum) * self.running_var
        else:
            mean = self.running_mean
            invstd = 1.0 / np.sqrt(self.running_var + self.eps)
            xc = x - mean.reshape(bshape)
        out = xc * (invstd * w).reshape(bshape) + b.reshape(bshape)
        self.output = out.astype(input.dtype)
        return self.output

    def _stats(self):
        if self.train:
            return self.save_mean, self.save_std
        return self.running_mean, 1.0 / np.sqrt(self.running_var + self.eps)

    def updateGradInput(self, input, gradOutput):
        axes, bshape = self._view(input)
        x = input.astype(np.float64)
        dy = gradOutput.astype(np.float64)
        mean, invstd = self._stats()
        w = self.weight if self.affine else np.ones(x.shape[1])
        k = (w * invstd).reshape(bshape)
        if self.train:
            xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
            dmean = dy.mean(axis=axes).reshape(bshape)
            dproj = (dy * xhat).mean(axis=axes).reshape(bshape)
            gi = k * (dy - dmean - xhat * dproj)
        else:
            gi = k * dy
        self.gradInput = gi.astype(input.dtype)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1.0):
        if not self.affine:
            return
        axes, bshape = self._view(input)
        x = input.astype(np.float64)
        dy = gradOutput.astype(np.float64)
        mean, invstd = self._stats()
        xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
        self.gradWeight += scale * (dy * xhat).sum(axis=axes)
        self.gradBias += scale * dy.sum(axis=axes)
