import pytest

from sidrec_lib.sources import SourceError, find_layout, read_amazon_layout
from tests.conftest import write_jsonl


def item(asin, title="A thing", **extra):
    return {
        "parent_asin": asin,
        "title": title,
        "store": "Acme",
        "categories": ["Top", "Sub"],
        "details": {"Colour": "red"},
        "description": ["Line one.", "Line two."],
        "price": "9.99",
        **extra,
    }


def review(user, asin, ts):
    return {"user_id": user, "parent_asin": asin, "timestamp": ts, "rating": 5.0}


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_reads_plain_and_gzip(tmp_path, suffix):
    write_jsonl(tmp_path / f"meta_Toys{suffix}", [item("I1"), item("I2", title="Other")])
    write_jsonl(tmp_path / f"Toys{suffix}", [review("u1", "I1", 1000), review("u1", "I2", 2000)])
    data = read_amazon_layout(tmp_path)
    assert data.category == "Toys"
    assert list(data.items.item_id) == ["I1", "I2"]
    assert data.items.price.tolist() == [9.99, 9.99]
    assert data.items.description[0] == "Line one.\nLine two."
    assert list(data.interactions.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert data.interactions.timestamp.tolist() == [1000, 2000]


def test_bad_records_are_counted_not_fatal(tmp_path):
    write_jsonl(
        tmp_path / "meta_Toys.jsonl",
        [item("I1"), "{not json", "[1, 2]", {"title": "no id"}, item("I1", title="dup"), "", item("I2")],
    )
    write_jsonl(
        tmp_path / "Toys.jsonl.gz",
        [
            review("u1", "I1", 1),
            "garbage",
            {"parent_asin": "I1", "timestamp": 5},
            review("u2", "NOPE", 3),
            {"user_id": "u3", "parent_asin": "I2", "timestamp": "yesterday"},
            review("u2", "I2", 4),
        ],
    )
    data = read_amazon_layout(tmp_path)
    meta, reviews = data.reports
    assert (meta.lines, meta.kept, meta.malformed, meta.missing_fields, meta.duplicate_items, meta.blank) == (
        7,
        2,
        2,
        1,
        1,
        1,
    )
    assert (reviews.kept, reviews.malformed, reviews.missing_fields, reviews.unknown_item) == (2, 1, 2, 1)
    assert data.items.set_index("item_id").title["I1"] == "A thing"  # the first record of a repeated id wins
    assert any("line 2" in e for e in meta.examples)
    table = data.report_table()
    assert table.loc["Toys.jsonl.gz", "unknown_item"] == 1


def test_empty_file_is_a_clear_error(tmp_path):
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item("I1")])
    (tmp_path / "Toys.jsonl").write_text("")
    with pytest.raises(SourceError, match=r"Toys\.jsonl is empty"):
        read_amazon_layout(tmp_path)


def test_file_without_valid_records_is_a_clear_error(tmp_path):
    write_jsonl(tmp_path / "meta_Toys.jsonl", ["nope", "{}"])
    write_jsonl(tmp_path / "Toys.jsonl", [review("u1", "I1", 1)])
    with pytest.raises(SourceError, match="no valid item record"):
        read_amazon_layout(tmp_path)


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(SourceError, match=r"meta_<Category>\.jsonl\[\.gz\]"):
        find_layout(tmp_path)
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item("I1")])
    with pytest.raises(SourceError, match=r"Missing .*Toys\.jsonl\[\.gz\]"):
        find_layout(tmp_path)
    with pytest.raises(SourceError, match="does not exist"):
        find_layout(tmp_path / "nowhere")


def test_several_categories_need_a_name(tmp_path):
    for cat in ("A", "B"):
        write_jsonl(tmp_path / f"meta_{cat}.jsonl", [item("I1")])
        write_jsonl(tmp_path / f"{cat}.jsonl", [review("u", "I1", 1)])
    with pytest.raises(SourceError, match="several categories"):
        find_layout(tmp_path)
    assert find_layout(tmp_path, "B")[0] == "B"


def test_truncated_gzip_is_a_clear_error(tmp_path):
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item("I1")])
    path = write_jsonl(tmp_path / "Toys.jsonl.gz", [review("u1", "I1", t) for t in range(2000)])
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(SourceError, match="Cannot read"):
        read_amazon_layout(tmp_path)
