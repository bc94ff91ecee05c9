"""Peer recommenders from a well-kept library (Cornac), scored on exactly this course's split.

Beating one's own baseline proves little: :class:`CornacSASRec` trains Cornac's SASRec network with
Cornac's own batches and loss on the TRAIN split, and is scored the way every model here is, on
full-catalog score vectors with history items excluded (:func:`sidrec_lib.baselines.top_k`).
Cornac's own evaluator would rank history items too and select on Recall@20, so the epochs are
driven here: every ``eval_every`` epochs the valid NDCG@10 is measured as for our SASRec, and the
best epoch's weights are kept (early stopping with ``patience``). :func:`sweep` fits a few
settings and keeps the one with the best valid NDCG@10, never looking at test.

Item numbers inside the Cornac model are the rows of ``prepared.items``, so its score vectors line
up with every other model's; an item that never occurs in train keeps its initial embedding.

:class:`CornacTIGER` does the same for Cornac's TIGER (Rajput et al., 2023): its tokenizer (an RQ-VAE
by default) turns given item vectors into semantic IDs, and its T5-style encoder-decoder learns to
generate the next item's ID from the history's IDs. The epochs are driven here too, with Cornac's
batches, loss, optimizer and learning-rate schedule, and stopped early on our valid NDCG@10.
TIGER ranks by constrained beam search: only the items that end up in the beam get a score (the
log-probability of their ID), every other item gets ``-inf``. So that history items can be left out
afterwards without leaving the list short, each user's beam is ``n_beams`` plus the number of
distinct items in their history wide (at most that many history items can take a place in it).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from sidrec_lib.baselines import SASRec, SASRecConfig, item_rows, top_k, train_epochs
from sidrec_lib.devices import default_device
from sidrec_lib.prepare import PreparedData, item_index
from sidrec_lib.presets import EvalConfig

__all__ = ["CornacSASRec", "CornacSASRecConfig", "CornacTIGER", "CornacTIGERConfig", "sweep"]

_STOPPING = ("max_epochs", "eval_every", "patience")  # settings of the epochs driven here, not Cornac's
# the settings of TIGER's seq2seq network (TIGERSeq2Seq), named as in CornacTIGERConfig
_TIGER_NETWORK = ("d_model", "d_ff", "num_heads", "d_kv", "num_enc_layers", "num_dec_layers", "dropout")


@dataclass(frozen=True)
class CornacSASRecConfig:
    """Settings of Cornac's SASRec (its names and defaults) and of the early stopping around it."""

    embedding_dim: int = 100
    num_blocks: int = 2
    num_heads: int = 1
    dropout: float = 0.2
    loss: str = "ce"  # in-batch positives plus n_sample shared negatives, softmax cross-entropy
    n_sample: int = 2048
    sample_alpha: float = 0.5
    batch_size: int = 512
    learning_rate: float = 1e-3
    l2_reg: float = 0.0
    max_len: int = 50
    max_epochs: int = 100
    eval_every: int = 2
    patience: int = 3  # evaluations without valid NDCG@10 improvement
    seed: int = 0

    def label(self) -> str:
        """The settings that differ from the defaults, e.g. ``dim=64 dropout=0.5``."""
        return _label(self, {"embedding_dim": "dim", "num_blocks": "blocks", "learning_rate": "lr"})


