"""Training data for the two training stages: a stage-1 corpus and the stage-2 task mix.

Stage 1 (notebook 04) teaches the new SID tokens with plain text: each item's text next to its SID,
"<SID> is <title>." sentences, and each user's train items as a line of SIDs.

Stage 2 (notebook 05) is conversational. Every example is one user turn and one assistant turn; the
assistant answers every recommendation with exactly one SID (ranked lists come from beam search later):

- ``next_item``: a user's history → the next item;
- ``sid_to_title`` / ``title_to_sid``: an item's SID ↔ its title (and attributes);
- ``request``: a request in plain words for an attribute value ("a horror game"), with or without
  history; with history, the value is one the user's next item has and the target is that item;
- ``steer``: a history and a request for any value; the target is the item holding it that shares the
  most attribute values with the user's recent items, so that the request, not the history alone,
  decides what comes back;
- ``explain``: why an item fits a history, answered from the attribute values they share.

Everything comes from the TRAIN split: a user's last two items (valid and test) never appear in that
user's examples, and popularity counts only train interactions. Prompts use only the ``train``
phrasings of ``data/prompts/phrasings.json``; the ``heldout`` ones are kept for evaluation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from sidrec_lib.prepare import PreparedData, row_index, train_popularity
from sidrec_lib.presets import TaskConfig
from sidrec_lib.tokens import SidCatalog

__all__ = [
    "BUILTIN_STEERABLE",
    "PHRASINGS_PATH",
    "SteerPicker",
    "TASKS",
    "TaskConfig",
    "describe_item",
    "explain_answer",
    "format_history",
    "item_facts",
    "load_phrasings",
    "stage1_corpus",
    "steerable_attributes",
    "steer_listings",
    "steerable_names",
    "task_mix",
    "title_keywords",
    "value_choices",
    "value_listings",
]

PHRASINGS_PATH = Path(__file__).resolve().parents[1] / "data" / "prompts" / "phrasings.json"
REQUIRED_PHRASINGS = (
    "next_item", "sid_to_title", "title_to_sid", "explain", "with_history", "requests", "explanations",
)  # fmt: skip
TASKS = ("next_item", "sid_to_title", "title_to_sid", "request", "steer", "explain")
COLUMNS = ["task", "user_id", "attribute", "value", "target_item", "messages"]
OPTIONAL_COLUMNS = ("user_id", "attribute", "value")  # object dtype, so that "none" stays None (not NaN)

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


# ---------------------------------------------------------------------------------------------------
# Phrasings and steerable attributes


def load_phrasings(path: str | Path | None = None) -> dict:
    """The phrasings JSON (default :data:`PHRASINGS_PATH`); a clear error if it is missing or invalid."""
    path = Path(path) if path is not None else PHRASINGS_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Phrasings file {path} not found (the repository ships one there)."
        ) from None
    try:
        phrasings = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"Phrasings file {path} is not valid JSON: {e}") from e
    if not isinstance(phrasings, dict):
        raise ValueError(f"Phrasings file {path} must hold a JSON object, not {type(phrasings).__name__}.")
    missing = [key for key in REQUIRED_PHRASINGS if key not in phrasings]
    if missing:
        raise ValueError(f"Phrasings file {path} lacks the key(s) {', '.join(missing)}.")
    return phrasings


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


# ---------------------------------------------------------------------------------------------------
# Text pieces


def format_history(item_ids: list[str], catalog: SidCatalog, max_history: int) -> str:
    """The most recent ``max_history`` items' SIDs, oldest first, separated by spaces (the SID
    markers already delimit items; one token between them keeps prompts short)."""
    if max_history < 1:
        raise ValueError(f"max_history must be at least 1, not {max_history}.")
    return " ".join(catalog.sid(item) for item in list(item_ids)[-max_history:])


def describe_item(title: str, facts: dict[str, list[str]]) -> str:
    """Title plus attribute values (not keywords): "Feral Infection 2 - PC. Platform: PC; Genre: Horror."."""
    head = title if title.endswith((".", "!", "?")) else f"{title}."
    parts = [
        f"{attribute.replace('_', ' ').capitalize()}: {', '.join(values)}"
        for attribute, values in facts.items()
        if attribute != "keyword"
    ]
    return f"{head} {'; '.join(parts)}." if parts else head


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _quoted(titles: list[str]) -> str:
    quoted = [f'"{title}"' for title in titles]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def explain_answer(
    target: str,
    history: list[str],
    facts: dict[str, dict[str, list[str]]],
    titles: dict[str, str],
    templates: dict,
) -> str:
    """Why ``target`` fits ``history``: a sentence naming the attribute values they share.

    ``templates`` is ``phrasings["explanations"]`` (clauses per attribute, how to join them, a fallback).
    """
    target_facts = facts.get(target, {})
    clauses = []
    for attribute, template in templates["clauses"].items():
        for value in target_facts.get(attribute, []):
            clause = template.get(value) if isinstance(template, dict) else template
            sharing = [item for item in reversed(history) if value in facts.get(item, {}).get(attribute, ())]
            if clause and sharing:
                names = [titles[item] for item in sharing[:2]]
                clauses.append(clause.format(value=value, a=_article(value), titles=_quoted(names)))
                break
        if len(clauses) >= templates.get("max_clauses", 2):
            break
    if not clauses:
        return templates["fallback"].format(title=titles[history[-1]])
    sentence = templates["join"].join(clauses)
    return f"{sentence[0].upper()}{sentence[1:]}."


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _check_catalog(prepared: PreparedData, catalog: SidCatalog) -> None:
    known = set(catalog.item_ids)
    missing = [item for item in prepared.items.item_id if item not in known]
    if missing:
        raise ValueError(
            f"{len(missing)} item(s) have no semantic ID (e.g. {missing[0]!r}); "
            "build the SidCatalog from this run's semantic_ids.parquet."
        )


def _train_sequences(prepared: PreparedData) -> list[tuple[str, list[str]]]:
    """(user_id, train items in time order), as :meth:`PreparedData.examples` splits them."""
    train = prepared.examples("train")
    return list(zip(train.user_id, train.history, strict=True))


def _held_out(prepared: PreparedData) -> dict[str, list[str]]:
    """user_id → the user's valid and test items."""
    valid, test = prepared.examples("valid"), prepared.examples("test")
    return {user: [v, t] for user, v, t in zip(valid.user_id, valid.target, test.target, strict=True)}


