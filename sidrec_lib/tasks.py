"""The stage-2 task mix (notebook 05): conversational training examples.

Stage 2 is conversational. Every example is one user turn and one assistant turn (two of each for
a refining request); the assistant answers every recommendation with exactly one SID (ranked lists
come from beam search later):

- ``next_item``: a user's history → the next item;
- ``sid_to_title`` / ``title_to_sid``: an item's SID ↔ its title (and attributes);
- ``request``: a request in plain words for an attribute value ("a horror game"), with or without
  history; with history, the value is one the user's next item has and the target is that item;
- ``steer``: a history and a request for any value; the target is the item holding it that shares the
  most attribute values with the user's recent items, so that the request, not the history alone,
  decides what comes back;
- ``explain``: why an item fits a history, both shown with their titles and attribute values,
  answered from the values they share;
- ``compound``: a history and a request a single metadata filter cannot serve (two values at once,
  negation, "like X but", a second turn that narrows the first; :mod:`sidrec_lib.compound`), in
  training value combinations only; the target is the user's next item when the request was drawn
  for its values, else one of the ``steer_pool`` items meeting the request that best fit the history.

Everything comes from the TRAIN split: a user's last two items (valid and test) never appear in that
user's examples, and popularity counts only train interactions. Prompts use only the ``train``
phrasings of ``data/prompts/phrasings.json``; the ``heldout`` ones are kept for evaluation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sidrec_lib.attributes import SteerPicker, item_facts, steer_draws, steerable_attributes
from sidrec_lib.compound import KINDS as COMPOUND_KINDS
from sidrec_lib.compound import CompoundDrawer
from sidrec_lib.corpus import check_catalog, held_out_items, train_sequences
from sidrec_lib.phrasings import (
    EXPLAINED_HISTORY,
    describe_item,
    explain_answer,
    explain_question,
    format_history,
    pick_one,
)
from sidrec_lib.prepare import PreparedData, train_popularity
from sidrec_lib.presets import TaskConfig
from sidrec_lib.tokens import SidCatalog

TASKS = ("next_item", "sid_to_title", "title_to_sid", "request", "steer", "explain", "compound")
COLUMNS = ["task", "user_id", "attribute", "value", "target_item", "messages"]
OPTIONAL_COLUMNS = ("user_id", "attribute", "value")  # object dtype, so that "none" stays None (not NaN)


def _row(
    task: str,
    user: str | None,
    attribute: str | None,
    value: str | None,
    target: str,
    prompt: str,
    answer: str,
    earlier: list[dict] | None = None,
) -> dict:
    messages = [
        *(earlier or []),
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": answer},
    ]
    return {
        "task": task,
        "user_id": user,
        "attribute": attribute,
        "value": value,
        "target_item": target,
        "messages": messages,
    }


def _next_item_examples(users, catalog, phrasings, config, rng) -> list[dict]:
    """Up to ``next_item_per_user`` train positions t ≥ 1 per user (the last always), target s[t]."""
    options = phrasings["next_item"]["train"]
    rows = []
    for user, seq in users:
        if len(seq) < 2:
            continue
        earlier = range(1, len(seq) - 1)
        take = max(0, min(config.next_item_per_user - 1, len(earlier)))
        positions = [*rng.choice(earlier, size=take, replace=False).tolist(), len(seq) - 1]
        for t in sorted(positions):
            prompt = pick_one(rng, options).format(
                history=format_history(seq[:t], catalog, config.prompt_history)
            )
            rows.append(_row("next_item", user, None, None, seq[t], prompt, catalog.sid(seq[t])))
    return rows


def _id_examples(prepared, catalog, facts, phrasings, config, rng) -> list[dict]:
    """``id_tasks_per_item`` examples per item each way: SID → description, title → SID.

    Titles that several items share are left out of title → SID (they have no single answer).
    """
    to_title, to_sid = phrasings["sid_to_title"]["train"], phrasings["title_to_sid"]["train"]
    shared_title = prepared.items.title.duplicated(keep=False).to_numpy()
    rows = []
    for item, title, ambiguous in zip(
        prepared.items.item_id, prepared.items.title, shared_title, strict=True
    ):
        sid, description = catalog.sid(item), describe_item(title, facts.get(item, {}))
        for _ in range(config.id_tasks_per_item):
            ask = pick_one(rng, to_title).format(sid=sid)
            rows.append(_row("sid_to_title", None, None, None, item, ask, description))
            if not ambiguous:
                ask = pick_one(rng, to_sid).format(title=title)
                rows.append(_row("title_to_sid", None, None, None, item, ask, sid))
    return rows


def _request_text(rng, phrasings, attribute: str, text: str) -> str:
    return pick_one(rng, phrasings["requests"][attribute]["train"]).format(value=text)


def _requests_with_history(users, catalog, steerable, phrasings, config, rng) -> list[dict]:
    """Per user, up to ``requests_per_user`` train positions t ≥ 1 whose item s[t] has a steerable value:
    the request names one of its values (attribute first, uniformly), history s[:t], target s[t]."""
    values_of: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for item, attribute, value, text in steerable[["item_id", "attribute", "value", "text"]].itertuples(
        index=False
    ):
        values_of.setdefault(item, {}).setdefault(attribute, []).append((value, text))
    wrappers = phrasings["with_history"]["train"]
    rows = []
    for user, seq in users:
        eligible = [t for t in range(1, len(seq)) if seq[t] in values_of]
        take = min(config.requests_per_user, len(eligible))
        for t in sorted(rng.choice(eligible, size=take, replace=False).tolist()) if take else []:
            held = values_of[seq[t]]
            attribute = pick_one(rng, sorted(held))
            value, text = held[attribute][int(rng.integers(len(held[attribute])))]
            history = format_history(seq[:t], catalog, config.prompt_history)
            request = _request_text(rng, phrasings, attribute, text)
            prompt = pick_one(rng, wrappers).format(history=history, request=request)
            rows.append(_row("request", user, attribute, value, seq[t], prompt, catalog.sid(seq[t])))
    return rows


def _steer_requests(users, held_out, picker, catalog, phrasings, config, rng) -> list[dict]:
    """Per user, ``steer_requests_per_user`` requests for a value drawn by :class:`SteerPicker`, at a
    random train position t ≥ 1. The target is drawn uniformly from the ``steer_pool`` holders that
    best fit the history s[:t]. A pool of 1 always answers the best fit; a pool of 10 teaches that
    the ten best-fitting holders are all good answers, which is what a steered top-10 list should hold.
    """
    wrappers = phrasings["with_history"]["train"]
    rows = []
    for user, seen, (attribute, value, text, best) in steer_draws(
        users, held_out, picker, config.steer_requests_per_user, config.steer_pool, rng
    ):
        target = best[int(rng.integers(len(best)))]
        history = format_history(seen, catalog, config.prompt_history)
        request = _request_text(rng, phrasings, attribute, text)
        prompt = pick_one(rng, wrappers).format(history=history, request=request)
        rows.append(_row("steer", user, attribute, value, target, prompt, catalog.sid(target)))
    return rows


def _compound_requests(users, held_out, drawer, picker, catalog, phrasings, config, rng) -> list[dict]:
    """Per user, ``compound_per_user`` compound requests (kind uniformly) at random train positions t ≥ 1;
    half drawn for the values of s[t] (the target), half for any values (the target: one of the
    ``steer_pool`` items meeting the request that best fit s[:t]). A refining request's first answer is
    the best-fitting item meeting its first turn."""
    wrappers = phrasings["with_history"]["train"]
    rows = []
    for user, seq in users:
        if len(seq) < 2:
            continue
        for t in rng.integers(1, len(seq), size=config.compound_per_user).tolist():
            oracle = bool(rng.random() < 0.5)
            request = drawer.draw(
                pick_one(rng, COMPOUND_KINDS), seq[:t], rng, target=seq[t] if oracle else None
            )
            if request is None:
                continue
            pool = (
                [seq[t]]
                if oracle
                else _fitting(request.constraints, seq[:t], held_out[user], drawer, picker, config)
            )
            if not pool:
                continue
            target = pool[int(rng.integers(len(pool)))]
            history = format_history(seq[:t], catalog, config.prompt_history)
            prompt = pick_one(rng, wrappers).format(history=history, request=request.turns[0])
            earlier = None
            if request.first:  # a refining request: the first turn, its answer, then the second turn
                first = (
                    _fitting(request.first, seq[:t], held_out[user], drawer, picker, config) or [target]
                )[0]
                earlier = [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": catalog.sid(first)},
                ]
                prompt = request.turns[1]
            answer = catalog.sid(target)
            rows.append(_row("compound", user, request.kind, request.detail, target, prompt, answer, earlier))
    return rows


def _fitting(constraints, history, held_out, drawer, picker, config) -> list[str]:
    """The ``steer_pool`` items meeting ``constraints`` that best fit ``history``."""
    return picker.best_fitting(history, held_out, drawer.index.meeting(constraints), config.steer_pool)


def _requests_without_history(catalog, steerable, popularity, phrasings, config, rng) -> list[dict]:
    """``requests_without_history`` requests with no history: attribute uniformly, value weighted by its
    items' train interactions, target an item holding the value, drawn by train popularity."""
    table = steerable.assign(pop=steerable.item_id.map(popularity).fillna(0).to_numpy(dtype=float))
    choices = {}  # attribute → [(value, text, items, item weights)], value weights
    for attribute, by_attribute in table.groupby("attribute", sort=True):
        per_value = [
            (value, group.text.iloc[0], group.item_id.to_numpy(), group["pop"].to_numpy())
            for value, group in by_attribute.groupby("value", sort=True)
            if group["pop"].sum() > 0
        ]
        if per_value:
            weights = np.array([pop.sum() for *_, pop in per_value])
            choices[attribute] = (per_value, weights / weights.sum())
    attributes = sorted(choices)
    rows = []
    for _ in range(config.requests_without_history if attributes else 0):
        attribute = pick_one(rng, attributes)
        per_value, value_weights = choices[attribute]
        value, text, items, pop = per_value[int(rng.choice(len(per_value), p=value_weights))]
        target = str(items[rng.choice(len(items), p=pop / pop.sum())])
        prompt = _request_text(rng, phrasings, attribute, text)
        rows.append(_row("request", None, attribute, value, target, prompt, catalog.sid(target)))
    return rows