class _CornacPeer:
    """What both Cornac peers hold: their settings, the fitted Cornac recommender (its network is
    ``network``), the item index (rows of ``prepared.items``) and the early-stopping record."""

    def __init__(self, config, recommender, index: dict[str, int]):
        self.config = config
        self.recommender = recommender
        self.index = index
        self.history: list[dict] = []  # one row per evaluation, filled by fit
        self.best_epoch: int | None = None

    @property
    def network(self) -> torch.nn.Module:
        return self.recommender.model

    @property
    def best_valid_ndcg(self) -> float:
        return max((row["valid_ndcg10"] for row in self.history), default=float("nan"))

    def _negatives(self) -> tuple[int, float]:
        """Shared negative items drawn for each batch, and the popularity exponent they are drawn with."""
        return 0, 0.0

    def _batch_loss(self, histories: np.ndarray, targets: np.ndarray) -> torch.Tensor | None:
        """The loss of one of Cornac's batches (left-padded item rows, next items), or None to skip it."""
        raise NotImplementedError

    def _train_epoch(self, train_set, optimizer: torch.optim.Optimizer, scheduler) -> tuple[float, int]:
        """One pass over Cornac's shuffled batches of ``train_set``; returns the summed loss and examples."""
        from cornac.models.seq_utils import session_seq_iter

        n_sample, sample_alpha = self._negatives()
        batches = session_seq_iter(
            train_set,
            pad_index=self.recommender.pad_idx,
            batch_size=self.config.batch_size,
            max_len=self.config.max_len,
            n_sample=n_sample,
            sample_alpha=sample_alpha,
            rng=self.recommender.rng,
            shuffle=True,
        )
        total, count = 0.0, 0
        for _, histories, targets in batches:
            loss = self._batch_loss(histories, targets)
            if loss is None:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(histories)
            count += len(histories)
        return total, count

    def _train(
        self,
        prepared: PreparedData,
        train_set,
        optimizer: torch.optim.Optimizer,
        scheduler,
        desc: str,
        progress: bool,
    ) -> None:
        """Epochs of :meth:`_train_epoch` with early stopping on valid NDCG@10 (see
        :func:`~sidrec_lib.baselines.train_epochs`); keeps the best evaluation's weights and records
        ``history`` and ``best_epoch``."""
        stopper = train_epochs(
            self.network,
            lambda: self._train_epoch(train_set, optimizer, scheduler),
            self._scores_of_indices,
            prepared,
            self.index,
            self.config,
            desc,
            progress,
        )
        self.history, self.best_epoch = stopper.history, stopper.best_epoch


class CornacSASRec(_CornacPeer):
    """Cornac 3's SASRec behind this course's :class:`~sidrec_lib.baselines.Recommender` interface."""

    @classmethod
    def fit(
        cls,
        prepared: PreparedData,
        config: CornacSASRecConfig = CornacSASRecConfig(),  # frozen, so one shared default is safe
        progress: bool = True,
        device: str | None = None,
    ) -> CornacSASRec:
        """Train on the train split, early-stop on valid NDCG@10; returns the best evaluation's model."""
        from cornac.models import SASRec as CornacModel
        from cornac.models.sasrec.sasrec import SASRecModel

        device = device or default_device(mps=False)
        index = item_index(prepared)
        train_set = _train_set(prepared, index, config.seed)
        recommender = CornacModel(
            **_cornac_settings(config),
            device=device,
            trainable=False,  # cornac's fit only records the data; the epochs run below
        )
        recommender.fit(train_set)
        # What cornac.models.SASRec.fit does, epoch by epoch, so that selection uses our valid metric.
        torch.manual_seed(config.seed)
        recommender.pad_idx = recommender.total_items
        recommender.model = SASRecModel(
            item_num=recommender.total_items,
            embedding_dim=config.embedding_dim,
            maxlen=config.max_len,
            n_layers=config.num_blocks,
            n_heads=config.num_heads,
            use_pos_emb=True,
            use_biases=False,
            dropout=config.dropout,
            pad_idx=recommender.pad_idx,
            device=device,
        )
        model = cls(config, recommender, index)
        optimizer = torch.optim.Adam(model.network.parameters(), lr=config.learning_rate, betas=(0.9, 0.98))
        model._train(prepared, train_set, optimizer, None, "Cornac SASRec", progress)
        return model

    def _negatives(self) -> tuple[int, float]:
        return self.config.n_sample, self.config.sample_alpha

    def _batch_loss(self, histories: np.ndarray, targets: np.ndarray) -> torch.Tensor | None:
        """Cornac's SASRec loss (plus the L2 term); None for a batch of fewer than two examples."""
        from cornac.models.seq_utils.losses import get_loss_function

        if len(histories) < 2:
            return None
        device = self.recommender.device
        targets = torch.as_tensor(targets, device=device)
        scores = self.network(None, torch.as_tensor(histories, device=device), targets)
        loss = get_loss_function(self.config.loss)(
            scores,
            out_iids=targets,
            batch_size=len(histories),
            n_sample=self.config.n_sample,
            bpreg=1.0,
            elu_param=0.5,
        )
        if self.config.l2_reg > 0:
            loss = loss + self.config.l2_reg * sum(torch.norm(p) for p in self.network.parameters())
        return loss

    @torch.no_grad()
    def _scores_of_indices(self, histories: list[list[int]], batch_size: int = 512) -> torch.Tensor:
        """(n, n_items) scores for histories given as item rows, left-padded as Cornac's ``score`` pads."""
        network, pad, length = self.network, self.recommender.pad_idx, self.config.max_len
        network.eval()
        out = []
        for start in range(0, len(histories), batch_size):
            chunk = [h[-length:] for h in histories[start : start + batch_size]]
            rows = [[pad] * (length - len(h)) + h for h in chunk]
            seq = torch.tensor(rows, dtype=torch.long, device=self.recommender.device)
            hidden = network._encode(seq)
            out.append(hidden @ network.item_emb.weight[:pad].T)
        if not out:
            return torch.zeros(0, len(self.index), device=self.recommender.device)
        return torch.cat(out)

    def scores(self, histories: list[list[str]]) -> np.ndarray:
        """(len(histories), n_items) float32 next-item scores, items in ``prepared.items`` row order."""
        rows = item_rows(self.index, histories, "CornacSASRec.scores: item {item!r} is not in the catalog")
        return self._scores_of_indices(rows).float().cpu().numpy()


