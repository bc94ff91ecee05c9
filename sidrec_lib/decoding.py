"""Decoding that only ever yields catalog items: a trie of the catalog's SID token sequences.

After ``<|sid_start|>`` the model may only choose, at each level, a code that continues some
catalog item's SID; after the last level, ``<|sid_end|>`` follows. Every decoded SID therefore
names a real item.

Beam search here is batched over users and vectorised over beams. Each prompt is encoded once;
the beams of one user are then fed together as extra positions of that user's single sequence,
each attending to the prompt and to its own ancestors only (a 4D attention mask, "tree
attention"). The prompt's KV cache is thus shared by all of a user's beams: it is never copied per
beam, as ``generate(num_beams=…)`` does after re-encoding the prompt once per beam.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from sidrec_lib.models import token_ids
from sidrec_lib.tokens import SID_END, SID_START, SidCatalog, sid_token

MASK_BUDGET = 2**26  # attention-mask entries per batch; bounds the batch in exhaustive (many-beam) search


class SidTrie:
    """The catalog's SIDs as token-id sequences, as a prefix tree stored level by level.

    Level ``d`` has ``nodes[d]`` prefixes of length ``d`` (one, the root, at level 0).
    ``child[d][node, code]`` is the level-``d + 1`` prefix reached from ``node`` by ``code``, or -1
    if no item continues that way; at the last level it is the item's row in the catalog.
    ``level_tokens[d][code]`` is the token id of level ``d``'s ``code``.
    """

    def __init__(self, catalog: SidCatalog, tokenizer: PreTrainedTokenizerBase):
        self.catalog = catalog
        self.depth = catalog.levels
        self.start_id, self.end_id = token_ids(tokenizer, [SID_START, SID_END])
        self.level_tokens = [
            torch.tensor(token_ids(tokenizer, [sid_token(level, code) for code in range(size)]))
            for level, size in enumerate(catalog.level_sizes)
        ]
        codes = catalog.codes
        # prefix_node[:, d]: each item's prefix of length d as a node id of level d (root = 0); the
        # full SIDs, at the last level, are numbered by the items' rows.
        prefix_node = catalog.prefix_node.copy()
        prefix_node[:, self.depth] = np.arange(len(catalog))
        self.prefix_node = prefix_node
        self.nodes = [int(prefix_node[:, d].max()) + 1 for d in range(self.depth + 1)]
        self.child = []
        for d, size in enumerate(catalog.level_sizes):
            table = torch.full((self.nodes[d], size), -1, dtype=torch.long)
            table[prefix_node[:, d], codes[:, d]] = torch.from_numpy(prefix_node[:, d + 1])
            self.child.append(table)
        # Items under each node, to tell when excluded items use up a whole subtree.
        self.items_under = [np.bincount(prefix_node[:, d], minlength=n) for d, n in enumerate(self.nodes)]
        self._code_of_token = [
            {int(token): code for code, token in enumerate(tokens.tolist())} for tokens in self.level_tokens
        ]

    def allowed(self, prefix: tuple[int, ...]) -> list[int]:
        """Token ids that may follow ``prefix`` (token ids after ``<|sid_start|>``); [] past the end."""
        node = 0
        for d, token in enumerate(prefix):
            code = self._code_of_token[d].get(token) if d < self.depth else None
            if code is None or (node := int(self.child[d][node, code])) < 0:
                return []
        if len(prefix) >= self.depth:
            return []
        return self.level_tokens[len(prefix)][self.child[len(prefix)][node] >= 0].tolist()

    def in_text(self, generated: list[int]) -> list[int] | None:
        """Token ids that may follow ``generated`` free text so that every SID it writes is a catalog
        item: inside an open SID, the trie's continuations (then ``<|sid_end|>``); outside, None
        (anything but SID code tokens and ``<|sid_end|>``, as :meth:`text_tokens`)."""
        opened = max((i for i, token in enumerate(generated) if token == self.start_id), default=-1)
        if opened < 0 or self.end_id in generated[opened:]:
            return None
        return self.allowed(tuple(generated[opened + 1 :])) or [self.end_id]

    def text_tokens(self, vocab_size: int) -> list[int]:
        """Every token id of a vocabulary of ``vocab_size`` but the SID code tokens and ``<|sid_end|>``."""
        sid = {self.end_id, *(int(t) for tokens in self.level_tokens for t in tokens)}
        return [token for token in range(vocab_size) if token not in sid]

    def item(self, sequence: tuple[int, ...]) -> str | None:
        """The item whose SID tokens are ``sequence``, or None."""
        if len(sequence) != self.depth:
            return None
        codes = [self._code_of_token[d].get(int(token), -1) for d, token in enumerate(sequence)]
        return self.catalog.item(codes)

    def blocked(self, item_ids: list[str]) -> list[torch.Tensor]:
        """Per level ``d`` = 1..depth, a bool mask over its nodes: prefixes all of whose items are in
        ``item_ids`` (a beam there could only end in an excluded item)."""
        rows = self.catalog.rows(item_ids)
        masks = []
        for d in range(1, self.depth + 1):
            mask = np.zeros(self.nodes[d], dtype=bool)
            if len(rows):
                nodes, counts = np.unique(self.prefix_node[rows, d], return_counts=True)
                mask[nodes[counts == self.items_under[d][nodes]]] = True
            masks.append(torch.from_numpy(mask))
        return masks


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
    """The single most likely catalog item after each prompt: greedy decoding over the trie."""
    ranked = recommend(model, tokenizer, prompts, trie, k=1, beams=1, batch_size=batch_size)
    return [row[0][0] for row in ranked]


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
    are never returned for prompt i (a list is shorter than ``k`` only if fewer items remain).
    Each prompt is encoded once and its KV cache is shared by its beams; prompts of similar length
    are batched together, and each list is returned in the order of ``prompts``. Scores are the model's
    summed log-probabilities of the SID tokens (log-softmax over the whole vocabulary, then the
    trie mask), as in ``generate(num_beams=…, prefix_allowed_tokens_fn=…)``. ``beams >= len(catalog)``
    scores every item exactly.
    """
    if k < 1 or beams < k:
        raise ValueError(f"Need 1 <= k <= beams; got k={k}, beams={beams}.")
    implementation = getattr(model.config, "_attn_implementation", "eager")
    if implementation not in ("sdpa", "eager"):
        raise ValueError(
            f"Beam search shares each prompt's cache through a 4D attention mask, which the "
            f"{implementation!r} attention does not take: load the model with attn_implementation='sdpa'."
        )
    exclude = exclude or [[] for _ in prompts]
    if len(exclude) != len(prompts):
        raise ValueError(f"exclude has {len(exclude)} lists for {len(prompts)} prompts.")
    model.eval()
    # Many beams (exhaustive search) make the tree mask large: fewer users per batch then.
    batch_size = max(1, min(batch_size, MASK_BUDGET // (beams * (256 + trie.depth * beams))))
    # Prompts of similar length share a batch, so that little of it is padding.
    token_lists = tokenizer([p + SID_START for p in prompts], add_special_tokens=False).input_ids
    order = sorted(range(len(prompts)), key=lambda i: len(token_lists[i]))
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    results: list[list[tuple[str, float]]] = [[] for _ in prompts]
    try:
        for begin in range(0, len(prompts), batch_size):
            rows = order[begin : begin + batch_size]
            batch = tokenizer.pad({"input_ids": [token_lists[i] for i in rows]}, return_tensors="pt")
            ranked = _beam_batch(model, batch, [exclude[i] for i in rows], trie, k, beams)
            for row, items in zip(rows, ranked):
                results[row] = items
    finally:
        tokenizer.padding_side = side
    return results


def _beam_batch(model, enc, exclude, trie: SidTrie, k: int, beams: int):
    """Beam search for one batch of prompts, ``enc`` (left-padded token ids ending in ``<|sid_start|>``)."""
    device = next(model.parameters()).device
    boolean_mask = model.config._attn_implementation == "sdpa"
    enc = enc.to(device)
    n = len(exclude)
    out = model(
        input_ids=enc.input_ids,
        attention_mask=enc.attention_mask,
        position_ids=_positions(enc.attention_mask),
        use_cache=True,
        logits_to_keep=1,  # only the last position's logits are needed
    )
    cache, last_position = out.cache, _positions(enc.attention_mask)[:, -1]
    log_probs = torch.log_softmax(out.logits.float(), dim=-1)  # (n, beams so far = 1, V)
    blocked = [torch.stack(levels).to(device) for levels in zip(*map(trie.blocked, exclude))]
    child_of = [table.to(device) for table in trie.child]
    level_tokens = [tokens.to(device) for tokens in trie.level_tokens]

    # kv_visible: which cached positions each live beam attends to (the prompt, its ancestors).
    kv_visible = enc.attention_mask.bool()[:, None, :]  # (n, beams, kv length)
    node = torch.zeros(n, 1, dtype=torch.long, device=device)  # each beam's trie node
    score = torch.zeros(n, 1, device=device)
    for d in range(trie.depth):
        child = child_of[d][node]  # (n, beams, codes)
        step = log_probs[..., level_tokens[d]]  # (n, beams, codes)
        banned = (child < 0) | blocked[d].gather(1, child.clamp(min=0).flatten(1)).view_as(child)
        candidates = (score[..., None] + step).masked_fill(banned, float("-inf")).flatten(1)
        live = int(torch.isfinite(candidates).sum(1).max())
        width = max(1, min(beams, live))
        score, pick = candidates.topk(width, dim=1)  # sorted, best first
        parent, code = pick // step.shape[-1], pick % step.shape[-1]
        node = child.flatten(1).gather(1, pick)
        if d == trie.depth - 1:
            break
        # Feed the chosen tokens: one position per beam, seeing the prompt, its ancestors and itself.
        inherited = kv_visible.gather(1, parent[..., None].expand(-1, -1, kv_visible.shape[-1]))
        itself = torch.eye(width, dtype=torch.bool, device=device).expand(n, -1, -1)
        kv_visible = torch.cat([inherited, itself], dim=2)
        mask = kv_visible[:, None] if boolean_mask else _additive(kv_visible[:, None], model.dtype)
        out = model(
            input_ids=level_tokens[d][code],
            attention_mask=mask,
            position_ids=(last_position + 1 + d)[:, None].expand(-1, width),
            cache=cache,
            use_cache=True,
        )
        cache, log_probs = out.cache, torch.log_softmax(out.logits.float(), dim=-1)

    items, scores = node.tolist(), score.tolist()
    return [
        [(trie.catalog.item_ids[i], s) for i, s in zip(row_items, row_scores) if s != float("-inf")][:k]
        for row_items, row_scores in zip(items, scores)
    ]


def _additive(visible: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A boolean attention mask as the additive float mask eager attention expects."""
    return torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill(
        ~visible, torch.finfo(dtype).min
    )
