"""Classic recommenders to compare the LLM hybrid with: most popular items, and SASRec.

Both rank the whole catalog and share one interface, :class:`Recommender`: ``scores(histories)``
takes each user's history as item ids in time order and returns one score per catalog item, in the
row order of ``prepared.items`` (higher is better). :func:`top_k` turns scores into ranked item
indices, leaving out items a user already has and, for steering, items outside an allowed set.

Both learn from the train split only (each user's items minus the last two), so their valid and
test figures are comparable with the hybrid's.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from sidrec_lib.devices import default_device
from sidrec_lib.files import load_tensors, save_tensors
from sidrec_lib.metrics import per_user_metrics
from sidrec_lib.prepare import PreparedData, row_index, train_popularity

__all__ = [
    "EarlyStopping",
    "MostPopular",
    "Recommender",
    "SASRec",
    "SASRecConfig",
    "item_rows",
    "top_k",
    "train_epochs",
    "valid_ndcg",
]

CONFIG_FILE = "sasrec.json"
WEIGHTS_FILE = "sasrec.safetensors"
FORMAT_NAME = "sidrec.sasrec"
FORMAT_VERSION = 1


class Recommender(Protocol):
    def scores(self, histories: list[list[str]]) -> np.ndarray:
        """(len(histories), n_items) float32 scores, items in ``prepared.items`` row order."""
        ...


def top_k(
    scores: np.ndarray,
    k: int,
    exclude: list[list[int]] | None = None,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """(n, k) item indices by descending score; `exclude[i]` item indices never returned for row i; `allowed`
    an optional (n_items,) or (n, n_items) bool mask restricting candidates (used for steering: re-rank
    within items that have an attribute). Rows with fewer than k candidates are padded with -1.

    Equal scores keep the lower item index first, so the result is deterministic.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n, n_items), got shape {scores.shape}")
    n, n_items = scores.shape
    blocked = np.zeros((n, n_items), dtype=bool)
    if exclude is not None:
        if len(exclude) != n:
            raise ValueError(f"exclude has {len(exclude)} rows, scores has {n}")
        rows = np.repeat(np.arange(n), [len(e) for e in exclude])
        cols = np.fromiter((j for e in exclude for j in e), dtype=np.int64, count=len(rows))
        blocked[rows, cols] = True
    if allowed is not None:
        blocked |= ~np.broadcast_to(np.asarray(allowed, dtype=bool), (n, n_items))

    order = np.lexsort((-scores, blocked), axis=1)[:, :k]  # candidates first, then by score; stable
    order[np.take_along_axis(blocked, order, axis=1)] = -1  # a blocked item here: fewer than k candidates
    if order.shape[1] < k:  # k larger than the catalog
        order = np.pad(order, ((0, 0), (0, k - order.shape[1])), constant_values=-1)
    return order


def ranked_ids(
    scores: np.ndarray,
    item_ids: list[str],
    k: int,
    exclude: list[list[str]] | None = None,
    allowed: np.ndarray | None = None,
) -> list[list[str]]:
    """:func:`top_k` in item ids (``exclude`` by id too), padding dropped."""
    index = row_index(item_ids)
    excluded = None if exclude is None else [[index[item] for item in row] for row in exclude]
    return [[item_ids[j] for j in row if j >= 0] for row in top_k(scores, k, excluded, allowed)]


def item_rows(index: dict[str, int], histories: list[list[str]], unknown: str) -> list[list[int]]:
    """Each history's item ids as rows of ``prepared.items`` (by ``index``); an id not in ``index``
    raises ValueError with the message ``unknown``, its ``{item!r}`` standing for that id."""
    try:
        return [[index[item] for item in history] for history in histories]
    except KeyError as err:
        raise ValueError(unknown.format(item=err.args[0])) from None


def top_lists(
    recommenders: dict[str, Recommender], histories: list[list[str]], item_ids: list[str], k: int = 20
) -> dict[str, list[list[str]]]:
    """Each recommender's top-``k`` item ids after each history, history items excluded."""
    return {
        name: ranked_ids(model.scores(histories), item_ids, k, histories)
        for name, model in recommenders.items()
    }


