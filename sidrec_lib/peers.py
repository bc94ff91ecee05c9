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
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from sidrec_lib.baselines import EarlyStopping, item_index, valid_ndcg
from sidrec_lib.prepare import PreparedData

__all__ = ["CornacSASRec", "CornacSASRecConfig", "sweep"]


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
        default = CornacSASRecConfig()
        short = {"embedding_dim": "dim", "num_blocks": "blocks", "learning_rate": "lr"}
        changed = [
            f"{short.get(f.name, f.name)}={getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if f.name not in ("max_epochs", "eval_every", "patience", "seed")
            and getattr(self, f.name) != getattr(default, f.name)
        ]
        return " ".join(changed) or "defaults"


class CornacSASRec:
    """Cornac 3's SASRec behind this course's :class:`~sidrec_lib.baselines.Recommender` interface."""

    def __init__(self, config: CornacSASRecConfig, recommender, index: dict[str, int]):
        self.config = config
        self.recommender = recommender  # the fitted cornac.models.SASRec
        self.index = index
        self.history: list[dict] = []  # one row per evaluation, filled by fit
        self.best_epoch: int | None = None

    @property
    def network(self) -> torch.nn.Module:
        return self.recommender.model

    @classmethod
    def fit(
        cls,
        prepared: PreparedData,
        config: CornacSASRecConfig = CornacSASRecConfig(),  # frozen, so one shared default is safe
        progress: bool = True,
        device: str | None = None,
    ) -> CornacSASRec:
        """Train on the train split, early-stop on valid NDCG@10; returns the best evaluation's model."""
        from cornac.data import SequentialDataset
        from cornac.models import SASRec as CornacModel
        from cornac.models.sasrec.sasrec import SASRecModel
        from cornac.models.seq_utils import session_seq_iter
        from cornac.models.seq_utils.losses import get_loss_function

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        index = item_index(prepared)
        train = prepared.examples("train")
        rows = [
            (user, user, item, t)  # one session per user: their train items, in time order
            for user, items in zip(train.user_id, train.history)
            for t, item in enumerate(items)
        ]
        train_set = SequentialDataset.build(
            rows, fmt="USIT", global_iid_map=OrderedDict(index), seed=config.seed
        )
        recommender = CornacModel(
            embedding_dim=config.embedding_dim,
            loss=config.loss,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            n_sample=config.n_sample,
            sample_alpha=config.sample_alpha,
            max_len=config.max_len,
            num_blocks=config.num_blocks,
            num_heads=config.num_heads,
            dropout=config.dropout,
            l2_reg=config.l2_reg,
            seed=config.seed,
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
        loss_fn = get_loss_function(config.loss)
        optimizer = torch.optim.Adam(model.network.parameters(), lr=config.learning_rate, betas=(0.9, 0.98))

        valid = prepared.examples("valid")
        valid_histories = [[index[i] for i in h] for h in valid.history]
        valid_targets = [index[t] for t in valid.target]
        stopper = EarlyStopping(model.network, config.patience)
        bar = tqdm(range(1, config.max_epochs + 1), desc="Cornac SASRec", unit="epoch", disable=not progress)
        for epoch in bar:
            model.network.train()
            total, count = 0.0, 0
            batches = session_seq_iter(
                train_set,
                pad_index=recommender.pad_idx,
                batch_size=config.batch_size,
                max_len=config.max_len,
                n_sample=config.n_sample,
                sample_alpha=config.sample_alpha,
                rng=recommender.rng,
                shuffle=True,
            )
            for _, histories, targets in batches:
                if len(histories) < 2:
                    continue
                targets = torch.as_tensor(targets, device=device)
                scores = model.network(None, torch.as_tensor(histories, device=device), targets)
                loss = loss_fn(
                    scores,
                    out_iids=targets,
                    batch_size=len(histories),
                    n_sample=config.n_sample,
                    bpreg=1.0,
                    elu_param=0.5,
                )
                if config.l2_reg > 0:
                    loss = loss + config.l2_reg * sum(torch.norm(p) for p in model.network.parameters())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(histories)
                count += len(histories)
            if epoch % config.eval_every and epoch != config.max_epochs:
                continue
            ndcg, recall = valid_ndcg(model._scores_of_indices, valid_histories, valid_targets)
            stop = stopper.update(epoch, total / max(count, 1), ndcg, recall)
            bar.set_postfix(loss=f"{total / max(count, 1):.3f}", ndcg10=f"{ndcg:.4f}")
            if stop:
                break
        bar.close()
        stopper.restore()
        model.history, model.best_epoch = stopper.history, stopper.best_epoch
        model.network.eval()
        return model

    @property
    def best_valid_ndcg(self) -> float:
        return max((row["valid_ndcg10"] for row in self.history), default=float("nan"))

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
        try:
            rows = [[self.index[item] for item in history] for history in histories]
        except KeyError as err:
            raise ValueError(f"CornacSASRec.scores: item {err.args[0]!r} is not in the catalog") from None
        return self._scores_of_indices(rows).float().cpu().numpy()


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
