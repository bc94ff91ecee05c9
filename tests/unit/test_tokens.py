import numpy as np
import pytest

from sidrec_lib.tokens import SID_END, SID_START, SidCatalog, format_sid, sid_token

CODES = np.array([[0, 1, 0], [0, 1, 1], [2, 0, 0]])


def catalog() -> SidCatalog:
    return SidCatalog(["a", "b", "c"], CODES)


def test_format_and_parse_round_trip():
    cat = catalog()
    assert (
        cat.sid("b") == "<|sid_start|><|sid_0_0|><|sid_1_1|><|sid_2_1|><|sid_end|>" == format_sid([0, 1, 1])
    )
    text = f"Try {cat.sid('c')} or {cat.sid('a')}, then {cat.sid('c')}."
    parsed = cat.parse(text)
    assert [p.item_id for p in parsed] == ["c", "a", "c"]
    assert all(p.problem is None for p in parsed)
    assert text[parsed[0].start : parsed[0].end] == cat.sid("c")
    assert cat.items_in(text) == ["c", "a"]
    assert cat.render(text, {"a": "Alpha", "c": "Gamma"}) == "Try «Gamma» or «Alpha», then «Gamma»."


def test_tokens_cover_every_level_and_code():
    tokens = catalog().tokens()
    assert tokens[:2] == [SID_START, SID_END]
    assert set(tokens[2:]) == {
        sid_token(0, 0),
        sid_token(0, 1),
        sid_token(0, 2),
        sid_token(1, 0),
        sid_token(1, 1),
        sid_token(2, 0),
        sid_token(2, 1),
    }


@pytest.mark.parametrize(
    "text, problem",
    [
        (format_sid([1, 1, 0]), "unknown"),  # well formed, not in the catalog
        (format_sid([0, 1]), "malformed"),  # too short
        (format_sid([0, 1, 0, 0]), "malformed"),  # too long
        (
            SID_START + sid_token(1, 1) + sid_token(0, 0) + sid_token(2, 0) + SID_END,
            "malformed",
        ),  # level order
        (SID_START + sid_token(0, 0) + sid_token(1, 1), "malformed"),  # never closed
        (sid_token(0, 0) + " stray", "malformed"),  # a code outside any SID
    ],
)
def test_bad_sids_are_reported_never_mapped(text, problem):
    parsed = catalog().parse(text)
    assert parsed and all(p.item_id is None for p in parsed)
    assert parsed[0].problem == problem
    assert "SID]" in catalog().render(text, {})


def test_restart_inside_a_sid_keeps_the_second():
    cat = catalog()
    parsed = cat.parse(SID_START + sid_token(0, 0) + cat.sid("a"))
    assert [p.problem for p in parsed] == ["malformed", None] and parsed[1].item_id == "a"


def test_catalog_requires_unique_ids():
    with pytest.raises(ValueError, match="not unique"):
        SidCatalog(["a", "b"], np.array([[0, 1], [0, 1]]))
    with pytest.raises(KeyError, match="'zzz' is not in"):
        catalog().sid("zzz")


def test_lookups_agree_with_the_code_table_at_scale():
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, [40, 40, 3], size=(5000, 3)), axis=0)
    codes = codes[rng.permutation(len(codes))]  # rows in no particular order
    items = [f"i{row}" for row in range(len(codes))]
    cat = SidCatalog(items, codes)
    for row in rng.choice(len(codes), 200, replace=False):
        assert cat.item(codes[row].tolist()) == items[row]
        assert cat.sid(items[row]) == format_sid(codes[row].tolist())
    known = set(map(tuple, codes.tolist()))
    absent = [c for c in map(tuple, rng.integers(0, [40, 40, 3], size=(300, 3)).tolist()) if c not in known]
    assert absent and all(cat.item(c) is None for c in absent)
    # every prefix numbered once per distinct prefix, the same for items that share it
    for d in range(4):
        assert cat.prefix_node[:, d].max() + 1 == len({tuple(c[:d]) for c in codes.tolist()})
    assert cat.rows(["i7", "nope", "i3", "i7"]).tolist() == [3, 7]


@pytest.mark.parametrize("codes", [[0, 1], [0, 1, 0, 0], [0, 9, 0], [-1, 1, 0], [3, 1, 0]])
def test_item_is_none_for_codes_off_the_table(codes):
    assert catalog().item(codes) is None


def test_catalog_rejects_empty_or_negative_codes():
    with pytest.raises(ValueError, match="one row of codes"):
        SidCatalog([], np.zeros((0, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        SidCatalog(["a"], np.array([[0, -2]]))
