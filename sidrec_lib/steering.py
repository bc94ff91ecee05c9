"""The steerability benchmark: requests in plain words, scored with numbers.

Requests use only the **held-out** phrasings of ``data/prompts/phrasings.json`` (never trained
on). Three kinds, for each steerable attribute:

- ``catalog``: a request with no history ("Anything good I can play on Nintendo Switch?");
- ``history``: a test user's history plus a request for a random value of the attribute;
- ``oracle``: a test user's history plus a request for a value their true next (test) item has.

Scores: **attribute precision@10** (share of the top 10 that hold the requested value) for every
kind; for ``oracle`` also **NDCG@10** of the true next item, to set against the same users'
unsteered NDCG@10 (personalisation kept, and sharpened, by the request).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sidrec_lib.attributes import value_choices
from sidrec_lib.baselines import ranked_ids
from sidrec_lib.evaluate import HYBRID
from sidrec_lib.metrics import per_user_metrics, target_ranks
from sidrec_lib.prepare import PreparedData

if TYPE_CHECKING:
    from sidrec_lib.evaluate import HybridRecommender

KINDS = ("catalog", "history", "oracle")


def build_requests(
    prepared: PreparedData,
    steerable: pd.DataFrame,
    phrasings: dict,
    per_attribute: int = 100,
    seed: int = 0,
    split: str = "test",
) -> pd.DataFrame:
    """Up to ``per_attribute`` requests of each kind per attribute, from held-out phrasings.

    Users, histories and ``oracle`` targets come from ``split`` ("valid" to tune, "test" to report).
    Columns: kind, attribute, value, user_id (None for ``catalog``), history, target (the split's
    next item for ``oracle``, else None), request (the words asked for, no history).
    """
    rng = np.random.default_rng(seed)
    test = prepared.examples(split).set_index("user_id")
    values_of = steerable.groupby("item_id")[["attribute", "value", "text"]].apply(
        lambda t: list(t.itertuples(index=False))
    )
    choices = value_choices(steerable)  # the values a request names are drawn as in training
    rows = []
    for attribute in steerable.attribute.unique():
        values, value_texts, weights = choices[attribute]
        texts = pd.Series(value_texts, index=values)
        phrasing = phrasings["requests"][attribute]["heldout"]
        ask = _asker(phrasing, texts, rng)
        for value in rng.choice(texts.index, size=per_attribute, p=weights):
            rows.append(("catalog", attribute, value, None, [], None, ask(value)))
        for user in rng.choice(test.index, size=min(per_attribute, len(test)), replace=False):
            value = rng.choice(texts.index, p=weights)
            rows.append(("history", attribute, value, user, test.history[user], None, ask(value)))
        holders = [
            u for u in test.index if any(f.attribute == attribute for f in values_of.get(test.target[u], []))
        ]
        for user in rng.permutation(holders)[:per_attribute]:
            own = [f.value for f in values_of[test.target[user]] if f.attribute == attribute]
            value = own[rng.integers(len(own))]
            rows.append(("oracle", attribute, value, user, test.history[user], test.target[user], ask(value)))
    columns = ["kind", "attribute", "value", "user_id", "history", "target", "request"]
    return pd.DataFrame(rows, columns=columns)


def _asker(phrasing: list[str], texts: pd.Series, rng: np.random.Generator):
    """A function writing a request for a value with a random held-out phrasing."""
    return lambda value: phrasing[rng.integers(len(phrasing))].format(value=texts[value])


def request_prompt(request: pd.Series, history_text: str, phrasings: dict, seed: int) -> str:
    """The user turn: the request alone, or wrapped with the history by a held-out phrasing."""
    if not request.history:
        return request.request
    wrappers = phrasings["with_history"]["heldout"]
    wrapper = wrappers[seed % len(wrappers)]
    return wrapper.format(history=history_text, request=request.request)


def attribute_precision(
    lists: Sequence[Sequence[str]], holders: Sequence[set[str]], k: int = 10
) -> np.ndarray:
    """Share of each list's top ``k`` that holds the requested value (missing entries count as misses)."""
    return np.array(
        [sum(item in held for item in list(items)[:k]) / k for items, held in zip(lists, holders)]
    )


