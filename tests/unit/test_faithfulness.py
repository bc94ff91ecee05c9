"""Explanation faithfulness: claims read from template replies and paraphrases, each checked."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from sidrec_lib.faithfulness import (
    SID_MARKERS,
    Claim,
    ExplanationChecker,
    faithfulness,
    value_texts,
)
from sidrec_lib.phrasings import explain_answer, load_phrasings
from sidrec_lib.tokens import SID_END, SID_START, SidCatalog, format_sid, sid_token

FACTS = {
    "T": {
        "platform": ["Xbox 360"],
        "genre": ["Horror"],
        "franchise": ["Feral Infection"],
        "price_tier": ["Budget"],
        "multiplayer": ["Yes"],
    },
    "H1": {
        "platform": ["Xbox 360"],
        "genre": ["Horror"],
        "franchise": ["Feral Infection"],
        "price_tier": ["Standard"],
        "multiplayer": ["Yes"],
    },
    "H2": {
        "platform": ["PlayStation 3"],
        "genre": ["Horror", "Shooter"],
        "price_tier": ["Budget"],
        "multiplayer": ["No"],
    },
    "H3": {
        "platform": ["PlayStation 4"],
        "genre": ["Role-Playing"],
        "franchise": ["Eldis"],
        "price_tier": ["Premium"],
        "multiplayer": ["No"],
    },
    "P": {
        "platform": ["PlayStation 4"],
        "genre": ["Role-Playing"],
        "franchise": ["Eldis"],
        "price_tier": ["Premium"],
        "multiplayer": ["Yes"],
    },
    "O": {"platform": ["PC"], "genre": ["Horror"], "price_tier": ["Budget"], "multiplayer": ["Yes"]},
    "M": {
        "platform": ["Wii"],
        "genre": ["Music & Rhythm"],
        "price_tier": ["Premium"],
        "multiplayer": ["Yes"],
    },
    "Q": {"platform": ["PC"], "genre": ["Strategy"], "price_tier": ["Standard"], "multiplayer": ["No"]},
}
TITLES = {
    "T": "Feral Infection 3 - Xbox 360",
    "H1": "Feral Infection 2 - Xbox 360",
    "H2": "Night Shift - PlayStation 3",
    "H3": "Eldis 12 (PlayStation 4)",
    "P": "Eldis 13 (PlayStation 4)",
    "O": "Outsider - PC",
    "M": "Drum Party. Wii Edition",
    "Q": "Quiet Tactics - PC",
}


@pytest.fixture(scope="module")
def phrasings() -> dict:
    return load_phrasings()


def steerable_of(facts: dict, phrasings: dict) -> pd.DataFrame:
    """A steerable table as attributes.steerable_attributes builds it (without the min_items cut)."""
    rows = []
    for item, by_attribute in facts.items():
        for attribute, values in by_attribute.items():
            spec = phrasings["requests"][attribute]
            renames = spec.get("values", {})
            for value in values:
                if spec.get("only_values") and value not in renames:
                    continue
                text = renames.get(value, value.lower() if spec.get("lowercase") else value)
                rows.append((item, attribute, value, text))
    return pd.DataFrame(rows, columns=["item_id", "attribute", "value", "text"])


@pytest.fixture(scope="module")
def texts(phrasings) -> dict:
    return value_texts(steerable_of(FACTS, phrasings), phrasings)


def check(reply: str, item: str, history: list[str], texts: dict, **kwargs) -> list[Claim]:
    return ExplanationChecker(FACTS, TITLES, texts, **kwargs).claims(reply, item, history)


def value(attribute: str, name: str, true: bool = True) -> Claim:
    return Claim("value", true, attribute, name)


def cited(item: str | None, title: str, true: bool = True) -> Claim:
    return Claim("history_item", true, item=item, title=title)


def shared(attribute: str, name: str | None, item: str | None = None, true: bool = True) -> Claim:
    return Claim("shared_value", true, attribute, name, item, TITLES.get(item) if item else None)


def like(attribute: str, name: str, item: str) -> list[Claim]:
    """The true claims of "it is <name>, like <history item>": the value, the item, the value they share."""
    return [value(attribute, name), cited(item, TITLES[item]), shared(attribute, name, item)]


def test_value_texts_use_request_texts_clause_words_and_synonyms(texts):
    assert texts["genre"]["Horror"] == ["Horror"]  # the request's "horror" is the same text
    assert texts["genre"]["Role-Playing"] == ["Role-Playing"]
    assert texts["genre"]["Music & Rhythm"] == ["Music & Rhythm", "rhythm"]
    assert texts["price_tier"]["Budget"][:3] == ["cheap", "budget", "inexpensive"]
    assert texts["price_tier"]["Premium"][:3] == ["premium", "premium pick", "pricey"]
    assert texts["multiplayer"]["Yes"][:2] == ["multiplayer", "played with others"]
    assert set(texts["price_tier"]) == {"Budget", "Premium"}  # "Standard" is never a word of a reply
    assert set(texts["multiplayer"]) == {"Yes"}  # nor is "No"
    assert texts["platform"]["PlayStation 3"] == ["PlayStation 3"]


def test_template_reply_claims_are_read_and_true(texts, phrasings):
    reply = explain_answer("T", ["H2", "H1"], FACTS, TITLES, phrasings["explanations"])
    assert reply == (
        'It continues the Feral Infection series, like "Feral Infection 2 - Xbox 360" in your history, '
        'and it is a Horror game, like "Feral Infection 2 - Xbox 360" and "Night Shift - PlayStation 3" '
        "in your history."
    )
    assert check(reply, "T", ["H2", "H1"], texts) == [
        value("franchise", "Feral Infection"),
        cited("H1", TITLES["H1"]),
        shared("franchise", "Feral Infection", "H1"),
        value("genre", "Horror"),
        shared("genre", "Horror", "H1"),  # the repeated history claim for H1 is counted once
        cited("H2", TITLES["H2"]),
        shared("genre", "Horror", "H2"),
    ]


def test_wrong_platform_is_caught(texts):
    reply = "It runs on PlayStation 3, which you play on."
    assert check(reply, "T", ["H1"], texts) == [
        value("platform", "PlayStation 3", False),
        shared("platform", "PlayStation 3", None, False),  # no history item runs on it either
    ]
    assert check(reply, "T", ["H1", "H2"], texts) == [
        value("platform", "PlayStation 3", False),
        shared("platform", "PlayStation 3", None, True),
    ]


def test_title_not_in_history_is_caught(texts):
    reply = 'It is a horror game, like "Outsider - PC" in your history.'
    assert check(reply, "T", ["H1"], texts) == [
        value("genre", "Horror"),
        cited("O", "Outsider - PC", False),
        shared("genre", "Horror", "O"),  # the item named is a horror game, but not the user's
    ]
    assert check('People who bought "Nowhere Game" often buy it next.', "T", ["H1"], texts) == [
        cited(None, "Nowhere Game", False)
    ]


def test_genre_the_item_lacks_is_caught(texts):
    reply = 'It is a Role-Playing game, like "Feral Infection 2 - Xbox 360" in your history.'
    assert check(reply, "T", ["H1"], texts) == [
        value("genre", "Role-Playing", False),
        cited("H1", TITLES["H1"]),
        shared("genre", "Role-Playing", "H1", False),
    ]


def test_longest_value_text_wins(texts):
    with_family = {**texts, "platform": {**texts["platform"], "PlayStation": ["PlayStation"]}}
    assert check("It runs on PlayStation 4, which you play on.", "P", ["H3"], with_family) == [
        value("platform", "PlayStation 4"),
        shared("platform", "PlayStation 4"),
    ]
    assert check("It runs on PlayStation 3, which you play on.", "P", ["H3"], with_family) == [
        value("platform", "PlayStation 3", False),
        shared("platform", "PlayStation 3", None, False),
    ]
    assert check("It runs on PlayStation.", "P", ["H3"], with_family) == [
        value("platform", "PlayStation", False)
    ]


def test_longest_overlapping_text_wins_even_when_it_starts_later():
    facts = {"S": {"franchise": ["Star Wars Saga"], "brand": ["Blue Star"]}}
    texts = {"brand": {"Blue Star": ["Blue Star"]}, "franchise": {"Star Wars Saga": ["Star Wars Saga"]}}
    assert ExplanationChecker(facts, {}, texts).claims(
        "It continues the Blue Star Wars Saga series.", "S", []
    ) == [Claim("value", True, "franchise", "Star Wars Saga")]


def test_fallback_claims_the_title_is_in_the_history(texts, phrasings):
    reply = explain_answer("P", ["H2"], FACTS, TITLES, phrasings["explanations"])
    assert reply == 'People who bought "Night Shift - PlayStation 3" often buy it next.'
    assert check(reply, "P", ["H2"], texts) == [cited("H2", TITLES["H2"])]
    assert check(reply, "P", ["H1"], texts) == [cited("H2", TITLES["H2"], False)]


def test_paraphrases_are_read(texts):
    reply = 'This one is also a horror title, just like "Feral Infection 2 - Xbox 360".'
    assert check(reply, "T", ["H1"], texts) == like("genre", "Horror", "H1")
    reply = (
        "Same series as \u201cFeral Infection 2 - Xbox 360\u201d; it is budget-friendly and fun to play "
        "with friends. Great on Xbox 360 too!"
    )
    assert check(reply, "T", ["H1", "H3"], texts) == [
        cited("H1", TITLES["H1"]),
        shared("franchise", None, "H1"),  # "same series": they share a franchise
        value("price_tier", "Budget"),
        value("multiplayer", "Yes"),
        value("platform", "Xbox 360"),
    ]
    # A title with a full stop inside and a value named in it: neither splits nor claims.
    reply = 'It is a rhythm game, like "Drum Party. Wii Edition".'
    assert check(reply, "M", ["M"], texts) == like("genre", "Music & Rhythm", "M")


def test_the_recommended_item_named_is_the_subject_not_a_claim(texts):
    reply = '"Feral Infection 3 - Xbox 360" is cheap, like "Night Shift - PlayStation 3".'
    assert check(reply, "T", ["H2"], texts) == like("price_tier", "Budget", "H2")


def explain_replies(phrasings: dict) -> list[dict]:
    """Every reply explain_answer gives for each item after each ordered history of up to three others."""
    rows = []
    for target in FACTS:
        others = [item for item in FACTS if item != target]
        for size in (1, 2, 3):
            for history in itertools.permutations(others, size):
                reply = explain_answer(target, list(history), FACTS, TITLES, phrasings["explanations"])
                rows.append({"reply": reply, "item_id": target, "history": list(history)})
    return rows


def test_every_template_reply_checks_out(texts, phrasings):
    rows = explain_replies(phrasings)
    checker = ExplanationChecker(FACTS, TITLES, texts)
    named = set()
    for row in rows:
        claims = checker.claims(row["reply"], row["item_id"], row["history"])
        assert claims and all(claim.true for claim in claims), (row, claims)
        named |= {(claim.attribute, claim.value) for claim in claims if claim.kind == "value"}
    # Every clause of the templates was exercised.
    assert {attribute for attribute, _ in named} == {
        "franchise",
        "genre",
        "platform",
        "multiplayer",
        "price_tier",
    }
    assert {("price_tier", "Budget"), ("price_tier", "Premium")} <= named
    summary = faithfulness(rows, FACTS, TITLES, texts)
    assert summary["replies"] == len(rows) == 8 * (7 + 42 + 210)
    assert summary["true_share"] == 1.0
    assert summary["true_share_by_kind"] == {"value": 1.0, "history_item": 1.0, "shared_value": 1.0}
    assert summary["with_false_claim"] == summary["without_claims"] == summary["with_bad_sid"] == 0.0
    # Explaining another item with the same words is caught.
    swapped = [dict(row, item_id="H3" if row["item_id"] == "T" else row["item_id"]) for row in rows]
    assert faithfulness(swapped, FACTS, TITLES, texts)["with_false_claim"] > 0


def test_brand_and_quoted_keyword(phrasings):
    facts = {
        "D": {"brand": ["Acme"], "keyword": ["drill", "series"]},
        "E": {"brand": ["Acme"], "keyword": ["drill", "series"]},
        "F": {"brand": ["Bolt"], "keyword": ["socket"]},
    }
    titles = {"D": "Acme Drill Series 7", "E": 'Acme 12" Drill Series 5', "F": 'Bolt 3/8" Socket'}
    steerable = pd.DataFrame(
        [(item, attribute, v, v) for item, f in facts.items() for attribute, vs in f.items() for v in vs],
        columns=["item_id", "attribute", "value", "text"],
    )
    texts = value_texts(steerable, phrasings)
    assert texts["keyword"] == {"drill": ["drill"], "series": ['"series"'], "socket": ["socket"]}
    reply = explain_answer("D", ["F", "E"], facts, titles, phrasings["explanations"])
    assert reply == (
        'It is made by Acme, like "Acme 12" Drill Series 5" in your history, and its title also says '
        '"drill", like "Acme 12" Drill Series 5".'
    )
    claims = ExplanationChecker(facts, titles, texts).claims(reply, "D", ["F", "E"])
    assert claims == [
        Claim("value", True, "brand", "Acme"),
        Claim("history_item", True, item="E", title=titles["E"]),
        Claim("shared_value", True, "brand", "Acme", "E", titles["E"]),
        Claim("value", True, "keyword", "drill"),
        Claim("shared_value", True, "keyword", "drill", "E", titles["E"]),
    ]
    # "series" names the keyword only when quoted.
    reply = 'Its title also says "series", like "Bolt 3/8" Socket", a series you like.'
    assert ExplanationChecker(facts, titles, texts).claims(reply, "D", ["F"]) == [
        Claim("value", True, "keyword", "series"),
        Claim("history_item", True, item="F", title=titles["F"]),
        Claim("shared_value", False, "keyword", "series", "F", titles["F"]),
    ]


def sid_catalog() -> SidCatalog:
    items = list(FACTS)
    return SidCatalog(items, np.array([[i // 4, i % 4, 0] for i in range(len(items))]))


def test_sid_markers_are_those_render_writes():
    catalog = sid_catalog()
    malformed = SID_START + sid_token(0, 0) + SID_END
    assert catalog.render(malformed, TITLES) == SID_MARKERS["malformed"]
    assert catalog.render(format_sid([3, 3, 3]), TITLES) == SID_MARKERS["unknown"]


def test_sids_are_cited_items_and_bad_ones_are_counted(texts):
    catalog = sid_catalog()
    broken = SID_START + sid_token(0, 0) + SID_END
    rows = [
        {"reply": f"It is a horror game, like {catalog.sid('H1')}.", "item_id": "T", "history": ["H1"]},
        {"reply": f"People who bought {broken} often buy it next.", "item_id": "T", "history": ["H1"]},
        {"reply": "Great pick!", "item_id": "T", "history": ["H1"]},
        {"reply": "It runs on PlayStation 4, which you play on.", "item_id": "T", "history": ["H1"]},
    ]
    assert check(rows[0]["reply"], "T", ["H1"], texts, catalog=catalog) == [
        value("genre", "Horror"),
        cited("H1", TITLES["H1"]),
        shared("genre", "Horror", "H1"),
    ]
    assert check(rows[1]["reply"], "T", ["H1"], texts, catalog=catalog) == [cited(None, broken, False)]
    summary = faithfulness(rows, FACTS, TITLES, texts, catalog)
    assert summary["replies"] == 4 and summary["claims"] == 3 + 1 + 2
    assert summary["true_share"] == 3 / 6
    assert summary["true_share_by_kind"] == {"value": 1 / 2, "history_item": 1 / 2, "shared_value": 1 / 2}
    assert summary["with_false_claim"] == 2 / 4
    assert summary["without_claims"] == 1 / 4
    assert summary["with_bad_sid"] == 1 / 4
    # The same replies rendered: no catalog needed, the marker is counted and cited.
    rendered = [dict(row, reply=catalog.render(row["reply"], TITLES)) for row in rows]
    assert rendered[1]["reply"] == f"People who bought {SID_MARKERS['malformed']} often buy it next."
    assert faithfulness(rendered, FACTS, TITLES, texts) == summary
    with pytest.raises(ValueError, match="raw SID"):
        faithfulness(rows, FACTS, TITLES, texts)


def test_nothing_to_check_gives_nan():
    summary = faithfulness([], FACTS, TITLES, {})
    assert summary["replies"] == summary["claims"] == 0
    assert math.isnan(summary["true_share"]) and math.isnan(summary["with_bad_sid"])
