"""The store as records and files in the Amazon Reviews 2023 layout."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np

from sidrec_lib.builtin.catalog import Catalog, build_catalog
from sidrec_lib.builtin.pages import MAIN_CATEGORY
from sidrec_lib.builtin.reviews import ratings, review_texts, user_ids
from sidrec_lib.builtin.shoppers import Purchases, simulate
from sidrec_lib.builtin.vocab import load_vocab
from sidrec_lib.files import atomic_path
from sidrec_lib.presets import BuiltinConfig

CATEGORY = "Video_Games"
META_FILENAME = f"meta_{CATEGORY}.jsonl.gz"
REVIEWS_FILENAME = f"{CATEGORY}.jsonl.gz"
_SIZE_FIELDS = ("n_items", "n_users", "seed")


def generate_store(config: BuiltinConfig, vocab_dir: Path | None = None) -> tuple[list[dict], list[dict]]:
    """Return (metadata records, review records) in the Amazon Reviews 2023 layout.

    Metadata records are sorted by ``parent_asin``; reviews are grouped by user, each user's in time order.
    Raises a ValueError listing every problem of an invalid ``config``.
    """
    _check_config(config)
    vocab = load_vocab(vocab_dir)
    catalog_rng, shopper_rng, text_rng = (np.random.default_rng([config.seed, k]) for k in (1, 2, 3))
    cat = build_catalog(config, vocab, catalog_rng)
    width = max(5, len(str(len(cat.items))))
    asins = [f"B0G{n + 1:0{width}d}" for n in catalog_rng.permutation(len(cat.items))]

    purchases = simulate(config, cat, shopper_rng)
    quality, stars = ratings(cat, purchases, text_rng)
    reviewers = user_ids(config.n_users, text_rng)
    texts = review_texts(cat, purchases, stars, vocab, text_rng)
    verified = text_rng.random(len(stars)) < config.verified_share
    reviews = [
        {
            "user_id": reviewers[int(u)],
            "parent_asin": asins[int(i)],
            "rating": float(r),
            "timestamp": int(ts),
            "title": title,
            "text": text,
            "verified_purchase": bool(v),
        }
        for u, i, r, ts, (title, text), v in zip(
            purchases.user, purchases.item, stars, purchases.timestamp, texts, verified, strict=True
        )
    ]
    return _meta_records(cat, asins, purchases, quality, stars), reviews


def _check_config(config: BuiltinConfig) -> None:
    if not isinstance(config, BuiltinConfig):
        raise TypeError(f"config must be a BuiltinConfig, got {type(config).__name__}")
    problems = config.problems("builtin")
    if problems:
        raise ValueError("Invalid builtin store config:\n" + "\n".join(f"  - {p}" for p in problems))


def _meta_records(
    cat: Catalog, asins: list[str], purchases: Purchases, quality: np.ndarray, stars: np.ndarray
) -> list[dict]:
    """One record per item, sorted by ``parent_asin``; an item nobody bought is rated near its quality."""
    counts = np.bincount(purchases.item, minlength=len(cat.items))
    sums = np.bincount(purchases.item, weights=stars, minlength=len(cat.items))
    meta = []
    for i, item in enumerate(cat.items):
        average = sums[i] / counts[i] if counts[i] else float(np.clip(quality[i] - 0.3, 1.0, 5.0))
        meta.append(
            {
                "parent_asin": asins[i],
                "title": item.title,
                "description": item.description,
                "features": item.features,
                "store": item.store,
                "main_category": MAIN_CATEGORY,
                "categories": item.categories,
                "details": item.details,
                "average_rating": round(float(average), 1),
                "rating_number": int(counts[i]),
                "price": round(item.price, 2),
            }
        )
    meta.sort(key=lambda rec: rec["parent_asin"])
    return meta


def write_store(config: BuiltinConfig, directory: Path, vocab_dir: Path | None = None) -> Path:
    """Write meta_Video_Games.jsonl.gz and Video_Games.jsonl.gz into ``directory`` (created if missing).

    Each file goes to a temporary name first and is then moved into place, so nothing is half-written.
    Returns ``directory``.
    """
    directory = Path(directory)
    meta, reviews = generate_store(config, vocab_dir)
    directory.mkdir(parents=True, exist_ok=True)
    _write_jsonl_gz(meta, directory / META_FILENAME)
    _write_jsonl_gz(reviews, directory / REVIEWS_FILENAME)
    return directory


def _write_jsonl_gz(records: list[dict], path: Path) -> None:
    """Write gzip-compressed JSON lines to a temporary name, then move it into place."""
    with (
        atomic_path(path) as partial,
        open(partial, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
    ):
        for rec in records:
            gz.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))


def store_folder_name(config: BuiltinConfig) -> str:
    """``builtin-<n_items>items-<n_users>users-seed<seed>``, plus a short hash of the other knobs
    when any of them differs from its default, so that two different stores never share a folder."""
    name = f"builtin-{config.n_items}items-{config.n_users}users-seed{config.seed}"
    changed = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name not in _SIZE_FIELDS and value != f.default:
            changed[f.name] = float(value) if isinstance(f.default, float) else value
    if not changed:
        return name
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode("utf-8")).hexdigest()
    return f"{name}-{digest[:10]}"
