"""A pretrained base as hub models come (own tokenizer, chat template without generation markers,
tied or untied embeddings): stage 1 trains the SID rows only, stage 2 learns the answers only,
LoRA adapters train and merge into a folder that recommends what the unmerged model did."""

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from sidrec_lib.decoding import SidTrie, greedy_items, recommend
from sidrec_lib.models import add_sid_tokens, chat_prompt, load_pretrained, train_tokenizer
from sidrec_lib.presets import TrainConfig
from sidrec_lib.tokens import SidCatalog
from sidrec_lib.train import (
    conversations_dataset,
    merged,
    run_sft,
    sft_trainer,
    train_new_rows_only,
    with_lora,
)
from tests.conftest import HUB_TEXTS

CATALOG = SidCatalog([f"i{i}" for i in range(12)], np.array([[i // 4, i % 4, 0] for i in range(12)]))
CONVERSATIONS = [
    [
        {"role": "user", "content": f"Which item is number {i}?"},
        {"role": "assistant", "content": f"It is {CATALOG.sid(f'i{i}')}."},
    ]
    for i in range(12)
]


def with_sid_tokens(folder):
    model, tokenizer = load_pretrained(str(folder))
    return model, tokenizer, add_sid_tokens(model, tokenizer, CATALOG.tokens())


def test_stage1_of_a_pretrained_base_changes_only_the_sid_rows(hub_model_dir, tmp_path):
    model, tokenizer = load_pretrained(str(hub_model_dir))
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert tied == hub_model_dir.name.startswith("hub-tied")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    old_rows = len(tokenizer)
    new_ids = add_sid_tokens(model, tokenizer, CATALOG.tokens())
    initial = {n: p.detach()[old_rows:].clone() for n, p in model.named_parameters() if p.shape[0] > old_rows}
    train_new_rows_only(model, new_ids)
    corpus = [f"{HUB_TEXTS[i]}\nID: {CATALOG.sid(f'i{i}')}" for i in range(12)] * 8
    trainer = sft_trainer(
        model,
        tokenizer,
        Dataset.from_dict({"text": corpus}),
        TrainConfig(max_steps=12, batch_size=8, learning_rate=1e-2, save_steps=100),
        tmp_path / "ckpt",
        max_length=128,
    )
    resumed = run_sft(trainer)
    assert resumed == 0
    after = dict(trainer.model.named_parameters())
    assert set(after) == set(before)
    for name, old in before.items():
        if name in initial:  # the embedding rows (and an untied lm_head's)
            assert torch.equal(after[name][:old_rows], old), name  # every old row bit-identical
            assert not torch.equal(after[name][old_rows:], initial[name]), name  # the SID rows learned
        else:
            assert torch.equal(after[name], old), name


def test_the_scratch_template_masks_with_generation_markers():
    dataset, assistant_only = conversations_dataset(CONVERSATIONS, train_tokenizer(HUB_TEXTS, 300))
    assert assistant_only and dataset.column_names == ["messages"]


def test_stage2_without_generation_markers_learns_the_answer_only(hub_model_dir, tmp_path):
    model, tokenizer, _ = with_sid_tokens(hub_model_dir)
    dataset, assistant_only = conversations_dataset(CONVERSATIONS, tokenizer)
    assert not assistant_only and dataset.column_names == ["prompt", "completion"]
    trainer = sft_trainer(
        model, tokenizer, dataset, TrainConfig(max_steps=4, batch_size=4, learning_rate=1e-2, save_steps=100),
        tmp_path, max_length=128, assistant_only=assistant_only,
    )  # fmt: skip
    rows = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer.data_collator(rows)
    for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        learned = tokenizer.decode(ids[labels != -100])
        assert learned.startswith("It is <|sid_start|>") and learned.rstrip().endswith("</s>"), learned
        assert "<|user|>" not in learned and "Which item" not in learned
    trainer.train()
    assert trainer.state.global_step == 4


def test_a_lora_stage_trains_adapters_and_sid_rows_and_merges(hub_model_dir, tmp_path):
    model, tokenizer, new_ids = with_sid_tokens(hub_model_dir)
    cfg = TrainConfig(max_steps=8, batch_size=4, learning_rate=3e-2, lora=True, lora_r=4, lora_alpha=8)
    dataset, assistant_only = conversations_dataset(CONVERSATIONS, tokenizer)
    embeddings = {
        id(m.weight): m.weight for m in (model.get_input_embeddings(), model.get_output_embeddings())
    }
    before = {key: weight.detach().clone() for key, weight in embeddings.items()}
    old_rows = min(new_ids)
    trainer = sft_trainer(
        with_lora(model, cfg, new_ids), tokenizer, dataset, cfg, tmp_path / "ckpt", max_length=128,
        assistant_only=assistant_only,
    )  # fmt: skip
    run_sft(trainer)
    adapted = trainer.model
    trained = [name for name, p in adapted.named_parameters() if p.requires_grad]
    assert all("lora_" in name or "embed_tokens" in name or "lm_head" in name for name in trained), trained
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in adapted.named_parameters())  # B starts at 0
    for key, weight in embeddings.items():
        assert torch.equal(weight[:old_rows], before[key][:old_rows])  # the base's own rows as they were
        assert not torch.equal(weight[old_rows:], before[key][old_rows:])  # the SID rows learned

    trie = SidTrie(CATALOG, tokenizer)
    prompts = [chat_prompt(tokenizer, f"Which item is number {i}?") for i in range(6)]
    unmerged = recommend(adapted.eval(), tokenizer, prompts, trie, k=5, beams=8)
    plain = merged(adapted)
    plain.save_pretrained(tmp_path / "merged")
    tokenizer.save_pretrained(tmp_path / "merged")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert not hasattr(reloaded, "peft_config")
    again = recommend(
        reloaded.eval(), AutoTokenizer.from_pretrained(tmp_path / "merged"), prompts, trie, k=5, beams=8
    )
    for a, b in zip(unmerged, again, strict=True):
        assert [item for item, _ in a] == [item for item, _ in b]
        assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-4)


def test_greedy_decoding_only_yields_catalog_items(hub_model_dir):
    model, tokenizer, _ = with_sid_tokens(hub_model_dir)
    trie = SidTrie(CATALOG, tokenizer)
    prompts = [chat_prompt(tokenizer, f"Item {i}?") for i in range(7)]
    picked = greedy_items(model, tokenizer, prompts, trie, batch_size=3)
    assert len(picked) == 7 and set(picked) <= set(CATALOG.item_ids)
