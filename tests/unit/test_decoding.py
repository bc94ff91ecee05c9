"""Trie decoding only ever yields valid, distinct catalog items (a property test over random catalogs)."""

import copy

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidrec_lib.decoding import SidTrie, greedy_items, recommend
from sidrec_lib.evaluate import HybridRecommender
from sidrec_lib.models import add_sid_tokens, build_scratch_model, train_tokenizer
from sidrec_lib.presets import ModelConfig
from sidrec_lib.semantic_ids import add_dedup_level
from sidrec_lib.tokens import SidCatalog

TEXTS = [f"user asks about item {i} and its colour {c}" for i in range(40) for c in ("red", "green")]


@pytest.fixture(scope="module")
def base():
    tokenizer = train_tokenizer(TEXTS, 300)
    config = ModelConfig(hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64)
    return tokenizer, config


def spread_new_rows(model, new_ids, seed):
    """Fresh SID rows are nearly equal (mean initialised); spread them so that scores differ."""
    with torch.no_grad():
        weight = model.get_input_embeddings().weight
        weight[new_ids] += torch.randn(
            len(new_ids), weight.shape[1], generator=torch.Generator().manual_seed(seed)
        )


def random_catalog(seed: int, n_items: int, levels: int, codes: int) -> SidCatalog:
    rng = np.random.default_rng(seed)
    table = add_dedup_level(rng.integers(0, codes, size=(n_items, levels)))
    return SidCatalog([f"item{i}" for i in range(n_items)], table)


def model_for(base, catalog: SidCatalog, seed: int):
    """A fresh tokenizer and scratch model with ``catalog``'s SID tokens (spread rows), and its trie."""
    tokenizer = copy.deepcopy(base[0])
    torch.manual_seed(seed)
    model = build_scratch_model(tokenizer, base[1])
    spread_new_rows(model, add_sid_tokens(model, tokenizer, catalog.tokens()), seed)
    return tokenizer, model, SidTrie(catalog, tokenizer)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    n_items=st.integers(1, 40),
    levels=st.integers(1, 3),
    codes=st.integers(1, 6),
    k=st.integers(1, 12),
)
def test_beam_search_yields_valid_distinct_items(base, seed, n_items, levels, codes, k):
    catalog = random_catalog(seed, n_items, levels, codes)
    tokenizer, model, trie = model_for(base, catalog, seed)
    rng = np.random.default_rng(seed)
    prompts = [f"user asks about item {i}" for i in rng.integers(0, 40, size=3)]
    exclude = [list(rng.choice(catalog.item_ids, size=min(2, n_items), replace=False)) for _ in prompts]
    results = recommend(model, tokenizer, prompts, trie, k=k, beams=k + 3, exclude=exclude, batch_size=2)
    for ranked, excluded in zip(results, exclude):
        items = [item for item, _ in ranked]
        assert all(item in catalog.item_ids for item in items)  # valid
        assert len(items) == len(set(items))  # distinct
        assert not set(items) & set(excluded)  # history excluded
        assert len(items) == min(k, n_items - len(set(excluded)))  # as many as exist
        scores = [score for _, score in ranked]
        assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    for item in greedy_items(model, tokenizer, prompts, trie):
        assert item in catalog.item_ids


def test_exact_mode_scores_every_item(base):
    """With as many beams as items, beam search is exhaustive: its top-k is the true top-k."""
    catalog = random_catalog(3, 30, 2, 4)
    tokenizer, model, trie = model_for(base, catalog, 0)
    prompt = "user asks about item 7"
    ranked = recommend(model, tokenizer, [prompt], trie, k=30, beams=30)[0]
    # Score every item by teacher forcing.
    scores = {}
    for item in catalog.item_ids:
        ids = tokenizer(prompt + catalog.sid(item), return_tensors="pt", add_special_tokens=False).input_ids
        codes = slice(-(trie.depth + 1), -1)  # the code tokens, between <|sid_start|> and <|sid_end|>
        with torch.no_grad():
            log_probs = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)  # row i predicts token i + 1
        scores[item] = float(log_probs[codes].gather(1, ids[0, 1:][codes, None]).sum())
    truth = sorted(scores, key=scores.get, reverse=True)
    assert [item for item, _ in ranked] == truth
    assert [s for _, s in ranked] == pytest.approx([scores[i] for i in truth], abs=1e-4)


