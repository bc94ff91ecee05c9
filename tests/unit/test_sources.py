import gzip
import io
import json
import urllib.error
import urllib.request
import zlib

import pandas as pd
import pytest

from sidrec_lib.presets import get_preset
from sidrec_lib.sources import SourceError, download_amazon2023, find_layout, load_source, read_amazon_layout
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


def skipped(report):
    """Lines skipped for any reason; with ``kept`` they make up every line read."""
    kinds = ("blank", "malformed", "missing_fields", "bad_timestamp", "duplicate_items", "unknown_item")
    return sum(getattr(report, kind) for kind in kinds)


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "stamp, kind",
    [
        ("NaN", "bad_timestamp"),
        ("Infinity", "bad_timestamp"),
        ("-Infinity", "bad_timestamp"),
        ("1e400", "bad_timestamp"),
        (str(2**64), "bad_timestamp"),
        ("-5", "bad_timestamp"),
        ("1" * 5000, "malformed"),
        (DEEP, "malformed"),
    ],
)
def test_a_bad_timestamp_skips_only_its_line(tmp_path, stamp, kind):
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item("I1"), item("I2")])
    bad = f'{{"user_id": "u1", "parent_asin": "I1", "timestamp": {stamp}, "rating": 5.0}}'
    write_jsonl(tmp_path / "Toys.jsonl", [review("u1", "I1", 1000), bad, review("u1", "I2", 2000)])
    data = read_amazon_layout(tmp_path)
    reviews = data.reports[1]
    assert data.interactions.timestamp.tolist() == [1000, 2000]
    assert (getattr(reviews, kind), reviews.kept, reviews.lines) == (1, 2, reviews.kept + skipped(reviews))
    assert any(e.startswith("line 2:") for e in reviews.examples)


@pytest.mark.parametrize(
    "price, kind",
    [
        ("NaN", "bad_values"),
        ("Infinity", "bad_values"),
        ("1e400", "bad_values"),
        (str(10**400), "bad_values"),
        ('"n/a"', "bad_values"),
        ("true", "bad_values"),
        ("1" * 5000, "malformed"),
        (DEEP, "malformed"),
    ],
)
def test_a_bad_price_never_stops_the_items_file(tmp_path, price, kind):
    bad = f'{{"parent_asin": "I2", "title": "Odd", "price": {price}}}'
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item("I1"), bad, item("I3")])
    write_jsonl(tmp_path / "Toys.jsonl", [review("u1", "I1", 1000)])
    data = read_amazon_layout(tmp_path)
    meta = data.reports[0]
    assert getattr(meta, kind) == 1 and meta.lines == meta.kept + skipped(meta)
    assert any(e.startswith("line 2:") for e in meta.examples)
    if kind == "bad_values":  # the record is kept, without its price
        assert data.items.set_index("item_id").price.isna().tolist() == [False, True, False]
        assert "price" in meta.examples[0]
    else:
        assert list(data.items.item_id) == ["I1", "I3"]


def test_values_nested_near_the_json_limit_never_stop_the_reader(tmp_path):
    deep = [f'{{"parent_asin": "N{d}", "title": {"[" * d + "1" + "]" * d}}}' for d in range(900, 1100, 5)]
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item("I1"), *deep])
    write_jsonl(tmp_path / "Toys.jsonl", [review("u1", "I1", 1000)])
    meta = read_amazon_layout(tmp_path).reports[0]
    assert meta.lines == meta.kept + skipped(meta) == len(deep) + 1


def gzip_with_damaged_stream() -> bytes:
    text = "".join(json.dumps(review(f"u{t % 7}", "I1", t)) + "\n" for t in range(2000))
    data = bytearray(gzip.compress(text.encode(), mtime=0))
    data[100:108] = bytes(b ^ 0xFF for b in data[100:108])  # inside the deflate stream, past the header
    return bytes(data)


