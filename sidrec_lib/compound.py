"""Requests a single metadata filter cannot serve, drawn the same way for training and the benchmark.

Four kinds, each in the words of ``phrasings["compound"]``:

- ``pair``: two values at once ("something in the horror genre and on PC");
- ``negation``: anything but a value the history leans on ("nothing in the racing genre");
- ``like_but``: like an item of the history, with one change: another platform, cheaper, or not
  its series (the answer keeps the item's genre);
- ``refine``: a second turn that narrows what the first asked ("only the ones on PC").

Value pairs (of ``pair`` and ``refine``) are split by a fixed hash into training and held-out
combinations: the task mix never asks for a held-out combination, and the benchmark asks for nothing
else, so that a model is scored on putting together values it has never seen together.
A request is drawn either for any values (``target=None``) or for values a given item has
(``oracle``: the user's true next item), which measures whether the request keeps personalisation.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from sidrec_lib.constraints import Constraint, HolderIndex
from sidrec_lib.phrasings import pick_one

KINDS = ("pair", "negation", "like_but", "refine")
HELDOUT_SHARE = 0.25  # of value pairs, never asked for in training
PRICE_ORDER = ("Budget", "Standard", "Premium")  # price tiers, cheapest first
CHANGES = ("other_platform", "cheaper", "other_series")  # what "like X but ..." changes
DOMINANT_WINDOW = 10  # negation: the value most held among this many recent history items...
DOMINANT_MIN = 2  # ...by at least this many of them


def is_heldout(values: Iterable[tuple[str, str]]) -> bool:
    """Whether a combination of (attribute, value) pairs is held out of training (a fixed hash)."""
    key = "|".join(sorted(f"{attribute}={value}" for attribute, value in values))
    return hashlib.sha256(key.encode("utf-8")).digest()[0] < 256 * HELDOUT_SHARE


@dataclass(frozen=True)
class CompoundRequest:
    """One request: its user turns (words only; the caller adds the history to the first), what the
    final answer must meet, and for ``refine`` what the first turn asked."""

    kind: str
    turns: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    first: tuple[Constraint, ...] = ()
    reference: str | None = None  # ``like_but``: the item it is like
    detail: str = ""  # the values or change asked for, for tables ("genre=Horror + platform=PC")


@dataclass
class CompoundDrawer:
    """Draws compound requests in ``split`` ("train" or "heldout") phrasings and value combinations.

    ``steerable``: the values a request can name and their texts
    (:func:`~sidrec_lib.attributes.steerable_attributes`); ``facts``: every value of every item
    (:func:`~sidrec_lib.attributes.item_facts`), which decides what meets a request.
    """

    steerable: pd.DataFrame
    facts: Mapping[str, Mapping[str, Sequence[str]]]
    titles: Mapping[str, str]
    phrasings: dict
    index: HolderIndex
    split: str = "heldout"
    min_holders: int = 3  # a request must have at least this many items that meet it
    texts: dict[tuple[str, str], str] = field(init=False)
    pairs: list[tuple[tuple[str, str], tuple[str, str]]] = field(init=False)
    pair_weights: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', not {self.split!r}.")
        self.words = self.phrasings["compound"]
        self.texts = {
            (a, v): t for a, v, t in self.steerable[["attribute", "value", "text"]].itertuples(index=False)
        }
        together: Counter = Counter()
        for by_attribute in self.facts.values():
            held = ((a, v) for a, values in by_attribute.items() for v in values)
            named = sorted(key for key in held if key in self.texts)
            together.update((x, y) for x, y in combinations(named, 2) if x[0] != y[0])
        wanted = self.split == "heldout"
        kept = [
            (pair, n) for pair, n in together.items() if n >= self.min_holders and is_heldout(pair) == wanted
        ]
        self.pairs = [pair for pair, _ in kept]
        counts = np.array([n for _, n in kept], dtype=float)
        self.pair_weights = counts / counts.sum() if len(counts) else counts

    def fragment(self, attribute: str, value: str) -> str:
        return self.words["fragments"][attribute].format(value=self.texts[(attribute, value)])

    def _say(self, key: str | tuple[str, str], rng: np.random.Generator, **slots: str) -> str:
        options = self.words[key] if isinstance(key, str) else self.words[key[0]][key[1]]
        return pick_one(rng, options[self.split]).format(**slots)

    def _enough(self, constraints: Sequence[Constraint], history: Sequence[str]) -> bool:
        return len(self.index.meeting(constraints, outside=history)) >= self.min_holders

    def draw(
        self, kind: str, history: Sequence[str], rng: np.random.Generator, target: str | None = None
    ) -> CompoundRequest | None:
        """A ``kind`` request for a user with ``history`` (most recent last), for values ``target`` has
        when given; None when no request of that kind fits."""
        if kind not in KINDS:
            raise ValueError(f"Unknown compound request kind {kind!r}; kinds are {KINDS}.")
        return getattr(self, f"_{kind}")(list(history), rng, target)

    def _value_pair(self, history, rng, target) -> tuple[tuple[str, str], tuple[str, str]] | None:
        if target is None:
            if not self.pairs:
                return None
            first, second = self.pairs[int(rng.choice(len(self.pairs), p=self.pair_weights))]
        else:
            own = sorted((a, v) for a, values in self.facts.get(target, {}).items() for v in values)
            allowed = set(self.pairs)
            options = [p for p in combinations(own, 2) if p in allowed]
            if not options:
                return None
            first, second = options[int(rng.integers(len(options)))]
        constraints = [Constraint(a, (v,)) for a, v in (first, second)]
        if not self._enough(constraints, history):
            return None
        return (first, second) if rng.random() < 0.5 else (second, first)

    def _pair(self, history, rng, target) -> CompoundRequest | None:
        pair = self._value_pair(history, rng, target)
        if pair is None:
            return None
        (a1, v1), (a2, v2) = pair
        text = self._say("pair", rng, first=self.fragment(a1, v1), second=self.fragment(a2, v2))
        constraints = (Constraint(a1, (v1,)), Constraint(a2, (v2,)))
        return CompoundRequest("pair", (text,), constraints, detail=f"{a1}={v1} + {a2}={v2}")

    def _refine(self, history, rng, target) -> CompoundRequest | None:
        pair = self._value_pair(history, rng, target)
        if pair is None:
            return None
        (a1, v1), (a2, v2) = pair
        first = pick_one(rng, self.phrasings["requests"][a1][self.split]).format(value=self.texts[(a1, v1)])
        then = self._say("refine", rng, fragment=self.fragment(a2, v2))
        constraints = (Constraint(a1, (v1,)), Constraint(a2, (v2,)))
        return CompoundRequest(
            "refine", (first, then), constraints, first=constraints[:1], detail=f"{a1}={v1} then {a2}={v2}"
        )

    def _negation(self, history, rng, target) -> CompoundRequest | None:
        recent = history[-DOMINANT_WINDOW:]
        options = []
        for attribute in sorted({a for a, _ in self.texts}):
            skip = set(self.facts.get(target, {}).get(attribute, ())) if target is not None else set()
            counts = Counter(
                v
                for item in recent
                for v in self.facts.get(item, {}).get(attribute, ())
                if (attribute, v) in self.texts and v not in skip
            )
            if counts:
                value, n = counts.most_common(1)[0]
                if n >= DOMINANT_MIN:
                    options.append((attribute, value))
        if not options:
            return None
        attribute, value = options[int(rng.integers(len(options)))]
        constraints = (Constraint(attribute, (value,), include=False),)
        if not self._enough(constraints, history):
            return None
        text = self._say("negation", rng, fragment=self.fragment(attribute, value))
        return CompoundRequest("negation", (text,), constraints, detail=f"not {attribute}={value}")

    def _like_but(self, history, rng, target) -> CompoundRequest | None:
        if not history:
            return None
        reference = history[-1]
        own = self.facts.get(reference, {})
        if not own.get("genre"):
            return None
        like = Constraint("genre", tuple(own["genre"]))
        options = []
        for change in CHANGES:
            for constraint, value in self._changes(change, own):
                request = (like, constraint)
                if target is not None and not all(c.met_by(self.facts.get(target, {})) for c in request):
                    continue
                options.append((change, constraint, value))
        rng.shuffle(options)
        for change, constraint, value in options:
            if self._enough((like, constraint), history):
                title = f'"{self.titles[reference]}"'
                text = self._say(("like_but", change), rng, title=title, value=value)
                return CompoundRequest(
                    "like_but", (text,), (like, constraint), reference=reference, detail=change
                )
        return None

    def _changes(self, change: str, own: Mapping[str, Sequence[str]]) -> list[tuple[Constraint, str]]:
        """The constraints ``change`` can mean for an item with values ``own``, each with the text
        its phrasing names (a platform, a series; empty for "cheaper")."""
        if change == "other_platform":
            return [
                (Constraint("platform", (v,)), t)
                for (a, v), t in self.texts.items()
                if a == "platform" and v not in own.get("platform", ())
            ]
        if change == "cheaper":
            tiers = [PRICE_ORDER.index(t) for t in own.get("price_tier", ()) if t in PRICE_ORDER]
            if not tiers or min(tiers) == 0:
                return []
            return [(Constraint("price_tier", PRICE_ORDER[: min(tiers)]), "")]
        series = [v for v in own.get("franchise", ()) if ("franchise", v) in self.texts]
        return [(Constraint("franchise", (v,), include=False), self.texts[("franchise", v)]) for v in series]
