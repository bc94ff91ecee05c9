"""Unit tests for sidrec_lib.semantic_ids (small data, CPU, seconds)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sidrec_lib.semantic_ids import (
    RQKMeans,
    add_dedup_level,
    codebook_usage,
    codes_for_catalog,
    collision_stats,
    compare_settings,
    prefix_purity,
    random_control_codes,
)


def clustered(n: int = 600, dim: int = 16, centres: int = 24, seed: int = 0) -> np.ndarray:
    """Small L2-normalised Gaussian mixture."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centres, dim))
    x = means[rng.integers(centres, size=n)] + 0.3 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return clustered()


@pytest.fixture(scope="module")
def fitted(data: np.ndarray) -> tuple[RQKMeans, np.ndarray]:
    model = RQKMeans(levels=3, codes=8, iters=10, seed=0, device="cpu")
    return model, model.fit(data)


# -- RQKMeans ---------------------------------------------------------------------------------------


def test_fit_shapes_and_types(fitted: tuple[RQKMeans, np.ndarray], data: np.ndarray) -> None:
    model, codes = fitted
    assert codes.shape == (len(data), 3) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 8
    assert model.codebooks is not None
    assert model.codebooks.shape == (3, 8, data.shape[1]) and model.codebooks.dtype == np.float32
    assert len(model.level_mse) == 3 and model.dim == data.shape[1]


def test_same_seed_same_result_and_other_seed_differs(data: np.ndarray) -> None:
    a, b, c = (RQKMeans(3, 8, iters=10, seed=s, device="cpu") for s in (1, 1, 2))
    codes_a, codes_b = a.fit(data), b.fit(data)
    c.fit(data)
    np.testing.assert_array_equal(codes_a, codes_b)
    np.testing.assert_array_equal(a.codebooks, b.codebooks)
    assert a.level_mse == b.level_mse
    assert not np.array_equal(a.codebooks, c.codebooks)


def test_encode_of_fit_vectors_equals_fit_codes(
    fitted: tuple[RQKMeans, np.ndarray], data: np.ndarray
) -> None:
    model, codes = fitted
    np.testing.assert_array_equal(model.encode(data), codes)


def test_error_shrinks_level_by_level(fitted: tuple[RQKMeans, np.ndarray], data: np.ndarray) -> None:
    model, codes = fitted
    total = float((data.astype(np.float64) ** 2).sum(axis=1).mean())
    errors = [total]
    for level in range(1, 4):
        partial = np.zeros_like(data)
        for lv in range(level):
            partial += model.codebooks[lv][codes[:, lv]]
        errors.append(float(((data - partial).astype(np.float64) ** 2).sum(axis=1).mean()))
    assert all(later < earlier for earlier, later in zip(errors, errors[1:], strict=False))
    # level_mse is the same figure (mean over items of the squared residual norm)
    np.testing.assert_allclose(errors[1:], model.level_mse, rtol=1e-4)
    recon = model.decode(codes)
    np.testing.assert_allclose(((data - recon) ** 2).sum(axis=1).mean(), model.level_mse[-1], rtol=1e-4)


def test_decode_ignores_dedup_column_and_checks_range(fitted: tuple[RQKMeans, np.ndarray]) -> None:
    model, codes = fitted
    np.testing.assert_array_equal(model.decode(add_dedup_level(codes)), model.decode(codes))
    with pytest.raises(ValueError, match="out of range"):
        model.decode(np.full((2, 3), 8))
    with pytest.raises(ValueError, match="levels"):
        model.decode(codes[:, :2])


def test_save_load_round_trip(tmp_path, fitted: tuple[RQKMeans, np.ndarray], data: np.ndarray) -> None:
    model, codes = fitted
    folder = model.save(tmp_path / "rq")
    assert sorted(p.name for p in folder.iterdir()) == ["codebooks.safetensors", "rqkmeans.json"]
    loaded = RQKMeans.load(folder, device="cpu")
    np.testing.assert_array_equal(loaded.codebooks, model.codebooks)
    np.testing.assert_array_equal(loaded.encode(data), codes)
    assert loaded.level_mse == model.level_mse
    assert (loaded.levels, loaded.codes, loaded.iters, loaded.seed, loaded.balanced) == (3, 8, 10, 0, False)
    assert loaded.init_trials == model.init_trials and loaded.n_iter == model.n_iter


def test_load_missing_files(tmp_path) -> None:
    with pytest.raises(ValueError, match="missing"):
        RQKMeans.load(tmp_path)


def test_balanced_sizes_are_floor_or_ceil(data: np.ndarray) -> None:
    # Bound: at every level each of the K clusters holds floor(N/K) or ceil(N/K) items.
    n, k = 601, 8  # N % K != 0 on purpose
    x = clustered(n=n, seed=3)
    model = RQKMeans(levels=3, codes=k, iters=8, seed=0, balanced=True, device="cpu")
    codes = model.fit(x)
    for level in range(3):
        sizes = np.bincount(codes[:, level], minlength=k)
        assert sizes.min() >= n // k and sizes.max() <= math.ceil(n / k), sizes
    # encode is the unconstrained nearest codeword; fit's level_mse matches fit's codes
    assert model.encode(x).shape == codes.shape
    recon = model.decode(codes)
    np.testing.assert_allclose(((x - recon) ** 2).sum(axis=1).mean(), model.level_mse[-1], rtol=1e-4)


