import numpy as np
import pandas as pd
import pytest

from sidrec_lib.rqvae import RQVAE
from sidrec_lib.semantic_ids import add_dedup_level, collision_stats, compare_settings


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    """Unit vectors around 12 directions: structure for the codes to find."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 24))
    x = centres[rng.integers(0, 12, 400)] + 0.3 * rng.normal(size=(400, 24))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(vectors):
    model = RQVAE(levels=3, codes=8, latent_dim=8, hidden=(32,), steps=300, batch_size=128, device="cpu")
    return model, model.fit(vectors)


def test_reconstruction_error_falls_level_by_level(fitted, vectors):
    model, codes = fitted
    assert codes.shape == (400, 3) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 8
    assert all(a > b for a, b in zip(model.level_mse, model.level_mse[1:])), model.level_mse
    assert model.level_mse[-1] < float((vectors**2).sum(1).mean())  # better than predicting zero
    error = float(((model.decode(codes) - vectors) ** 2).sum(1).mean())
    assert error == pytest.approx(model.level_mse[-1], rel=1e-4)


def test_codes_are_unique_after_the_dedup_level(fitted):
    _, codes = fitted
    assert collision_stats(add_dedup_level(codes))["collision_rate"] == 0.0


def test_encode_gives_the_fitted_codes_and_a_seed_repeats_them(fitted, vectors):
    model, codes = fitted
    np.testing.assert_array_equal(model.encode(vectors), codes)
    again = RQVAE(levels=3, codes=8, latent_dim=8, hidden=(32,), steps=300, batch_size=128, device="cpu")
    np.testing.assert_array_equal(again.fit(vectors), codes)


def test_bad_settings_and_inputs_say_what_is_wrong(vectors):
    with pytest.raises(ValueError, match="codes must be a positive integer"):
        RQVAE(codes=0)
    with pytest.raises(ValueError, match="codes <= 400"):
        RQVAE(codes=512, steps=1).fit(vectors)
    with pytest.raises(ValueError, match="NaN or inf"):
        RQVAE(codes=2, steps=1).fit(np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="not fitted"):
        RQVAE().encode(vectors)


def test_compare_settings_takes_an_rqvae_beside_rqkmeans_settings(vectors):
    labels = {"half": pd.Series(np.arange(len(vectors)) % 2)}
    rqvae = RQVAE(levels=2, codes=8, latent_dim=8, hidden=(32,), steps=50, batch_size=128, device="cpu")
    table = compare_settings(vectors, labels, [dict(levels=2, codes=8, iters=5, device="cpu"), rqvae])
    assert table.quantiser.tolist() == ["RQKMeans", "RQVAE"]
    assert table.final_mse[1] == rqvae.level_mse[-1] and not table.balanced[1]
