#!/usr/bin/env python
"""Constrained top-K decoding: this project's beam search against ``model.generate``, in one run.

Both decode the same test users' next-item prompts with the same trie of catalog SIDs, beam 20,
top 10, summed log-probabilities (``length_penalty=0``). ``generate(num_beams=…)`` runs one user
at a time here, as its ``prefix_allowed_tokens_fn`` is per sequence; it re-encodes the prompt for
every beam and reorders every beam's copy of the cache at each step. Ours batches users, encodes
each prompt once and feeds a user's beams as extra positions of that one sequence (a 4D "tree"
attention mask), so the prompt's cache is shared by the beams and never copied.

    python benchmarks/bench_decode.py                     # cpu preset run, 256 users
    python benchmarks/bench_decode.py --run ci --users 64

It prints both rates and, last, ``speedup=<ours/generate> identical=<share of users with the
same top-10>``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sidrec_lib.decoding import SidTrie, recommend
from sidrec_lib.evaluate import HybridRecommender
from sidrec_lib.models import chat_prompt
from sidrec_lib.prepare import PreparedData
from sidrec_lib.tokens import SID_START, SidCatalog


def generate_top_k(model, tokenizer, prompt: str, trie: SidTrie, k: int, beams: int) -> list[str]:
    """Top-k items from ``generate`` with beam search restricted to the trie."""

    def allowed(_batch: int, ids: torch.Tensor) -> list[int]:
        ids = ids.tolist()
        start = len(ids) - 1 - ids[::-1].index(trie.start_id)
        return trie.allowed(tuple(ids[start + 1 :])) or [tokenizer.eos_token_id]

    inputs = tokenizer(prompt + SID_START, return_tensors="pt", add_special_tokens=False)
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
    return [trie.item(tuple(row[: trie.depth])) for row in output[:, inputs.input_ids.shape[1] :].tolist()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", default="cpu")
    parser.add_argument("--artifacts", default="artifacts")
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--beams", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

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

    start = time.perf_counter()
    theirs = [generate_top_k(model, tokenizer, p, trie, args.k, args.beams) for p in prompts]
    theirs_s = time.perf_counter() - start

    same = sum([item for item, _ in a] == b for a, b in zip(ours, theirs)) / len(prompts)
    print(f"{'decoder':<10} {'seconds':>8} {'recs/s':>8}")
    print(f"{'ours':<10} {ours_s:8.2f} {len(prompts) / ours_s:8.1f}")
    print(f"{'generate':<10} {theirs_s:8.2f} {len(prompts) / theirs_s:8.1f}")
    print(f"speedup={theirs_s / ours_s:.2f} identical={same:.3f}")


if __name__ == "__main__":
    main()