def test_batches_of_mixed_lengths_return_lists_in_prompt_order(base):
    """Prompts are batched by length: each list still belongs to its prompt, as if decoded alone."""
    catalog = random_catalog(7, 40, 3, 4)
    tokenizer, model, trie = model_for(base, catalog, 2)
    prompts = [
        "user asks about item 3 and item 9 and item 27 and its colour red, then blue",
        "item 5",
        "user asks about item 12",
        "a user who asks about item 30 and item 31",
        "item 8",
    ]
    exclude = [[catalog.item_ids[i], catalog.item_ids[i + 1]] for i in range(len(prompts))]
    together = recommend(model, tokenizer, prompts, trie, k=6, beams=8, exclude=exclude, batch_size=2)
    for prompt, excluded, ranked in zip(prompts, exclude, together):
        alone = recommend(model, tokenizer, [prompt], trie, k=6, beams=8, exclude=[excluded])[0]
        assert [item for item, _ in ranked] == [item for item, _ in alone]
        assert [s for _, s in ranked] == pytest.approx([s for _, s in alone], abs=1e-4)


def test_eager_and_sdpa_attention_agree(base):
    """The tree mask is boolean for SDPA and additive for eager attention: both give the same ranking."""
    tokenizer, model, trie = model_for(base, random_catalog(5, 40, 3, 4), 1)
    prompts = ["user asks about item 3", "user asks about item 12 and its colour red"]
    ranked = {}
    for implementation in ("sdpa", "eager"):
        model.set_attn_implementation(implementation)
        ranked[implementation] = recommend(model, tokenizer, prompts, trie, k=8, beams=10, batch_size=2)
    for ours, eager in zip(ranked["sdpa"], ranked["eager"]):
        assert [item for item, _ in ours] == [item for item, _ in eager]
        assert [s for _, s in ours] == pytest.approx([s for _, s in eager], abs=1e-4)


def test_trie_walks_and_blocks(base):
    catalog = random_catalog(7, 25, 2, 3)
    tokenizer, _, trie = model_for(base, catalog, 0)
    for item in catalog.item_ids:
        tokens = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(catalog.sid(item)))[1:-1]
        assert all(tokens[d] in trie.allowed(tuple(tokens[:d])) for d in range(trie.depth))
        assert trie.item(tuple(tokens)) == item and trie.allowed(tuple(tokens)) == []
    # Excluding every item under one first-level code blocks that code's node.
    first = catalog.codes[:, 0] == catalog.codes[0, 0]
    blocked = trie.blocked([catalog.item_ids[i] for i in np.flatnonzero(first)])
    assert blocked[0].sum() == 1 and blocked[-1].sum() == first.sum()


def test_free_text_writes_only_catalog_sids(base):
    catalog = random_catalog(3, 30, 2, 4)
    tokenizer, model, trie = model_for(base, catalog, 1)
    item = catalog.item_ids[5]
    sid = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(catalog.sid(item)))
    words = tokenizer("item 3 is red", add_special_tokens=False).input_ids
    assert trie.in_text(words) is None  # outside a SID: text, never a code or an end
    text = trie.text_tokens(len(tokenizer))
    assert trie.start_id in text and trie.end_id not in text and not set(sid[1:-1]) & set(text)
    for d in range(1, len(sid) - 1):  # inside one: the trie's continuations, then the end
        assert sid[d] in trie.in_text(words + sid[:d])
    assert trie.in_text(words + sid[:-1]) == [trie.end_id]
    assert trie.in_text(words + sid + words) is None
    # A greedy reply under these constraints never holds a SID that names no item.
    hybrid = HybridRecommender(model, tokenizer, catalog)
    for turn in ("item 1 is", "colour green and", "user asks"):
        reply = hybrid.reply(turn, max_new_tokens=30)
        assert all(found.problem is None for found in catalog.parse(reply)), reply
