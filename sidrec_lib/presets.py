"""Presets: one name picks the sizes of every step of the course.

A preset is a tree of small dataclasses, one per step. Notebooks take a preset name plus
overrides written as dotted keys, e.g. ``{"semantic_ids.codes": 64, "prepare.kcore": 3}``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ITEM_TEMPLATE = (
    "Title: {title}\nBrand: {store}\nCategories: {categories}\nDetails: {details}\nDescription: {description}"
)


@dataclass(frozen=True)
class BuiltinConfig:
    """Size of the generated game store (used only when the dataset is ``builtin``)."""

    n_items: int = 3000
    n_users: int = 4000
    seed: int = 0


@dataclass(frozen=True)
class PrepareConfig:
    """Filtering and splitting of interactions (notebook 01)."""

    kcore: int = 5
    max_history: int = 50


@dataclass(frozen=True)
class EmbedConfig:
    """Item text and the sentence encoder (notebook 02)."""

    encoder: str = "all-MiniLM-L6-v2"
    prompt: str | None = None
    template: str = DEFAULT_ITEM_TEMPLATE
    description_chars: int = 400
    batch_size: int = 64


@dataclass(frozen=True)
class SemanticIdConfig:
    """Residual k-means codebooks (notebook 03)."""

    levels: int = 3
    codes: int = 64
    iters: int = 25
    balanced: bool = False
    seed: int = 0


@dataclass(frozen=True)
class Preset:
    """Every step's settings, under one name."""

    name: str
    dataset: str = "builtin"
    builtin: BuiltinConfig = field(default_factory=BuiltinConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    semantic_ids: SemanticIdConfig = field(default_factory=SemanticIdConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, Preset] = {
    # The whole course in minutes on 2 CPU cores; what the tests run.
    "ci": Preset(
        name="ci",
        builtin=BuiltinConfig(n_items=400, n_users=1000),
        prepare=PrepareConfig(kcore=5, max_history=30),
        embed=EmbedConfig(description_chars=300),
        semantic_ids=SemanticIdConfig(levels=3, codes=32, iters=20),
    ),
    # The README's main job: built-in data, no download, well under an hour on a 2-core laptop.
    "cpu": Preset(
        name="cpu",
        builtin=BuiltinConfig(n_items=3000, n_users=4000),
        prepare=PrepareConfig(kcore=5, max_history=50),
        semantic_ids=SemanticIdConfig(levels=3, codes=64, iters=25),
    ),
    # Real models from the hub on Amazon Reviews 2023 Video_Games, one GPU.
    "gpu": Preset(
        name="gpu",
        dataset="amazon2023:Video_Games",
        prepare=PrepareConfig(kcore=5, max_history=50),
        embed=EmbedConfig(
            encoder="Qwen/Qwen3-Embedding-0.6B",
            prompt="Instruct: Given a product description, represent it for retrieving similar products\n"
            "Query: ",
            description_chars=1000,
            batch_size=32,
        ),
        semantic_ids=SemanticIdConfig(levels=3, codes=256, iters=30, balanced=False),
    ),
}


def get_preset(name: str, overrides: dict[str, Any] | None = None) -> Preset:
    """Return the preset called ``name`` with dotted-key ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    preset = PRESETS[name]
    for key, value in (overrides or {}).items():
        preset = _override(preset, key.split("."), value, key)
    return preset


def _override(obj: Any, path: list[str], value: Any, full_key: str) -> Any:
    names = {f.name for f in dataclasses.fields(obj)}
    head, rest = path[0], path[1:]
    if head not in names:
        raise ValueError(f"Unknown preset field {full_key!r}: {type(obj).__name__} has {sorted(names)}.")
    current = getattr(obj, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"Preset field {full_key!r}: {head!r} has no sub-fields.")
        value = _override(current, rest, value, full_key)
    elif dataclasses.is_dataclass(current):
        raise ValueError(f"Preset field {full_key!r} is a section; override one of its fields instead.")
    return dataclasses.replace(obj, **{head: value})