# ---------------------------------------------------------------------------------------------------
# Stage 1


def stage1_corpus(
    prepared: PreparedData,
    catalog: SidCatalog,
    texts: list[str],
    config: TaskConfig,
    steerable: pd.DataFrame,
    seed: int = 0,
) -> list[str]:
    """Plain-text documents for stage 1 (teaching the new tokens), shuffled by ``seed``.

    For every item "{item text}\\nID: {sid}" and "{sid} is {title}." (``texts`` in the row order of
    ``prepared.items``), plus ``config.fact_repeats`` copies of its title and attribute values (see
    :func:`item_facts`) followed by "\\nID: {sid}": short documents that tie the words a request uses
    to the item's SID. For every user, ``config.sequence_repeats`` times, the SIDs of their last
    ``config.sequence_history`` TRAIN items as :func:`format_history` writes them. Every token of a
    sequence is a next-item prediction, so these documents teach what follows what far more cheaply
    per example than stage 2's single-answer turns. The same holds for the :func:`value_listings` of
    ``steerable`` (``config.listing_repeats`` rounds), where every SID is an item that has the value
    the document names, and for :func:`steer_listings` (``config.steer_listings_per_user`` per user),
    where every SID also fits the history before it.
    """
    if len(texts) != len(prepared.items):
        raise ValueError(f"Need one text per item: got {len(texts)} texts for {len(prepared.items)} items.")
    _check_catalog(prepared, catalog)
    facts = item_facts(prepared, steerable)
    documents = []
    for item, title, text in zip(prepared.items.item_id, prepared.items.title, texts, strict=True):
        sid = catalog.sid(item)
        documents += [f"{text}\nID: {sid}", f"{sid} is {title}."]
        if config.fact_repeats:
            described = describe_item(title, facts.get(item, {}))
            documents += [f"{described}\nID: {sid}"] * config.fact_repeats
    for _, items in _train_sequences(prepared):
        if items:
            documents += [format_history(items, catalog, config.sequence_history)] * config.sequence_repeats
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
    config: TaskConfig,
    rng: np.random.Generator,
) -> list[str]:
    """Per user, ``config.steer_listings_per_user`` documents "{history} Genre: horror. <sid> <sid> …".

    The history is the user's train items before a random position t ≥ 1 (as stage-2 prompts show
    it); the value is drawn as ``steer`` turns draw it; the SIDs are the ``config.steer_pool`` items
    holding it that best fit that history (:class:`SteerPicker`), shuffled. Each SID is thus one more
    example of what a steered top-10 list should hold, at the price of one SID, not one conversation.
    """
    users, held_out = _train_sequences(prepared), _held_out(prepared)
    documents = []
    for _, seen, (attribute, _, text, best) in _steer_draws(
        users, held_out, picker, config.steer_listings_per_user, config.steer_pool, rng
    ):
        head = _value_heading(attribute, text)
        listed = [best[i] for i in rng.permutation(len(best))]
        history = format_history(seen, catalog, config.max_history)
        documents.append(f"{history} {head} {format_history(listed, catalog, len(listed))}")
    return documents


