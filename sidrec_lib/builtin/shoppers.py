"""Shoppers: platform families and generations, genre tastes, franchise loyalty, purchases in time order.

Each user owns one or two platform families and moves to each new generation some months after it comes
out, has concentrated genre tastes, follows the franchises they like (buying each sequel once it is
released) and buys over an active period of their own, with a share of random purchases.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from sidrec_lib.builtin.catalog import Catalog
from sidrec_lib.builtin.timeline import MS_PER_DAY, YEAR_DAYS, timeline
from sidrec_lib.presets import BuiltinConfig

_RECENCY_DAYS = 365.0  # interest in a game decays over about a year after release...
_LOG_RECENCY_FLOOR = math.log(0.05)  # ...down to a catalog floor
_WINDOW_DAYS = 3 * YEAR_DAYS  # items older than this at the start of a user's period are not candidates
_OFF_KIND_PENALTY = -4.0  # log-weight of a game when the user came for an accessory, and vice versa
_LOG_GO_ON = math.log(3.0)  # after buying entry k of a franchise: later entries are more tempting...
_LOG_GO_BACK = math.log(0.05)  # ...and going back to earlier ones is rare
_SEQUEL_WAIT_DAYS = 45.0  # mean wait between a sequel's release (or the wish for it) and its purchase
_SEQUEL_GRACE_DAYS = 180  # a sequel may still be bought this long after the active period


@dataclass
class Purchases:
    user: np.ndarray  # user index per purchase, users in order, each user's purchases in time order
    item: np.ndarray
    timestamp: np.ndarray  # milliseconds
    after_previous: np.ndarray  # bought the previous franchise entry before this one
    user_bias: np.ndarray  # per user, for ratings


def simulate(config: BuiltinConfig, cat: Catalog, rng: np.random.Generator) -> Purchases:
    """Every user's purchases, in time order."""
    shop = _Shop(config, cat)
    users, items, days, after = [], [], [], []
    for u in range(config.n_users):
        u_items, u_days, u_after = _shop_one(shop, rng)
        users.append(np.full(len(u_items), u, dtype=np.int64))
        items.append(np.array(u_items, dtype=np.int64))
        days.append(np.array(u_days, dtype=np.int64))
        after.append(np.array(u_after, dtype=bool))
    user, day = np.concatenate(users), np.concatenate(days)
    timestamp = _timestamps(user, day, rng)
    return Purchases(
        user, np.concatenate(items), timestamp, np.concatenate(after), rng.normal(0.0, 0.3, config.n_users)
    )


