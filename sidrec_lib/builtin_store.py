"""The ``builtin`` data source: a generated video-game store, written in the Amazon Reviews 2023 layout.

The store has platform families whose generations come and go over 2008-2024 (PlayStation 3 -> 4 -> 5,
Xbox 360 -> One -> Series X|S, Wii -> Wii U -> Switch, handhelds, PC), genres, franchises whose sequels
come out years apart, standalone games and accessories. Shoppers own one or two platform families and move
to each new generation some time after it comes out, have concentrated genre tastes, follow the
franchises they like (buying each sequel once it is released) and buy in time order over an active period
of their own, with a share of random purchases.

Each item's ``details`` carries the ground truth (platform, genre, franchise, price tier, player mode,
release date...) so that steering can be scored exactly. Every word comes from the JSON files in
``data/builtin/``; the code holds only the model of the store. The same config always gives the same
records and byte-identical files: the catalog depends only on ``seed`` and the catalog knobs, not on
``n_users``.
"""

from __future__ import annotations

import gzip
import heapq
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from sidrec_lib.files import atomic_path

CATEGORY = "Video_Games"
MAIN_CATEGORY = "Video Games"
META_FILENAME = f"meta_{CATEGORY}.jsonl.gz"
REVIEWS_FILENAME = f"{CATEGORY}.jsonl.gz"
DEFAULT_VOCAB_DIR = Path(__file__).resolve().parents[1] / "data" / "builtin"
PLAYER_MODES = ("Single-player", "Online co-op", "Online competitive", "Local co-op")
PRICE_TIERS = ("Budget", "Standard", "Premium")

_EPOCH = date(1970, 1, 1)
_MS_PER_DAY = 86_400_000
_YEAR_DAYS = 365
_STARS = ("1", "2", "3", "4", "5")


