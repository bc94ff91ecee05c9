"""Two-stage training with TRL, one code path from a laptop to a cluster.

Stage 1 (notebook 04, step ``04_vocabulary``) builds or loads the base model, adds the SID
tokens and teaches them on item text ↔ SID pairs and train-split SID sequences. Stage 2
(notebook 05, step ``05_sft``) fine-tunes on the conversational task mix. The notebooks call
:func:`train`; so do these, with a YAML file holding :class:`TrainJob`'s fields::

    python -m sidrec_lib.train --config job.yaml
    accelerate launch -m sidrec_lib.train --config job.yaml   # DDP / FSDP / DeepSpeed via accelerate configs

Checkpoints go to ``artifacts/<run>/.checkpoints/<step>-<hash of its parameters>/``; a run that is
interrupted resumes from the last complete one (a checkpoint cut short mid-save is passed over).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import re
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import yaml
from accelerate import PartialState
from datasets import Dataset
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TrainerCallback,
)
from trl import SFTConfig, SFTTrainer

from sidrec_lib import plots
from sidrec_lib.artifacts import Run, StepWriter, open_run, step_params, write_json_atomic
from sidrec_lib.attributes import steerable_attributes
from sidrec_lib.corpus import stage1_corpus
from sidrec_lib.decoding import SidTrie, greedy_items
from sidrec_lib.embeddings import item_texts
from sidrec_lib.models import add_sid_tokens, build_scratch_model, load_pretrained, train_tokenizer
from sidrec_lib.phrasings import load_phrasings
from sidrec_lib.prepare import PreparedData
from sidrec_lib.presets import Preset, TrainConfig
from sidrec_lib.tasks import task_mix
from sidrec_lib.tokens import SidCatalog

PROBE_ITEMS = 200


@dataclass
class TrainJob:
    """What to train: ``stage`` 1 or 2 of the run picked by preset, dataset and run name."""

    stage: int
    preset: str = "cpu"
    dataset: str | None = None
    run: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    artifacts_dir: str = "artifacts"
    resume: bool = True


def train(job: TrainJob) -> Path:
    """Run one stage and return its step folder (the same on every process)."""
    if job.stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, not {job.stage!r}")
    config, run = open_run(job.preset, job.dataset, job.run, job.overrides, job.artifacts_dir)
    return (train_stage1 if job.stage == 1 else train_stage2)(config, run, job.resume)


# -- stage 1 --------------------------------------------------------------------------------------


def course_texts(items_text: list[str], phrasings: dict) -> list[str]:
    """The text a scratch tokenizer learns from: item texts and the training phrasings.

    Held-out phrasings stay out, so that evaluation wording is unseen even by the tokenizer.
    """

    def strings(node: Any) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [s for key, value in node.items() if key != "heldout" for s in strings(value)]
        if isinstance(node, list):
            return [s for value in node for s in strings(value)]
        return []

    return items_text + strings(phrasings)


def title_probe(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trie: SidTrie,
    prepared: PreparedData,
    texts: list[str],
    seed: int,
) -> dict[str, Any]:
    """Share of sampled items whose text, followed by ``ID:``, decodes (greedily) to their own SID."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(texts), size=min(PROBE_ITEMS, len(texts)), replace=False))
    predicted = greedy_items(model, tokenizer, [f"{texts[r]}\nID: " for r in rows], trie)
    truth = prepared.items.item_id.to_numpy()[rows]
    hits = np.asarray(predicted) == truth
    return {"items": len(rows), "accuracy": float(hits.mean()), "rows": rows.tolist(), "hits": hits.tolist()}


def stage1_documents(
    config: Preset, prepared: PreparedData, catalog: SidCatalog, texts: list[str]
) -> list[str]:
    """The stage-1 corpus of a run, as :func:`train_stage1` trains on it."""
    steerable = steerable_attributes(prepared, load_phrasings())
    return stage1_corpus(prepared, catalog, texts, config.corpus, steerable, seed=config.stage1.seed)


