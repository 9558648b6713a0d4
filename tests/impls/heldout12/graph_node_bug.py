"""A computation graph of Nodes, each with its own forward and backward; the BN is a chain
Flatten -> Normalize -> Affine -> Unflatten on (rows, C) matrices, as in from-scratch CNN
code that reuses its dense BN for convolutions.  `Graph.forward(x, train)` runs the chain,
`Graph.backward(dy)` runs it in reverse.  Running statistics as PyTorch (momentum 0.1).

The Affine node computes dgamma from the upstream gradient reshaped straight to (rows, C)
instead of transposed like the activations (channel axis not moved last first)."""

import numpy as np


class Node:
    def forward(self, x, train):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError


class ToRows(Node):
    def forward(self, x, train):
        self.shape = x.shape
        if x.ndim == 2:
            return x
        perm = (0,) + tuple(range(2, x.ndim)) + (1,)
        self.perm = perm
        return x.transpose(perm).reshape(-1, x.shape[1])

    def backward(self, dy):
        if len(self.shape) == 2:
            return dy
        moved = tuple(self.shape[p] for p in self.perm)
        return dy.reshape(moved).transpose(np.argsort(self.perm))


class Normalize(Node):
    def __init__(self, c, eps, momentum):
        self.eps, self.momentum = eps, momentum
        self.running_mean = np.zeros(c)
        self.running_var = np.ones(c)

    def forward(self, x, train):
        if not train:
            return (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        m = x.shape[0]
        mu = x.mean(axis=0)
        var = ((x - mu) ** 2).mean(axis=0)
        self.rstd = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (x - mu) * self.rstd
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (m - 1)
        return self.xhat

    def backward(self, dxhat):
        xh = self.xhat
        return self.rstd * (dxhat - dxhat.mean(axis=0) - xh * (dxhat * xh).mean(axis=0))


class Affine(Node):
    def __init__(self, c, graph):
        self.gamma = np.ones(c)
        self.beta = np.zeros(c)
        self.graph = graph

    def forward(self, xhat, train):
        self.xhat = xhat
        return self.gamma * xhat + self.beta

    def backward(self, dy):
        self.dbeta = dy.sum(axis=0)
        # the mistake: the gradient as the graph received it, reshaped without moving C last
        raw = self.graph.last_dy
        self.dgamma = (raw.reshape(-1, self.gamma.size) * self.xhat).sum(axis=0)
        return dy * self.gamma


class FromRows(Node):
    def __init__(self, to_rows):
        self.to_rows = to_rows

    def forward(self, x, train):
        if len(self.to_rows.shape) == 2:
            return x
        moved = tuple(self.to_rows.shape[p] for p in self.to_rows.perm)
        return x.reshape(moved).transpose(np.argsort(self.to_rows.perm))

    def backward(self, dy):
        return self.to_rows.forward(dy, True)


class Graph:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.rows = ToRows()
        self.norm = Normalize(num_features, eps, momentum)
        self.affine = Affine(num_features, self)
        self.nodes = [self.rows, self.norm, self.affine, FromRows(self.rows)]

    def forward(self, x, train=True):
        self.dtype = x.dtype
        for node in self.nodes:
            x = node.forward(x, train)
        return x.astype(self.dtype)

    def backward(self, dy):
        self.last_dy = dy
        shape = self.rows.shape
        for node in reversed(self.nodes):
            dy = node.backward(dy)
        self.rows.shape = shape
        return dy.astype(self.dtype)
