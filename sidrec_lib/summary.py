"""The run's report, ``summary.md``: what was run, the headline results with the plots that tell
the story, then each step's key figures and plots, with a link to the step's ``metrics.json`` for
the full set. :func:`write_html` renders the report and every executed notebook as standalone web
pages in ``html/``. The headline is also what the README shows for a run (``ci/readme_figures.py``)."""

from __future__ import annotations

import base64
import contextlib
import html
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidrec_lib.artifacts import STEPS, Run, step_params
from sidrec_lib.files import write_text_atomic
from sidrec_lib.presets import PRESETS

STEP_TITLES = {
    "01_prepare": "the data",
    "02_embed": "item embeddings",
    "03_semantic_ids": "semantic IDs",
    "04_vocabulary": "SID tokens and stage 1",
    "05_sft": "stage 2, the task mix",
    "06_evaluate": "evaluation and steering",
}
KEY_PLOTS = (
    "06_evaluate/plots/test_metrics.png",
    "06_evaluate/plots/steering_precision.png",
    "06_evaluate/plots/compound_precision.png",
)
STEP_FILES = {"06_evaluate": ("test_metrics.csv", "steering.csv", "compound.csv", "conversations.md")}
STEERING_KINDS = ("catalog", "history", "oracle")
HYBRID = "hybrid (SID LM)"


def headline(run: Run) -> str:
    """The run's results in a few lines of Markdown, every figure read from its metrics.json files:
    what was run and how long each step took, the hybrid against every baseline on test (with 95%
    intervals and the paired difference to the stronger SASRec), and steering with held-out
    phrasings. Empty when notebook 06 has not finished."""
    if not (run.step_dir("06_evaluate") / "metrics.json").is_file():
        return ""
    evaluation, data = run.metrics("06_evaluate"), run.metrics("01_prepare")
    preset = run.manifest("01_prepare")["params"]
    seconds = {
        step: run.manifest(step)["timings_s"]["total"]
        for step in STEPS
        if (run.step_dir(step) / "manifest.json").is_file()
    }
    steps = ", ".join(f"{step[:2]} {value / 60:.1f}" for step, value in seconds.items())
    lines = [
        f"Dataset `{preset['dataset']}`: {data['items']:,} items, {data['users']:,} users. "
        f"Minutes per step: {steps} (total {sum(seconds.values()) / 60:.0f}). "
        f"Test split, {evaluation['users']:,} users, the whole catalog ranked:",
        "",
        "| model | NDCG@10 (95% interval) | Recall@10 | MRR |",
        "|---|---|---|---|",
    ]
    for name, scores in evaluation["test"].items():
        lines.append(
            f"| {name} | {scores['ndcg@10']:.4f} [{scores['ndcg@10_lo']:.4f}, {scores['ndcg@10_hi']:.4f}] "
            f"| {scores['recall@10']:.4f} | {scores['mrr']:.4f} |"
        )
    strongest = evaluation["strongest_sasrec"]
    lines += [
        "",
        f"The hybrid's NDCG@10 is {evaluation['ndcg10_ratio_to_sasrec']:.2f}× the stronger SASRec's "
        f"({strongest}); paired over the same users, hybrid − {strongest}: "
        f"{evaluation['ndcg10_minus_sasrec']:+.4f} [{evaluation['ndcg10_minus_sasrec_lo']:+.4f}, "
        f"{evaluation['ndcg10_minus_sasrec_hi']:+.4f}].",
    ]
    history = {
        key.split("|")[1]: row["precision@10"]
        for key, row in evaluation["steering"].items()
        if key.startswith("hybrid (SID LM)|") and key.endswith("|history")
    }
    if history:
        each = ", ".join(f"{attribute.replace('_', ' ')} {value:.2f}" for attribute, value in history.items())
        lines += [
            f"Steering with held-out phrasings and a test user's history, precision@10: {each}; "
            f"mean {evaluation['steering_history_precision@10']:.3f}. Asking for a value of the user's "
            f"true next item takes its NDCG@10 from {evaluation['oracle_ndcg10_unsteered']:.3f} to "
            f"{evaluation['oracle_ndcg10_steered']:.3f} (×{evaluation['oracle_ndcg10_ratio']:.2f}).",
        ]
    return "\n".join(lines) + "\n"


