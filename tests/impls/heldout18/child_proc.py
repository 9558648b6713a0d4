"""HOSTILE (but a correct BN). A functional BN whose first forward starts a "telemetry
uploader" the way careless library code does: a child Python process in its own session
(`start_new_session=True`) that sleeps forever, and a daemon made by a double fork + setsid
whose grandchild execs a Python that sleeps forever. Neither is ever waited for or stopped.
Both carry the marker "h18-leftover" in their command line, so `pgrep -f h18-leftover`
after a verify shows whether any survived.
forward(x, gamma, beta, eps=1e-5) -> (y, cache), backward(dy, cache) -> (dx, dgamma, dbeta).

No planted mistake in the numbers: the expected verdict is PASS, in normal time, with no
process left behind.
"""

import os
import subprocess
import sys

import numpy as np

_STARTED = []

_SLEEPER = "# h18-leftover\nimport time\nwhile True:\n    time.sleep(1)\n"


def _start_telemetry():
    if _STARTED:
        return
    _STARTED.append(True)
    subprocess.Popen(
        [sys.executable, "-c", _SLEEPER],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )
    pid = os.fork()
    if pid == 0:  # child: new session, fork again, exit
        try:
            os.setsid()
            if os.fork() == 0:
                fd = os.open(os.devnull, os.O_RDWR)
                for k in (0, 1, 2):
                    os.dup2(fd, k)
                os.execv(sys.executable, [sys.executable, "-c", _SLEEPER])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def forward(x, gamma, beta, eps=1e-5):
    _start_telemetry()
    axes = (0, *tuple(range(2, x.ndim)))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=axes, keepdims=True)
    xc = xd - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    xhat = xc * rstd
    g = np.asarray(gamma, np.float64).reshape(bs)
    y = g * xhat + np.asarray(beta, np.float64).reshape(bs)
    return y.astype(x.dtype), (xhat, rstd, g)


def backward(dy, cache):
    xhat, rstd, g = cache
    axes = (0, *tuple(range(2, dy.ndim)))
    d = dy.astype(np.float64)
    m = d.size // d.shape[1]
    dbeta = d.sum(axis=axes, keepdims=True)
    dgamma = (d * xhat).sum(axis=axes, keepdims=True)
    dx = g * rstd * (d - (dbeta + xhat * dgamma) / m)
    return dx.astype(dy.dtype), dgamma.ravel().astype(dy.dtype), dbeta.ravel().astype(dy.dtype)
