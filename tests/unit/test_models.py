"""Vocabulary extension and stage-1 training of a pretrained-like base (a tiny model saved to a folder)."""

import numpy as np
import pytest
import torch
from datasets import Dataset

from sidrec_lib.decoding import SidTrie, greedy_items
from sidrec_lib.models import (
    add_sid_tokens,
    build_scratch_model,
    chat_prompt,
    load_pretrained,
    train_tokenizer,
)
from sidrec_lib.presets import ModelConfig, TrainConfig
from sidrec_lib.tokens import SidCatalog
from sidrec_lib.train import _tied, run_sft, train_new_rows_only

TEXTS = [f"Title: Item number {i} of the store, a {c} thing" for i in range(60) for c in ("red", "blue")]
CATALOG = SidCatalog([f"i{i}" for i in range(12)], np.array([[i // 4, i % 4, 0] for i in range(12)]))


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    """A tiny Qwen3 'hub model' in a local folder, untied, as large pretrained models are."""
    tokenizer = train_tokenizer(TEXTS, 300)
    model = build_scratch_model(
        tokenizer, ModelConfig(hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64)
    )
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    folder = tmp_path_factory.mktemp("tiny-hub-model")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_adding_sid_tokens_keeps_old_rows_and_tying():
    tokenizer = train_tokenizer(TEXTS, 300)
    model = build_scratch_model(
        tokenizer, ModelConfig(hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64)
    )
    old = model.get_input_embeddings().weight.detach().clone()
    before = len(tokenizer)
    new_ids = add_sid_tokens(model, tokenizer, CATALOG.tokens())
    weights = model.get_input_embeddings().weight
    assert len(tokenizer) == weights.shape[0] == before + len(CATALOG.tokens())
    assert new_ids == list(range(before, len(tokenizer)))
    assert torch.equal(weights[:before], old)
    assert _tied(model)
    assert tokenizer.tokenize(CATALOG.sid("i5")) == [
        "<|sid_start|>",
        "<|sid_0_1|>",
        "<|sid_1_1|>",
        "<|sid_2_0|>",
        "<|sid_end|>",
    ]
    assert add_sid_tokens(model, tokenizer, CATALOG.tokens()) == new_ids  # adding twice changes nothing


def test_stage1_of_a_pretrained_base_changes_only_new_rows(pretrained_dir, tmp_path):
    model, tokenizer = load_pretrained(str(pretrained_dir))
    assert not _tied(model)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    old_rows = len(tokenizer)
    new_ids = add_sid_tokens(model, tokenizer, CATALOG.tokens())
    corpus = [f"{TEXTS[i]}\nID: {CATALOG.sid(f'i{i}')}" for i in range(12)] * 8
    initial_new = {
        n: p.detach()[old_rows:].clone() for n, p in model.named_parameters() if p.shape[0] > old_rows
    }
    train_new_rows_only(model, new_ids)
    trainer, resumed = run_sft(
        model,
        tokenizer,
        Dataset.from_dict({"text": corpus}),
        TrainConfig(max_steps=12, batch_size=8, learning_rate=1e-2, save_steps=100),
        tmp_path / "ckpt",
        max_length=128,
    )
    assert resumed == 0
    after = dict(trainer.model.named_parameters())
    for name, old in before.items():
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            assert torch.equal(after[name][:old_rows], old), name  # old rows untouched
            assert not torch.equal(after[name][old_rows:], initial_new[name]), name  # new rows learned
        else:
            assert torch.equal(after[name], old), name


def test_greedy_decoding_only_yields_catalog_items(pretrained_dir):
    model, tokenizer = load_pretrained(str(pretrained_dir))
    add_sid_tokens(model, tokenizer, CATALOG.tokens())
    trie = SidTrie(CATALOG, tokenizer)
    prompts = [chat_prompt(tokenizer, f"Item {i}?") for i in range(7)]
    picked = greedy_items(model, tokenizer, prompts, trie, batch_size=3)
    assert len(picked) == 7 and set(picked) <= set(CATALOG.item_ids)
