import gzip
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("SIDREC_REAL_DATA", ROOT.parent / "shared" / "data" / "amazon18-industrial"))


def write_jsonl(path: Path, rows: list) -> Path:
    """Write rows (dicts, or raw strings written as-is) as JSON lines; gzip if the name ends in .gz."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The Amazon sample beside the project; its absence fails when SIDREC_REQUIRE_REAL_DATA is set."""
    if not (REAL_DATA / "meta_Industrial_and_Scientific.jsonl.gz").is_file():
        if os.environ.get("SIDREC_REQUIRE_REAL_DATA"):
            pytest.fail(f"real-data tier required but {REAL_DATA} is missing")
        pytest.skip(f"{REAL_DATA} not present")
    return REAL_DATA


# A chat template as many hub models have one: its own role markers and end token, and no
# {% generation %} markers (so TRL cannot mask the assistant turn from the template alone).
HUB_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] + '</s>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}"
)
HUB_TEXTS = [
    f"Title: Item number {i} of the store, a {colour} thing for {use}"
    for i in range(60)
    for colour in ("red", "blue")
    for use in ("work", "play")
]


def save_hub_like_model(folder: Path, tied: bool) -> Path:
    """A tiny causal LM saved with ``save_pretrained`` the way hub models differ from the scratch one.

    Its own BPE tokenizer with ``<s>``/``</s>``/``<pad>`` (pad is not eos) and :data:`HUB_CHAT_TEMPLATE`;
    tied: a Llama model with tied embeddings; untied: a Qwen3 model with its own ``lm_head``.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
        Qwen3Config,
        Qwen3ForCausalLM,
    )

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(
        HUB_TEXTS,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<pad>", "<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.chat_template = HUB_CHAT_TEMPLATE
    sizes = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=2048,
        tie_word_embeddings=tied, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**sizes)) if tied else Qwen3ForCausalLM(Qwen3Config(**sizes))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", params=["tied", "untied"])
def hub_model_dir(request, tmp_path_factory) -> Path:
    """A tiny hub-like model folder (see :func:`save_hub_like_model`), tied and untied."""
    return save_hub_like_model(tmp_path_factory.mktemp(f"hub-{request.param}"), tied=request.param == "tied")
