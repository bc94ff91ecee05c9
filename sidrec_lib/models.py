"""Base language models and the semantic-ID vocabulary extension (notebook 04).

Two kinds of base, one parameter (``ModelConfig.base``):

- ``"scratch"``: a small Qwen3-architecture model built from a config, with a byte-level BPE
  tokenizer trained on the course's own text and a ChatML chat template. No download.
- any causal LM by hub name or local folder (``Qwen/Qwen3-0.6B``, ``./my-model``), loaded with
  ``from_pretrained`` and never with ``trust_remote_code``.

Either way :func:`add_sid_tokens` adds the SID tokens as special tokens and resizes the embeddings
(new rows drawn around the mean of the old ones; tied input/output embeddings stay tied).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from sidrec_lib.presets import ModelConfig

SCRATCH = "scratch"
EOS, PAD, IM_START, IM_END = "<|endoftext|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"
# ChatML, as Qwen models use it; the assistant turn (its end token included) sits inside
# {% generation %} so TRL can train on assistant tokens only.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer (GPT-2/Qwen style) trained on ``texts``, with the ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token=IM_END, pad_token=PAD, additional_special_tokens=[IM_START]
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_scratch_model(
    tokenizer: PreTrainedTokenizerBase, config: ModelConfig, seed: int = 0
) -> PreTrainedModel:
    """A randomly initialised Qwen3 causal LM sized by ``config`` (tied embeddings)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(config.seed)
    qwen = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        num_key_value_heads=config.kv_heads,
        head_dim=config.hidden_size // config.heads,
        max_position_embeddings=config.max_length,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = Qwen3ForCausalLM(qwen)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def load_pretrained(
    name_or_path: str, dtype: str = "float32"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM and its tokenizer by hub name or local folder (no remote code)."""
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(
        name_or_path, dtype=getattr(torch, dtype), trust_remote_code=False
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def add_sid_tokens(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, sid_tokens: list[str]
) -> list[int]:
    """Add ``sid_tokens`` as special tokens and resize the embeddings; return the new token ids.

    New rows are drawn around the old rows' mean (``mean_resizing``); existing rows are unchanged.
    Tied input/output embeddings stay tied. Checks that the embedding rows equal ``len(tokenizer)``.
    """
    missing = [t for t in sid_tokens if t not in tokenizer.get_vocab()]
    tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    tied = embeddings_tied(model)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    rows = model.get_input_embeddings().weight.shape[0]
    if rows != len(tokenizer):
        raise RuntimeError(f"Embedding has {rows} rows but the tokenizer {len(tokenizer)} tokens.")
    if tied and not embeddings_tied(model):
        raise RuntimeError("Resizing untied the input and output embeddings.")
    return tokenizer.convert_tokens_to_ids(sid_tokens)


def embeddings_tied(model: PreTrainedModel) -> bool:
    """Whether the output layer (``lm_head``) shares its weight tensor with the input embeddings."""
    out = model.get_output_embeddings()
    return out is not None and out.weight is model.get_input_embeddings().weight


def token_ids(tokenizer: PreTrainedTokenizerBase, tokens: list[str]) -> list[int]:
    ids = tokenizer.convert_tokens_to_ids(tokens)
    unknown = [t for t, i in zip(tokens, ids, strict=True) if i is None or i == tokenizer.unk_token_id]
    if unknown:
        raise ValueError(f"Tokens missing from the tokenizer: {unknown[:5]}; run notebook 04 first.")
    return ids


def chat_prompt(tokenizer: PreTrainedTokenizerBase, conversation: str | list[dict]) -> str:
    """The text a chat model sees before its next answer (thinking off for Qwen3 templates):
    ``conversation`` is one user turn, or the turns so far as ``{"role", "content"}`` dicts."""
    if isinstance(conversation, str):
        conversation = [{"role": "user", "content": conversation}]
    return tokenizer.apply_chat_template(
        conversation,
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=False,
    )