@dataclass(frozen=True)
class CornacTIGERConfig:
    """Settings of Cornac's TIGER (its names) and of the early stopping around it.

    The tokenizer and the network take Cornac's defaults except where they are cut to train in about
    ten minutes on two busy CPU cores (a few thousand users): 2 + 2 layers of width 64 (Cornac: 4 + 4
    of 128), 2 heads (6), a 256-wide feed-forward (1024), histories of 10 items (20), batches of 128
    (256), 10 epochs at most (20), 50 RQ-VAE epochs (200).
    """

    tokenizer: str = "rqvae"  # or "rkmeans": residual k-means on the item vectors, no training
    feature_standardize: bool = False  # z-score each feature over the items before tokenizing
    rqvae_num_levels: int = 3  # levels of codes; a last level tells apart items sharing all of them
    rqvae_codebook_size: int = 256
    rqvae_latent_dim: int = 32
    rqvae_hidden_dims: tuple[int, ...] = (512, 256, 128)
    rqvae_beta: float = 0.25
    rqvae_n_epochs: int = 50
    rqvae_learning_rate: float = 1e-3
    rqvae_batch_size: int = 1024
    rqvae_weight_decay: float = 0.0
    d_model: int = 64
    d_ff: int = 256
    num_heads: int = 2
    d_kv: int = 32
    num_enc_layers: int = 2
    num_dec_layers: int = 2
    dropout: float = 0.1
    max_len: int = 10  # history items the encoder sees (each is rqvae_num_levels + 1 tokens)
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    lr_schedule: str = "constant"  # or "cosine": linear warm-up, then cosine decay over max_epochs
    warmup_steps: int = 10_000
    n_beams: int = 20  # beam width beyond the history's items; at least the K of the metrics
    max_epochs: int = 10
    eval_every: int = 1
    patience: int = 3  # evaluations without valid NDCG@10 improvement
    seed: int = 0

    def label(self) -> str:
        """The settings that differ from the defaults, e.g. ``d=128 enc=4``."""
        short = {
            "d_model": "d",
            "num_enc_layers": "enc",
            "num_dec_layers": "dec",
            "learning_rate": "lr",
            "rqvae_n_epochs": "rqvae_epochs",
            "rqvae_codebook_size": "codes",
            "rqvae_num_levels": "levels",
        }
        return _label(self, short)


