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

from sidrec_lib.attributes import item_facts, steerable_attributes, value_choices
from sidrec_lib.baselines import Recommender, ranked_ids
from sidrec_lib.compound import KINDS as COMPOUND_KINDS
from sidrec_lib.compound import CompoundDrawer
from sidrec_lib.constraints import Constraint, HolderIndex
from sidrec_lib.embeddings import encode_texts
from sidrec_lib.evaluate import HYBRID
from sidrec_lib.metrics import per_user_metrics, target_ranks
from sidrec_lib.prepare import PreparedData
from sidrec_lib.request_parser import RequestParser, parse_accuracy, parser_pipeline

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
    next item for ``oracle``, else None), request (the words asked for, no history), and as compound
    requests have them: turns (the request alone), constraints (the value), reference (None).
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
    requests = pd.DataFrame(rows, columns=columns)
    requests["turns"] = [(text,) for text in requests.request]
    requests["constraints"] = [(Constraint(a, (v,)),) for a, v in zip(requests.attribute, requests.value)]
    requests["reference"] = None
    return requests


def _asker(phrasing: list[str], texts: pd.Series, rng: np.random.Generator):
    """A function writing a request for a value with a random held-out phrasing."""
    return lambda value: phrasing[rng.integers(len(phrasing))].format(value=texts[value])


def request_prompt(request: pd.Series, history_text: str, phrasings: dict, seed: int) -> str:
    """The first user turn: the request's first turn alone, or wrapped with the history by a held-out
    phrasing."""
    if not request.history:
        return request.turns[0]
    wrappers = phrasings["with_history"]["heldout"]
    wrapper = wrappers[seed % len(wrappers)]
    return wrapper.format(history=history_text, request=request.turns[0])


def attribute_precision(
    lists: Sequence[Sequence[str]], holders: Sequence[set[str]], k: int = 10
) -> np.ndarray:
    """Share of each list's top ``k`` that holds the requested value (missing entries count as misses)."""
    return np.array(
        [sum(item in held for item in list(items)[:k]) / k for items, held in zip(lists, holders)]
    )


def score(
    requests: pd.DataFrame,
    lists: Sequence[Sequence[str]],
    index: HolderIndex,
    by: Sequence[str] = ("attribute", "kind"),
    k: int = 10,
) -> pd.DataFrame:
    """Per group of ``by``: requests, precision@k (share of the top k that meet every constraint of
    the request), its ceiling, share of full lists, and NDCG@k of the true next item for ``oracle``
    requests (the last of ``by`` says which are).

    The ceiling is the precision@k of a perfect list: below 1 where fewer than ``k`` items outside
    the history meet the request (a franchise of five games).
    """
    answers = [{index.item_ids[r] for r in index.meeting(c)} for c in requests.constraints]
    frame = requests[list(by)].copy()
    frame["precision"] = attribute_precision(lists, answers, k)
    frame["ceiling"] = [min(k, len(held - set(h))) / k for held, h in zip(answers, requests.history)]
    frame["full_list"] = [len([i for i in items if i is not None]) >= k for items in lists]
    oracle = (requests[by[-1]] == "oracle").to_numpy()
    frame["ndcg"] = np.nan
    if oracle.any():
        ranks = target_ranks([lists[i] for i in np.flatnonzero(oracle)], requests.target[oracle].tolist())
        frame.loc[oracle, "ndcg"] = per_user_metrics(ranks, (k,))[f"ndcg@{k}"].to_numpy()
    table = frame.groupby(list(by), sort=False).agg(
        requests=("precision", "size"),
        precision=("precision", "mean"),
        ceiling=("ceiling", "mean"),
        full_lists=("full_list", "mean"),
        ndcg=("ndcg", "mean"),
    )
    return table.rename(
        columns={"precision": f"precision@{k}", "ceiling": f"ceiling@{k}", "ndcg": f"ndcg@{k}"}
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
    requests: pd.DataFrame,
    steered: dict[str, Sequence[Sequence[str]]],
    unsteered: dict[str, Sequence[Sequence[str]]],
    k: int = 10,
) -> pd.DataFrame:
    """For ``oracle`` requests: NDCG@k of the true next item with and without the request, per
    attribute, for each model of ``unsteered`` (name → one list per request: the same user's plain
    next-item list; ``steered``: name → one list per request, with it). Columns: (model, figure)."""
    oracle = (requests.kind == "oracle").to_numpy()
    targets = requests.target[oracle].tolist()
    pick = np.flatnonzero(oracle)

    def ndcg(lists: Sequence[Sequence[str]]) -> np.ndarray:
        return per_user_metrics(target_ranks([lists[i] for i in pick], targets), (k,))[f"ndcg@{k}"].to_numpy()

    tables = {}
    for name, plain in unsteered.items():
        table = pd.DataFrame(
            {"unsteered": ndcg(plain), "steered": ndcg(steered[name])}, index=requests.attribute[oracle]
        )
        table = table.groupby(level=0, sort=False).mean().add_suffix(f" ndcg@{k}")
        table["ratio"] = table[f"steered ndcg@{k}"] / table[f"unsteered ndcg@{k}"]
        tables[name] = table
    return pd.concat(tables, axis=1)


