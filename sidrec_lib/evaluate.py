"""The fine-tuned model as a recommender: prompts in, ranked catalog items out (notebook 06).

One object serves evaluation, steering, the chat demo and library users: it writes the user
turn (a history, a request in plain words, or both), wraps it in the model's chat template, and
decodes with beam search over the trie of catalog SIDs (:func:`sidrec_lib.decoding.recommend`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from sidrec_lib.decoding import SidTrie, recommend
from sidrec_lib.devices import default_device
from sidrec_lib.metrics import paired_difference, per_user_ndcg
from sidrec_lib.models import chat_prompt
from sidrec_lib.phrasings import format_history, load_phrasings
from sidrec_lib.tokens import SidCatalog

HYBRID = "hybrid (SID LM)"  # the hybrid's name in every table of notebook 06


@dataclass
class HybridRecommender:
    """A semantic-ID language model and its catalog, ready to recommend."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    catalog: SidCatalog
    max_history: int = 20
    beams: int = 20
    batch_size: int = 16
    phrasings: dict = field(default_factory=load_phrasings)

    def __post_init__(self) -> None:
        self.trie = SidTrie(self.catalog, self.tokenizer)

    @classmethod
    def load(cls, model_dir: str | Path, catalog: SidCatalog, **options) -> HybridRecommender:
        """From a fine-tuned folder (``05_sft/model``), on the GPU when there is one."""
        model = AutoModelForCausalLM.from_pretrained(model_dir).to(default_device(mps=False))
        return cls(model, AutoTokenizer.from_pretrained(model_dir), catalog, **options)

    def history_text(self, history: list[str]) -> str:
        return format_history(history, self.catalog, self.max_history)

    def next_item_turn(self, history: list[str], phrasing: int = 0, split: str = "train") -> str:
        """The user turn asking for the next item after ``history``."""
        template = self.phrasings["next_item"][split][phrasing]
        return template.format(history=self.history_text(history))

    def recommend(
        self,
        user_turns: list[str],
        k: int = 10,
        exclude: list[list[str]] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` (item_id, log-probability) after each user turn; never ``exclude[i]`` for turn i."""
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

    def reply(self, user_turn: str, max_new_tokens: int = 80) -> str:
        """Free text (unconstrained greedy generation), with SIDs rendered as «titles» by the caller."""
        prompt = chat_prompt(self.tokenizer, user_turn)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        text = self.tokenizer.decode(output[0, inputs.input_ids.shape[1] :], skip_special_tokens=False)
        return text.split(self.tokenizer.eos_token)[0].strip()


def conversation(
    hybrid: HybridRecommender,
    history: list[str],
    titles: dict[str, str],
    facts: dict[str, dict[str, str]],
    refinements: dict[str, str],
) -> list[tuple[str, str]]:
    """A short demo dialogue as (speaker, text) turns, SIDs shown as titles.

    History → recommendations; a request for an attribute of the top pick (held-out phrasing); why
    the top pick fits; then a follow-up that refines (``refinements``: attribute → value text, e.g.
    ``{"price_tier": "cheap"}``), sent as a new request with the history, since the model was
    trained on single-turn requests. ``facts``: item_id → {attribute: value text}.
    """
    phrasings = hybrid.phrasings

    def ask(attribute: str, text: str, variant: int) -> tuple[str, str]:
        request = phrasings["requests"][attribute]["heldout"][variant % 2].format(value=text)
        wrapper = phrasings["with_history"]["heldout"][variant % 2]
        picks = hybrid.recommend(
            [wrapper.format(history=hybrid.history_text(history), request=request)], 3, [history]
        )
        return request, " | ".join(titles[item] for item, _ in picks[0])

    turns = [("user", "I bought: " + " | ".join(titles[i] for i in history[-5:]))]
    top = hybrid.recommend([hybrid.next_item_turn(history)], k=3, exclude=[history])[0]
    turns.append(("model", " | ".join(titles[item] for item, _ in top)))
    own = facts.get(top[0][0], {})
    if own:
        turns.extend(zip(("user", "model"), ask(*next(iter(own.items())), variant=0)))
    question = phrasings["explain"]["train"][0].format(
        sid=hybrid.catalog.sid(top[0][0]), history=hybrid.history_text(history)
    )
    turns.append(("user", f"Why {titles[top[0][0]]}?"))
    turns.append(("model", hybrid.catalog.render(hybrid.reply(question), titles)))
    for attribute, text in refinements.items():
        _, answer = ask(attribute, text, variant=1)
        refine = phrasings["refine"]["cheaper" if attribute == "price_tier" else "other_platform"][0]
        turns.extend([("user", refine.format(value=text)), ("model", answer)])
    return turns


def choose_max_history(
    hybrid: HybridRecommender, valid: pd.DataFrame, choices: Sequence[int], k: int = 20
) -> tuple[int, pd.DataFrame]:
    """The prompt history length among ``choices`` with the best NDCG@10 on ``valid`` (``history``
    and ``target`` columns), and a table of every choice; ``hybrid`` is left as it was."""
    rows, kept = [], hybrid.max_history
    try:
        for max_history in choices:
            hybrid.max_history = max_history
            lists = hybrid.recommend_next(valid.history.tolist(), k=k)
            ndcg = per_user_ndcg(lists, valid.target.tolist()).mean()
            rows.append({"max_history": max_history, "valid ndcg@10": ndcg})
    finally:
        hybrid.max_history = kept
    table = pd.DataFrame(rows)
    return int(table.loc[table["valid ndcg@10"].idxmax(), "max_history"]), table


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
