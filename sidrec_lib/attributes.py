"""Steerable attributes: which attribute values a request can ask for, in the words a request uses,
and which items answer a request for "any value" well for a given history (:class:`SteerPicker`).

On the built-in store these are platform, genre, franchise, price tier and multiplayer; on a real
catalog, brand and title keywords. Stage 1's steer listings, stage 2's ``steer`` turns and the
steerability benchmark all draw values the same way (:func:`value_choices`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from sidrec_lib.constraints import HolderIndex
from sidrec_lib.phrasings import pick_one
from sidrec_lib.prepare import PreparedData, train_popularity
from sidrec_lib.tokens import SidCatalog

BUILTIN_STEERABLE = ("platform", "genre", "franchise", "price_tier", "multiplayer")
FALLBACK_STEERABLE = ("brand", "keyword")
KEYWORD_MIN_LETTERS = 4
KEYWORD_MAX_SHARE = 0.05  # a keyword in more than this share of items says too little to steer by
# English stop words of four letters or more (shorter words are never keywords).
STOP_WORDS = frozenset([
    "about", "above", "after", "again", "against", "almost", "along", "already", "also", "although",
    "always", "among", "another", "anyone", "anything", "around", "because", "been", "before", "behind",
    "being", "below", "beside", "besides", "between", "both", "cannot", "could", "does", "doing", "done",
    "down", "during", "each", "either", "else", "enough", "even", "ever", "every", "everything", "from",
    "further", "have", "having", "hence", "here", "hers", "herself", "himself", "however", "indeed",
    "into", "itself", "just", "last", "least", "less", "many", "more", "moreover", "most", "much", "must",
    "myself", "neither", "never", "next", "none", "nothing", "often", "once", "only", "onto", "other",
    "others", "otherwise", "ours", "ourselves", "over", "perhaps", "please", "rather", "same", "seem",
    "seems", "several", "should", "since", "some", "something", "still", "such", "than", "that", "their",
    "theirs", "them", "themselves", "then", "there", "thereby", "therefore", "these", "they", "this",
    "those", "though", "through", "throughout", "thus", "together", "towards", "under", "unless", "until",
    "upon", "very", "well", "were", "what", "whatever", "when", "whence", "whenever", "where", "whereas",
    "whether", "which", "while", "whom", "whose", "will", "with", "within", "without", "would", "your",
    "yours", "yourself", "yourselves",
])  # fmt: skip


def steerable_names(prepared: PreparedData) -> tuple[str, ...]:
    """The attributes requests can name: the builtin store's if the catalog has all of them, else brand
    plus title keywords."""
    present = set(prepared.attributes.attribute)
    return BUILTIN_STEERABLE if set(BUILTIN_STEERABLE) <= present else FALLBACK_STEERABLE


def title_keywords(items: pd.DataFrame, min_items: int = 3) -> pd.DataFrame:
    """Long table (item_id, attribute="keyword", value) of title keywords.

    A keyword is a lower-case alphabetic word of at least four letters, not a stop word and not a word
    of the item's own brand (``store``; brands are steered by already), found in the titles of at least
    ``min_items`` items and of at most 5% of items.
    """
    pattern = re.compile(rf"\b[a-z]{{{KEYWORD_MIN_LETTERS},}}\b")
    brands = items["store"].fillna("") if "store" in items else pd.Series("", index=items.index)
    rows = []
    for item_id, title, brand in zip(items.item_id, items.title, brands, strict=True):
        skip = STOP_WORDS | set(pattern.findall(str(brand).lower()))
        rows += [
            (item_id, word) for word in dict.fromkeys(pattern.findall(str(title).lower())) if word not in skip
        ]
    table = pd.DataFrame(rows, columns=["item_id", "value"])
    held_by = table.groupby("value").item_id.transform("size")
    table = table[(held_by >= min_items) & (held_by <= KEYWORD_MAX_SHARE * len(items))]
    return table.assign(attribute="keyword")[["item_id", "attribute", "value"]].reset_index(drop=True)


def steerable_attributes(prepared: PreparedData, phrasings: dict, min_items: int = 3) -> pd.DataFrame:
    """Long table (item_id, attribute, value, text) of attribute values a request can ask for.

    The attributes are :func:`steerable_names` that have phrasings under ``phrasings["requests"]``.
    ``text`` is how the value reads in a request: ``values`` renames, ``only_values`` keeps only the
    renamed values, ``lowercase`` lowers the rest. Values held by fewer than ``min_items`` items are dropped.
    """
    tables = []
    for name in steerable_names(prepared):
        spec = phrasings["requests"].get(name)
        if spec is None:
            continue
        if name == "keyword":
            table = title_keywords(prepared.items, min_items)
        else:
            table = prepared.attributes.loc[
                prepared.attributes.attribute == name, ["item_id", "attribute", "value"]
            ]
        table = table.drop_duplicates()
        renames = spec.get("values", {})
        if spec.get("only_values"):
            table = table[table.value.isin(list(renames))]
        plain = table.value.str.lower() if spec.get("lowercase") else table.value
        table = table.assign(text=table.value.map(renames).fillna(plain))
        held_by = table.groupby("value").item_id.transform("nunique")
        tables.append(table[held_by >= min_items].sort_values(["value", "item_id"]))
    if not tables:
        return pd.DataFrame(columns=["item_id", "attribute", "value", "text"])
    return pd.concat(tables, ignore_index=True)


def item_facts(prepared: PreparedData, steerable: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    """item_id → {attribute: values} for the catalog's steerable attributes, in :func:`steerable_names`
    order. Every value counts here (not only those a request can name); keywords come from ``steerable``."""
    names = steerable_names(prepared)
    table = pd.concat(
        [
            prepared.attributes.loc[
                prepared.attributes.attribute.isin(names), ["item_id", "attribute", "value"]
            ],
            steerable.loc[steerable.attribute == "keyword", ["item_id", "attribute", "value"]],
        ]
    ).drop_duplicates()
    table = table.assign(order=table.attribute.map({name: i for i, name in enumerate(names)}))
    facts: dict[str, dict[str, list[str]]] = {}
    for item_id, attribute, value in table.sort_values("order", kind="stable")[
        ["item_id", "attribute", "value"]
    ].itertuples(index=False):
        facts.setdefault(item_id, {}).setdefault(attribute, []).append(value)
    return facts


def value_choices(steerable: pd.DataFrame) -> dict[str, tuple[list[str], list[str], np.ndarray]]:
    """attribute → (values, their request texts, weights ∝ items holding each value): how ``steer``
    turns and the steerability benchmark draw the value a request asks for."""
    choices = {}
    for attribute, table in steerable.groupby("attribute", sort=True):
        held = table.groupby("value", sort=True).item_id.nunique()
        texts = table.drop_duplicates("value").set_index("value").text.reindex(held.index)
        choices[attribute] = (held.index.tolist(), texts.tolist(), (held / held.sum()).to_numpy())
    return choices


class SteerPicker:
    """What a request for "any value" asks, and which items answer it well, for one user's history.

    The value is drawn as the steerability benchmark draws it (attribute uniformly, value by how many
    items hold it). Its good answers are the items holding it, outside the history and the user's
    held-out (valid and test) items, ranked by how many attribute values they share with the last
    three history items (ties: the more popular in train), so that an answer follows the request
    and stays close to the user's taste.
    """

    def __init__(
        self,
        prepared: PreparedData,
        catalog: SidCatalog,
        steerable: pd.DataFrame,
        facts: dict[str, dict[str, list[str]]],
    ):
        self.choices = value_choices(steerable)
        self.attributes = sorted(self.choices)
        self.item_ids = catalog.item_ids
        self.index = HolderIndex(self.item_ids, facts)  # the items holding each value, as catalog rows
        self.row_of = self.index.row_of
        fact_index: dict[tuple[str, str], int] = {}
        pairs = [
            (self.row_of[item], fact_index.setdefault((attribute, value), len(fact_index)))
            for item, by_attribute in facts.items()
            if item in self.row_of
            for attribute, values in by_attribute.items()
            for value in values
        ]
        # Each item's values as sorted ids, all items end to end (a sparse item x value table: an item
        # holds a handful of values, and the catalog's values grow with the catalog).
        held = np.unique(np.array(pairs, dtype=np.int64).reshape(-1, 2), axis=0)
        self.value_ids = held[:, 1]
        self.value_starts = np.concatenate(
            [[0], np.cumsum(np.bincount(held[:, 0], minlength=len(self.item_ids)))]
        )  # item row r holds value_ids[value_starts[r] : value_starts[r + 1]]
        self.n_values = len(fact_index)
        pop = train_popularity(prepared).reindex(self.item_ids).fillna(0).to_numpy(dtype=float)
        self.tie_break = pop / (pop.max() + 1.0)  # < 1: popularity only orders items with equal overlap
        self._excluded = np.zeros(len(self.item_ids), dtype=bool)  # all False between picks

    def _values_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The value ids the items at ``rows`` hold, end to end, and for each the index in ``rows`` of
        the item holding it."""
        starts = self.value_starts[rows]
        lengths = self.value_starts[rows + 1] - starts
        owner = np.repeat(np.arange(len(rows)), lengths)
        offsets = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return self.value_ids[starts[owner] + offsets], owner

    def pick(
        self, history: list[str], held_out: list[str], count: int, rng: np.random.Generator
    ) -> tuple[str, str, str, list[str]] | None:
        """(attribute, value, its request text, the ``count`` best-fitting holders, best first), or None
        when no item outside the history and ``held_out`` holds the value drawn."""
        if not self.attributes:
            return None
        attribute = pick_one(rng, self.attributes)
        values, texts, weights = self.choices[attribute]
        v = int(rng.choice(len(values), p=weights))
        best = self.best_fitting(history, held_out, self.index.rows[(attribute, values[v])], count)
        return (attribute, values[v], texts[v], best) if best else None

    def best_fitting(
        self, history: list[str], held_out: list[str], candidates: np.ndarray, count: int
    ) -> list[str]:
        """The ``count`` items among catalog rows ``candidates`` (sorted, each once) that best fit
        ``history``, best first, leaving out the history and ``held_out``."""
        seen = np.array([self.row_of[item] for item in history], dtype=np.int64)
        hidden = np.array([self.row_of[item] for item in held_out], dtype=np.int64)
        excluded = np.concatenate([seen, hidden])
        self._excluded[excluded] = True
        candidates = candidates[~self._excluded[candidates]]  # as np.setdiff1d, linear in the candidates
        self._excluded[excluded] = False
        if not len(candidates):
            return []
        taste = np.bincount(self._values_of(seen[-3:])[0], minlength=self.n_values)
        held, owner = self._values_of(candidates)
        shared = np.bincount(owner, weights=taste[held], minlength=len(candidates))
        fit = shared + self.tie_break[candidates]
        best = candidates[np.argsort(-fit, kind="stable")[:count]]
        return [self.item_ids[int(row)] for row in best]


def steer_draws(
    users: list[tuple[str, list[str]]],
    held_out: dict[str, list[str]],
    picker: SteerPicker,
    per_user: int,
    pool: int,
    rng: np.random.Generator,
):
    """Per user, ``per_user`` times: (user, the train items before a random position t ≥ 1, what
    :meth:`SteerPicker.pick` draws for them), skipping draws that no item can answer."""
    for user, seq in users:
        if len(seq) < 2:
            continue
        for t in rng.integers(1, len(seq), size=per_user).tolist():
            picked = picker.pick(seq[:t], held_out[user], pool, rng)
            if picked is not None:
                yield user, seq[:t], picked
