"""Item pages: one per game release and platform, then the accessories; ``details`` hold the truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sidrec_lib.builtin.draws import pick, pick_weighted
from sidrec_lib.builtin.platforms import Family, Platform
from sidrec_lib.builtin.releases import Release, Studio
from sidrec_lib.builtin.timeline import iso_date
from sidrec_lib.builtin.vocab import fill, tidy

MAIN_CATEGORY = "Video Games"


@dataclass
class Item:
    """One product page; ``group`` is its release (games) or a group of its own (accessories)."""

    title: str
    short_title: str
    store: str
    platform: int
    day: int
    popularity: float
    price: float
    tier: str
    description: list[str]
    features: list[str]
    categories: list[str]
    details: dict[str, str]
    group: int
    genre: int = -1  # -1: accessory
    franchise: int = -1
    entry: int = 0
    prev_title: str | None = None
    aspects: tuple[str, ...] = ()
    review_slots: dict[str, Any] = field(default_factory=dict)


class PageWriter:
    """Writes item pages from the vocabulary, drawing from one random stream."""

    def __init__(
        self,
        vocab: dict[str, Any],
        rng: np.random.Generator,
        families: list[Family],
        platforms: list[Platform],
        studios: list[Studio],
        franchise_names: list[str],
    ) -> None:
        self.rng = rng
        self.texts: dict[str, Any] = vocab["texts"]
        self.genres: list[dict[str, Any]] = vocab["genres"]["genres"]
        self.game_prices: dict[str, list[float]] = vocab["pricing"]["game_prices"]
        self.accessory_words: dict[str, Any] = vocab["accessories"]
        self.families, self.platforms = families, platforms
        self.studios, self.franchise_names = studios, franchise_names

    # -- games ------------------------------------------------------------------------------------------
    def game_items(self, group: int, release: Release) -> list[Item]:
        """The release's items, one per platform, sharing its texts and base price."""
        rng, g = self.rng, self.genres[release.genre]
        paragraphs, bullets = self._game_texts(release)
        base_price = float(pick(rng, self.game_prices[release.tier]))
        studio = self.studios[release.studio].name
        items = []
        for p in release.platforms:
            plat = self.platforms[p]
            price = plat.premium_price if release.tier == "Premium" and plat.premium_price else base_price
            features = list(bullets)
            features.insert(
                int(rng.integers(1, len(features) + 1)),
                fill(pick(rng, plat.features), {"platform": plat.name}),
            )
            items.append(
                Item(
                    title=self._sku_title(release, plat),
                    short_title=release.title,
                    store=studio,
                    platform=p,
                    day=release.day,
                    popularity=release.popularity * float(rng.lognormal(0.0, 0.2)),
                    price=float(price),
                    tier=release.tier,
                    description=[para.replace("{platform}", plat.name) for para in paragraphs],
                    features=features,
                    categories=[MAIN_CATEGORY, plat.name, "Games", g["name"]],
                    details=self._game_details(release, plat),
                    group=group,
                    genre=release.genre,
                    franchise=release.franchise,
                    entry=release.entry,
                    prev_title=release.prev_title,
                    aspects=tuple(g["aspects"]),
                    review_slots={"genre": g["name"].lower(), "type": "game", "brand": studio},
                )
            )
        return items

    def _game_texts(self, release: Release) -> tuple[list[str], list[str]]:
        """Description paragraphs and feature bullets shared by a release's items ({platform} left open)."""
        rng, t, g = self.rng, self.texts, self.genres[release.genre]
        franchise = self.franchise_names[release.franchise] if release.franchise >= 0 else release.title
        slots = {
            "title": release.title,
            "name": franchise,
            "hero": release.hero,
            "setting": release.setting,
            "studio": self.studios[release.studio].name,
            "prev_title": release.prev_title or "",
            "n": release.entry,
            "genre": g["name"].lower(),
            "platform": "{platform}",
        }
        plays = rng.choice(len(g["gameplay"]), size=min(3, len(g["gameplay"])), replace=False)
        pieces = {
            "hook": fill(pick(rng, g["hooks"]), slots),
            "mode": pick(rng, t["mode_sentences"][release.mode]),
            "closer": fill(pick(rng, t["closers"]), slots),
            "sequel": fill(pick(rng, t["sequel_sentences"]), slots) + " " if release.entry >= 2 else "",
        }
        for k in range(3):
            pieces[f"gameplay_{k + 1}"] = g["gameplay"][plays[k % len(plays)]] if k < len(plays) else ""
        paragraphs = [tidy(fill(p, pieces)) for p in pick(rng, t["description_layouts"])]
        n_features = int(rng.integers(2, 4))
        picked = rng.choice(len(g["features"]), size=min(n_features, len(g["features"])), replace=False)
        bullets = [g["features"][i] for i in picked] + [pick(rng, t["mode_features"][release.mode])]
        if rng.random() < 0.5:
            bullets.append(pick(rng, t["tier_features"][release.tier]))
        return [p for p in paragraphs if p], bullets

    def _sku_title(self, release: Release, platform: Platform) -> str:
        """'Title - PlayStation 5', now and then a special edition."""
        edition_prob = {"Premium": 0.15, "Standard": 0.05, "Budget": 0.15}[release.tier]
        slots = {
            "title": release.title,
            "platform": platform.name,
            "edition": pick(self.rng, self.texts["editions"][release.tier]),
        }
        if self.rng.random() < edition_prob:
            return fill(pick(self.rng, self.texts["edition_title_templates"]), slots)
        return fill(pick(self.rng, self.texts["sku_title_templates"]), slots)

    def _game_details(self, release: Release, platform: Platform) -> dict[str, str]:
        """The ground truth of a game item, in the order the store shows it."""
        details = {
            "Item Type": "Game",
            "Platform": platform.name,
            "Platform Family": self.families[platform.family].name,
            "Genre": self.genres[release.genre]["name"],
        }
        if release.franchise >= 0:
            details["Franchise"] = self.franchise_names[release.franchise]
            details["Franchise Entry"] = str(release.entry)
        details.update(
            {
                "Studio": self.studios[release.studio].name,
                "Price Tier": release.tier,
                "Multiplayer": "No" if release.mode == "Single-player" else "Yes",
                "Player Mode": release.mode,
                "Release Date": iso_date(release.day),
            }
        )
        return details

    # -- accessories ------------------------------------------------------------------------------------
    def accessories(self, count: int, first_group: int) -> list[Item]:
        """Accessories spread over platforms by how long and how widely each sold."""
        if count == 0:
            return []
        plat_w = [self.families[p.family].release_weight * (p.end - p.start + 1) for p in self.platforms]
        brands = self._brands(count)
        brand_w = 1.0 / np.arange(1, len(brands) + 1) ** 0.8  # a few big brands, many small ones
        return [
            self._accessory(first_group + k, self.platforms[pick_weighted(self.rng, plat_w)], brands, brand_w)
            for k in range(count)
        ]

    def _brands(self, count: int) -> list[str]:
        """Third-party brand names, more of them for more accessories."""
        a, brands = self.accessory_words, []
        n_brands = min(max(3, count // 12 + 2), len(a["brand_prefixes"]) * len(a["brand_suffixes"]) // 2 + 1)
        while len(brands) < n_brands:
            brand = pick(self.rng, a["brand_prefixes"]) + pick(self.rng, a["brand_suffixes"])
            if brand not in brands:
                brands.append(brand)
        return brands

    def _accessory(self, group: int, plat: Platform, brands: list[str], brand_w: np.ndarray) -> Item:
        """One accessory for ``plat``: a type that fits it, a brand (often its maker), price and texts."""
        rng, a = self.rng, self.accessory_words
        family = self.families[plat.family]
        fitting = [t for t in a["types"] if set(t["kinds"]) & set(plat.kinds)] or a["types"]
        kind = fitting[pick_weighted(rng, [t["weight"] for t in fitting])]
        first_party = family.maker is not None and rng.random() < a["first_party_share"]
        brand = family.maker if first_party else brands[pick_weighted(rng, brand_w)]
        lo, hi = kind["price"]
        frac = rng.beta(3.0, 2.0) if first_party else rng.beta(1.4, 2.2)
        price = min(float(hi), math.floor(lo + frac * (hi - lo)) + 0.99)
        tier = "Budget" if frac < 0.3 else "Premium" if frac > 0.7 else "Standard"
        day = plat.start + int((plat.end - plat.start) * rng.beta(1.3, 2.2))
        slots = {
            "brand": brand,
            "model": f"{pick(rng, a['model_words'])} {pick(rng, a['model_suffixes'])}",
            "platform": plat.name,
            "color": pick(rng, a["colors"]),
            "type": kind["name"],
            "hours": pick(rng, (8, 10, 12, 15, 20, 30, 40)),
            "feet": pick(rng, (6, 8, 10, 12)),
        }
        description = self._accessory_description(kind, slots)
        features = self._accessory_features(kind, slots)
        popularity = rng.lognormal(-0.5, 1.0) * math.sqrt(kind["weight"]) * (1.5 if first_party else 1.0)
        details = {
            "Item Type": "Accessory",
            "Platform": plat.name,
            "Platform Family": family.name,
            "Price Tier": tier,
            "Release Date": iso_date(day),
            "Accessory Type": kind["name"],
        }
        return Item(
            title=fill(pick(rng, a["title_templates"]), slots),
            short_title=f"{brand} {slots['model']}",
            store=brand,
            platform=plat.index,
            day=day,
            popularity=float(popularity),
            price=price,
            tier=tier,
            description=description,
            features=features,
            categories=[MAIN_CATEGORY, plat.name, "Accessories", kind["name"]],
            details=details,
            group=group,
            aspects=tuple(kind["aspects"]),
            review_slots={"genre": "", "type": kind["name"].lower(), "brand": brand, "hours": slots["hours"]},
        )

    def _accessory_description(self, kind: dict[str, Any], slots: dict[str, Any]) -> list[str]:
        """A generic opening with one of the type's descriptions, sometimes a second one."""
        rng = self.rng
        descs = rng.permutation(len(kind["descriptions"]))
        paragraphs = [
            fill(pick(rng, self.accessory_words["description_templates"]), slots)
            + " "
            + fill(kind["descriptions"][descs[0]], slots)
        ]
        if len(descs) > 1 and rng.random() < 0.5:
            paragraphs.append(fill(kind["descriptions"][descs[1]], slots))
        return [tidy(p) for p in paragraphs]

    def _accessory_features(self, kind: dict[str, Any], slots: dict[str, Any]) -> list[str]:
        """Three or four of the type's bullets and a generic one."""
        rng = self.rng
        picked = rng.choice(
            len(kind["features"]), size=min(int(rng.integers(3, 5)), len(kind["features"])), replace=False
        )
        features = [fill(kind["features"][i], slots) for i in picked]
        features.append(fill(pick(rng, self.accessory_words["generic_features"]), slots))
        return features
