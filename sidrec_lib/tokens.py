"""Semantic-ID tokens: their spelling, the item ↔ SID table, and parsing model output.

An item with codes (12, 201, 7, 0) is written
``<|sid_start|><|sid_0_12|><|sid_1_201|><|sid_2_7|><|sid_3_0|><|sid_end|>``: one token per
(level, code), between a start and an end token. Parsing never guesses: a SID that is not in the
catalog is reported as ``unknown``, a broken one as ``malformed``, and neither maps to an item.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SID_START = "<|sid_start|>"
SID_END = "<|sid_end|>"
_TOKEN = re.compile(r"<\|sid_(?:(start)|(end)|(\d+)_(\d+))\|>")


def sid_token(level: int, code: int) -> str:
    return f"<|sid_{level}_{code}|>"


def format_sid(codes: Sequence[int]) -> str:
    """The token string of one item's codes (extra level included)."""
    return SID_START + "".join(sid_token(level, int(code)) for level, code in enumerate(codes)) + SID_END


@dataclass(frozen=True)
class ParsedSid:
    """One SID found in text: where, its codes, the item it names (or why none)."""

    start: int
    end: int
    codes: tuple[int, ...]
    item_id: str | None
    problem: str | None  # None, "unknown" (well-formed, not in the catalog) or "malformed"


class SidCatalog:
    """The item ↔ semantic-ID table of one catalog (``semantic_ids.parquet`` of notebook 03).

    ``prefix_node[:, d]`` numbers each item's prefix of its first ``d`` codes among the catalog's
    prefixes of that length (0 at ``d = 0``, the empty prefix; the last column numbers full SIDs).
    A prefix's number comes from the 1-D key ``parent number × codes of the level + code``, so the
    table is built by one integer sort per level and lookups are binary searches, at any size.
    """

    def __init__(self, item_ids: Sequence[str], codes: np.ndarray):
        codes = np.array(codes, dtype=np.int64)  # a copy: Parquet columns can be read-only views
        if codes.ndim != 2 or len(codes) != len(item_ids) or not codes.size:
            raise ValueError(
                f"Need one row of codes (one or more levels) per item, and items; got {codes.shape} "
                f"for {len(item_ids)} items."
            )
        if codes.min() < 0:
            raise ValueError("Codes must be non-negative integers.")
        self.item_ids = list(item_ids)
        self.codes = codes
        self.levels = codes.shape[1]
        self.level_sizes = [int(codes[:, level].max()) + 1 for level in range(self.levels)]
        self.prefix_node = np.zeros((len(codes), self.levels + 1), dtype=np.int64)
        self._prefix_keys: list[np.ndarray] = []  # per level d: sorted keys of the prefixes of length d + 1
        for d, size in enumerate(self.level_sizes):
            keys, self.prefix_node[:, d + 1] = np.unique(
                self.prefix_node[:, d] * size + codes[:, d], return_inverse=True
            )
            self._prefix_keys.append(keys)
        if len(self._prefix_keys[-1]) != len(self.item_ids):
            raise ValueError("Semantic IDs are not unique; add the dedup level (add_dedup_level) first.")
        self._row_of_sid = np.argsort(self.prefix_node[:, -1])  # full-SID number → item row
        self._row_of = {item: row for row, item in enumerate(self.item_ids)}

    def rows(self, item_ids: Sequence[str]) -> np.ndarray:
        """The catalog rows of the items of ``item_ids`` that are in the catalog, sorted, without repeats."""
        return np.unique(np.array([self._row_of[i] for i in item_ids if i in self._row_of], dtype=np.int64))

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> SidCatalog:
        """From a frame with ``item_id`` and ``code_0 … code_L`` columns."""
        columns = sorted((c for c in table.columns if re.fullmatch(r"code_\d+", c)), key=lambda c: int(c[5:]))
        return cls(table.item_id.tolist(), table[columns].to_numpy())

    @classmethod
    def load(cls, path: str | Path) -> SidCatalog:
        return cls.from_table(pd.read_parquet(path))

    def __len__(self) -> int:
        return len(self.item_ids)

    def tokens(self) -> list[str]:
        """Every SID token the catalog needs: start, end, then one per (level, code)."""
        return [SID_START, SID_END] + [
            sid_token(level, code) for level, size in enumerate(self.level_sizes) for code in range(size)
        ]

    def sid(self, item_id: str) -> str:
        try:
            return format_sid(self.codes[self._row_of[item_id]].tolist())
        except KeyError:
            raise KeyError(f"Item {item_id!r} is not in the semantic-ID catalog.") from None

    def item(self, codes: Sequence[int]) -> str | None:
        """The item whose SID is ``codes`` (every level), or None."""
        if len(codes) != self.levels:
            return None
        node = 0
        for size, keys, code in zip(self.level_sizes, self._prefix_keys, codes):
            if not 0 <= code < size:
                return None
            key = node * size + int(code)
            node = int(np.searchsorted(keys, key))
            if node == len(keys) or keys[node] != key:
                return None
        return self.item_ids[self._row_of_sid[node]]

    def parse(self, text: str) -> list[ParsedSid]:
        """Every SID in ``text``, in order, with the item it names or the reason it names none."""
        found: list[ParsedSid] = []
        opened: int | None = None
        codes: list[int] = []
        broken = False
        for match in _TOKEN.finditer(text):
            is_start, is_end, level, code = match.groups()
            if is_start:
                if opened is not None:  # a new start before the previous end
                    found.append(ParsedSid(opened, match.start(), tuple(codes), None, "malformed"))
                opened, codes, broken = match.start(), [], False
            elif opened is None:  # a code or end token outside any SID
                found.append(ParsedSid(match.start(), match.end(), (), None, "malformed"))
            elif is_end:
                complete = not broken and len(codes) == self.levels
                item = self.item(codes) if complete else None
                problem = None if item else ("unknown" if complete else "malformed")
                found.append(ParsedSid(opened, match.end(), tuple(codes), item, problem))
                opened = None
            else:
                broken |= int(level) != len(codes)
                codes.append(int(code))
        if opened is not None:
            found.append(ParsedSid(opened, len(text), tuple(codes), None, "malformed"))
        return found

    def items_in(self, text: str) -> list[str]:
        """The catalog items named in ``text``, in order, without repeats."""
        return list(dict.fromkeys(p.item_id for p in self.parse(text) if p.item_id))

    def render(self, text: str, titles: dict[str, str]) -> str:
        """``text`` with each SID replaced by «title» (or a marker saying why it names no item)."""
        out, last = [], 0
        for p in self.parse(text):
            out.append(text[last : p.start])
            out.append(f"«{titles.get(p.item_id, p.item_id)}»" if p.item_id else f"[{p.problem} SID]")
            last = p.end
        out.append(text[last:])
        return "".join(out)
