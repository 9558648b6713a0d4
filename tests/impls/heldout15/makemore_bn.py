"""BN in the style of the "build makemore" lectures: a plain class (not nn.Module) holding torch
tensors, `__call__(x)`, a `training` attribute, `parameters()` returning [gamma, beta], buffers
updated under no_grad, gradients by autograd (`out.backward(dy)`, then `.grad`). Statistics in
float64 whatever the input dtype, the output cast back. The batch is normalized with the biased
variance; the running variance is the unbiased one, momentum 0.1 on the batch (torch
convention). Gradients are reset at each training call, as the training loop's
`p.grad = None` would do.

No planted mistake.
"""

import torch


class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.gamma = torch.ones(dim, dtype=torch.float64, requires_grad=True)
        self.beta = torch.zeros(dim, dtype=torch.float64, requires_grad=True)
        self.running_mean = torch.zeros(dim, dtype=torch.float64)
        self.running_var = torch.ones(dim, dtype=torch.float64)

    def parameters(self):
        return [self.gamma, self.beta]

    def __call__(self, x):
        xd = x.to(torch.float64)
        dims = (0, *range(2, x.dim()))
        shp = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            for p in self.parameters():
                p.grad = None
            xmean = xd.mean(dims, keepdim=True)
            xvar = xd.var(dims, keepdim=True, correction=0)
            n = xd.numel() // xd.shape[1]
            with torch.no_grad():
                self.running_mean = (
                    1 - self.momentum
                ) * self.running_mean + self.momentum * xmean.reshape(-1)
                self.running_var = (
                    1 - self.momentum
                ) * self.running_var + self.momentum * xvar.reshape(-1) * (n / (n - 1))
        else:
            xmean = self.running_mean.reshape(shp)
            xvar = self.running_var.reshape(shp)
        xhat = (xd - xmean) / torch.sqrt(xvar + self.eps)
        self.out = self.gamma.reshape(shp) * xhat + self.beta.reshape(shp)
        return self.out.to(x.dtype)
