"""The catalog: platforms, releases and their item pages, then accessories, all from one random stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sidrec_lib.builtin.pages import Item, PageWriter
from sidrec_lib.builtin.platforms import Family, Platform, build_platforms
from sidrec_lib.builtin.releases import Release, plan_releases
from sidrec_lib.builtin.timeline import timeline
from sidrec_lib.presets import BuiltinConfig


@dataclass
class Catalog:
    families: list[Family]
    platforms: list[Platform]
    genres: list[dict[str, Any]]
    items: list[Item]  # each release's items in release order, then the accessories
    releases: list[Release]
    franchise_releases: list[list[int]]  # per franchise: release indices in entry order
    release_items: list[list[int]]  # per release: its item indices


def build_catalog(config: BuiltinConfig, vocab: dict[str, Any], rng: np.random.Generator) -> Catalog:
    """Exactly ``config.n_items`` items, an ``accessory_share`` of them accessories."""
    families, platforms = build_platforms(vocab, *timeline(config))
    n_accessories = round(config.n_items * config.accessory_share)
    schedule = plan_releases(config, vocab, rng, families, platforms, config.n_items - n_accessories)
    pages = PageWriter(vocab, rng, families, platforms, schedule.studios, schedule.franchise_names)
    items: list[Item] = []
    release_items: list[list[int]] = []
    for index, release in enumerate(schedule.releases):
        release_items.append(list(range(len(items), len(items) + len(release.platforms))))
        items.extend(pages.game_items(index, release))
    items.extend(pages.accessories(n_accessories, first_group=len(schedule.releases)))
    return Catalog(
        families,
        platforms,
        vocab["genres"]["genres"],
        items,
        schedule.releases,
        schedule.franchise_releases,
        release_items,
    )
