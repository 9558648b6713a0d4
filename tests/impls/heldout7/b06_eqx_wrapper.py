"""A user's wrapper around equinox.nn.BatchNorm (mode="batch") with its eqx.nn.State,
vmapped over a named batch axis as Equinox's stateful-layer example does; gradients by
eqx.filter_vjp, left on the wrapper as an Equinox pytree. Correct.
"""

import equinox as eqx
import jax


class EqxBatchNorm:
    def __init__(self, num_features, momentum=0.9, eps=1e-5):
        self.model, self.state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(
            num_features, axis_name="batch", momentum=momentum, eps=eps, mode="batch"
        )
        self.grads = None
        self._pullback = None

    def __call__(self, x, training=True):
        def run(model, xs):
            fn = jax.vmap(
                lambda xi, st: model(xi, st, inference=not training),
                in_axes=(0, None), out_axes=(0, None), axis_name="batch",
            )
            return fn(xs, self.state)

        y, self._pullback, new_state = eqx.filter_vjp(run, self.model, x, has_aux=True)
        if training:
            self.state = new_state
        return y

    def backward(self, dy):
        self.grads, dx = self._pullback(dy)
        return dx
