"""Pieces of a Wasserstein GAN, usable in any torch training loop.

The critic (discriminator) ``f`` is pushed towards the Kantorovich–Rubinstein dual of
W_1: ``W_1(real, fake) = sup over 1-Lipschitz f of E f(real) - E f(fake)``. A WGAN's
critic minimises :func:`critic_loss` ``= f(fake).mean() - f(real).mean()``; the
generator minimises :func:`generator_loss` ``= -f(fake).mean()``. The Lipschitz
constraint is what makes the critic's value a W_1 estimate, and it can be enforced
four ways: a :func:`gradient_penalty` (WGAN-GP), :func:`clip_weights` (the original
WGAN), spectral normalisation (:func:`make_critic` with ``"spectral"``), or by
construction with :class:`GroupSort` activations and :class:`OrthoLinear` layers
(``"groupsort"``: 1-Lipschitz whatever the weights).

>>> import math

import torch
>>> from emdkit import wgan
>>> f = wgan.make_critic(2, lipschitz="groupsort", seed=0)
>>> real, fake = torch.randn(64, 2), torch.randn(64, 2) + 1
>>> loss = wgan.critic_loss(f, real, fake)
>>> bool(torch.isclose(loss, f(fake).mean() - f(real).mean()))
True
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

import torch
from torch import nn

LIPSCHITZ = ("groupsort", "gp", "spectral", "clip")


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``critic(fake).mean() - critic(real).mean()``: what a WGAN critic minimises; its
    negative estimates W_1(real, fake) when the critic is 1-Lipschitz."""
    return critic(fake).mean() - critic(real).mean()


def generator_loss(critic: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """``-critic(fake).mean()``: what a WGAN generator minimises."""
    return -critic(fake).mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     weight: float = 10.0,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """WGAN-GP's penalty ``weight * E (|grad f(x_hat)| - 1)^2`` on random interpolates
    ``x_hat = t real + (1 - t) fake`` (Gulrajani et al. 2017). Real and fake batches
    must have the same shape."""
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty needs real and fake batches of one shape, got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    t = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), dtype=real.dtype,
                   device=real.device, generator=generator)
    x_hat = (t * real.detach() + (1 - t) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(dim=1)
    return weight * ((norms - 1.0) ** 2).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float = 0.01) -> None:
    """Clamp every parameter to [-c, c] in place (the original WGAN). The critic is
    then K-Lipschitz for some unknown K, so its value is W_1 times an unknown scale."""
    for param in module.parameters():
        param.clamp_(-c, c)


