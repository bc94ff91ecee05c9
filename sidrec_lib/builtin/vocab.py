"""The store's words: the JSON files of ``data/builtin/``, loaded and checked, and the templates they fill."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_VOCAB_DIR = Path(__file__).resolve().parents[2] / "data" / "builtin"
PLAYER_MODES = ("Single-player", "Online co-op", "Online competitive", "Local co-op")
PRICE_TIERS = ("Budget", "Standard", "Premium")
STARS = ("1", "2", "3", "4", "5")

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
_STUDIO_KEYS = ("templates", "prefixes", "tails", "suffixes")
_ACCESSORY_TYPE_KEYS = ("name", "kinds", "weight", "price", "descriptions", "features", "aspects")
_REVIEW_KIND_KEYS = {
    "game": ("titles", "openers", "bodies", "sequel_positive", "sequel_negative"),
    "accessory": ("titles", "openers", "bodies"),
}
_REVIEW_MOODS = ("positive", "negative", "neutral")

_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")
_SPACES = re.compile(r"\s+")


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
    _check_platforms(vocab["platforms"], folder / "platforms.json")
    _check_genres(vocab["genres"], folder / "genres.json")
    _check_texts(vocab["texts"], folder / "texts.json")
    _require(vocab["names"]["studio"], _STUDIO_KEYS, folder / "names.json", "studio")
    _check_accessories(vocab["accessories"], folder / "accessories.json")
    _check_reviews(vocab["reviews"], folder / "reviews.json")
    _require(vocab["pricing"]["game_prices"], PRICE_TIERS, folder / "pricing.json", "game_prices")
    return vocab


def _require(obj: Any, keys: tuple[str, ...], path: Path, where: str) -> None:
    """Raise a ValueError naming the file if ``obj`` is not a dict holding every key, lists non-empty."""
    if not isinstance(obj, dict):
        raise ValueError(f"Vocabulary file {path}: {where} must be a JSON object")
    for key in keys:
        if key not in obj:
            raise ValueError(f"Vocabulary file {path}: missing key {key!r} in {where}")
        if isinstance(obj[key], (list, dict)) and not obj[key]:
            raise ValueError(f"Vocabulary file {path}: {where}.{key} is empty")


def _check_platforms(platforms: dict[str, Any], path: Path) -> None:
    """Every family has its keys, every generation its keys and ISO dates (``end`` may be null)."""
    for i, fam in enumerate(platforms["families"]):
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


def _check_genres(genres: dict[str, Any], path: Path) -> None:
    """Every genre has its keys and names only known multiplayer modes."""
    for i, genre in enumerate(genres["genres"]):
        _require(genre, _GENRE_KEYS, path, f"genres[{i}]")
        unknown = set(genre["player_modes"]) - set(PLAYER_MODES[1:])
        if unknown:
            raise ValueError(
                f"Vocabulary file {path}: unknown player modes {sorted(unknown)} in {genre['name']}"
            )


def _check_texts(texts: dict[str, Any], path: Path) -> None:
    """Sentences for every player mode, editions and features for every price tier."""
    for key in ("mode_sentences", "mode_features"):
        _require(texts[key], PLAYER_MODES, path, key)
    for key in ("editions", "tier_features"):
        _require(texts[key], PRICE_TIERS, path, key)


def _check_accessories(accessories: dict[str, Any], path: Path) -> None:
    for i, kind in enumerate(accessories["types"]):
        _require(kind, _ACCESSORY_TYPE_KEYS, path, f"types[{i}]")


def _check_reviews(reviews: dict[str, Any], path: Path) -> None:
    """Snippets for every star rating of games and accessories, closers for every mood."""
    for kind, keys in _REVIEW_KIND_KEYS.items():
        _require(reviews[kind], keys, path, kind)
        for key in ("titles", "openers", "bodies"):
            _require(reviews[kind][key], STARS, path, f"{kind}.{key}")
    _require(reviews["closers"], _REVIEW_MOODS, path, "closers")


def fill(template: str, slots: dict[str, Any]) -> str:
    """``template.format_map(slots)``, with an error that names the template."""
    try:
        return template.format_map(slots)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"Cannot fill vocabulary template {template!r}: unknown or bad slot {e}") from e


def tidy(text: str) -> str:
    """Collapse spaces and start every sentence with a capital letter."""
    text = _SPACES.sub(" ", text).strip()
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)