# ---------------------------------------------------------------------------------------------
# Most popular
# ---------------------------------------------------------------------------------------------


@dataclass
class MostPopular:
    """Every user gets the same ranking: items by their number of train interactions."""

    counts: np.ndarray  # (n_items,) float32

    @classmethod
    def fit(cls, prepared: PreparedData) -> MostPopular:
        counts = train_popularity(prepared).reindex(prepared.items.item_id, fill_value=0)
        return cls(counts.to_numpy(dtype=np.float32))

    def scores(self, histories: list[list[str]]) -> np.ndarray:
        return np.tile(self.counts, (len(histories), 1))


# ---------------------------------------------------------------------------------------------
# SASRec
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SASRecConfig:
    """Model size, training and early stopping of :class:`SASRec`."""

    max_len: int = 50  # histories are left-truncated to their last max_len items
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.2
    batch_size: int = 128  # users per step
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 200
    patience: int = 5  # evaluations (epochs when eval_every=1) without valid NDCG@10 improvement
    eval_every: int = 1
    seed: int = 0


class SASRec(nn.Module):
    """Self-attentive sequential recommendation (Kang & McAuley, 2018).

    Item + learned position embeddings, causal Transformer blocks, next-item scores by dot product
    with the item embeddings. Trained with full softmax cross-entropy over the catalog on every
    position of the TRAIN sequences; early stopping on valid NDCG@10 (full-catalog ranking, history
    items excluded); the best epoch's weights are kept.

    Inside the model items are numbered 1..N (row i of ``prepared.items`` is i + 1) and 0 is padding.
    Sequences are padded on the right, so the causal mask alone keeps real positions from seeing padding.
    The feed-forward width equals ``hidden``, as in the paper.
    """

    def __init__(self, config: SASRecConfig, item_ids: list[str]):
        super().__init__()
        self.config = config
        self.item_ids = list(item_ids)
        self.index = row_index(self.item_ids)
        self.history: list[dict] = []  # one row per evaluated epoch, filled by fit
        self.best_epoch: int | None = None

        self.item_emb = nn.Embedding(len(item_ids) + 1, config.hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_len, config.hidden)
        self.drop = nn.Dropout(config.dropout)
        block = nn.TransformerEncoderLayer(
            d_model=config.hidden,
            nhead=config.heads,
            dim_feedforward=config.hidden,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(block, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.hidden)
        for emb in (self.item_emb, self.pos_emb):
            nn.init.normal_(emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    @property
    def device(self) -> torch.device:
        return self.item_emb.weight.device

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) item numbers (0 = padding, on the right) → (B, L, hidden) states, one per position."""
        length = seq.shape[1]
        positions = torch.arange(length, device=seq.device)
        x = self.drop(self.item_emb(seq) + self.pos_emb(positions))
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=seq.device)
        return self.norm(self.blocks(x, mask=causal, is_causal=True))

    def logits(self, states: torch.Tensor) -> torch.Tensor:
        """(..., hidden) states → (..., n_items) scores against every catalog item (padding left out)."""
        return states @ self.item_emb.weight[1:].T

    # -- inference ------------------------------------------------------------------------------

    def encode(self, histories: list[list[str]]) -> list[list[int]]:
        """Item ids → item indices (rows of ``prepared.items``); an unknown id is an error."""
        return item_rows(self.index, histories, "SASRec.scores: item {item!r} is not in the model's catalog")

    @torch.no_grad()
    def _scores_of_indices(self, histories: list[list[int]], batch_size: int = 256) -> torch.Tensor:
        """(n, n_items) scores on the model's device for histories given as item indices."""
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, len(histories), batch_size):
            seq, lengths = _pad([[i + 1 for i in h] for h in histories[start : start + batch_size]], self)
            states = self(seq)
            last = states[torch.arange(len(seq), device=seq.device), lengths - 1]
            out.append(self.logits(last))
        self.train(was_training)
        if not out:
            return torch.zeros(0, len(self.item_ids), device=self.device)
        return torch.cat(out)

    def scores(self, histories: list[list[str]]) -> np.ndarray:
        """(len(histories), n_items) float32 next-item scores, items in ``prepared.items`` row order."""
        return self._scores_of_indices(self.encode(histories)).float().cpu().numpy()

    # -- training -------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        prepared: PreparedData,
        config: SASRecConfig = SASRecConfig(),  # frozen, so one shared default is safe
        progress: bool = True,
        device: str | None = None,
    ) -> SASRec:
        """Train on the train split, early-stop on the valid split; returns the best epoch's model."""
        device = device or default_device(mps=False)
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        model = cls(config, list(prepared.items.item_id)).to(device)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.learning_rate, betas=(0.9, 0.98), weight_decay=config.weight_decay
        )

        # Each train sequence s gives inputs s[:-1] and targets s[1:] (its last max_len of each).
        train = model.encode(list(prepared.examples("train").history))
        pairs = [([i + 1 for i in s[:-1]][-config.max_len :], s[1:][-config.max_len :]) for s in train]
        pairs = [p for p in pairs if p[0]]
        inputs, lengths = _pad([p[0] for p in pairs], model)
        targets, _ = _pad([p[1] for p in pairs], model, fill=-1)  # item indices, -1 = no target

        def train_epoch() -> tuple[float, int]:
            total_loss, total_tokens = 0.0, 0
            for batch in torch.randperm(len(inputs), generator=generator).split(config.batch_size):
                batch = batch.to(model.device)
                width = int(lengths[batch].max())  # no column of padding only
                seq, target = inputs[batch, :width], targets[batch, :width]
                keep = target >= 0
                logits = model.logits(model(seq)[keep])
                loss = F.cross_entropy(logits, target[keep])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total_loss += loss.item() * int(keep.sum())
                total_tokens += int(keep.sum())
            return total_loss, total_tokens

        stopper = train_epochs(
            model, train_epoch, model._scores_of_indices, prepared, model.index, config, "SASRec", progress
        )
        model.history, model.best_epoch = stopper.history, stopper.best_epoch
        return model

    # -- save / load ----------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write ``sasrec.safetensors`` (weights) and ``sasrec.json`` (config, catalog, history)."""
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "config": asdict(self.config),
            "best_epoch": self.best_epoch,
            "history": self.history,
            "item_ids": self.item_ids,
        }
        return save_tensors(folder, self.state_dict(), WEIGHTS_FILE, meta, CONFIG_FILE)

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> SASRec:
        """Read a model written by :meth:`save` (no pickle involved)."""
        weights, meta = load_tensors(folder, WEIGHTS_FILE, CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION)
        model = cls(SASRecConfig(**meta["config"]), meta["item_ids"])
        model.load_state_dict(weights)
        model.history, model.best_epoch = meta["history"], meta["best_epoch"]
        device = device or default_device(mps=False)
        return model.to(device).eval()