class GroupSort(nn.Module):
    """Sorts each group of ``group_size`` consecutive features (Anil et al. 2019):
    1-Lipschitz and gradient-norm preserving, unlike ReLU."""

    def __init__(self, group_size: int = 2):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, k = x.shape[0], x.shape[1]
        if k % self.group_size:
            raise ValueError(f"GroupSort: {k} features do not split into groups of "
                             f"{self.group_size}")
        return x.view(n, k // self.group_size, self.group_size).sort(dim=-1)[0].view(n, k)


class OrthoLinear(nn.Linear):
    """A linear layer whose weight is orthonormalised (Björck iterations) at every
    forward pass, so its spectral norm is 1 (to the iterations' precision).

    From a raw weight the iterations start cold: scaled below 1, then ``iterations``
    steps. Near an orthonormal matrix (``e = |W^T W - I|_F < 0.1``) they start warm:
    each step takes ``e`` to about ``e^2``, so only as many run as bring ``e`` to the
    dtype's rounding (and at least one, whose derivative projects the gradient onto
    the orthonormal matrices' tangent space). A training loop that calls
    :meth:`retract_` after each optimiser step keeps the raw weight there: Riemannian
    gradient steps with a retraction, several times cheaper than differentiating
    the cold iterations (``method="critic"`` trains this way).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 iterations: int = 15):
        super().__init__(in_features, out_features, bias)
        self.iterations = iterations

    def _tall(self):
        """The weight with at least as many rows as columns, whether it was turned,
        its identity and ``|W^T W - I|_F``."""
        w = self.weight
        transpose = w.shape[0] < w.shape[1]
        if transpose:
            w = w.t()
        eye = torch.eye(w.shape[1], dtype=w.dtype, device=w.device)
        with torch.no_grad():
            e = float(torch.linalg.matrix_norm(w.t() @ w - eye))
        return w, transpose, eye, e

    @staticmethod
    def _floor(w) -> float:
        """The rounding floor of ``|W^T W - I|_F``: a few ulps per entry."""
        return 8.0 * torch.finfo(w.dtype).eps * w.shape[1]

    @staticmethod
    def _scaled(w):
        """``w`` over ``sqrt(|W|_1 |W|_inf)``, a bound on its spectral norm."""
        return w / (torch.sqrt(w.abs().sum(0).max() * w.abs().sum(1).max()) + 1e-12)

    def ortho_weight(self) -> torch.Tensor:
        w, transpose, eye, e = self._tall()
        if e < 0.1:
            iterations = 1
            while e > self._floor(w) and iterations < self.iterations:
                e, iterations = e * e, iterations + 1
        else:
            w, iterations = self._scaled(w), self.iterations
        for _ in range(iterations):
            w = w @ (1.5 * eye - 0.5 * (w.t() @ w))
        return w.t() if transpose else w

    @torch.no_grad()
    def retract_(self, max_iterations: int = 100) -> None:
        """Replace the raw weight by its orthonormalisation, iterated to the dtype's
        rounding (after an optimiser step; the cold start's fixed ``iterations`` can
        leave a square weight's small singular values short of 1)."""
        w, transpose, eye, e = self._tall()
        if e >= 0.1:
            w = self._scaled(w)
        for _ in range(max_iterations):
            w = w @ (1.5 * eye - 0.5 * (w.t() @ w))
            e = float(torch.linalg.matrix_norm(w.t() @ w - eye))
            if e <= self._floor(w):
                break
        self.weight.copy_(w.t() if transpose else w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.ortho_weight(), self.bias)


def make_critic(dim: int, *, width: int = 64, depth: int = 3, lipschitz: str = "groupsort",
                seed: Optional[int] = None) -> nn.Module:
    """An MLP critic ``R^dim -> R`` for the chosen Lipschitz enforcement:
    ``groupsort`` (OrthoLinear + GroupSort, 1-Lipschitz by construction), ``spectral``
    (spectral-normalised Linear + ReLU), ``gp`` and ``clip`` (plain Linear + ReLU; the
    constraint comes from the training loss or from :func:`clip_weights`)."""
    if lipschitz not in LIPSCHITZ:
        raise ValueError(f"lipschitz must be one of {', '.join(map(repr, LIPSCHITZ))}, "
                         f"got {lipschitz!r}")
    if width % 2:
        raise ValueError(f"width must be even (GroupSort pairs features), got {width}")
    if seed is not None:
        from .checks import check_seed

        seed = check_seed(seed)
    layers = []
    sizes = [dim] + [width] * depth
    for i in range(depth):
        if lipschitz == "groupsort":
            layers += [OrthoLinear(sizes[i], sizes[i + 1]), GroupSort(2)]
        elif lipschitz == "spectral":
            layers += [nn.utils.parametrizations.spectral_norm(
                nn.Linear(sizes[i], sizes[i + 1])), nn.ReLU()]
        else:
            layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
    last = sizes[-1]
    if lipschitz == "groupsort":
        layers.append(OrthoLinear(last, 1))
    elif lipschitz == "spectral":
        layers.append(nn.utils.parametrizations.spectral_norm(nn.Linear(last, 1)))
    else:
        layers.append(nn.Linear(last, 1))
    net = nn.Sequential(*layers)
    if seed is not None:
        gen = torch.Generator()
        gen.manual_seed(seed if isinstance(seed, int) else
                        int(np.random.default_rng(seed).integers(2 ** 63)))
        _seed_parameters(net, gen)
    return _Squeeze(net)


@torch.no_grad()
def _seed_parameters(net: nn.Module, gen) -> None:
    """PyTorch's default initialisation of every linear layer (uniform on
    +-1/sqrt(fan_in), weights and biases), and spectral normalisation's power
    iteration vectors, drawn from the local generator ``gen``: a seeded critic never
    touches the global RNG, so threads that build critics at once stay reproducible."""
    for mod in net.modules():
        if not isinstance(mod, nn.Linear):
            continue
        param = getattr(mod, "parametrizations", None)
        weight = param.weight.original if param is not None else mod.weight
        bound = 1.0 / math.sqrt(weight.shape[1])
        weight.copy_(torch.rand(weight.shape, generator=gen, dtype=weight.dtype)
                     * (2 * bound) - bound)
        if mod.bias is not None:
            mod.bias.copy_(torch.rand(mod.bias.shape, generator=gen,
                                      dtype=mod.bias.dtype) * (2 * bound) - bound)
        if param is not None:
            for sn in param.weight:
                if hasattr(sn, "_u") and hasattr(sn, "_power_method"):
                    sn._u.copy_(nn.functional.normalize(torch.randn(
                        sn._u.shape, generator=gen, dtype=sn._u.dtype), dim=0))
                    sn._v.copy_(nn.functional.normalize(torch.randn(
                        sn._v.shape, generator=gen, dtype=sn._v.dtype), dim=0))
                    sn._power_method(sn._reshape_weight_to_matrix(weight), 15)


class _Squeeze(nn.Module):
    """(n, 1) -> (n,), so that ``critic(x).mean()`` is what it looks like."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