# ---------------------------------------------------------------------------------------------------
# Stage 2


def _row(
    task: str,
    user: str | None,
    attribute: str | None,
    value: str | None,
    target: str,
    prompt: str,
    answer: str,
) -> dict:
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
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
            prompt = _pick(rng, options).format(history=format_history(seq[:t], catalog, config.max_history))
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
            ask = _pick(rng, to_title).format(sid=sid)
            rows.append(_row("sid_to_title", None, None, None, item, ask, description))
            if not ambiguous:
                ask = _pick(rng, to_sid).format(title=title)
                rows.append(_row("title_to_sid", None, None, None, item, ask, sid))
    return rows


def _request_text(rng, phrasings, attribute: str, text: str) -> str:
    return _pick(rng, phrasings["requests"][attribute]["train"]).format(value=text)


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
            attribute = _pick(rng, sorted(held))
            value, text = held[attribute][int(rng.integers(len(held[attribute])))]
            history = format_history(seq[:t], catalog, config.max_history)
            request = _request_text(rng, phrasings, attribute, text)
            prompt = _pick(rng, wrappers).format(history=history, request=request)
            rows.append(_row("request", user, attribute, value, seq[t], prompt, catalog.sid(seq[t])))
    return rows


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
        self.row_of = row_index(self.item_ids)
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
        self.holders = {  # sorted rows, each once
            key: np.unique(np.array([self.row_of[item] for item in group.item_id], dtype=np.int64))
            for key, group in steerable.groupby(["attribute", "value"])
        }
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
        attribute = _pick(rng, self.attributes)
        values, texts, weights = self.choices[attribute]
        v = int(rng.choice(len(values), p=weights))
        seen = np.array([self.row_of[item] for item in history], dtype=np.int64)
        hidden = np.array([self.row_of[item] for item in held_out], dtype=np.int64)
        holders, excluded = self.holders[(attribute, values[v])], np.concatenate([seen, hidden])
        self._excluded[excluded] = True
        candidates = holders[~self._excluded[holders]]  # as np.setdiff1d, in time linear in the holders
        self._excluded[excluded] = False
        if not len(candidates):
            return None
        taste = np.bincount(self._values_of(seen[-3:])[0], minlength=self.n_values)
        held, owner = self._values_of(candidates)
        shared = np.bincount(owner, weights=taste[held], minlength=len(candidates))
        fit = shared + self.tie_break[candidates]
        best = candidates[np.argsort(-fit, kind="stable")[:count]]
        return attribute, values[v], texts[v], [self.item_ids[int(row)] for row in best]


