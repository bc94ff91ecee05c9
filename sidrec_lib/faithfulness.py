"""Explanation faithfulness: are the claims in a model's "why does this item fit?" reply true?

A reply such as ``It is a horror game, like "A" in your history, and it runs on PC, which you play on.``
makes checkable claims: the recommended item is a horror game and runs on PC, "A" is in the user's
history and is a horror game, and some history item runs on PC. :class:`ExplanationChecker` reads these
claims without relying on the exact wording of the answer templates (``phrasings["explanations"]``), so
it also reads paraphrases, and checks each against the item facts (:func:`sidrec_lib.attributes.item_facts`)
and titles; :func:`faithfulness` sums the checks of many replies.

How a reply is read: SIDs (with a :class:`~sidrec_lib.tokens.SidCatalog`), the markers
:meth:`SidCatalog.render` leaves for bad SIDs, and quoted titles (``"…"``, ``“…”``, ``«…»``) are cited
items; attribute values are found by the texts that name them (:func:`value_texts`), whole words,
case-insensitive, longest first (so "PlayStation 3" is never read as "PlayStation"). The reply is then
split into clauses (sentences, ``;``, ``, and``/``, but``/...), and in each clause every named value is a
claim about the item, every cited item a claim that it is in the history plus, for each value of the
clause, that it holds that value. A clause naming a value, citing nothing and speaking to the user
("which you play on") claims that some history item holds the value. "the same series/genre/platform/
brand as" claims a shared value of that attribute.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import pandas as pd

from sidrec_lib.attributes import item_facts
from sidrec_lib.prepare import PreparedData
from sidrec_lib.tokens import SID_END, SID_START, SidCatalog, sid_token

SID_PROBLEMS = ("malformed", "unknown")  # ParsedSid.problem values
# What SidCatalog.render writes in place of a SID that names no item (it formats f"[{problem} SID]").
SID_MARKERS = {problem: f"[{problem} SID]" for problem in SID_PROBLEMS}
# What every SID token starts with ("<|sid_"): a reply holding it has raw SIDs that need a catalog.
RAW_SID_PREFIX = os.path.commonprefix([SID_START, SID_END, sid_token(0, 0)])
CLAIM_KINDS = ("value", "history_item", "shared_value")

# Words that name a value beyond those of the phrasings file, for paraphrases. Used only for attribute
# values the catalog has.
EXTRA_VALUE_TEXTS: dict[str, dict[str, list[str]]] = {
    "price_tier": {
        "Budget": ["budget", "inexpensive", "affordable", "low-priced", "low-cost"],
        "Premium": ["pricey", "expensive", "high-end"],
    },
    "multiplayer": {
        "Yes": [
            "multi-player", "co-op", "cooperative", "play with others", "play with friends",
            "played with friends", "played together", "play together",
        ],
    },
}  # fmt: skip
# Words of a clause that tell which attribute an ambiguous value text names.
ATTRIBUTE_CUES: dict[str, tuple[str, ...]] = {
    "platform": ("runs on", "run on", "play on", "plays on", "platform", "console"),
    "genre": ("genre", "game", "games"),
    "franchise": ("series", "franchise", "continues", "sequel", "entry", "installment"),
    "brand": ("made by", "brand", "maker", "manufacturer"),
    "keyword": ("says", "word", "name"),
    "price_tier": ("price", "priced", "cost", "pick"),
    "multiplayer": ("others", "friends", "together"),
}
# "the same <word>" claims the item and the cited item (or the history) share a value of the attribute.
SAME_CUES = {
    "series": "franchise", "franchise": "franchise", "genre": "genre", "platform": "platform",
    "console": "platform", "system": "platform", "brand": "brand", "maker": "brand",
}  # fmt: skip

_QUOTE_PAIRS = (('"', '"'), ("\u201c", "\u201d"), ("\u00ab", "\u00bb"))
_QUOTED = re.compile(r'"([^"\n\x00]+)"|\u201c([^\u201d\n\x00]+)\u201d|\u00ab([^\u00bb\n\x00]+)\u00bb')
_WORD = re.compile(r"\w+|[^\w\s]")
_CLAUSE_END = re.compile(r"[.!?;]+(?=\s|$)|,\s+(?:and|but|plus|while|whereas)\s+(?!\x00)|\n+")
_YOU = re.compile(r"\byou(?:r|rs|'ve|'re|'d)?\b")
_SAME = re.compile(rf"\bsame ({'|'.join(SAME_CUES)})\b")
_CLAUSE_LEAD = re.compile(
    r"^\s*(?:it|this(?: one)?)\s+(?:(?:is|was|can be|could be|will be|has|also)\s+)*(?:(?:a|an|the)\s+)?",
    re.IGNORECASE,
)
_CITED, _VALUE = "\x00", "\x01"  # what the reply's cited items and named values are masked with


@dataclass(frozen=True)
class Claim:
    """One checkable claim of an explanation, and whether it holds.

    ``value``: the recommended item holds ``attribute`` = ``value``. ``history_item``: the cited item
    (``title``: the text that cites it; ``item``: the item it names, None if none) is in the history.
    ``shared_value``: the cited item (``item`` None: some history item) holds ``attribute`` = ``value``;
    with ``value`` None, it shares some value of ``attribute`` with the recommended item.
    """

    kind: str
    true: bool
    attribute: str | None = None
    value: str | None = None
    item: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class _Cited:
    text: str  # as written (a title, a SID, a marker)
    items: tuple[str, ...]  # the items it can name (several when titles repeat), history items first


def _norm(text: str) -> str:
    """Text compared case- and spacing-insensitively, with typographic apostrophes made plain."""
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").casefold().split())


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(_norm(text)))


def _mask(text: str, start: int, end: int, char: str) -> str:
    return text[:start] + char * (end - start) + text[end:]


def _clause_phrase(template: str) -> str:
    """The words of a one-value clause that name the value: "it is cheap, like {titles}" → "cheap"."""
    head = re.split(r"[,{]", template, maxsplit=1)[0]
    return _CLAUSE_LEAD.sub("", head).strip()


def value_texts(
    steerable: pd.DataFrame,
    phrasings: dict,
    facts: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    extra: Mapping[str, Mapping[str, Sequence[str]]] = EXTRA_VALUE_TEXTS,
) -> dict[str, dict[str, list[str]]]:
    """attribute → {value: texts that name it in a reply}, for :class:`ExplanationChecker`.

    From ``steerable`` (:func:`~sidrec_lib.attributes.steerable_attributes`): each value's request text,
    and the value itself unless the attribute's requests only use renamed values (multiplayer "Yes" is
    never a word of a reply). From ``phrasings["explanations"]``: the words of one-value clauses ("cheap",
    "premium pick", "played with others"). ``facts`` adds the values too rare to be steerable, as
    written (not for keywords, nor for attributes whose replies only use renamed values). ``extra``
    adds synonyms to values the catalog has. A keyword that is a word of the explanation templates
    ("series", "history") is given in quotes, ``'"series"'``: it names the value only when quoted
    (``its title also says "series"``), as every reply holds it unquoted.
    """
    requests, explanations = phrasings["requests"], phrasings["explanations"]
    clauses = explanations["clauses"]
    out: dict[str, dict[str, list[str]]] = {}

    def add(attribute: str, value: str, text: str) -> None:
        texts = out.setdefault(attribute, {}).setdefault(value, [])
        if text.strip() and _norm(text) not in {_norm(t) for t in texts}:
            texts.append(text.strip())

    def as_written(attribute: str) -> bool:
        spec = requests.get(attribute)
        if spec is not None:
            return not spec.get("only_values")
        return isinstance(clauses.get(attribute), str)

    for attribute, value, text in (
        steerable[["attribute", "value", "text"]].drop_duplicates().itertuples(index=False)
    ):
        if as_written(attribute):
            add(attribute, value, value)
        add(attribute, value, text)
    for by_attribute in (facts or {}).values():
        for attribute, values in by_attribute.items():
            if attribute != "keyword" and as_written(attribute):
                for value in values:
                    add(attribute, value, value)
    known = set(out) | {attribute for by_attribute in (facts or {}).values() for attribute in by_attribute}
    for attribute, clause in clauses.items():
        if isinstance(clause, dict) and attribute in known:
            for value, template in clause.items():
                add(attribute, value, _clause_phrase(template))
    for attribute, by_value in extra.items():
        for value, texts in by_value.items():
            if value in out.get(attribute, {}):
                for text in texts:
                    add(attribute, value, text)
    if "keyword" in out:
        templates = [t for c in clauses.values() for t in (c.values() if isinstance(c, dict) else [c])]
        template_words = set(
            _words(re.sub(r"\{\w+\}", " ", " ".join([*templates, explanations["fallback"]])))
        )
        out["keyword"] = {
            value: [f'"{t}"' if _norm(t) in template_words else t for t in texts]
            for value, texts in out["keyword"].items()
        }
    return out


class ExplanationChecker:
    """Reads the claims of explanation replies and checks them, for one catalog.

    ``facts``: item_id → {attribute: values} (:func:`~sidrec_lib.attributes.item_facts`); ``titles``:
    item_id → title (the whole catalog, so that a wrongly cited title can still be checked for its
    values); ``value_texts``: :func:`value_texts`; ``catalog``: needed only for replies holding raw SIDs.
    """

    def __init__(
        self,
        facts: Mapping[str, Mapping[str, Sequence[str]]],
        titles: Mapping[str, str],
        value_texts: Mapping[str, Mapping[str, Sequence[str]]],
        catalog: SidCatalog | None = None,
    ):
        self.facts, self.titles, self.catalog = facts, titles, catalog
        self.readings: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for attribute, by_value in value_texts.items():
            for value, texts in by_value.items():
                for text in texts:
                    reading = (attribute, value)
                    known = self.readings.setdefault(_words(text), [])
                    if reading not in known:
                        known.append(reading)
        self.readings.pop((), None)
        self.longest = max(map(len, self.readings), default=0)
        self.items_titled: dict[str, list[str]] = {}
        for item, title in titles.items():
            self.items_titled.setdefault(_norm(str(title)), []).append(item)
        # Titles with a quote mark inside ('12" Drill'): found whole before quotes are paired up.
        self.quoting_titles = [
            (title, title.casefold())
            for title in sorted(
                {str(t) for t in titles.values() if any(q in str(t) for pair in _QUOTE_PAIRS for q in pair)},
                key=len,
                reverse=True,
            )
        ]

    def _holds(self, item: str, attribute: str, value: str | None, target: str) -> bool:
        held = self.facts.get(item, {}).get(attribute, ())
        if value is not None:
            return value in held
        return bool(set(held) & set(self.facts.get(target, {}).get(attribute, ())))

    def _cited(self, text: str, history: Sequence[str]) -> _Cited:
        """A quoted text as a cited item: the history items with that title, else catalog items."""
        key = _norm(text)
        items = list(self.items_titled.get(key, []))
        if not items and text in self.titles:  # render shows an item without a title by its id
            items = [text]
        in_history = set(history)
        return _Cited(text, tuple(sorted(items, key=lambda item: item not in in_history)))

    def _reading(self, readings: list[tuple[str, str]], clause: str, target: str) -> tuple[str, str]:
        """The (attribute, value) an ambiguous text names: by the clause's cue words, else one the
        item holds (the reading under which the reply is right), else the first."""
        if len(readings) > 1:
            cued = [
                r
                for r in readings
                if any(re.search(rf"\b{cue}\b", clause) for cue in ATTRIBUTE_CUES.get(r[0], ()))
            ]
            readings = cued or readings
        held = [r for r in readings if self._holds(target, r[0], r[1], target)]
        return (held or readings)[0]

    def claims(self, reply: str, item_id: str, history: Sequence[str]) -> list[Claim]:
        """The claims of ``reply`` explaining why ``item_id`` fits ``history``, each checked, in reading
        order (per clause: its values, then each cited item, then claims about the whole history)."""
        masked = reply
        spans: list[tuple[int, int, str, object]] = []  # (start, end, "cited" | "value", what)

        def cite(start: int, end: int, cited: _Cited) -> None:
            nonlocal masked
            spans.append((start, end, "cited", cited))
            masked = _mask(masked, start, end, _CITED)

        if self.catalog is not None:
            for parsed in self.catalog.parse(reply):
                title = self.titles.get(parsed.item_id) if parsed.item_id else None
                items = (parsed.item_id,) if parsed.item_id else ()
                cite(parsed.start, parsed.end, _Cited(title or reply[parsed.start : parsed.end], items))
        elif RAW_SID_PREFIX in reply:
            raise ValueError("The reply holds raw SID tokens: pass a SidCatalog, or render the reply first.")
        for marker in SID_MARKERS.values():
            for found in re.finditer(re.escape(marker), masked):
                cite(found.start(), found.end(), _Cited(marker, ()))
        folded = masked.casefold()
        for title in (t for t, key in self.quoting_titles if key in folded):
            for left, right in _QUOTE_PAIRS:
                for found in re.finditer(re.escape(f"{left}{title}{right}"), masked, re.IGNORECASE):
                    cite(found.start(), found.end(), self._cited(title, history))
        in_history_titles = {_norm(str(self.titles.get(item, ""))) for item in history}
        for found in _QUOTED.finditer(masked):
            inner = next(group for group in found.groups() if group is not None)
            readings = self.readings.get(_words(inner)) or self.readings.get(_words(f'"{inner}"'))
            if _norm(inner) not in in_history_titles and readings:
                spans.append((found.start(), found.end(), "value", readings))
                masked = _mask(masked, found.start(), found.end(), _VALUE)
            else:
                cite(found.start(), found.end(), self._cited(inner, history))
        for start, end, readings in self._value_mentions(masked):
            spans.append((start, end, "value", readings))
            masked = _mask(masked, start, end, _VALUE)

        bounds = [0, *(m.end() for m in _CLAUSE_END.finditer(masked)), len(masked) + 1]
        claims: list[Claim] = []
        for start, end in zip(bounds, bounds[1:]):
            inside = sorted((s for s in spans if start <= s[0] < end), key=lambda s: s[0])
            claims += self._clause_claims(masked[start:end].casefold(), inside, item_id, history)
        return list(dict.fromkeys(claims))

    def _value_mentions(self, masked: str) -> list[tuple[int, int, list[tuple[str, str]]]]:
        """Spans of ``masked`` naming values, longest first, none overlapping, in text order."""
        tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(masked)]
        words = [_norm(t) for _, _, t in tokens]
        found = []
        for i in range(len(tokens)):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                readings = self.readings.get(tuple(words[i : i + n]))
                if readings:
                    found.append((tokens[i][0], tokens[i + n - 1][1], readings))
                    break
        taken: list[tuple[int, int, list[tuple[str, str]]]] = []
        for start, end, readings in sorted(found, key=lambda f: (f[0] - f[1], f[0])):
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, readings))
        return sorted(taken, key=lambda f: f[0])

    def _clause_claims(
        self, clause: str, spans: list[tuple[int, int, str, object]], target: str, history: Sequence[str]
    ) -> list[Claim]:
        in_history = set(history)
        values = [
            self._reading(cast(list, what), clause, target) for _, _, kind, what in spans if kind == "value"
        ]
        named = {attribute for attribute, _ in values}
        same = [a for a in dict.fromkeys(SAME_CUES[w] for w in _SAME.findall(clause)) if a not in named]
        shared: list[tuple[str, str | None]] = [*values, *((attribute, None) for attribute in same)]
        claims = [
            Claim("value", value in self.facts.get(target, {}).get(attribute, ()), attribute, value)
            for attribute, value in values
        ]
        cited = [cast(_Cited, what) for _, _, kind, what in spans if kind == "cited"]
        for each in cited:
            if each.items == (target,) and target not in in_history:
                continue  # the recommended item itself: the subject, not a claim
            held = [item for item in each.items if item in in_history]
            first = (held or list(each.items) or [None])[0]
            claims.append(Claim("history_item", bool(held), item=first, title=each.text))
            for attribute, value in shared if each.items else ():
                holders = [i for i in (held or each.items) if self._holds(i, attribute, value, target)]
                item = holders[0] if holders else first
                claims.append(Claim("shared_value", bool(holders), attribute, value, item, each.text))
        if not cited and _YOU.search(clause):
            for attribute, value in shared:
                true = any(self._holds(item, attribute, value, target) for item in history)
                claims.append(Claim("shared_value", true, attribute, value))
        return claims

    def sid_problems(self, reply: str) -> list[str]:
        """The problem ("malformed" or "unknown") of each SID in ``reply`` that names no item: raw SIDs
        parsed with the catalog, plus the markers a rendered reply holds."""
        problems = []
        if self.catalog is not None:
            problems += [p.problem for p in self.catalog.parse(reply) if p.problem]
        elif RAW_SID_PREFIX in reply:
            raise ValueError("The reply holds raw SID tokens: pass a SidCatalog, or render the reply first.")
        for problem, marker in SID_MARKERS.items():
            problems += [problem] * reply.count(marker)
        return problems


def faithfulness(
    replies: Iterable[Mapping],
    facts: Mapping[str, Mapping[str, Sequence[str]]],
    titles: Mapping[str, str],
    value_texts: Mapping[str, Mapping[str, Sequence[str]]],
    catalog: SidCatalog | None = None,
) -> dict:
    """How faithful explanation replies are. Each of ``replies`` has ``reply`` (its text), ``item_id``
    (the item it explains) and ``history`` (item ids).

    Returns ``replies``, ``claims`` (claims checked), ``true_share`` (of claims), ``true_share_by_kind``,
    and shares of replies: ``with_false_claim``, ``without_claims``, ``with_bad_sid`` (a malformed or
    unknown SID). Shares of nothing are NaN.
    """
    checker = ExplanationChecker(facts, titles, value_texts, catalog)
    n = false_replies = empty = bad_sid = 0
    kinds: dict[str, list[bool]] = {kind: [] for kind in CLAIM_KINDS}
    for row in replies:
        claims = checker.claims(row["reply"], row["item_id"], list(row["history"]))
        n += 1
        false_replies += any(not claim.true for claim in claims)
        empty += not claims
        bad_sid += bool(checker.sid_problems(row["reply"]))
        for claim in claims:
            kinds[claim.kind].append(claim.true)

    def share(count: float, total: int) -> float:
        return count / total if total else float("nan")

    every = [true for trues in kinds.values() for true in trues]
    return {
        "replies": n,
        "claims": len(every),
        "true_share": share(sum(every), len(every)),
        "true_share_by_kind": {kind: share(sum(trues), len(trues)) for kind, trues in kinds.items()},
        "with_false_claim": share(false_replies, n),
        "without_claims": share(empty, n),
        "with_bad_sid": share(bad_sid, n),
    }


def explanation_faithfulness(
    explained: Iterable[Mapping],
    prepared: PreparedData,
    steerable: pd.DataFrame,
    phrasings: dict,
    catalog: SidCatalog,
) -> dict:
    """:func:`faithfulness` of ``explained`` replies for the catalog of ``prepared`` (``steerable``:
    :func:`~sidrec_lib.attributes.steerable_attributes`)."""
    facts = item_facts(prepared, steerable)
    titles = dict(zip(prepared.items.item_id, prepared.items.title))
    return faithfulness(explained, facts, titles, value_texts(steerable, phrasings, facts), catalog)