class EpochSettings(Protocol):
    """The epoch and early-stopping settings of a trainer's config."""

    @property
    def max_epochs(self) -> int: ...

    @property
    def eval_every(self) -> int: ...

    @property
    def patience(self) -> int: ...


def train_epochs(
    network: nn.Module,
    train_epoch: Callable[[], tuple[float, int]],
    score_fn: Callable[[list[list[int]]], torch.Tensor],
    prepared: PreparedData,
    index: dict[str, int],
    settings: EpochSettings,
    desc: str,
    progress: bool,
) -> EarlyStopping:
    """Train ``network`` with early stopping on valid NDCG@10.

    Up to ``settings.max_epochs`` epochs of ``train_epoch`` (which returns its summed loss and its
    examples); valid NDCG@10 of ``score_fn`` (item rows by ``index``, see :func:`valid_ndcg`) every
    ``settings.eval_every`` epochs and after the last; stopped after ``settings.patience`` evaluations
    without improvement. The best evaluation's weights are restored and the network left in eval
    mode. Returns the stopper, with its ``history`` and ``best_epoch``.
    """
    valid = prepared.examples("valid")
    histories = [[index[item] for item in history] for history in valid.history]
    targets = [index[target] for target in valid.target]
    stopper = EarlyStopping(network, settings.patience)
    bar = tqdm(range(1, settings.max_epochs + 1), desc=desc, unit="epoch", disable=not progress)
    for epoch in bar:
        network.train()
        total, count = train_epoch()
        if epoch % settings.eval_every and epoch != settings.max_epochs:
            continue
        ndcg, recall = valid_ndcg(score_fn, histories, targets)
        stop = stopper.update(epoch, total / max(count, 1), ndcg, recall)
        bar.set_postfix(loss=f"{stopper.history[-1]['train_loss']:.3f}", ndcg10=f"{ndcg:.4f}")
        if stop:
            break
    bar.close()
    stopper.restore()
    network.eval()
    return stopper


