"""Decoding that only ever yields catalog items: a trie of the catalog's SID token sequences.

After ``<|sid_start|>`` the model may only choose, at each level, a code that continues some
catalog item's SID; after the last level, ``<|sid_end|>`` follows. Every decoded SID therefore
names a real item.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from sidrec_lib.models import token_ids
from sidrec_lib.tokens import SID_END, SID_START, SidCatalog, sid_token


class SidTrie:
    """The catalog's SIDs as token-id sequences, with the allowed next tokens of every prefix."""

    def __init__(self, catalog: SidCatalog, tokenizer: PreTrainedTokenizerBase):
        self.catalog = catalog
        self.start_id, self.end_id = token_ids(tokenizer, [SID_START, SID_END])
        level_ids = [
            np.asarray(token_ids(tokenizer, [sid_token(level, code) for code in range(size)]))
            for level, size in enumerate(catalog.level_sizes)
        ]
        self.sequences = np.stack(
            [level_ids[level][catalog.codes[:, level]] for level in range(catalog.levels)], 1
        )
        children: dict[tuple[int, ...], set[int]] = defaultdict(set)
        for row in self.sequences.tolist():
            for depth in range(len(row)):
                children[tuple(row[:depth])].add(row[depth])
        self.children = {prefix: sorted(ids) for prefix, ids in children.items()}
        self._item_of = {tuple(row): item for row, item in zip(self.sequences.tolist(), catalog.item_ids)}
        self._row_of = {item: row for row, item in enumerate(catalog.item_ids)}
        self.counts: dict[tuple[int, ...], int] = defaultdict(int)  # items under each prefix
        for row in self.sequences.tolist():
            for depth in range(1, len(row) + 1):
                self.counts[tuple(row[:depth])] += 1
        self.depth = catalog.levels

    def blocked_prefixes(self, item_ids: list[str]) -> set[tuple[int, ...]]:
        """Prefixes all of whose items are in ``item_ids`` (beams that could only end in excluded items)."""
        excluded = {}
        for item in item_ids:
            row = self._row_of.get(item)
            if row is not None:
                sequence = tuple(self.sequences[row].tolist())
                for depth in range(1, len(sequence) + 1):
                    excluded[sequence[:depth]] = excluded.get(sequence[:depth], 0) + 1
        return {prefix for prefix, count in excluded.items() if count == self.counts[prefix]}

    def allowed(self, prefix: tuple[int, ...]) -> list[int]:
        return self.children.get(prefix, [])

    def item(self, sequence: tuple[int, ...]) -> str | None:
        return self._item_of.get(tuple(sequence))


def _positions(attention_mask: torch.Tensor) -> torch.Tensor:
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def greedy_items(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    trie: SidTrie,
    batch_size: int = 64,
) -> list[str]:
    """The single most likely catalog item after each prompt (greedy over the trie).

    Each prompt is followed by ``<|sid_start|>``; then one code per level is chosen among those
    the trie allows. Prompts are left-padded and encoded once per batch; later steps reuse the
    KV cache.
    """
    model.eval()
    device = next(model.parameters()).device
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    results: list[str] = []
    try:
        for begin in range(0, len(prompts), batch_size):
            batch = [p + SID_START for p in prompts[begin : begin + batch_size]]
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            mask = enc.attention_mask
            out = model(
                input_ids=enc.input_ids,
                attention_mask=mask,
                position_ids=_positions(mask),
                use_cache=True,
                logits_to_keep=1,  # only the last position's logits are needed
            )
            prefixes: list[tuple[int, ...]] = [()] * len(batch)
            for depth in range(trie.depth):
                logits = out.logits[:, -1, :].float()
                allowed = torch.full_like(logits, float("-inf"))
                for row, prefix in enumerate(prefixes):
                    allowed[row, trie.allowed(prefix)] = 0.0
                choice = (logits + allowed).argmax(-1)
                prefixes = [p + (int(c),) for p, c in zip(prefixes, choice.tolist())]
                if depth == trie.depth - 1:
                    break
                mask = torch.cat([mask, mask.new_ones(len(batch), 1)], dim=1)
                out = model(
                    input_ids=choice[:, None],
                    attention_mask=mask,
                    position_ids=_positions(mask)[:, -1:],
                    cache=out.cache,
                    use_cache=True,
                )
            results.extend(trie.item(p) for p in prefixes)
    finally:
        tokenizer.padding_side = side
    return results


