"""Data sources, all read through one reader of the Amazon Reviews 2023 file layout.

A folder holds ``meta_<Category>.jsonl[.gz]`` (one item per line) and ``<Category>.jsonl[.gz]``
(one review per line). Three ways to get such a folder:

- ``builtin``: a generated game store (:mod:`sidrec_lib.builtin_store`), offline and deterministic;
- ``amazon2023:<Category>``: the real dataset, downloaded once into ``data/raw/amazon2023/``;
- a path to any local folder in that layout.

A malformed line, a record missing its key fields or a review of an unknown item is counted in a
:class:`FileReport` and skipped; only a missing or empty file stops the reader.
"""

from __future__ import annotations

import gzip
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from sidrec_lib.presets import Preset

AMAZON2023_URL = "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_2023/raw"
ITEM_COLUMNS = [
    "item_id", "title", "description", "features", "store", "main_category",
    "categories", "details", "price", "average_rating", "rating_number",
]  # fmt: skip
INTERACTION_COLUMNS = ["user_id", "item_id", "timestamp", "rating"]
MAX_EXAMPLES = 5
PROGRESS_MIN_BYTES = 20 << 20  # files smaller than this read too fast for a progress bar


class SourceError(RuntimeError):
    """A dataset cannot be found, fetched or read."""


@dataclass
class FileReport:
    """What the reader found in one file: kept records and every kind of skipped line."""

    path: str
    lines: int = 0
    kept: int = 0
    blank: int = 0
    malformed: int = 0
    missing_fields: int = 0
    duplicate_items: int = 0
    unknown_item: int = 0
    examples: list[str] = field(default_factory=list)

    def skip(self, kind: str, line_no: int, why: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"line {line_no}: {why}")


@dataclass
class SourceData:
    """Items and interactions of one dataset, as read, plus the reader's reports."""

    name: str
    category: str
    directory: Path
    items: pd.DataFrame
    interactions: pd.DataFrame
    reports: list[FileReport]

    def report_table(self) -> pd.DataFrame:
        """One row per file: lines read, records kept, and each kind of skipped line."""
        rows = []
        for r in self.reports:
            row = {k: v for k, v in vars(r).items() if k != "examples"}
            row["path"] = Path(r.path).name
            rows.append(row)
        return pd.DataFrame(rows).set_index("path")


def find_layout(directory: str | Path, category: str | None = None) -> tuple[str, Path, Path]:
    """Locate ``meta_<Category>`` and ``<Category>`` JSON-lines files (plain or gzip) in ``directory``."""
    directory = Path(directory)
    expected = "meta_<Category>.jsonl[.gz] and <Category>.jsonl[.gz]"
    if not directory.is_dir():
        raise SourceError(f"Dataset folder {directory} does not exist; it should hold {expected}.")
    metas = sorted(p for p in directory.iterdir() if p.name.startswith("meta_") and _is_jsonl(p))
    if category is None:
        categories = sorted({_stem(p)[len("meta_") :] for p in metas})
        if not categories:
            raise SourceError(f"No metadata file in {directory}: expected {expected}.")
        if len(categories) > 1:
            raise SourceError(f"{directory} holds several categories {categories}; name one.")
        category = categories[0]
    meta = _pick(directory, f"meta_{category}", expected)
    reviews = _pick(directory, category, expected)
    return category, meta, reviews


def _is_jsonl(path: Path) -> bool:
    return path.name.endswith(".jsonl") or path.name.endswith(".jsonl.gz")


def _stem(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".jsonl")


def _pick(directory: Path, stem: str, expected: str) -> Path:
    for suffix in (".jsonl.gz", ".jsonl"):
        if (directory / f"{stem}{suffix}").is_file():
            return directory / f"{stem}{suffix}"
    raise SourceError(f"Missing {directory / stem}.jsonl[.gz]: a dataset folder holds {expected}.")


def _read_lines(path: Path, desc: str) -> Iterator[tuple[int, str]]:
    if path.stat().st_size == 0:
        raise SourceError(f"{path} is empty; it should hold one JSON object per line.")
    opener = gzip.open if path.name.endswith(".gz") else open
    quiet = path.stat().st_size < PROGRESS_MIN_BYTES
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            yield from enumerate(tqdm(f, desc=desc, unit=" lines", mininterval=2, disable=quiet), start=1)
    except (OSError, EOFError) as e:  # truncated gzip, not gzip at all
        raise SourceError(f"Cannot read {path}: {e}. Re-download or re-create the file.") from e


def _parse(line: str, line_no: int, report: FileReport) -> dict | None:
    if not line.strip():
        report.skip("blank", line_no, "blank line")
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        report.skip("malformed", line_no, f"not JSON ({e.msg})")
        return None
    if not isinstance(record, dict):
        report.skip("malformed", line_no, f"a JSON {type(record).__name__}, not an object")
        return None
    return record