class EarlyStopping:
    """Early stopping on valid NDCG@10, shared by the SASRec trainers.

    One ``history`` row per evaluation (epoch, train loss, valid NDCG@10 and Recall@10, seconds since
    it was made); the weights of the best evaluation are kept for :meth:`restore`; :meth:`update`
    says stop after ``patience`` evaluations without improvement.
    """

    def __init__(self, network: nn.Module, patience: int):
        self.network, self.patience = network, patience
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self._best, self._state, self._waited = -1.0, None, 0
        self._start = time.perf_counter()

    def update(self, epoch: int, train_loss: float, ndcg: float, recall: float) -> bool:
        """Record one evaluation; True when training should stop."""
        self.history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "valid_ndcg10": ndcg,
                "valid_recall10": recall,
                "seconds": time.perf_counter() - self._start,
            }
        )
        if ndcg > self._best:
            self._best, self._waited, self.best_epoch = ndcg, 0, epoch
            self._state = copy.deepcopy(self.network.state_dict())
            return False
        self._waited += 1
        return self._waited >= self.patience

    def restore(self) -> None:
        """Load the best evaluation's weights back into the network (if any evaluation ran)."""
        if self._state is not None:
            self.network.load_state_dict(self._state)


def _pad(rows: list[list[int]], model: SASRec, fill: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad rows (each cut to their last max_len) into a (B, L) tensor; also their lengths (≥ 1).

    An empty row becomes one padding position, so a user without history still gets scores.
    """
    rows = [r[-model.config.max_len :] or [fill] for r in rows]
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    out = torch.full((len(rows), max(map(len, rows), default=1)), fill, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out.to(model.device), lengths.to(model.device)


def valid_ndcg(
    score_fn: Callable[[list[list[int]]], torch.Tensor],
    histories: list[list[int]],
    targets: list[int],
    k: int = 10,
    batch_size: int = 1024,
) -> tuple[float, float]:
    """NDCG@k and Recall@k of one target per user over the full catalog, history items excluded.

    ``score_fn`` maps histories (item rows) to an (n, n_items) score tensor. The target's rank is one
    plus the number of non-history items scored strictly higher; the metrics are
    :func:`sidrec_lib.metrics.per_user_metrics` of those ranks (no list of ids is built: this runs
    every epoch of early stopping).
    """
    ranks = []
    for start in range(0, len(histories), batch_size):
        chunk = histories[start : start + batch_size]
        scores = score_fn(chunk)
        rows = torch.tensor([i for i, h in enumerate(chunk) for _ in h], dtype=torch.long)
        cols = torch.tensor([j for h in chunk for j in h], dtype=torch.long)
        scores[rows.to(scores.device), cols.to(scores.device)] = -math.inf
        target = torch.tensor(targets[start : start + batch_size], device=scores.device)
        ranks.append((scores > scores.gather(1, target[:, None])).sum(dim=1).cpu().numpy() + 1)
    if not ranks:
        return 0.0, 0.0
    metrics = per_user_metrics(np.concatenate(ranks), (k,))
    return float(metrics[f"ndcg@{k}"].mean()), float(metrics[f"recall@{k}"].mean())
