"""Platforms: families of generations (PlayStation 3 -> 4 -> 5...), each selling new items for a while."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sidrec_lib.builtin.timeline import day_of, iso_date


@dataclass(frozen=True)
class Platform:
    """One generation of a family."""

    index: int
    name: str
    family: int
    generation: int
    start: int  # first and last day on which new items come out, clipped to the timeline
    end: int
    kinds: tuple[str, ...]
    features: tuple[str, ...]
    premium_price: float | None


@dataclass(frozen=True)
class Family:
    index: int
    name: str
    maker: str | None
    release_weight: float
    user_weight: float
    multiplatform_prob: float
    platforms: tuple[int, ...]  # generations in order
    start: int
    end: int


def build_platforms(vocab: dict[str, Any], t0: int, t1: int) -> tuple[list[Family], list[Platform]]:
    """Platform generations clipped to the timeline [t0, t1], grouped into families."""
    families: list[Family] = []
    platforms: list[Platform] = []
    for fam in vocab["platforms"]["families"]:
        members: list[int] = []
        for gen in fam["generations"]:
            start = max(t0, day_of(gen["start"]))
            end = min(t1, day_of(gen["end"])) if gen["end"] else t1
            if start > end:
                continue
            members.append(len(platforms))
            platforms.append(
                Platform(
                    index=len(platforms),
                    name=gen["name"],
                    family=len(families),
                    generation=len(members) - 1,
                    start=start,
                    end=end,
                    kinds=tuple(gen.get("kinds", fam["kinds"])),
                    features=tuple(gen["features"]),
                    premium_price=gen.get("premium_price"),
                )
            )
        if members:
            families.append(
                Family(
                    index=len(families),
                    name=fam["name"],
                    maker=fam["maker"],
                    release_weight=float(fam["release_weight"]),
                    user_weight=float(fam["user_weight"]),
                    multiplatform_prob=float(fam["multiplatform_prob"]),
                    platforms=tuple(members),
                    start=platforms[members[0]].start,
                    end=max(platforms[m].end for m in members),
                )
            )
    if not families:
        raise ValueError(f"No platform of platforms.json is active between {iso_date(t0)} and {iso_date(t1)}")
    return families, platforms
