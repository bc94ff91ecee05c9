"""Benchmark: stage-2 training throughput at the ``cpu`` preset, one TRL setting against another.

Every setting trains the same thing as ``sidrec_lib.train.train_stage2``: the stage-1 model from
``artifacts/<run>/04_vocabulary/model``, on the stage-2 task mix built from the train split
(``task_mix(prepared, catalog, load_phrasings(), config.tasks)``), with assistant-only loss, through
``sidrec_lib.train.sft_trainer`` (TRL's ``SFTTrainer``, as the training stages build it), from the
preset's ``stage2`` ``TrainConfig`` with ``max_steps`` set to ``--warmup`` + ``--steps``. The
settings (``--settings``, comma list):

- ``baseline``: the preset with ``padding_free=False``: each batch padded to its longest example;
- ``padding_free``: ``padding_free=True`` (the ``cpu`` preset's choice): the batch is flattened into
  one row and ``position_ids`` restart at 0 for each example; with SDPA attention, transformers
  builds a block-diagonal causal mask from those ``position_ids`` (TRL documents padding-free for
  FlashAttention only). TRL does not truncate then, so ``sft_trainer`` refuses any example longer than
  ``max_length``;
- ``packing``: ``packing=True`` (TRL's default "bfd" strategy): examples packed into rows of at
  most ``max_length`` tokens, ``batch_size`` rows a step, trained padding-free (so a step holds
  several times the baseline's tokens; with SDPA, a flattened row of T tokens costs T x T attention);
- ``packing_matched``: the same with ``batch_size`` cut so that a step holds about as many tokens
  as a baseline step (estimated from 1,000 sampled examples);
- ``batch_x2``: the baseline with twice the preset's ``batch_size``;
- ``group_by_length``: the baseline with transformers' ``train_sampling_strategy="group_by_length"``
  (batches of examples of similar length, so less padding), passed through ``sft_args``.

Each setting runs in its own spawned process (fresh model, seed 0, its own peak memory). Timed:
the ``--steps`` optimizer steps after ``--warmup`` untimed ones, from the end of the last warm-up
step to the end of the last step, so data collation, forward, backward and optimizer step all
count; tokenization, packing and model loading do not.

Counting. ``tokens/s`` counts the real tokens of each timed batch (prompt and assistant tokens,
chat-template tokens included, padding excluded): the sum of ``attention_mask`` for a padded batch,
and the length of the single flattened row for a padding-free or packed batch (which holds no
padding on CPU, where TRL's ``pad_to_multiple_of`` is None). ``pad share`` is the share of the
positions the model computed that were padding; ``loss tok/step`` counts the assistant tokens that
carry loss. ``final loss`` is the mean training loss of the last 10 timed steps (same step count,
same learning-rate schedule, but a packed or doubled step holds more examples than a baseline one,
and a batch's loss depends on which tasks it holds). ``fixed loss`` scores every trained model on
the same 256 examples of the mix (drawn with seed 0, padded; a setting may have trained on some
of them), which compares what the settings learned in the same number of steps.
``other CPUs`` is how many CPUs other processes kept busy during the timed steps (from /proc/stat);
above 0.2 the times are suspect, and a warning says so.

Validity. Before training, each setting's first batch (the first ``batch_size`` rows of its prepared
dataset, collated by its own collator) is split back into its examples, which are collated again as
the baseline does (padding plus attention mask); the two losses of the stage-1 model must agree
within ``--tolerance``. ``leak Δ`` shows what the check guards against: the loss change when the
flattened row gets a plain causal mask, so that examples can attend to earlier ones. A setting
that fails is marked invalid and cannot be ``best``.

    .venv/bin/python benchmarks/bench_train.py                            # all settings, 60 steps
    .venv/bin/python benchmarks/bench_train.py --steps 20 --settings baseline,padding_free

The last line printed is ``best=<setting> tokens_per_s=<x> speedup_vs_baseline=<y>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing as mp
import os
import queue as queue_module
import resource
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FINAL_WINDOW = 10  # final loss: mean of the last this many timed steps
FIXED_EXAMPLES = 256  # examples of the mix every trained model is scored on at the end
LENGTH_SAMPLE = 1000  # examples tokenized up front to estimate tokens per example
REQUIRED_STEPS = ("01_prepare", "03_semantic_ids", "04_vocabulary")


@dataclass(frozen=True)
class Setting:
    """One way to train: TrainConfig fields and extra SFTConfig fields."""

    what: str
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields changed from the preset
    sft: dict[str, Any] = field(default_factory=dict)  # other SFTConfig fields (sft_trainer's sft_args)
    matched_rows: bool = False  # packing: batch_size chosen to hold about a baseline step's tokens
    batch_factor: int = 1  # batch_size = this x the preset's


SETTINGS: dict[str, Setting] = {
    "baseline": Setting("pad each batch to its longest example", train={"padding_free": False}),
    "padding_free": Setting(
        "padding_free=True: one flattened row per batch, position_ids mark the examples",
        train={"padding_free": True},
    ),
    "packing": Setting(
        "packing=True (bfd): rows of up to max_length tokens, batch_size rows per step, padding-free",
        train={"packing": True, "padding_free": False},
    ),
    "packing_matched": Setting(
        "packing=True (bfd) with batch_size cut to about a baseline step's tokens",
        train={"packing": True, "padding_free": False},
        matched_rows=True,
    ),
    "batch_x2": Setting(
        "twice the preset's batch_size, padded as the baseline", train={"padding_free": False}, batch_factor=2
    ),
    "group_by_length": Setting(
        "train_sampling_strategy='group_by_length': batches of similar lengths, padded",
        train={"padding_free": False},
        sft={"train_sampling_strategy": "group_by_length"},
    ),
}


def quiet_hf() -> None:
    """No progress bars or warnings from datasets and transformers (errors still show)."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