def unsteered_for_oracle(hybrid: HybridRecommender, requests: pd.DataFrame, k: int = 10) -> list[list[str]]:
    """For each ``oracle`` request, the same user's plain next-item list (no request); [] otherwise."""
    oracle = (requests.kind == "oracle").to_numpy()
    lists: list[list[str]] = [[] for _ in range(len(requests))]
    plain = hybrid.recommend_next(requests.history[oracle].tolist(), k=k)
    for i, ranked in zip(np.flatnonzero(oracle), plain):
        lists[i] = ranked
    return lists


def steering_metrics(
    steering: pd.DataFrame, kept: pd.DataFrame, compound: pd.DataFrame | None = None, model: str = HYBRID
) -> dict:
    """The steering figures of ``metrics.json``: every (model, attribute, kind) row of ``steering``
    (:func:`score_models`), ``model``'s mean precision@10 and ceiling with a history, and its oracle
    NDCG@10 with and without the request (``kept``: :func:`personalisation_kept`, averaged over
    attributes); with ``compound``, its (model, kind, variant) rows and :func:`compound_verdicts`."""
    with_history = steering.xs("history", level="kind")
    steered, unsteered = kept[(model, "steered ndcg@10")].mean(), kept[(model, "unsteered ndcg@10")].mean()
    figures = {
        "steering": _rows(steering),
        "steering_history_precision@10": float(with_history[(model, "precision@10")].mean()),
        "steering_history_ceiling@10": float(with_history[(model, "ceiling@10")].mean()),
        "oracle_ndcg10_steered": float(steered),
        "oracle_ndcg10_unsteered": float(unsteered),
        "oracle_ndcg10_ratio": float(steered / unsteered),
    }
    if compound is not None:
        verdicts = compound_verdicts(compound, model)
        figures["compound"] = _rows(compound)
        figures["compound_verdicts"] = {
            kind: {k: (bool(v) if k == "wins" else float(v)) for k, v in row.items()}
            for kind, row in verdicts.iterrows()
        }
    return figures


