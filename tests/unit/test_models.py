"""Vocabulary extension of the scratch model: new SID rows, old rows and tying kept."""

import numpy as np
import torch

from sidrec_lib.models import add_sid_tokens, build_scratch_model, embeddings_tied, train_tokenizer
from sidrec_lib.presets import ModelConfig
from sidrec_lib.tokens import SidCatalog

TEXTS = [f"Title: Item number {i} of the store, a {c} thing" for i in range(60) for c in ("red", "blue")]
CATALOG = SidCatalog([f"i{i}" for i in range(12)], np.array([[i // 4, i % 4, 0] for i in range(12)]))


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
    assert embeddings_tied(model)
    assert tokenizer.tokenize(CATALOG.sid("i5")) == [
        "<|sid_start|>",
        "<|sid_0_1|>",
        "<|sid_1_1|>",
        "<|sid_2_0|>",
        "<|sid_end|>",
    ]
    assert add_sid_tokens(model, tokenizer, CATALOG.tokens()) == new_ids  # adding twice changes nothing