# -- inputs ---------------------------------------------------------------------------------------


def open_inputs(args: argparse.Namespace):
    """The preset, the run, and its three input folders; exits naming how to make them."""
    from sidrec_lib.artifacts import StepInputError, open_run

    artifacts = Path(args.artifacts) if Path(args.artifacts).is_absolute() else ROOT / args.artifacts
    config, run = open_run(args.preset, run=args.run, artifacts_dir=artifacts)
    try:
        folders = {step: run.require(step, config) for step in REQUIRED_STEPS}
    except StepInputError as e:
        raise SystemExit(
            f"Missing or stale inputs in {run.root}: {e}\n"
            f"Make them with `make course` or "
            f"`python ci/run_notebooks.py --preset {args.preset} --run {run.name} --only 01,02,03,04`."
        ) from None
    return config, run, folders


def build_task_mix(config, folders: dict[str, Path]):
    """The stage-2 task mix exactly as ``train_stage2`` builds it (train split only)."""
    from sidrec_lib.phrasings import load_phrasings
    from sidrec_lib.prepare import PreparedData
    from sidrec_lib.tasks import task_mix
    from sidrec_lib.tokens import SidCatalog

    prepared = PreparedData.load(folders["01_prepare"])
    catalog = SidCatalog.load(folders["03_semantic_ids"] / "semantic_ids.parquet")
    return task_mix(prepared, catalog, load_phrasings(), config.tasks)


def describe_model(model_dir: Path, messages: list, seed: int = 0) -> dict[str, Any]:
    """Parameters and attention of the stage-1 model; tokens per example on a sample of the mix."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_hf()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(messages), size=min(LENGTH_SAMPLE, len(messages)), replace=False)
    lengths = [len(tokenizer.apply_chat_template(messages[i], tokenize=True)["input_ids"]) for i in sample]
    return {
        "class": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "attention": model.config._attn_implementation,
        "threads": torch.get_num_threads(),
        "mean_tokens": float(np.mean(lengths)),
        "max_tokens_sampled": int(np.max(lengths)),
    }


# -- one setting, in its own process --------------------------------------------------------------


def batch_counts(inputs: dict[str, Any]) -> dict[str, int]:
    """Real tokens, computed positions, loss tokens and examples of one collated batch."""
    input_ids, labels = inputs["input_ids"], inputs["labels"]
    if "attention_mask" in inputs:  # padded: one example per row, padding where the mask is 0
        real, examples = int(inputs["attention_mask"].sum()), input_ids.shape[0]
    else:  # padding-free: one flattened row, no padding; each example starts at position 0
        real, examples = input_ids.numel(), int((inputs["position_ids"] == 0).sum())
    return {
        "real": real,
        "computed": input_ids.numel(),
        "loss": int((labels != -100).sum()),
        "examples": examples,
    }


def split_examples(batch: dict[str, Any]) -> list[dict[str, list[int]]]:
    """The examples of a collated batch, unpadded and unflattened."""
    if "attention_mask" in batch:
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        return [
            {"input_ids": ids[:n].tolist(), "labels": lab[:n].tolist()}
            for ids, lab, n in zip(batch["input_ids"], batch["labels"], lengths)
        ]
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist() + [batch["input_ids"].shape[1]]
    ids, lab = batch["input_ids"][0], batch["labels"][0]
    return [{"input_ids": ids[a:b].tolist(), "labels": lab[a:b].tolist()} for a, b in zip(starts, starts[1:])]


def first_batch_check(trainer) -> dict[str, float]:
    """Loss of the setting's first batch, and of the same examples padded as the baseline pads them."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    rows = [trainer.train_dataset[i] for i in range(trainer.args.per_device_train_batch_size)]
    batch = trainer.data_collator(rows)
    padded = DataCollatorForLanguageModeling(pad_token_id=trainer.processing_class.pad_token_id)(
        split_examples(batch)
    )
    model = trainer.model
    model.eval()
    with torch.no_grad():
        losses = {"loss": float(trainer.compute_loss(model, batch))}
        losses["baseline_loss"] = float(trainer.compute_loss(model, padded))
        if "attention_mask" not in batch:  # what the loss would be if examples saw each other
            leaky = {**batch, "attention_mask": torch.ones_like(batch["input_ids"])}
            losses["leak_loss"] = float(trainer.compute_loss(model, leaky))
    model.train()
    return losses


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by the whole machine (NaN off Linux) and by this process."""
    try:  # user nice system idle iowait irq softirq steal, in clock ticks
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        machine = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        machine = math.nan
    return machine, time.process_time()


def fixed_set_loss(trainer, tokenized) -> float:
    """Loss of the trained model on the ``tokenized`` rows (input_ids, labels), padded as the baseline."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    batch = DataCollatorForLanguageModeling(pad_token_id=trainer.processing_class.pad_token_id)(
        [{"input_ids": row["input_ids"], "labels": row["labels"]} for row in tokenized]
    )
    trainer.model.eval()
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, batch))


