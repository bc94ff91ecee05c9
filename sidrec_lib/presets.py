"""Presets: one name picks the sizes of every step of the course.

A preset is a tree of small dataclasses, one per step. Notebooks take a preset name plus
overrides written as dotted keys, e.g. ``{"semantic_ids.codes": 64, "prepare.kcore": 3}``.

Each section states its allowed values in ``problems()``, right below its fields; :func:`get_preset`
checks the whole preset at once and raises one ``ValueError`` that lists every bad field.
"""

from __future__ import annotations

import dataclasses
import math
import string
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ITEM_TEMPLATE = (
    "Title: {title}\nBrand: {store}\nCategories: {categories}\nDetails: {details}\nDescription: {description}"
)
LR_SCHEDULERS = (  # transformers schedules that need no extra arguments
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt",
)  # fmt: skip
DTYPES = ("float32", "bfloat16", "float16")
LONGEST_LIST = 20  # notebook 06 ranks top-20 lists; beam search keeps at least that many beams
SASREC_HEADS = 2  # attention heads of notebook 06's SASRec (SASRecConfig.heads)
MIN_CODES, MAX_CODES = 2, 65536  # codewords per level
MAX_LEVELS = 8
MIN_BUILTIN_SIZE = 10  # items and users of the generated store


class _Checks:
    """The problems of one preset section, each as ``section.field = value: what is allowed``.

    Types come from the dataclass's annotations and are checked first; a field of the wrong type
    is reported once and skipped by the range checks that follow.
    """

    def __init__(self, config: Any, section: str):
        self.config, self.section = config, section
        self.problems: list[str] = []
        self._bad: set[str] = set()
        hints = typing.get_type_hints(type(config))
        for f in dataclasses.fields(config):
            expected = _type_problem(getattr(config, f.name), hints[f.name])
            if expected:
                self._report(f.name, f"must be {expected}")

    def _report(self, name: str, allowed: str) -> None:
        self._bad.add(name)
        key = f"{self.section}.{name}" if self.section else name
        self.problems.append(f"{key} = {getattr(self.config, name)!r}: {allowed}")

    def rule(self, name: str, ok: Callable[[], bool], allowed: str, uses: tuple[str, ...] = ()) -> None:
        """Report ``name`` unless ``ok()``; skipped when ``name`` or a field in ``uses`` is already bad."""
        if not self._bad & {name, *uses} and not ok():
            self._report(name, allowed)

    def at_least(self, name: str, low: float) -> None:
        self.rule(name, lambda: getattr(self.config, name) >= low, f"must be >= {low}")

    def between(self, name: str, low: float, high: float) -> None:
        self.rule(name, lambda: low <= getattr(self.config, name) <= high, f"must be from {low} to {high}")

    def positive(self, name: str) -> None:
        self.rule(name, lambda: getattr(self.config, name) > 0, "must be > 0")

    def fraction(self, name: str) -> None:
        """0 <= value < 1 (a share that cannot be all)."""
        self.rule(name, lambda: 0 <= getattr(self.config, name) < 1, "must be in [0, 1)")

    def one_of(self, name: str, choices: tuple[str, ...]) -> None:
        self.rule(name, lambda: getattr(self.config, name) in choices, f"must be one of {', '.join(choices)}")

    def filled(self, name: str) -> None:
        """Non-empty text, or a non-empty list."""
        self.rule(name, lambda: len(getattr(self.config, name)) > 0, "must not be empty")

    def each_at_least(self, name: str, low: float) -> None:
        self.rule(
            name, lambda: all(v >= low for v in getattr(self.config, name)), f"every value must be >= {low}"
        )

    def each_fraction(self, name: str) -> None:
        self.rule(
            name, lambda: all(0 <= v < 1 for v in getattr(self.config, name)), "every value must be in [0, 1)"
        )


