#!/usr/bin/env python
"""Benchmark: how each data step grows with the catalog, up to Amazon Reviews 2023 Video_Games scale.

A generated catalog in the Amazon 2023 layout (``meta_Video_Games.jsonl.gz`` and
``Video_Games.jsonl.gz``, :func:`write_catalog`) at each size of ``--sizes`` (items; users scaled in
proportion, 2.8M users for 137k items, as Video_Games has before filtering). Users review a
Zipf-distributed number of items (exponent 2.68: mean 1.62, so 4.55M reviews for 2.8M users,
about 3.5% with five or more, most with one or two, which the k-core removes), chosen by log-normal item
popularity, at random times, in random file order. Items carry what ``read_items`` keeps (title,
brand, categories, details, price, ratings, description, features) and what it skips (images); titles
draw from a vocabulary of made-up words, so title keywords exist at every size.

Steps, each in its own spawned process (its peak resident memory, ``ru_maxrss``, is its own; loading
its inputs is not timed but counts in the peak):

- ``read``: ``read_amazon_layout`` of the folder;
- ``prepare``: ``prepare`` at the ``--preset``'s settings (k-core, split), in the read's process as
  notebook 01 runs them, so its peak is that of read and prepare together;
- ``rq-kmeans``: ``RQKMeans`` fit on one random unit vector of ``--dim`` per catalog item (the shape of
  all-MiniLM embeddings; the values do not matter for the time), with the preset's levels and
  iterations and its codes per level (``codes_for_catalog``: 64 for 1.8k items, 256 for 137k), then
  ``add_dedup_level``;
- ``task build``: the stage-2 task mix, ``task_mix(prepared, catalog, phrasings, preset.tasks)``,
  with the SIDs of the prepared items;
- ``trie build``: ``SidCatalog`` and ``SidTrie`` over the SIDs of every catalog item (the fastest of
  three builds: one takes about a second);
- ``decode``: ``HybridRecommender.recommend_next`` (the course's next-item prompt, beam 20, top 10,
  history excluded, batches of 16) for ``--users`` test users over that full trie, with a model of
  the preset's size built from its config (random weights: the time does not depend on them).
  Users are repeated in turn when fewer are left after filtering. Then, once more, every size in one
  process, one batch of each size in turn: the machine's other load then slows every size alike,
  which a size decoded alone minutes after another does not get (a busy machine can slow 2-thread
  torch tenfold), so the decoding ratio reads these rates.

Each step's wall time and CPU time (all its threads) are printed, and how many CPUs other processes
kept busy meanwhile (from /proc/stat): above 0.2 a time is marked ``*`` as suspect, since two torch
threads on two shared cores can run ten times slower. The exponents and targets read wall time.
Growth exponent per step: the least-squares slope of log(seconds) against log(input) over the
sizes, where the input is the step's own: reviews in the file (read, prepare), items x codes per
level (rq-kmeans: one Lloyd iteration compares every item with every codeword), prepared
interactions (task build), catalog items (trie build, decode). Targets, each printed PASS or MISS:
read + prepare of the largest catalog within 180 s and 6 GB; no exponent above 1.1; decoding at the
largest catalog at least half as fast as at the smallest (sizes in turn).

    .venv/bin/python benchmarks/bench_scale.py                          # 1.8k, 15k and 137k items
    .venv/bin/python benchmarks/bench_scale.py --sizes 300 1800 --users 64      # a quick run
    .venv/bin/python benchmarks/bench_scale.py --data-dir data/raw/bench_scale  # keep the catalogs
    .venv/bin/python benchmarks/bench_scale.py --json scale.json   # also every figure as JSON

Generating a catalog is not timed; without ``--data-dir`` they go to a temporary folder removed at
the end, with it they stay there and later runs reuse them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import multiprocessing as mp
import os
import queue as queue_module
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CATEGORY = "Video_Games"
META_FILENAME = f"meta_{CATEGORY}.jsonl.gz"
REVIEWS_FILENAME = f"{CATEGORY}.jsonl.gz"
DONE_FILENAME = "generated.json"  # written last: the folder is complete and made by these settings
DEFAULT_SIZES = (1_800, 15_000, 137_000)
USERS_PER_ITEM = 2_800_000 / 137_000  # Video_Games: 137k items, 2.8M users before filtering
HISTORY_EXPONENT = 2.68  # Zipf exponent of reviews per user: mean 1.62 (4.55M reviews for 2.8M users)
MAX_HISTORY = 1_000
POPULARITY_SIGMA = 1.6  # spread of log item popularity
BRAND_ITEMS = 12  # items per brand, on average
TITLE_WORDS = 30_000  # made-up words that titles and texts draw from
FIRST_DAY, LAST_DAY = 10_957, 19_723  # 2000-01-01 to 2023-12-31, days since 1970
MS_PER_DAY = 86_400_000
PLATFORMS = (
    "PlayStation 4", "PlayStation 5", "Xbox One", "Xbox Series X", "Nintendo Switch", "PC",
    "PlayStation 3", "Xbox 360", "Wii U", "Nintendo 3DS",
)  # fmt: skip
KINDS = ("Games", "Accessories", "Digital Games", "Controllers", "Headsets")
STEPS = ("read", "prepare", "rq-kmeans", "task build", "trie build", "decode")
INPUTS = {
    "read": "reviews in the file",
    "prepare": "reviews in the file",
    "rq-kmeans": "items x codes per level",
    "task build": "prepared interactions",
    "trie build": "catalog items",
    "decode": "catalog items",
}
READ_PREPARE_SECONDS, READ_PREPARE_BYTES = 180.0, 6e9
MAX_EXPONENT = 1.1
MIN_DECODE_RATIO = 0.5
BUSY = 0.2  # other processes keeping more CPUs than this busy during a step make its times suspect
TRIE_REPEAT = 3  # the trie builds in about a second: the fastest of three builds counts
TOKENIZER_ITEMS = 2_000  # item titles the scratch tokenizer learns from, beside the phrasings


# ---------------------------------------------------------------------------------------------------
# The generated catalog


def users_for(n_items: int) -> int:
    """Users before filtering for a catalog of ``n_items``, in Video_Games' proportion."""
    return max(1, round(n_items * USERS_PER_ITEM))