def train_stage1(config: Preset, run: Run, resume: bool = True) -> Path:
    state = PartialState()
    prepared = PreparedData.load(run.require("01_prepare", config))
    catalog = SidCatalog.load(run.require("03_semantic_ids", config) / "semantic_ids.parquet")
    texts = item_texts(prepared.items, config.embed.template, config.embed.description_chars)
    upstream = ["01_prepare", "03_semantic_ids"]
    writer = _start(state, run, "04_vocabulary", config, upstream)

    if config.model.pretrained:
        model, tokenizer = load_pretrained(config.model.base, config.model.dtype)
    else:
        tokenizer = train_tokenizer(course_texts(texts, load_phrasings()), config.model.tokenizer_vocab)
        model = build_scratch_model(tokenizer, config.model)
    example_sid = catalog.sid(prepared.items.item_id.iloc[0])
    tokens_before = len(tokenizer.tokenize(example_sid))
    vocab_before = len(tokenizer)
    new_ids = add_sid_tokens(model, tokenizer, catalog.tokens())
    trie = SidTrie(catalog, tokenizer)
    probe_before = title_probe(model, tokenizer, trie, prepared, texts, config.stage1.seed)

    corpus = stage1_documents(config, prepared, catalog, texts)
    if config.model.pretrained:  # the preset's rules keep stage1.weight_decay at 0 here
        train_new_rows_only(model, new_ids)
    trainer = sft_trainer(
        model,
        tokenizer,
        Dataset.from_dict({"text": corpus}),
        config.stage1,
        _checkpoint_dir(run, "04_vocabulary", config, upstream),
        max_length=config.model.max_length,
    )
    resumed = run_sft(trainer, resume)
    model = trainer.model
    probe_after = title_probe(model, tokenizer, trie, prepared, texts, config.stage1.seed)
    metrics = {
        "base": config.model.base,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trained_parameters": _trained_parameters(trainer.model),
        "vocab_before": vocab_before,
        "vocab_after": len(tokenizer),
        "sid_tokens": len(new_ids),
        "example_sid": example_sid,
        "example_sid_tokens_before": tokens_before,
        "example_sid_tokens_after": len(tokenizer.tokenize(example_sid)),
        "corpus_documents": len(corpus),
        **_loss_summary(trainer, resumed),
        "title_to_sid_accuracy_before": probe_before["accuracy"],
        "title_to_sid_accuracy_after": probe_after["accuracy"],
        "probe_items": probe_after["items"],
    }
    return _finish(state, run, "04_vocabulary", writer, model, tokenizer, trainer, metrics)


def train_new_rows_only(model: PreTrainedModel, new_ids: list[int]) -> None:
    """Freeze the model except the embedding rows of ``new_ids`` (input and, if untied, output)."""
    model.requires_grad_(False)
    train_rows(model, new_ids)


def train_rows(model: PreTrainedModel, ids: list[int]) -> None:
    """Make the embedding rows of ``ids`` trainable (input and, if untied, output), and no other row.

    A gradient mask zeroes every other row's gradient; with no weight decay, Adam then leaves
    those rows exactly as they were. (PEFT's trainable tokens cannot reach the output rows under
    TRL, which computes the loss from ``lm_head.weight`` directly.)
    """
    rows = torch.zeros(model.get_input_embeddings().weight.shape[0], 1)
    rows[ids] = 1.0
    embeddings = {
        id(m.weight): m.weight for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m
    }
    for weight in embeddings.values():
        weight.requires_grad_(True)
        weight.register_hook(lambda grad: grad * rows.to(grad.device, grad.dtype))


# -- stage 2 --------------------------------------------------------------------------------------


def train_stage2(config: Preset, run: Run, resume: bool = True) -> Path:
    state = PartialState()
    prepared = PreparedData.load(run.require("01_prepare", config))
    catalog = SidCatalog.load(run.require("03_semantic_ids", config) / "semantic_ids.parquet")
    base_dir = run.require("04_vocabulary", config) / "model"
    upstream = ["01_prepare", "03_semantic_ids", "04_vocabulary"]
    writer = _start(state, run, "05_sft", config, upstream)

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=getattr(torch, config.model.dtype))
    tasks = task_mix(prepared, catalog, load_phrasings(), config.tasks)
    if writer is not None:
        tasks.assign(messages=tasks.messages.map(json.dumps)).to_parquet(
            writer.path("tasks.parquet"), index=False
        )
    model = with_lora(model, config.stage2, tokenizer.convert_tokens_to_ids(catalog.tokens()))
    dataset, assistant_only = conversations_dataset(tasks.messages.tolist(), tokenizer)
    trainer = sft_trainer(
        model,
        tokenizer,
        dataset,
        config.stage2,
        _checkpoint_dir(run, "05_sft", config, upstream),
        max_length=config.model.max_length,
        assistant_only=assistant_only,
    )
    resumed = run_sft(trainer, resume)
    model = merged(trainer.model)
    metrics = {
        "base": config.model.base,
        "lora": config.stage2.lora,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trained_parameters": _trained_parameters(trainer.model),
        "examples": len(tasks),
        "task_counts": tasks.task.value_counts().to_dict(),
        **_loss_summary(trainer, resumed),
    }
    card = model_card(config, metrics)
    return _finish(state, run, "05_sft", writer, model, tokenizer, trainer, metrics, card)


