"""BatchNorm in the style of MXNet Gluon (a HybridBlock), in NumPy.

hybrid_forward(self, F, x, gamma, beta, running_mean, running_var) receives `F`, the op
namespace (here NumPy-backed ops), and the parameters' data. Whether the block trains is a
process-wide switch, as mxnet.autograd: `with autograd.record(): y = net(x)` trains, a call
outside it predicts. momentum is the weight of the OLD moving value (0.9); moving_var is the
biased batch variance. fix_gamma = not scale. Gradients are written (grad_req="write").
"""

import numpy as np


class _Autograd:
    """The global recording / training state, as mxnet.autograd."""

    def __init__(self):
        self._recording = False
        self._training = False

    def is_recording(self):
        return self._recording

    def is_training(self):
        return self._training

    def record(self, train_mode=True):
        return _RecordingScope(self, True, train_mode)

    def pause(self, train_mode=False):
        return _RecordingScope(self, False, train_mode)


class _RecordingScope:
    def __init__(self, state, recording, training):
        self.state, self.recording, self.training = state, recording, training

    def __enter__(self):
        self.prev = (self.state._recording, self.state._training)
        self.state._recording, self.state._training = self.recording, self.training
        return self

    def __exit__(self, *exc):
        self.state._recording, self.state._training = self.prev
        return False


autograd = _Autograd()


class nd:
    """The few NDArray ops hybrid_forward uses (F)."""

    @staticmethod
    def mean(x, axis, keepdims=True):
        return np.mean(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def square(x):
        return np.square(x)

    @staticmethod
    def sqrt(x):
        return np.sqrt(x)

    @staticmethod
    def reshape(x, shape):
        return np.reshape(x, shape)

    @staticmethod
    def ones_like(x):
        return np.ones_like(x)


class Parameter:
    def __init__(self, name, shape, init, grad_req="write"):
        self.name = name
        self.grad_req = grad_req
        self._data = np.full(shape, init, dtype=np.float64)
        self._grad = np.zeros(shape) if grad_req != "null" else None

    def data(self):
        return self._data

    def grad(self):
        return self._grad

    def set_data(self, value):
        self._data[...] = value


class BatchNorm:
    def __init__(
        self,
        axis=1,
        momentum=0.9,
        epsilon=1e-5,
        center=True,
        scale=True,
        use_global_stats=False,
        in_channels=0,
    ):
        self._kwargs = {
            "axis": axis,
            "eps": epsilon,
            "momentum": momentum,
            "fix_gamma": not scale,
            "use_global_stats": use_global_stats,
        }
        self.in_channels = in_channels
        self.gamma = Parameter("gamma", (in_channels,), 1.0, grad_req="write" if scale else "null")
        self.beta = Parameter("beta", (in_channels,), 0.0, grad_req="write" if center else "null")
        self.running_mean = Parameter("running_mean", (in_channels,), 0.0, grad_req="null")
        self.running_var = Parameter("running_var", (in_channels,), 1.0, grad_req="null")

    def __call__(self, x):
        return self.forward(x)

    def _deferred_init(self, x):
        c = x.shape[self._kwargs["axis"] % x.ndim]
        for p in (self.gamma, self.beta, self.running_mean, self.running_var):
            init = 1.0 if p.name in ("gamma", "running_var") else 0.0
            p._data = np.full((c,), init)
            p._grad = np.zeros((c,)) if p.grad_req != "null" else None
        self.in_channels = c

    def forward(self, x):
        if self.in_channels == 0:
            self._deferred_init(x)
        y = self.hybrid_forward(
            nd,
            x.astype(np.float64),
            gamma=self.gamma.data(),
            beta=self.beta.data(),
            running_mean=self.running_mean.data(),
            running_var=self.running_var.data(),
        )
        return y.astype(x.dtype)

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        kw = self._kwargs
        axes = tuple(i for i in range(x.ndim) if i != kw["axis"] % x.ndim)
        shape = [1] * x.ndim
        shape[kw["axis"] % x.ndim] = -1
        if kw["fix_gamma"]:
            gamma = F.ones_like(gamma)
        training = autograd.is_training() and not kw["use_global_stats"]
        if training:
            mean = F.mean(x, axis=axes)
            var = F.mean(F.square(x), axis=axes) - F.square(mean)
            m = kw["momentum"]
            running_mean[...] = m * running_mean + (1 - m) * F.reshape(mean, (-1,))
            running_var[...] = m * running_var + (1 - m) * F.reshape(var, (-1,))
        else:
            mean = F.reshape(running_mean, shape)
            var = F.reshape(running_var, shape)
        inv_std = 1.0 / F.sqrt(var + kw["eps"])
        x_hat = (x - mean) * inv_std
        self._saved = (axes, shape, x_hat, inv_std, gamma, training)
        return x_hat * F.reshape(gamma, shape) + F.reshape(beta, shape)

    def backward(self, dy):
        axes, shape, x_hat, inv_std, gamma, training = self._saved
        g = dy.astype(np.float64)
        if self.gamma.grad_req == "write":
            self.gamma._grad[...] = np.sum(g * x_hat, axis=axes)
        if self.beta.grad_req == "write":
            self.beta._grad[...] = np.sum(g, axis=axes)
        k = gamma.reshape(shape) * inv_std
        if training:
            g = (
                g
                - g.mean(axis=axes, keepdims=True)
                - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
            )
        return (k * g).astype(dy.dtype)
