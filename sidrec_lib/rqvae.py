"""Semantic IDs by a residual-quantised autoencoder (RQ-VAE), the quantiser of TIGER and its peers.

Where RQ-k-means (:class:`sidrec_lib.semantic_ids.RQKMeans`) quantises the item vectors as they
are, an RQ-VAE first learns a small latent space for them: an MLP encoder maps each vector to a
``latent_dim`` latent ``z``, ``levels`` codebooks quantise ``z`` residually (level 0 picks the
nearest codeword to ``z``, level 1 the nearest to what is left, and so on), and an MLP decoder maps
the sum of the chosen codewords back to the input. The loss, as in TIGER (Rajput et al., 2023):

    ||x - decoder(ẑ)||²  +  Σ_levels ||sg(r_l) - e_l||² + β ||r_l - sg(e_l)||²

with ``ẑ`` passed to the decoder by the straight-through estimator, ``r_l`` the residual entering
level ``l``, ``e_l`` its codeword and ``sg`` stop-gradient. Codebooks start from RQ-k-means on the
initial encoder's latents; a codeword no item chose during the last ``reset_every`` steps is moved
onto a random residual of the current batch, so that few codes stay dead.

``fit`` returns codes of shape ``(N, levels)`` like :meth:`RQKMeans.fit`; append
:func:`sidrec_lib.semantic_ids.add_dedup_level` for unique IDs. ``level_mse`` is measured in the
input space (the decoder's output from the first ``l + 1`` levels' codewords against ``x``), the
same definition as RQ-k-means' so the two compare directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from sidrec_lib.devices import default_device
from sidrec_lib.semantic_ids import RQKMeans, check_vectors

__all__ = ["RQVAE"]


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RQVAE:
    """An MLP autoencoder whose latent is quantised by ``levels`` residual codebooks of ``codes`` each.

    ``steps`` Adam steps of ``batch_size`` items drawn at random (the whole catalog when it is
    smaller), learning rate ``learning_rate``, commitment weight ``beta``. Deterministic for a given
    ``seed``, device and torch thread count. After ``fit``: ``level_mse`` (input-space MSE after each
    level), ``losses`` (the training loss every 50 steps) and ``dead_resets`` (codewords moved).
    """

    def __init__(
        self,
        levels: int = 3,
        codes: int = 256,
        latent_dim: int = 32,
        hidden: Sequence[int] = (512, 256, 128),
        steps: int = 3000,
        batch_size: int = 1024,
        learning_rate: float = 1e-3,
        beta: float = 0.25,
        reset_every: int = 100,
        seed: int = 0,
        device: str | None = None,
    ) -> None:
        sizes = {"levels": levels, "codes": codes, "latent_dim": latent_dim, "steps": steps,
                 "batch_size": batch_size, "reset_every": reset_every}  # fmt: skip
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"RQVAE: {name} must be a positive integer, not {value!r}.")
        self.levels, self.codes, self.latent_dim = levels, codes, latent_dim
        self.hidden = tuple(int(h) for h in hidden)
        self.steps, self.batch_size, self.reset_every = steps, batch_size, reset_every
        self.learning_rate, self.beta, self.seed = float(learning_rate), float(beta), int(seed)
        self.device = device or default_device()
        self.encoder: nn.Sequential | None = None
        self.decoder: nn.Sequential | None = None
        self.codebooks: torch.Tensor | None = None  # (levels, codes, latent_dim)
        self.level_mse: list[float] = []
        self.losses: list[float] = []
        self.dead_resets = 0

    def __repr__(self) -> str:
        state = "fitted" if self.codebooks is not None else "not fitted"
        return (
            f"RQVAE(levels={self.levels}, codes={self.codes}, latent_dim={self.latent_dim}, "
            f"hidden={self.hidden}, steps={self.steps}, seed={self.seed}) [{state}]"
        )

    # -- the model --------------------------------------------------------------------------------

    def _quantise(
        self, z: torch.Tensor, codebooks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Codes (N, levels), quantised latents (N, D) and the codebook + commitment loss."""
        residual, quantised = z, torch.zeros_like(z)
        codes, loss = [], z.new_zeros(())
        for book in codebooks:
            index = torch.cdist(residual.detach(), book.detach()).argmin(1)
            chosen = book[index]
            loss = loss + ((residual.detach() - chosen) ** 2).sum(1).mean()
            loss = loss + self.beta * ((residual - chosen.detach()) ** 2).sum(1).mean()
            quantised = quantised + chosen
            residual = residual - chosen.detach()
            codes.append(index)
        return torch.stack(codes, 1), quantised, loss

    def fit(self, x: np.ndarray) -> np.ndarray:
        """Train on item vectors ``x`` (N, D) and return their codes (N, levels) int64."""
        arr = check_vectors(x, "RQVAE.fit")
        n, d = arr.shape
        if n < self.codes:
            raise ValueError(
                f"RQVAE.fit: {n} items but codes={self.codes} codewords per level; use codes <= {n}."
            )
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        data = torch.tensor(arr, device=self.device)
        self.encoder = _mlp([d, *self.hidden, self.latent_dim]).to(self.device)
        self.decoder = _mlp([self.latent_dim, *reversed(self.hidden), d]).to(self.device)
        with torch.no_grad():
            start = RQKMeans(self.levels, self.codes, iters=10, seed=self.seed, device="cpu")
            start.fit(self.encoder(data).cpu().numpy())
        codebooks = nn.Parameter(torch.tensor(start.codebooks, device=self.device))
        parameters = [*self.encoder.parameters(), *self.decoder.parameters(), codebooks]
        optimiser = torch.optim.Adam(parameters, lr=self.learning_rate)
        used = torch.zeros((self.levels, self.codes), dtype=torch.bool, device=self.device)
        self.losses, self.dead_resets = [], 0
        batch = min(self.batch_size, n)
        for step in tqdm(range(1, self.steps + 1), desc="RQ-VAE", leave=False):
            rows = torch.randperm(n, generator=generator)[:batch].to(self.device)
            z = self.encoder(data[rows])
            codes, quantised, vq_loss = self._quantise(z, codebooks)
            z_q = z + (quantised - z).detach()  # straight-through
            loss = ((self.decoder(z_q) - data[rows]) ** 2).sum(1).mean() + vq_loss
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            for level in range(self.levels):
                used[level, codes[:, level]] = True
            if step % 50 == 0:
                self.losses.append(loss.item())
            if step % self.reset_every == 0 and step < self.steps:
                self._reset_dead(codebooks, used, z.detach(), generator)
                used.zero_()
        self.codebooks = codebooks.detach()
        codes = self.encode(arr)
        self.level_mse = self._level_mse(data, torch.from_numpy(codes).to(self.device))
        return codes

    @torch.no_grad()
    def _reset_dead(
        self, codebooks: torch.Tensor, used: torch.Tensor, z: torch.Tensor, generator: torch.Generator
    ) -> None:
        """Move each codeword unused since the last reset onto a random residual of this batch."""
        residual = z
        for level in range(self.levels):
            dead = (~used[level]).nonzero().flatten()
            if len(dead):
                picks = torch.randint(len(residual), (len(dead),), generator=generator).to(z.device)
                codebooks.data[level, dead] = residual[picks]
                self.dead_resets += len(dead)
            index = torch.cdist(residual, codebooks[level]).argmin(1)
            residual = residual - codebooks[level][index]

    @torch.no_grad()
    def _level_mse(self, data: torch.Tensor, codes: torch.Tensor) -> list[float]:
        out, quantised = [], torch.zeros((len(data), self.latent_dim), device=self.device)
        for level in range(self.levels):
            quantised = quantised + self.codebooks[level][codes[:, level]]
            out.append(float(((self.decoder(quantised) - data) ** 2).sum(1).double().mean()))
        return out

    def _require_fitted(self, what: str) -> None:
        if self.codebooks is None:
            raise ValueError(f"RQVAE.{what}: the model is not fitted; call fit(vectors) first.")

    @torch.no_grad()
    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes (N, levels) int64 of vectors ``x`` (N, D): the nearest codeword level by level."""
        self._require_fitted("encode")
        arr = check_vectors(x, "RQVAE.encode")
        codes, _, _ = self._quantise(self.encoder(torch.tensor(arr, device=self.device)), self.codebooks)
        return codes.cpu().numpy().astype(np.int64)

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Reconstruction (N, D) float32 from codes (extra columns, e.g. a dedup level, ignored)."""
        self._require_fitted("decode")
        arr = torch.as_tensor(np.asarray(codes)[:, : self.levels], device=self.device)
        quantised = sum(self.codebooks[level][arr[:, level]] for level in range(self.levels))
        return self.decoder(quantised).cpu().numpy().astype(np.float32)
