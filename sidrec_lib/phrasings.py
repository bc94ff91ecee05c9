"""The course's words: the phrasings file (``data/prompts/phrasings.json``, train and held-out
wordings of every kind of turn) and the text pieces prompts and answers are built from: a history as
SIDs, an item described by its attribute values, an explanation from the values two items share.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sidrec_lib.tokens import SidCatalog

PHRASINGS_PATH = Path(__file__).resolve().parents[1] / "data" / "prompts" / "phrasings.json"
EXPLAINED_HISTORY = 5  # history items an explain prompt shows, each with its title and values
REQUIRED_PHRASINGS = (
    "next_item", "sid_to_title", "title_to_sid", "explain", "with_history", "requests", "explanations",
)  # fmt: skip


def load_phrasings(path: str | Path | None = None) -> dict:
    """The phrasings JSON (default :data:`PHRASINGS_PATH`); a clear error if it is missing or invalid."""
    path = Path(path) if path is not None else PHRASINGS_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Phrasings file {path} not found (the repository ships one there)."
        ) from None
    try:
        phrasings = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"Phrasings file {path} is not valid JSON: {e}") from e
    if not isinstance(phrasings, dict):
        raise ValueError(f"Phrasings file {path} must hold a JSON object, not {type(phrasings).__name__}.")
    missing = [key for key in REQUIRED_PHRASINGS if key not in phrasings]
    if missing:
        raise ValueError(f"Phrasings file {path} lacks the key(s) {', '.join(missing)}.")
    return phrasings


def pick_one(rng: np.random.Generator, options: list[str]) -> str:
    """One of ``options``, uniformly (a phrasing, an attribute)."""
    return options[int(rng.integers(len(options)))]


def format_history(item_ids: list[str], catalog: SidCatalog, max_items: int) -> str:
    """The most recent ``max_items`` items' SIDs, oldest first, separated by spaces (the SID
    markers already delimit items; one token between them keeps prompts short)."""
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, not {max_items}.")
    return " ".join(catalog.sid(item) for item in list(item_ids)[-max_items:])


def describe_item(title: str, facts: dict[str, list[str]]) -> str:
    """Title plus attribute values (not keywords): "Feral Infection 2 - PC. Platform: PC; Genre: Horror."."""
    head = title if title.endswith((".", "!", "?")) else f"{title}."
    parts = [
        f"{attribute.replace('_', ' ').capitalize()}: {', '.join(values)}"
        for attribute, values in facts.items()
        if attribute != "keyword"
    ]
    return f"{head} {'; '.join(parts)}." if parts else head


def cited_item(item: str, facts: dict[str, dict[str, list[str]]], titles: dict[str, str]) -> str:
    """An item as an explanation prompt shows it: its quoted title, then its attribute values (not
    keywords): '"Feral Infection 2 - PC" (platform: PC; genre: Horror)'."""
    values = "; ".join(
        f"{attribute.replace('_', ' ')}: {', '.join(held)}"
        for attribute, held in facts.get(item, {}).items()
        if attribute != "keyword"
    )
    return f'"{titles[item]}" ({values})' if values else f'"{titles[item]}"'


def explain_question(
    template: str,
    item: str,
    history: list[str],
    facts: dict[str, dict[str, list[str]]],
    titles: dict[str, str],
) -> str:
    """An ``explain`` prompt: why ``item`` fits the last :data:`EXPLAINED_HISTORY` items of ``history``,
    each shown as :func:`cited_item`, so that every value and title an answer needs is in the prompt
    to be read, not recalled."""
    shown = ", ".join(cited_item(i, facts, titles) for i in history[-EXPLAINED_HISTORY:])
    return template.format(sid=cited_item(item, facts, titles), history=shown)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _quoted(titles: list[str]) -> str:
    quoted = [f'"{title}"' for title in titles]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def explain_answer(
    target: str,
    history: list[str],
    facts: dict[str, dict[str, list[str]]],
    titles: dict[str, str],
    templates: dict,
) -> str:
    """Why ``target`` fits ``history``: a sentence naming the attribute values they share.

    ``templates`` is ``phrasings["explanations"]`` (clauses per attribute, how to join them, a fallback).
    """
    target_facts = facts.get(target, {})
    clauses = []
    for attribute, template in templates["clauses"].items():
        for value in target_facts.get(attribute, []):
            clause = template.get(value) if isinstance(template, dict) else template
            sharing = [item for item in reversed(history) if value in facts.get(item, {}).get(attribute, ())]
            if clause and sharing:
                names = [titles[item] for item in sharing[:2]]
                clauses.append(clause.format(value=value, a=_article(value), titles=_quoted(names)))
                break
        if len(clauses) >= templates.get("max_clauses", 2):
            break
    if not clauses:
        return templates["fallback"].format(title=titles[history[-1]])
    sentence = templates["join"].join(clauses)
    return f"{sentence[0].upper()}{sentence[1:]}."
