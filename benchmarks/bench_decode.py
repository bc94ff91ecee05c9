#!/usr/bin/env python
"""Constrained top-K decoding: this project's beam search against ``model.generate``, in one run.

All three decode the same test users' next-item prompts with the same trie of catalog SIDs,
beam 20, top 10, summed log-probabilities (``length_penalty=0``):

- ``generate`` one user at a time;
- ``generate`` batched over users (left padding, ``--batch-size`` users a call, the same
  ``prefix_allowed_tokens_fn``, which finds each row's ``<|sid_start|>`` past the padding);
- ours, batched the same way.

``generate(num_beams=…)`` re-encodes the prompt for every beam and reorders every beam's copy of
the cache at each step. Ours encodes each prompt once and feeds a user's beams as extra positions
of that one sequence (a 4D "tree" attention mask), so the prompt's cache is shared by the beams and
never copied.

    python benchmarks/bench_decode.py                     # cpu preset run, 256 users
    python benchmarks/bench_decode.py --run ci --users 64

It prints the three rates and, last, ``speedup=<ours over the faster generate> identical=<share of
users whose top-10 is the same as that generate's>``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from sidrec_lib.decoding import SidTrie, recommend
from sidrec_lib.evaluate import HybridRecommender
from sidrec_lib.models import chat_prompt
from sidrec_lib.prepare import PreparedData
from sidrec_lib.tokens import SID_START, SidCatalog


def generate_top_k(
    model, tokenizer, prompts: list[str], trie: SidTrie, k: int, beams: int
) -> list[list[str]]:
    """Top-k items per prompt from one ``generate`` call, beam search restricted to the trie."""

    def allowed(_batch: int, ids: torch.Tensor) -> list[int]:
        ids = ids.tolist()
        start = len(ids) - 1 - ids[::-1].index(trie.start_id)
        return trie.allowed(tuple(ids[start + 1 :])) or [tokenizer.eos_token_id]

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        inputs = tokenizer(
            [p + SID_START for p in prompts], return_tensors="pt", padding=True, add_special_tokens=False
        )
    finally:
        tokenizer.padding_side = side
    inputs = inputs.to(model.device)
    output = model.generate(
        **inputs,
        num_beams=beams,
        num_return_sequences=k,
        max_new_tokens=trie.depth,
        prefix_allowed_tokens_fn=allowed,
        do_sample=False,
        length_penalty=0.0,
        early_stopping=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    rows = output[:, inputs.input_ids.shape[1] :].tolist()
    items = [trie.item(tuple(row[: trie.depth])) for row in rows]
    return [items[i : i + k] for i in range(0, len(items), k)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", default="cpu")
    parser.add_argument("--artifacts", default="artifacts")
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--beams", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    run = Path(args.artifacts) / args.run
    model_dir = run / "05_sft" / "model"
    if not model_dir.is_dir():
        sys.exit(
            f"{model_dir} is missing: run `make course` (or ci/run_notebooks.py --preset {args.run}) first."
        )
    prepared = PreparedData.load(run / "01_prepare")
    catalog = SidCatalog.load(run / "03_semantic_ids" / "semantic_ids.parquet")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    hybrid = HybridRecommender(model, tokenizer, catalog)
    trie = hybrid.trie
    test = prepared.examples("test").head(args.users)
    prompts = [chat_prompt(tokenizer, hybrid.next_item_turn(h)) for h in test.history]
    print(
        f"{len(prompts)} users, catalog {len(catalog)} items, beam {args.beams}, top {args.k}; "
        f"model {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"torch threads {torch.get_num_threads()}"
    )

    start = time.perf_counter()
    ours = recommend(model, tokenizer, prompts, trie, k=args.k, beams=args.beams, batch_size=args.batch_size)
    ours_s = time.perf_counter() - start

    ours_items = [[item for item, _ in row] for row in ours]
    timed = {"ours": (ours_items, ours_s)}
    for name, size in (("generate, one user", 1), ("generate, batched", args.batch_size)):
        start = time.perf_counter()
        lists = []
        for begin in tqdm(range(0, len(prompts), size), desc=name, leave=False):
            lists += generate_top_k(model, tokenizer, prompts[begin : begin + size], trie, args.k, args.beams)
        timed[name] = (lists, time.perf_counter() - start)

    print(f"{'decoder':<20} {'seconds':>8} {'recs/s':>8} {'same top-10 as ours':>20}")
    for name, (lists, seconds) in timed.items():
        same = sum(a == b for a, b in zip(ours_items, lists)) / len(prompts)
        print(f"{name:<20} {seconds:8.2f} {len(prompts) / seconds:8.1f} {same:20.3f}")
    fastest = min(("generate, one user", "generate, batched"), key=lambda name: timed[name][1])
    lists, seconds = timed[fastest]
    same = sum(a == b for a, b in zip(ours_items, lists)) / len(prompts)
    print(f"faster generate: {fastest}")
    print(f"speedup={seconds / ours_s:.2f} identical={same:.3f}")


if __name__ == "__main__":
    main()