def score(
    requests: pd.DataFrame, lists: Sequence[Sequence[str]], steerable: pd.DataFrame, k: int = 10
) -> pd.DataFrame:
    """Per (attribute, kind): requests, attribute precision@k, its ceiling, share of full lists,
    ``oracle`` NDCG@k.

    The ceiling is the precision@k of a perfect list: below 1 where fewer than ``k`` items outside
    the history hold the value (a franchise of five games).
    """
    holders_of = steerable.groupby(["attribute", "value"]).item_id.apply(set)
    holders = [holders_of[(a, v)] for a, v in zip(requests.attribute, requests.value)]
    frame = requests[["kind", "attribute"]].copy()
    frame["precision"] = attribute_precision(lists, holders, k)
    frame["ceiling"] = [min(k, len(held - set(h))) / k for held, h in zip(holders, requests.history)]
    frame["full_list"] = [len([i for i in items if i is not None]) >= k for items in lists]
    oracle = (requests.kind == "oracle").to_numpy()
    frame["ndcg"] = np.nan
    if oracle.any():
        ranks = target_ranks([lists[i] for i in np.flatnonzero(oracle)], requests.target[oracle].tolist())
        frame.loc[oracle, "ndcg"] = per_user_metrics(ranks, (k,))[f"ndcg@{k}"].to_numpy()
    table = frame.groupby(["attribute", "kind"], sort=False).agg(
        requests=("precision", "size"),
        precision=("precision", "mean"),
        ceiling=("ceiling", "mean"),
        full_lists=("full_list", "mean"),
        ndcg=("ndcg", "mean"),
    )
    return table.rename(
        columns={"precision": f"precision@{k}", "ceiling": f"ceiling@{k}", "ndcg": f"ndcg@{k}"}
    )


def holder_mask(requests: pd.DataFrame, steerable: pd.DataFrame, item_ids: list[str]) -> np.ndarray:
    """(requests, items) bool: which items hold each request's value."""
    holders = steerable.groupby(["attribute", "value"]).item_id.apply(set)
    return np.array(
        [[item in holders[(a, v)] for item in item_ids] for a, v in zip(requests.attribute, requests.value)]
    )


def rerank_within(
    scores: np.ndarray, requests: pd.DataFrame, steerable: pd.DataFrame, item_ids: list[str], k: int = 10
) -> list[list[str]]:
    """A classic recommender steered with metadata: its ranking restricted to items holding the value."""
    return ranked_ids(
        scores, item_ids, k, requests.history.tolist(), holder_mask(requests, steerable, item_ids)
    )


def retrieval(
    query_vectors: np.ndarray,
    item_vectors: np.ndarray,
    requests: pd.DataFrame,
    item_ids: list[str],
    k: int = 10,
) -> list[list[str]]:
    """Items nearest (cosine) to the embedded request text, history items excluded."""
    return ranked_ids(query_vectors @ item_vectors.T, item_ids, k, requests.history.tolist())


def personalisation_kept(
    requests: pd.DataFrame, steered: Sequence[Sequence[str]], unsteered: Sequence[Sequence[str]], k: int = 10
) -> pd.DataFrame:
    """For ``oracle`` requests: NDCG@k of the true next item with and without the request, per attribute.

    ``steered`` holds one list per request; ``unsteered`` one list per request too (the same user's
    plain next-item list).
    """
    oracle = (requests.kind == "oracle").to_numpy()
    targets = requests.target[oracle].tolist()
    pick = np.flatnonzero(oracle)
    with_request = per_user_metrics(target_ranks([steered[i] for i in pick], targets), (k,))[f"ndcg@{k}"]
    without = per_user_metrics(target_ranks([unsteered[i] for i in pick], targets), (k,))[f"ndcg@{k}"]
    table = pd.DataFrame(
        {"unsteered": without.to_numpy(), "steered": with_request.to_numpy()},
        index=requests.attribute[oracle],
    )
    table = table.groupby(level=0, sort=False).mean().add_suffix(f" ndcg@{k}")
    table["ratio"] = table[f"steered ndcg@{k}"] / table[f"unsteered ndcg@{k}"]
    return table


def unsteered_for_oracle(hybrid: HybridRecommender, requests: pd.DataFrame, k: int = 10) -> list[list[str]]:
    """For each ``oracle`` request, the same user's plain next-item list (no request); [] otherwise."""
    oracle = (requests.kind == "oracle").to_numpy()
    lists: list[list[str]] = [[] for _ in range(len(requests))]
    plain = hybrid.recommend_next(requests.history[oracle].tolist(), k=k)
    for i, ranked in zip(np.flatnonzero(oracle), plain):
        lists[i] = ranked
    return lists


def steering_metrics(steering: pd.DataFrame, kept: pd.DataFrame, model: str = HYBRID) -> dict:
    """The steering figures of ``metrics.json``: every (model, attribute, kind) row of ``steering``
    (:func:`score` of each model, side by side), ``model``'s mean precision@10 and ceiling with a
    history, and its oracle NDCG@10 with and without the request (``kept``: :func:`personalisation_kept`,
    averaged over attributes)."""
    with_history = steering.xs("history", level="kind")
    steered, unsteered = kept["steered ndcg@10"].mean(), kept["unsteered ndcg@10"].mean()
    return {
        "steering": {
            f"{name}|{attribute}|{kind}": {k: float(v) for k, v in row.items() if pd.notna(v)}
            for (attribute, kind), values in steering.iterrows()
            for name, row in values.unstack(0).items()
        },
        "steering_history_precision@10": float(with_history[(model, "precision@10")].mean()),
        "steering_history_ceiling@10": float(with_history[(model, "ceiling@10")].mean()),
        "oracle_ndcg10_steered": float(steered),
        "oracle_ndcg10_unsteered": float(unsteered),
        "oracle_ndcg10_ratio": float(steered / unsteered),
    }
