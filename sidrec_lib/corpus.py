"""The stage-1 corpus (notebook 04): plain text that teaches the new SID tokens.

Each item's title and attribute values next to its SID, each user's train items as a line of SIDs,
"attribute value: SIDs of items that have it" listings, and steer listings (a history, a value, the
items holding it that best fit that history). Everything comes from the TRAIN split: a user's last
two items (valid and test) never appear in that user's documents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sidrec_lib.attributes import SteerPicker, item_facts, steer_draws
from sidrec_lib.phrasings import describe_item, format_history
from sidrec_lib.prepare import PreparedData
from sidrec_lib.presets import CorpusConfig
from sidrec_lib.tokens import SidCatalog


def check_catalog(prepared: PreparedData, catalog: SidCatalog) -> None:
    """A clear error when an item of ``prepared`` has no SID in ``catalog`` (SIDs of another run)."""
    known = set(catalog.item_ids)
    missing = [item for item in prepared.items.item_id if item not in known]
    if missing:
        raise ValueError(
            f"{len(missing)} item(s) have no semantic ID (e.g. {missing[0]!r}); "
            "build the SidCatalog from this run's semantic_ids.parquet."
        )


def train_sequences(prepared: PreparedData) -> list[tuple[str, list[str]]]:
    """(user_id, train items in time order), as :meth:`PreparedData.examples` splits them."""
    train = prepared.examples("train")
    return list(zip(train.user_id, train.history, strict=True))


def held_out_items(prepared: PreparedData) -> dict[str, list[str]]:
    """user_id → the user's valid and test items."""
    valid, test = prepared.examples("valid"), prepared.examples("test")
    return {user: [v, t] for user, v, t in zip(valid.user_id, valid.target, test.target, strict=True)}


def stage1_corpus(
    prepared: PreparedData,
    catalog: SidCatalog,
    texts: list[str],
    config: CorpusConfig,
    steerable: pd.DataFrame,
    seed: int = 0,
) -> list[str]:
    """Plain-text documents for stage 1 (teaching the new tokens), shuffled by ``seed``.

    For every item "{item text}\\nID: {sid}" and "{sid} is {title}." (``texts`` in the row order of
    ``prepared.items``), plus ``config.fact_repeats`` copies of its title and attribute values (see
    :func:`item_facts`) followed by "\\nID: {sid}": short documents that tie the words a request uses
    to the item's SID. For every user, ``config.sequence_repeats`` times, the SIDs of their last
    ``config.sequence_length`` TRAIN items as :func:`format_history` writes them. Every token of a
    sequence is a next-item prediction, so these documents teach what follows what far more cheaply
    per example than stage 2's single-answer turns. The same holds for the :func:`value_listings` of
    ``steerable`` (``config.listing_repeats`` rounds), where every SID is an item that has the value
    the document names, and for :func:`steer_listings` (``config.steer_listings_per_user`` per user),
    where every SID also fits the history before it.
    """
    if len(texts) != len(prepared.items):
        raise ValueError(f"Need one text per item: got {len(texts)} texts for {len(prepared.items)} items.")
    check_catalog(prepared, catalog)
    facts = item_facts(prepared, steerable)
    documents = []
    for item, title, text in zip(prepared.items.item_id, prepared.items.title, texts, strict=True):
        sid = catalog.sid(item)
        documents += [f"{text}\nID: {sid}", f"{sid} is {title}."]
        if config.fact_repeats:
            described = describe_item(title, facts.get(item, {}))
            documents += [f"{described}\nID: {sid}"] * config.fact_repeats
    for _, items in train_sequences(prepared):
        if items:
            documents += [format_history(items, catalog, config.sequence_length)] * config.sequence_repeats
    rng = np.random.default_rng(seed)
    if config.listing_repeats:
        documents += value_listings(steerable, catalog, config.listing_repeats, config.listing_size, rng)
    if config.steer_listings_per_user:
        picker = SteerPicker(prepared, catalog, steerable, facts)
        documents += steer_listings(prepared, catalog, picker, config, rng)
    order = rng.permutation(len(documents))
    return [documents[i] for i in order]


def value_listings(
    steerable: pd.DataFrame, catalog: SidCatalog, repeats: int, size: int, rng: np.random.Generator
) -> list[str]:
    """Documents naming an attribute value, then SIDs of items that have it: "Genre: horror. <sid> <sid> …".

    ``steerable`` is :func:`steerable_attributes`' table; a value reads as a request names it (its
    ``text``). Each of the ``repeats`` rounds shuffles every value's items anew and cuts them into
    documents of at most ``size`` SIDs, so each SID is a prediction of "an item with this value".
    """
    if size < 1:
        raise ValueError(f"listing size must be at least 1, not {size}.")
    documents = []
    for (attribute, _), group in steerable.groupby(["attribute", "value"], sort=True):
        head = _value_heading(attribute, group.text.iloc[0])
        items = group.item_id.drop_duplicates().to_numpy()
        for _ in range(repeats):
            shuffled = items[rng.permutation(len(items))]
            for start in range(0, len(shuffled), size):
                documents.append(f"{head} {format_history(shuffled[start : start + size], catalog, size)}")
    return documents


def _value_heading(attribute: str, text: str) -> str:
    """How a listing names the value its SIDs hold: "Price tier: cheap."."""
    return f"{attribute.replace('_', ' ').capitalize()}: {text}."


def steer_listings(
    prepared: PreparedData,
    catalog: SidCatalog,
    picker: SteerPicker,
    config: CorpusConfig,
    rng: np.random.Generator,
) -> list[str]:
    """Per user, ``config.steer_listings_per_user`` documents "{history} Genre: horror. <sid> <sid> …".

    The history is the user's train items before a random position t ≥ 1 (as stage-2 prompts show
    it); the value is drawn as ``steer`` turns draw it; the SIDs are the ``config.steer_pool`` items
    holding it that best fit that history (:class:`SteerPicker`), shuffled. Each SID is thus one more
    example of what a steered top-10 list should hold, at the price of one SID, not one conversation.
    """
    users, held_out = train_sequences(prepared), held_out_items(prepared)
    documents = []
    for _, seen, (attribute, _, text, best) in steer_draws(
        users, held_out, picker, config.steer_listings_per_user, config.steer_pool, rng
    ):
        head = _value_heading(attribute, text)
        listed = [best[i] for i in rng.permutation(len(best))]
        history = format_history(seen, catalog, config.prompt_history)
        documents.append(f"{history} {head} {format_history(listed, catalog, len(listed))}")
    return documents
