"""The fine-tuned model as a recommender: prompts in, ranked catalog items out (notebook 06).

One object serves evaluation, steering, the chat demo and library users: it writes the user
turn (a history, a request in plain words, or both), wraps it in the model's chat template, and
decodes with beam search over the trie of catalog SIDs (:func:`sidrec_lib.decoding.recommend`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from sidrec_lib.decoding import SidTrie, recommend
from sidrec_lib.devices import default_device
from sidrec_lib.models import chat_prompt
from sidrec_lib.tasks import format_history, load_phrasings
from sidrec_lib.tokens import SidCatalog


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
