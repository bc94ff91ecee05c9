"""From raw reviews to clean, time-ordered user sequences and a leave-last-out split.

Filters, in order, each counted: items without a title; exact duplicate interactions; repeat
purchases of an item a user already has (the first one is kept); each user's most recent
``max_history`` interactions; iterative k-core on users and items until nothing changes.
Split per user: test = last item, valid = second last, train = the rest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sidrec_lib.presets import PrepareConfig
from sidrec_lib.sources import SourceData

SPLITS = ("train", "valid", "test")
MIN_SEQUENCE = 3  # one train, one valid and one test interaction


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


def _counts(stage: str, n_items: int, inter: pd.DataFrame, user: str = "user_id") -> dict:
    return {"stage": stage, "users": inter[user].nunique(), "items": n_items, "interactions": len(inter)}


def _group_sizes(codes: np.ndarray) -> np.ndarray:
    """Each row's group size from ``pd.factorize`` codes; 0 for a missing value (code -1), which a
    groupby leaves out."""
    sizes = np.bincount(codes + 1, minlength=1)
    sizes[0] = 0
    return sizes[codes + 1]


def kcore(
    interactions: pd.DataFrame, k_users: int, k_items: int, user: str = "user_id", item: str = "item_id"
) -> tuple[pd.DataFrame, int]:
    """Drop users with < ``k_users`` and items with < ``k_items`` interactions until none is left.

    Returns the filtered frame (rows in their order, index kept) and the number of passes it took.
    ``user`` and ``item`` name the columns that identify them. Ids are turned into integers once, so
    that a pass is two counts of integers, not two groupbys.
    """
    users = pd.factorize(interactions[user])[0]
    items = pd.factorize(interactions[item])[0]
    rows = np.arange(len(interactions))
    passes = 0
    while True:
        passes += 1
        keep = (_group_sizes(users) >= k_users) & (_group_sizes(items) >= k_items)
        if keep.all():
            return (interactions if len(rows) == len(interactions) else interactions.iloc[rows]), passes
        users, items, rows = users[keep], items[keep], rows[keep]


def prepare(source: SourceData, config: PrepareConfig) -> PreparedData:
    """Filter, order and split ``source`` as described in the module docstring."""
    if config.kcore < 1 or config.max_history < MIN_SEQUENCE:
        raise ValueError(f"Need kcore ≥ 1 and max_history ≥ {MIN_SEQUENCE}; got {config}.")
    items, inter = source.items, source.interactions.reset_index(drop=True)
    # Integer keys for the ids, users numbered in sorted order (sorting by key sorts by id), so that
    # the steps below hash and sort integers, not strings. Missing ids are left as they are: each step
    # treats a missing id its own way.
    user, item = "user_id", "item_id"
    if inter.user_id.notna().all() and inter.item_id.notna().all():
        item_keys, item_ids = pd.factorize(inter.item_id)
        inter = inter.assign(user_key=pd.factorize(inter.user_id, sort=True)[0], item_key=item_keys)
        user, item = "user_key", "item_key"
    counts = [_counts("read", len(items), inter, user)]

    items = items[items.title.str.strip() != ""]
    if item == "item_key":  # which ids have a title, looked up once per id, not once per interaction
        inter = inter[pd.Index(item_ids).isin(items.item_id)[inter.item_key.to_numpy()]]
    else:
        inter = inter[inter.item_id.isin(set(items.item_id))]
    counts.append(_counts("items with a title", len(items), inter, user))

    inter = inter.drop_duplicates([user, item, "timestamp"])
    counts.append(_counts("no exact duplicate interactions", len(items), inter, user))

    # Stable sort: ties in timestamp keep file order.
    inter = inter.sort_values([user, "timestamp"], kind="stable")
    inter = inter.drop_duplicates([user, item], keep="first")
    counts.append(_counts("first purchase of each item per user", len(items), inter, user))

    inter = inter.groupby(user, sort=False).tail(config.max_history)
    counts.append(_counts(f"last {config.max_history} per user", len(items), inter, user))

    inter, passes = kcore(inter, max(config.kcore, MIN_SEQUENCE), config.kcore, user, item)
    items = items[items.item_id.isin(set(inter.item_id))].sort_values("item_id").reset_index(drop=True)
    counts.append(_counts(f"{config.kcore}-core ({passes} passes)", len(items), inter, user))
    if inter.empty:
        advice = (
            "lower prepare.kcore or use more data"
            if config.kcore > 1
            else f"each user needs {MIN_SEQUENCE} interactions (train, valid, test); use more data"
        )
        raise ValueError(f"No interaction survives the {config.kcore}-core filter: {advice}.")

    inter = inter.reset_index(drop=True)
    inter["position"] = inter.groupby(user, sort=False).cumcount()
    length = inter.groupby(user, sort=False).item_id.transform("size")
    from_end = length - inter.position
    inter["split"] = np.select([from_end == 1, from_end == 2], ["test", "valid"], "train")
    keys = inter[user].to_numpy()
    inter = inter[["user_id", "item_id", "timestamp", "rating", "position", "split"]]

    # Rows are sorted by user, then time: each user's rows are one run, in the order of the ids.
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
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
