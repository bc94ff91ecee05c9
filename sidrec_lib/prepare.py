"""From raw reviews to clean, time-ordered user sequences and a leave-last-out split.

Filters, in order, each counted: items without a title; exact duplicate interactions; repeat
purchases of an item a user already has (the first one is kept); each user's most recent
``max_user_interactions`` interactions; iterative k-core on users and items until nothing changes.
Split per user: test = last item, valid = second last, train = the rest.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sidrec_lib.presets import PrepareConfig
from sidrec_lib.sources import SourceData

SPLITS = ("train", "valid", "test")
MIN_SEQUENCE = 3  # one train, one valid and one test interaction


def row_index(ids: Iterable[str]) -> dict[str, int]:
    """id → its position in ``ids``: the row of that id in every per-item array built in that order."""
    return {item: row for row, item in enumerate(ids)}


@dataclass
class PreparedData:
    """The output of notebook 01, in memory.

    ``items``: one row per kept item, sorted by item_id (this row order is the row order of every
    later per-item array). ``interactions``: one row per kept interaction with its ``position`` in
    the user's sequence and its ``split``. ``sequences``: one row per user with item ids and
    timestamps in time order. ``attributes``: long table (item_id, attribute, value) for steering.
    """

    items: pd.DataFrame
    interactions: pd.DataFrame
    sequences: pd.DataFrame
    attributes: pd.DataFrame
    filter_counts: pd.DataFrame

    FILES = ("items", "interactions", "sequences", "attributes", "filter_counts")

    def save(self, path_for) -> None:
        """Write each table as Parquet to ``path_for(name)`` (a StepWriter's ``path``)."""
        for name in self.FILES:
            getattr(self, name).to_parquet(path_for(f"{name}.parquet"), index=False)

    @classmethod
    def load(cls, folder: str | Path) -> PreparedData:
        folder = Path(folder)
        return cls(**{name: pd.read_parquet(folder / f"{name}.parquet") for name in cls.FILES})

    def examples(self, split: str) -> pd.DataFrame:
        """(user_id, history, target) rows: ``valid``/``test`` targets with everything before them.

        For ``train``, each user's train items only (history = all of them, target = None).
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        seqs = self.sequences
        if split == "train":
            return pd.DataFrame(
                {"user_id": seqs.user_id, "history": [list(s[:-2]) for s in seqs.item_ids], "target": None}
            )
        cut = -2 if split == "valid" else -1
        return pd.DataFrame(
            {
                "user_id": seqs.user_id,
                "history": [list(s[:cut]) for s in seqs.item_ids],
                "target": [s[cut] for s in seqs.item_ids],
            }
        )


def item_index(prepared: PreparedData) -> dict[str, int]:
    """item_id → row of ``prepared.items`` (the item index used by every score array)."""
    return row_index(prepared.items.item_id)


def train_popularity(prepared: PreparedData) -> pd.Series:
    """item_id → its interactions in the train split, most popular first (items with none left out)."""
    inter = prepared.interactions
    return inter.loc[inter.split == "train", "item_id"].value_counts()


def _stage(stage: str, n_items: int, users: np.ndarray) -> dict:
    """One row of ``filter_counts``: users (keys ≥ 0; -1 is a missing id) and interactions left."""
    known = users[users >= 0]
    n_users = int(np.count_nonzero(np.bincount(known))) if len(known) else 0
    return {"stage": stage, "users": n_users, "items": n_items, "interactions": len(users)}


def _group_sizes(codes: np.ndarray) -> np.ndarray:
    """Each row's group size from ``pd.factorize`` codes; 0 for a missing value (code -1)."""
    sizes = np.bincount(codes + 1, minlength=1)
    sizes[0] = 0
    return sizes[codes + 1]


def kcore(users: np.ndarray, items: np.ndarray, k_users: int, k_items: int) -> tuple[np.ndarray, int]:
    """Which interactions survive dropping users with < ``k_users`` and items with < ``k_items``
    interactions until none is left.

    ``users`` and ``items`` are integer keys per interaction (``pd.factorize`` codes; -1, a missing
    id, never survives). Returns the surviving positions, in order, and the number of passes: each
    pass is two counts of integers.
    """
    rows = np.arange(len(users))
    passes = 0
    while True:
        passes += 1
        keep = (_group_sizes(users) >= k_users) & (_group_sizes(items) >= k_items)
        if keep.all():
            return rows, passes
        users, items, rows = users[keep], items[keep], rows[keep]


def _duplicated(*keys: np.ndarray) -> np.ndarray:
    """Rows whose tuple of ``keys`` appeared in an earlier row (integer columns, hashed)."""
    if len(keys) == 1:
        return pd.Series(keys[0]).duplicated().to_numpy()
    return pd.DataFrame(dict(enumerate(keys)), copy=False).duplicated().to_numpy()


def _run_places(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each run of equal values starts in ``sorted_keys``, and each row's place in its run
    counted from the start (0 = first) and from the end (1 = last)."""
    if not len(sorted_keys):
        return (np.zeros(0, dtype=np.int64),) * 3
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    lengths = np.diff(np.r_[starts, len(sorted_keys)])
    from_start = np.arange(len(sorted_keys)) - np.repeat(starts, lengths)
    return starts, from_start, np.repeat(lengths, lengths) - from_start


def prepare(source: SourceData, config: PrepareConfig) -> PreparedData:
    """Filter, order and split ``source`` as described in the module docstring.

    Every filter works on integer keys (users and items numbered by ``pd.factorize``) and row
    numbers; the string columns are gathered once, for the rows that survive. Users are numbered as
    they appear (hashing, linear in the reviews) and put in id order only at the end, among the
    users left. A missing user or item id never survives (the item has no title; the user no run).
    """
    if config.kcore < 1 or config.max_user_interactions < MIN_SEQUENCE:
        raise ValueError(f"Need kcore ≥ 1 and max_user_interactions ≥ {MIN_SEQUENCE}; got {config}.")
    items, inter = source.items, source.interactions.reset_index(drop=True)
    user_ids, user_names = pd.factorize(inter.user_id)
    item_keys, item_names = pd.factorize(inter.item_id)
    timestamps = inter.timestamp.to_numpy()
    rows = np.arange(len(inter))
    counts = [_stage("read", len(items), user_ids)]

    items = items[items.title.str.strip() != ""]
    titled = np.r_[pd.Index(item_names).isin(items.item_id), False]  # item key -1 (missing) last
    rows = rows[titled[item_keys]]
    counts.append(_stage("items with a title", len(items), user_ids[rows]))

    # Both duplicate filters look only at rows whose (user, item) pair occurs more than once: one
    # hash pass over every row finds them, the rest works on that (usually small) subset.
    pair = user_ids[rows] * (len(item_names) + 1) + item_keys[rows] + 1  # one integer per (user, item)
    repeated = pd.Series(pair).duplicated(keep=False).to_numpy()
    exact = np.flatnonzero(repeated)[_duplicated(pair[repeated], timestamps[rows[repeated]])]
    rows, pair, repeated = np.delete(rows, exact), np.delete(pair, exact), np.delete(repeated, exact)
    counts.append(_stage("no exact duplicate interactions", len(items), user_ids[rows]))

    # Stable sort by user, then time: ties in timestamp keep file order.
    order = np.lexsort((timestamps[rows], user_ids[rows]))
    rows, pair, repeated = rows[order], pair[order], repeated[order]
    rows = np.delete(rows, np.flatnonzero(repeated)[_duplicated(pair[repeated])])
    counts.append(_stage("first purchase of each item per user", len(items), user_ids[rows]))

    _, _, from_end = _run_places(user_ids[rows])
    rows = rows[(from_end <= config.max_user_interactions) & (user_ids[rows] >= 0)]
    counts.append(_stage(f"last {config.max_user_interactions} per user", len(items), user_ids[rows]))

    survivors, passes = kcore(user_ids[rows], item_keys[rows], max(config.kcore, MIN_SEQUENCE), config.kcore)
    rows = rows[survivors]
    kept_items = item_names[np.unique(item_keys[rows])]
    items = items[items.item_id.isin(kept_items)].sort_values("item_id").reset_index(drop=True)
    counts.append(_stage(f"{config.kcore}-core ({passes} passes)", len(items), user_ids[rows]))
    if not len(rows):
        advice = (
            "lower prepare.kcore or use more data"
            if config.kcore > 1
            else f"each user needs {MIN_SEQUENCE} interactions (train, valid, test); use more data"
        )
        raise ValueError(f"No interaction survives the {config.kcore}-core filter: {advice}.")

    # Users in id order; each user's rows stay in time order (a stable sort of the runs).
    kept_users = np.unique(user_ids[rows])
    rank = np.zeros(len(user_names), dtype=np.int64)
    rank[kept_users] = np.argsort(np.argsort(np.asarray(user_names[kept_users], dtype=object), kind="stable"))
    rows = rows[np.argsort(rank[user_ids[rows]], kind="stable")]
    starts, position, from_end = _run_places(user_ids[rows])
    inter = inter.iloc[rows][["user_id", "item_id", "timestamp", "rating"]].reset_index(drop=True)
    inter["position"] = position
    inter["split"] = np.select([from_end == 1, from_end == 2], ["test", "valid"], "train")

    # Rows are sorted by user, then time: each user's rows are one run, in the order of the ids.
    sequences = pd.DataFrame(
        {
            "user_id": pd.Index(inter.user_id.to_numpy()[starts]),  # typed as a groupby's keys
            "item_ids": [run.tolist() for run in np.split(inter.item_id.to_numpy(), starts[1:])],
            "timestamps": [run.tolist() for run in np.split(inter.timestamp.to_numpy(), starts[1:])],
        }
    )
    return PreparedData(
        items=items,
        interactions=inter,
        sequences=sequences,
        attributes=attribute_table(items),
        filter_counts=pd.DataFrame(counts),
    )


@functools.cache  # a catalog has a few dozen detail keys, repeated on every item
def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def attribute_table(items: pd.DataFrame) -> pd.DataFrame:
    """Long table (item_id, attribute, value) from ``store`` (brand), ``details`` and ``categories``.

    ``details`` keys become snake_case attributes (``Price Tier`` → ``price_tier``); every category
    below the top level becomes a ``category`` row.
    """
    rows = []
    for item_id, store, details, categories in zip(
        items.item_id, items.store, items.details, items.categories, strict=True
    ):
        if store:
            rows.append((item_id, "brand", store))
        for key, value in json.loads(details).items():
            if value:
                rows.append((item_id, _snake(key), value))
        for category in list(categories)[1:]:
            rows.append((item_id, "category", category))
    return pd.DataFrame(rows, columns=["item_id", "attribute", "value"])


def sequence_stats(prepared: PreparedData) -> dict:
    """Headline figures for metrics.json: sizes, sequence lengths, popularity concentration."""
    lengths = prepared.sequences.item_ids.map(len).to_numpy()
    popularity = np.sort(prepared.interactions.item_id.value_counts().to_numpy())[::-1]
    n_users, n_items = len(prepared.sequences), len(prepared.items)
    top = max(1, int(round(0.1 * n_items)))
    cum = np.cumsum(np.sort(popularity))
    gini = float(1 - 2 * (cum / cum[-1]).sum() / len(cum) + 1 / len(cum))
    return {
        "users": n_users,
        "items": n_items,
        "interactions": int(lengths.sum()),
        "density": float(lengths.sum() / (n_users * n_items)),
        "sequence_length": {
            "min": int(lengths.min()),
            "median": float(np.median(lengths)),
            "mean": float(lengths.mean()),
            "max": int(lengths.max()),
        },
        "split_sizes": prepared.interactions.split.value_counts().reindex(SPLITS).astype(int).to_dict(),
        "top10pct_item_share": float(popularity[:top].sum() / popularity.sum()),
        "popularity_gini": gini,
    }


def item_labels(prepared: PreparedData, attribute: str) -> pd.Series:
    """One value of ``attribute`` per item (first listed), aligned with ``prepared.items``; NaN if none."""
    table = prepared.attributes[prepared.attributes.attribute == attribute]
    first = table.drop_duplicates("item_id").set_index("item_id").value
    return prepared.items.item_id.map(first).rename(attribute)


def main_attributes(
    prepared: PreparedData, candidates: tuple[str, ...] = ("genre", "platform_family", "franchise", "brand")
) -> list[str]:
    """Which of ``candidates`` the catalog has for at least a tenth of its items (for plots and purity)."""
    present = prepared.attributes.groupby("attribute").item_id.nunique()
    return [a for a in candidates if present.get(a, 0) >= 0.1 * len(prepared.items)]
