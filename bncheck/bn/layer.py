"""The BatchNorm layer: parameters, running statistics, train/eval, state_dict and
load_state_dict, save and load (the file format itself is :mod:`bncheck.bn._layer_file`)."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.bn._layer_file import (
    COUNTER_RANGE,
    FORMAT,
    MAX_BATCHES_TRACKED,
    check_counter,
    read_layer,
    state_shapes,
    write_layer,
)
from bncheck.bn._validation import (
    FLOAT_DTYPES,
    BatchNormError,
    check_axis,
    check_float_array,
    check_ndim,
    check_num_features,
    check_positive_finite,
)
from bncheck.bn.functional import (
    BatchNormCache,
    BatchNormGrads,
    batchnorm_backward,
    batchnorm_forward,
    check_unchanged,
    input_checksum,
)
from bncheck.bn.inference import inference_backward, inference_forward
from bncheck.bn.running import DEFAULT, get_convention, resolve_momentum, update_running

__all__ = ["FORMAT", "MAX_BATCHES_TRACKED", "BatchNorm"]

FloatArray = NDArray[np.floating[Any]]


class BatchNorm:
    """Batch Normalization layer with running statistics.

    Training normalizes with the biased batch variance (eq 7) and updates the running
    statistics; eval mode normalizes with the running statistics and changes no state. A call
    that raises changes no state. Inputs have 2 to 5 dimensions.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    axis : int
        The channel axis of the inputs (1 for (N, C, ...), -1 for channels-last).
    eps : float > 0
        Added to the variance inside the square root.
    momentum : float in [0, 1], or None
        Running-statistics weight, in the convention's own meaning (see ``bncheck.bn.running``).
        Default: the convention's (torch 0.1, keras 0.99, cumulative None). None (torch,
        cumulative) means the cumulative average over all batches.
    convention : "torch", "keras" or "cumulative"
        How batches are folded into the running statistics (a row of
        ``bncheck.bn.running.CONVENTIONS``).
    unbiased : bool or None
        Store the unbiased m/(m−1)·sigma2_B as running variance; None: the convention's default.
    affine : bool
        Learnable gamma (ones) and beta (zeros); False means no scale and shift.
    dtype : float16, float32 or float64
        dtype of gamma, beta and the running statistics. Inputs of any float dtype are accepted;
        outputs have the input's dtype.

    Attributes
    ----------
    gamma, beta : arrays of shape (num_features,) or None
        The learnable scale and shift (None when ``affine=False``).
    running_mean, running_var : arrays of shape (num_features,)
        The running statistics, initially 0 and 1.
    num_batches_tracked : int
        The number of training batches seen.
    training : bool
        True in training mode (the initial mode), False in eval mode.

    Raises
    ------
    TypeError
        A setting of the wrong type (e.g. a float num_features or axis, a non-bool affine, a
        dtype that is not float16/32/64).
    BatchNormError
        A setting out of range (num_features < 1, eps <= 0, momentum outside [0, 1] or not
        allowed by the convention, an unknown convention).

    Notes
    -----
    Threads: a layer may be shared between threads. Each public call (``forward``/``__call__``,
    ``backward``, ``train``/``eval``, ``state_dict``/``load_state_dict``, ``save``) runs under
    the layer's :attr:`lock`, so it sees and leaves a consistent state and no running-statistics
    update is lost. ``backward`` differentiates the layer's last ``forward``, whichever thread
    made it: to pair a forward with its backward, hold the lock around both
    (``with bn.lock: y = bn(x); grads = bn.backward(dy)``; it is reentrant). Assigning
    attributes directly (``bn.gamma = ...``) is not locked.

    No copy: for its backward the layer keeps a reference to the last input, not a copy, and a
    checksum of it taken in a pass the forward makes anyway (docs/numerics.md). ``backward``
    computes the checksum again and raises ``BatchNormError`` naming the channels if the input
    was modified in between, so an edit can never give silently wrong gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import BatchNorm
    >>> bn = BatchNorm(3)  # torch's convention: momentum 0.1, unbiased running variance
    >>> x = np.random.default_rng(0).normal(2.0, 1.0, size=(16, 3))
    >>> y = bn(x)  # training: normalized with the batch statistics
    >>> np.allclose(y.mean(axis=0), 0.0), bn.num_batches_tracked
    (True, 1)
    >>> np.allclose(bn.running_mean, 0.1 * x.mean(axis=0))
    True
    >>> grads = bn.backward(np.ones_like(y))
    >>> grads.dx.shape, grads.dgamma.shape
    ((16, 3), (3,))
    """

    def __init__(
        self,
        num_features: int,
        *,
        axis: int = 1,
        eps: float = 1e-5,
        momentum: float | None = DEFAULT,
        convention: str = "torch",
        unbiased: bool | None = None,
        affine: bool = True,
        dtype: Any = np.float64,
    ) -> None:
        c = check_num_features(num_features)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis={axis!r} must be an int (the channel axis)")
        eps_f = check_positive_finite("eps", eps)
        get_convention(convention)
        mom = resolve_momentum(convention, momentum)
        if unbiased is not None and not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"unbiased={unbiased!r} must be True, False or None")
        if not isinstance(affine, (bool, np.bool_)):
            raise TypeError(f"affine={affine!r} must be True or False")
        try:
            dt = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(f"dtype={dtype!r} is not a dtype; expected float16/32/64") from exc
        if dt not in FLOAT_DTYPES:
            raise TypeError(f"dtype={dt} must be float16, float32 or float64")
        self.num_features = c
        self.axis = int(axis)
        self.eps = eps_f
        self.momentum = mom
        self.convention = convention
        self.unbiased = None if unbiased is None else bool(unbiased)
        self.affine = bool(affine)
        self.dtype = dt
        self.gamma: FloatArray | None = np.ones(c, dt) if affine else None
        self.beta: FloatArray | None = np.zeros(c, dt) if affine else None
        self.running_mean: FloatArray = np.zeros(c, dt)
        self.running_var: FloatArray = np.ones(c, dt)
        self.num_batches_tracked = 0
        self.training = True
        self._cache: BatchNormCache | None = None
        # eval mode: the last input (a reference, not a copy) and its checksum
        self._eval_input: FloatArray | None = None
        self._eval_sum: NDArray[np.uint32] | None = None
        self._no_grad = False  # the last forward ran with grad=False
        self._lock = threading.RLock()

    @property
    def lock(self) -> threading.RLock:
        """The layer's reentrant lock; every public stateful call holds it while it runs."""
        return self._lock

    def __getstate__(self) -> dict[str, Any]:
        # pickle and copy.deepcopy: everything but the lock (the copy gets a fresh one)
        with self._lock:
            state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- mode -------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> BatchNorm:
        """Set training mode (``mode=False`` is eval mode).

        Parameters
        ----------
        mode : bool
            True: training mode; False: eval mode.

        Returns
        -------
        BatchNorm
            self, for chaining.

        Raises
        ------
        TypeError
            ``mode`` is not a bool.

        Examples
        --------
        >>> from bncheck.bn import BatchNorm
        >>> bn = BatchNorm(3)
        >>> bn.train(False).training, bn.train().training
        (False, True)
        """
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode={mode!r} must be True or False")
        with self._lock:
            self.training = bool(mode)
        return self

    def eval(self) -> BatchNorm:
        """Set eval mode: normalize with the running statistics, change no state.

        Returns
        -------
        BatchNorm
            self, for chaining (the same as ``train(False)``).

        Examples
        --------
        >>> import numpy as np
        >>> from bncheck.bn import BatchNorm
        >>> bn = BatchNorm(2).eval()
        >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
        >>> np.allclose(bn(x), x / np.sqrt(1.0 + bn.eps))  # running mean 0, running var 1
        True
        >>> bn.num_batches_tracked
        0
        """
        return self.train(False)

    def __repr__(self) -> str:
        mom = "None" if self.momentum is None else repr(self.momentum)
        return (
            f"BatchNorm({self.num_features}, axis={self.axis}, eps={self.eps!r}, "
            f"momentum={mom}, convention={self.convention!r}, unbiased={self.unbiased}, "
            f"affine={self.affine}, dtype={self.dtype.name})"
        )

    # -- compute ----------------------------------------------------------------------------
    def _check_input(self, x: ArrayLike) -> FloatArray:
        xa = check_float_array("x", x)
        check_ndim("x", xa)
        ax = check_axis(self.axis, xa.ndim)
        if xa.shape[ax] != self.num_features:
            raise BatchNormError(
                f"x has shape {xa.shape} with {xa.shape[ax]} channels along axis={self.axis}"
                f"; expected num_features={self.num_features}"
            )
        return xa

    def __call__(self, x: ArrayLike, *, grad: bool = True) -> FloatArray:
        return self.forward(x, grad=grad)

    def forward(self, x: ArrayLike, *, grad: bool = True) -> FloatArray:
        """Normalize ``x``: batch statistics in training (and update the running ones), running
        statistics in eval mode. Calling the layer, ``bn(x)``, is the same.

        Parameters
        ----------
        x : float array, 2 to 5 dimensions
            ``num_features`` channels along the layer's ``axis``.
        grad : bool
            True (the default): keep what :meth:`backward` needs (a reference to ``x``, not a
            copy, and its checksum). False: keep nothing, like PyTorch's ``no_grad``; the
            forward then does no work for a backward, and calling :meth:`backward` raises.

        Returns
        -------
        y : array, same shape and dtype as x

        Raises
        ------
        TypeError
            A non-float input, or a ``grad`` that is not a bool.
        BatchNormError
            NaN/Inf, the wrong number of channels or dimensions, fewer than 2 values per
            channel in training, or a batch counter that cannot count another batch; the
            layer's state is then unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from bncheck.bn import BatchNorm
        >>> bn = BatchNorm(3, axis=-1)  # channels-last
        >>> x = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype(np.float32)
        >>> y = bn.forward(x)
        >>> y.shape, y.dtype, bn.num_batches_tracked
        ((2, 4, 4, 3), dtype('float32'), 1)
        """
        if not isinstance(grad, (bool, np.bool_)):
            raise TypeError(f"grad={grad!r} must be True or False")
        with self._lock:
            return self._forward(x, bool(grad))

    def _forward(self, x: ArrayLike, grad: bool) -> FloatArray:
        xa = self._check_input(x)
        if self.training and self.num_batches_tracked >= MAX_BATCHES_TRACKED:
            raise BatchNormError(
                f"num_batches_tracked={self.num_batches_tracked} cannot count another batch; "
                f"expected a value in {COUNTER_RANGE} (reset it, or load a state)"
            )
        if not self.training:
            y, kept, x_sum = inference_forward(
                xa,
                self.gamma,
                self.beta,
                self.running_mean,
                self.running_var,
                eps=self.eps,
                axis=self.axis,
                with_checksum=grad,
            )
            self._cache, self._eval_input, self._eval_sum = None, (kept if grad else None), x_sum
            self._no_grad = not grad
            return y
        y, cache = batchnorm_forward(xa, self.gamma, self.beta, eps=self.eps, axis=self.axis)
        new = update_running(
            self.running_mean,
            self.running_var,
            cache.mean,
            cache.var,
            cache.m,
            convention=self.convention,
            momentum=self.momentum,
            unbiased=self.unbiased,
            num_batches_tracked=self.num_batches_tracked,
        )
        # Everything that can fail has run: commit the new state at once.
        self.running_mean, self.running_var, self.num_batches_tracked = new
        self._cache, self._eval_input, self._eval_sum = (cache if grad else None), None, None
        self._no_grad = not grad
        return y

    def backward(self, dy: ArrayLike) -> BatchNormGrads:
        """Gradients (dx, dgamma, dbeta) for the last forward call, in its mode.

        Parameters
        ----------
        dy : float array, the shape of the last forward's input
            The upstream gradient dL/dy.

        Returns
        -------
        BatchNormGrads
            ``(dx, dgamma, dbeta)`` in the input's dtype (dgamma, dbeta None when
            ``affine=False``). Training mode: the train-mode backward (through the batch
            statistics); eval mode: the statistics are constants.

        Raises
        ------
        BatchNormError
            No forward call yet (or a state was loaded since), a bad ``dy``, or the last
            forward's input modified since (the layer keeps a reference to it, not a copy, with
            its checksum; the error names the channels that changed).

        Examples
        --------
        >>> import numpy as np
        >>> from bncheck.bn import BatchNorm
        >>> rng = np.random.default_rng(0)
        >>> bn = BatchNorm(3)
        >>> y = bn(rng.standard_normal((8, 3)))
        >>> dy = rng.standard_normal((8, 3))
        >>> dx, dgamma, dbeta = bn.backward(dy)
        >>> np.allclose(dbeta, dy.sum(axis=0)), np.allclose(dx.sum(axis=0), 0.0)
        (True, True)
        """
        with self._lock:
            if self._cache is not None:
                return batchnorm_backward(dy, self._cache)
            if self._eval_input is not None:
                x_sum = input_checksum(self._eval_input, self.axis % self._eval_input.ndim)
                check_unchanged(self._eval_sum, x_sum)
                return inference_backward(
                    dy,
                    self._eval_input,
                    self.gamma,
                    self.running_mean,
                    self.running_var,
                    eps=self.eps,
                    axis=self.axis,
                    has_beta=self.beta is not None,
                )
            if self._no_grad:
                raise BatchNormError(
                    "backward() after a forward with grad=False, which keeps nothing to "
                    "differentiate; call the layer with grad=True (the default) first"
                )
        raise BatchNormError("backward() was called before forward(); call the layer on x first")

    # -- state ------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {
            "num_features": self.num_features,
            "axis": self.axis,
            "eps": self.eps,
            "momentum": self.momentum,
            "convention": self.convention,
            "unbiased": self.unbiased,
            "affine": self.affine,
            "dtype": self.dtype.name,
        }

    def state_dict(self) -> dict[str, Any]:
        """Copies of the learnable parameters and running statistics, plus the batch counter.

        Returns
        -------
        dict
            ``running_mean``, ``running_var`` (and ``gamma``, ``beta`` when affine): copies
            of the arrays; ``num_batches_tracked``: an int.

        Examples
        --------
        >>> from bncheck.bn import BatchNorm
        >>> sorted(BatchNorm(3).state_dict())
        ['beta', 'gamma', 'num_batches_tracked', 'running_mean', 'running_var']
        """
        with self._lock:
            d: dict[str, Any] = {
                "running_mean": self.running_mean.copy(),
                "running_var": self.running_var.copy(),
                "num_batches_tracked": int(self.num_batches_tracked),
            }
            if self.gamma is not None and self.beta is not None:
                d["gamma"] = self.gamma.copy()
                d["beta"] = self.beta.copy()
        return d

    def load_state_dict(self, state: dict[str, Any], *, source: str = "state") -> None:
        """Replace parameters and running statistics; validates everything before changing any.

        Parameters
        ----------
        state : dict
            Keys exactly those of :meth:`state_dict`, arrays of shape (num_features,) and
            of this layer's dtype, finite, running_var >= 0; num_batches_tracked an int in
            [0, 2**63 − 1].
        source : str
            How error messages name ``state`` (:meth:`load` passes the file name).

        Raises
        ------
        TypeError
            ``state`` is not a dict.
        BatchNormError
            Any key, shape, dtype or value outside the above; the layer is then unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from bncheck.bn import BatchNorm
        >>> trained = BatchNorm(2)
        >>> y = trained(np.random.default_rng(0).standard_normal((8, 2)))
        >>> fresh = BatchNorm(2)
        >>> fresh.load_state_dict(trained.state_dict())
        >>> np.array_equal(fresh.running_var, trained.running_var), fresh.num_batches_tracked
        (True, 1)
        """
        if not isinstance(state, dict):
            raise TypeError(f"{source}={type(state).__name__} must be a dict from state_dict()")
        expected = state_shapes(self.num_features, self.affine)
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise BatchNormError(
                f"{source} has keys {sorted(state)}; expected {sorted(expected)}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unexpected {extra})" if extra else "")
            )
        new: dict[str, Any] = {}
        for key, shape in expected.items():
            if key == "num_batches_tracked":
                new[key] = check_counter(state[key], source)
                continue
            value = np.asarray(state[key])
            if value.dtype != self.dtype or value.shape != shape:
                raise BatchNormError(
                    f"{source}[{key!r}] has shape {value.shape} and dtype {value.dtype}; "
                    f"expected shape {shape} and dtype {self.dtype.name}"
                )
            if not np.isfinite(value).all():
                raise BatchNormError(f"{source}[{key!r}] contains NaN or Inf; expected finite")
            new[key] = value.copy()
        if (new["running_var"] < 0).any():
            raise BatchNormError(f"{source}['running_var'] has negative entries; expected >= 0")
        with self._lock:
            self.running_mean = new["running_mean"]
            self.running_var = new["running_var"]
            self.num_batches_tracked = new["num_batches_tracked"]
            if self.affine:
                self.gamma, self.beta = new["gamma"], new["beta"]
            self._cache = self._eval_input = self._eval_sum = None
            self._no_grad = False

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write configuration and state to an ``.npz`` file (no pickles), atomically.

        Only a regular file is ever written: the file is written to a temporary file in the
        same folder (on Linux an anonymous one, ``O_TMPFILE``, which has no name until it is
        complete), flushed to disk, then renamed over ``path``. If the save fails (full disk,
        file-size limit, an exception, the process killed) an existing file at ``path`` is
        left intact and no temporary file remains (where there are no anonymous files, a
        killed save's temporary file ``.bncheck-<hash>-<random>.tmp`` is removed by the next
        save to the same path). New files get the permissions ``open()`` gives (0o666 less
        the umask); a replaced file's permission bits are kept.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (conventionally ``.npz``; its folder must exist): a regular
            file or a new name, of any length the filesystem allows. A symlink is followed:
            its target is replaced.

        Raises
        ------
        OSError
            The file cannot be written (e.g. FileNotFoundError: no such folder).
        BatchNormError
            ``path`` (or the target of its symlinks) is not a regular file: a folder, a
            device, a FIFO, a socket; nothing is written. Or ``num_batches_tracked`` is not
            an int in [0, 2**63 − 1].

        Examples
        --------
        >>> import os, tempfile
        >>> from bncheck.bn import BatchNorm
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "bn.npz")
        ...     BatchNorm(3, convention="keras").save(path)
        ...     print(BatchNorm.load(path).convention)
        keras
        """
        with self._lock:
            counter = check_counter(self.num_batches_tracked, "layer")
            config, state = self._config(), self.state_dict()
        write_layer(os.fspath(path), config, state | {"num_batches_tracked": counter})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BatchNorm:
        """Read a layer written by :meth:`save`; a bad file raises BatchNormError naming it.

        Bounded: the entry names, the config and the shapes recorded in the ``.npy`` headers
        are checked against each other and against the file's size before any array is
        decompressed or allocated, so a small crafted file cannot make it allocate much.
        Only a regular file is read: a FIFO, a device, a folder or a socket is refused at
        once, without blocking.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save` (a symlink is followed).

        Returns
        -------
        BatchNorm
            A new layer with the saved configuration, parameters, running statistics and
            batch counter, in training mode.

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        BatchNormError
            Anything else: not a regular file, not a readable ``.npz`` file, not written by
            :meth:`save`, or a bad entry; the message names the file.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from bncheck.bn import BatchNorm
        >>> bn = BatchNorm(3)
        >>> y = bn(np.random.default_rng(0).standard_normal((8, 3)))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     bn.save(os.path.join(folder, "bn.npz"))
        ...     loaded = BatchNorm.load(os.path.join(folder, "bn.npz"))
        >>> np.array_equal(loaded.running_mean, bn.running_mean), loaded.num_batches_tracked
        (True, 1)
        """
        name = os.fspath(path)
        config, state = read_layer(name, cls._check_config)
        layer = cls(**config)
        layer.load_state_dict(state, source=name)
        return layer

    @classmethod
    def _check_config(cls, config: dict[str, Any]) -> tuple[bool, np.dtype[Any]]:
        """A saved config's settings, num_features aside, checked on a one-channel layer
        (nothing large yet): TypeError or ValueError if one is bad, else affine and dtype."""
        proto = cls(**(config | {"num_features": 1}))
        return proto.affine, proto.dtype