def _explain_examples(users, facts, titles, phrasings, config, rng) -> list[dict]:
    """``explanations`` (user, train position t ≥ 1) pairs drawn uniformly: why s[t] fits s[:t]."""
    lengths = np.array([max(len(seq) - 1, 0) for _, seq in users])
    total = int(lengths.sum())
    picks = np.sort(rng.choice(total, size=min(config.explanations, total), replace=False)) if total else []
    starts = np.cumsum(lengths) - lengths
    options, templates = phrasings["explain"]["train"], phrasings["explanations"]
    rows = []
    for pick in picks:
        u = int(np.searchsorted(starts, pick, side="right") - 1)
        user, seq = users[u]
        t = int(pick - starts[u]) + 1
        shown = seq[:t][-EXPLAINED_HISTORY:]
        prompt = explain_question(pick_one(rng, options), seq[t], shown, facts, titles)
        answer = explain_answer(seq[t], shown, facts, titles, templates)
        rows.append(_row("explain", user, None, None, seq[t], prompt, answer))
    return rows


def task_mix(
    prepared: PreparedData, catalog: SidCatalog, phrasings: dict, config: TaskConfig
) -> pd.DataFrame:
    """Stage-2 conversational examples from the TRAIN split only, shuffled, deterministic by ``config.seed``.

    Columns: task, user_id (None for catalog tasks and requests without history), attribute and value
    (for requests, else None), target_item, messages (one user turn and one assistant turn, as
    ``{"role", "content"}`` dicts). Each task draws from its own random stream, so changing one task's
    count leaves the others' examples as they were.
    """
    check_catalog(prepared, catalog)
    users = train_sequences(prepared)
    held_out = held_out_items(prepared)
    steerable = steerable_attributes(prepared, phrasings)
    facts = item_facts(prepared, steerable)
    titles = dict(zip(prepared.items.item_id, prepared.items.title, strict=True))
    popularity = train_popularity(prepared)
    picker = SteerPicker(prepared, catalog, steerable, facts)
    drawer = CompoundDrawer(steerable, facts, titles, phrasings, picker.index, split="train")
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(8)]
    rows = [
        *_next_item_examples(users, catalog, phrasings, config, rngs[0]),
        *_id_examples(prepared, catalog, facts, phrasings, config, rngs[1]),
        *_requests_with_history(users, catalog, steerable, phrasings, config, rngs[2]),
        *_requests_without_history(catalog, steerable, popularity, phrasings, config, rngs[3]),
        *_explain_examples(users, facts, titles, phrasings, config, rngs[4]),
        *_steer_requests(users, held_out, picker, catalog, phrasings, config, rngs[6]),
        *_compound_requests(users, held_out, drawer, picker, catalog, phrasings, config, rngs[7]),
    ]
    frame = pd.DataFrame(
        {
            c: pd.Series([row[c] for row in rows], dtype=object if c in OPTIONAL_COLUMNS else None)
            for c in COLUMNS
        }
    )
    return frame.iloc[rngs[5].permutation(len(frame))].reset_index(drop=True)
