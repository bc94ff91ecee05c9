"""The realistic classic competitor for steering: a request parser feeding SASRec, filtered by what
it parsed.

The steerability benchmark's metadata baseline (:func:`sidrec_lib.steering.rerank_within`) is
given the value a request asks for; a real classic system has to read it from the words first. Here
:class:`RequestParser` turns a request ("anything but a racing game", "like \\"Title\\" but cheaper",
a two-turn refinement) into :class:`~sidrec_lib.constraints.Constraint` s and an optional reference
item, and :func:`parser_pipeline` restricts the recommender's ranking to the items meeting them,
falling back to the plain ranking when the parse finds nothing, as a deployed system would.

The parser is built from general means, never from held-out phrasings:

- values named literally, by their request text (whole word, case-insensitive, longest first);
- negation from cue words before the value in the same clause ("not", "except", "tired of", "n't"...);
- an item title in quotes (or, after a "like"/"similar" cue, unquoted) as the reference item: the
  answer keeps its genre (as :mod:`sidrec_lib.compound` asks "like X but ..."), and relations to it
  change one thing ("cheaper", "for less": the price tiers below its own; "another series": not its
  franchise);
- clauses that name no value literally ("something I can play with my friends", "a scary game")
  matched with the sentence encoder against phrases built from the TRAIN phrasings filled with each
  value, two ways: the clause's content words (request boilerplate, cue and attribute words dropped)
  against the phrases' content words, and, where both ways name the same value, the whole clause's
  similarity to the value's phrases over its similarity to the nearest value-free phrasing (a train
  template's skeleton). Both thresholds come from train phrasings only
  (:meth:`RequestParser.tune_thresholds`: each template group parsed as if new, just above its
  best wrong match). The encoder never adds to an attribute the words name literally.

:func:`parse_accuracy` reports how often the parse equals the true constraints.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sidrec_lib.attributes import STOP_WORDS
from sidrec_lib.baselines import ranked_ids
from sidrec_lib.constraints import Constraint, HolderIndex

if TYPE_CHECKING:
    from sidrec_lib.prepare import PreparedData

__all__ = [
    "ParsedRequest",
    "RequestParser",
    "parse_accuracy",
    "parser_pipeline",
]

DEFAULT_TIERS = ("Budget", "Standard", "Premium")
PRICE = "price_tier"
FRANCHISE = "franchise"
RELATION = "relation"  # the attribute of the encoder's relation classes ("cheaper")

# Negation cues, before the value in its clause. Positive overrides ("nothing but", "only") come first
# so that "nothing but racing" reads as racing; the last cue before the value decides.
_OVERRIDES = r"nothing but|none but|only|exclusively|just the"
_NEGATIONS = (
    r"anything but|everything but|all but|other than|else than|rather than|instead of|apart from|"
    r"aside from|tired of|sick of|bored of|fed up with|done with|enough of|had enough|no more|"
    r"no longer|outside(?: of)?|leave out|filter out|get rid of|different (?:from|than|to)|away from|"
    r"another\b.*?\bthan|not|no|nothing|none|never|neither|nor|without|except|excluding|exclude|"
    r"avoid\w*|skip|hate|dislike|drop|remove|\w+n't|dont|doesnt|didnt|cant|wont|isnt|arent"
)
_CUE = re.compile(rf"\b(?:(?P<keep>{_OVERRIDES})|(?P<neg>{_NEGATIONS}))\b", re.IGNORECASE)
# Negation after the value, in its clause ("horror is not for me").
_POST_NEGATION = re.compile(
    r"^\W*(?:\w+\s+){0,2}?(?:is|are|was|were)\s+(?:not|out|excluded)\b|\b(?:isn't|aren't|not for me|"
    r"not my thing|no thanks|anymore|any more)\b",
    re.IGNORECASE,
)
_CHEAPER = re.compile(
    r"\b(?:cheaper|less expensive|less pricey|more affordable|lower[- ]priced?|lower (?:price|cost)s?|"
    r"costs? less|for less|less money|not as (?:expensive|pricey))\b",
    re.IGNORECASE,
)
_PRICIER = re.compile(
    r"\b(?:pricier|more expensive|higher[- ]priced?|higher (?:price|cost)s?|costs? more)\b", re.IGNORECASE
)
_OTHER = re.compile(r"\b(?:another|other|different|new)\s+(?P<word>[a-z]+)", re.IGNORECASE)
# Clause boundaries: punctuation, a spaced dash, and conjunctions ("but" not after "anything").
_BOUNDARY = re.compile(
    r"[.;:!?()\[\]]|,|\s[-\u2013\u2014]+\s|\b(?:and|also|plus|though|although|however|whereas|while|yet)\b|"
    r"(?<!anything )(?<!everything )(?<!nothing )(?<!none )(?<!all )\bbut\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r'"([^"]{2,}?)"')
_SIMILAR = re.compile(
    r"\b(?:like|liked|loved|enjoyed|similar|spirit|same as|reminds?|alternative to)\b", re.IGNORECASE
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PLACEHOLDER = re.compile(r"\{\w+\}")
# Short function words (the attributes module's stop words have four letters or more).
_SHORT_STOP = frozenset([
    "a", "an", "the", "i", "me", "my", "we", "us", "our", "you", "it", "its", "is", "am", "are", "be",
    "was", "do", "did", "to", "of", "in", "on", "at", "by", "for", "from", "up", "as", "or", "if", "so",
    "no", "not", "any", "all", "can", "some", "one", "get", "got", "what", "how", "who", "why", "let",
    "just", "out", "off", "too", "per", "via", "i'm", "i'd", "it's", "that's", "what's", "let's",
])  # fmt: skip
_GENERIC = (STOP_WORDS - {"together", "others", "less", "more"}) | _SHORT_STOP


@dataclass(frozen=True)
class ParsedRequest:
    """What the words of a request ask: constraints on attribute values, and an item it is like. True
    when it has constraints (a parse with none leaves the ranking unfiltered)."""

    constraints: tuple[Constraint, ...] = ()
    reference: str | None = None
    via: tuple[str, ...] = field(default=(), compare=False)  # per constraint: literal/encoder/reference

    def __bool__(self) -> bool:
        return bool(self.constraints)


@dataclass
class _Unit:
    """A piece of a turn for the encoder: clause words that name no value literally."""

    text: str  # the clause, less values, title, cue and attribute words
    content: str  # its words that are not request boilerplate
    negated: bool
    whole: bool = False  # the whole turn's remainder, used only when no clause matched


@dataclass
class _Turn:
    """One turn after the lexical pass."""

    literal: list[tuple[str, str, bool]]
    units: list[_Unit]
    reference: str | None
    cheaper: bool = False
    pricier: bool = False
    other: set[str] = field(default_factory=set)  # attributes asked "another ... than the reference's"


def _normalise(text: str) -> str:
    """Straight quotes and apostrophes for curly ones."""
    return (
        str(text).replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'").replace("\u2018", "'")
    )


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with the characters of ``spans`` replaced by spaces (positions kept)."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\s+([.,?!;:])", r"\1", text)).strip(" ,;:-")


def _value_pattern(text: str) -> str:
    """Whole-word, flexible-spacing pattern for a value's request text (a plural s is allowed)."""
    parts = [re.escape(part) for part in re.split(r"[\s\-]+", text.strip()) if part]
    return r"(?<![\w])" + r"[\s\-]?".join(parts) + r"(?:e?s)?(?![\w])"