def recording_callback(record: dict[str, Any]):
    """A TrainerCallback that records each step's end time, CPU use and loss (logged every step)."""
    from transformers import TrainerCallback

    class StepRecorder(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            record["step_end"].append(time.perf_counter())
            record["cpu"].append(cpu_seconds())

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                record["losses"].append(float(logs["loss"]))

    return StepRecorder()


def counting_collator(collate, record: dict[str, Any]):
    """``collate``, recording each batch's counts (the loader may collate one batch ahead)."""

    def collate_and_count(rows):
        batch = collate(rows)
        record["batches"].append(batch_counts(batch))
        return batch

    return collate_and_count


def run_setting(
    name: str, overrides: dict[str, Any], config, model_dir: str, messages_path: str, args, out
) -> None:
    """Train one setting for warmup + steps steps and put its record on the queue ``out``."""
    try:
        import datasets
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback

        from sidrec_lib.train import sft_trainer

        quiet_hf()
        setting = SETTINGS[name]
        messages = json.loads(Path(messages_path).read_text())
        fixed = np.random.default_rng(0).choice(
            len(messages), size=min(FIXED_EXAMPLES, len(messages)), replace=False
        )
        record: dict[str, Any] = {"batches": [], "losses": [], "step_end": [], "cpu": []}
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, config.model.dtype))
        steps = args.warmup + args.steps
        cfg = dataclasses.replace(config.stage2, **overrides, max_steps=steps, logging_steps=1)
        with tempfile.TemporaryDirectory(prefix="bench_train_") as output_dir:
            trainer = sft_trainer(
                model, tokenizer, datasets.Dataset.from_dict({"messages": messages}), cfg, Path(output_dir),
                max_length=config.model.max_length, assistant_only=True,
                callbacks=[recording_callback(record)],
                # quiet, and no checkpoint (the end of training would write one)
                sft_args={"disable_tqdm": True, "save_strategy": "no", **setting.sft},
            )  # fmt: skip
            trainer.remove_callback(PrinterCallback)
            # The same fixed examples, tokenized as TRL does (chat template, assistant-only labels).
            fixed_messages = datasets.Dataset.from_dict({"messages": [messages[i] for i in sorted(fixed)]})
            fixed_rows = sft_trainer(
                model, tokenizer, fixed_messages,
                dataclasses.replace(cfg, padding_free=False, packing=False), Path(output_dir),
                max_length=config.model.max_length, assistant_only=True,
            ).train_dataset  # fmt: skip
            record["check"] = first_batch_check(trainer)
            record["dataset_rows"] = len(trainer.train_dataset)
            if "seq_lengths" not in trainer.train_dataset.column_names:
                record["max_example_tokens"] = max(len(ids) for ids in trainer.train_dataset["input_ids"])
            trainer.data_collator = counting_collator(trainer.data_collator, record)
            trainer.train()
            record["batches"] = record["batches"][:steps]
            record["fixed_loss"] = fixed_set_loss(trainer, fixed_rows)
        record["batch_size"] = cfg.batch_size
        record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.put(record)
    except BaseException as e:  # noqa: BLE001  (reported by the parent, next to the other settings)
        out.put({"error": f"{type(e).__name__}: {e}".splitlines()[0], "trace": traceback.format_exc()})


