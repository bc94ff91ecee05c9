"""Data sources, all read through one reader of the Amazon Reviews 2023 file layout.

A folder holds ``meta_<Category>.jsonl[.gz]`` (one item per line) and ``<Category>.jsonl[.gz]``
(one review per line). Three ways to get such a folder:

- ``builtin``: a generated game store (:mod:`sidrec_lib.builtin`), offline and deterministic;
- ``amazon2023:<Category>``: the real dataset, downloaded once into ``data/raw/amazon2023/``;
- a path to any local folder in that layout.

A malformed line, a record missing its key fields or a review of an unknown item is counted in a
:class:`FileReport` and skipped; an unusable optional value (a price of "n/a", bytes that are not
UTF-8) is counted and left empty or replaced. Only a file that is missing, empty, damaged, present
twice (``x.jsonl`` beside ``x.jsonl.gz``) or without one valid record stops the reader, with a
:class:`SourceError` naming it.
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import math
import re
import reprlib
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pandas as pd
from tqdm.auto import tqdm

from sidrec_lib.files import atomic_path
from sidrec_lib.presets import Preset

AMAZON2023_URL = "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_2023/raw"
ITEM_COLUMNS = [
    "item_id", "title", "description", "features", "store", "main_category",
    "categories", "details", "price", "average_rating", "rating_number",
]  # fmt: skip
INTERACTION_COLUMNS = ["user_id", "item_id", "timestamp", "rating"]
MAX_EXAMPLES = 5
PROGRESS_MIN_BYTES = 20 << 20  # files smaller than this read too fast for a progress bar
SECONDS_FROM, MILLISECONDS_FROM, MILLISECONDS_END = 10**8, 10**11, 10**14  # timestamp unit by range
INT64_END = 2**63
CATEGORY_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


class SourceError(RuntimeError):
    """A dataset cannot be found, fetched or read."""


@dataclass
class FileReport:
    """What the reader found in one file: kept records, every kind of skipped line, altered values.

    Each line is kept or skipped for exactly one reason (``blank`` to ``unknown_item``), so ``lines``
    is ``kept`` plus those counts. The last four count what was changed on the way: ``bad_values``
    (fields left empty), ``replaced_bytes`` (lines whose non-UTF-8 bytes became U+FFFD),
    ``timestamps_in_seconds`` (converted to milliseconds) and ``odd_timestamps`` (in neither range,
    kept as they are; see :func:`read_interactions`).
    """

    path: str
    lines: int = 0
    kept: int = 0
    blank: int = 0
    malformed: int = 0
    missing_fields: int = 0
    bad_timestamp: int = 0
    duplicate_items: int = 0
    unknown_item: int = 0
    bad_values: int = 0
    replaced_bytes: int = 0
    timestamps_in_seconds: int = 0
    odd_timestamps: int = 0
    examples: list[str] = field(default_factory=list)

    def skip(self, kind: str, line_no: int, why: str) -> None:
        """Count one line or value of this kind, keeping the reason among the first examples."""
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"line {line_no}: {why}")

    def bad_value(self, line_no: int, name: str, value: object, expected: str) -> None:
        """Count a field that is left empty because its value is not what it should be."""
        self.bad_values += 1
        if len(self.examples) < MAX_EXAMPLES:
            shown = reprlib.repr(value)
            self.examples.append(f"line {line_no}: {name} {shown} is not {expected}; left empty")


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
    found = [directory / f"{stem}{suffix}" for suffix in (".jsonl.gz", ".jsonl")]
    found = [path for path in found if path.is_file()]
    if len(found) > 1:
        raise SourceError(
            f"Both {found[0]} and {found[1]} exist and it is unclear which to read; remove one of them."
        )
    if not found:
        raise SourceError(f"Missing {directory / stem}.jsonl[.gz]: a dataset folder holds {expected}.")
    return found[0]


def _read_lines(path: Path, desc: str) -> Iterator[tuple[int, bytes]]:
    if path.stat().st_size == 0:
        raise SourceError(f"{path} is empty; it should hold one JSON object per line.")
    quiet = path.stat().st_size < PROGRESS_MIN_BYTES
    try:
        with _open_binary(path) as f:
            yield from enumerate(tqdm(f, desc=desc, unit=" lines", mininterval=2, disable=quiet), start=1)
    except (OSError, EOFError, zlib.error) as e:  # truncated or corrupted gzip, not gzip at all
        raise SourceError(
            f"Cannot read {path}: {e}. The file is damaged or incomplete; re-download or re-create it."
        ) from e


def _open_binary(path: Path) -> BinaryIO:
    if path.name.endswith(".gz"):
        return io.BufferedReader(gzip.open(path, "rb"), 1 << 16)  # splits lines in C, unlike GzipFile
    return open(path, "rb")


def _parse(raw: bytes, line_no: int, report: FileReport) -> dict | None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        line = raw.decode("utf-8", errors="replace")
        report.skip("replaced_bytes", line_no, "bytes that are not UTF-8, replaced by U+FFFD")
    if not line.strip():
        report.skip("blank", line_no, "blank line")
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        report.skip("malformed", line_no, f"not JSON ({e.msg})")
        return None
    except ValueError:  # an integer of thousands of digits
        report.skip("malformed", line_no, "a number too long to read")
        return None
    except RecursionError:
        report.skip("malformed", line_no, "JSON nested too deeply")
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


def _number(value: object, name: str, line_no: int, report: FileReport) -> float | None:
    """A finite float, or None for an absent value; anything else is counted as a bad value."""
    if value is None or value == "":
        return None
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            if math.isfinite(number):
                return number
    report.bad_value(line_no, name, value, "a finite number")
    return None


def _typed(value: object, kind: type, name: str, line_no: int, report: FileReport) -> object:
    """``value`` if it is a ``kind``, else an empty one (counted as a bad value unless absent)."""
    if isinstance(value, kind):
        return value
    if value is not None and value != "":
        report.bad_value(line_no, name, value, f"a JSON {'object' if kind is dict else 'array'}")
    return kind()


def _item_row(item_id: str, record: dict, line_no: int, report: FileReport) -> dict:
    details = _typed(record.get("details"), dict, "details", line_no, report)
    categories = _typed(record.get("categories"), list, "categories", line_no, report)
    return {
        "item_id": item_id,
        "title": _text(record.get("title"), " "),
        "description": _text(record.get("description"), "\n"),
        "features": _text(record.get("features"), "\n"),
        "store": _text(record.get("store"), " "),
        "main_category": _text(record.get("main_category"), " "),
        "categories": [str(c) for c in categories if c],
        "details": json.dumps({str(k): _text(v, ", ") for k, v in details.items()}, sort_keys=True),
        "price": _number(record.get("price"), "price", line_no, report),
        "average_rating": _number(record.get("average_rating"), "average_rating", line_no, report),
        "rating_number": _number(record.get("rating_number"), "rating_number", line_no, report),
    }


def read_items(path: Path) -> tuple[pd.DataFrame, FileReport]:
    """Read a ``meta_<Category>`` file into one row per item (first record of a repeated id wins).

    Ids are stripped of surrounding whitespace before anything else, duplicates included.
    """
    report = FileReport(str(path))
    rows, seen = [], set()
    for line_no, line in _read_lines(path, f"reading {path.name}"):
        report.lines += 1
        record = _parse(line, line_no, report)
        if record is None:
            continue
        item_id = record.get("parent_asin")
        item_id = item_id.strip() if isinstance(item_id, str) else ""
        if not item_id:
            report.skip("missing_fields", line_no, "no parent_asin")
            continue
        if item_id in seen:
            report.skip("duplicate_items", line_no, f"parent_asin {item_id} seen before")
            continue
        seen.add(item_id)
        rows.append(_item_row(item_id, record, line_no, report))
        report.kept += 1
    if not rows:
        raise SourceError(f"{path} has no valid item record (need objects with 'parent_asin').")
    return pd.DataFrame(rows, columns=ITEM_COLUMNS), report


def read_interactions(path: Path, known_items: set[str]) -> tuple[pd.DataFrame, FileReport]:
    """Read a ``<Category>`` review file into (user_id, item_id, timestamp, rating) rows.

    Ids are stripped of surrounding whitespace. Timestamps come out in milliseconds, each value's unit
    told by its range: ``1e8 <= t < 1e11`` is seconds (1973 to 5138) and is multiplied by 1000;
    ``1e11 <= t < 1e14`` is milliseconds; any other value in ``0 <= t < 2**63`` is kept as it is and
    counted in ``odd_timestamps`` (small synthetic stamps such as 1000 read this way). A review whose
    timestamp is NaN, infinite, negative or beyond int64 is skipped as ``bad_timestamp``.
    """
    report = FileReport(str(path))
    users, items, stamps, ratings = [], [], [], []
    for line_no, line in _read_lines(path, f"reading {path.name}"):
        report.lines += 1
        record = _parse(line, line_no, report)
        if record is None:
            continue
        user, item, stamp = record.get("user_id"), record.get("parent_asin"), record.get("timestamp")
        user = user.strip() if isinstance(user, str) else ""
        item = item.strip() if isinstance(item, str) else ""
        if not user or not item:
            report.skip("missing_fields", line_no, "no user_id or parent_asin")
            continue
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            report.skip("missing_fields", line_no, f"timestamp {reprlib.repr(stamp)} is not a number")
            continue
        if not 0 <= stamp < INT64_END:  # also false for NaN
            report.skip("bad_timestamp", line_no, f"timestamp {reprlib.repr(stamp)} is not a time since 1970")
            continue
        if item not in known_items:
            report.skip("unknown_item", line_no, f"parent_asin {item} is not in the metadata")
            continue
        if stamp < MILLISECONDS_FROM:
            if stamp >= SECONDS_FROM:
                if report.timestamps_in_seconds == 0 and len(report.examples) < MAX_EXAMPLES:
                    report.examples.append(f"line {line_no}: timestamp {stamp} taken as seconds, now in ms")
                report.timestamps_in_seconds += 1
                stamp *= 1000
            else:
                report.odd_timestamps += 1
        elif stamp >= MILLISECONDS_END:
            report.odd_timestamps += 1
        users.append(user)
        items.append(item)
        stamps.append(int(stamp))
        ratings.append(_number(record.get("rating"), "rating", line_no, report))
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
    """Download a category's review and metadata files once into ``raw_dir/amazon2023/<Category>``.

    A file already there (plain or gzip) is kept; a download is renamed into place only once complete.
    """
    if not CATEGORY_NAME.fullmatch(category) or ".." in category:
        raise SourceError(
            f"{category!r} is not a category name: use letters, digits, '_', '-' and '.' (not first), "
            "as in amazon2023:Video_Games."
        )
    target = raw_dir / "amazon2023" / category
    target.mkdir(parents=True, exist_ok=True)
    for kind, file_name in (
        ("meta_categories", f"meta_{category}.jsonl.gz"),
        ("review_categories", f"{category}.jsonl.gz"),
    ):
        path = target / file_name
        if path.is_file() or path.with_suffix("").is_file():
            continue
        url = f"{AMAZON2023_URL}/{kind}/{file_name}"
        try:
            _download(url, path)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            raise SourceError(
                f"Could not download {url} ({e}). Without a network, use dataset='builtin' "
                f"(a generated store) or a local folder holding meta_{category}.jsonl[.gz] and "
                f"{category}.jsonl[.gz]; or place those files in {target} yourself."
            ) from e
    return target


def _download(url: str, path: Path) -> None:
    """Fetch ``url`` into a partial file beside ``path``, check it is whole, then rename it to ``path``."""
    with atomic_path(path) as partial:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            length = str(response.headers.get("Content-Length") or "").strip()
            total = int(length) if length.isdigit() else None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {path.name}") as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
        if received == 0 or (total is not None and received != total):
            expected = f" of {total:,}" if total is not None else ""
            raise SourceError(
                f"The download of {url} was cut short ({received:,}{expected} bytes); nothing was kept. "
                "Run again to retry."
            )
        if path.name.endswith(".gz"):
            _check_gzip(partial, url)


def _check_gzip(path: Path, url: str) -> None:
    """Read a downloaded gzip stream to its end, so that a damaged or cut-short one is never kept."""
    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    except (OSError, EOFError, zlib.error) as e:
        raise SourceError(
            f"The download of {url} is not a whole gzip file ({e}); nothing was kept. Run again to retry."
        ) from e


def check_dataset(dataset: str) -> None:
    """Stop with a SourceError unless ``dataset`` is ``builtin``, ``amazon2023:<Category>`` or a folder."""
    named = dataset == "builtin" or (dataset.startswith("amazon2023:") and dataset != "amazon2023:")
    if not named and not Path(dataset).expanduser().is_dir():
        raise SourceError(
            f"Unknown dataset {dataset!r}: use 'builtin', 'amazon2023:<Category>' "
            "(e.g. amazon2023:Video_Games) or the path of a folder holding meta_<Category>.jsonl[.gz] "
            "and <Category>.jsonl[.gz] "
            f"(relative paths start from {Path.cwd()})."
        )


def load_source(preset: Preset, data_dir: str | Path = "data") -> SourceData:
    """Read ``preset.dataset``: ``builtin``, ``amazon2023:<Category>`` or a local folder."""
    dataset, raw_dir = preset.dataset, Path(data_dir) / "raw"
    check_dataset(dataset)
    if dataset == "builtin":
        from sidrec_lib.builtin import CATEGORY, store_folder_name, write_store

        folder = write_store(preset.builtin, raw_dir / store_folder_name(preset.builtin))
        return read_amazon_layout(folder, CATEGORY, name="builtin")
    if dataset.startswith("amazon2023:"):
        category = dataset.split(":", 1)[1]
        return read_amazon_layout(download_amazon2023(category, raw_dir), category, name=dataset)
    return read_amazon_layout(Path(dataset).expanduser(), name=dataset)