def _title_cores(title: str) -> list[str]:
    """A title and its shorter forms: before " - ", " (", ":", " for " (platform and edition suffixes)."""
    cores = [title]
    for separator in (" - ", " (", ": ", " for "):
        head = title.split(separator)[0]
        if head != title:
            cores.append(head)
    return cores


class RequestParser:
    """Reads requests in plain words into constraints and a reference item (see the module docstring).

    ``steerable``: the table of :func:`sidrec_lib.attributes.steerable_attributes` (item_id, attribute,
    value, text); ``phrasings``: the phrasings JSON (only "train" lists are read); ``encoder``: a
    sentence encoder with ``encode`` (None: literal parsing only); ``titles``: item_id → title;
    ``facts``: item_id → {attribute: values}; ``tiers``: price tiers, cheapest first; ``keep``: the
    attributes whose values a reference item passes on ("like X" = X's genre) unless the words name
    them; ``encoder_max_values``: the encoder matches only attributes with at most this many values
    (descriptions map to small vocabularies such as genres; names in the hundreds, such as franchises,
    are matched literally: the best of many name similarities is high by chance); ``threshold``: the
    encoder's margin of a clause's similarity to a value's phrases over its
    similarity to value-free phrasings, ``content_threshold``: the similarity of the clause's content
    words to a value's (None: :meth:`tune_thresholds` on train phrasings).
    """

    def __init__(
        self,
        steerable: pd.DataFrame,
        phrasings: dict,
        encoder=None,
        titles: Mapping[str, str] | None = None,
        facts: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        tiers: Sequence[str] = DEFAULT_TIERS,
        threshold: float | None = None,
        content_threshold: float | None = None,
        seed: int = 0,
        keep: Sequence[str] = ("genre",),
        encoder_max_values: int = 30,
    ):
        self.phrasings = phrasings
        self.encoder = encoder
        self.titles = dict(titles or {})
        self.facts = {item: dict(values) for item, values in (facts or {}).items()}
        held_tiers = {v for values in self.facts.values() for v in values.get(PRICE, ())}
        self.tiers = tuple(t for t in tiers if t in held_tiers or not held_tiers)
        self.keep = tuple(keep)
        self.encoder_max_values = encoder_max_values
        values = steerable.drop_duplicates(["attribute", "value"])[["attribute", "value", "text"]]
        # A value named by a word every request may hold ("made" of "made by", a title keyword on a
        # real catalog) cannot be read from the words: it is left to the encoder, if anything.
        boilerplate = self._template_words()
        self.values: list[tuple[str, str, str]] = [
            (a, v, t)
            for a, v, t in values.itertuples(index=False, name=None)
            if str(t).lower() not in boilerplate
        ]
        self.attributes = tuple(dict.fromkeys(a for a, _, _ in self.values))
        self._build_literals()
        self._build_titles()
        self._build_attribute_words()
        self.generic = frozenset(_GENERIC | self._template_words())
        self.threshold = 0.0 if threshold is None else float(threshold)
        self.content_threshold = 0.5 if content_threshold is None else float(content_threshold)
        self.train_scores: dict[str, float] = {}
        if encoder is not None:
            self._build_prototypes()
            if threshold is None or content_threshold is None:
                tuned = self.tune_thresholds(seed=seed)
                self.threshold = tuned[0] if threshold is None else self.threshold
                self.content_threshold = tuned[1] if content_threshold is None else self.content_threshold

    @classmethod
    def from_prepared(cls, prepared: PreparedData, phrasings: dict, encoder=None, **options) -> RequestParser:
        """A parser for a prepared catalog: its steerable table, titles and facts; price tiers ordered
        by the median price of the items in each."""
        from sidrec_lib.attributes import item_facts, steerable_attributes

        steerable = steerable_attributes(prepared, phrasings)
        facts = item_facts(prepared, steerable)
        titles = dict(zip(prepared.items.item_id, prepared.items.title, strict=True))
        tiers: Sequence[str] = DEFAULT_TIERS
        tier_rows = prepared.attributes[prepared.attributes.attribute == PRICE]
        if len(tier_rows) and "price" in prepared.items:
            priced = tier_rows.merge(prepared.items[["item_id", "price"]], on="item_id")
            tiers = tuple(priced.groupby("value").price.median().sort_values().index)
        return cls(steerable, phrasings, encoder, titles, facts, tiers, **options)

    # ------------------------------------------------------------------------------------------
    # Building
    # ------------------------------------------------------------------------------------------

    def _build_literals(self) -> None:
        by_text: dict[str, list[tuple[str, str]]] = {}
        for attribute, value, text in self.values:
            by_text.setdefault(str(text).lower(), []).append((attribute, value))
        self._by_text = by_text
        # Longest first: at each position the longest text matches ("PlayStation 3", not "PlayStation").
        ordered = sorted(by_text, key=len, reverse=True)
        self._literal = (
            re.compile(
                "|".join(f"(?P<v{i}>{_value_pattern(t)})" for i, t in enumerate(ordered)), re.IGNORECASE
            )
            if ordered
            else None
        )
        self._literal_texts = ordered

    def _build_titles(self) -> None:
        self._title_exact: dict[str, str] = {}
        self._title_cores: dict[tuple[str, ...], str] = {}
        value_words = {tuple(_WORD.findall(t.lower())) for t in self._by_text}
        for item, title in self.titles.items():
            key = " ".join(str(title).lower().split())
            self._title_exact.setdefault(key, item)
            for core in _title_cores(str(title)):
                tokens = tuple(_WORD.findall(core.lower()))
                if len(tokens) >= 2 and tokens not in value_words:
                    self._title_cores.setdefault(tokens, item)
        self._title_keys = list(self._title_exact)
        self._core_length = max((len(t) for t in self._title_cores), default=0)

    def _build_attribute_words(self) -> None:
        """Words that name an attribute: its name and the non-stop words of its fragment."""
        words: dict[str, str] = {}
        fragments = self.phrasings.get("compound", {}).get("fragments", {})
        for attribute in self.attributes:
            names = [attribute.replace("_", " ")] + [fragments.get(attribute, "")]
            for text in names:
                for word in _WORD.findall(_PLACEHOLDER.sub(" ", text).lower()):
                    if word not in _GENERIC:
                        words.setdefault(word, attribute)
        self.attribute_words = words

    def _train_templates(self) -> dict[str, list[str]]:
        """Template group → its TRAIN phrasings (single requests per attribute, compound kinds)."""
        groups: dict[str, list[str]] = {}
        for attribute, spec in self.phrasings.get("requests", {}).items():
            groups[f"request:{attribute}"] = list(spec.get("train", []))
        compound = self.phrasings.get("compound", {})
        for kind in ("pair", "negation", "refine"):
            if kind in compound:
                groups[kind] = list(compound[kind].get("train", []))
        for kind, spec in compound.get("like_but", {}).items():
            groups[f"like_but:{kind}"] = list(spec.get("train", []))
        for kind in ("next_item", "with_history"):
            if kind in self.phrasings:
                groups[kind] = list(self.phrasings[kind].get("train", []))
        groups["fragments"] = list(compound.get("fragments", {}).values())
        return groups

    def _template_words(self, leave_out: str | None = None) -> set[str]:
        """Words of the train templates' skeletons (placeholders removed): request boilerplate. Tuning
        leaves out one template group (``leave_out``) to see its words as new."""
        words: set[str] = set()
        for group, templates in self._train_templates().items():
            if group == leave_out:
                continue
            for template in templates:
                if group.startswith("request:") and not _PLACEHOLDER.search(template):
                    continue  # a value-free request ("a game I can play with friends") is a value phrase
                skeleton = _PRICIER.sub(" ", _CHEAPER.sub(" ", _PLACEHOLDER.sub(" ", template)))
                words.update(_WORD.findall(skeleton.lower()))
        return words

    def _build_prototypes(self) -> None:
        """Encoder classes (attribute values, plus the "cheaper" relation) with their TRAIN phrases (the
        single requests and fragments filled with the value), and the value-free phrases (template
        skeletons) a match must beat; each phrase keeps the template it comes from."""
        requests = self.phrasings.get("requests", {})
        fragments = self.phrasings.get("compound", {}).get("fragments", {})
        classes: list[tuple[str, str]] = []
        phrases: list[tuple[int, str, str, str]] = []  # (class, phrase, its content words, template)
        per_attribute: dict[str, int] = {}
        for attribute, _, _ in self.values:
            per_attribute[attribute] = per_attribute.get(attribute, 0) + 1
        for attribute, value, text in self.values:
            if per_attribute[attribute] > self.encoder_max_values:
                continue  # a name, matched literally only
            c = len(classes)
            classes.append((attribute, value))
            spoken = str(text)
            phrases.append((c, spoken, spoken.lower(), ""))
            templates = [fragments[attribute]] if attribute in fragments else []
            templates += requests.get(attribute, {}).get("train", [])
            for template in templates:
                if "{value}" in template:
                    skeleton = self._content(_PLACEHOLDER.sub(" ", template))
                    content = _squash(f"{spoken.lower()} {skeleton}")
                    phrases.append((c, _squash(template.format(value=spoken)), content, template))
                elif per_attribute[attribute] == 1:  # "a game I can play with friends" names the one value
                    phrases.append((c, _squash(template), self._content(template), template))
        cheaper = self.phrasings.get("compound", {}).get("like_but", {}).get("cheaper", {}).get("train", [])
        if cheaper and PRICE in self.attributes:
            c = len(classes)
            classes.append((RELATION, "cheaper"))
            for template in cheaper:
                for m in _CHEAPER.finditer(template):
                    phrases.append((c, m.group(0), m.group(0).lower(), template))
        nulls: list[tuple[str, str]] = []
        for templates in self._train_templates().values():
            for template in templates:
                if not _PLACEHOLDER.search(template):
                    continue
                skeleton = _PLACEHOLDER.sub(" ", template)
                nulls.append((_squash(skeleton), template))
                for start, end in self._clauses(skeleton, []):
                    unit = self._unit(skeleton[start:end], keep_empty=True)
                    if unit is not None:
                        nulls.append((unit.text, template))
        nulls = list(dict.fromkeys(n for n in nulls if n[0]))
        self.classes = classes
        self._phrase_class = np.array([c for c, _, _, _ in phrases], dtype=np.int64)
        self._phrase_text = [p for _, p, _, _ in phrases]
        self._phrase_content = [k for _, _, k, _ in phrases]
        self._phrase_source = np.array([s for _, _, _, s in phrases], dtype=object)
        self._null_text = [n for n, _ in nulls]
        self._null_source = np.array([s for _, s in nulls], dtype=object)
        self._phrase_vectors = self._encode(self._phrase_text)
        self._content_vectors = self._encode(self._phrase_content)
        self._null_vectors = self._encode(self._null_text)
        self._class_columns = [np.flatnonzero(self._phrase_class == c) for c in range(len(classes))]

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.encoder.get_embedding_dimension()), dtype=np.float32)
        vectors = self.encoder.encode(
            list(texts),
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    # ------------------------------------------------------------------------------------------
    # The lexical pass
    # ------------------------------------------------------------------------------------------

    def _find_reference(self, text: str) -> tuple[str | None, list[tuple[int, int]]]:
        """The item a turn names by title (quoted, else fuzzy, else unquoted after a "like" cue), and
        the spans of the words naming it."""
        for match in _QUOTED.finditer(text):
            key = " ".join(match.group(1).lower().split())
            item = self._title_exact.get(key)
            if item is None:
                close = difflib.get_close_matches(key, self._title_keys, n=1, cutoff=0.8)
                item = self._title_exact[close[0]] if close else None
            if item is not None:
                return item, [match.span()]
        if not self._title_cores or not _SIMILAR.search(text):
            return None, []
        tokens = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text.lower())]
        for start in range(len(tokens)):
            for length in range(min(self._core_length, len(tokens) - start), 1, -1):
                key = tuple(t for t, _, _ in tokens[start : start + length])
                item = self._title_cores.get(key)
                if item is not None:
                    return item, [(tokens[start][1], tokens[start + length - 1][2])]
        return None, []

    def _clauses(self, text: str, protected: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Clause spans of ``text``, never cutting through a ``protected`` span."""
        cuts = [
            m
            for m in _BOUNDARY.finditer(text)
            if not any(s < m.end() and m.start() < e for s, e in protected)
        ]
        spans, start = [], 0
        for m in cuts:
            spans.append((start, m.start()))
            start = m.end()
        spans.append((start, len(text)))
        return [(s, e) for s, e in spans if text[s:e].strip()]

    @staticmethod
    def _negated(before: str, after: str) -> tuple[bool, list[tuple[int, int]]]:
        """Whether a value with clause text ``before`` and ``after`` it is negated, and the cue spans
        (in ``before``)."""
        cues = list(_CUE.finditer(before))
        negated = bool(cues) and cues[-1].group("neg") is not None
        return negated or bool(_POST_NEGATION.search(after)), [m.span() for m in cues]

    def _pick(self, options: list[tuple[str, str]], clause: str) -> list[tuple[str, str]]:
        """Among (attribute, value) options sharing one request text, those whose attribute a word of
        the clause names, else the first."""
        if len(options) == 1:
            return options
        named = {self.attribute_words.get(w) for w in _WORD.findall(clause.lower())}
        chosen = [o for o in options if o[0] in named]
        return chosen or options[:1]

    def _content(self, text: str) -> str:
        """The words of ``text`` that are neither boilerplate nor attribute words, in order."""
        skip = self.generic | self.attribute_words.keys()
        return " ".join(
            w for w in _WORD.findall(text.lower()) if w not in skip and w.removesuffix("s") not in skip
        )

    def _unit(self, clause: str, keep_empty: bool = False) -> _Unit | None:
        """A clause's words for the encoder: negation cues and attribute words blanked; None when no
        content word is left (unless ``keep_empty``)."""
        negated, cues = self._negated(clause, "")
        words = _blank(clause, cues)
        words = " ".join(w for w in words.split() if w.lower().strip(",.;:!?") not in self.attribute_words)
        text, content = _squash(words), self._content(words)
        if not text or (not content and not keep_empty):
            return None
        return _Unit(text, content, negated)

    def _analyse(self, text: str) -> _Turn:
        """The lexical pass over one turn: reference, literal values with their polarity, relations to
        the reference, and the pieces left for the encoder."""
        text = _normalise(text)
        reference, title_spans = self._find_reference(text)
        masked = _blank(text, title_spans)
        mentions = []  # (start, end, options)
        if self._literal is not None:
            for m in self._literal.finditer(masked):
                group = m.lastgroup
                mentions.append((m.start(), m.end(), self._by_text[self._literal_texts[int(group[1:])]]))
        relation_spans = [m.span() for pattern in (_CHEAPER, _PRICIER) for m in pattern.finditer(masked)]
        clauses = self._clauses(masked, [(s, e) for s, e, _ in mentions])
        turn = _Turn([], [], reference)
        turn.cheaper = bool(_CHEAPER.search(masked))
        turn.pricier = bool(_PRICIER.search(masked))
        for m in _OTHER.finditer(masked):
            attribute = self.attribute_words.get(m.group("word").lower())
            if attribute is not None:
                turn.other.add(attribute)
        remainder_spans: list[tuple[int, int]] = list(relation_spans)
        for c_start, c_end in clauses:
            inside = [mention for mention in mentions if c_start <= mention[0] < c_end]
            clause = masked[c_start:c_end]
            for start, end, options in inside:
                negated, _ = self._negated(masked[c_start:start], masked[end:c_end])
                for attribute, value in self._pick(options, clause):
                    turn.literal.append((attribute, value, negated))
                remainder_spans.append((start, end))
        rest = _blank(masked, remainder_spans)
        for c_start, c_end in clauses:
            unit = self._unit(rest[c_start:c_end])
            if unit is not None:
                turn.units.append(unit)
        if len(turn.units) > 1:
            turn.units.append(
                _Unit(
                    _squash(" ".join(u.text for u in turn.units)),
                    " ".join(u.content for u in turn.units),
                    any(u.negated for u in turn.units),
                    whole=True,
                )
            )
        return turn

    # ------------------------------------------------------------------------------------------
    # The encoder pass
    # ------------------------------------------------------------------------------------------

    def _matches(
        self, units: Sequence[_Unit], excluded_sources: Sequence[Collection[str]] | None = None
    ) -> list[tuple[int, float, int, float]]:
        """For each unit, both views: (best class by the whole clause, its margin over the best
        value-free phrase, best class by the content words, their similarity). Phrases from the
        templates in ``excluded_sources`` (tuning: the unit's own template group) are left out."""
        if not units or not self.classes:  # no attribute with few enough values for the encoder
            return []
        vectors = self._encode([u.text for u in units] + [u.content for u in units])
        texts, contents = vectors[: len(units)], vectors[len(units) :]
        sims = texts @ self._phrase_vectors.T
        content_sims = contents @ self._content_vectors.T
        nulls = texts @ self._null_vectors.T
        if excluded_sources is not None:
            for i, sources in enumerate(excluded_sources):
                if sources:
                    phrase_out = np.isin(self._phrase_source, list(sources))
                    sims[i, phrase_out] = -np.inf
                    content_sims[i, phrase_out] = -np.inf
                    nulls[i, np.isin(self._null_source, list(sources))] = -np.inf
        per_class = np.stack([sims[:, cols].max(axis=1) for cols in self._class_columns], axis=1)
        per_content = np.stack([content_sims[:, cols].max(axis=1) for cols in self._class_columns], axis=1)
        null_best = nulls.max(axis=1) if nulls.shape[1] else np.zeros(len(units))
        best, best_content = per_class.argmax(axis=1), per_content.argmax(axis=1)
        return [
            (int(b), float(per_class[i, b] - null_best[i]), int(bc), float(per_content[i, bc]))
            for i, (b, bc) in enumerate(zip(best, best_content))
        ]

    @staticmethod
    def _accept(
        match: tuple[int, float, int, float], thresholds: tuple[float, float]
    ) -> tuple[int, float] | None:
        """The class a unit's match names, with how far it passed: the content view's when it passes its
        threshold, else the whole clause's when it passes its margin and both views name the same
        class; None otherwise."""
        c, margin, c_content, similarity = match
        if similarity >= thresholds[1]:
            return c_content, similarity - thresholds[1]
        if c == c_content and margin >= thresholds[0]:
            return c, margin - thresholds[0]
        return None

    def _resolve(
        self, turn: _Turn, accepted: list[tuple[int, float, _Unit]], reference: str | None
    ) -> tuple[list[Constraint], list[str]]:
        """The constraints of one turn: literal values, then the encoder's accepted (class, excess, unit)
        matches on attributes the words did not name, then relations to the reference."""
        grouped: dict[tuple[str, bool], list[str]] = {}
        how: dict[tuple[str, bool], str] = {}

        def add(attribute: str, value: str, include: bool, via: str) -> None:
            values = grouped.setdefault((attribute, include), [])
            if value not in values:
                values.append(value)
            how.setdefault((attribute, include), via)

        for attribute, value, negated in turn.literal:
            add(attribute, value, not negated, "literal")
        if any(not u.whole for _, _, u in accepted):
            accepted = [x for x in accepted if not x[2].whole]
        cheaper = turn.cheaper or any(self.classes[c] == (RELATION, "cheaper") for c, _, _ in accepted)
        held = self.facts.get(reference, {}) if reference is not None else {}
        named = {a for a, _ in grouped}
        if reference is not None:  # relations to the reference come before the encoder's guesses
            tiers = [self.tiers.index(t) for t in held.get(PRICE, []) if t in self.tiers]
            if (cheaper or turn.pricier) and tiers and PRICE not in named:
                if cheaper:
                    below = self.tiers[: min(tiers)] or self.tiers[:1]
                else:
                    below = self.tiers[max(tiers) + 1 :] or self.tiers[-1:]
                for tier in below:
                    add(PRICE, tier, True, "reference")
            for attribute in sorted(turn.other - named):
                for value in held.get(attribute, []):
                    add(attribute, value, False, "reference")
        named = {a for a, _ in grouped}
        best: dict[str, tuple[float, str, bool]] = {}
        for c, excess, unit in accepted:
            attribute, value = self.classes[c]
            if attribute == RELATION or attribute in named or excess <= best.get(attribute, (-np.inf,))[0]:
                continue
            best[attribute] = (excess, value, not unit.negated)
        for attribute, (_, value, include) in best.items():
            add(attribute, value, include, "encoder")
        named = {a for a, _ in grouped}
        if turn.reference is not None:  # "like X": X's genre, unless the words say otherwise
            for attribute in self.keep:
                if attribute not in named and attribute not in turn.other:
                    for value in held.get(attribute, []):
                        add(attribute, value, True, "reference")
        constraints = [Constraint(a, tuple(sorted(v)), include) for (a, include), v in grouped.items()]
        return constraints, [how[(c.attribute, c.include)] for c in constraints]

    # ------------------------------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------------------------------

    def parse(self, request: str | Sequence[str]) -> ParsedRequest:
        """The constraints and reference item of one request (a string, or a list of user turns)."""
        return self.parse_many([request])[0]

    def parse_many(
        self,
        requests: Sequence[str | Sequence[str]],
        thresholds: tuple[float, float] | None = None,
    ) -> list[ParsedRequest]:
        """:meth:`parse` for many requests, the encoder called once for all of them.

        A multi-turn request parses each turn and keeps the union of their constraints, a later turn on
        an attribute replacing the earlier ones on it; the reference carries over to later turns.
        ``thresholds``: (margin, content) in place of the parser's own.
        """
        thresholds = thresholds or (self.threshold, self.content_threshold)
        turns = [[self._analyse(t) for t in ([r] if isinstance(r, str) else list(r))] for r in requests]
        units = [
            (i, j, u) for i, request in enumerate(turns) for j, turn in enumerate(request) for u in turn.units
        ]
        matches: dict[tuple[int, int], list[tuple[int, float, _Unit]]] = {}
        if self.encoder is not None and units:
            for (i, j, unit), match in zip(units, self._matches([u for _, _, u in units])):
                accepted = self._accept(match, thresholds)
                if accepted is not None:
                    matches.setdefault((i, j), []).append((*accepted, unit))
        parsed = []
        for i, request in enumerate(turns):
            by_attribute: dict[str, list[tuple[Constraint, str]]] = {}
            reference = None
            for j, turn in enumerate(request):
                reference = turn.reference or reference
                constraints, via = self._resolve(turn, matches.get((i, j), []), reference)
                fresh: dict[str, list[tuple[Constraint, str]]] = {}
                for constraint, how in zip(constraints, via):
                    fresh.setdefault(constraint.attribute, []).append((constraint, how))
                by_attribute.update(fresh)
            pairs = [pair for attribute in by_attribute for pair in by_attribute[attribute]]
            parsed.append(
                ParsedRequest(tuple(c for c, _ in pairs), reference, tuple(how for _, how in pairs))
            )
        return parsed

    def train_cases(self, per_template: int = 3, seed: int = 0) -> list[tuple[str, list[Constraint], str]]:
        """(request, its true constraints, its template) from TRAIN phrasings only, filled with values
        and titles drawn at random: single requests, pairs, negations, refinements, "like ... but"."""
        rng = np.random.default_rng(seed)
        requests = self.phrasings.get("requests", {})
        compound = self.phrasings.get("compound", {})
        fragments = compound.get("fragments", {})
        by_attribute: dict[str, list[tuple[str, str]]] = {}
        for attribute, value, text in self.values:
            by_attribute.setdefault(attribute, []).append((value, text))
        attributes = [a for a in self.attributes if a in requests]

        def draw(attribute: str) -> tuple[str, str]:
            options = by_attribute[attribute]
            return options[int(rng.integers(len(options)))]

        cases = []
        for attribute in attributes:
            for template in requests[attribute].get("train", []):
                for _ in range(per_template if "{value}" in template else 1):
                    value, text = draw(attribute)
                    cases.append((template.format(value=text), [Constraint(attribute, (value,))], template))
        with_fragment = [a for a in attributes if a in fragments]
        for template in compound.get("pair", {}).get("train", []):
            for _ in range(per_template):
                first, second = rng.choice(with_fragment, size=2, replace=False)
                (v1, t1), (v2, t2) = draw(first), draw(second)
                text = template.format(
                    first=fragments[first].format(value=t1), second=fragments[second].format(value=t2)
                )
                cases.append((text, [Constraint(first, (v1,)), Constraint(second, (v2,))], template))
        for kind, include in (("negation", False), ("refine", True)):
            for template in compound.get(kind, {}).get("train", []):
                for _ in range(per_template):
                    attribute = with_fragment[int(rng.integers(len(with_fragment)))]
                    value, text = draw(attribute)
                    fragment = fragments[attribute].format(value=text)
                    cases.append(
                        (
                            template.format(fragment=fragment),
                            [Constraint(attribute, (value,), include)],
                            template,
                        )
                    )
        items = [i for i in self.titles if i in self.facts]
        like_but = compound.get("like_but", {})
        for kind, spec in like_but.items():
            for template in spec.get("train", []):
                for _ in range(per_template if items else 0):
                    item = items[int(rng.integers(len(items)))]
                    held = self.facts[item]
                    title = f'"{self.titles[item]}"'
                    if kind == "other_platform" and "platform" in by_attribute:
                        value, text = draw("platform")
                        truth = [Constraint("platform", (value,))]
                    elif kind == "cheaper" and held.get(PRICE):
                        text, index = "", min(self.tiers.index(t) for t in held[PRICE] if t in self.tiers)
                        truth = [Constraint(PRICE, tuple(sorted(self.tiers[:index] or self.tiers[:1])))]
                    elif kind == "other_series" and held.get(FRANCHISE):
                        value = held[FRANCHISE][0]
                        text = next((t for v, t in by_attribute.get(FRANCHISE, []) if v == value), value)
                        truth = [Constraint(FRANCHISE, (value,), False)]
                    else:
                        continue
                    kept = [Constraint(a, tuple(held[a])) for a in self.keep if held.get(a)]
                    cases.append((template.format(title=title, value=text), truth + kept, template))
        return cases

    def tune_thresholds(
        self, per_template: int = 3, seed: int = 0, margin: float = 0.01
    ) -> tuple[float, float]:
        """The encoder's two thresholds (margin, content similarity), from TRAIN phrasings only.

        Each template group (the single requests of one attribute, pairs, negations, ...) is parsed as
        if its wordings were new: its templates' words, value phrases and value-free phrases are left
        out. Every unit that reaches the encoder is scored; in each view, a best value the request does
        not ask for (on an attribute its words do not name) is a wrong match. Each threshold is just
        above the best wrong match of its view, so that no train request gets a wrong value from the
        encoder (the margin never below 0). As in :meth:`_accept`, the margin counts only where the two
        views name the same class.
        """
        cases = self.train_cases(per_template, seed)
        groups = self._train_templates()
        group_of = {t: g for g, templates in groups.items() for t in templates}
        generic = self.generic
        scored: list[tuple[str, str, bool, float, float]] = []  # (group, unit, margin right, ...)
        wrong: tuple[list[float], list[float]] = ([-np.inf], [-np.inf])
        right: tuple[list[float], list[float]] = ([], [])
        try:
            for group, templates in groups.items():
                mine = [case for case in cases if group_of.get(case[2]) == group]
                if not mine:
                    continue
                self.generic = frozenset(_GENERIC | self._template_words(leave_out=group))
                turns = [self._analyse(text) for text, _, _ in mine]
                units = [(i, u) for i, turn in enumerate(turns) for u in turn.units]
                results = self._matches([u for _, u in units], [templates] * len(units))
                for (i, unit), (c, score, c_content, similarity) in zip(units, results):
                    named = {a for a, _, _ in turns[i].literal}
                    for view, (cls, value_score) in enumerate(((c, score), (c_content, similarity))):
                        if view == 0 and c != c_content:
                            continue  # the margin alone never decides
                        attribute, value = self.classes[cls]
                        if attribute in named:
                            continue  # the parse never lets the encoder add to an attribute the words name
                        truth = mine[i][1]
                        fits = any(
                            t.attribute == attribute and value in t.values and t.include != unit.negated
                            for t in truth
                        ) or (
                            attribute == RELATION and any(t.attribute == PRICE and t.include for t in truth)
                        )
                        (right if fits else wrong)[view].append(value_score)
                    scored.append((group, unit.text, unit.content, score, similarity))
        finally:
            self.generic = generic
        self.train_scores = {
            "margin_wrong_max": float(max(wrong[0])),
            "margin_right_max": float(max(right[0], default=np.nan)),
            "content_wrong_max": float(max(wrong[1])),
            "content_right_max": float(max(right[1], default=np.nan)),
            "units": float(len(scored)),
        }
        self._train_units = scored
        return max(0.0, float(max(wrong[0])) + margin), float(max(wrong[1])) + margin


def parser_pipeline(
    parsed: Sequence[ParsedRequest],
    scores: np.ndarray,
    index: HolderIndex,
    histories: Sequence[Sequence[str]],
    k: int = 10,
) -> list[list[str]]:
    """The classic pipeline: each request's recommender ``scores`` over ``index.item_ids`` (its user's
    history plus reference item, computed by the caller) restricted to the items meeting the parsed
    constraints; the plain ranking when the parse found nothing or no item outside the history meets
    it. History items (and the reference item) are never recommended."""
    scores = np.asarray(scores, dtype=np.float32)
    if len(parsed) != len(scores) or len(histories) != len(scores):
        raise ValueError(f"{len(parsed)} parses, {len(histories)} histories and {len(scores)} score rows")
    exclude = [
        [i for i in dict.fromkeys([*history, *([p.reference] if p.reference else [])]) if i in index.row_of]
        for p, history in zip(parsed, histories)
    ]
    allowed = np.ones((len(scores), len(index.item_ids)), dtype=bool)
    for row, (request, blocked) in enumerate(zip(parsed, exclude)):
        if not request.constraints:
            continue
        mask = index.mask(request.constraints)
        mask[[index.row_of[i] for i in blocked]] = False
        if mask.any():
            allowed[row] = mask
    return ranked_ids(scores, index.item_ids, k, exclude, allowed)


def _key(constraint: Constraint) -> tuple[str, frozenset[str], bool]:
    return constraint.attribute, frozenset(constraint.values), constraint.include


def parse_accuracy(
    parsed: Sequence[ParsedRequest | Sequence[Constraint]],
    true_constraints: Sequence[Sequence[Constraint]],
    true_references: Sequence[str | None] | None = None,
) -> dict[str, float]:
    """How well parses match the truth: ``exact`` (the same set of constraints, values compared as
    sets), ``found`` (every true constraint among the parsed), ``spurious`` (a parsed constraint that is
    not true), and ``reference`` (the reference item right) when ``true_references`` is given."""
    if len(parsed) != len(true_constraints):
        raise ValueError(f"{len(parsed)} parses for {len(true_constraints)} truths")
    exact = found = spurious = 0
    for got, truth in zip(parsed, true_constraints):
        constraints = got.constraints if isinstance(got, ParsedRequest) else got
        got_keys, true_keys = {_key(c) for c in constraints}, {_key(c) for c in truth}
        exact += got_keys == true_keys
        found += true_keys <= got_keys
        spurious += bool(got_keys - true_keys)
    n = max(len(parsed), 1)
    result = {
        "requests": float(len(parsed)),
        "exact": exact / n,
        "found": found / n,
        "spurious": spurious / n,
    }
    if true_references is not None:
        refs = [p.reference if isinstance(p, ParsedRequest) else None for p in parsed]
        result["reference"] = sum(r == t for r, t in zip(refs, true_references)) / n
    return result
