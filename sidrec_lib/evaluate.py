"""The fine-tuned model as a recommender: prompts in, ranked catalog items out (notebook 06).

One object serves evaluation, steering, the chat demo and library users: it writes the user
turn (a history, a request in plain words, or both), wraps it in the model's chat template, and
decodes with beam search over the trie of catalog SIDs (:func:`sidrec_lib.decoding.recommend`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from sidrec_lib.artifacts import Run
from sidrec_lib.attributes import item_facts, steerable_attributes
from sidrec_lib.decoding import SidTrie, recommend
from sidrec_lib.devices import default_device
from sidrec_lib.metrics import paired_difference, per_user_ndcg
from sidrec_lib.models import chat_prompt
from sidrec_lib.phrasings import explain_question, format_history, load_phrasings
from sidrec_lib.prepare import PreparedData
from sidrec_lib.presets import Preset
from sidrec_lib.tokens import SidCatalog

HYBRID = "hybrid (SID LM)"  # the hybrid's name in every table of notebook 06


@dataclass
class HybridRecommender:
    """A semantic-ID language model and its catalog, ready to recommend."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    catalog: SidCatalog
    prompt_history: int = 20  # history items a prompt shows (the most recent)
    beams: int = 20
    batch_size: int = 16
    phrasings: dict = field(default_factory=load_phrasings)

    def __post_init__(self) -> None:
        self.trie = SidTrie(self.catalog, self.tokenizer)
        self._text_tokens = self.trie.text_tokens(len(self.tokenizer))  # what a reply writes outside SIDs

    @classmethod
    def load(cls, model_dir: str | Path, catalog: SidCatalog, **options) -> HybridRecommender:
        """From a fine-tuned folder (``05_sft/model``), on the GPU when there is one."""
        model = AutoModelForCausalLM.from_pretrained(model_dir).to(default_device(mps=False))
        return cls(model, AutoTokenizer.from_pretrained(model_dir), catalog, **options)

    @classmethod
    def from_run(cls, run: Run, config: Preset) -> HybridRecommender:
        """The model of a run (``05_sft/model``, checked fresh for ``config``), with its SIDs and the
        beams and batch size of ``config.evaluate``."""
        catalog = SidCatalog.load(run.require("03_semantic_ids", config) / "semantic_ids.parquet")
        beams, batch_size = config.evaluate.beams, config.evaluate.batch_size
        return cls.load(run.require("05_sft", config) / "model", catalog, beams=beams, batch_size=batch_size)

    def history_text(self, history: list[str]) -> str:
        return format_history(history, self.catalog, self.prompt_history)

    def next_item_turn(self, history: list[str], phrasing: int = 0, split: str = "train") -> str:
        """The user turn asking for the next item after ``history``."""
        template = self.phrasings["next_item"][split][phrasing]
        return template.format(history=self.history_text(history))

    def recommend(
        self,
        user_turns: Sequence[str | list[dict]],
        k: int = 10,
        exclude: list[list[str]] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` (item_id, log-probability) after each user turn (or conversation so far, as
        ``{"role", "content"}`` dicts); never ``exclude[i]`` for turn i."""
        prompts = [chat_prompt(self.tokenizer, turn) for turn in user_turns]
        return recommend(
            self.model,
            self.tokenizer,
            prompts,
            self.trie,
            k=k,
            beams=max(self.beams, k),
            exclude=exclude,
            batch_size=self.batch_size,
        )

    def recommend_next(
        self, histories: list[list[str]], k: int = 10, exclude_history: bool = True
    ) -> list[list[str]]:
        """Top-``k`` item ids after each history (history items excluded unless asked not to)."""
        turns = [self.next_item_turn(h) for h in histories]
        ranked = self.recommend(turns, k, exclude=histories if exclude_history else None)
        return [[item for item, _ in row] for row in ranked]

    def reply(self, user_turn: str, max_new_tokens: int = 80, catalog_sids: bool = True) -> str:
        """Free text (greedy generation), SIDs rendered as «titles» by the caller. With ``catalog_sids``,
        every SID the reply opens is finished along the trie, so it names a catalog item; without,
        generation is unconstrained."""
        prompt = chat_prompt(self.tokenizer, user_turn)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        start = inputs.input_ids.shape[1]

        def allowed(_: int, ids: torch.Tensor) -> list[int]:
            return self.trie.in_text(ids[start:].tolist()) or self._text_tokens

        constraint = {"prefix_allowed_tokens_fn": allowed} if catalog_sids else {}
        output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, **constraint)
        text = self.tokenizer.decode(output[0, inputs.input_ids.shape[1] :], skip_special_tokens=False)
        return text.split(self.tokenizer.eos_token)[0].strip()


def conversation(
    hybrid: HybridRecommender,
    history: list[str],
    titles: dict[str, str],
    texts: dict[str, dict[str, str]],
    facts: dict[str, dict[str, list[str]]],
) -> list[tuple[str, str]]:
    """A short demo dialogue as (speaker, text) turns, SIDs shown as titles.

    History → recommendations; a request for an attribute of the top pick (held-out phrasing), then
    a second turn that narrows that answer to another of the top pick's values (held-out refining
    phrasing; the model sees its own first answer); why the top pick fits. ``texts``: item_id →
    {attribute: the text a request names its value by}; ``facts``: item_id → {attribute: values}.
    """
    phrasings, compound = hybrid.phrasings, hybrid.phrasings["compound"]
    turns = [("user", "I bought: " + " | ".join(titles[i] for i in history[-5:]))]
    top = hybrid.recommend([hybrid.next_item_turn(history)], k=3, exclude=[history])[0]
    turns.append(("model", " | ".join(titles[item] for item, _ in top)))
    own = list(texts.get(top[0][0], {}).items())
    if own:
        attribute, text = own[0]
        request = phrasings["requests"][attribute]["heldout"][0].format(value=text)
        wrapper = phrasings["with_history"]["heldout"][0]
        chat = [
            {"role": "user", "content": wrapper.format(history=hybrid.history_text(history), request=request)}
        ]
        picks = hybrid.recommend([chat], 3, [history])[0]
        turns += [("user", request), ("model", " | ".join(titles[item] for item, _ in picks))]
        if len(own) > 1:
            attribute, text = own[1]
            narrow = compound["refine"]["heldout"][0].format(
                fragment=compound["fragments"][attribute].format(value=text)
            )
            chat += [
                {"role": "assistant", "content": hybrid.catalog.sid(picks[0][0])},
                {"role": "user", "content": narrow},
            ]
            picks = hybrid.recommend([chat], 3, [history])[0]
            turns += [("user", narrow), ("model", " | ".join(titles[item] for item, _ in picks))]
    question = explain_turn(hybrid, history, top[0][0], facts, titles)
    turns += [
        ("user", f"Why {titles[top[0][0]]}?"),
        ("model", hybrid.catalog.render(hybrid.reply(question), titles)),
    ]
    return turns


def explain_turn(
    hybrid: HybridRecommender,
    history: list[str],
    item: str,
    facts: dict[str, dict[str, list[str]]],
    titles: dict[str, str],
) -> str:
    """The user turn asking why ``item`` fits ``history``, both shown with titles and attribute values
    (:func:`~sidrec_lib.phrasings.explain_question`)."""
    return explain_question(hybrid.phrasings["explain"]["train"][0], item, history, facts, titles)


def transcripts(hybrid: HybridRecommender, users: pd.DataFrame, prepared: PreparedData) -> str:
    """:func:`conversation` with each of ``users`` (``user_id``, ``history`` columns), as Markdown;
    the requests name steerable values (:func:`~sidrec_lib.attributes.steerable_attributes`)."""
    titles = dict(zip(prepared.items.item_id, prepared.items.title))
    steerable = steerable_attributes(prepared, hybrid.phrasings)
    facts = item_facts(prepared, steerable)
    texts: dict[str, dict[str, str]] = {}
    for item, attribute, text in steerable[["item_id", "attribute", "text"]].itertuples(index=False):
        texts.setdefault(item, {})[attribute] = text
    lines = []
    for user in users.itertuples():
        lines.append(f"### user {user.user_id}")
        lines += [
            f"- **{speaker}**: {text}"
            for speaker, text in conversation(hybrid, user.history, titles, texts, facts)
        ]
    return "\n".join(lines) + "\n"


def free_answer_validity(hybrid: HybridRecommender, histories: list[list[str]]) -> float:
    """Share of histories whose unconstrained next-item answer (free greedy text, no trie) starts with
    a real, well-formed catalog SID."""
    turns = [hybrid.next_item_turn(h) for h in histories]
    answers = [hybrid.reply(turn, max_new_tokens=12, catalog_sids=False) for turn in tqdm(turns, desc="free")]
    return float(
        np.mean(
            [bool(found) and found[0].item_id is not None for found in map(hybrid.catalog.parse, answers)]
        )
    )


def explain_top_picks(
    hybrid: HybridRecommender, prepared: PreparedData, histories: list[list[str]], lists: list[list[str]]
) -> list[dict]:
    """The hybrid's free-text explanation of why the top item of each list fits its history: dicts
    with ``reply`` (raw SIDs kept), ``item_id`` and ``history``, as
    :func:`~sidrec_lib.faithfulness.faithfulness` reads them."""
    facts = item_facts(prepared, steerable_attributes(prepared, hybrid.phrasings))
    titles = dict(zip(prepared.items.item_id, prepared.items.title))
    return [
        {
            "reply": hybrid.reply(explain_turn(hybrid, history, ranked[0], facts, titles)),
            "item_id": ranked[0],
            "history": history,
        }
        for history, ranked in zip(tqdm(histories, desc="explanations"), lists)
    ]


def evaluation_users(
    prepared: PreparedData, users: int = 0, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test and valid examples of the users evaluated: all, or ``users`` of them drawn with ``seed``
    (the same users in both, row for row)."""
    test, valid = prepared.examples("test"), prepared.examples("valid")
    if users and users < len(test):
        keep = np.sort(np.random.default_rng(seed).choice(len(test), size=users, replace=False))
        test, valid = test.iloc[keep].reset_index(drop=True), valid.iloc[keep].reset_index(drop=True)
    return test, valid


def choose_prompt_history(
    hybrid: HybridRecommender, valid: pd.DataFrame, choices: Sequence[int], k: int = 20
) -> tuple[int, pd.DataFrame]:
    """The prompt history length among ``choices`` with the best NDCG@10 on ``valid`` (``history``
    and ``target`` columns), and a table of every choice; ``hybrid`` is left as it was."""
    rows, kept = [], hybrid.prompt_history
    try:
        for length in choices:
            hybrid.prompt_history = length
            lists = hybrid.recommend_next(valid.history.tolist(), k=k)
            ndcg = per_user_ndcg(lists, valid.target.tolist()).mean()
            rows.append({"prompt_history": length, "valid ndcg@10": ndcg})
    finally:
        hybrid.prompt_history = kept
    table = pd.DataFrame(rows)
    return int(table.loc[table["valid ndcg@10"].idxmax(), "prompt_history"]), table


def compare_with_strongest(
    results: dict[str, dict],
    per_user: dict[str, pd.Series],
    candidates: Sequence[str],
    samples: int = 1000,
    seed: int = 0,
    model: str = HYBRID,
) -> dict:
    """``model`` against the strongest of ``candidates`` by test NDCG@10 (``results``: name →
    :func:`~sidrec_lib.metrics.summarize` figures; ``per_user``: name → per-user NDCG@10 over the
    same users): which one it is, the ratio of NDCG@10 and the paired difference with its interval."""
    strongest = max(candidates, key=lambda name: results[name]["ndcg@10"])
    ours, theirs = results[model]["ndcg@10"], results[strongest]["ndcg@10"]
    mean, low, high = paired_difference(per_user[model], per_user[strongest], samples, seed)
    return {
        "strongest_sasrec": strongest,
        "hybrid_beats_sasrec_ndcg10": bool(ours > theirs),
        "ndcg10_ratio_to_sasrec": float(ours / theirs),
        "ndcg10_minus_sasrec": mean,
        "ndcg10_minus_sasrec_lo": low,
        "ndcg10_minus_sasrec_hi": high,
    }


def comparison_text(results: dict[str, dict], comparison: dict, model: str = HYBRID) -> str:
    """Two sentences that state :func:`compare_with_strongest`'s outcome, every figure from it."""
    strongest = comparison["strongest_sasrec"]
    ours, theirs = results[model], results[strongest]
    verdict = "beats" if comparison["hybrid_beats_sasrec_ndcg10"] else "does not beat"
    overlap = ours["ndcg@10_lo"] <= theirs["ndcg@10_hi"] and theirs["ndcg@10_lo"] <= ours["ndcg@10_hi"]
    return (
        f"The hybrid {verdict} the stronger SASRec ({strongest}) on test NDCG@10: {ours['ndcg@10']:.4f} "
        f"[{ours['ndcg@10_lo']:.4f}, {ours['ndcg@10_hi']:.4f}] against {theirs['ndcg@10']:.4f} "
        f"[{theirs['ndcg@10_lo']:.4f}, {theirs['ndcg@10_hi']:.4f}]"
        + (" (the intervals overlap)" if overlap else "")
        + f": {comparison['ndcg10_ratio_to_sasrec']:.2f}× its NDCG@10.\n"
        f"Paired over the same users, hybrid − {strongest}: {comparison['ndcg10_minus_sasrec']:+.4f} "
        f"[{comparison['ndcg10_minus_sasrec_lo']:+.4f}, {comparison['ndcg10_minus_sasrec_hi']:+.4f}]"
    )