def with_lora(model: PreTrainedModel, cfg: TrainConfig, sid_ids: list[int]) -> PreTrainedModel:
    """``model`` with LoRA adapters on every linear layer (PEFT), when ``cfg.lora`` is on; the SID
    rows of the embeddings (and of an untied ``lm_head``) stay trainable beside them (see
    :func:`train_rows`), so the new items keep learning while the base is adapted."""
    if not cfg.lora:
        return model
    from peft import LoraConfig, get_peft_model

    adapted = get_peft_model(
        model,
        LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
        ),
    )
    train_rows(adapted.get_base_model(), sid_ids)
    return adapted


def merged(model: Any) -> PreTrainedModel:
    """The plain transformers model of a trained stage: PEFT adapters merged in (as it is exported)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


GENERATION_MARK = re.compile(r"{%-?\s*generation\s*-?%}")


def conversations_dataset(
    conversations: list[list[dict[str, str]]], tokenizer: PreTrainedTokenizerBase
) -> tuple[Dataset, bool]:
    """Stage 2's examples for TRL, trained on the final assistant turn only; and whether TRL's
    ``assistant_only_loss`` is what does it.

    A chat template with ``{% generation %}`` markers (the scratch model's) lets TRL mask every
    non-assistant token of a ``messages`` example. Hub templates mostly have none, so each example is
    then split into ``prompt`` (every turn before the last) and ``completion`` (the last, an
    assistant turn): TRL trains on the completion's tokens alone, with any chat template.
    """
    if GENERATION_MARK.search(tokenizer.chat_template or ""):
        return Dataset.from_dict({"messages": conversations}), True
    if any(not turns or turns[-1]["role"] != "assistant" for turns in conversations):
        raise ValueError("Every stage-2 conversation must end with an assistant turn.")
    return Dataset.from_dict(
        {
            "prompt": [turns[:-1] for turns in conversations],
            "completion": [turns[-1:] for turns in conversations],
        }
    ), False


def model_card(config: Preset, metrics: dict[str, Any]) -> str:
    tasks = "\n".join(f"| {task} | {count} |" for task, count in metrics["task_counts"].items())
    return f"""---
library_name: transformers
tags: [recommendation, semantic-ids, sidrec]
---
# sidrec semantic-ID recommender ({config.name} preset)

A causal language model that recommends items of one catalog by generating their semantic IDs
(`<|sid_start|><|sid_0_…|>…<|sid_end|>`), trained with the sidrec course (stage 1: SID tokens;
stage 2: supervised fine-tuning on a task mix from the train split only).

- base: `{config.model.base}`; dataset: `{config.dataset}`
- parameters: {metrics["parameters"]:,}; fine-tuning: {"LoRA (merged)" if metrics["lora"] else "full"}
- final training loss: {metrics["final_loss"]:.4f} after {metrics["steps"]} steps

Load it with plain `AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained`. Decode
with `sidrec_lib` (a trie of the catalog's SIDs), so that every output is a real item.

| task | examples |
|---|---|
{tasks}
"""


# -- shared ---------------------------------------------------------------------------------------


def sft_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Dataset,
    cfg: TrainConfig,
    output_dir: Path,
    max_length: int,
    assistant_only: bool = False,
    callbacks: list[TrainerCallback] | None = None,
    sft_args: Mapping[str, Any] | None = None,
) -> SFTTrainer:
    """TRL's ``SFTTrainer`` for one stage, its dataset tokenized, not yet trained.

    ``callbacks`` are added to the trainer's; ``sft_args`` sets any other ``SFTConfig`` field
    (e.g. ``{"train_sampling_strategy": "group_by_length"}``) over the ones ``cfg`` gives.
    """
    with warnings.catch_warnings():  # TRL sets the old name, which transformers now warns about
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
        args = _sft_config(cfg, output_dir, max_length, assistant_only, sft_args or {})
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    if args.padding_free and not args.packing:  # TRL does not truncate then: refuse any example too long
        longest = max(len(ids) for ids in trainer.train_dataset["input_ids"])
        if longest > max_length:
            raise ValueError(
                f"An example has {longest} tokens, more than max_length={max_length}, and padding-free "
                "training does not truncate: raise model.max_length, shorten the examples (e.g. "
                "tasks.prompt_history), or set packing=True."
            )
    return trainer


def run_sft(trainer: SFTTrainer, resume: bool = True) -> int:
    """Train ``trainer`` (see :func:`sft_trainer`), resuming from the last checkpoint in its output
    folder if asked; returns the step it resumed from (0 for a fresh start)."""
    last = _last_checkpoint(Path(trainer.args.output_dir)) if resume else None
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    return int(last.name.split("-")[1]) if last else 0


def _sft_config(
    cfg: TrainConfig, output_dir: Path, max_length: int, assistant_only: bool, extra: Mapping[str, Any]
) -> SFTConfig:
    """TRL's config for one stage, CPU-friendly where no GPU is present; ``extra`` fields override."""
    unknown = sorted(set(extra) - {f.name for f in dataclasses.fields(SFTConfig)})
    if unknown:
        raise ValueError(f"Not SFTConfig fields: {unknown}; see trl.SFTConfig for the names.")
    padding_free = extra.get("padding_free", cfg.padding_free)
    packing = extra.get("packing", cfg.packing)
    fields = dict(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup,
        weight_decay=cfg.weight_decay,
        bf16=cfg.bf16 and torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=False,  # TRL turns it on by default; it only slows small models
        max_length=None if padding_free and not packing else max_length,  # checked in sft_trainer
        packing=cfg.packing,
        padding_free=cfg.padding_free,
        assistant_only_loss=assistant_only,
        logging_steps=cfg.logging_steps,
        save_steps=cfg.save_steps,
        save_total_limit=2,
        report_to="none",
        seed=cfg.seed,
        dataloader_num_workers=0,
    )
    return SFTConfig(**{**fields, **extra})


def _start(
    state: PartialState, run: Run, step: str, config: Preset, upstream: list[str]
) -> StepWriter | None:
    writer = run.start(step, config, upstream=upstream) if state.is_main_process else None
    state.wait_for_everyone()
    return writer


def _finish(state, run, step, writer, model, tokenizer, trainer, metrics, card: str | None = None) -> Path:
    """Save the merged model (with its model ``card``), tokenizer and log, and publish the step (main
    process only)."""
    if state.is_main_process:
        model.save_pretrained(writer.path("model"))
        tokenizer.save_pretrained(writer.path("model"))
        if card is not None:
            writer.path("model/README.md").write_text(card)
        write_json_atomic(writer.path("train_log.json"), trainer.state.log_history)
        figure = plots.loss_curve(trainer.state.log_history, f"{step} training loss")
        plots.save(figure, writer.path("plots/loss.png"))
        plt.close(figure)
        writer.finish(metrics)
        # Checkpoints only serve an unfinished step: once it is published, those of every parameter
        # set of this step go (a later run with other parameters starts afresh either way).
        for folder in Path(trainer.args.output_dir).parent.glob(f"{step}-*"):
            shutil.rmtree(folder, ignore_errors=True)
    state.wait_for_everyone()
    return run.step_dir(step)


def _checkpoint_dir(run: Run, step: str, config: Preset, upstream: list[str]) -> Path:
    """Where a step keeps checkpoints until it finishes: keyed by its parameters and its inputs."""
    key = [step_params(config, step), [run.manifest_hash(name) for name in upstream]]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return run.root / ".checkpoints" / f"{step}-{digest}"


def _last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint: one a kill cut short mid-save is passed over."""
    found = [
        p
        for p in folder.glob("checkpoint-*")
        if re.fullmatch(r"checkpoint-\d+", p.name) and complete_checkpoint(p)
    ]
    return max(found, key=lambda p: int(p.name.split("-")[1])) if found else None


def complete_checkpoint(folder: Path) -> bool:
    """The trainer writes its state file last, so a checkpoint whose state file reads is whole."""
    try:
        json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def _trained_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _loss_summary(trainer, resumed_from: int) -> dict[str, Any]:
    losses = [(e["step"], e["loss"]) for e in trainer.state.log_history if "loss" in e]
    first = losses[0][1] if losses else math.nan
    last = float(np.mean([loss for _, loss in losses[-3:]])) if losses else math.nan
    return {
        "steps": trainer.state.global_step,
        "resumed_from_step": resumed_from,
        "first_loss": first,
        "final_loss": last,
    }


def load_job(path: str | Path) -> TrainJob:
    """A :class:`TrainJob` from a YAML file of its fields, checked (preset and overrides included).

    Raises one ValueError that names the file, says what is wrong and shows what a job looks like.
    """
    from sidrec_lib.presets import get_preset
    from sidrec_lib.sources import SourceError, check_dataset

    example = (
        "A job file is a YAML mapping like:\n"
        "  stage: 1                # required: 1 or 2\n"
        "  preset: cpu             # ci, cpu or gpu\n"
        "  dataset: null           # builtin, amazon2023:<Category>, a folder, or null: the preset's own\n"
        "  run: null               # run name; null: from preset and dataset\n"
        "  artifacts_dir: artifacts\n"
        '  overrides: {}           # preset fields as dotted keys, e.g. {"stage2.lora": true}\n'
        "  resume: true            # continue from the last checkpoint"
    )
    path = Path(path)
    if not path.is_file():
        found = "is a folder" if path.is_dir() else "does not exist"
        raise ValueError(f"Job file {path} {found}.\n{example}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"Job file {path} is not valid YAML: {e}\n{example}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"Cannot read job file {path}: {e}") from e
    if not isinstance(data, dict):
        found = "is empty" if data is None else f"holds a {type(data).__name__}, not a mapping of job fields"
        raise ValueError(f"Job file {path} {found}.\n{example}")

    names = [f.name for f in dataclasses.fields(TrainJob)]
    problems = []
    unknown = sorted(str(key) for key in data if key not in names)
    if unknown:
        problems.append(f"unknown fields {unknown}; a job has {names}")
    stage = data.get("stage")
    if "stage" not in data:
        problems.append("'stage' is missing: 1 or 2")
    elif not isinstance(stage, int) or isinstance(stage, bool) or stage not in (1, 2):
        problems.append(f"stage = {stage!r}: must be 1 or 2")
    for name, kind, allowed in [
        ("preset", str, "a preset name such as cpu"),
        ("dataset", str | None, "builtin, amazon2023:<Category>, a folder, or null"),
        ("run", str | None, "a run name, or null"),
        ("artifacts_dir", str, "a folder"),
        ("overrides", dict | None, 'a mapping of dotted keys to values, e.g. {"stage2.lora": true}'),
        ("resume", bool, "true or false"),
    ]:
        if name in data and not isinstance(data[name], kind):
            problems.append(f"{name} = {data[name]!r}: must be {allowed}")
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ValueError(f"Job file {path} is not a valid job:\n{listed}\n{example}")

    job = TrainJob(**data)
    if job.overrides is None:
        job.overrides = {}
    dataset = job.dataset
    if dataset is not None:
        try:
            check_dataset(dataset)
        except SourceError as e:
            raise ValueError(f"Job file {path}: {e}") from e
    try:
        get_preset(job.preset, {**job.overrides, **({"dataset": dataset} if dataset else {})})
    except ValueError as e:
        raise ValueError(f"Job file {path}: {e}") from e
    return job


def main(argv: list[str] | None = None) -> None:
    """``python -m sidrec_lib.train --config job.yaml``; a bad job or missing input exits 2 with one
    ``error:`` message (``--debug``: the full traceback instead)."""
    import sys

    from sidrec_lib.artifacts import StepInputError
    from sidrec_lib.sources import SourceError

    parser = argparse.ArgumentParser(description="Train stage 1 or 2 of a sidrec run.")
    parser.add_argument("--config", required=True, help="YAML file with TrainJob fields (stage, preset, ...)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    args = parser.parse_args(argv)
    try:
        folder = train(load_job(args.config))
    except (ValueError, SourceError, StepInputError, FileNotFoundError) as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if PartialState().is_main_process:
        print(f"wrote {folder}")


if __name__ == "__main__":
    main()
