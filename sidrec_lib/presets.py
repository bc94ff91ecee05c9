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
    cooccurrence_window: int = 3  # behaviour vectors: item pairs at most this many purchases apart
    cooccurrence_dim: int = 32


@dataclass(frozen=True)
class SemanticIdConfig:
    """Residual k-means codebooks (notebook 03)."""

    levels: int = 3
    codes: int = 0  # codewords per level; 0: sized to the catalog (semantic_ids.codes_for_catalog)
    iters: int = 25
    balanced: bool = False
    cooccurrence_weight: float = 0.0  # share of the behaviour vectors (notebook 02) in the k-means input
    seed: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """The base language model (notebook 04).

    ``base="scratch"`` builds a small Qwen3-architecture model from the sizes below, with a BPE
    tokenizer of ``tokenizer_vocab`` tokens trained on the course's own text. Any other value is a
    hub name or local folder loaded with ``from_pretrained`` (the sizes are then ignored).
    """

    base: str = "scratch"
    tokenizer_vocab: int = 4000
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 384
    max_length: int = 512
    dtype: str = "float32"
    seed: int = 0

    @property
    def pretrained(self) -> bool:
        return self.base != "scratch"


@dataclass(frozen=True)
class TaskConfig:
    """Training data of both stages, built from the train split only: the stage-2 task mix
    (notebook 05) and the users' sequences in the stage-1 corpus (notebook 04)."""

    max_history: int = 20
    next_item_per_user: int = 8
    requests_per_user: int = 2  # for a value the user's next item has (the target: that item)
    steer_requests_per_user: int = 2  # for any value; the target: a holder that fits the history well
    steer_pool: int = 1  # ...drawn from this many best-fitting holders
    requests_without_history: int = 2000
    explanations: int = 1000
    id_tasks_per_item: int = 1
    sequence_history: int = 50  # stage 1: items per user sequence (the most recent)
    sequence_repeats: int = 1  # stage 1: copies of each user sequence
    fact_repeats: int = 0  # stage 1: copies of each item's "title + attribute values → SID" line
    listing_repeats: int = 0  # stage 1: rounds of "attribute value: SIDs of items that have it" lines
    listing_size: int = 20  # stage 1: SIDs per such line
    steer_listings_per_user: int = 0  # stage 1: "history + value: the steer_pool best-fitting holders" lines
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """One training stage, run by TRL's SFTTrainer (``epochs`` unless ``max_steps`` > 0)."""

    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 32
    grad_accum: int = 1
    learning_rate: float = 1e-3
    lr_scheduler: str = "cosine"
    warmup: float = 0.05
    weight_decay: float = 0.0
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    packing: bool = False
    padding_free: bool = False
    bf16: bool = False
    logging_steps: int = 10
    save_steps: int = 500
    seed: int = 0


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation, baselines and steering (notebook 06)."""

    users: int = 0  # test users evaluated (0: all), sampled with ``seed``
    beams: int = 20
    history_choices: tuple[int, ...] = (
        10,
        20,
    )  # prompt history lengths tried on valid; the best goes to test
    bootstrap: int = 1000
    steer_per_attribute: int = 100
    sasrec_hidden: int = 64
    sasrec_epochs: int = 200
    sasrec_patience: int = 5
    # Cornac's SASRec (notebook 06): every embedding size × dropout is fitted, the best on valid kept
    cornac_dims: tuple[int, ...] = (100,)
    cornac_dropouts: tuple[float, ...] = (0.2, 0.5)
    cornac_max_len: int = 50  # history items its encoder reads (it pads every prefix to this length)
    cornac_epochs: int = 100
    cornac_patience: int = 3  # epochs without valid NDCG@10 improvement
    batch_size: int = 16  # users decoded together
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
    model: ModelConfig = field(default_factory=ModelConfig)
    stage1: TrainConfig = field(default_factory=TrainConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    stage2: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, Preset] = {
    # The whole course in minutes on 2 CPU cores; what the tests run.
    "ci": Preset(
        name="ci",
        builtin=BuiltinConfig(n_items=400, n_users=1000),
        prepare=PrepareConfig(kcore=5, max_history=30),
        embed=EmbedConfig(description_chars=300),
        semantic_ids=SemanticIdConfig(levels=3, iters=20, cooccurrence_weight=0.5),
        model=ModelConfig(
            tokenizer_vocab=1500, hidden_size=64, layers=2, heads=2, kv_heads=1, intermediate_size=192
        ),
        stage1=TrainConfig(
            max_steps=150,
            batch_size=16,
            learning_rate=3e-3,
            padding_free=True,
            logging_steps=10,
            save_steps=50,
        ),
        tasks=TaskConfig(
            max_history=10,
            next_item_per_user=3,
            requests_per_user=1,
            steer_requests_per_user=1,
            requests_without_history=600,
            explanations=100,
            steer_pool=5,
            sequence_repeats=2,
            fact_repeats=2,
            listing_repeats=2,
            steer_listings_per_user=1,
        ),
        stage2=TrainConfig(
            max_steps=200,
            batch_size=16,
            learning_rate=2e-3,
            padding_free=True,
            logging_steps=10,
            save_steps=100,
        ),
        evaluate=EvalConfig(
            users=300,
            history_choices=(10,),
            bootstrap=200,
            steer_per_attribute=20,
            sasrec_epochs=30,
            cornac_dims=(32,),
            cornac_max_len=10,
            cornac_epochs=2,
            cornac_patience=1,
        ),
    ),
    # The README's main job: built-in data, no download, well under an hour on a 2-core laptop.
    "cpu": Preset(
        name="cpu",
        builtin=BuiltinConfig(n_items=3000, n_users=4000),
        prepare=PrepareConfig(kcore=5, max_history=50),
        # Tuned on valid: half behaviour, half text lifts stage 1's NDCG@10 from 0.158 to 0.186.
        semantic_ids=SemanticIdConfig(levels=3, iters=25, cooccurrence_weight=0.5),
        model=ModelConfig(
            tokenizer_vocab=3000, hidden_size=128, layers=3, heads=4, kv_heads=2, intermediate_size=384
        ),
        # Sized so that the whole course takes 35 to 60 minutes on 2 CPU cores (machines here vary).
        stage1=TrainConfig(epochs=1, batch_size=16, learning_rate=2e-3, padding_free=True),
        tasks=TaskConfig(
            max_history=10,
            next_item_per_user=8,  # tuned on valid: 4 → 8 lifts next-item and steering alike
            requests_per_user=1,
            steer_requests_per_user=2,
            requests_without_history=5000,
            explanations=500,
            steer_pool=10,
            sequence_repeats=10,  # tuned on valid: 20 copies memorise the train sequences
            fact_repeats=5,
            listing_repeats=10,
            steer_listings_per_user=4,  # tuned on valid: 0 → 2 → 4 lifts steering and next-item alike
        ),
        stage2=TrainConfig(epochs=1, batch_size=16, learning_rate=1e-3, padding_free=True),
        # Cornac's SASRec reads the last 20 items (90% of train histories are shorter) with its
        # default settings: each epoch pads every train prefix, so a sweep would cost minutes a point.
        evaluate=EvalConfig(
            users=2000, history_choices=(5, 10), cornac_dropouts=(0.2,), cornac_max_len=20, cornac_epochs=30
        ),
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
        semantic_ids=SemanticIdConfig(levels=3, iters=30, cooccurrence_weight=0.5),
        model=ModelConfig(base="Qwen/Qwen3-0.6B", max_length=1024, dtype="bfloat16"),
        # Stage 1 of a pretrained base trains only the new SID rows, so a high learning rate is safe.
        stage1=TrainConfig(epochs=2, batch_size=32, learning_rate=1e-3, bf16=True, save_steps=1000),
        tasks=TaskConfig(listing_repeats=5, steer_listings_per_user=2, steer_pool=10),
        stage2=TrainConfig(
            epochs=3, batch_size=16, grad_accum=2, learning_rate=2e-5, warmup=0.03, bf16=True, save_steps=1000
        ),
        evaluate=EvalConfig(users=10000),
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
    else:
        value = _as_type_of(current, value, full_key)
    return dataclasses.replace(obj, **{head: value})


def _as_type_of(current: Any, value: Any, full_key: str) -> Any:
    """``value`` as the type of the field's ``current`` value ("3e-3" → 0.003; [5, 10] → (5, 10)), or
    a clear error. A field that is None now (e.g. ``embed.prompt``) takes a string or None."""
    kind = type(current)
    if current is None or value is None:
        if value is None or isinstance(value, str):
            return value
        raise ValueError(f"Preset field {full_key!r} expects text or null, not {value!r}.")
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is tuple:
        if isinstance(value, list | tuple):
            return tuple(value)
    elif kind in (int, float):
        try:
            converted = None if isinstance(value, bool) else kind(value)
        except (TypeError, ValueError):
            converted = None
        if converted is not None and (kind is float or float(converted) == float(value)):
            return converted
    elif isinstance(value, kind):
        return value
    raise ValueError(f"Preset field {full_key!r} expects {kind.__name__} (like {current!r}), not {value!r}.")
