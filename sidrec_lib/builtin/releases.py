"""Releases: studios, franchises whose sequels come out years apart, standalone games, price tiers.

A release is one game (title and date), sold as one item per platform; ``pages`` writes those items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sidrec_lib.builtin.draws import pick, pick_weighted
from sidrec_lib.builtin.names import Namer
from sidrec_lib.builtin.platforms import Family, Platform
from sidrec_lib.builtin.timeline import YEAR_DAYS, day_of, timeline, year_of
from sidrec_lib.presets import BuiltinConfig


@dataclass(frozen=True)
class Studio:
    name: str
    home_family: int
    genres: tuple[int, ...]
    prestige: float


@dataclass
class Release:
    """One game release (title and date), sold as one item per platform."""

    title: str
    genre: int
    studio: int
    day: int
    platforms: list[int]
    popularity: float
    mode: str
    hero: str
    setting: str
    franchise: int = -1
    entry: int = 0
    prev_title: str | None = None
    tier: str = "Standard"


@dataclass
class ReleaseSchedule:
    studios: list[Studio]
    releases: list[Release]  # in the order they were planned, franchises first
    franchise_names: list[str]
    franchise_releases: list[list[int]]  # per franchise: release indices in entry order


def plan_releases(
    config: BuiltinConfig,
    vocab: dict[str, Any],
    rng: np.random.Generator,
    families: list[Family],
    platforms: list[Platform],
    n_games: int,
) -> ReleaseSchedule:
    """Studios, then releases whose items (one per platform) add up to exactly ``n_games``."""
    planner = _Planner(config, vocab, rng, families, platforms)
    planner.make_studios(max(3, round(config.n_items / 30)))
    planner.make_releases(n_games)
    planner.assign_tiers()
    return ReleaseSchedule(
        planner.studios, planner.releases, planner.franchise_names, planner.franchise_releases
    )


class _Planner:
    """Plans studios and releases, in order, from one random stream."""

    def __init__(
        self,
        config: BuiltinConfig,
        vocab: dict[str, Any],
        rng: np.random.Generator,
        families: list[Family],
        platforms: list[Platform],
    ) -> None:
        self.config, self.rng = config, rng
        self.t0, self.t1 = timeline(config)
        self.families, self.platforms = families, platforms
        self.genres: list[dict[str, Any]] = vocab["genres"]["genres"]
        self.genre_weights = np.array([g["weight"] for g in self.genres], dtype=float)
        self.namer = Namer(vocab, rng)
        self.studios: list[Studio] = []
        self.studio_weights = np.ones(0)
        self.releases: list[Release] = []
        self.franchise_names: list[str] = []
        self.franchise_releases: list[list[int]] = []

    # -- studios ----------------------------------------------------------------------------------------
    def make_studios(self, count: int) -> None:
        """Studios with a home platform family, two favourite genres and a prestige."""
        rng = self.rng
        family_weights = [f.release_weight for f in self.families]
        genre_p = self.genre_weights / self.genre_weights.sum()
        for _ in range(count):
            name = self.namer.studio()
            genres = rng.choice(len(self.genres), size=min(2, len(self.genres)), replace=False, p=genre_p)
            home = pick_weighted(rng, family_weights)
            prestige = float(rng.lognormal(0.0, 0.7))
            self.studios.append(Studio(name, home, tuple(int(g) for g in genres), prestige))
        self.studio_weights = np.array([st.prestige for st in self.studios])

    def _studio_and_genre(self, own_genre_share: float) -> tuple[int, int]:
        """A studio by prestige, and one of its own genres (else any genre by weight)."""
        studio = pick_weighted(self.rng, self.studio_weights)
        if self.rng.random() < own_genre_share:
            return studio, pick(self.rng, self.studios[studio].genres)
        return studio, pick_weighted(self.rng, self.genre_weights)

    # -- releases ---------------------------------------------------------------------------------------
    def make_releases(self, n_games: int) -> None:
        """Franchises until their items reach their share, then standalone games; trim to exactly n_games."""
        target = round(n_games * self.config.franchise_share)
        count, attempts = 0, 0
        while count < target and attempts < 10 * n_games + 100:
            count += self._make_franchise()
            attempts += 1
        while count < n_games:
            count += self._make_standalone()
        self._drop_last_items(count - n_games)

    def _drop_last_items(self, extra: int) -> None:
        """Drop ``extra`` items from the end: platforms of the last release, then the release itself."""
        while extra > 0:
            last = self.releases[-1]
            drop = min(extra, len(last.platforms))
            del last.platforms[len(last.platforms) - drop :]
            extra -= drop
            if not last.platforms:
                self.releases.pop()
                if last.franchise >= 0:
                    self.franchise_releases[last.franchise].pop()

    def _make_franchise(self) -> int:
        """A franchise: entries years apart (yearly for some sports series), one studio. Returns its items."""
        rng = self.rng
        studio, genre = self._studio_and_genre(0.8)
        families = self._franchise_families(studio, genre)
        lo = max(self.t0, min(self.families[f].start for f in families))
        hi = min(self.t1 - YEAR_DAYS, max(self.families[f].end for f in families) - 90)
        if lo > hi:
            return 0
        naming = self.namer.franchise(genre, yearly=bool(rng.random() < self.genres[genre]["yearly_share"]))
        n_entries = int(rng.integers(3, 11)) if naming.yearly else min(7, 1 + int(rng.geometric(0.4)))
        popularity = (
            rng.lognormal(0.4, self.config.popularity_sigma * 0.85) * self.studios[studio].prestige ** 0.5
        )
        trend = math.exp(rng.normal(0.0, 0.15))
        look = self._look(genre)
        index, prev_title, item_count = len(self.franchise_names), None, 0
        self.franchise_names.append(naming.name)
        self.franchise_releases.append([])
        day = self._random_day(lo, hi)
        first_year = year_of(day)
        for entry in range(1, n_entries + 1):
            platforms = self._release_platforms(families, day)
            if not platforms:
                break
            if entry > 1:
                look = self._sequel_look(genre, *look)
            title = self.namer.entry_title(naming, entry, first_year)
            entry_popularity = popularity * trend ** (entry - 1) * rng.lognormal(0.0, 0.25)
            self.franchise_releases[index].append(len(self.releases))
            self.releases.append(
                Release(
                    title,
                    genre,
                    studio,
                    day,
                    platforms,
                    float(entry_popularity),
                    *look,
                    franchise=index,
                    entry=entry,
                    prev_title=prev_title,
                )
            )
            item_count += len(platforms)
            prev_title = title
            day += self._gap_to_next_entry(naming.yearly)
            if day > self.t1:
                break
        return item_count

    def _make_standalone(self) -> int:
        """A game outside any franchise, on one family or several. Returns its item count."""
        studio, genre = self._studio_and_genre(0.6)
        day, platforms = self._standalone_launch(studio, genre)
        title = self.namer.standalone(genre)
        popularity = (
            self.rng.lognormal(-0.4, self.config.popularity_sigma) * self.studios[studio].prestige ** 0.3
        )
        look = self._look(genre)
        self.releases.append(Release(title, genre, studio, day, platforms, float(popularity), *look))
        return len(platforms)

    def assign_tiers(self) -> None:
        """Premium for the most anticipated ~35% of releases, Budget for the least ~30%."""
        if not self.releases:
            return
        score = np.array(
            [math.log(r.popularity) + 0.3 * math.log(self.studios[r.studio].prestige) for r in self.releases]
        ) + self.rng.normal(0.0, 0.5, len(self.releases))
        rank = np.empty(len(score), dtype=int)
        rank[np.argsort(score, kind="stable")] = np.arange(len(score))
        quantile = (rank + 0.5) / len(score)
        for release, q in zip(self.releases, quantile, strict=True):
            release.tier = "Premium" if q >= 0.65 else "Budget" if q < 0.30 else "Standard"

    # -- what a release is like ---------------------------------------------------------------------------
    def _look(self, genre: int) -> tuple[str, str, str]:
        """(player mode, hero, setting) of a new game."""
        g = self.genres[genre]
        return self._player_mode(genre), pick(self.rng, g["heroes"]), pick(self.rng, g["settings"])

    def _sequel_look(self, genre: int, mode: str, hero: str, setting: str) -> tuple[str, str, str]:
        """A later entry mostly keeps its franchise's mode, hero and setting."""
        g, rng = self.genres[genre], self.rng
        mode = self._player_mode(genre) if rng.random() < 0.2 else mode
        hero = pick(rng, g["heroes"]) if rng.random() < 0.15 else hero
        setting = pick(rng, g["settings"]) if rng.random() < 0.4 else setting
        return mode, hero, setting

    def _player_mode(self, genre: int) -> str:
        g = self.genres[genre]
        if self.rng.random() >= g["multiplayer_prob"]:
            return "Single-player"
        modes = list(g["player_modes"])
        return modes[pick_weighted(self.rng, [g["player_modes"][m] for m in modes])]

    # -- platforms and dates of a release ----------------------------------------------------------------
    def _fit(self, genre: int, family: int) -> float:
        return float(self.genres[genre]["family_fit"].get(self.families[family].name, 1.0))

    def _family_weights(self, genre: int, families: list[Family]) -> list[float]:
        """How likely a release of ``genre`` comes out on each of ``families``."""
        return [f.release_weight * self._fit(genre, f.index) for f in families]

    def _active(self, family: int, day: int) -> list[int]:
        return [
            p
            for p in self.families[family].platforms
            if self.platforms[p].start <= day <= self.platforms[p].end
        ]

    def _franchise_families(self, studio: int, genre: int) -> list[int]:
        """One family (an exclusive) or several (multi-platform)."""
        rng, n_fam = self.rng, len(self.families)
        if n_fam == 1 or rng.random() < 0.45:
            if rng.random() < 0.65:
                return [self.studios[studio].home_family]
            return [pick_weighted(rng, self._family_weights(genre, self.families))]
        chosen = [
            f.index
            for f in self.families
            if rng.random() < min(1.0, f.multiplatform_prob * self._fit(genre, f.index))
        ]
        while len(chosen) < 2:
            rest = [f for f in self.families if f.index not in chosen]
            chosen.append(rest[pick_weighted(rng, self._family_weights(genre, rest))].index)
        return sorted(chosen)

    def _standalone_launch(self, studio: int, genre: int) -> tuple[int, list[int]]:
        """(day, platforms) of a standalone game: a family it fits, sometimes others live that day."""
        rng = self.rng
        while True:
            day = self._random_day(self.t0, self.t1)
            live = [f for f in self.families if self._active(f.index, day)]
            if not live:
                continue
            home = self.studios[studio].home_family
            weights = [
                w * (1.5 if f.index == home else 1.0) for f, w in zip(live, self._family_weights(genre, live))
            ]
            first = live[pick_weighted(rng, weights)].index
            families = [first]
            if rng.random() < 0.3:
                families += [
                    f.index
                    for f in live
                    if f.index != first and rng.random() < f.multiplatform_prob * self._fit(genre, f.index)
                ]
            platforms = self._release_platforms(families, day)
            if platforms:
                return day, platforms

    def _release_platforms(self, families: list[int], day: int) -> list[int]:
        """The newest active generation of each family; during an overlap, sometimes the older one too."""
        chosen: list[int] = []
        for fam in families:
            active = self._active(fam, day)
            if active:
                chosen.append(active[-1])
                if len(active) > 1 and self.rng.random() < 0.4:
                    chosen.append(active[-2])
        return sorted(chosen)

    def _random_day(self, lo: int, hi: int) -> int:
        """A day in [lo, hi], with extra releases in the autumn season."""
        day = int(self.rng.integers(lo, hi + 1))
        if self.rng.random() < 0.35:
            year = year_of(day)
            autumn = int(self.rng.integers(day_of(f"{year}-09-01"), day_of(f"{year}-11-30") + 1))
            if lo <= autumn <= hi:
                day = autumn
        return day

    def _gap_to_next_entry(self, yearly: bool) -> int:
        """Days to the next entry: about a year for a yearly series, else one to several years."""
        if yearly:
            return YEAR_DAYS + int(self.rng.integers(-20, 21))
        return int(YEAR_DAYS * (1.0 + self.rng.gamma(2.0, 0.8)))