def _steer_requests(users, held_out, picker, catalog, phrasings, config, rng) -> list[dict]:
    """Per user, ``steer_requests_per_user`` requests for a value drawn by :class:`SteerPicker`, at a
    random train position t ≥ 1. The target is drawn uniformly from the ``steer_pool`` holders that
    best fit the history s[:t]. A pool of 1 always answers the best fit; a pool of 10 teaches that
    the ten best-fitting holders are all good answers, which is what a steered top-10 list should hold.
    """
    wrappers = phrasings["with_history"]["train"]
    rows = []
    for user, seen, (attribute, value, text, best) in _steer_draws(
        users, held_out, picker, config.steer_requests_per_user, config.steer_pool, rng
    ):
        target = best[int(rng.integers(len(best)))]
        history = format_history(seen, catalog, config.max_history)
        request = _request_text(rng, phrasings, attribute, text)
        prompt = _pick(rng, wrappers).format(history=history, request=request)
        rows.append(_row("steer", user, attribute, value, target, prompt, catalog.sid(target)))
    return rows


def _steer_draws(users, held_out, picker: SteerPicker, per_user: int, pool: int, rng: np.random.Generator):
    """Per user, ``per_user`` times: (user, the train items before a random position t ≥ 1, what
    :meth:`SteerPicker.pick` draws for them), skipping draws that no item can answer."""
    for user, seq in users:
        if len(seq) < 2:
            continue
        for t in rng.integers(1, len(seq), size=per_user).tolist():
            picked = picker.pick(seq[:t], held_out[user], pool, rng)
            if picked is not None:
                yield user, seq[:t], picked


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
        attribute = _pick(rng, attributes)
        per_value, value_weights = choices[attribute]
        value, text, items, pop = per_value[int(rng.choice(len(per_value), p=value_weights))]
        target = str(items[rng.choice(len(items), p=pop / pop.sum())])
        prompt = _request_text(rng, phrasings, attribute, text)
        rows.append(_row("request", None, attribute, value, target, prompt, catalog.sid(target)))
    return rows


def _explain_examples(users, catalog, facts, titles, phrasings, config, rng) -> list[dict]:
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
        shown = seq[:t][-config.max_history :]
        sid = catalog.sid(seq[t])
        prompt = _pick(rng, options).format(
            sid=sid, history=format_history(shown, catalog, config.max_history)
        )
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
    _check_catalog(prepared, catalog)
    users = _train_sequences(prepared)
    held_out = _held_out(prepared)
    steerable = steerable_attributes(prepared, phrasings)
    facts = item_facts(prepared, steerable)
    titles = dict(zip(prepared.items.item_id, prepared.items.title, strict=True))
    popularity = train_popularity(prepared)
    picker = SteerPicker(prepared, catalog, steerable, facts)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(7)]
    rows = [
        *_next_item_examples(users, catalog, phrasings, config, rngs[0]),
        *_id_examples(prepared, catalog, facts, phrasings, config, rngs[1]),
        *_requests_with_history(users, catalog, steerable, phrasings, config, rngs[2]),
        *_requests_without_history(catalog, steerable, popularity, phrasings, config, rngs[3]),
        *_explain_examples(users, catalog, facts, titles, phrasings, config, rngs[4]),
        *_steer_requests(users, held_out, picker, catalog, phrasings, config, rngs[6]),
    ]
    frame = pd.DataFrame(
        {
            c: pd.Series([row[c] for row in rows], dtype=object if c in OPTIONAL_COLUMNS else None)
            for c in COLUMNS
        }
    )
    return frame.iloc[rngs[5].permutation(len(frame))].reset_index(drop=True)
