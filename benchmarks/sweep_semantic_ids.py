"""What a codebook setting does downstream: valid NDCG@10 of a SID language model per setting.

Notebook 03 compares codebooks by what they are (collisions, coherence); this script measures what
they do for recommendation. For each setting it fits RQ-k-means on a run's item vectors (notebook
02's text and behaviour vectors, mixed by ``weight``), then trains a fresh scratch model of the
preset's size on the users' train SID sequences alone (the sequence documents of stage 1, the part
of the corpus that teaches what follows what; ``repeats`` copies, one epoch, the preset's stage-1
optimiser settings) and ranks the whole catalog for every valid user: the history's SIDs as the
prompt, beam search over the trie, history items excluded. The two SASRecs of notebook 06 give the
bar on the same valid split (``--baselines``).

    python ci/run_notebooks.py --preset cpu --dataset ../shared/data/amazon18-industrial \\
        --set prepare.kcore=1 --only 01,02 --run amazon
    .venv/bin/python benchmarks/sweep_semantic_ids.py artifacts/amazon --baselines
    .venv/bin/python benchmarks/sweep_semantic_ids.py artifacts/amazon --history 5 \
        --settings '[{"codes": 0, "balanced": true}]' --set model.layers=4   # one setting, a deeper model

Each row prints as it finishes (JSON), then the table. Choices made from it are made on valid.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from datasets import Dataset

from sidrec_lib.cli import add_set_option
from sidrec_lib.cooccurrence import mix_vectors
from sidrec_lib.decoding import SidTrie, recommend
from sidrec_lib.metrics import per_user_metrics, target_ranks
from sidrec_lib.models import add_sid_tokens, build_scratch_model, train_tokenizer
from sidrec_lib.phrasings import format_history
from sidrec_lib.prepare import PreparedData
from sidrec_lib.presets import Preset, get_preset, parse_overrides
from sidrec_lib.rqvae import RQVAE
from sidrec_lib.semantic_ids import RQKMeans, add_dedup_level, codes_for_catalog, collision_stats
from sidrec_lib.tokens import SidCatalog
from sidrec_lib.train import run_sft, sft_trainer


@dataclasses.dataclass(frozen=True)
class Setting:
    """One codebook (and how long the sequence model trains on it)."""

    codes: int  # codewords per level; 0: sized to the catalog
    levels: int = 3
    balanced: bool = False
    weight: float = 0.5  # share of behaviour in the k-means input
    repeats: int = 10  # copies of each user's train sequence
    quantiser: str = "rqkmeans"  # or "rqvae" (sidrec_lib.rqvae.RQVAE; `balanced` does not apply)

    def label(self) -> str:
        size = f"{self.levels} x {self.codes or 'sized'}"
        kind = " rqvae" if self.quantiser == "rqvae" else (" balanced" if self.balanced else "")
        return f"{size}{kind} w={self.weight} x{self.repeats}"

    def quantise(self, vectors: np.ndarray, codes: int) -> np.ndarray:
        """The setting's codes (without the dedup level) for ``vectors``."""
        if self.quantiser == "rqvae":
            return RQVAE(levels=self.levels, codes=codes, seed=0).fit(vectors)
        if self.quantiser != "rqkmeans":
            raise ValueError(f"quantiser must be 'rqkmeans' or 'rqvae', not {self.quantiser!r}")
        quantiser = RQKMeans(levels=self.levels, codes=codes, iters=25, seed=0, balanced=self.balanced)
        return quantiser.fit(vectors)


DEFAULT_SETTINGS = (
    Setting(codes=0),
    Setting(codes=0, balanced=True),
    Setting(codes=256, balanced=True),
    Setting(codes=256, levels=2, balanced=True),
)