@dataclass(frozen=True)
class BuiltinStoreConfig:
    """Size and behaviour of the generated store; the same config always gives the same files."""

    n_items: int = 3000
    n_users: int = 4000
    seed: int = 0
    start_year: int = 2008
    end_year: int = 2024
    accessory_share: float = 0.10  # share of items that are accessories
    franchise_share: float = 0.45  # share of game items that belong to a franchise
    popularity_sigma: float = 1.2  # spread of log popularity: larger means a longer tail
    mean_purchases: float = 9.0  # mean purchases per user, sequels not counted
    min_purchases: int = 5  # every user gets at least this many purchase occasions
    max_purchases: int = 60
    noise_share: float = 0.08  # share of purchases picked at random (by popularity only)
    sequel_follow_prob: float = 0.8  # chance a buyer of a franchise entry buys the next one
    two_family_share: float = 0.35  # share of users who own two platform families
    verified_share: float = 0.88

    def __post_init__(self) -> None:
        for name in (
            "n_items",
            "n_users",
            "seed",
            "start_year",
            "end_year",
            "min_purchases",
            "max_purchases",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise ValueError(f"BuiltinStoreConfig.{name} must be an integer, got {value!r}")
        if self.n_items < 1 or self.n_users < 1:
            raise ValueError(f"n_items and n_users must be >= 1, got {self.n_items} and {self.n_users}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not 1970 <= self.start_year < self.end_year <= 2100:
            raise ValueError(
                f"Need 1970 <= start_year < end_year <= 2100, got {self.start_year}..{self.end_year}"
            )
        for name in (
            "accessory_share",
            "franchise_share",
            "noise_share",
            "sequel_follow_prob",
            "two_family_share",
            "verified_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"BuiltinStoreConfig.{name} must be within [0, 1], got {value!r}")
        if self.popularity_sigma < 0:
            raise ValueError(f"popularity_sigma must be >= 0, got {self.popularity_sigma!r}")
        if not 1 <= self.min_purchases <= self.max_purchases:
            raise ValueError(
                f"Need 1 <= min_purchases <= max_purchases, got {self.min_purchases} and {self.max_purchases}"
            )
        if not self.min_purchases <= self.mean_purchases <= self.max_purchases:
            raise ValueError(
                f"mean_purchases must lie within [min_purchases, max_purchases], got {self.mean_purchases!r}"
            )


# ---------------------------------------------------------------------------------------------------------
# Vocabulary: every word of the store lives in data/builtin/*.json
# ---------------------------------------------------------------------------------------------------------

_VOCAB_KEYS: dict[str, tuple[str, ...]] = {
    "platforms": ("families",),
    "genres": ("genres",),
    "names": (
        "adjectives",
        "nouns",
        "places",
        "coined_prefixes",
        "coined_suffixes",
        "franchise_templates",
        "standalone_templates",
        "subtitle_templates",
        "subtitle_adjectives",
        "subtitle_nouns",
        "roman_numerals",
        "studio",
    ),
    "texts": (
        "first_entry_templates",
        "sequel_styles",
        "yearly_templates",
        "sku_title_templates",
        "edition_title_templates",
        "editions",
        "description_layouts",
        "sequel_sentences",
        "mode_sentences",
        "mode_features",
        "closers",
        "tier_features",
    ),
    "accessories": (
        "first_party_share",
        "brand_prefixes",
        "brand_suffixes",
        "model_words",
        "model_suffixes",
        "colors",
        "title_templates",
        "description_templates",
        "generic_features",
        "types",
    ),
    "reviews": ("game", "accessory", "closers"),
    "pricing": ("game_prices",),
}
_FAMILY_KEYS = (
    "name",
    "maker",
    "kinds",
    "release_weight",
    "user_weight",
    "multiplatform_prob",
    "generations",
)
_GENERATION_KEYS = ("name", "start", "end", "features")
_GENRE_KEYS = (
    "name",
    "weight",
    "multiplayer_prob",
    "player_modes",
    "family_fit",
    "yearly_share",
    "adjectives",
    "nouns",
    "heroes",
    "settings",
    "hooks",
    "gameplay",
    "features",
    "aspects",
)
_ACCESSORY_TYPE_KEYS = ("name", "kinds", "weight", "price", "descriptions", "features", "aspects")
_REVIEW_KIND_KEYS = {
    "game": ("titles", "openers", "bodies", "sequel_positive", "sequel_negative"),
    "accessory": ("titles", "openers", "bodies"),
}


def _require(obj: Any, keys: tuple[str, ...], path: Path, where: str) -> None:
    """Raise a ValueError naming the file if ``obj`` is not a dict holding every key, lists non-empty."""
    if not isinstance(obj, dict):
        raise ValueError(f"Vocabulary file {path}: {where} must be a JSON object")
    for key in keys:
        if key not in obj:
            raise ValueError(f"Vocabulary file {path}: missing key {key!r} in {where}")
        if isinstance(obj[key], (list, dict)) and not obj[key]:
            raise ValueError(f"Vocabulary file {path}: {where}.{key} is empty")


def load_vocab(vocab_dir: Path | None = None) -> dict[str, Any]:
    """Read and check every vocabulary file; a missing or invalid file is an error naming its path."""
    folder = Path(vocab_dir) if vocab_dir is not None else DEFAULT_VOCAB_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"Vocabulary folder {folder} not found (expected the files of data/builtin/)")
    vocab: dict[str, Any] = {}
    for name, keys in _VOCAB_KEYS.items():
        path = folder / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(f"Vocabulary file {path} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"Vocabulary file {path} is not valid JSON: {e}") from e
        _require(data, keys, path, "the top level")
        vocab[name] = data
    _check_vocab(vocab, folder)
    return vocab


def _check_vocab(vocab: dict[str, Any], folder: Path) -> None:
    """Check the nested records the generator relies on."""
    path = folder / "platforms.json"
    for i, fam in enumerate(vocab["platforms"]["families"]):
        _require(fam, _FAMILY_KEYS, path, f"families[{i}]")
        for j, gen in enumerate(fam["generations"]):
            _require(gen, _GENERATION_KEYS, path, f"families[{i}].generations[{j}]")
            for key in ("start", "end"):
                if gen[key] is not None:
                    try:
                        date.fromisoformat(gen[key])
                    except (TypeError, ValueError) as e:
                        raise ValueError(
                            f"Vocabulary file {path}: {gen['name']}.{key} is not YYYY-MM-DD"
                        ) from e
    path = folder / "genres.json"
    for i, genre in enumerate(vocab["genres"]["genres"]):
        _require(genre, _GENRE_KEYS, path, f"genres[{i}]")
        unknown = set(genre["player_modes"]) - set(PLAYER_MODES[1:])
        if unknown:
            raise ValueError(
                f"Vocabulary file {path}: unknown player modes {sorted(unknown)} in {genre['name']}"
            )
    path = folder / "texts.json"
    for key in ("mode_sentences", "mode_features"):
        _require(vocab["texts"][key], PLAYER_MODES, path, key)
    for key in ("editions", "tier_features"):
        _require(vocab["texts"][key], PRICE_TIERS, path, key)
    _require(
        vocab["names"]["studio"],
        ("templates", "prefixes", "tails", "suffixes"),
        folder / "names.json",
        "studio",
    )
    path = folder / "accessories.json"
    for i, kind in enumerate(vocab["accessories"]["types"]):
        _require(kind, _ACCESSORY_TYPE_KEYS, path, f"types[{i}]")
    path = folder / "reviews.json"
    for kind, keys in _REVIEW_KIND_KEYS.items():
        _require(vocab["reviews"][kind], keys, path, kind)
        for key in ("titles", "openers", "bodies"):
            _require(vocab["reviews"][kind][key], _STARS, path, f"{kind}.{key}")
    _require(vocab["reviews"]["closers"], ("positive", "negative", "neutral"), path, "closers")
    _require(vocab["pricing"]["game_prices"], PRICE_TIERS, folder / "pricing.json", "game_prices")


# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------

_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")
_SPACES = re.compile(r"\s+")


def _day(iso: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return (date.fromisoformat(iso) - _EPOCH).days


def _iso(day: int) -> str:
    return (_EPOCH + timedelta(days=int(day))).isoformat()


def _year(day: int) -> int:
    return (_EPOCH + timedelta(days=int(day))).year


def _pick(rng: np.random.Generator, seq: list[Any] | tuple[Any, ...]) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _pick_weighted(rng: np.random.Generator, weights: np.ndarray | list[float]) -> int:
    w = np.asarray(weights, dtype=float)
    return int(rng.choice(len(w), p=w / w.sum()))


def _fill(template: str, slots: dict[str, Any]) -> str:
    """``template.format_map(slots)``, with an error that names the template."""
    try:
        return template.format_map(slots)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"Cannot fill vocabulary template {template!r}: unknown or bad slot {e}") from e


def _tidy(text: str) -> str:
    """Collapse spaces and start every sentence with a capital letter."""
    text = _SPACES.sub(" ", text).strip()
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


# ---------------------------------------------------------------------------------------------------------
# Platforms: families of generations, each releasing new items over a range of dates
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Platform:
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
class _Family:
    index: int
    name: str
    maker: str | None
    release_weight: float
    user_weight: float
    multiplatform_prob: float
    platforms: tuple[int, ...]  # generations in order
    start: int
    end: int


def _build_platforms(vocab: dict[str, Any], t0: int, t1: int) -> tuple[list[_Family], list[_Platform]]:
    """Platform generations clipped to the timeline [t0, t1], grouped into families."""
    families: list[_Family] = []
    platforms: list[_Platform] = []
    for fam in vocab["platforms"]["families"]:
        members: list[int] = []
        for gen in fam["generations"]:
            start = max(t0, _day(gen["start"]))
            end = min(t1, _day(gen["end"])) if gen["end"] else t1
            if start > end:
                continue
            members.append(len(platforms))
            platforms.append(
                _Platform(
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
                _Family(
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
        raise ValueError(f"No platform of platforms.json is active between {_iso(t0)} and {_iso(t1)}")
    return families, platforms


# ---------------------------------------------------------------------------------------------------------
# Catalog: studios, franchises, standalone games and accessories
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Studio:
    name: str
    home_family: int
    genres: tuple[int, ...]
    prestige: float


@dataclass
class _Release:
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
class _Item:
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


@dataclass
class _Catalog:
    families: list[_Family]
    platforms: list[_Platform]
    genres: list[dict[str, Any]]
    items: list[_Item]
    releases: list[_Release]
    franchise_releases: list[list[int]]  # release indices in entry order
    release_items: list[list[int]]


class _CatalogBuilder:
    """Builds the catalog step by step from one random stream."""

    def __init__(self, config: BuiltinStoreConfig, vocab: dict[str, Any], rng: np.random.Generator) -> None:
        self.config, self.vocab, self.rng = config, vocab, rng
        self.t0 = _day(f"{config.start_year}-01-01")
        self.t1 = _day(f"{config.end_year}-12-31")
        self.families, self.platforms = _build_platforms(vocab, self.t0, self.t1)
        self.genres: list[dict[str, Any]] = vocab["genres"]["genres"]
        self.genre_weights = np.array([g["weight"] for g in self.genres], dtype=float)
        self.names: dict[str, Any] = vocab["names"]
        self.texts: dict[str, Any] = vocab["texts"]
        self.studios: list[_Studio] = []
        self.releases: list[_Release] = []
        self.franchise_names: list[str] = []
        self.franchise_releases: list[list[int]] = []
        self.used_titles: set[str] = set()

    # -- the whole catalog ------------------------------------------------------------------------------
    def build(self) -> _Catalog:
        n_accessories = round(self.config.n_items * self.config.accessory_share)
        n_games = self.config.n_items - n_accessories
        self._make_studios(max(3, round(self.config.n_items / 30)))
        self._make_releases(n_games)
        self._assign_tiers()
        items: list[_Item] = []
        release_items: list[list[int]] = []
        for r_index, release in enumerate(self.releases):
            release_items.append(list(range(len(items), len(items) + len(release.platforms))))
            items.extend(self._game_items(r_index, release))
        items.extend(self._accessories(n_accessories, first_group=len(self.releases)))
        return _Catalog(
            self.families,
            self.platforms,
            self.genres,
            items,
            self.releases,
            self.franchise_releases,
            release_items,
        )

    # -- names ------------------------------------------------------------------------------------------
    def _coined(self) -> str:
        return _pick(self.rng, self.names["coined_prefixes"]) + _pick(self.rng, self.names["coined_suffixes"])

    def _subtitle(self) -> str:
        n = self.names
        place = self._coined() if self.rng.random() < 0.3 else _pick(self.rng, n["places"])
        slots = {
            "sub_adj": _pick(self.rng, n["subtitle_adjectives"]),
            "place": place,
            "sub_noun": _pick(self.rng, n["subtitle_nouns"]),
        }
        return _fill(_pick(self.rng, n["subtitle_templates"]), slots)

    def _game_name(self, genre: int, templates: list[str]) -> str:
        """A new, unused name from genre-flavoured and generic words."""
        g, n, rng = self.genres[genre], self.names, self.rng
        for _ in range(1000):
            adj = _pick(rng, g["adjectives"] if rng.random() < 0.6 else n["adjectives"])
            noun = _pick(rng, g["nouns"] if rng.random() < 0.6 else n["nouns"])
            noun2 = _pick(rng, n["nouns"] if rng.random() < 0.6 else g["nouns"])
            place = self._coined() if rng.random() < 0.3 else _pick(rng, n["places"])
            slots = {
                "adj": adj,
                "noun": noun,
                "noun2": noun2,
                "place": place,
                "coined": self._coined(),
                "subtitle": self._subtitle(),
            }
            name = _fill(_pick(rng, templates), slots)
            if noun2 != noun and name not in self.used_titles:
                self.used_titles.add(name)
                return name
        raise ValueError("Ran out of unused game names: names.json is too small for this many items")

    def _make_studios(self, count: int) -> None:
        s, rng = self.names["studio"], self.rng
        fam_w = [f.release_weight for f in self.families]
        taken: set[str] = set()
        attempts = 0
        while len(self.studios) < count:
            attempts += 1
            if attempts > 1000 * count:
                raise ValueError(
                    "Ran out of unused studio names: names.json is too small for this many items"
                )
            first, second = _pick(rng, s["prefixes"]), _pick(rng, s["prefixes"])
            slots = {
                "prefix": first,
                "prefix2": second,
                "tail": _pick(rng, s["tails"]),
                "suffix": _pick(rng, s["suffixes"]),
            }
            template = _pick(rng, s["templates"])
            name = _fill(template, slots)
            if name in taken or first == second or slots["tail"] in first.lower():
                continue
            taken.add(name)
            genres = rng.choice(
                len(self.genres),
                size=min(2, len(self.genres)),
                replace=False,
                p=self.genre_weights / self.genre_weights.sum(),
            )
            self.studios.append(
                _Studio(
                    name,
                    _pick_weighted(rng, fam_w),
                    tuple(int(g) for g in genres),
                    float(rng.lognormal(0.0, 0.7)),
                )
            )
        self.studio_weights = np.array([st.prestige for st in self.studios])

    # -- platforms and dates of a release ----------------------------------------------------------------
    def _fit(self, genre: int, family: int) -> float:
        return float(self.genres[genre]["family_fit"].get(self.families[family].name, 1.0))

    def _active(self, family: int, day: int) -> list[int]:
        return [
            p
            for p in self.families[family].platforms
            if self.platforms[p].start <= day <= self.platforms[p].end
        ]

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
            year = _year(day)
            autumn = int(self.rng.integers(_day(f"{year}-09-01"), _day(f"{year}-11-30") + 1))
            if lo <= autumn <= hi:
                day = autumn
        return day

    def _player_mode(self, genre: int) -> str:
        g = self.genres[genre]
        if self.rng.random() >= g["multiplayer_prob"]:
            return "Single-player"
        modes = list(g["player_modes"])
        return modes[_pick_weighted(self.rng, [g["player_modes"][m] for m in modes])]

    def _pick_genre(self, studio: int, own_share: float) -> int:
        if self.rng.random() < own_share:
            return _pick(self.rng, self.studios[studio].genres)
        return _pick_weighted(self.rng, self.genre_weights)

    # -- franchises and standalone games -----------------------------------------------------------------
    def _make_releases(self, n_games: int) -> None:
        """Franchises until their items reach their share, then standalone games; trim to exactly n_games."""
        target = round(n_games * self.config.franchise_share)
        count, attempts = 0, 0
        while count < target and attempts < 10 * n_games + 100:
            count += self._make_franchise()
            attempts += 1
        while count < n_games:
            count += self._make_standalone()
        while count > n_games:  # drop platforms (then whole releases) from the end
            last = self.releases[-1]
            drop = min(count - n_games, len(last.platforms))
            del last.platforms[len(last.platforms) - drop :]
            count -= drop
            if not last.platforms:
                self.releases.pop()
                if last.franchise >= 0:
                    self.franchise_releases[last.franchise].pop()

    def _franchise_families(self, studio: int, genre: int) -> list[int]:
        """One family (an exclusive) or several (multi-platform)."""
        rng, n_fam = self.rng, len(self.families)
        if n_fam == 1 or rng.random() < 0.45:
            if rng.random() < 0.65:
                return [self.studios[studio].home_family]
            return [
                _pick_weighted(rng, [f.release_weight * self._fit(genre, f.index) for f in self.families])
            ]
        chosen = [
            f.index
            for f in self.families
            if rng.random() < min(1.0, f.multiplatform_prob * self._fit(genre, f.index))
        ]
        while len(chosen) < 2:
            rest = [f for f in self.families if f.index not in chosen]
            chosen.append(
                rest[_pick_weighted(rng, [f.release_weight * self._fit(genre, f.index) for f in rest])].index
            )
        return sorted(chosen)

    def _entry_title(
        self, name: str, entry: int, style: str, template: str, yearly: bool, first_year: int
    ) -> str:
        """Title of a franchise entry: 'Name', 'Name 2', 'Name III', 'Name: Subtitle', 'Name 17'..."""
        for _ in range(30):
            if yearly:
                season = first_year + entry  # the season after release: a 2016 release is "Name 17"
                tmpl, slots = template, {"name": name, "year": season, "yy": f"{season % 100:02d}"}
            else:
                if entry == 1:
                    tmpl = _pick(self.rng, self.texts["first_entry_templates"])
                else:
                    tmpl = (
                        _pick(self.rng, self.texts["sequel_styles"][style]) if style == "mixed" else template
                    )
                roman = self.names["roman_numerals"]
                slots = {
                    "name": name,
                    "n": entry,
                    "roman": roman[entry - 1] if entry <= len(roman) else str(entry),
                    "subtitle": self._subtitle() if "{subtitle}" in tmpl else "",
                }
            title = _fill(tmpl, slots)
            if title not in self.used_titles:
                break
        self.used_titles.add(title)
        return title

    def _make_franchise(self) -> int:
        """A franchise: entries years apart (yearly for some sports series), one studio. Returns its items."""
        rng, cfg = self.rng, self.config
        studio = _pick_weighted(rng, self.studio_weights)
        genre = self._pick_genre(studio, 0.8)
        g = self.genres[genre]
        families = self._franchise_families(studio, genre)
        lo = max(self.t0, min(self.families[f].start for f in families))
        hi = min(self.t1 - _YEAR_DAYS, max(self.families[f].end for f in families) - 90)
        if lo > hi:
            return 0
        yearly = bool(rng.random() < g["yearly_share"])
        name = self._game_name(genre, self.names["franchise_templates"])
        style = _pick(rng, sorted(self.texts["sequel_styles"]))
        template = _pick(
            rng, self.texts["yearly_templates"] if yearly else self.texts["sequel_styles"][style]
        )
        n_entries = int(rng.integers(3, 11)) if yearly else min(7, 1 + int(rng.geometric(0.4)))
        popularity = rng.lognormal(0.4, cfg.popularity_sigma * 0.85) * self.studios[studio].prestige ** 0.5
        trend = math.exp(rng.normal(0.0, 0.15))
        mode, hero, setting = self._player_mode(genre), _pick(rng, g["heroes"]), _pick(rng, g["settings"])
        index, prev_title, items = len(self.franchise_names), None, 0
        self.franchise_names.append(name)
        self.franchise_releases.append([])
        day = self._random_day(lo, hi)
        first_year = _year(day)
        for entry in range(1, n_entries + 1):
            platforms = self._release_platforms(families, day)
            if not platforms:
                break
            if entry > 1:  # later entries mostly keep the franchise's mode, hero and setting
                mode = self._player_mode(genre) if rng.random() < 0.2 else mode
                hero = _pick(rng, g["heroes"]) if rng.random() < 0.15 else hero
                setting = _pick(rng, g["settings"]) if rng.random() < 0.4 else setting
            title = self._entry_title(name, entry, style, template, yearly, first_year)
            entry_pop = popularity * trend ** (entry - 1) * rng.lognormal(0.0, 0.25)
            self.franchise_releases[index].append(len(self.releases))
            self.releases.append(
                _Release(
                    title=title,
                    genre=genre,
                    studio=studio,
                    day=day,
                    platforms=platforms,
                    popularity=float(entry_pop),
                    mode=mode,
                    hero=hero,
                    setting=setting,
                    franchise=index,
                    entry=entry,
                    prev_title=prev_title,
                )
            )
            items += len(platforms)
            prev_title = title
            gap = (
                _YEAR_DAYS + int(rng.integers(-20, 21))
                if yearly
                else int(_YEAR_DAYS * (1.0 + rng.gamma(2.0, 0.8)))
            )
            day += gap
            if day > self.t1:
                break
        return items

    def _make_standalone(self) -> int:
        """A game outside any franchise, on one family or several. Returns its item count."""
        rng, cfg = self.rng, self.config
        studio = _pick_weighted(rng, self.studio_weights)
        genre = self._pick_genre(studio, 0.6)
        g = self.genres[genre]
        platforms: list[int] = []
        while not platforms:
            day = self._random_day(self.t0, self.t1)
            live = [f for f in self.families if self._active(f.index, day)]
            if not live:
                continue
            weights = [
                f.release_weight
                * self._fit(genre, f.index)
                * (1.5 if f.index == self.studios[studio].home_family else 1.0)
                for f in live
            ]
            first = live[_pick_weighted(rng, weights)].index
            families = [first]
            if rng.random() < 0.3:
                families += [
                    f.index
                    for f in live
                    if f.index != first and rng.random() < f.multiplatform_prob * self._fit(genre, f.index)
                ]
            platforms = self._release_platforms(families, day)
        title = self._game_name(genre, self.names["standalone_templates"])
        popularity = rng.lognormal(-0.4, cfg.popularity_sigma) * self.studios[studio].prestige ** 0.3
        self.releases.append(
            _Release(
                title=title,
                genre=genre,
                studio=studio,
                day=day,
                platforms=platforms,
                popularity=float(popularity),
                mode=self._player_mode(genre),
                hero=_pick(rng, g["heroes"]),
                setting=_pick(rng, g["settings"]),
            )
        )
        return len(platforms)

    def _assign_tiers(self) -> None:
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

    # -- item pages ---------------------------------------------------------------------------------------
    def _game_texts(self, release: _Release) -> tuple[list[str], list[str]]:
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
            "hook": _fill(_pick(rng, g["hooks"]), slots),
            "mode": _pick(rng, t["mode_sentences"][release.mode]),
            "closer": _fill(_pick(rng, t["closers"]), slots),
            "sequel": _fill(_pick(rng, t["sequel_sentences"]), slots) + " " if release.entry >= 2 else "",
        }
        for k in range(3):
            pieces[f"gameplay_{k + 1}"] = g["gameplay"][plays[k % len(plays)]] if k < len(plays) else ""
        paragraphs = [_tidy(_fill(p, pieces)) for p in _pick(rng, t["description_layouts"])]
        n_features = int(rng.integers(2, 4))
        picked = rng.choice(len(g["features"]), size=min(n_features, len(g["features"])), replace=False)
        bullets = [g["features"][i] for i in picked] + [_pick(rng, t["mode_features"][release.mode])]
        if rng.random() < 0.5:
            bullets.append(_pick(rng, t["tier_features"][release.tier]))
        return [p for p in paragraphs if p], bullets

    def _sku_title(self, release: _Release, platform: _Platform) -> str:
        edition_prob = {"Premium": 0.15, "Standard": 0.05, "Budget": 0.15}[release.tier]
        slots = {
            "title": release.title,
            "platform": platform.name,
            "edition": _pick(self.rng, self.texts["editions"][release.tier]),
        }
        if self.rng.random() < edition_prob:
            return _fill(_pick(self.rng, self.texts["edition_title_templates"]), slots)
        return _fill(_pick(self.rng, self.texts["sku_title_templates"]), slots)

    def _game_items(self, r_index: int, release: _Release) -> list[_Item]:
        rng, g = self.rng, self.genres[release.genre]
        paragraphs, bullets = self._game_texts(release)
        base_price = float(_pick(rng, self.vocab["pricing"]["game_prices"][release.tier]))
        studio = self.studios[release.studio].name
        items = []
        for p in release.platforms:
            plat = self.platforms[p]
            price = plat.premium_price if release.tier == "Premium" and plat.premium_price else base_price
            features = list(bullets)
            features.insert(
                int(rng.integers(1, len(features) + 1)),
                _fill(_pick(rng, plat.features), {"platform": plat.name}),
            )
            details = {
                "Item Type": "Game",
                "Platform": plat.name,
                "Platform Family": self.families[plat.family].name,
                "Genre": g["name"],
            }
            if release.franchise >= 0:
                details["Franchise"] = self.franchise_names[release.franchise]
                details["Franchise Entry"] = str(release.entry)
            details.update(
                {
                    "Studio": studio,
                    "Price Tier": release.tier,
                    "Multiplayer": "No" if release.mode == "Single-player" else "Yes",
                    "Player Mode": release.mode,
                    "Release Date": _iso(release.day),
                }
            )
            items.append(
                _Item(
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
                    details=details,
                    group=r_index,
                    genre=release.genre,
                    franchise=release.franchise,
                    entry=release.entry,
                    prev_title=release.prev_title,
                    aspects=tuple(g["aspects"]),
                    review_slots={"genre": g["name"].lower(), "type": "game", "brand": studio},
                )
            )
        return items

    def _accessories(self, count: int, first_group: int) -> list[_Item]:
        """Accessories spread over platforms by how long and how widely each sold."""
        rng, a = self.rng, self.vocab["accessories"]
        if count == 0:
            return []
        plat_w = [self.families[p.family].release_weight * (p.end - p.start + 1) for p in self.platforms]
        brands: list[str] = []
        n_brands = min(max(3, count // 12 + 2), len(a["brand_prefixes"]) * len(a["brand_suffixes"]) // 2 + 1)
        while len(brands) < n_brands:
            brand = _pick(rng, a["brand_prefixes"]) + _pick(rng, a["brand_suffixes"])
            if brand not in brands:
                brands.append(brand)
        brand_w = 1.0 / np.arange(1, len(brands) + 1) ** 0.8  # a few big brands, many small ones
        items = []
        for k in range(count):
            plat = self.platforms[_pick_weighted(rng, plat_w)]
            family = self.families[plat.family]
            fitting = [t for t in a["types"] if set(t["kinds"]) & set(plat.kinds)] or a["types"]
            kind = fitting[_pick_weighted(rng, [t["weight"] for t in fitting])]
            first_party = family.maker is not None and rng.random() < a["first_party_share"]
            brand = family.maker if first_party else brands[_pick_weighted(rng, brand_w)]
            lo, hi = kind["price"]
            frac = rng.beta(3.0, 2.0) if first_party else rng.beta(1.4, 2.2)
            price = min(float(hi), math.floor(lo + frac * (hi - lo)) + 0.99)
            tier = "Budget" if frac < 0.3 else "Premium" if frac > 0.7 else "Standard"
            day = plat.start + int((plat.end - plat.start) * rng.beta(1.3, 2.2))
            slots = {
                "brand": brand,
                "model": f"{_pick(rng, a['model_words'])} {_pick(rng, a['model_suffixes'])}",
                "platform": plat.name,
                "color": _pick(rng, a["colors"]),
                "type": kind["name"],
                "hours": _pick(rng, (8, 10, 12, 15, 20, 30, 40)),
                "feet": _pick(rng, (6, 8, 10, 12)),
            }
            descs = rng.permutation(len(kind["descriptions"]))
            paragraphs = [
                _fill(_pick(rng, a["description_templates"]), slots)
                + " "
                + _fill(kind["descriptions"][descs[0]], slots)
            ]
            if len(descs) > 1 and rng.random() < 0.5:
                paragraphs.append(_fill(kind["descriptions"][descs[1]], slots))
            picked = rng.choice(
                len(kind["features"]), size=min(int(rng.integers(3, 5)), len(kind["features"])), replace=False
            )
            features = [_fill(kind["features"][i], slots) for i in picked]
            features.append(_fill(_pick(rng, a["generic_features"]), slots))
            popularity = rng.lognormal(-0.5, 1.0) * math.sqrt(kind["weight"]) * (1.5 if first_party else 1.0)
            details = {
                "Item Type": "Accessory",
                "Platform": plat.name,
                "Platform Family": family.name,
                "Price Tier": tier,
                "Release Date": _iso(day),
                "Accessory Type": kind["name"],
            }
            items.append(
                _Item(
                    title=_fill(_pick(rng, a["title_templates"]), slots),
                    short_title=f"{brand} {slots['model']}",
                    store=brand,
                    platform=plat.index,
                    day=day,
                    popularity=float(popularity),
                    price=price,
                    tier=tier,
                    description=[_tidy(p) for p in paragraphs],
                    features=features,
                    categories=[MAIN_CATEGORY, plat.name, "Accessories", kind["name"]],
                    details=details,
                    group=first_group + k,
                    aspects=tuple(kind["aspects"]),
                    review_slots={
                        "genre": "",
                        "type": kind["name"].lower(),
                        "brand": brand,
                        "hours": slots["hours"],
                    },
                )
            )
        return items


# ---------------------------------------------------------------------------------------------------------
# Shoppers: platform families, generations, genre tastes, franchise loyalty, time order
# ---------------------------------------------------------------------------------------------------------

_RECENCY_DAYS = 365.0  # interest in a game decays over about a year after release...
_LOG_RECENCY_FLOOR = math.log(0.05)  # ...down to a catalog floor
_WINDOW_DAYS = 3 * _YEAR_DAYS  # items older than this at the start of a user's period are not candidates
_OFF_KIND_PENALTY = -4.0  # log-weight of a game when the user came for an accessory, and vice versa
_LOG_GO_ON = math.log(3.0)  # after buying entry k of a franchise: later entries are more tempting...
_LOG_GO_BACK = math.log(0.05)  # ...and going back to earlier ones is rare


@dataclass
class _Purchases:
    user: np.ndarray  # user index per purchase, users in order, each user's purchases in time order
    item: np.ndarray
    timestamp: np.ndarray  # milliseconds
    after_previous: np.ndarray  # bought the previous franchise entry before this one
    user_bias: np.ndarray  # per user, for ratings


class _Shop:
    """The catalog as arrays, plus what every shopper draws from."""

    def __init__(self, config: BuiltinStoreConfig, cat: _Catalog) -> None:
        items = cat.items
        self.config, self.cat = config, cat
        self.t0 = _day(f"{config.start_year}-01-01")
        self.t1 = _day(f"{config.end_year}-12-31")
        self.day = np.array([it.day for it in items], dtype=np.int64)
        self.platform = np.array([it.platform for it in items], dtype=np.int64)
        self.family = np.array([cat.platforms[it.platform].family for it in items], dtype=np.int64)
        self.genre = np.array(
            [it.genre if it.genre >= 0 else len(cat.genres) for it in items], dtype=np.int64
        )
        self.is_accessory = self.genre == len(cat.genres)
        self.group = np.array([it.group for it in items], dtype=np.int64)
        self.franchise = np.array([it.franchise for it in items], dtype=np.int64)
        self.entry = np.array([it.entry for it in items], dtype=np.int64)
        self.log_pop = np.log(np.array([it.popularity for it in items]))
        self.by_platform = []  # per platform: its items sorted by release day
        for p in range(len(cat.platforms)):
            idx = np.flatnonzero(self.platform == p)
            self.by_platform.append(idx[np.argsort(self.day[idx], kind="stable")])
        self.by_day = np.argsort(
            self.day, kind="stable"
        )  # for random purchases: popularity among released items
        self.by_day_days = self.day[self.by_day]
        self.by_day_cum = np.cumsum(np.exp(self.log_pop[self.by_day]))
        self.family_w = np.array([f.user_weight for f in cat.families])
        self.family_w /= self.family_w.sum()
        self.genre_w = np.array([g["weight"] for g in cat.genres], dtype=float)
        self.genre_w /= self.genre_w.sum()
        self.fit = np.array([[g["family_fit"].get(f.name, 1.0) for g in cat.genres] for f in cat.families])


def _simulate(config: BuiltinStoreConfig, cat: _Catalog, rng: np.random.Generator) -> _Purchases:
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
    # A time of day for each purchase; on a day with several purchases, in purchase order and distinct.
    offset = rng.integers(8 * 3_600_000, 23 * 3_600_000, len(day))
    stamps = (day * _MS_PER_DAY + offset[np.lexsort((offset, day, user))]).tolist()
    for i in range(1, len(stamps)):
        if user[i] == user[i - 1] and stamps[i] <= stamps[i - 1]:
            stamps[i] = stamps[i - 1] + 1
    timestamp = np.array(stamps, dtype=np.int64)
    return _Purchases(
        user, np.concatenate(items), timestamp, np.concatenate(after), rng.normal(0.0, 0.3, config.n_users)
    )


def _shop_one(shop: _Shop, rng: np.random.Generator) -> tuple[list[int], list[int], list[bool]]:
    """One user's purchases: (items, days, bought-after-previous-entry flags)."""
    config, cat = shop.config, shop.cat
    # Who they are: platform families, genre taste, how much they care about accessories.
    n_fam = 2 if len(cat.families) > 1 and rng.random() < config.two_family_share else 1
    families = sorted(
        int(f) for f in rng.choice(len(cat.families), size=n_fam, replace=False, p=shop.family_w)
    )
    taste = rng.dirichlet(0.3 * len(cat.genres) * shop.genre_w * shop.fit[families].mean(axis=0))
    taste = 0.95 * taste + 0.05 * shop.genre_w
    accessory_share = min(0.5, config.accessory_share * 0.8 * rng.gamma(2.0, 0.5))
    log_taste = np.log(np.append(taste * (1.0 - accessory_share), max(accessory_share, 1e-6)))

    # When they shop: an active period inside their families' years, more shoppers in later years.
    lo = max(shop.t0 + 60, min(cat.families[f].start for f in families))
    hi = min(shop.t1, max(cat.families[f].end for f in families) + _YEAR_DAYS)
    duration = _YEAR_DAYS * (0.7 + rng.gamma(2.0, 1.2))
    start = shop.t0 + (shop.t1 - shop.t0) * rng.beta(1.8, 1.2) - duration / 2
    start = int(min(max(start, lo), max(lo, hi - 60)))
    end = int(max(start + 60, min(hi, start + duration)))
    extra = config.mean_purchases - config.min_purchases
    n_regular = config.min_purchases + (int(rng.geometric(1.0 / (1.0 + extra))) - 1 if extra > 0 else 0)
    n_regular = min(n_regular, config.max_purchases)
    event_days = np.sort(rng.integers(start, end + 1, n_regular))

    # Which generation of each family they play on at each event: a new one some months after launch.
    current = np.empty((len(families), n_regular), dtype=np.int64)
    adopt = {}
    for k, f in enumerate(families):
        gens = np.asarray(cat.families[f].platforms)
        lags = np.minimum(900, rng.exponential(250.0, len(gens) - 1)).astype(np.int64)
        adopt_day = np.concatenate([[-(10**9)], [cat.platforms[p].start for p in gens[1:]] + lags])
        adopt[f] = (gens, adopt_day)
        current[k] = gens[np.searchsorted(adopt_day, event_days, side="right") - 1]

    # Candidates: items of those generations released in or shortly before the active period.
    parts = []
    for p in np.unique(current):
        idx = shop.by_platform[p]
        d = shop.day[idx]
        parts.append(idx[np.searchsorted(d, start - _WINDOW_DAYS) : np.searchsorted(d, end, side="right")])
    cand = np.concatenate(parts)
    c_group, c_fr, c_entry = shop.group[cand], shop.franchise[cand], shop.entry[cand]

    # Gumbel-max keys, one row per purchase occasion: popularity x taste x recency, on a current platform.
    age = event_days[:, None] - shop.day[cand][None, :]
    recency = np.logaddexp(age / -_RECENCY_DAYS, _LOG_RECENCY_FLOOR)
    wants_accessory = rng.random(n_regular) < accessory_share
    off_kind = np.where(wants_accessory[:, None] == shop.is_accessory[cand][None, :], 0.0, _OFF_KIND_PENALTY)
    log_w = shop.log_pop[cand] + log_taste[shop.genre[cand]] + recency + off_kind
    on_current = (shop.platform[cand][None, :] == current[:, :, None]).any(axis=0)
    keys = np.where((age >= 0) & on_current, log_w + rng.gumbel(size=log_w.shape), -np.inf)
    is_noise = rng.random(n_regular) < config.noise_share

    # Buy in time order; a franchise entry may put its sequel on the calendar.
    adjust = np.zeros(len(cand))  # -inf: release already bought (on any platform); franchise loyalty bonus
    owned: set[int] = set()
    top_entry: dict[int, int] = {}
    heap: list[tuple[int, int, int]] = [
        (int(d), i, -1) for i, d in enumerate(event_days)
    ]  # (day, order, release)
    heapq.heapify(heap)
    order = n_regular
    out_items: list[int] = []
    out_days: list[int] = []
    out_after: list[bool] = []
    while heap:
        day, slot, release = heapq.heappop(heap)
        if release >= 0:  # a sequel they were waiting for
            item = _sequel_item(cat, shop, adopt, release, day) if release not in owned else -1
        elif is_noise[slot] or not len(cand):
            item = _random_item(shop, rng, owned, day)
        else:
            row = keys[slot] + adjust
            best = int(np.argmax(row))
            item = int(cand[best]) if row[best] > -np.inf else _random_item(shop, rng, owned, day)
        if item < 0:
            continue
        group, fr, entry = int(shop.group[item]), int(shop.franchise[item]), int(shop.entry[item])
        out_items.append(item)
        out_days.append(day)
        owned.add(group)
        adjust[c_group == group] = -np.inf
        if fr < 0:
            out_after.append(False)
            continue
        chain = cat.franchise_releases[fr]
        out_after.append(entry >= 2 and chain[entry - 2] in owned)
        top_entry[fr] = top = max(entry, top_entry.get(fr, 0))
        same = np.flatnonzero(c_fr == fr)
        loyalty = np.where(c_entry[same] < top, _LOG_GO_BACK, _LOG_GO_ON)
        adjust[same] = np.where(np.isneginf(adjust[same]), -np.inf, loyalty)
        if entry < len(chain) and chain[entry] not in owned and rng.random() < config.sequel_follow_prob:
            next_day = max(day, cat.releases[chain[entry]].day) + int(rng.exponential(45.0))
            if next_day <= min(shop.t1, end + 180):
                heapq.heappush(heap, (next_day, order, chain[entry]))
                order += 1
    return out_items, out_days, out_after


def _sequel_item(cat: _Catalog, shop: _Shop, adopt: dict[int, Any], release: int, day: int) -> int:
    """The release's item on the user's platform of the day, else on any of their families; -1: none."""
    fallback = -1
    for item in cat.release_items[release]:
        fam = int(shop.family[item])
        if fam not in adopt:
            continue
        gens, adopt_day = adopt[fam]
        if gens[int(np.searchsorted(adopt_day, day, side="right")) - 1] == shop.platform[item]:
            return item
        fallback = item if fallback < 0 else fallback
    return fallback


def _random_item(shop: _Shop, rng: np.random.Generator, owned: set[int], day: int) -> int:
    """A popularity-weighted item released by ``day`` and not owned yet; -1 if none is found."""
    released = int(np.searchsorted(shop.by_day_days, day, side="right"))
    if released == 0:
        return -1
    total = shop.by_day_cum[released - 1]
    for _ in range(5):
        pos = min(released - 1, int(np.searchsorted(shop.by_day_cum, rng.random() * total, side="right")))
        item = int(shop.by_day[pos])
        if int(shop.group[item]) not in owned:
            return item
    return -1


# ---------------------------------------------------------------------------------------------------------
# Records in the Amazon Reviews 2023 layout
# ---------------------------------------------------------------------------------------------------------


def _ratings(cat: _Catalog, purchases: _Purchases, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(item quality, 1-5 stars per purchase), J-shaped like real reviews: mostly 4-5, some angry 1s.

    Better items, and more popular ones, rate higher and disappoint less often.
    """
    log_pop = np.log([it.popularity for it in cat.items])
    z = (log_pop - log_pop.mean()) / (log_pop.std() + 1e-9)
    is_acc = np.array([it.genre < 0 for it in cat.items])
    quality = np.where(is_acc, 4.45, 4.6) + rng.normal(0.0, 0.3, len(cat.items)) + 0.1 * z
    q = quality[purchases.item]
    happy = np.clip(np.rint(q + purchases.user_bias[purchases.user] + rng.normal(0.0, 0.6, len(q))), 1, 5)
    unhappy = rng.choice(np.array([1.0, 2.0, 3.0]), size=len(q), p=[0.55, 0.27, 0.18])
    p_unhappy = np.clip(0.10 + 0.25 * (4.6 - q), 0.02, 0.5)
    return quality, np.where(rng.random(len(q)) < p_unhappy, unhappy, happy)


def _user_ids(n: int, rng: np.random.Generator) -> list[str]:
    """Amazon-style reviewer ids: 'A' and 27 upper-case letters or digits, unique."""
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        for row in alphabet[rng.integers(0, len(alphabet), size=(n - len(ids), 27))]:
            uid = "A" + "".join(row)
            if uid not in seen:
                seen.add(uid)
                ids.append(uid)
    return ids


def _review_texts(
    cat: _Catalog, purchases: _Purchases, ratings: np.ndarray, vocab: dict[str, Any], rng: np.random.Generator
) -> list[tuple[str, str]]:
    """(title, text) of every review, from the star rating's snippets."""
    rv = vocab["reviews"]
    draws = rng.random((len(ratings), 10))
    out = []

    def pick(seq: list[str], u: float) -> str:
        return seq[int(u * len(seq))]

    for k, (item_index, stars) in enumerate(zip(purchases.item, ratings, strict=True)):
        item, u = cat.items[int(item_index)], draws[k]
        star = _STARS[int(stars) - 1]
        kind = rv["game"] if item.genre >= 0 else rv["accessory"]
        aspects = item.aspects or ("quality",)
        first = int(u[0] * len(aspects))
        second = (first + 1 + int(u[1] * max(1, len(aspects) - 1))) % len(aspects)
        slots = {
            "title": item.short_title,
            "platform": cat.platforms[item.platform].name,
            "aspect": aspects[first],
            "aspect2": aspects[second],
            "prev_title": item.prev_title or "",
            "hours": item.review_slots.get("hours", (5, 10, 20, 30, 40, 60, 100)[int(u[2] * 7)]),
            **item.review_slots,
        }
        parts = [pick(kind["openers"][star], u[3]), pick(kind["bodies"][star], u[4])]
        if item.genre >= 0 and purchases.after_previous[k] and u[5] < 0.5:
            parts.append(pick(rv["game"]["sequel_positive" if stars >= 4 else "sequel_negative"], u[6]))
        if u[7] < 0.4:
            mood = "positive" if stars >= 4 else "negative" if stars <= 2 else "neutral"
            parts.append(pick(rv["closers"][mood], u[8]))
        out.append((_fill(pick(kind["titles"][star], u[9]), slots), " ".join(_fill(p, slots) for p in parts)))
    return out


def generate_store(
    config: BuiltinStoreConfig, vocab_dir: Path | None = None
) -> tuple[list[dict], list[dict]]:
    """Return (metadata records, review records) in the Amazon Reviews 2023 layout.

    Metadata records are sorted by ``parent_asin``; reviews are grouped by user, each user's in time order.
    """
    if not isinstance(config, BuiltinStoreConfig):
        raise TypeError(f"config must be a BuiltinStoreConfig, got {type(config).__name__}")
    vocab = load_vocab(vocab_dir)
    catalog_rng, shopper_rng, text_rng = (np.random.default_rng([config.seed, k]) for k in (1, 2, 3))
    cat = _CatalogBuilder(config, vocab, catalog_rng).build()
    width = max(5, len(str(len(cat.items))))
    asins = [f"B0G{n + 1:0{width}d}" for n in catalog_rng.permutation(len(cat.items))]

    purchases = _simulate(config, cat, shopper_rng)
    quality, ratings = _ratings(cat, purchases, text_rng)
    user_ids = _user_ids(config.n_users, text_rng)
    texts = _review_texts(cat, purchases, ratings, vocab, text_rng)
    verified = text_rng.random(len(ratings)) < config.verified_share
    reviews = [
        {
            "user_id": user_ids[int(u)],
            "parent_asin": asins[int(i)],
            "rating": float(r),
            "timestamp": int(ts),
            "title": title,
            "text": text,
            "verified_purchase": bool(v),
        }
        for u, i, r, ts, (title, text), v in zip(
            purchases.user, purchases.item, ratings, purchases.timestamp, texts, verified, strict=True
        )
    ]

    counts = np.bincount(purchases.item, minlength=len(cat.items))
    sums = np.bincount(purchases.item, weights=ratings, minlength=len(cat.items))
    meta = []
    for i, item in enumerate(cat.items):
        average = sums[i] / counts[i] if counts[i] else float(np.clip(quality[i] - 0.3, 1.0, 5.0))
        meta.append(
            {
                "parent_asin": asins[i],
                "title": item.title,
                "description": item.description,
                "features": item.features,
                "store": item.store,
                "main_category": MAIN_CATEGORY,
                "categories": item.categories,
                "details": item.details,
                "average_rating": round(float(average), 1),
                "rating_number": int(counts[i]),
                "price": round(item.price, 2),
            }
        )
    meta.sort(key=lambda rec: rec["parent_asin"])
    return meta, reviews


def _write_jsonl_gz(records: list[dict], path: Path) -> None:
    """Write gzip-compressed JSON lines to a temporary name, then move it into place."""
    with (
        atomic_path(path) as partial,
        open(partial, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
    ):
        for rec in records:
            gz.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))


def write_store(config: BuiltinStoreConfig, directory: Path, vocab_dir: Path | None = None) -> Path:
    """Write meta_Video_Games.jsonl.gz and Video_Games.jsonl.gz into ``directory`` (created if missing).

    Each file goes to a temporary name first and is then moved into place, so nothing is half-written.
    Returns ``directory``.
    """
    directory = Path(directory)
    meta, reviews = generate_store(config, vocab_dir)
    directory.mkdir(parents=True, exist_ok=True)
    _write_jsonl_gz(meta, directory / META_FILENAME)
    _write_jsonl_gz(reviews, directory / REVIEWS_FILENAME)
    return directory