# Figures: readable numbers --------------------------------------------------------------------


def _number(value: Any, digits: int = 3) -> str:
    """``value`` for reading: thousands separators, ``digits`` decimals, "–" for a missing figure."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _share(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f}%"


def _small(value: float) -> str:
    """Two decimals, or two significant digits below 0.01."""
    return f"{value:.2f}" if abs(value) >= 0.01 else f"{value:.2g}"


def _words(name: str) -> str:
    return name.replace("_", " ")


def _series(values: list[float], digits: int = 3) -> str:
    return " → ".join(_number(float(v), digits) for v in values)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


Figure = Callable[[dict[str, Any]], str]


def _read_lines(m: dict[str, Any]) -> str:
    reports = m["read_report"]
    read, kept = sum(r["lines"] for r in reports), sum(r["kept"] for r in reports)
    return f"{read:,} lines in {len(reports)} files, {kept:,} kept"


def _filters(m: dict[str, Any]) -> str:
    first, last = m["filter_counts"][0], m["filter_counts"][-1]
    return (
        f"{first['interactions']:,} interactions of {first['items']:,} items read; {last['interactions']:,} "
        f"of {last['items']:,} kept after {len(m['filter_counts']) - 1} filters (the last: {last['stage']})"
    )


def _agreement(table: dict[str, dict[str, float]]) -> str:
    return ", ".join(
        f"{_words(name)} {row['agreement']:.2f} (chance {_small(row['chance'])})"
        for name, row in table.items()
    )


def _purity(m: dict[str, Any]) -> str:
    rows = {key.split("@")[0]: row for key, row in m["coherence"].items() if key.endswith("@prefix2")}
    return ", ".join(
        f"{_words(name)} {row['purity']:.2f} (random codes {row['random']:.2f}"
        + (f", codes from text alone {row['text_only']:.2f})" if "text_only" in row else ")")
        for name, row in rows.items()
    )


def _other_quantiser(m: dict[str, Any]) -> str:
    rows = m["quantisers_compared"]
    return "; ".join(
        f"{row['quantiser']}: {_share(row['collision_rate'])} share their codes, error {row['final_mse']:.3f}"
        for row in rows
    )


def _coverage(m: dict[str, Any]) -> str:
    return ", ".join(f"{name} {_share(scores['coverage@10'])}" for name, scores in m["test"].items())


def _peer_training(m: dict[str, Any]) -> str:
    peer = m["cornac_sasrec"]
    best = max(peer["sweep"], key=lambda row: row["valid ndcg@10"])
    chosen = f"best of {len(peer['sweep'])} settings " if len(peer["sweep"]) > 1 else ""
    return (
        f"this course's {m['sasrec_epochs']} epochs; Cornac's {chosen}`{best['setting']}` "
        f"(valid NDCG@10 {best['valid ndcg@10']:.3f}, best epoch {peer['best_epoch']})"
    )


def _trained(m: dict[str, Any]) -> str:
    how = "LoRA" if m.get("lora") else "all weights"
    return f"`{m['base']}`, {m['parameters']:,} parameters, {m['trained_parameters']:,} trained ({how})"


def _loss(m: dict[str, Any]) -> str:
    resumed = f", resumed at step {m['resumed_from_step']}" if m.get("resumed_from_step") else ""
    return f"{m['first_loss']:.3f} → {m['final_loss']:.3f} in {m['steps']:,} steps{resumed}"


KEY_FIGURES: dict[str, list[tuple[str, Figure]]] = {
    "01_prepare": [
        ("source", lambda m: f"`{m['source']}`" + (f" ({m['category']})" if m.get("category") else "")),
        ("users, items, interactions", lambda m: f"{m['users']:,}, {m['items']:,}, {m['interactions']:,}"),
        ("density", lambda m: _share(m["density"], 2)),
        (
            "history length",
            lambda m: "median {median:g}, mean {mean:.1f}, from {min} to {max}".format(
                **m["sequence_length"]
            ),
        ),
        ("split (train / valid / test)", lambda m: " / ".join(f"{n:,}" for n in m["split_sizes"].values())),
        (
            "popularity",
            lambda m: (
                f"the top 10% of items hold {_share(m['top10pct_item_share'])} of the interactions; "
                f"Gini {m['popularity_gini']:.2f}"
            ),
        ),
        ("read", _read_lines),
        ("filters", _filters),
    ],
    "02_embed": [
        (
            "encoder",
            lambda m: (
                f"`{m['encoder']}`, {m['dim']} dimensions, {m['items']:,} items"
                + (" (from the cache)" if m.get("from_cache") else f" in {m['encode_seconds']:.0f} s")
            ),
        ),
        (
            "same value among the 5 nearest text neighbours",
            lambda m: _agreement(m["neighbour_agreement_at_5"]),
        ),
        (
            "same value among the 5 nearest behaviour neighbours",
            lambda m: _agreement(m["cooccurrence_neighbour_agreement_at_5"]),
        ),
    ],
    "03_semantic_ids": [
        (
            "codes",
            lambda m: (
                f"{m['levels']} levels of {m['codes']} codes, and a last level of up to "
                f"{m['dedup_level_size']} that tells apart items with the same codes"
            ),
        ),
        ("every SID unique", lambda m: _number(m["unique"])),
        (
            "items sharing all their codes with another",
            lambda m: f"{_share(m['collision_rate'])}, at most {m['largest_collision_group']} together",
        ),
        ("reconstruction error by level", lambda m: _series(m["level_mse"])),
        ("share of each codebook used", lambda m: " / ".join(_share(v, 0) for v in m["codebook_used_share"])),
        ("purity of two-code prefixes", _purity),
        ("quantisers at the same size", _other_quantiser),
    ],
    "04_vocabulary": [
        ("base model", _trained),
        (
            "vocabulary",
            lambda m: (
                f"{m['vocab_before']:,} → {m['vocab_after']:,} tokens ({m['sid_tokens']} for SIDs); "
                f"one SID takes {m['example_sid_tokens_before']} tokens before, "
                f"{m['example_sid_tokens_after']} after"
            ),
        ),
        ("stage-1 corpus", lambda m: f"{m['corpus_documents']:,} documents"),
        ("loss", _loss),
        (
            "title → its own SID",
            lambda m: (
                f"{_share(m['title_to_sid_accuracy_before'])} → "
                f"{_share(m['title_to_sid_accuracy_after'])} of {m['probe_items']} items"
            ),
        ),
    ],
    "05_sft": [
        ("base model", _trained),
        (
            "examples",
            lambda m: (
                f"{m['examples']:,}: "
                + ", ".join(f"{_words(task)} {count:,}" for task, count in m["task_counts"].items())
            ),
        ),
        ("loss", _loss),
    ],
    "06_evaluate": [
        (
            "test users",
            lambda m: (
                f"{m['users']:,}; prompts show the last {m['chosen_prompt_history']} items (chosen on valid)"
            ),
        ),
        (
            "answers that are catalog items",
            lambda m: (
                f"{_share(m['constrained_valid_share'], 0)} with the trie, "
                f"{_share(m['unconstrained_valid_share'], 0)} of free first answers"
            ),
        ),
        ("catalog coverage@10", _coverage),
        ("SASRec training", _peer_training),
        (
            "steering with a history, hybrid",
            lambda m: (
                f"precision@10 {m['steering_history_precision@10']:.3f} "
                f"of a possible {m['steering_history_ceiling@10']:.3f}"
            ),
        ),
    ],
}


def _scalars(metrics: dict[str, Any], limit: int = 8) -> list[tuple[str, Figure]]:
    """For a step without chosen figures: its first top-level numbers and words."""
    keys = [k for k, v in metrics.items() if isinstance(v, bool | int | float | str)][:limit]
    return [(_words(key), lambda m, key=key: _number(m[key])) for key in keys]


def _evaluated(figures: list[tuple[str, Figure]], metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) of each figure that ``metrics`` holds."""
    found = []
    for label, figure in figures:
        try:
            found.append((label, figure(metrics)))
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
            continue  # written by an older notebook, or a figure this run has no data for
    return found


