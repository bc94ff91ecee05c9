import math

import numpy as np
import pandas as pd
import pytest

from sidrec_lib.metrics import bootstrap_ci, per_user_metrics, summarize, target_ranks
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
    steerable = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "attribute": ["genre"] * 4,
            "value": ["rpg", "rpg", "racing", "racing"],
            "text": ["rpg", "rpg", "racing", "racing"],
        }
    )
    requests = pd.DataFrame(
        {
            "kind": ["catalog", "oracle", "oracle"],
            "attribute": ["genre"] * 3,
            "value": ["rpg", "racing", "rpg"],
            "user_id": [None, "u1", "u2"],
            "history": [[], ["a"], ["c"]],
            "target": [None, "d", "b"],
            "request": ["x", "y", "z"],
        }
    )
    lists = [["a", "c", "b"], ["d", "c", "a"], ["a", "d", "c"]]
    assert attribute_precision(lists, [{"a", "b"}] * 3, k=2).tolist() == [0.5, 0.0, 0.5]
    table = score(requests, lists, steerable, k=2)
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
    assert score(requests, lists, steerable, k=2).loc[("genre", "oracle"), "ceiling@2"] == 0.75
