"""BN layer in the style of the "neural networks from scratch" book code: `forward(inputs,
training)` stores `self.output`, `backward(dvalues)` stores `self.dinputs` and the parameter
gradients `self.dweights`/`self.dbiases` and returns nothing; gamma and beta are
`self.weights`/`self.biases` of shape (1, C) as that code keeps its dense layers' parameters.
Dense (N, C) input only (anything else raises "expects 2D input"). Keras-type running
statistics (momentum 0.9 on the old value, biased variance), eps 1e-7.
(The forward also returns the output so it can be chained.)

No planted mistake.
"""

import numpy as np


class Layer_BatchNorm:
    def __init__(self, n_neurons, epsilon=1e-7, momentum=0.9):
        self.epsilon = epsilon
        self.momentum = momentum
        self.weights = np.ones((1, n_neurons))
        self.biases = np.zeros((1, n_neurons))
        self.moving_mean = np.zeros((1, n_neurons))
        self.moving_var = np.ones((1, n_neurons))

    def forward(self, inputs, training):
        if inputs.ndim != 2:
            raise ValueError(
                f"Layer_BatchNorm expects 2D input (samples, neurons), got {inputs.ndim}D"
            )
        self.inputs = inputs
        x = inputs.astype(np.float64)
        if training:
            mean = np.mean(x, axis=0, keepdims=True)
            var = np.mean((x - mean) ** 2, axis=0, keepdims=True)
            self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * mean
            self.moving_var = self.momentum * self.moving_var + (1 - self.momentum) * var
        else:
            mean, var = self.moving_mean, self.moving_var
        self.std_inv = 1.0 / np.sqrt(var + self.epsilon)
        self.x_norm = (x - mean) * self.std_inv
        self.output = (self.weights * self.x_norm + self.biases).astype(inputs.dtype)
        return self.output

    def backward(self, dvalues):
        d = dvalues.astype(np.float64)
        n = d.shape[0]
        self.dbiases = np.sum(d, axis=0, keepdims=True).astype(dvalues.dtype)
        dw = np.sum(d * self.x_norm, axis=0, keepdims=True)
        self.dweights = dw.astype(dvalues.dtype)
        dnorm = d * self.weights
        self.dinputs = (
            self.std_inv
            / n
            * (
                n * dnorm
                - dnorm.sum(axis=0, keepdims=True)
                - self.x_norm * (dnorm * self.x_norm).sum(axis=0, keepdims=True)
            )
        ).astype(dvalues.dtype)