class CornacTIGER(_CornacPeer):
    """Cornac 3's TIGER behind this course's :class:`~sidrec_lib.baselines.Recommender` interface.

    ``scores`` gives the log-probability of each item the constrained beam search reached and
    ``-inf`` to every other item; ``recommend`` returns the top-k item ids with history items left out.
    The beam search is Cornac's ``TIGERSeq2Seq.generate_beam`` run on many users at once (same
    network calls, same masking to valid IDs, same pruning), with a width of its own for each user.
    """

    def __init__(self, config: CornacTIGERConfig, recommender, index: dict[str, int]):
        super().__init__(config, recommender, index)  # a cornac.models.TIGER, tokenizer and network fitted
        self.item_ids = list(index)
        self.tokenizer_seconds = 0.0

    @property
    def semantic_ids(self) -> np.ndarray:
        """(n_items, levels + 1) codes of each item, rows of ``prepared.items``; the last level tells apart
        items that share all the others."""
        return self.recommender.sid_table

    @property
    def device(self) -> torch.device:
        return self.recommender.model.offsets.device

    @classmethod
    def fit(
        cls,
        prepared: PreparedData,
        features: np.ndarray,
        config: CornacTIGERConfig = CornacTIGERConfig(),  # frozen, so one shared default is safe
        progress: bool = True,
        device: str | None = None,
    ) -> CornacTIGER:
        """Tokenize ``features`` ((n_items, D), rows of ``prepared.items``), train on the train split,
        early-stop on valid NDCG@10; returns the best evaluation's model."""
        from cornac.data import FeatureModality
        from cornac.models import TIGER as CornacModel
        from cornac.models.tiger.tiger import TIGERSeq2Seq

        device = device or default_device(mps=False)
        index = item_index(prepared)
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or len(features) != len(index):
            raise ValueError(
                f"features must be ({len(index)}, D), one row per catalog item; got {features.shape}"
            )
        if not np.isfinite(features).all():
            raise ValueError("features hold NaN or infinite values")
        if config.n_beams < 1:
            raise ValueError(f"n_beams must be at least 1, got {config.n_beams}")
        train_set = _train_set(prepared, index, config.seed)
        train_set.add_modalities(
            item_feature=FeatureModality(features=features, ids=list(index)).build(id_map=train_set.iid_map)
        )
        settings = _cornac_settings(config) | {"rqvae_hidden_dims": tuple(config.rqvae_hidden_dims)}
        recommender = CornacModel(
            **settings,
            n_epochs=config.max_epochs,  # the cosine schedule spans max_epochs
            scoring="beam",
            device=device,
            trainable=False,  # cornac's fit only records the data; the stages run below
        )
        recommender.fit(train_set)

        # What cornac.models.TIGER.fit does, with the seq2seq epochs driven here.
        start = time.perf_counter()
        torch.manual_seed(config.seed)
        recommender.device_ = device
        feats = recommender._get_item_features()
        if config.feature_standardize:
            std = feats.std(axis=0)
            feats = ((feats - feats.mean(axis=0)) / np.where(std == 0, 1.0, std)).astype(np.float32)
        codes = recommender._tokenize(torch, torch.tensor(feats, device=device))
        recommender._build_semantic_ids(codes)
        tokenizer_seconds = time.perf_counter() - start

        recommender.model = TIGERSeq2Seq(
            level_sizes=recommender.level_sizes, **{name: settings[name] for name in _TIGER_NETWORK}
        ).to(device)
        # encoder tokens of each item (level codes plus level offsets, 0 = padding); an all-padding row last
        recommender.pad_idx = recommender.total_items
        offsets = recommender.model.offsets.cpu().numpy()
        recommender.enc_token_table = np.zeros(
            (recommender.total_items + 1, len(recommender.level_sizes)), "int64"
        )
        recommender.enc_token_table[: recommender.total_items] = recommender.sid_table + offsets

        model = cls(config, recommender, index)
        model.tokenizer_seconds = tokenizer_seconds
        optimizer = torch.optim.AdamW(
            model.network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        scheduler = recommender._make_lr_scheduler(torch, optimizer)
        model._train(prepared, train_set, optimizer, scheduler, "Cornac TIGER", progress)
        return model

    def _batch_loss(self, histories: np.ndarray, targets: np.ndarray) -> torch.Tensor:
        """The seq2seq loss of generating each target's semantic ID from its history's tokens."""
        rec = self.recommender
        tokens = _trim(rec.enc_token_table[histories].reshape(len(histories), -1), self.device)
        target = torch.as_tensor(rec.sid_table[targets], device=self.device)
        return self.network(tokens, (tokens != 0).float(), target)

    # -- inference ------------------------------------------------------------------------------

    def _rows(self, histories: list[list[str]]) -> list[list[int]]:
        return item_rows(self.index, histories, "CornacTIGER: item {item!r} is not in the catalog")

    @torch.no_grad()
    def _beam_search(
        self, histories: list[list[int]], widths: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cornac's constrained beam search for several non-empty histories (item rows) at once.

        Returns (items, log-probabilities), each (n, max(widths)) in descending log-probability;
        user i keeps ``widths[i]`` beams, the places beyond (and any the catalog cannot fill) hold
        item -1 and ``-inf``.
        """
        rec, net = self.recommender, self.network
        net.eval()
        length = self.config.max_len
        # left-padded to max_len, as cornac's score pads
        rows = [[rec.pad_idx] * (length - len(h[-length:])) + h[-length:] for h in histories]
        tokens = _trim(rec.enc_token_table[rows].reshape(len(rows), -1), self.device)
        mask = (tokens != 0).float()
        encoded = net.encode_history(tokens, mask)
        n, width = len(histories), max(widths)
        places = torch.arange(width, device=self.device)[None, :]
        keep = places < torch.as_tensor(widths, device=self.device)[:, None]
        beams = torch.zeros(n, 1, 0, dtype=torch.long, device=self.device)  # (n, beams, levels so far)
        beam_lp = torch.zeros(n, 1, device=self.device)
        for level, size in enumerate(net.level_sizes):
            n_beams = beams.shape[1]
            prefixes = beams.reshape(n * n_beams, level)
            states = net._decode(
                prefixes if level else None,
                encoded.repeat_interleave(n_beams, dim=0),
                mask.repeat_interleave(n_beams, dim=0),
            )
            logp = F.log_softmax(net.heads[level](states[:, -1]), dim=-1)
            allowed = torch.full_like(logp, -math.inf)  # only codes that continue some item's ID
            alive = torch.isfinite(beam_lp).flatten().tolist()
            children = rec.prefix_children[level]
            pairs = [
                (j, code)
                for j, prefix in enumerate(prefixes.tolist())
                if alive[j]
                for code in children[tuple(prefix)]
            ]
            if pairs:
                allowed[tuple(torch.as_tensor(pairs, device=self.device).T)] = 0.0
            total = (beam_lp[:, :, None] + (logp + allowed).view(n, n_beams, size)).view(n, n_beams * size)
            top = total.topk(min(width, n_beams * size), dim=1)
            parent, code = top.indices // size, top.indices % size
            beams = torch.cat(
                [beams.gather(1, parent[:, :, None].expand(-1, -1, level)), code[:, :, None]], dim=2
            )
            beam_lp = top.values.masked_fill(~keep[:, : top.values.shape[1]], -math.inf)
        items = torch.full(beam_lp.shape, -1, dtype=torch.long)
        found = torch.isfinite(beam_lp)
        for (i, j), sid in zip(found.nonzero().tolist(), beams[found].tolist()):
            items[i, j] = rec.sid_to_item[tuple(sid)]
        out_lp = torch.full((n, width), -math.inf)
        out_lp[:, : beam_lp.shape[1]] = beam_lp.float().cpu()
        out_items = torch.full((n, width), -1, dtype=torch.long)
        out_items[:, : items.shape[1]] = items
        return out_items, out_lp

    @torch.no_grad()
    def _scores_of_indices(
        self, histories: list[list[int]], n_beams: int | None = None, batch_size: int = 256
    ) -> torch.Tensor:
        """(n, n_items) scores for histories given as item rows: each beam item's log-probability, else
        ``-inf``. The beam is ``n_beams`` (default: the config's) plus the history's distinct items wide.
        An empty history scores every item 0, as Cornac's ``score`` does (all items equal)."""
        n_beams = self.config.n_beams if n_beams is None else n_beams
        n_items = len(self.index)
        widths = [min(n_beams + len(set(h)), n_items) for h in histories]
        out = torch.full((len(histories), n_items), -math.inf)
        users = [i for i in sorted(range(len(histories)), key=widths.__getitem__) if histories[i]]
        out[[i for i, h in enumerate(histories) if not h]] = 0.0
        for start in range(0, len(users), batch_size):
            chunk = users[start : start + batch_size]
            items, logp = self._beam_search([histories[i] for i in chunk], [widths[i] for i in chunk])
            found = items >= 0
            rows = torch.as_tensor(chunk)[:, None].expand_as(items)
            out[rows[found], items[found]] = logp[found]
        return out

    def scores(self, histories: list[list[str]], n_beams: int | None = None) -> np.ndarray:
        """(len(histories), n_items) float32 scores, items in ``prepared.items`` row order: log-probability
        of the items in each user's beam (``n_beams`` plus their distinct history items wide), ``-inf``
        for all others. Leave out history items (e.g. with :func:`~sidrec_lib.baselines.top_k`) before
        taking the top ``n_beams``."""
        return self._scores_of_indices(self._rows(histories), n_beams).numpy()

    def recommend(self, histories: list[list[str]], k: int = 10) -> list[list[str]]:
        """Top-k item ids for each history, history items left out (beam ``max(n_beams, k)`` plus the
        history's distinct items wide, so k remain whenever the catalog has k items outside the history)."""
        rows = self._rows(histories)
        scores = self._scores_of_indices(rows, max(self.config.n_beams, k)).numpy()
        ranked = top_k(scores, k, exclude=rows)
        return [
            [self.item_ids[j] for j in row if j >= 0 and np.isfinite(scores[i, j])]
            for i, row in enumerate(ranked)
        ]


def sweep(
    prepared: PreparedData,
    configs: Sequence[CornacSASRecConfig],
    progress: bool = True,
    device: str | None = None,
) -> tuple[CornacSASRec, list[dict]]:
    """Fit each setting; return the one with the best valid NDCG@10 and a row per setting."""
    if not configs:
        raise ValueError("sweep needs at least one CornacSASRecConfig.")
    fitted, rows = [], []
    for config in configs:
        model = CornacSASRec.fit(prepared, config, progress=progress, device=device)
        fitted.append(model)
        rows.append(
            {
                "setting": config.label(),
                "best_epoch": model.best_epoch,
                "valid ndcg@10": model.best_valid_ndcg,
                "seconds": model.history[-1]["seconds"] if model.history else 0.0,
            }
        )
    best = max(range(len(fitted)), key=lambda i: fitted[i].best_valid_ndcg)
    return fitted[best], rows


def fit_sasrecs(
    prepared: PreparedData, ev: EvalConfig, progress: bool = True
) -> tuple[SASRec, CornacSASRec, list[dict]]:
    """Notebook 06's two SASRecs at the ``evaluate`` settings: this course's, and Cornac's, the best of
    a sweep over ``cornac_dims`` × ``cornac_dropouts``; both early-stopped on valid NDCG@10. Returns
    them and the sweep's rows."""
    ours = SASRecConfig(
        hidden=ev.sasrec_hidden, max_epochs=ev.sasrec_epochs, patience=ev.sasrec_patience, seed=ev.seed
    )
    sasrec = SASRec.fit(prepared, ours, progress=progress)
    settings = [
        CornacSASRecConfig(
            embedding_dim=dim,
            dropout=dropout,
            max_len=ev.cornac_max_len,
            max_epochs=ev.cornac_epochs,
            eval_every=1,
            patience=ev.cornac_patience,
            seed=ev.seed,
        )
        for dim in ev.cornac_dims
        for dropout in ev.cornac_dropouts
    ]
    peer, rows = sweep(prepared, settings, progress=progress)
    return sasrec, peer, rows


def _label(config: CornacSASRecConfig | CornacTIGERConfig, short: dict[str, str]) -> str:
    """The settings of ``config`` that differ from its class's defaults, as ``name=value`` with the
    ``short`` names, epochs, early stopping and seed left out; ``defaults`` when none differs."""
    default = type(config)()
    changed = [
        f"{short.get(f.name, f.name)}={getattr(config, f.name)}"
        for f in dataclasses.fields(config)
        if f.name not in (*_STOPPING, "seed") and getattr(config, f.name) != getattr(default, f.name)
    ]
    return " ".join(changed) or "defaults"


def _cornac_settings(config: CornacSASRecConfig | CornacTIGERConfig) -> dict[str, Any]:
    """The settings of ``config`` that Cornac's model takes under the same names: all but the epochs
    and early stopping."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in _STOPPING}


def _train_set(prepared: PreparedData, index: dict[str, int], seed: int):
    """Cornac's SequentialDataset of the train split: a session per user, their train items in order."""
    from cornac.data import SequentialDataset

    train = prepared.examples("train")
    rows = [
        (user, user, item, t)
        for user, items in zip(train.user_id, train.history)
        for t, item in enumerate(items)
    ]
    return SequentialDataset.build(rows, fmt="USIT", global_iid_map=OrderedDict(index), seed=seed)


def _trim(tokens: np.ndarray, device) -> torch.Tensor:
    """Encoder tokens without the leading columns that are padding in every row.

    Cornac left-pads every history to ``max_len`` items; T5 masks padding and its position bias
    depends only on the distance between tokens, so dropping those columns changes nothing but the
    work (most histories are much shorter than ``max_len``) and, in training, which dropout draws
    fall where.
    """
    used = np.flatnonzero((tokens != 0).any(axis=0))
    return torch.as_tensor(tokens[:, used[0] if len(used) else 0 :], device=device)