@pytest.mark.parametrize("content", ["damaged", "not gzip"])
def test_damaged_gzip_is_a_clear_error(tmp_path, content):
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item("I1")])
    body = gzip_with_damaged_stream() if content == "damaged" else b'{"user_id": "u1"}\n'
    with pytest.raises(zlib.error if content == "damaged" else gzip.BadGzipFile):
        gzip.decompress(body)
    (tmp_path / "Toys.jsonl.gz").write_bytes(body)
    with pytest.raises(SourceError, match=r"Cannot read .*Toys\.jsonl\.gz: .*re-download or re-create it"):
        read_amazon_layout(tmp_path)


def test_timestamp_units_are_told_by_range(tmp_path):
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item("I1"), item("I2"), item("I3")])
    write_jsonl(
        tmp_path / "Toys.jsonl",
        [
            review("u1", "I1", 1_475_280_000),  # seconds
            review("u1", "I2", 1_475_280_000_500),  # milliseconds, half a second later
            review("u1", "I3", 1_475_280_001.25),  # seconds, with a fraction
            review("u2", "I1", 1000),  # neither: a small synthetic stamp, kept
            review("u2", "I2", 10**15),  # neither, kept
            review("u2", "I3", -1),  # negative: skipped
        ],
    )
    data = read_amazon_layout(tmp_path)
    reviews = data.reports[1]
    assert data.interactions.timestamp.tolist() == [
        1_475_280_000_000,
        1_475_280_000_500,
        1_475_280_001_250,
        1000,
        10**15,
    ]
    assert (reviews.timestamps_in_seconds, reviews.odd_timestamps, reviews.bad_timestamp) == (2, 2, 1)
    assert any(e.startswith("line 1:") and "seconds" in e for e in reviews.examples)
    assert any(e.startswith("line 6:") for e in reviews.examples)
    assert data.report_table().loc["Toys.jsonl", "timestamps_in_seconds"] == 2


def test_ids_are_stripped_before_they_are_compared(tmp_path):
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item(" I1"), item("I1", title="dup"), item("I2 ")])
    write_jsonl(
        tmp_path / "Toys.jsonl",
        [review(" u1", "I1 ", 1000), review("u1", " I2", 2000), review("   ", "I1", 3000)],
    )
    data = read_amazon_layout(tmp_path)
    meta, reviews = data.reports
    assert list(data.items.item_id) == ["I1", "I2"] and meta.duplicate_items == 1
    assert data.items.title.tolist() == ["A thing", "A thing"]
    assert data.interactions[["user_id", "item_id"]].values.tolist() == [["u1", "I1"], ["u1", "I2"]]
    assert (reviews.unknown_item, reviews.missing_fields) == (0, 1)


def test_altered_values_are_counted_and_the_records_kept(tmp_path):
    (tmp_path / "meta_Toys.jsonl").write_bytes(
        b"\n".join(
            [
                json.dumps(item("I1")).encode(),
                b'{"parent_asin": "I2", "title": "Caf\xe9 set"}',  # Latin-1, not UTF-8
                json.dumps(item("I3", price="n/a", categories="Toys", details=["red"])).encode(),
            ]
        )
        + b"\n"
    )
    write_jsonl(
        tmp_path / "Toys.jsonl",
        [review("u1", "I1", 1000), {**review("u1", "I2", 2000), "rating": "five"}, review("u1", "I3", 3000)],
    )
    data = read_amazon_layout(tmp_path)
    meta, reviews = data.reports
    items = data.items.set_index("item_id")
    assert items.title["I2"] == "Caf\ufffd set"
    assert pd.isna(items.price["I3"]) and (items.categories["I3"], items.details["I3"]) == ([], "{}")
    assert (meta.kept, meta.replaced_bytes, meta.bad_values) == (3, 1, 3)
    assert any(e.startswith("line 2:") and "UTF-8" in e for e in meta.examples)
    for name in ("price", "categories", "details"):
        assert any(e.startswith("line 3:") and name in e for e in meta.examples)
    assert data.interactions.rating.isna().tolist() == [False, True, False]
    assert reviews.bad_values == 1
    assert any(e.startswith("line 2:") and "rating" in e for e in reviews.examples)