def _rows(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``model|group|kind`` → figures, from a :func:`score_models` table."""
    return {
        f"{name}|{first}|{second}": {k: float(v) for k, v in row.items() if pd.notna(v)}
        for (first, second), values in table.iterrows()
        for name, row in values.unstack(0).items()
    }


def build_compound_requests(
    prepared: PreparedData,
    steerable: pd.DataFrame,
    phrasings: dict,
    per_kind: int = 100,
    seed: int = 0,
    split: str = "test",
) -> pd.DataFrame:
    """Up to ``per_kind`` compound requests (:mod:`sidrec_lib.compound`) of each kind and variant, in
    held-out phrasings and value combinations, for users of ``split``.

    Variants: ``history`` asks for any values; ``oracle`` for values the user's true next item has.
    Columns: kind, variant, user_id, history, target (``oracle`` only), turns, constraints, first,
    reference, detail.
    """
    facts = item_facts(prepared, steerable)
    titles = dict(zip(prepared.items.item_id, prepared.items.title))
    index = HolderIndex(prepared.items.item_id.tolist(), facts)
    drawer = CompoundDrawer(steerable, facts, titles, phrasings, index, split="heldout")
    examples = prepared.examples(split)
    users, histories, targets = examples.user_id.tolist(), examples.history.tolist(), examples.target.tolist()
    rng = np.random.default_rng(seed)
    rows = []
    for kind in COMPOUND_KINDS:
        for variant in ("history", "oracle"):
            found = 0
            for i in rng.permutation(len(users)).tolist():
                target = targets[i] if variant == "oracle" else None
                request = drawer.draw(kind, histories[i], rng, target=target)
                if request is None:
                    continue
                rows.append(
                    (kind, variant, users[i], histories[i], target, request.turns, request.constraints,
                     request.first, request.reference, request.detail)
                )  # fmt: skip
                found += 1
                if found == per_kind:
                    break
    columns = ["kind", "variant", "user_id", "history", "target", "turns", "constraints", "first",
               "reference", "detail"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns, dtype=object)  # object: None stays None


def conversations(hybrid: HybridRecommender, requests: pd.DataFrame) -> list[list[dict]]:
    """The conversation each request makes (:func:`build_requests` or :func:`build_compound_requests`):
    its first turn (:func:`request_prompt`); for ``refine``, then the hybrid's own first answer (its top
    item) and the second turn."""
    firsts = [
        request_prompt(r, hybrid.history_text(r.history), hybrid.phrasings, seed=i)
        for i, r in enumerate(requests.itertuples())
    ]
    chats = [[{"role": "user", "content": text}] for text in firsts]
    refine = np.flatnonzero((requests.kind == "refine").to_numpy())
    if len(refine):
        seen = requests.history[refine].tolist()
        answers = hybrid.recommend([firsts[i] for i in refine], k=1, exclude=seen)
        for i, answer in zip(refine, answers):
            chats[i] += [
                {"role": "assistant", "content": hybrid.catalog.sid(answer[0][0])},
                {"role": "user", "content": requests.turns[i][1]},
            ]
    return chats


def hybrid_steered(hybrid: HybridRecommender, requests: pd.DataFrame, k: int = 10) -> list[list[str]]:
    """The hybrid's top-``k`` after each request's :func:`conversations`, history excluded."""
    ranked = hybrid.recommend(conversations(hybrid, requests), k=k, exclude=requests.history.tolist())
    return [[item for item, _ in row] for row in ranked]


PIPELINE = "SASRec + parsed request"  # the realistic classic competitor
UPPER_BOUND = "SASRec + true values (upper bound)"  # the same with a parser that never errs
RETRIEVAL = "request retrieval"


class ClassicCompetitors:
    """Steering without an LLM, three ways, for single-value and compound requests alike.

    :data:`PIPELINE`: a :class:`~sidrec_lib.request_parser.RequestParser` turns the request's words
    into attribute filters and ``recommender`` (SASRec) ranks the items that pass them for the
    history (plus the item a "like X" request names); :data:`UPPER_BOUND`: the same ranking filtered
    by the request's true constraints; :data:`RETRIEVAL`: the items nearest to the request text in
    the item embedding space (``item_vectors``, made by ``encoder`` with ``prompt``).
    """

    def __init__(
        self,
        recommender: Recommender,
        parser: RequestParser,
        encoder,
        item_vectors: np.ndarray,
        index: HolderIndex,
        steerable: pd.DataFrame,
        prompt: str | None = None,
    ):
        self.recommender, self.parser, self.encoder = recommender, parser, encoder
        self.item_vectors, self.index, self.steerable, self.prompt = item_vectors, index, steerable, prompt

    @classmethod
    def from_prepared(
        cls,
        prepared: PreparedData,
        recommender: Recommender,
        encoder,
        item_vectors: np.ndarray,
        phrasings: dict,
        prompt: str | None = None,
    ) -> ClassicCompetitors:
        """The competitors for the catalog of ``prepared`` (its items in ``item_vectors`` order)."""
        steerable = steerable_attributes(prepared, phrasings)
        index = HolderIndex(prepared.items.item_id.tolist(), item_facts(prepared, steerable))
        parser = RequestParser.from_prepared(prepared, phrasings, encoder)
        return cls(recommender, parser, encoder, item_vectors, index, steerable, prompt)

    def lists(self, requests: pd.DataFrame, k: int = 10) -> dict[str, list[list[str]]]:
        """Each competitor's top-``k`` for each request (``turns``, ``constraints``, ``reference``,
        ``history`` columns), history excluded."""
        parsed = self.parser.parse_many([list(turns) for turns in requests.turns])
        histories = requests.history.tolist()
        seeds = [h + [p.reference] if p.reference else h for h, p in zip(histories, parsed)]
        truth = [h + [r] if r else h for h, r in zip(histories, requests.reference)]
        words = [" ".join(turns) for turns in requests.turns]
        queries = encode_texts(self.encoder, words, prompt=self.prompt)
        return {
            PIPELINE: parser_pipeline(parsed, self.recommender.scores(seeds), self.index, histories, k),
            UPPER_BOUND: ranked_ids(
                self.recommender.scores(truth),
                self.index.item_ids,
                k,
                histories,
                np.stack([self.index.mask(c) for c in requests.constraints]),
            ),
            RETRIEVAL: retrieval(queries, self.item_vectors, requests, self.index.item_ids, k),
        }

    def parse_accuracy(self, requests: pd.DataFrame) -> pd.DataFrame:
        """How often the parser reads the requests right, per attribute (single-value requests) or
        per kind (compound ones): :func:`~sidrec_lib.request_parser.parse_accuracy`."""
        by = "kind" if "variant" in requests else "attribute"
        parsed = pd.Series(
            self.parser.parse_many([list(turns) for turns in requests.turns]), index=requests.index
        )
        return pd.DataFrame(
            {
                group: parse_accuracy(
                    parsed[rows.index].tolist(), rows.constraints.tolist(), rows.reference.tolist()
                )
                for group, rows in requests.groupby(by, sort=False)
            }
        ).T

    def unsteered(self, requests: pd.DataFrame, k: int = 10) -> list[list[str]]:
        """The recommender's plain top-``k`` for each request's history (no request)."""
        histories = requests.history.tolist()
        return ranked_ids(self.recommender.scores(histories), self.index.item_ids, k, histories)


def score_models(
    requests: pd.DataFrame, lists: dict[str, list[list[str]]], index: HolderIndex, by: Sequence[str]
) -> pd.DataFrame:
    """:func:`score` of every model's lists, side by side (columns: model, figure)."""
    return pd.concat({name: score(requests, ranked, index, by) for name, ranked in lists.items()}, axis=1)