def key_figures(step: str, metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """``step``'s key figures as (label, text); its first top-level figures when it has none of
    those (an unknown step, or metrics of another shape)."""
    return _evaluated(KEY_FIGURES.get(step, []), metrics) or _evaluated(_scalars(metrics), metrics)


# The report ----------------------------------------------------------------------------------


def _finished(run: Run) -> list[str]:
    return [step for step in STEPS if (run.step_dir(step) / "metrics.json").is_file()]


def _seconds(run: Run, step: str) -> float | None:
    return run.manifest(step).get("timings_s", {}).get("total")


def _same_params(run: Run, step: str, preset_name: str) -> bool:
    expected = json.loads(json.dumps(step_params(PRESETS[preset_name], step), default=str))
    return run.manifest(step).get("params") == expected


def preset_used(run: Run) -> str:
    """The preset of the run, as the notebook driver passed it (with its overrides), else the presets
    whose parameters every finished step records; empty when neither tells."""
    for notebook in sorted((run.root / "executed").glob("*.ipynb")):
        try:
            parameters = json.loads(notebook.read_text())["metadata"]["papermill"]["parameters"]
            name, overrides = parameters["preset"], parameters.get("overrides") or {}
        except (OSError, ValueError, KeyError, TypeError):
            continue
        changed = ", ".join(f"`{key}={value}`" for key, value in overrides.items())
        return f"`{name}`" + (f" with {changed}" if changed else "")
    finished = [step for step in STEPS if (run.step_dir(step) / "manifest.json").is_file()]
    matches = [name for name in PRESETS if finished and all(_same_params(run, s, name) for s in finished)]
    return " or ".join(f"`{name}`" for name in matches)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unrecorded time"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _executed(run: Run) -> list[str]:
    """Where the notebooks as run are, as report lines."""
    if not any((run.root / "executed").glob("*.ipynb")):
        return []
    return [
        "- the notebooks as run: `executed/`; they and this report as web pages with every figure: "
        "`html/` (start at `html/summary.html`)"
    ]


def _dataset(run: Run) -> str:
    """The dataset and its sizes, as a report line."""
    data, dataset = run.metrics("01_prepare"), run.manifest("01_prepare")["params"].get("dataset", "?")
    sizes = [
        f"{data[key]:,} {key}" for key in ("items", "users", "interactions") if isinstance(data.get(key), int)
    ]
    return f"- dataset `{dataset}`" + (f": {', '.join(sizes)}" if sizes else "")


def _overview(run: Run, finished: list[str], has_results: bool, notebooks: list[str]) -> list[str]:
    """What was run: the preset, and (when there is no headline to say it) the data and the time;
    then ``notebooks``, the lines that say where the notebooks as run are."""
    preset = preset_used(run) or "not recorded"
    if not finished:
        return [f"Preset {preset}. No step has finished yet.", "", *notebooks, ""]
    missing = [step for step in STEPS if step not in finished]
    lines = [f"- preset {preset}; {len(finished)} of {len(STEPS)} steps finished"]
    if missing:
        lines[0] += f", not yet {', '.join(missing)}"
    if not has_results:
        if "01_prepare" in finished:
            lines.append(_dataset(run))
        seconds = {step: _seconds(run, step) or 0.0 for step in finished}
        minutes = ", ".join(f"{step[:2]} {value / 60:.1f}" for step, value in seconds.items())
        lines.append(f"- minutes per step: {minutes} (total {sum(seconds.values()) / 60:.1f})")
        lines.append("- no test results yet: they come with 06_evaluate")
    return [*lines, *notebooks, ""]


def _verdict(evaluation: dict[str, Any]) -> str:
    """Whether the hybrid beats the stronger SASRec, by the paired interval of their difference."""
    stronger = f"the stronger SASRec ({evaluation['strongest_sasrec']})"
    low, high = evaluation["ndcg10_minus_sasrec_lo"], evaluation["ndcg10_minus_sasrec_hi"]
    if low > 0:
        outcome = f"the hybrid beats {stronger}: the paired 95% interval lies above 0"
    elif high < 0:
        outcome = f"the hybrid trails {stronger}: the paired 95% interval lies below 0"
    else:
        outcome = f"the hybrid and {stronger} are level: the paired 95% interval holds 0"
    return f"**Verdict on test NDCG@10:** {outcome}."


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def steering_by_kind(evaluation: dict[str, Any]) -> list[str]:
    """A Markdown table: each model's mean precision@10 over the attributes, by kind of request,
    with the ceiling (what a perfect list scores) and, for ``oracle`` requests, NDCG@10."""
    precision: dict[str, dict[str, list[float]]] = {}
    ndcg: dict[str, list[float]] = {}
    ceiling: dict[str, list[float]] = {}
    attributes = []
    for key, row in evaluation.get("steering", {}).items():
        model, attribute, kind = key.split("|")
        precision.setdefault(model, {}).setdefault(kind, []).append(row["precision@10"])
        if kind == "oracle" and "ndcg@10" in row:
            ndcg.setdefault(model, []).append(row["ndcg@10"])
        if model == HYBRID and "ceiling@10" in row:
            ceiling.setdefault(kind, []).append(row["ceiling@10"])
        attributes += [attribute] if attribute not in attributes else []
    if not precision:
        return []
    kinds = [kind for kind in STEERING_KINDS if any(kind in by_kind for by_kind in precision.values())]
    lines = [
        f"Steering by kind of request: precision@10, mean over "
        f"{', '.join(_words(a) for a in attributes)} (`catalog`: no history; `history`: a test user's "
        "history and a random value; `oracle`: a value of the user's true next item):",
        "",
        f"| model | {' | '.join(kinds)} | NDCG@10, oracle |",
        "|---" * (len(kinds) + 2) + "|",
    ]
    for model, by_kind in precision.items():
        cells = [_number(_mean(by_kind.get(kind, []))) for kind in kinds]
        lines.append(f"| {_cell(model)} | {' | '.join(cells)} | {_number(_mean(ndcg.get(model, [])))} |")
    if ceiling:
        cells = [_number(_mean(ceiling.get(kind, []))) for kind in kinds]
        lines.append(f"| a perfect list (ceiling) | {' | '.join(cells)} | |")
    return [*lines, ""]


def compound_by_kind(evaluation: dict[str, Any]) -> list[str]:
    """A Markdown table: for each kind of compound request, the hybrid's and the parser pipeline's
    precision@10 (any values) and NDCG@10 (values of the true next item), and who wins."""
    verdicts = evaluation.get("compound_verdicts", {})
    if not verdicts:
        return []
    lines = [
        "Requests a filter cannot serve (held-out phrasings and value combinations): precision@10 for "
        "any values, NDCG@10 for values of the user's true next item; the hybrid wins a kind when its "
        "precision is at least 0.1 above the parser pipeline's and its NDCG@10 at least the "
        "pipeline's:",
        "",
        "| kind | hybrid precision@10 | pipeline precision@10 | hybrid NDCG@10 | pipeline NDCG@10 | wins |",
        "|---|---|---|---|---|---|",
    ]
    for kind, row in verdicts.items():
        keys = ("precision@10", "oracle ndcg@10")
        figures = [_number(row[f"{side} {key}"]) for key in keys for side in ("hybrid", "pipeline")]
        lines.append(f"| {_words(kind)} | {' | '.join(figures)} | {'yes' if row['wins'] else 'no'} |")
    return [*lines, ""]


def _images(run: Run, plots: list[Path]) -> list[str]:
    """The plots side by side, as one Markdown line, linked relative to the run folder."""
    if not plots:
        return []
    return [" ".join(f"![{_words(p.stem)}]({p.relative_to(run.root).as_posix()})" for p in plots), ""]


def _results(run: Run, results: str) -> list[str]:
    """The headline, the verdict, steering by kind and the key plots."""
    evaluation = run.metrics("06_evaluate")
    lines = ["## Results", "", results.rstrip("\n"), ""]
    with contextlib.suppress(KeyError):  # an evaluation without the paired difference has no verdict
        lines += [_verdict(evaluation), ""]
    lines += steering_by_kind(evaluation)
    lines += compound_by_kind(evaluation)
    return lines


def _step_section(run: Run, step: str, shown: list[Path]) -> list[str]:
    """One step: when it finished and how long it took, its key figures, its plots, its files."""
    folder = run.step_dir(step)
    manifest, metrics = run.manifest(step), run.metrics(step)
    seconds = _seconds(run, step)
    created = str(manifest.get("created", "?")).replace("T", " ").replace("+00:00", " UTC")
    files = [f"[metrics.json]({step}/metrics.json)"] + [
        f"[{name}]({step}/{name})" for name in STEP_FILES.get(step, ()) if (folder / name).is_file()
    ]
    notebook = run.root / "executed" / STEPS[step]
    if notebook.is_file():
        files.append(f"[the notebook as run](executed/{notebook.name})")
    lines = [
        f"## {step} · {STEP_TITLES.get(step, STEPS[step])}",
        "",
        f"Took {_duration(seconds)}, finished {created}. All figures: {' · '.join(files)}.",
        "",
    ]
    lines += [f"- {label}: {text}" for label, text in key_figures(step, metrics)]
    lines.append("")
    plots = [plot for plot in sorted((folder / "plots").glob("*.png")) if plot not in shown]
    return lines + _images(run, plots)


def report(run: Run, notebooks: list[str] | None = None) -> str:
    """The Markdown of ``summary.md``, every link relative to the run folder; ``notebooks``: the
    lines that say where the notebooks as run are (by default, the ``executed/`` folder)."""
    finished = _finished(run)
    results = headline(run)
    notebooks = _executed(run) if notebooks is None else notebooks
    lines = [f"# sidrec run `{run.name}`", "", *_overview(run, finished, bool(results), notebooks)]
    shown = [run.root / plot for plot in KEY_PLOTS if results and (run.root / plot).is_file()]
    if results:
        lines += _results(run, results) + _images(run, shown)
    for step in finished:
        lines += _step_section(run, step, shown)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_summary(run: Run) -> Path:
    """Write ``<run>/summary.md`` (atomically) from the steps present, and return its path."""
    path = run.root / "summary.md"
    write_text_atomic(path, report(run))
    return path


# Web pages -----------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
img {{ max-width: 49%; vertical-align: top; }}
code {{ background: #f4f4f4; padding: 0 0.2em; }}
.anchor-link {{ display: none; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def _relinked(run: Run, markdown: str, pages: list[str]) -> str:
    """``markdown`` for a page in ``<run>/html/``: plots embedded, notebooks linked to their pages,
    other files linked from there."""

    def relink(match: re.Match[str]) -> str:
        image, text, target = match.groups()
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:|#|/", target):
            return match.group(0)
        file = run.root / target
        if image and file.suffix == ".png" and file.is_file():
            return f"![{text}](data:image/png;base64,{base64.b64encode(file.read_bytes()).decode()})"
        if file.suffix == ".ipynb" and file.stem in pages:
            return f"[{text}]({file.stem}.html)"
        return f"{image}[{text}]({Path(os.path.relpath(file, run.root / 'html')).as_posix()})"

    return LINK.sub(relink, markdown)


def _notebook_links(pages: list[str], failures: dict[str, str]) -> list[str]:
    """Report lines linking each notebook's page, and naming those that could not be rendered."""
    lines = []
    if pages:
        lines.append("- the notebooks as run: " + " · ".join(f"[{page}](html/{page}.html)" for page in pages))
    for name, error in failures.items():
        lines.append(f"- `{name}` could not be rendered: `{error.replace('`', '')}`")
    return lines


def _first_line(error: Exception) -> str:
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0][:300] if lines else ''}"


def render_notebook(notebook: Path, target: Path) -> None:
    """``notebook`` as one standalone web page (images embedded) at ``target``."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(embed_images=True).from_filename(str(notebook))
    write_text_atomic(target, body)


def write_html(run: Run) -> Path:
    """Render every notebook in ``<run>/executed/`` to ``<run>/html/<name>.html`` and the report to
    ``<run>/html/summary.html``, each page standalone; return the summary page's path. A notebook that
    cannot be rendered is named on the summary page, and the others are still written."""
    from nbconvert.filters import markdown2html

    folder = run.root / "html"
    pages, failures = [], {}
    for notebook in sorted((run.root / "executed").glob("*.ipynb")):
        try:
            render_notebook(notebook, folder / f"{notebook.stem}.html")
            pages.append(notebook.stem)
        except Exception as e:  # a damaged or half-written notebook: the others still render
            failures[notebook.name] = _first_line(e)
            (folder / f"{notebook.stem}.html").unlink(missing_ok=True)  # no page of an older run
    markdown = _relinked(run, report(run, _notebook_links(pages, failures)), pages)
    path = folder / "summary.html"
    page = PAGE.format(title=html.escape(f"sidrec run {run.name}"), body=markdown2html(markdown))
    write_text_atomic(path, page)
    return path