def test_plain_and_gzip_copies_of_one_file_are_refused(tmp_path):
    write_jsonl(tmp_path / "meta_Toys.jsonl", [item("I1")])
    write_jsonl(tmp_path / "meta_Toys.jsonl.gz", [item("I2")])
    write_jsonl(tmp_path / "Toys.jsonl", [review("u1", "I1", 1000)])
    with pytest.raises(SourceError, match=r"meta_Toys\.jsonl\.gz and .*meta_Toys\.jsonl exist.*remove one"):
        find_layout(tmp_path)


def no_network(*args, **kwargs):
    raise urllib.error.URLError("no network in unit tests")


@pytest.mark.parametrize(
    "category", ["../../outside", "ABSOLUTE", "", ".hidden", "a/b", "a\\b", "Toys/../.."]
)
def test_category_names_cannot_leave_the_data_folder(tmp_path, monkeypatch, category):
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    if category == "ABSOLUTE":
        category = str(tmp_path / "outside")
    data_dir = tmp_path / "data" / "here"
    with pytest.raises(SourceError, match="amazon2023:Video_Games"):
        load_source(get_preset("ci", {"dataset": f"amazon2023:{category}"}), data_dir)
    assert list(tmp_path.iterdir()) == []


def test_files_already_in_place_are_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    target = tmp_path / "raw" / "amazon2023" / "Toys.And-Games_2"
    target.mkdir(parents=True)
    write_jsonl(target / "meta_Toys.And-Games_2.jsonl", [item("I1")])  # placed by hand, not gzipped
    write_jsonl(target / "Toys.And-Games_2.jsonl.gz", [review("u1", "I1", 1000)])
    data = load_source(get_preset("ci", {"dataset": "amazon2023:Toys.And-Games_2"}), tmp_path)
    assert list(data.items.item_id) == ["I1"] and len(data.interactions) == 1


def test_builtin_stores_with_other_knobs_get_their_own_folder(tmp_path):
    sizes = {"builtin.n_items": 60, "builtin.n_users": 40, "builtin.seed": 2}
    plain = load_source(get_preset("ci", sizes), tmp_path)
    tweaked = load_source(get_preset("ci", {**sizes, "builtin.accessory_share": 0.3}), tmp_path)
    folders = sorted(p.name for p in (tmp_path / "raw").iterdir())
    assert folders[0] == "builtin-60items-40users-seed2"
    assert len(folders) == 2 and folders[1].startswith("builtin-60items-40users-seed2-")
    accessories = [(data.items.categories.str[2] == "Accessories").sum() for data in (plain, tweaked)]
    assert accessories == [6, 18]  # a tenth by default, then 0.3 of the 60 items


class FakeResponse:
    """What ``urlopen`` returns: a body read in blocks, and headers."""

    def __init__(self, body: bytes, content_length: int | None):
        self.body = io.BytesIO(body)
        self.headers = {} if content_length is None else {"Content-Length": str(content_length)}

    def read(self, size: int = -1) -> bytes:
        return self.body.read(size)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def serve(monkeypatch, body: bytes, content_length: int | None):
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda url, timeout=None: FakeResponse(body, content_length)
    )


META_GZ = gzip.compress(json.dumps(item("I1")).encode() + b"\n", mtime=0)


@pytest.mark.parametrize(
    "body, content_length",
    [
        (META_GZ[:-10], len(META_GZ)),  # fewer bytes than announced
        (META_GZ[:-10], None),  # no length announced, gzip stream cut short
        (gzip_with_damaged_stream(), None),
        (b"", None),
    ],
)
def test_a_cut_short_download_is_never_kept(tmp_path, monkeypatch, body, content_length):
    serve(monkeypatch, body, content_length)
    with pytest.raises(SourceError, match=r"meta_Toys\.jsonl\.gz.*nothing was kept"):
        download_amazon2023("Toys", tmp_path)
    assert list((tmp_path / "amazon2023" / "Toys").iterdir()) == []


def test_a_whole_download_is_kept(tmp_path, monkeypatch):
    serve(monkeypatch, META_GZ, len(META_GZ))
    target = download_amazon2023("Toys", tmp_path)
    assert sorted(p.name for p in target.iterdir()) == ["Toys.jsonl.gz", "meta_Toys.jsonl.gz"]
    assert (target / "meta_Toys.jsonl.gz").read_bytes() == META_GZ