def in_subprocess(*args: Any) -> dict[str, Any]:
    """``run_setting(*args, queue)`` in a fresh spawned interpreter; an error record if it dies."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=run_setting, args=(*args, out))
    proc.start()
    while True:
        try:
            result = out.get(timeout=5)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                code = proc.exitcode
                why = " (killed: out of memory?)" if code is not None and code < 0 else ""
                result = {"error": f"process ended with exit code {code}{why}"}
                break
    proc.join()
    return result


# -- results --------------------------------------------------------------------------------------


def summarize(name: str, r: dict[str, Any], args) -> dict[str, Any]:
    """Throughput over the timed steps, final loss, and whether the setting is valid."""
    if "error" in r:
        return {"name": name, "valid": False, "reason": r["error"]}
    timed = slice(args.warmup, args.warmup + args.steps)
    first, last = args.warmup - 1, args.warmup + args.steps - 1
    seconds = r["step_end"][last] - r["step_end"][first]
    (machine0, own0), (machine1, own1) = r["cpu"][first], r["cpu"][last]
    other_cpus = max(0.0, (machine1 - machine0) - (own1 - own0)) / seconds
    totals = {key: sum(b[key] for b in r["batches"][timed]) for key in r["batches"][0]}
    check = r["check"]
    delta = abs(check["loss"] - check["baseline_loss"])
    reasons = []
    if not delta <= args.tolerance:
        reasons.append(f"first-batch loss differs from the padded one by {delta:.2e} > {args.tolerance:g}")
    return {
        "name": name,
        "valid": not reasons,
        "reason": "; ".join(reasons),
        "batch_size": r["batch_size"],
        "tokens_per_s": totals["real"] / seconds,
        "steps_per_s": args.steps / seconds,
        "examples_per_s": totals["examples"] / seconds,
        "tokens_per_step": totals["real"] / args.steps,
        "loss_tokens_per_step": totals["loss"] / args.steps,
        "pad_share": 1 - totals["real"] / totals["computed"],
        "first_loss": r["losses"][0],
        "final_loss": float(np.mean(r["losses"][timed][-FINAL_WINDOW:])),
        "fixed_loss": r["fixed_loss"],
        "losses": r["losses"],
        "check_delta": delta,
        "leak_delta": abs(check["leak_loss"] - check["loss"]) if "leak_loss" in check else math.nan,
        "dataset_rows": r["dataset_rows"],
        "max_example_tokens": r.get("max_example_tokens"),
        "peak_rss_mb": r["peak_rss_mb"],
        "other_cpus": other_cpus,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'setting':16s} {'valid':5s} {'bs':>3s} {'tokens/s':>9s} {'steps/s':>7s} {'ex/s':>6s} "
        f"{'tok/step':>8s} {'loss tok/step':>13s} {'pad share':>9s} "
        f"{'first loss':>10s} {'final loss':>10s} {'fixed loss':>10s} "
        f"{'check Δ':>8s} {'leak Δ':>8s} {'peak RSS':>9s} {'other CPUs':>10s}"
    )
    for s in rows:
        if "tokens_per_s" not in s:
            print(f"{s['name']:16s} {'no':5s} failed: {s['reason']}")
            continue
        print(
            f"{s['name']:16s} {'yes' if s['valid'] else 'NO':5s} {s['batch_size']:3d} "
            f"{s['tokens_per_s']:9.0f} {s['steps_per_s']:7.3f} {s['examples_per_s']:6.1f} "
            f"{s['tokens_per_step']:8.0f} {s['loss_tokens_per_step']:13.0f} {s['pad_share']:9.1%} "
            f"{s['first_loss']:10.4f} {s['final_loss']:10.4f} {s['fixed_loss']:10.4f} "
            f"{s['check_delta']:8.1e} {s['leak_delta']:8.1e} "
            f"{s['peak_rss_mb']:6.0f}MiB {s['other_cpus']:10.2f}"
        )


def print_ratios(rows: list[dict[str, Any]], base: dict[str, Any] | None) -> None:
    if base is None or "tokens_per_s" not in base:
        print("ratios: no baseline in this run")
        return
    print("ratios against the baseline:")
    for s in rows:
        if s is base or "tokens_per_s" not in s:
            continue
        same_batches = s["name"] == "padding_free" and s["dataset_rows"] == base["dataset_rows"]
        steps = min(len(s["losses"]), len(base["losses"]))
        drift = max(abs(a - b) for a, b in zip(s["losses"][:steps], base["losses"][:steps]))
        print(
            f"  {s['name']:16s} tokens/s x{s['tokens_per_s'] / base['tokens_per_s']:.2f}  "
            f"steps/s x{s['steps_per_s'] / base['steps_per_s']:.2f}  "
            f"examples/s x{s['examples_per_s'] / base['examples_per_s']:.2f}  "
            f"peak RSS x{s['peak_rss_mb'] / base['peak_rss_mb']:.2f}"
            + (f"  (same batches: max per-step loss difference {drift:.1e})" if same_batches else "")
        )


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked: known settings and at least one warm-up and one timed step."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="cpu", help="run name under --artifacts")
    parser.add_argument("--preset", default="cpu", help="preset the run was made with")
    parser.add_argument("--artifacts", default="artifacts", help="artifacts folder (relative to the repo)")
    parser.add_argument("--steps", type=int, default=60, help="timed optimizer steps per setting")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before them (at least 1)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma list of {', '.join(SETTINGS)}")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="first-batch loss agreement needed")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.settings.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown or not names:
        parser.error(f"unknown settings {unknown}; choose from {', '.join(SETTINGS)}")
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    args.names = names
    return args


def main() -> None:
    args = parse_args()
    names = args.names
    config, run, folders = open_inputs(args)
    model_dir = folders["04_vocabulary"] / "model"
    tasks = build_task_mix(config, folders)
    messages = tasks.messages.tolist()
    model = describe_model(model_dir, messages)
    stage2, max_length = config.stage2, config.model.max_length
    matched_batch = max(1, round(stage2.batch_size * model["mean_tokens"] / max_length))
    shown_dir = model_dir.relative_to(ROOT) if model_dir.is_relative_to(ROOT) else model_dir
    print(
        f"model: {model['class']} {model['parameters']:,} parameters, attention={model['attention']}, "
        f"dtype={config.model.dtype}, from {shown_dir}"
    )
    counts = ", ".join(f"{task} {n:,}" for task, n in tasks.task.value_counts().items())
    print(
        f"task mix: {len(tasks):,} examples ({counts}), train split only; "
        f"{model['mean_tokens']:.0f} tokens per example on average "
        f"(max {model['max_tokens_sampled']} in {LENGTH_SAMPLE:,} sampled), max_length={max_length}"
    )
    print(
        f"training: preset {config.name} stage 2 (batch_size={stage2.batch_size}, lr={stage2.learning_rate}, "
        f"{stage2.lr_scheduler}), {args.warmup} warm-up + {args.steps} timed steps per setting; "
        f"cpus={os.cpu_count()} torch threads={model['threads']}; packing_matched batch_size={matched_batch}"
    )
    for name in names:
        print(f"  {name:16s} {SETTINGS[name].what}")
    print()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        messages_path = Path(tmp) / "messages.json"
        messages_path.write_text(json.dumps(messages))
        for name in names:
            setting = SETTINGS[name]
            batch_size = matched_batch if setting.matched_rows else stage2.batch_size * setting.batch_factor
            overrides = {**setting.train, "batch_size": batch_size}
            started = time.perf_counter()
            record = in_subprocess(name, overrides, config, str(model_dir), str(messages_path), args)
            rows.append(summarize(name, record, args))
            status = record.get("error") or f"{rows[-1]['tokens_per_s']:.0f} tokens/s"
            print(f"  ran {name} in {time.perf_counter() - started:.0f}s: {status}", flush=True)
    print()

    print_table(rows)
    base = next((s for s in rows if s["name"] == "baseline"), None)
    print_ratios(rows, base)
    for s in rows:
        if not s["valid"]:
            print(f"invalid: {s['name']}: {s['reason']}")
        if s.get("other_cpus", 0) > 0.2:
            print(
                f"warning: other processes used {s['other_cpus']:.2f} CPUs during {s['name']}'s timed steps"
            )
    valid = [s for s in rows if s["valid"]]
    if not valid:
        print("best=none tokens_per_s=0 speedup_vs_baseline=nan")
        return
    best = max(valid, key=lambda s: s["tokens_per_s"])
    speedup = best["tokens_per_s"] / base["tokens_per_s"] if base and "tokens_per_s" in base else math.nan
    print(f"best={best['name']} tokens_per_s={best['tokens_per_s']:.0f} speedup_vs_baseline={speedup:.2f}")


if __name__ == "__main__":
    main()