def _words(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` distinct made-up lower-case words of four to eight letters."""
    consonants, vowels = "bcdfghjklmnprstvz", "aeiou"
    syllables = np.array([c + v for c in consonants for v in vowels])
    words: dict[str, None] = {}
    while len(words) < count:
        lengths = rng.integers(2, 5, size=count)
        picks = syllables[rng.integers(0, len(syllables), size=(count, 4))]
        for row, length in zip(picks, lengths):
            words["".join(row[:length])] = None
    return np.array(list(words)[:count])


def _zipf_weights(n: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def _phrases(rng: np.random.Generator, words: np.ndarray, count: int, low: int, high: int) -> list[str]:
    """``count`` phrases of ``low`` to ``high`` words drawn with Zipf frequencies from ``words``."""
    lengths = rng.integers(low, high + 1, size=count)
    picks = words[rng.choice(len(words), size=int(lengths.sum()), p=_zipf_weights(len(words)))]
    ends = np.cumsum(lengths)
    return [" ".join(picks[end - length : end]) for end, length in zip(ends, lengths)]


def _item_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct Amazon-style ids ("B0" and eight digits) in a random order."""
    step = 73_939_133  # a prime, so i -> (offset + i * step) mod 10**8 never repeats for i < 10**8
    offset = int(rng.integers(0, 10**8))
    return [f"B0{(offset + i * step) % 10**8:08d}" for i in range(n)]


def _user_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Amazon-style reviewer ids: "A" and 27 letters or digits (distinct with overwhelming odds)."""
    alphabet = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)
    letters = alphabet[rng.integers(0, len(alphabet), size=(n, 27))]
    letters = np.concatenate([np.full((n, 1), ord("A"), dtype=np.uint8), letters], axis=1)
    return np.ascontiguousarray(letters).view("S28").ravel().astype(str)


def _meta_record(rng: np.random.Generator, item_id: str, brand: str, title: str, texts: list[str]) -> dict:
    platform = PLATFORMS[int(rng.integers(len(PLATFORMS)))]
    kind = KINDS[int(rng.integers(len(KINDS)))]
    day = int(rng.integers(FIRST_DAY, LAST_DAY))
    pick = rng.integers(0, len(texts), size=8)
    images = [
        {
            "thumb": f"https://m.media-amazon.com/images/I/{item_id}{k}._SS40_.jpg",
            "large": f"https://m.media-amazon.com/images/I/{item_id}{k}.jpg",
            "variant": "MAIN" if k == 0 else f"PT0{k}",
            "hi_res": f"https://m.media-amazon.com/images/I/{item_id}{k}._SL1500_.jpg",
        }
        for k in range(int(rng.integers(1, 5)))
    ]
    ratings = int(rng.integers(0, 2_000))
    return {
        "main_category": "Video Games",
        "title": f"{title} - {platform}",
        "average_rating": round(float(rng.uniform(1.0, 5.0)), 1) if ratings else None,
        "rating_number": ratings,
        "features": [texts[i].capitalize() + "." for i in pick[: int(rng.integers(0, 6))]],
        "description": [texts[i].capitalize() + "." for i in pick[6 : 6 + int(rng.integers(0, 3))]],
        "price": round(float(np.exp(rng.normal(3.2, 0.8))), 2) if rng.random() < 0.7 else None,
        "images": images,
        "videos": [],
        "store": brand,
        "categories": ["Video Games", platform, kind],
        "details": {
            "Release date": time.strftime("%B %d, %Y", time.gmtime(day * 86_400)),
            "Product Dimensions": f"{rng.uniform(1, 10):.1f} x {rng.uniform(1, 8):.1f} x 0.6 inches",
            "Item Weight": f"{rng.uniform(1, 30):.1f} ounces",
            "Manufacturer": brand,
            "Best Sellers Rank": {"Video Games": int(rng.integers(1, 200_000))},
        },
        "parent_asin": item_id,
        "bought_together": None,
    }


def write_catalog(directory: str | Path, n_items: int, n_users: int | None = None, seed: int = 0) -> dict:
    """Write a catalog of ``n_items`` items and ``n_users`` users (default: :func:`users_for`) in the
    Amazon Reviews 2023 layout into ``directory``; return its counts (items, users, reviews).

    The same arguments always give byte-identical files. Each file is written under a temporary name
    and renamed when complete; ``generated.json`` (the arguments and counts) comes last.
    """
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, not {n_items}.")
    n_users = users_for(n_items) if n_users is None else n_users
    if n_users < 1:
        raise ValueError(f"n_users must be at least 1, not {n_users}.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    n_brands = max(1, n_items // BRAND_ITEMS)
    pool = _words(rng, TITLE_WORDS + n_brands)
    words, brands = pool[:TITLE_WORDS], [w.capitalize() for w in pool[TITLE_WORDS:]]
    texts = _phrases(rng, words, 20_000, 6, 18)  # sentences for descriptions, features and reviews
    item_ids = _item_ids(rng, n_items)
    brand_of = rng.choice(n_brands, size=n_items, p=_zipf_weights(n_brands, 0.8))
    names = _phrases(rng, words, n_items, 1, 4)
    meta = []
    for item, brand, name in zip(item_ids, brand_of, names):
        title = f"{brands[brand]} {' '.join(w.capitalize() for w in name.split())}"
        meta.append(json.dumps(_meta_record(rng, item, brands[brand], title, texts)))
    _write_lines(directory / META_FILENAME, meta)

    lengths = np.minimum(rng.zipf(HISTORY_EXPONENT, size=n_users), MAX_HISTORY)
    users = np.repeat(np.arange(n_users), lengths)
    popularity = np.cumsum(np.exp(POPULARITY_SIGMA * rng.standard_normal(n_items)))
    items = np.minimum(np.searchsorted(popularity, rng.random(len(users)) * popularity[-1]), n_items - 1)
    stamps = rng.integers(FIRST_DAY * MS_PER_DAY, LAST_DAY * MS_PER_DAY, size=len(users))
    ratings = rng.choice(5, size=len(users), p=[0.08, 0.05, 0.08, 0.17, 0.62]) + 1
    votes = rng.geometric(0.6, size=len(users)) - 1
    verified = rng.random(len(users)) < 0.85
    sentences = rng.geometric(0.45, size=len(users))
    firsts = rng.integers(0, len(texts), size=len(users))
    heads = rng.integers(0, len(texts), size=len(users))
    user_names = _user_ids(rng, n_users)
    order = rng.permutation(len(users))
    n_texts = len(texts)

    def review(row: int) -> str:
        first, count, head = int(firsts[row]), int(sentences[row]), texts[heads[row]]
        text = ". ".join(texts[(first + 7919 * k) % n_texts] for k in range(count)).capitalize()
        item = item_ids[items[row]]
        # Generated words hold letters and spaces only: nothing that JSON escapes.
        return (
            f'{{"rating": {ratings[row]}.0, "title": "{" ".join(head.split()[:4]).capitalize()}", '
            f'"text": "{text}.", "images": [], "asin": "{item}", "parent_asin": "{item}", '
            f'"user_id": "{user_names[users[row]]}", "timestamp": {stamps[row]}, '
            f'"helpful_vote": {votes[row]}, "verified_purchase": {"true" if verified[row] else "false"}}}'
        )

    _write_lines(directory / REVIEWS_FILENAME, (review(int(row)) for row in order), total=len(order))
    counts = {"items": n_items, "users": n_users, "reviews": len(users)}
    (directory / DONE_FILENAME).write_text(json.dumps({"seed": seed, **counts}) + "\n")
    return counts


def _write_lines(path: Path, lines, total: int | None = None) -> None:
    """gzip JSON lines (fast level, fixed header) to ``path``, by way of a temporary name."""
    from tqdm.auto import tqdm

    from sidrec_lib.files import atomic_path

    quiet = (total or 0) < 1_000_000
    with (
        atomic_path(path) as partial,
        open(partial, "wb") as raw,
        gzip.GzipFile("", "wb", 1, raw, mtime=0) as out,
    ):
        chunk: list[str] = []
        for line in tqdm(lines, total=total, desc=f"writing {path.name}", disable=quiet, leave=False):
            chunk.append(line)
            if len(chunk) == 100_000:
                out.write(("\n".join(chunk) + "\n").encode())
                chunk = []
        if chunk:
            out.write(("\n".join(chunk) + "\n").encode())


def ensure_catalog(directory: Path, n_items: int, seed: int) -> dict:
    """The counts of the catalog in ``directory``, written first unless it is there, complete, with
    the same settings."""
    done = directory / DONE_FILENAME
    if done.is_file():
        found = json.loads(done.read_text())
        if (
            found.get("seed") == seed
            and found.get("items") == n_items
            and found.get("users") == users_for(n_items)
        ):
            return found
    done.unlink(missing_ok=True)
    return write_catalog(directory, n_items, seed=seed)


# ---------------------------------------------------------------------------------------------------
# Steps, each run in a fresh process


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB, macOS in bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_clock() -> tuple[float, float]:
    """(CPU seconds the whole machine has been busy, from /proc/stat; CPU seconds of this process):
    over a span, other processes kept busy the growth of the first less that of the second."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        machine = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait
    except (OSError, ValueError):
        machine = math.nan
    return machine, time.process_time()


def _timed(function, *args, repeat: int = 1) -> tuple[Any, dict[str, float]]:
    """``function(*args)`` and {wall seconds, CPU seconds of all its threads, CPUs other processes
    kept busy meanwhile, peak before it, peak after it}; with ``repeat``, the fastest of that many runs."""
    before = peak_rss_bytes()
    runs = []
    for _ in range(repeat):
        start, (machine, own) = time.perf_counter(), cpu_clock()
        result = function(*args)
        seconds, (machine_end, own_end) = time.perf_counter() - start, cpu_clock()
        other = max(0.0, (machine_end - machine) - (own_end - own)) / seconds
        runs.append({"seconds": seconds, "cpu": own_end - own, "other_cpus": other})
    timing = min(runs, key=lambda run: run["seconds"])
    return result, {**timing, "rss_before": before, "rss_peak": peak_rss_bytes()}


def step_read_prepare(folder: str, work: str, preset_name: str) -> dict[str, Any]:
    import pandas as pd

    from sidrec_lib.prepare import prepare
    from sidrec_lib.presets import get_preset
    from sidrec_lib.sources import read_amazon_layout

    preset = get_preset(preset_name)
    source, read = _timed(read_amazon_layout, folder)
    prepared, prep = _timed(prepare, source, preset.prepare)
    reviews = source.reports[1]
    read["input"] = prep["input"] = reviews.lines
    prep["rss_before"] = read["rss_before"]  # what the process held before reading
    prepared.save(lambda name: Path(work) / name)
    pd.DataFrame({"item_id": source.items.item_id, "title": source.items.title}).to_parquet(
        Path(work) / "catalog.parquet", index=False
    )
    counts = prepared.filter_counts.iloc[-1]
    return {
        "read": read,
        "prepare": prep,
        "info": {
            "items": len(source.items),
            "reviews": reviews.lines,
            "reviews_kept": reviews.kept,
            "users": int(source.interactions.user_id.nunique()),
            "prepared_users": int(counts.users),
            "prepared_items": int(counts["items"]),
            "prepared_interactions": int(counts.interactions),
            "kcore": str(counts.stage),
        },
    }


def step_rqkmeans(work: str, preset_name: str, dim: int, seed: int) -> dict[str, Any]:
    import pandas as pd

    from sidrec_lib.presets import get_preset
    from sidrec_lib.semantic_ids import RQKMeans, add_dedup_level, codes_for_catalog, semantic_id_table

    config = get_preset(preset_name).semantic_ids
    item_ids = pd.read_parquet(Path(work) / "catalog.parquet").item_id.tolist()
    x = np.random.default_rng(seed).standard_normal((len(item_ids), dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    codes = config.codes or codes_for_catalog(len(item_ids))
    model = RQKMeans(config.levels, codes, config.iters, seed=config.seed, device="cpu")
    sids, timing = _timed(lambda v: add_dedup_level(model.fit(v)), x)
    semantic_id_table(item_ids, sids).to_parquet(Path(work) / "semantic_ids.parquet", index=False)
    return {
        "rq-kmeans": {**timing, "input": len(item_ids) * codes},
        "info": {"codes": codes, "levels": config.levels, "dedup_max": int(sids[:, -1].max())},
    }


def step_tasks(work: str, preset_name: str) -> dict[str, Any]:
    import pandas as pd

    from sidrec_lib.phrasings import load_phrasings
    from sidrec_lib.prepare import PreparedData
    from sidrec_lib.presets import get_preset
    from sidrec_lib.tasks import task_mix
    from sidrec_lib.tokens import SidCatalog

    preset = get_preset(preset_name)
    prepared = PreparedData.load(work)
    table = pd.read_parquet(Path(work) / "semantic_ids.parquet")
    catalog = SidCatalog.from_table(table[table.item_id.isin(set(prepared.items.item_id))])
    phrasings = load_phrasings()
    mix, timing = _timed(task_mix, prepared, catalog, phrasings, preset.tasks)
    return {"task build": {**timing, "input": len(prepared.interactions)}, "info": {"examples": len(mix)}}


def _sid_tokenizer(work: str, catalog, preset, with_model: bool):
    """The scratch tokenizer of the preset (learnt from item titles and the phrasings) with the
    catalog's SID tokens, and, if asked, a model of the preset's size with random weights."""
    import pandas as pd

    from sidrec_lib.models import add_sid_tokens, build_scratch_model, train_tokenizer
    from sidrec_lib.phrasings import load_phrasings
    from sidrec_lib.train import course_texts

    titles = pd.read_parquet(Path(work) / "catalog.parquet").title.head(TOKENIZER_ITEMS).tolist()
    tokenizer = train_tokenizer(course_texts(titles, load_phrasings()), preset.model.tokenizer_vocab)
    if not with_model:
        tokenizer.add_special_tokens(
            {"additional_special_tokens": catalog.tokens()}, replace_extra_special_tokens=False
        )
        return tokenizer, None
    model = build_scratch_model(tokenizer, preset.model)
    add_sid_tokens(model, tokenizer, catalog.tokens())
    return tokenizer, model.eval()


def step_trie(work: str, preset_name: str) -> dict[str, Any]:
    import pandas as pd

    from sidrec_lib.decoding import SidTrie
    from sidrec_lib.presets import get_preset
    from sidrec_lib.tokens import SidCatalog

    table = pd.read_parquet(Path(work) / "semantic_ids.parquet")
    tokenizer, _ = _sid_tokenizer(work, SidCatalog.from_table(table), get_preset(preset_name), False)

    def build():
        return SidTrie(SidCatalog.from_table(table), tokenizer)

    trie, timing = _timed(build, repeat=TRIE_REPEAT)
    return {"trie build": {**timing, "input": len(table)}, "info": {"trie_nodes": trie.nodes}}


def _decoder(work: str, preset, users: int):
    """The course's recommender over the full trie of ``work``'s catalog, with a model of the preset's
    size (random weights), and ``users`` test histories (users repeated in turn when fewer)."""
    from sidrec_lib.evaluate import HybridRecommender
    from sidrec_lib.prepare import PreparedData
    from sidrec_lib.tokens import SidCatalog

    catalog = SidCatalog.load(Path(work) / "semantic_ids.parquet")
    tokenizer, model = _sid_tokenizer(work, catalog, preset, True)
    hybrid = HybridRecommender(
        model, tokenizer, catalog, beams=preset.evaluate.beams, batch_size=preset.evaluate.batch_size
    )
    test = PreparedData.load(work).examples("test")
    return hybrid, [test.history.iloc[i % len(test)] for i in range(users)], len(test)


def step_decode(work: str, preset_name: str, users: int) -> dict[str, Any]:
    import torch

    from sidrec_lib.presets import get_preset

    hybrid, histories, distinct = _decoder(work, get_preset(preset_name), users)
    ranked, timing = _timed(hybrid.recommend_next, histories, 10)
    assert all(len(row) == 10 for row in ranked)
    return {
        "decode": {**timing, "input": len(hybrid.catalog), "rate": users / timing["seconds"]},
        "info": {
            "decoded_users": users,
            "distinct_users": min(users, distinct),
            "parameters": sum(p.numel() for p in hybrid.model.parameters()),
            "vocab": len(hybrid.tokenizer),
            "threads": torch.get_num_threads(),
        },
    }


def step_decode_alternating(works: list[str], preset_name: str, users: int) -> list[dict[str, float]]:
    """Decoding of every size in one process, one batch of users of each size in turn, so that the
    machine's other load falls on all sizes alike: per size, wall and CPU seconds and users/s."""
    from sidrec_lib.presets import get_preset

    preset = get_preset(preset_name)
    decoders = [_decoder(work, preset, users)[:2] for work in works]
    totals = [{"seconds": 0.0, "cpu": 0.0, "machine": 0.0} for _ in works]
    for begin in range(0, users, preset.evaluate.batch_size):
        for (hybrid, histories), total in zip(decoders, totals):
            start, (machine, own) = time.perf_counter(), cpu_clock()
            hybrid.recommend_next(histories[begin : begin + preset.evaluate.batch_size], 10)
            total["seconds"] += time.perf_counter() - start
            machine_end, own_end = cpu_clock()
            total["cpu"] += own_end - own
            total["machine"] += machine_end - machine
    return [
        {
            "seconds": t["seconds"],
            "cpu": t["cpu"],
            "other_cpus": max(0.0, t["machine"] - t["cpu"]) / t["seconds"],
            "rate": users / t["seconds"],
        }
        for t in totals
    ]


def step_generate(folder: str, n_items: int, seed: int) -> dict[str, Any]:
    return ensure_catalog(Path(folder), n_items, seed)


def _child(target, args: tuple, queue: Any) -> None:
    sys.path.insert(0, str(ROOT))
    queue.put(target(*args))


def in_subprocess(target, *args: Any) -> dict[str, Any]:
    """``target(*args)`` in a fresh spawned interpreter; what it returns."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except queue_module.Empty:  # nothing yet: wait on, unless the process died
            if not proc.is_alive():
                raise SystemExit(f"{target.__name__} failed with exit code {proc.exitcode}") from None
    proc.join()
    return result


# ---------------------------------------------------------------------------------------------------
# Report


def growth_exponent(inputs: list[float], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(input); NaN with fewer than two distinct inputs."""
    x, y = np.log(np.asarray(inputs, dtype=float)), np.log(np.asarray(seconds, dtype=float))
    if len(set(x.tolist())) < 2:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def _label(n_items: int) -> str:
    return f"{n_items / 1000:g}k items" if n_items >= 1000 else f"{n_items} items"


def report(results: dict[int, dict[str, Any]]) -> None:
    """Print the catalogs, then per step (rows) and size (columns) wall seconds, CPU seconds and peak
    memory, then the growth exponents and the targets."""
    sizes = sorted(results)
    labels = [_label(n) for n in sizes]
    width = max(14, *(len(label) for label in labels)) + 2

    def row(name: str, cells: list[str], tail: str = "") -> None:
        print(f"{name:<26}" + "".join(f"{cell:>{width}}" for cell in cells) + tail)

    def cells(key: str) -> list[str]:
        return [f"{results[n]['info'][key]:,}" for n in sizes]

    print()
    row("catalog", labels)
    for key in ("reviews", "users", "prepared_interactions", "prepared_users", "prepared_items", "codes"):
        row(key.replace("_", " ").replace("codes", "codes per level"), cells(key))
    row("task examples", cells("examples"))
    decoded = [(results[n]["info"]["decoded_users"], results[n]["info"]["distinct_users"]) for n in sizes]
    row("decoded users (distinct)", [f"{total:,} ({distinct:,})" for total, distinct in decoded])
    alternating = all("decode alternating" in results[n] for n in sizes)
    timings = {step: [results[n][step] for n in sizes] for step in STEPS}
    if alternating:
        timings["decode, in turn"] = [results[n]["decode alternating"] for n in sizes]
    busy = {step: [t["other_cpus"] > BUSY for t in timed] for step, timed in timings.items()}
    exponents = {}
    for measure, title in (("seconds", "wall seconds"), ("cpu", "CPU seconds")):
        print()
        row(title, labels, f"{'exponent':>10}  against")
        for step in STEPS:
            timed = timings[step]
            slope = growth_exponent([t["input"] for t in timed], [t[measure] for t in timed])
            exponents.setdefault(step, slope)  # the targets read wall time
            shown = [f"{t[measure]:.2f}{'*' if hot else ''}" for t, hot in zip(timed, busy[step])]
            row(step, shown, f"{slope:>10.2f}  {INPUTS[step]}")
    read_prepare = [results[n]["read"]["seconds"] + results[n]["prepare"]["seconds"] for n in sizes]
    row("read + prepare", [f"{seconds:.2f}" for seconds in read_prepare], "  (wall)")
    row("decode users/s", [f"{results[n]['decode']['rate']:.2f}" for n in sizes], "  (wall)")
    if alternating:
        rates = [f"{results[n]['decode alternating']['rate']:.2f}" for n in sizes]
        row("decode users/s, in turn", rates, "  (wall; sizes alternating in one process)")
    print()
    row("other CPUs busy", labels)
    for step, timed in timings.items():
        row(step, [f"{t['other_cpus']:.2f}" for t in timed])
    print(f"* other processes kept more than {BUSY} CPUs busy: that time is suspect")
    print()
    row("peak RSS MiB (before)", labels)
    for step in STEPS:
        peaks = [
            (results[n][step]["rss_peak"] / 2**20, results[n][step]["rss_before"] / 2**20) for n in sizes
        ]
        row(step, [f"{peak:,.0f} ({before:,.0f})" for peak, before in peaks])
    print()

    largest, smallest = results[sizes[-1]], results[sizes[0]]
    seconds = largest["read"]["seconds"] + largest["prepare"]["seconds"]
    peak = max(largest["read"]["rss_peak"], largest["prepare"]["rss_peak"])
    ok = seconds <= READ_PREPARE_SECONDS and peak <= READ_PREPARE_BYTES

    def suspect(*steps: str) -> str:
        return " (* busy machine)" if any(any(busy[step]) for step in steps) else ""

    print(
        f"{'PASS' if ok else 'MISS'} read + prepare of {largest['info']['reviews']:,} reviews: "
        f"{seconds:.0f} s (target <= {READ_PREPARE_SECONDS:.0f}), peak {peak / 1e9:.2f} GB "
        f"(target <= {READ_PREPARE_BYTES / 1e9:.0f}){suspect('read', 'prepare')}"
    )
    if len(sizes) < 2:
        print("(growth exponents and the decoding ratio need two sizes or more)")
        return
    for step in STEPS:
        e = exponents[step]
        verdict = "PASS" if e <= MAX_EXPONENT else "MISS"
        print(f"{verdict} {step}: wall time grows as input^{e:.2f} (target <= {MAX_EXPONENT}){suspect(step)}")
    own = largest["decode"]["rate"] / smallest["decode"]["rate"]
    step = "decode, in turn" if alternating else "decode"
    key = "decode alternating" if alternating else "decode"
    ratio = largest[key]["rate"] / smallest[key]["rate"]
    print(
        f"{'PASS' if ratio >= MIN_DECODE_RATIO else 'MISS'} decoding at {_label(sizes[-1])}: "
        f"{largest[key]['rate']:.2f} users/s, {ratio:.2f}x the rate at {_label(sizes[0])} "
        f"(target >= {MIN_DECODE_RATIO}; {'sizes in turn' if alternating else 'each size alone'}; "
        f"each size alone: {own:.2f}x){suspect(step)}"
    )


def run_size(n_items: int, folder: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every step of one size, each in its own process; ``work`` holds what later steps read."""
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"info": {}}
    for name, target, step_args in (
        ("read + prepare", step_read_prepare, (str(folder), str(work), args.preset)),
        ("rq-kmeans", step_rqkmeans, (str(work), args.preset, args.dim, args.seed)),
        ("task build", step_tasks, (str(work), args.preset)),
        ("trie build", step_trie, (str(work), args.preset)),
        ("decode", step_decode, (str(work), args.preset, args.users)),
    ):
        print(f"  {_label(n_items)}: {name}", flush=True)
        out = in_subprocess(target, *step_args)
        results["info"].update(out.pop("info"))
        results.update(out)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="catalog items")
    parser.add_argument("--users", type=int, default=1_000, help="test users decoded per size")
    parser.add_argument("--preset", default="cpu", help="settings of prepare, RQ-k-means, tasks, model")
    parser.add_argument("--dim", type=int, default=384, help="vector dimension for RQ-k-means")
    parser.add_argument("--seed", type=int, default=0, help="catalog and vector seed")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the catalogs here and reuse them")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = parser.parse_args(argv)
    if min(args.sizes) < 10 or args.users < 1:
        parser.error("sizes need at least 10 items each, and --users at least 1")
    return args


def main() -> None:
    args = parse_args()
    sizes = sorted(set(args.sizes))
    print(
        f"sizes {sizes} items, {args.users} decoded users, preset {args.preset}, vectors of {args.dim}; "
        f"cpus={os.cpu_count()} load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as scratch:
        data_dir = args.data_dir or Path(scratch) / "data"
        results = {}
        for n_items in sizes:
            folder = data_dir / f"{CATEGORY}-{n_items}items-seed{args.seed}"
            start = time.perf_counter()
            counts = in_subprocess(step_generate, str(folder), n_items, args.seed)
            print(
                f"{_label(n_items)}: {counts['users']:,} users, {counts['reviews']:,} reviews in {folder} "
                f"(ready in {time.perf_counter() - start:.0f} s, not timed)",
                flush=True,
            )
            results[n_items] = run_size(n_items, folder, Path(scratch) / str(n_items), args)
        if len(sizes) > 1:
            print("  all sizes: decode, one batch of each size in turn", flush=True)
            works = [str(Path(scratch) / str(n)) for n in sizes]
            for n, timing in zip(
                sizes, in_subprocess(step_decode_alternating, works, args.preset, args.users)
            ):
                results[n]["decode alternating"] = timing
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({str(n): r for n, r in results.items()}, indent=1) + "\n")
    report(results)


if __name__ == "__main__":
    main()