def sequence_model_ndcg(
    prepared: PreparedData, catalog: SidCatalog, preset: Preset, repeats: int, history: int
) -> dict[str, float]:
    """Train the sequence-only SID model and score it on valid; its figures and training time."""
    train = prepared.examples("train")
    sequences = [
        format_history(items, catalog, preset.corpus.sequence_length) for items in train.history if items
    ]
    documents = sequences * repeats
    documents = [documents[i] for i in np.random.default_rng(0).permutation(len(documents))]
    tokenizer = train_tokenizer(["the sequence model reads SIDs only"], 300)
    model = build_scratch_model(tokenizer, preset.model)
    add_sid_tokens(model, tokenizer, catalog.tokens())
    stage = dataclasses.replace(preset.stage1, save_steps=10**9, logging_steps=100)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as checkpoints:
        trainer = sft_trainer(
            model, tokenizer, Dataset.from_dict({"text": documents}), stage, Path(checkpoints),
            max_length=preset.model.max_length,
        )  # fmt: skip
        run_sft(trainer, resume=False)
    trained = time.perf_counter() - start
    valid = prepared.examples("valid")
    prompts = [format_history(items, catalog, history) + " " for items in valid.history]
    ranked = recommend(
        trainer.model.eval(), tokenizer, prompts, SidTrie(catalog, tokenizer), k=10,
        beams=preset.evaluate.beams, exclude=valid.history.tolist(), batch_size=32,
    )  # fmt: skip
    scores = per_user_metrics(
        target_ranks([[i for i, _ in row] for row in ranked], valid.target.tolist()), (10,)
    )
    return {
        "valid_ndcg10": float(scores["ndcg@10"].mean()),
        "valid_recall10": float(scores["recall@10"].mean()),
        "steps": trainer.state.global_step,
        "train_s": round(trained),
    }


def baseline_rows(prepared: PreparedData, preset_name: str) -> list[dict]:
    """Best valid NDCG@10 of notebook 06's two SASRecs at the preset's settings."""
    from sidrec_lib.peers import fit_sasrecs

    sasrec, peer, _ = fit_sasrecs(prepared, get_preset(preset_name).evaluate)
    return [
        {"setting": name, "valid_ndcg10": max(h["valid_ndcg10"] for h in model.history),
         "valid_recall10": max(h["valid_recall10"] for h in model.history)}
        for name, model in (("SASRec", sasrec), ("SASRec (Cornac)", peer))
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a run folder holding 01_prepare and 02_embed")
    parser.add_argument("--preset", default="cpu", help="model size and training settings (default: cpu)")
    parser.add_argument(
        "--settings", default=None, help="JSON list of Setting fields (default: a built-in list)"
    )
    parser.add_argument("--history", type=int, default=20, help="history items in each prompt")
    add_set_option(
        parser, "preset override for the sequence model, e.g. model.layers=4 or stage1.learning_rate=4e-3"
    )
    parser.add_argument("--baselines", action="store_true", help="also fit both SASRecs on the same split")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)

    try:
        preset = get_preset(args.preset, parse_overrides(args.set))
    except ValueError as e:
        parser.error(str(e))
    run = Path(args.run)
    prepared = PreparedData.load(run / "01_prepare")
    text, behaviour = (
        np.load(run / "02_embed" / "embeddings.npy"),
        np.load(run / "02_embed" / "cooccurrence.npy"),
    )
    settings = [Setting(**s) for s in json.loads(args.settings)] if args.settings else DEFAULT_SETTINGS
    rows = []
    for setting in settings:
        codes = setting.codes or codes_for_catalog(len(text))
        sids = add_dedup_level(setting.quantise(mix_vectors(text, behaviour, setting.weight), codes))
        catalog = SidCatalog(prepared.items.item_id.tolist(), sids)
        row = {
            "setting": setting.label(),
            "codes": codes,
            "collision_rate": collision_stats(sids[:, :-1])["collision_rate"],
            **sequence_model_ndcg(prepared, catalog, preset, setting.repeats, args.history),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.baselines:
        rows += baseline_rows(prepared, args.preset)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    print(pd.DataFrame(rows).set_index("setting").to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