def _type_problem(value: Any, hint: Any) -> str | None:
    """What ``value`` should be for the annotation ``hint`` ("an integer", ...), or None if it fits."""
    if dataclasses.is_dataclass(hint):
        return None if isinstance(value, hint) else f"a {hint.__name__} section"
    args = typing.get_args(hint)
    if type(None) in args:  # str | None
        return None if value is None or isinstance(value, str) else "text or null"
    if typing.get_origin(hint) is tuple:
        element = "integers" if args[0] is int else "numbers"
        ok = isinstance(value, tuple) and all(_type_problem(v, args[0]) is None for v in value)
        return None if ok else f"a list of {element}"
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "a finite number"
    if hint is str:
        return None if isinstance(value, str) else "text"
    return None


def _is_template(text: str) -> bool:
    try:
        list(string.Formatter().parse(text))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class BuiltinConfig:
    """Size and behaviour of the generated game store (used only when the dataset is ``builtin``).

    The same config always gives the same files; the catalog does not depend on ``n_users``.
    """

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

    def problems(self, section: str) -> list[str]:
        c = _Checks(self, section)
        c.at_least("n_items", MIN_BUILTIN_SIZE)
        c.at_least("n_users", MIN_BUILTIN_SIZE)
        c.at_least("seed", 0)
        c.between("start_year", 1970, 2100)
        c.rule(
            "end_year",
            lambda: self.start_year < self.end_year <= 2100,
            f"must be after start_year ({self.start_year}) and at most 2100",
            uses=("start_year",),
        )
        for share in (
            "accessory_share",
            "franchise_share",
            "noise_share",
            "sequel_follow_prob",
            "two_family_share",
            "verified_share",
        ):
            c.between(share, 0, 1)
        c.at_least("popularity_sigma", 0)
        c.at_least("min_purchases", 1)
        c.rule(
            "max_purchases",
            lambda: self.max_purchases >= self.min_purchases,
            f"must be >= min_purchases ({self.min_purchases})",
            uses=("min_purchases",),
        )
        c.rule(
            "mean_purchases",
            lambda: self.min_purchases <= self.mean_purchases <= self.max_purchases,
            f"must be from min_purchases ({self.min_purchases}) to max_purchases ({self.max_purchases})",
            uses=("min_purchases", "max_purchases"),
        )
        return c.problems


@dataclass(frozen=True)
class PrepareConfig:
    """Filtering and splitting of interactions (notebook 01)."""

    kcore: int = 5
    max_user_interactions: int = 50  # each user's most recent interactions kept

    def problems(self, section: str) -> list[str]:
        c = _Checks(self, section)
        c.at_least("kcore", 1)
        c.at_least("max_user_interactions", 3)  # one train, one valid and one test interaction
        return c.problems


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

    def problems(self, section: str) -> list[str]:
        c = _Checks(self, section)
        c.filled("encoder")
        c.filled("template")
        c.rule("template", lambda: _is_template(self.template), "must be a str.format template like {title}")
        c.at_least("description_chars", 0)
        for name in ("batch_size", "cooccurrence_window", "cooccurrence_dim"):
            c.at_least(name, 1)
        return c.problems