@torch.no_grad()
def recommend(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    trie: SidTrie,
    k: int = 10,
    beams: int = 20,
    exclude: list[list[str]] | None = None,
    batch_size: int = 16,
) -> list[list[tuple[str, float]]]:
    """Top-``k`` catalog items after each prompt, by beam search over the trie, with log-probabilities.

    Every result is a distinct, real catalog item; items in ``exclude[i]`` (e.g. user i's history)
    are never returned for prompt i. Each prompt is encoded once and its KV cache is shared by its
    beams (copied per beam, never recomputed). Scores are the model's summed log-probabilities of
    the SID tokens (log-softmax over the whole vocabulary, then the trie mask), as in
    ``generate(num_beams=…, prefix_allowed_tokens_fn=…)``. ``beams >= len(catalog)`` scores every
    item exactly.
    """
    if k < 1 or beams < k:
        raise ValueError(f"Need 1 <= k <= beams; got k={k}, beams={beams}.")
    model.eval()
    device = next(model.parameters()).device
    exclude = exclude or [[] for _ in prompts]
    if len(exclude) != len(prompts):
        raise ValueError(f"exclude has {len(exclude)} lists for {len(prompts)} prompts.")
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    results: list[list[tuple[str, float]]] = []
    try:
        for begin in range(0, len(prompts), batch_size):
            chunk = slice(begin, begin + batch_size)
            results.extend(
                _beam_batch(model, tokenizer, prompts[chunk], exclude[chunk], trie, k, beams, device)
            )
    finally:
        tokenizer.padding_side = side
    return results


def _beam_batch(model, tokenizer, prompts, exclude, trie: SidTrie, k: int, beams: int, device):
    n = len(prompts)
    enc = tokenizer(
        [p + SID_START for p in prompts], return_tensors="pt", padding=True, add_special_tokens=False
    )
    mask = enc.attention_mask.to(device)
    out = model(
        input_ids=enc.input_ids.to(device),
        attention_mask=mask,
        position_ids=_positions(mask),
        use_cache=True,
        logits_to_keep=1,  # only the last position's logits are needed
    )
    log_probs = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)  # (n, V)
    blocked = [trie.blocked_prefixes(items) for items in exclude]

    # Each user's live beams: (prefix, score); start with the empty prefix.
    live: list[list[tuple[tuple[int, ...], float]]] = [[((), 0.0)] for _ in range(n)]
    cache, rows_of_user = out.cache, [[u] for u in range(n)]  # cache row of each live beam
    for depth in range(trie.depth):
        step_scores = log_probs.cpu().numpy()
        candidates: list[list[tuple[float, int, tuple[int, ...]]]] = []
        for user in range(n):
            options = []
            for beam, (prefix, score) in enumerate(live[user]):
                row = rows_of_user[user][beam]
                for token in trie.allowed(prefix):
                    extended = prefix + (token,)
                    if extended not in blocked[user]:
                        options.append((score + float(step_scores[row, token]), row, extended))
            options.sort(key=lambda option: -option[0])
            candidates.append(options[:beams])
        if depth == trie.depth - 1 or not any(candidates):
            break
        # Gather the chosen beams' cache rows (the prompt cache is copied, never re-encoded).
        order = [row for options in candidates for _, row, _ in options]
        tokens = [prefix[-1] for options in candidates for _, _, prefix in options]
        cache.reorder_cache(torch.tensor(order, dtype=torch.long, device=device))
        mask = torch.cat([mask[order], mask.new_ones(len(order), 1)], dim=1)
        out = model(
            input_ids=torch.tensor(tokens, device=device)[:, None],
            attention_mask=mask,
            position_ids=_positions(mask)[:, -1:],
            cache=cache,
            use_cache=True,
        )
        cache, log_probs = out.cache, torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        live, rows_of_user, offset = [], [], 0
        for options in candidates:
            live.append([(prefix, score) for score, _, prefix in options])
            rows_of_user.append(list(range(offset, offset + len(options))))
            offset += len(options)
    return [[(trie.item(prefix), score) for score, _, prefix in options[:k]] for options in candidates]
