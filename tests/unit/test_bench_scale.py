"""The generated catalog of benchmarks/bench_scale.py, at a tiny size: what the reader and prepare see."""

import gzip
import importlib.util
import json
import sys

import numpy as np
import pytest

from sidrec_lib.prepare import prepare
from sidrec_lib.presets import PrepareConfig
from sidrec_lib.sources import read_amazon_layout
from tests.conftest import ROOT

N_ITEMS, N_USERS = 60, 400


def _bench():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalog")
    return folder, bench.write_catalog(folder, N_ITEMS, N_USERS, seed=1)


def test_every_record_reads_cleanly(catalog):
    folder, counts = catalog
    assert counts["items"] == N_ITEMS and counts["users"] == N_USERS
    assert counts["reviews"] >= N_USERS  # every user has at least one review
    data = read_amazon_layout(folder)
    assert data.category == bench.CATEGORY
    table = data.report_table()
    assert table.lines.tolist() == [N_ITEMS, counts["reviews"]]
    assert (table.kept == table.lines).all()
    assert not table.drop(columns=["lines", "kept"]).to_numpy().any()  # nothing skipped or altered
    assert data.items.item_id.is_unique and len(data.items) == N_ITEMS
    assert data.interactions.user_id.nunique() == N_USERS
    assert data.interactions.user_id.str.fullmatch(r"A[A-Z2-7]{27}").all()
    assert data.items.item_id.str.fullmatch(r"B0\d{8}").all()


def test_items_carry_what_the_reader_keeps(catalog):
    folder, _ = catalog
    items = read_amazon_layout(folder).items
    assert (items.title.str.len() > 0).all() and (items.store.str.len() > 0).all()
    assert items.apply(lambda row: row.title.startswith(row.store + " "), axis=1).all()  # brand first
    assert items.categories.map(lambda c: len(c) == 3 and c[0] == "Video Games").all()
    assert items.main_category.eq("Video Games").all()
    details = items.details.map(json.loads)
    assert details.map(lambda d: {"Release date", "Manufacturer", "Item Weight"} <= set(d)).all()
    assert 0 < items.price.notna().sum() < N_ITEMS  # some prices, some absent, as on Amazon
    assert items.price.dropna().gt(0).all()


def test_reviews_are_amazon_2023_records(catalog):
    folder, counts = catalog
    with gzip.open(folder / bench.REVIEWS_FILENAME, "rt") as f:
        records = [json.loads(line) for line in f]
    assert len(records) == counts["reviews"]
    assert set(records[0]) == {
        "rating", "title", "text", "images", "asin", "parent_asin", "user_id", "timestamp",
        "helpful_vote", "verified_purchase",
    }  # fmt: skip
    stamps = np.array([r["timestamp"] for r in records])
    assert (stamps >= 946_684_800_000).all() and (stamps < 1_704_067_200_000).all()  # 2000 to 2023, in ms
    assert {r["rating"] for r in records} <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_same_arguments_same_bytes_and_kept_when_complete(catalog, tmp_path):
    folder, counts = catalog
    again = bench.write_catalog(tmp_path, N_ITEMS, N_USERS, seed=1)
    assert again == counts
    for name in (bench.META_FILENAME, bench.REVIEWS_FILENAME):
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes()
    assert bench.write_catalog(tmp_path / "other", N_ITEMS, N_USERS, seed=2) != counts
    # ensure_catalog reuses a complete folder made with the same settings and remakes any other.
    sized = tmp_path / "sized"
    made = bench.ensure_catalog(sized, 20, seed=0)
    assert made["users"] == bench.users_for(20)
    stamp = (sized / bench.REVIEWS_FILENAME).stat().st_mtime_ns
    assert bench.ensure_catalog(sized, 20, seed=0) == {"seed": 0, **made}
    assert (sized / bench.REVIEWS_FILENAME).stat().st_mtime_ns == stamp
    assert bench.ensure_catalog(sized, 30, seed=0)["items"] == 30


def test_most_users_are_short_and_prepare_keeps_the_rest(tmp_path):
    counts = bench.write_catalog(tmp_path, 300, seed=0)
    assert counts["users"] == bench.users_for(300)
    data = read_amazon_layout(tmp_path)
    lengths = data.interactions.groupby("user_id").size()
    assert 1.4 < lengths.mean() < 1.9 and (lengths <= 2).mean() > 0.8  # as Video_Games before filtering
    prepared = prepare(data, PrepareConfig(kcore=5, max_user_interactions=50))
    assert 0 < len(prepared.sequences) < 0.1 * counts["users"]
    assert 0 < len(prepared.items) < counts["items"]


def test_growth_exponent():
    assert bench.growth_exponent([1e3, 1e4, 1e5], [2.0, 20.0, 200.0]) == pytest.approx(1.0)
    assert bench.growth_exponent([1e3, 1e5], [1.0, 100.0 * 10]) == pytest.approx(1.5)
    assert np.isnan(bench.growth_exponent([1e3], [1.0]))
