"""Reviews: star ratings, reviewer ids and review texts, drawn from the star rating's snippets."""

from __future__ import annotations

from typing import Any

import numpy as np

from sidrec_lib.builtin.catalog import Catalog
from sidrec_lib.builtin.pages import Item
from sidrec_lib.builtin.shoppers import Purchases
from sidrec_lib.builtin.vocab import STARS, fill

_REVIEWER_ALPHABET = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_HOURS_PLAYED = (5, 10, 20, 30, 40, 60, 100)


def ratings(cat: Catalog, purchases: Purchases, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(item quality, 1-5 stars per purchase), J-shaped like real reviews: mostly 4-5, some angry 1s.

    Better items, and more popular ones, rate higher and disappoint less often.
    """
    log_pop = np.log([it.popularity for it in cat.items])
    z = (log_pop - log_pop.mean()) / (log_pop.std() + 1e-9)
    is_acc = np.array([it.genre < 0 for it in cat.items])
    quality = np.where(is_acc, 4.45, 4.6) + rng.normal(0.0, 0.3, len(cat.items)) + 0.1 * z
    q = quality[purchases.item]
    happy = np.clip(np.rint(q + purchases.user_bias[purchases.user] + rng.normal(0.0, 0.6, len(q))), 1, 5)
    unhappy = rng.choice(np.array([1.0, 2.0, 3.0]), size=len(q), p=[0.55, 0.27, 0.18])
    p_unhappy = np.clip(0.10 + 0.25 * (4.6 - q), 0.02, 0.5)
    return quality, np.where(rng.random(len(q)) < p_unhappy, unhappy, happy)


def user_ids(n: int, rng: np.random.Generator) -> list[str]:
    """Amazon-style reviewer ids: 'A' and 27 upper-case letters or digits, unique."""
    alphabet = np.array(_REVIEWER_ALPHABET)
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        for row in alphabet[rng.integers(0, len(alphabet), size=(n - len(ids), 27))]:
            uid = "A" + "".join(row)
            if uid not in seen:
                seen.add(uid)
                ids.append(uid)
    return ids


def review_texts(
    cat: Catalog, purchases: Purchases, stars: np.ndarray, vocab: dict[str, Any], rng: np.random.Generator
) -> list[tuple[str, str]]:
    """(title, text) of every review, from the star rating's snippets."""
    draws = rng.random((len(stars), 10))
    return [
        _review(cat, cat.items[int(item)], int(rating), bool(after), vocab["reviews"], u)
        for item, rating, after, u in zip(purchases.item, stars, purchases.after_previous, draws, strict=True)
    ]


def _review(
    cat: Catalog, item: Item, rating: int, after_previous: bool, words: dict[str, Any], u: np.ndarray
) -> tuple[str, str]:
    """One review: an opener and a body for its stars, maybe a word on the sequel and a closer.

    ``u`` holds the review's ten uniform draws, one per choice.
    """
    star = STARS[rating - 1]
    kind = words["game"] if item.genre >= 0 else words["accessory"]
    aspects = item.aspects or ("quality",)
    first = int(u[0] * len(aspects))
    second = (first + 1 + int(u[1] * max(1, len(aspects) - 1))) % len(aspects)
    slots = {
        "title": item.short_title,
        "platform": cat.platforms[item.platform].name,
        "aspect": aspects[first],
        "aspect2": aspects[second],
        "prev_title": item.prev_title or "",
        "hours": item.review_slots.get("hours", _HOURS_PLAYED[int(u[2] * len(_HOURS_PLAYED))]),
        **item.review_slots,
    }
    parts = [_choose(kind["openers"][star], u[3]), _choose(kind["bodies"][star], u[4])]
    if item.genre >= 0 and after_previous and u[5] < 0.5:
        parts.append(_choose(words["game"]["sequel_positive" if rating >= 4 else "sequel_negative"], u[6]))
    if u[7] < 0.4:
        mood = "positive" if rating >= 4 else "negative" if rating <= 2 else "neutral"
        parts.append(_choose(words["closers"][mood], u[8]))
    return fill(_choose(kind["titles"][star], u[9]), slots), " ".join(fill(p, slots) for p in parts)


def _choose(seq: list[str], u: float) -> str:
    """The element of ``seq`` that the uniform draw ``u`` falls on."""
    return seq[int(u * len(seq))]