@dataclass(frozen=True)
class SemanticIdConfig:
    """Residual k-means codebooks (notebook 03)."""

    levels: int = 3
    codes: int = 0  # codewords per level; 0: sized to the catalog (semantic_ids.codes_for_catalog)
    iters: int = 25
    balanced: bool = False
    cooccurrence_weight: float = 0.0  # share of the behaviour vectors (notebook 02) in the k-means input
    rqvae_steps: int = 1500  # training steps of the RQ-VAE that notebook 03 compares with (about a minute)
    seed: int = 0

    def problems(self, section: str) -> list[str]:
        c = _Checks(self, section)
        c.between("levels", 1, MAX_LEVELS)
        c.rule(
            "codes",
            lambda: self.codes == 0 or MIN_CODES <= self.codes <= MAX_CODES,
            f"must be 0 (sized to the catalog) or from {MIN_CODES} to {MAX_CODES}",
        )
        c.at_least("iters", 1)
        c.between("cooccurrence_weight", 0, 1)
        c.at_least("rqvae_steps", 1)
        c.at_least("seed", 0)
        return c.problems


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

    def problems(self, section: str) -> list[str]:
        c = _Checks(self, section)
        c.filled("base")
        c.at_least("tokenizer_vocab", 300)  # the 256 byte tokens and the special tokens come first
        c.at_least("hidden_size", 2)
        c.at_least("layers", 1)
        c.at_least("heads", 1)
        c.at_least("kv_heads", 1)
        c.at_least("intermediate_size", 1)
        c.at_least("max_length", 16)
        c.one_of("dtype", DTYPES)
        c.at_least("seed", 0)
        c.rule(
            "heads",
            lambda: self.hidden_size % self.heads == 0 and (self.hidden_size // self.heads) % 2 == 0,
            f"must divide hidden_size ({self.hidden_size}) into heads of an even size (rotary embeddings)",
            uses=("hidden_size",),
        )
        c.rule(
            "kv_heads",
            lambda: self.heads % self.kv_heads == 0,
            f"must divide heads ({self.heads})",
            uses=("heads",),
        )
        return c.problems

    @property
    def pretrained(self) -> bool:
        return self.base != "scratch"


@dataclass(frozen=True)
class CorpusConfig:
    """The stage-1 corpus (notebook 04), built from the train split only: every line a document the
    model learns to continue, so that SIDs become words it knows before any conversation."""

    sequence_length: int = 50  # items per user sequence (the most recent)
    sequence_repeats: int = 1  # copies of each user sequence
    fact_repeats: int = 0  # copies of each item's "title + attribute values → SID" line
    listing_repeats: int = 0  # rounds of "attribute value: SIDs of items that have it" lines
    listing_size: int = 20  # SIDs per such line
    steer_listings_per_user: int = 0  # "history + value: the steer_pool best-fitting holders" lines
    steer_pool: int = 1  # holders listed in a steer listing
    prompt_history: int = 20  # history items before a steer listing's value

    def problems(self, section: str) -> list[str]:
        c = _Checks(self, section)
        for name in ("sequence_length", "listing_size", "steer_pool", "prompt_history"):
            c.at_least(name, 1)
        for name in ("sequence_repeats", "fact_repeats", "listing_repeats", "steer_listings_per_user"):
            c.at_least(name, 0)
        return c.problems


@dataclass(frozen=True)
class TaskConfig:
    """The stage-2 task mix (notebook 05), conversations built from the train split only."""

    prompt_history: int = 20  # history items a prompt shows (the most recent)
    next_item_per_user: int = 8
    requests_per_user: int = 2  # for a value the user's next item has (the target: that item)
    steer_requests_per_user: int = 2  # for any value; the target: a holder that fits the history well
    steer_pool: int = 1  # ...drawn from this many best-fitting holders
    requests_without_history: int = 2000
    explanations: int = 1000
    id_tasks_per_item: int = 1
    compound_per_user: int = 0  # two values, negation, "like X but", refinement (sidrec_lib.compound)
    seed: int = 0

    def problems(self, section: str) -> list[str]:
        c = _Checks(self, section)
        for name in ("prompt_history", "steer_pool"):
            c.at_least(name, 1)
        for name in (
            "next_item_per_user", "requests_per_user", "steer_requests_per_user", "requests_without_history",
            "explanations", "id_tasks_per_item", "compound_per_user", "seed",
        ):  # fmt: skip
            c.at_least(name, 0)
        return c.problems


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

    def problems(self, section: str) -> list[str]:
        c = _Checks(self, section)
        c.rule(
            "max_steps",
            lambda: self.max_steps == -1 or self.max_steps >= 1,
            "must be -1 (train `epochs`) or >= 1",
        )
        c.at_least("epochs", 0)
        c.rule(
            "epochs",
            lambda: self.epochs > 0 or self.max_steps >= 1,
            "must be > 0 when max_steps is -1",
            uses=("max_steps",),
        )
        c.at_least("batch_size", 1)
        c.at_least("grad_accum", 1)
        c.positive("learning_rate")
        c.one_of("lr_scheduler", LR_SCHEDULERS)
        c.fraction("warmup")
        c.at_least("weight_decay", 0)
        c.positive("lora_alpha")
        for name in ("lora_r", "logging_steps", "save_steps"):
            c.at_least(name, 1)
        c.at_least("seed", 0)
        return c.problems


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
    steer_per_attribute: int = 100  # single-value requests per attribute and kind
    steer_per_kind: int = 100  # compound requests per kind and variant
    explanations: int = 100  # test users whose top pick the hybrid explains, each claim checked
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

    def problems(self, section: str) -> list[str]:
        c = _Checks(self, section)
        c.at_least("users", 0)
        c.at_least("beams", LONGEST_LIST)
        c.filled("history_choices")
        c.each_at_least("history_choices", 1)
        c.at_least("bootstrap", 1)
        c.at_least("steer_per_attribute", 1)
        c.at_least("steer_per_kind", 1)
        c.at_least("explanations", 1)
        c.rule(
            "sasrec_hidden",
            lambda: self.sasrec_hidden >= SASREC_HEADS and self.sasrec_hidden % SASREC_HEADS == 0,
            f"must be a multiple of {SASREC_HEADS} (SASRec's attention heads)",
        )
        for name in (
            "sasrec_epochs",
            "sasrec_patience",
            "cornac_max_len",
            "cornac_epochs",
            "cornac_patience",
        ):
            c.at_least(name, 1)
        c.filled("cornac_dims")
        c.each_at_least("cornac_dims", 1)
        c.filled("cornac_dropouts")
        c.each_fraction("cornac_dropouts")
        c.at_least("batch_size", 1)
        c.at_least("seed", 0)
        return c.problems


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
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    stage1: TrainConfig = field(default_factory=TrainConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    stage2: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def problems(self) -> list[str]:
        """Every bad field of every section, then the rules that join two sections."""
        top = _Checks(self, "")
        top.filled("dataset")
        sections = {
            f.name: getattr(self, f.name).problems(f.name)
            for f in dataclasses.fields(self)
            if dataclasses.is_dataclass(getattr(self, f.name))
        }
        found = top.problems + [problem for listed in sections.values() for problem in listed]
        clean = {name for name, listed in sections.items() if not listed}  # present and without problems
        if self.dataset == "builtin" and {"builtin", "semantic_ids"} <= clean:
            found += _codes_problems(self, self.builtin.n_items, "the builtin store (builtin.n_items)")
        if {"model", "stage1"} <= clean and self.model.pretrained and self.stage1.weight_decay != 0:
            found.append(
                f"stage1.weight_decay = {self.stage1.weight_decay!r}: must be 0 for a pretrained base "
                f"(model.base = {self.model.base!r}): decay would move the frozen rows"
            )
        return found


# fmt: off
PRESETS: dict[str, Preset] = {
    # The whole course in minutes on 2 CPU cores; what the tests run.
    "ci": Preset(
        name="ci",
        builtin=BuiltinConfig(n_items=400, n_users=1000),
        prepare=PrepareConfig(kcore=5, max_user_interactions=30),
        embed=EmbedConfig(description_chars=300),
        semantic_ids=SemanticIdConfig(levels=3, iters=20, cooccurrence_weight=0.5, rqvae_steps=30),
        model=ModelConfig(
            tokenizer_vocab=1500, hidden_size=64, layers=2, heads=2, kv_heads=1, intermediate_size=192
        ),
        corpus=CorpusConfig(
            sequence_repeats=2, fact_repeats=2, listing_repeats=2, steer_listings_per_user=1, steer_pool=5,
            prompt_history=10,
        ),
        stage1=TrainConfig(max_steps=150, batch_size=16, learning_rate=3e-3, padding_free=True,
                           save_steps=50),
        tasks=TaskConfig(
            prompt_history=10, next_item_per_user=3, requests_per_user=1, steer_requests_per_user=1,
            requests_without_history=600, explanations=100, steer_pool=5, compound_per_user=1,
        ),
        stage2=TrainConfig(max_steps=200, batch_size=16, learning_rate=2e-3, padding_free=True,
                           save_steps=100),
        evaluate=EvalConfig(
            users=300, history_choices=(10,), bootstrap=200, steer_per_attribute=20, steer_per_kind=10,
            explanations=30, sasrec_epochs=30, cornac_dims=(32,), cornac_max_len=10, cornac_epochs=2,
            cornac_patience=1,
        ),
    ),
    # The README's main job: built-in data, no download, well under an hour on a 2-core laptop.
    "cpu": Preset(
        name="cpu",
        builtin=BuiltinConfig(n_items=3000, n_users=4000),
        prepare=PrepareConfig(kcore=5, max_user_interactions=50),
        # Tuned on valid: half behaviour, half text lifts stage 1's NDCG@10 from 0.158 to 0.186.
        semantic_ids=SemanticIdConfig(levels=3, iters=25, cooccurrence_weight=0.5),
        model=ModelConfig(
            tokenizer_vocab=3000, hidden_size=128, layers=3, heads=4, kv_heads=2, intermediate_size=384
        ),
        # Sized so that the whole course takes 35 to 60 minutes on 2 CPU cores (machines here vary).
        # Tuned on valid: 20 copies of each sequence memorise the train sequences (10 kept); 0 → 2 → 4
        # steer listings per user lift steering and next-item alike.
        corpus=CorpusConfig(
            sequence_repeats=10, fact_repeats=5, listing_repeats=10, steer_listings_per_user=4, steer_pool=10,
            prompt_history=10,
        ),
        stage1=TrainConfig(epochs=1, batch_size=16, learning_rate=2e-3, padding_free=True),
        # Tuned on valid: 4 → 8 next-item examples per user lifts next-item and steering alike.
        tasks=TaskConfig(
            prompt_history=10, next_item_per_user=8, requests_per_user=1, steer_requests_per_user=2,
            requests_without_history=5000, explanations=2000, steer_pool=10, compound_per_user=2,
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
        prepare=PrepareConfig(kcore=5, max_user_interactions=50),
        embed=EmbedConfig(
            encoder="Qwen/Qwen3-Embedding-0.6B",
            prompt="Instruct: Given a product description, represent it for retrieving similar products\n"
            "Query: ",
            description_chars=1000,
            batch_size=32,
        ),
        semantic_ids=SemanticIdConfig(levels=3, iters=30, cooccurrence_weight=0.5),
        model=ModelConfig(base="Qwen/Qwen3-0.6B", max_length=1024, dtype="bfloat16"),
        corpus=CorpusConfig(listing_repeats=5, steer_listings_per_user=2, steer_pool=10),
        # Stage 1 of a pretrained base trains only the new SID rows, so a high learning rate is safe.
        stage1=TrainConfig(epochs=2, batch_size=32, learning_rate=1e-3, bf16=True, save_steps=1000),
        tasks=TaskConfig(steer_pool=10, compound_per_user=2),
        stage2=TrainConfig(
            epochs=3, batch_size=16, grad_accum=2, learning_rate=2e-5, warmup=0.03, bf16=True, save_steps=1000
        ),
        evaluate=EvalConfig(users=10000),
    ),
}
# fmt: on

# The `cpu` course on one GPU with a scratch model of tens of millions of parameters in bf16,
# nothing from a hub: what benchmarks/gpu_check.sh runs before the decoding and training benchmarks.
PRESETS["gpu-smoke"] = dataclasses.replace(
    PRESETS["cpu"],
    name="gpu-smoke",
    model=ModelConfig(
        tokenizer_vocab=3000,
        hidden_size=512,
        layers=8,
        heads=8,
        kv_heads=4,
        intermediate_size=1536,
        dtype="bfloat16",
    ),
    stage1=TrainConfig(epochs=1, batch_size=64, learning_rate=1e-3, padding_free=True, bf16=True),
    stage2=TrainConfig(epochs=1, batch_size=64, learning_rate=5e-4, padding_free=True, bf16=True),
)


def get_preset(name: str, overrides: Mapping[str, Any] | None = None) -> Preset:
    """Return the preset called ``name`` with dotted-key ``overrides`` applied, checked as a whole.

    Raises one ValueError that lists every bad override and every field out of its allowed range.
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ValueError(
            f"Preset overrides must map dotted keys to values (e.g. {{'prepare.kcore': 3}}), "
            f"not {type(overrides).__name__} {overrides!r}."
        )
    preset, found = PRESETS[name], []
    for key, value in (overrides or {}).items():
        try:
            if not isinstance(key, str):
                raise ValueError(f"Preset override key {key!r} must be text such as 'prepare.kcore'.")
            preset = _override(preset, key.split("."), value, key)
        except ValueError as e:
            found.append(str(e))
    found += preset.problems()
    if found:
        raise ValueError(_problem_list(name, found))
    return preset


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Command-line ``--set KEY=VALUE`` pairs as overrides for :func:`get_preset` (values read as YAML,
    so ``3e-3``, ``true`` and ``[5, 10]`` keep their types)."""
    import yaml

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ValueError(f"--set {pair!r}: the value is not valid YAML ({e})") from e
    return overrides


def check_codes_for_catalog(config: Preset, n_items: int) -> None:
    """Stop with a clear ValueError when ``semantic_ids.codes`` cannot fit a catalog of ``n_items`` items.

    k-means needs at least one item per codeword; 0 (size the codes to the catalog) always fits.
    """
    found = _codes_problems(config, n_items, "the catalog")
    if found:
        raise ValueError(found[0])


def _codes_problems(config: Preset, n_items: int, catalog: str) -> list[str]:
    codes = config.semantic_ids.codes
    if codes > n_items:
        return [
            f"semantic_ids.codes = {codes}: {catalog} has only {n_items} items; must be at most {n_items} "
            "(each codeword needs an item), or 0 to size the codes to the catalog"
        ]
    return []


def _problem_list(name: str, problems: list[str]) -> str:
    count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
    return f"Invalid settings for preset {name!r} ({count}):\n" + "\n".join(f"  - {p}" for p in problems)


def _override(obj: Any, path: list[str], value: Any, full_key: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    head, rest = path[0], path[1:]
    if head not in fields:
        raise ValueError(f"Unknown preset field {full_key!r}: {type(obj).__name__} has {sorted(fields)}.")
    current = getattr(obj, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"Preset field {full_key!r}: {head!r} has no sub-fields.")
        value = _override(current, rest, value, full_key)
    elif dataclasses.is_dataclass(current):
        raise ValueError(f"Preset field {full_key!r} is a section; override one of its fields instead.")
    else:
        value = _as_type_of(current, value, full_key, nullable=fields[head].default is None)
    return dataclasses.replace(obj, **{head: value})


def _as_type_of(current: Any, value: Any, full_key: str, nullable: bool = False) -> Any:
    """``value`` as the type of the field's ``current`` value ("3e-3" → 0.003; [5, 10] → (5, 10)), or
    a clear error. Only a ``nullable`` field (one whose default is None, e.g. ``embed.prompt``) takes
    null; while it is None it takes text."""
    kind = type(current)
    if value is None:
        if nullable:
            return None
        raise ValueError(f"Preset field {full_key!r} expects {kind.__name__} (like {current!r}), not null.")
    if current is None:
        if isinstance(value, str):
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
        except (TypeError, ValueError, OverflowError):
            converted = None
        if converted is not None and (kind is float or float(converted) == float(value)):
            return converted
    elif isinstance(value, kind):
        return value
    raise ValueError(f"Preset field {full_key!r} expects {kind.__name__} (like {current!r}), not {value!r}.")
