import math

import numpy as np
import pandas as pd
import pytest

from sidrec_lib.constraints import Constraint, HolderIndex
from sidrec_lib.evaluate import compare_with_strongest, comparison_text
from sidrec_lib.metrics import (
    bootstrap_ci,
    by_popularity_band,
    paired_difference,
    per_user_metrics,
    summarize,
    target_ranks,
)
from sidrec_lib.steering import attribute_precision, score


def test_ranks_and_metrics_by_hand():
    lists = [["a", "b", "c"], ["c", "a", "b"], ["x", "y", "z"]]
    ranks = target_ranks(lists, ["a", "b", "q"])
    assert ranks.tolist() == [1, 3, 0]
    table = per_user_metrics(ranks, cutoffs=(1, 2, 3))
    assert table["recall@1"].tolist() == [1, 0, 0]
    assert table["recall@3"].tolist() == [1, 1, 0]
    assert table["ndcg@3"].tolist() == pytest.approx([1.0, 1 / math.log2(4), 0.0])
    assert table["ndcg@2"].tolist() == [1.0, 0.0, 0.0]
    assert table["mrr"].tolist() == pytest.approx([1.0, 1 / 3, 0.0])


def test_summary_with_intervals_and_coverage():
    lists = [["a", "b"], ["b", "a"], ["a", "c"], ["b", "c"]]
    summary = summarize(lists, ["a", "a", "c", "x"], catalog_size=10, cutoffs=(1, 2), samples=500)
    assert summary["recall@1"] == 0.25 and summary["recall@2"] == 0.75
    assert summary["recall@2_lo"] <= 0.75 <= summary["recall@2_hi"]
    assert summary["coverage@10"] == 0.3 and summary["full_lists"] == 1.0 and summary["users"] == 4


def test_bootstrap_interval_shrinks_with_more_users():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.random(50))
    large = bootstrap_ci(rng.random(5000))
    assert small[1] - small[0] > large[1] - large[0] > 0
    assert bootstrap_ci(np.ones(10)) == (1.0, 1.0)


def test_steering_scores_by_hand():
    facts = {
        "a": {"genre": ["rpg"]},
        "b": {"genre": ["rpg"]},
        "c": {"genre": ["racing"]},
        "d": {"genre": ["racing"]},
    }
    index = HolderIndex(["a", "b", "c", "d"], facts)
    requests = pd.DataFrame(
        {
            "kind": ["catalog", "oracle", "oracle"],
            "attribute": ["genre"] * 3,
            "user_id": [None, "u1", "u2"],
            "history": [[], ["a"], ["c"]],
            "target": [None, "d", "b"],
            "constraints": [(Constraint("genre", (v,)),) for v in ("rpg", "racing", "rpg")],
        }
    )
    lists = [["a", "c", "b"], ["d", "c", "a"], ["a", "d", "c"]]
    assert attribute_precision(lists, [{"a", "b"}] * 3, k=2).tolist() == [0.5, 0.0, 0.5]
    table = score(requests, lists, index, k=2)
    assert table.loc[("genre", "catalog"), "precision@2"] == 0.5
    assert table.loc[("genre", "oracle"), "precision@2"] == pytest.approx((1.0 + 0.5) / 2)
    assert table.loc[("genre", "oracle"), "ndcg@2"] == pytest.approx(
        (1.0 + 0.0) / 2
    )  # d first; b not in top 2
    assert table.loc[("genre", "oracle"), "requests"] == 2
    # u1 asks for racing with no racing game bought: both holders are left (ceiling 1); u2 asks for
    # rpg with neither bought (1); the catalog request too (1). Hiding "b" from u2 halves its ceiling.
    assert table["ceiling@2"].tolist() == [1.0, 1.0]
    requests.at[2, "history"] = ["b"]
    assert score(requests, lists, index, k=2).loc[("genre", "oracle"), "ceiling@2"] == 0.75
    # A request that excludes: anything but racing, for u1 (who bought a): only b is left.
    negated = requests.iloc[[1]].assign(constraints=[(Constraint("genre", ("racing",), include=False),)])
    row = score(negated, [["b", "c"]], index, k=2).iloc[0]
    assert (row["precision@2"], row["ceiling@2"], row["ndcg@2"]) == (0.5, 0.5, 0.0)


def test_paired_difference_and_popularity_bands():
    ours, theirs = np.array([1.0, 0.5, 0.0, 0.2]), np.array([0.5, 0.5, 0.0, 0.0])
    mean, low, high = paired_difference(ours, theirs, samples=500, seed=0)
    assert mean == pytest.approx(0.175) and low <= mean <= high and low >= 0  # never worse per user
    per_user = {"a": pd.Series([1.0, 0.0, 0.5, 0.25, 0.0, 1.0])}
    popularity = pd.Series({"x": 1, "y": 5, "z": 9})
    targets = ["x", "x", "y", "y", "z", "w"]
    bands = by_popularity_band(per_user, targets, popularity, ["tail", "middle", "head"])
    # ranked by the target's popularity, ties in order: w (never bought) and the first x are the tail
    assert set(bands.index) == {"tail", "middle", "head"}
    assert bands.loc["tail", "a"] == pytest.approx((1.0 + 1.0) / 2)  # w, then the first x
    assert bands.loc["head", "a"] == pytest.approx((0.25 + 0.0) / 2)  # the second y, then z


def test_the_comparison_picks_the_stronger_baseline_and_pairs_users():
    results = {
        "hybrid (SID LM)": {"ndcg@10": 0.3, "ndcg@10_lo": 0.2, "ndcg@10_hi": 0.4},
        "A": {"ndcg@10": 0.2, "ndcg@10_lo": 0.1, "ndcg@10_hi": 0.3},
        "B": {"ndcg@10": 0.25, "ndcg@10_lo": 0.15, "ndcg@10_hi": 0.35},
    }
    per_user = {
        "hybrid (SID LM)": pd.Series([0.5, 0.4, 0.0]),
        "A": pd.Series([0.2, 0.4, 0.0]),
        "B": pd.Series([0.3, 0.3, 0.15]),
    }
    comparison = compare_with_strongest(results, per_user, ["A", "B"], samples=200, seed=0)
    assert comparison["strongest_sasrec"] == "B" and comparison["hybrid_beats_sasrec_ndcg10"]
    assert comparison["ndcg10_ratio_to_sasrec"] == pytest.approx(1.2)
    assert comparison["ndcg10_minus_sasrec"] == pytest.approx((0.2 + 0.1 - 0.15) / 3)
    text = comparison_text(results, comparison)
    assert "beats the stronger SASRec (B)" in text and "(the intervals overlap)" in text and "1.20×" in text