def _text(value: object, sep: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return sep.join(str(v).strip() for v in value if v is not None and str(v).strip())
    return str(value).strip()


def _number(value: object) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def read_items(path: Path) -> tuple[pd.DataFrame, FileReport]:
    """Read a ``meta_<Category>`` file into one row per item (first record of a repeated id wins)."""
    report = FileReport(str(path))
    rows, seen = [], set()
    for line_no, line in _read_lines(path, f"reading {path.name}"):
        report.lines += 1
        record = _parse(line, line_no, report)
        if record is None:
            continue
        item_id = record.get("parent_asin")
        if not isinstance(item_id, str) or not item_id.strip():
            report.skip("missing_fields", line_no, "no parent_asin")
            continue
        if item_id in seen:
            report.skip("duplicate_items", line_no, f"parent_asin {item_id} seen before")
            continue
        seen.add(item_id)
        details = record.get("details") if isinstance(record.get("details"), dict) else {}
        categories = record.get("categories") if isinstance(record.get("categories"), list) else []
        rows.append(
            {
                "item_id": item_id.strip(),
                "title": _text(record.get("title"), " "),
                "description": _text(record.get("description"), "\n"),
                "features": _text(record.get("features"), "\n"),
                "store": _text(record.get("store"), " "),
                "main_category": _text(record.get("main_category"), " "),
                "categories": [str(c) for c in categories if c],
                "details": json.dumps({str(k): _text(v, ", ") for k, v in details.items()}, sort_keys=True),
                "price": _number(record.get("price")),
                "average_rating": _number(record.get("average_rating")),
                "rating_number": _number(record.get("rating_number")),
            }
        )
        report.kept += 1
    if not rows:
        raise SourceError(f"{path} has no valid item record (need objects with 'parent_asin').")
    return pd.DataFrame(rows, columns=ITEM_COLUMNS), report


def read_interactions(path: Path, known_items: set[str]) -> tuple[pd.DataFrame, FileReport]:
    """Read a ``<Category>`` review file into (user_id, item_id, timestamp, rating) rows."""
    report = FileReport(str(path))
    users, items, stamps, ratings = [], [], [], []
    for line_no, line in _read_lines(path, f"reading {path.name}"):
        report.lines += 1
        record = _parse(line, line_no, report)
        if record is None:
            continue
        user, item, stamp = record.get("user_id"), record.get("parent_asin"), record.get("timestamp")
        if not isinstance(user, str) or not user or not isinstance(item, str) or not item:
            report.skip("missing_fields", line_no, "no user_id or parent_asin")
            continue
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            report.skip("missing_fields", line_no, f"timestamp {stamp!r} is not a number")
            continue
        if item not in known_items:
            report.skip("unknown_item", line_no, f"parent_asin {item} is not in the metadata")
            continue
        users.append(user)
        items.append(item)
        stamps.append(int(stamp))
        ratings.append(_number(record.get("rating")))
        report.kept += 1
    if not users:
        raise SourceError(
            f"{path} has no valid review of a known item (need user_id, parent_asin, timestamp)."
        )
    frame = pd.DataFrame({"user_id": users, "item_id": items, "timestamp": stamps, "rating": ratings})
    return frame.astype({"timestamp": "int64", "rating": "float64"}), report


def read_amazon_layout(
    directory: str | Path, category: str | None = None, name: str | None = None
) -> SourceData:
    """Read a folder in the Amazon Reviews 2023 layout."""
    category, meta_path, reviews_path = find_layout(directory, category)
    items, item_report = read_items(meta_path)
    interactions, review_report = read_interactions(reviews_path, set(items["item_id"]))
    return SourceData(
        name=name or str(directory),
        category=category,
        directory=Path(directory),
        items=items,
        interactions=interactions,
        reports=[item_report, review_report],
    )


def download_amazon2023(category: str, raw_dir: Path) -> Path:
    """Download a category's review and metadata files once into ``raw_dir/amazon2023/<Category>``."""
    target = raw_dir / "amazon2023" / category
    target.mkdir(parents=True, exist_ok=True)
    for kind, file_name in (
        ("meta_categories", f"meta_{category}.jsonl.gz"),
        ("review_categories", f"{category}.jsonl.gz"),
    ):
        path = target / file_name
        if path.is_file():
            continue
        url = f"{AMAZON2023_URL}/{kind}/{file_name}"
        try:
            _download(url, path)
        except (urllib.error.URLError, OSError) as e:
            raise SourceError(
                f"Could not download {url} ({e}). Without a network, use dataset='builtin' "
                f"(a generated store) or a local folder holding meta_{category}.jsonl[.gz] and "
                f"{category}.jsonl[.gz]; or place those files in {target} yourself."
            ) from e
    return target


def _download(url: str, path: Path) -> None:
    partial = path.with_name(path.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {path.name}") as bar:
            while block := response.read(1 << 20):
                out.write(block)
                bar.update(len(block))
    os.replace(partial, path)


def load_source(preset: Preset, data_dir: str | Path = "data") -> SourceData:
    """Read ``preset.dataset``: ``builtin``, ``amazon2023:<Category>`` or a local folder."""
    dataset, raw_dir = preset.dataset, Path(data_dir) / "raw"
    if dataset == "builtin":
        from sidrec_lib.builtin_store import CATEGORY, BuiltinStoreConfig, write_store

        b = preset.builtin
        config = BuiltinStoreConfig(n_items=b.n_items, n_users=b.n_users, seed=b.seed)
        folder = write_store(config, raw_dir / f"builtin-{b.n_items}items-{b.n_users}users-seed{b.seed}")
        return read_amazon_layout(folder, CATEGORY, name="builtin")
    if dataset.startswith("amazon2023:"):
        category = dataset.split(":", 1)[1]
        return read_amazon_layout(download_amazon2023(category, raw_dir), category, name=dataset)
    if Path(dataset).expanduser().is_dir():
        return read_amazon_layout(Path(dataset).expanduser(), name=dataset)
    raise SourceError(
        f"Unknown dataset {dataset!r}: use 'builtin', 'amazon2023:<Category>' (e.g. amazon2023:Video_Games) "
        "or the path of a folder holding meta_<Category>.jsonl[.gz] and <Category>.jsonl[.gz]."
    )