def compound_verdicts(compound: pd.DataFrame, model: str = HYBRID, margin: float = 0.1) -> pd.DataFrame:
    """Per compound kind: ``model``'s and the pipeline's precision@10 (``history`` variant) and oracle
    NDCG@10, and whether ``model`` wins: precision at least ``margin`` above the pipeline's and
    personalisation (oracle NDCG@10) at least the pipeline's."""
    history = compound.xs("history", level="variant")
    oracle = compound.xs("oracle", level="variant")
    table = pd.DataFrame(
        {
            "hybrid precision@10": history[(model, "precision@10")],
            "pipeline precision@10": history[(PIPELINE, "precision@10")],
            "hybrid oracle ndcg@10": oracle[(model, "ndcg@10")],
            "pipeline oracle ndcg@10": oracle[(PIPELINE, "ndcg@10")],
        }
    )
    table["wins"] = (table["hybrid precision@10"] >= table["pipeline precision@10"] + margin) & (
        table["hybrid oracle ndcg@10"] >= table["pipeline oracle ndcg@10"]
    )
    return table


def verdict_text(single: pd.DataFrame, compound: pd.DataFrame, model: str = HYBRID) -> str:
    """Where the hybrid wins and where it does not, a line per request kind, every figure from the tables."""
    history = single.xs("history", level="kind")
    ours, theirs = history[(model, "precision@10")].mean(), history[(PIPELINE, "precision@10")].mean()
    lines = [
        f"single values, with a history: hybrid precision@10 {ours:.3f}, parser pipeline {theirs:.3f} "
        f"({'ahead' if ours > theirs else 'behind'})"
    ]
    for kind, row in compound_verdicts(compound, model).iterrows():
        lines.append(
            f"{kind}: hybrid {row['hybrid precision@10']:.3f} vs pipeline {row['pipeline precision@10']:.3f} "
            f"precision@10; oracle NDCG@10 {row['hybrid oracle ndcg@10']:.3f} vs "
            f"{row['pipeline oracle ndcg@10']:.3f}: the hybrid {'wins' if row['wins'] else 'does not win'}"
        )
    return "\n".join(lines)
