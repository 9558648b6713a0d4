"""HOSTILE. A functional BN with an activation monitor: every forward queues its output for
a background worker thread (started at import, daemon) that records a histogram of |y| for
a dashboard, 20 ms later, so that monitoring does not slow the training step.
forward(x, gamma, beta, eps=1e-5) -> (y, cache), backward(dy, cache) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: the worker takes the magnitude with `np.abs(y, out=y)` (meant to save an
allocation), so about 20 ms after a forward returns, the caller's y is replaced by |y|: every
negative output turns positive under the caller's feet. The value is right at the moment it
is returned; a later read of the same array is wrong.
"""

import queue
import threading
import time

import numpy as np

_WORK = queue.Queue()
HISTOGRAMS = []


def _monitor():
    while True:
        t0, y = _WORK.get()
        delay = 0.02 - (time.monotonic() - t0)
        if delay > 0:
            time.sleep(delay)
        mag = np.abs(y, out=y)
        HISTOGRAMS.append(np.histogram(mag, bins=8)[0])
        del HISTOGRAMS[:-4]


threading.Thread(target=_monitor, name="bn-monitor", daemon=True).start()


def forward(x, gamma, beta, eps=1e-5):
    axes = (0, *tuple(range(2, x.ndim)))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=axes, keepdims=True)
    xc = xd - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    xhat = xc * rstd
    g = np.asarray(gamma, np.float64).reshape(bs)
    y = (g * xhat + np.asarray(beta, np.float64).reshape(bs)).astype(x.dtype)
    _WORK.put((time.monotonic(), y))
    return y, (xhat, rstd, g)


def backward(dy, cache):
    xhat, rstd, g = cache
    axes = (0, *tuple(range(2, dy.ndim)))
    d = dy.astype(np.float64)
    m = d.size // d.shape[1]
    dbeta = d.sum(axis=axes, keepdims=True)
    dgamma = (d * xhat).sum(axis=axes, keepdims=True)
    dx = g * rstd * (d - (dbeta + xhat * dgamma) / m)
    return dx.astype(dy.dtype), dgamma.ravel().astype(dy.dtype), dbeta.ravel().astype(dy.dtype)
