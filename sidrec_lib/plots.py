"""Matplotlib figures the notebooks show and the course summary links to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def save(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG (for the summary) and return the path."""
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return Path(path)


def sequence_length_histogram(lengths: Sequence[int]) -> Figure:
    lengths = np.asarray(lengths)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.arange(lengths.min(), lengths.max() + 2) - 0.5
    ax.hist(lengths, bins=bins if len(bins) < 80 else 60, color="#4C72B0")
    ax.axvline(np.median(lengths), color="k", ls="--", lw=1, label=f"median {np.median(lengths):g}")
    ax.set(xlabel="interactions per user", ylabel="users", title="Sequence lengths")
    ax.legend()
    fig.tight_layout()
    return fig


def popularity_long_tail(counts: Sequence[int]) -> Figure:
    """Interactions per item against popularity rank, log-log."""
    counts = np.sort(np.asarray(counts))[::-1]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.loglog(np.arange(1, len(counts) + 1), counts, marker=".", ls="none", ms=3, color="#C44E52")
    ax.set(xlabel="item popularity rank", ylabel="interactions", title="Popularity long tail (log-log)")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig


def projection_2d(points: np.ndarray, labels: Sequence[str], title: str, max_legend: int = 12) -> Figure:
    """Scatter of 2-D points coloured by label (the most frequent labels; the rest grey)."""
    labels = np.asarray([str(x) for x in labels])
    values, counts = np.unique(labels, return_counts=True)
    shown = values[np.argsort(-counts)][:max_legend]
    fig, ax = plt.subplots(figsize=(7, 5.5))
    other = ~np.isin(labels, shown)
    ax.scatter(points[other, 0], points[other, 1], s=4, c="#cccccc", label="other" if other.any() else None)
    cmap = plt.get_cmap("tab20" if len(shown) > 10 else "tab10")
    for i, value in enumerate(shown):
        mask = labels == value
        ax.scatter(points[mask, 0], points[mask, 1], s=6, color=cmap(i), label=value)
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return fig


def codebook_usage(counts_per_level: Sequence[np.ndarray]) -> Figure:
    """Items per code, codes sorted by size, one line per level."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for level, counts in enumerate(counts_per_level):
        ax.plot(np.sort(np.asarray(counts))[::-1], label=f"level {level}")
    ax.set(xlabel="code (sorted by size)", ylabel="items", title="Codebook usage per level")
    ax.legend()
    fig.tight_layout()
    return fig


def error_by_level(errors: Sequence[float], baseline: float | None = None) -> Figure:
    """Reconstruction error after each level (and of the zero vector, as level 0)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs = np.arange(1, len(errors) + 1)
    if baseline is not None:
        xs, errors = np.arange(0, len(errors) + 1), [baseline, *errors]
    ax.plot(xs, errors, marker="o")
    ax.set(
        xlabel="levels used", ylabel="mean squared error", title="Reconstruction error by level", xticks=xs
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def loss_curve(log_history: list[dict], title: str = "Training loss") -> Figure:
    """Training loss against step, from a Trainer's ``log_history``."""
    points = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if points:
        steps, losses = zip(*points)
        ax.plot(steps, losses, marker=".")
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metric_bars(table, metrics: Sequence[str]) -> Figure:
    """Grouped bars: one group per metric, one bar per model, with ``<metric>_lo/_hi`` error bars."""
    models = list(table.index)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        values = np.array([table.loc[model, m] for m in metrics], dtype=float)
        low = values - np.array([table.loc[model, f"{m}_lo"] for m in metrics], dtype=float)
        high = np.array([table.loc[model, f"{m}_hi"] for m in metrics], dtype=float) - values
        ax.bar(np.arange(len(metrics)) + i * width, values, width, yerr=[low, high], capsize=3, label=model)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(models) - 1) / 2, metrics)
    ax.set(ylabel="test score (95% CI)", title="Next-item recommendation, full-catalog ranking")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def steering_bars(table, metric: str) -> Figure:
    """One group per attribute, one bar per model: ``table`` has (model, metric) columns."""
    models = list(dict.fromkeys(table.columns.get_level_values(0)))
    attributes = list(table.index)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        ax.bar(np.arange(len(attributes)) + i * width, table[(model, metric)].to_numpy(), width, label=model)
    ax.set_xticks(np.arange(len(attributes)) + width * (len(models) - 1) / 2, attributes)
    ax.set(ylabel=metric, ylim=(0, 1.05), title=f"Steering with held-out phrasings: {metric}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
