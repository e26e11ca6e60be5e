"""``image_vae`` (needs the ``neural`` extra): a small variational autoencoder of the images.

One fully connected encoder/decoder per chain, and every chain trained at once: each weight holds
a leading chain axis and the layers are batched matrix products, so C replicate chains cost about
what one does. Pixels are treated as Bernoulli intensities (the usual likelihood for grey digits).
A sample decodes z ~ N(0, temperature * I) to the decoder's mean image, which lies in [0, 1].
``nll`` is the negative ELBO at the posterior mean: an upper bound on the true NLL, in nats.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from cliffwatch.core.modality import IMAGE
from cliffwatch.core.registry import register_family
from cliffwatch.families.base import Family, Model, Params

LAYERS = ("enc", "mu", "logvar", "dec", "out")


class ImageVAEParams(Params):
    latent: int = Field(8, ge=1, le=64)
    hidden: int = Field(128, ge=8, le=1024)
    epochs: int = Field(50, ge=1, description="passes over the training set per generation")
    batch: int = Field(100, ge=1, description="largest minibatch; a pass splits the data into equal ones")
    lr: float = Field(3e-3, gt=0)


def _layer(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(C, n, i) @ (C, i, o) + (C, 1, o): one dense layer per chain."""
    return torch.baddbmm(b, x, w)


class _Nets:
    """The weights of C encoder/decoder pairs, as (C, in, out) tensors."""

    def __init__(self, weights: dict[str, torch.Tensor]) -> None:
        self.w = weights

    @classmethod
    def init(cls, chains: int, dim: int, p: ImageVAEParams, gen: torch.Generator) -> "_Nets":
        shapes = {"enc": (dim, p.hidden), "mu": (p.hidden, p.latent), "logvar": (p.hidden, p.latent),
                  "dec": (p.latent, p.hidden), "out": (p.hidden, dim)}
        w = {}
        for name, (i, o) in shapes.items():
            w[f"{name}.w"] = (torch.randn(chains, i, o, generator=gen, dtype=torch.float32) / np.sqrt(i)).requires_grad_()
            w[f"{name}.b"] = torch.zeros(chains, 1, o, dtype=torch.float32, requires_grad=True)
        return cls(w)

    def layer(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return _layer(x, self.w[f"{name}.w"], self.w[f"{name}.b"])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.layer("enc", x))
        return self.layer("mu", h), self.layer("logvar", h).clamp(-10, 10)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.layer("out", torch.relu(self.layer("dec", z)))

    def negative_elbo(self, x: torch.Tensor, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Per item (C, n), nats: Bernoulli reconstruction + KL(q(z|x) || N(0, I))."""
        recon = torch.nn.functional.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="none").sum(-1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
        return recon + kl


class ImageVAEModel(Model):
    def __init__(self, family: "ImageVAEFamily", nets: _Nets) -> None:
        self.family = family
        self.nets = nets

    @property
    def chains(self) -> int:
        return self.nets.w["enc.w"].shape[0]

    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
        z = torch.from_numpy((rng.standard_normal((self.chains, n, self.family.params.latent)) * np.sqrt(temperature)).astype(np.float32))
        with torch.no_grad():
            pixels = torch.sigmoid(self.nets.decode_logits(z)).numpy().astype(float)
        return pixels.reshape(self.chains, n, *self.family.info.shape)

    def nll(self, data: np.ndarray) -> np.ndarray:
        data = IMAGE.check(data, self.family.info.shape, "image_vae")
        flat = np.broadcast_to(data.reshape(*data.shape[:-2], -1), (self.chains, *data.shape[-3:-2], data.shape[-2] * data.shape[-1]))
        x = torch.from_numpy(flat.astype(np.float32))
        with torch.no_grad():
            mu, logvar = self.nets.encode(x)
            return self.nets.negative_elbo(x, mu, mu, logvar).numpy().astype(float)

    def state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().copy() for k, v in self.nets.w.items()}


@register_family("image_vae")
class ImageVAEFamily(Family):
    modality = IMAGE
    Params = ImageVAEParams
    supports_top_p = False

    def fit(self, data: np.ndarray, rng: np.random.Generator, init: Model | None = None) -> ImageVAEModel:
        p = self.params
        data = IMAGE.check(data, self.info.shape, "image_vae: training data")
        x_all = torch.from_numpy(data.reshape(data.shape[0], data.shape[1], -1).astype(np.float32))
        chains, n, dim = x_all.shape
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        nets = _Nets.init(chains, dim, p, gen)
        optimiser = torch.optim.Adam(nets.w.values(), lr=p.lr)
        steps = -(-n // p.batch)
        for _ in range(p.epochs):
            for idx in torch.tensor_split(torch.randperm(n, generator=gen), steps):
                x = x_all[:, idx]
                mu, logvar = nets.encode(x)
                z = mu + torch.randn(mu.shape, generator=gen, dtype=mu.dtype) * (0.5 * logvar).exp()
                # each chain's loss is its own mean; their sum has independent gradients per chain
                loss = nets.negative_elbo(x, z, mu, logvar).mean(dim=1).sum()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        for w in nets.w.values():
            w.requires_grad_(False)  # float32: four times faster than float64 here, and precise enough
        return ImageVAEModel(self, nets)

    def from_state(self, state: dict[str, np.ndarray]) -> ImageVAEModel:
        return ImageVAEModel(self, _Nets({k: torch.from_numpy(np.array(state[k])) for k in state}))