def _timestamps(user: np.ndarray, day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A time of day for each purchase; on a day with several purchases, in purchase order and distinct."""
    offset = rng.integers(8 * 3_600_000, 23 * 3_600_000, len(day))
    stamps = (day * MS_PER_DAY + offset[np.lexsort((offset, day, user))]).tolist()
    for i in range(1, len(stamps)):
        if user[i] == user[i - 1] and stamps[i] <= stamps[i - 1]:
            stamps[i] = stamps[i - 1] + 1
    return np.array(stamps, dtype=np.int64)


class _Shop:
    """The catalog as arrays, plus what every shopper draws from."""

    def __init__(self, config: BuiltinConfig, cat: Catalog) -> None:
        items = cat.items
        self.config, self.cat = config, cat
        self.t0, self.t1 = timeline(config)
        self.day = np.array([it.day for it in items], dtype=np.int64)
        self.platform = np.array([it.platform for it in items], dtype=np.int64)
        self.family = np.array([cat.platforms[it.platform].family for it in items], dtype=np.int64)
        self.genre = np.array(
            [it.genre if it.genre >= 0 else len(cat.genres) for it in items], dtype=np.int64
        )  # accessories: one genre after the real ones
        self.is_accessory = self.genre == len(cat.genres)
        self.group = np.array([it.group for it in items], dtype=np.int64)
        self.franchise = np.array([it.franchise for it in items], dtype=np.int64)
        self.entry = np.array([it.entry for it in items], dtype=np.int64)
        self.log_pop = np.log(np.array([it.popularity for it in items]))
        self.by_platform = []  # per platform: its items sorted by release day
        for p in range(len(cat.platforms)):
            idx = np.flatnonzero(self.platform == p)
            self.by_platform.append(idx[np.argsort(self.day[idx], kind="stable")])
        # For random purchases: popularity among the items released so far.
        self.by_day = np.argsort(self.day, kind="stable")
        self.by_day_days = self.day[self.by_day]
        self.by_day_cum = np.cumsum(np.exp(self.log_pop[self.by_day]))
        self.family_w = np.array([f.user_weight for f in cat.families])
        self.family_w /= self.family_w.sum()
        self.genre_w = np.array([g["weight"] for g in cat.genres], dtype=float)
        self.genre_w /= self.genre_w.sum()
        self.fit = np.array([[g["family_fit"].get(f.name, 1.0) for g in cat.genres] for f in cat.families])


@dataclass(frozen=True)
class _Adoption:
    """When a user moves to each generation of one platform family."""

    generations: np.ndarray  # platform indices, in order
    days: np.ndarray  # the day each is adopted; the first long before the store opens

    def platform_on(self, day: np.ndarray | int) -> np.ndarray:
        """The generation the user plays on, on each of ``day``."""
        return self.generations[np.searchsorted(self.days, day, side="right") - 1]


@dataclass(frozen=True)
class _Shopper:
    """Who one user is and when they shop."""

    families: list[int]
    log_taste: np.ndarray  # log-weight per genre, then for accessories
    accessory_share: float
    start: int  # the active period
    end: int
    event_days: np.ndarray  # the regular purchase occasions, sorted
    adoptions: dict[int, _Adoption]  # per owned family
    current: np.ndarray  # per owned family and occasion: the generation played on


def _shop_one(shop: _Shop, rng: np.random.Generator) -> tuple[list[int], list[int], list[bool]]:
    """One user's purchases: (items, days, bought-after-previous-entry flags)."""
    shopper = _draw_shopper(shop, rng)
    cand = _candidates(shop, shopper)
    keys = _occasion_keys(shop, rng, shopper, cand)
    is_noise = rng.random(len(shopper.event_days)) < shop.config.noise_share
    buyer = _Buyer(shop, rng, shopper.adoptions, cand)
    last_day = min(shop.t1, shopper.end + _SEQUEL_GRACE_DAYS)
    buyer.buy_in_time_order(shopper.event_days, keys, is_noise, last_day)
    return buyer.items, buyer.days, buyer.after_previous


def _draw_shopper(shop: _Shop, rng: np.random.Generator) -> _Shopper:
    """Platform families, genre taste, interest in accessories, active period and occasions."""
    families = _own_families(shop, rng)
    log_taste, accessory_share = _tastes(shop, rng, families)
    start, end = _active_period(shop, rng, families)
    event_days = _occasion_days(shop.config, rng, start, end)
    adoptions = _adoptions(shop.cat, rng, families)
    current = np.stack([adoptions[f].platform_on(event_days) for f in families])
    return _Shopper(families, log_taste, accessory_share, start, end, event_days, adoptions, current)


def _own_families(shop: _Shop, rng: np.random.Generator) -> list[int]:
    """One platform family, or two for a ``two_family_share`` of users, by user weight."""
    n_families = len(shop.cat.families)
    n_own = 2 if n_families > 1 and rng.random() < shop.config.two_family_share else 1
    return sorted(int(f) for f in rng.choice(n_families, size=n_own, replace=False, p=shop.family_w))


def _tastes(shop: _Shop, rng: np.random.Generator, families: list[int]) -> tuple[np.ndarray, float]:
    """(log-weight per genre then accessories, share of occasions spent on accessories)."""
    taste = rng.dirichlet(0.3 * len(shop.cat.genres) * shop.genre_w * shop.fit[families].mean(axis=0))
    taste = 0.95 * taste + 0.05 * shop.genre_w
    accessory_share = min(0.5, shop.config.accessory_share * 0.8 * rng.gamma(2.0, 0.5))
    log_taste = np.log(np.append(taste * (1.0 - accessory_share), max(accessory_share, 1e-6)))
    return log_taste, accessory_share


def _active_period(shop: _Shop, rng: np.random.Generator, families: list[int]) -> tuple[int, int]:
    """First and last day of shopping: inside the families' years, more shoppers in later years."""
    cat = shop.cat
    lo = max(shop.t0 + 60, min(cat.families[f].start for f in families))
    hi = min(shop.t1, max(cat.families[f].end for f in families) + YEAR_DAYS)
    duration = YEAR_DAYS * (0.7 + rng.gamma(2.0, 1.2))
    start = shop.t0 + (shop.t1 - shop.t0) * rng.beta(1.8, 1.2) - duration / 2
    start = int(min(max(start, lo), max(lo, hi - 60)))
    end = int(max(start + 60, min(hi, start + duration)))
    return start, end


def _occasion_days(config: BuiltinConfig, rng: np.random.Generator, start: int, end: int) -> np.ndarray:
    """Sorted days of the regular purchases: ``min_purchases`` plus a geometric number, capped."""
    extra = config.mean_purchases - config.min_purchases
    n_regular = config.min_purchases + (int(rng.geometric(1.0 / (1.0 + extra))) - 1 if extra > 0 else 0)
    n_regular = min(n_regular, config.max_purchases)
    return np.sort(rng.integers(start, end + 1, n_regular))


def _adoptions(cat: Catalog, rng: np.random.Generator, families: list[int]) -> dict[int, _Adoption]:
    """For each owned family, the day the user moves to each new generation: some months after launch."""
    adoptions = {}
    for f in families:
        gens = np.asarray(cat.families[f].platforms)
        lags = np.minimum(900, rng.exponential(250.0, len(gens) - 1)).astype(np.int64)
        days = np.concatenate([[-(10**9)], [cat.platforms[p].start for p in gens[1:]] + lags])
        adoptions[f] = _Adoption(gens, days)
    return adoptions


def _candidates(shop: _Shop, shopper: _Shopper) -> np.ndarray:
    """Items of the user's generations released in, or shortly before, their active period."""
    parts = []
    for p in np.unique(shopper.current):
        idx = shop.by_platform[p]
        d = shop.day[idx]
        first = np.searchsorted(d, shopper.start - _WINDOW_DAYS)
        last = np.searchsorted(d, shopper.end, side="right")
        parts.append(idx[first:last])
    return np.concatenate(parts)


def _occasion_keys(shop: _Shop, rng: np.random.Generator, shopper: _Shopper, cand: np.ndarray) -> np.ndarray:
    """Gumbel-max keys, one row per occasion: popularity x taste x recency, -inf off the current platforms."""
    days = shopper.event_days
    age = days[:, None] - shop.day[cand][None, :]
    recency = np.logaddexp(age / -_RECENCY_DAYS, _LOG_RECENCY_FLOOR)
    wants_accessory = rng.random(len(days)) < shopper.accessory_share
    off_kind = np.where(wants_accessory[:, None] == shop.is_accessory[cand][None, :], 0.0, _OFF_KIND_PENALTY)
    log_w = shop.log_pop[cand] + shopper.log_taste[shop.genre[cand]] + recency + off_kind
    on_current = (shop.platform[cand][None, :] == shopper.current[:, :, None]).any(axis=0)
    return np.where((age >= 0) & on_current, log_w + rng.gumbel(size=log_w.shape), -np.inf)


class _Buyer:
    """One user buying in time order: what they own, and how it changes what tempts them next."""

    def __init__(
        self, shop: _Shop, rng: np.random.Generator, adoptions: dict[int, _Adoption], cand: np.ndarray
    ) -> None:
        self.shop, self.rng, self.adoptions, self.cand = shop, rng, adoptions, cand
        self.cand_group, self.cand_franchise = shop.group[cand], shop.franchise[cand]
        self.cand_entry = shop.entry[cand]
        self.adjust = np.zeros(len(cand))  # per candidate: -inf once its release is owned, else loyalty
        self.owned: set[int] = set()  # groups bought: releases (on any platform) and accessories
        self.top_entry: dict[int, int] = {}  # per franchise: the latest entry bought
        self.items: list[int] = []
        self.days: list[int] = []
        self.after_previous: list[bool] = []

    def buy_in_time_order(
        self, event_days: np.ndarray, keys: np.ndarray, is_noise: np.ndarray, last_day: int
    ) -> None:
        """Go through the occasions by day; a franchise entry may put its sequel on the calendar."""
        calendar = [(int(d), i, -1) for i, d in enumerate(event_days)]  # (day, order, awaited release)
        heapq.heapify(calendar)
        order = len(calendar)
        while calendar:
            day, slot, release = heapq.heappop(calendar)
            if release >= 0:
                item = self._sequel_item(release, day)
            elif is_noise[slot] or not len(self.cand):
                item = self._random_item(day)
            else:
                item = self._favourite(keys[slot])
                item = item if item >= 0 else self._random_item(day)
            if item < 0:
                continue
            sequel = self._take(item, day)
            if sequel >= 0 and self.rng.random() < self.shop.config.sequel_follow_prob:
                release_day = self.shop.cat.releases[sequel].day
                next_day = max(day, release_day) + int(self.rng.exponential(_SEQUEL_WAIT_DAYS))
                if next_day <= last_day:
                    heapq.heappush(calendar, (next_day, order, sequel))
                    order += 1

    def _favourite(self, keys: np.ndarray) -> int:
        """The candidate with the highest key among releases not owned yet; -1 if none."""
        row = keys + self.adjust
        best = int(np.argmax(row))
        return int(self.cand[best]) if row[best] > -np.inf else -1

    def _take(self, item: int, day: int) -> int:
        """Buy ``item`` on ``day``; return the release of the franchise's next entry if not owned, else -1."""
        shop = self.shop
        group, fr, entry = int(shop.group[item]), int(shop.franchise[item]), int(shop.entry[item])
        self.items.append(item)
        self.days.append(day)
        self.owned.add(group)
        self.adjust[self.cand_group == group] = -np.inf
        if fr < 0:
            self.after_previous.append(False)
            return -1
        chain = shop.cat.franchise_releases[fr]
        self.after_previous.append(entry >= 2 and chain[entry - 2] in self.owned)
        self.top_entry[fr] = top = max(entry, self.top_entry.get(fr, 0))
        same = np.flatnonzero(self.cand_franchise == fr)
        loyalty = np.where(self.cand_entry[same] < top, _LOG_GO_BACK, _LOG_GO_ON)
        self.adjust[same] = np.where(np.isneginf(self.adjust[same]), -np.inf, loyalty)
        return chain[entry] if entry < len(chain) and chain[entry] not in self.owned else -1

    def _sequel_item(self, release: int, day: int) -> int:
        """The awaited release's item on the user's platform of the day, else on any of their families.

        -1 if they own it already or it is on none of their families.
        """
        if release in self.owned:
            return -1
        fallback = -1
        for item in self.shop.cat.release_items[release]:
            adoption = self.adoptions.get(int(self.shop.family[item]))
            if adoption is None:
                continue
            if adoption.platform_on(day) == self.shop.platform[item]:
                return item
            fallback = item if fallback < 0 else fallback
        return fallback

    def _random_item(self, day: int) -> int:
        """A popularity-weighted item released by ``day`` and not owned yet; -1 if none is found."""
        shop = self.shop
        released = int(np.searchsorted(shop.by_day_days, day, side="right"))
        if released == 0:
            return -1
        total = shop.by_day_cum[released - 1]
        for _ in range(5):
            pos = min(
                released - 1, int(np.searchsorted(shop.by_day_cum, self.rng.random() * total, side="right"))
            )
            item = int(shop.by_day[pos])
            if int(shop.group[item]) not in self.owned:
                return item
        return -1