def test_balanced_spreads_a_dense_blob() -> None:
    # 450 near-identical items + 150 spread ones: standard RQ spends its codes on the spread items
    # and leaves the blob in one cell (450 items here); balanced capacities split it up
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal((450, 8)) * 0.05 + 1.0, rng.standard_normal((150, 8))])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    std = collision_stats(RQKMeans(2, 8, iters=10, device="cpu").fit(x))
    bal = collision_stats(RQKMeans(2, 8, iters=10, balanced=True, device="cpu").fit(x))
    assert std["largest_group"] >= 300
    assert bal["largest_group"] * 4 < std["largest_group"]


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs", [{"levels": 0, "codes": 4}, {"levels": 2, "codes": 0}, {"levels": 2, "codes": 1.5}]
)
def test_bad_config(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="must be an integer"):
        RQKMeans(**kwargs)


def test_bad_device() -> None:
    with pytest.raises(ValueError, match="not a torch device"):
        RQKMeans(2, 4, device="gpu0")


def test_nan_and_inf_rows_are_reported(data: np.ndarray) -> None:
    x = data.copy()
    x[[3, 7], 0] = np.nan
    x[11, 2] = np.inf
    with pytest.raises(ValueError, match=r"3 of 600 rows contain NaN or inf \(first rows: 3, 7, 11\)"):
        RQKMeans(2, 4, device="cpu").fit(x)


def test_all_zero_rows_are_reported(data: np.ndarray) -> None:
    x = data.copy()
    x[5] = 0.0
    with pytest.raises(ValueError, match=r"1 of 600 rows are all-zero vectors \(first rows: 5\)"):
        RQKMeans(2, 4, device="cpu").fit(x)


def test_fewer_items_than_codes(data: np.ndarray) -> None:
    with pytest.raises(ValueError, match="5 items but codes=8"):
        RQKMeans(2, 8, device="cpu").fit(data[:5])


def test_not_2d(data: np.ndarray) -> None:
    with pytest.raises(ValueError, match="2-D"):
        RQKMeans(2, 4, device="cpu").fit(data[0])


def test_encode_before_fit(data: np.ndarray) -> None:
    with pytest.raises(ValueError, match="not fitted"):
        RQKMeans(2, 4, device="cpu").encode(data)
    with pytest.raises(ValueError, match="not fitted"):
        RQKMeans(2, 4, device="cpu").decode(np.zeros((1, 2), dtype=np.int64))


def test_encode_wrong_dimension(fitted: tuple[RQKMeans, np.ndarray], data: np.ndarray) -> None:
    model, _ = fitted
    with pytest.raises(ValueError, match="dimension 15 but the codebooks were fitted on dimension 16"):
        model.encode(data[:, :15])


# -- dedup level ------------------------------------------------------------------------------------


def test_add_dedup_level_known_table() -> None:
    codes = np.array([[1, 2], [0, 0], [1, 2], [3, 3], [1, 2], [0, 0]])
    out = add_dedup_level(codes)
    np.testing.assert_array_equal(out[:, :2], codes)
    np.testing.assert_array_equal(out[:, 2], [0, 0, 1, 0, 2, 1])
    assert out.dtype == np.int64


def test_add_dedup_level_makes_fitted_ids_unique(fitted: tuple[RQKMeans, np.ndarray]) -> None:
    _, codes = fitted
    assert collision_stats(codes)["collision_rate"] > 0  # 600 items in 8**3 cells: some collide
    unique = add_dedup_level(codes)
    assert unique.shape == (len(codes), 4)
    assert len(np.unique(unique, axis=0)) == len(codes)
    assert collision_stats(unique)["collision_rate"] == 0.0


# -- diagnostics ------------------------------------------------------------------------------------


def test_collision_stats_known_table() -> None:
    codes = np.array([[0, 0], [0, 0], [0, 1], [1, 1], [1, 1], [1, 1], [2, 2]])
    assert collision_stats(codes) == {
        "items": 7,
        "unique_ids": 4,
        "collision_rate": 5 / 7,
        "colliding_groups": 2,
        "largest_group": 3,
    }


def test_codebook_usage_uniform_and_partial() -> None:
    codes = np.stack([np.arange(16) % 4, np.zeros(16, dtype=int)], axis=1)
    uniform, single = codebook_usage(codes, 4)
    assert uniform["used_share"] == 1.0 and uniform["used"] == 4
    assert uniform["entropy_bits"] == pytest.approx(2.0)
    assert uniform["normalised_entropy"] == pytest.approx(1.0)
    assert uniform["perplexity"] == pytest.approx(4.0)
    assert single["used_share"] == 0.25 and single["entropy_bits"] == 0.0 and single["perplexity"] == 1.0
    # one size per level (e.g. a dedup level of another size)
    assert codebook_usage(codes, [8, 1])[0]["normalised_entropy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="only 2 codes"):
        codebook_usage(codes, 2)


def test_prefix_purity_perfect_and_mixed() -> None:
    codes = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0]])
    labels = ["a", "a", "b", "b", "c"]
    assert prefix_purity(codes, labels, 1) == 1.0  # the lone item in group 2 is not counted
    mixed = ["a", "b", "b", "b", "c"]
    assert prefix_purity(codes, mixed, 1) == pytest.approx(3 / 4)
    assert math.isnan(prefix_purity(codes, labels, 2))  # every full tuple is alone
    assert prefix_purity(codes, mixed, 0) == pytest.approx(3 / 5)


def test_prefix_purity_ignores_missing_labels() -> None:
    codes = np.array([[0], [0], [0], [1], [1]])
    labels = ["a", "a", None, "b", float("nan")]
    # group 0 -> {a, a}: pure; group 1 -> {b}: alone after dropping NaN, not counted
    assert prefix_purity(codes, labels, 1) == 1.0
    assert prefix_purity(codes, np.array([1.0, 2.0, np.nan, 3.0, 3.0]), 1) == pytest.approx(3 / 4)


def test_random_control_keeps_group_sizes_and_lowers_purity(fitted: tuple[RQKMeans, np.ndarray]) -> None:
    _, codes = fitted
    control = random_control_codes(codes, seed=0)
    assert control.shape == codes.shape
    np.testing.assert_array_equal(
        np.sort(np.unique(codes, axis=0, return_counts=True)[1]),
        np.sort(np.unique(control, axis=0, return_counts=True)[1]),
    )
    np.testing.assert_array_equal(control, random_control_codes(codes, seed=0))
    labels = codes[:, 0]  # a label the first code predicts perfectly
    assert prefix_purity(codes, labels, 1) == 1.0
    assert prefix_purity(control, labels, 1) < 0.5


def test_kmeans_plus_plus_seeds_one_center_per_separated_cluster() -> None:
    import torch

    from sidrec_lib.kmeans import kmeans_plus_plus

    rng = np.random.default_rng(0)
    means = np.eye(8, 16) * 10.0
    points = means.repeat(50, axis=0) + 0.01 * rng.standard_normal((400, 16))
    x = torch.from_numpy(points.astype(np.float32))
    centers = kmeans_plus_plus(x, (x * x).sum(dim=1), 8, torch.Generator().manual_seed(0)).numpy()
    nearest_mean = np.argmin(((centers[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert sorted(nearest_mean) == list(range(8))


def test_empty_cluster_gets_the_farthest_point() -> None:
    import torch

    from sidrec_lib.kmeans import update_centers

    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [10.0, 0.0]])
    centers = torch.tensor([[0.0, 1.0], [5.0, 0.0], [-9.0, -9.0]])
    labels = torch.tensor([0, 0, 0, 1])  # cluster 2 is empty
    min_sq = torch.tensor([1.0, 0.0, 1.0, 25.0])
    new, reseeded = update_centers(x, labels, None, min_sq, centers)
    assert reseeded == 1
    np.testing.assert_allclose(new[2].numpy(), [10.0, 0.0])  # the farthest point moved there
    np.testing.assert_allclose(new[0].numpy(), [0.0, 1.0])
    np.testing.assert_allclose(new[1].numpy(), [5.0, 0.0])  # its only point left: keeps its center


# -- sizing and comparing codebooks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "codes"),
    [(1, 16), (256, 16), (257, 32), (400, 32), (1831, 64), (4096, 64), (4097, 128), (10**6, 256)],
)
def test_codes_for_catalog_is_the_smallest_power_of_two_whose_square_covers_the_catalog(items, codes):
    assert codes_for_catalog(items) == codes
    assert codes_for_catalog(items, smallest=1, largest=10**6) ** 2 >= items


def test_codes_for_catalog_rejects_an_empty_catalog():
    with pytest.raises(ValueError, match="at least one item"):
        codes_for_catalog(0)


def test_compare_settings_reports_each_setting(data):
    labels = {"cluster": pd.Series(np.arange(len(data)) % 3)}
    settings = [
        dict(levels=2, codes=k, iters=5, seed=0, balanced=b, device="cpu")
        for k in (4, 16)
        for b in (False, True)
    ]
    table = compare_settings(data, labels, settings)
    assert table[["codes", "balanced"]].values.tolist() == [[4, False], [4, True], [16, False], [16, True]]
    assert list(table.columns) == [
        "quantiser",
        "codes",
        "balanced",
        "collision_rate",
        "largest_group",
        "final_mse",
        "fit_seconds",
        "cluster lift@prefix2",
    ]
    assert set(table.quantiser) == {"RQKMeans"}
    one = RQKMeans(**settings[2])
    assert table.collision_rate[2] == collision_stats(one.fit(data))["collision_rate"]
    assert table.final_mse[0] > table.final_mse[2]  # more codes leave less of the vectors
    assert table.collision_rate[0] >= table.collision_rate[2]
    assert (table["cluster lift@prefix2"] > 0).all()
