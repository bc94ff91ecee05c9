import numpy as np
import pytest

from sidrec_lib import embeddings


@pytest.fixture
def fake_encoder(monkeypatch):
    """Stands in for the sentence encoder; counts how often items are encoded."""
    calls = []

    def encode(encoder, texts, batch_size=64, prompt=None):
        calls.append(len(texts))
        return np.full((len(texts), 4), 0.5, dtype=np.float32)

    monkeypatch.setattr(embeddings, "load_encoder", lambda name, device=None: object())
    monkeypatch.setattr(embeddings, "encode_texts", encode)
    return calls


def test_the_cache_serves_a_second_call(tmp_path, fake_encoder):
    texts = ["a red thing", "a blue thing"]
    first, cached = embeddings.embed_items(texts, "enc", tmp_path)
    assert not cached and fake_encoder == [2]
    second, cached = embeddings.embed_items(texts, "enc", tmp_path)
    assert cached and fake_encoder == [2] and np.array_equal(first, second)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:60]),  # cut short
        lambda path: path.write_bytes(b"not an array at all"),
        lambda path: np.save(path, np.zeros((3, 4), dtype=np.float32)),  # wrong number of rows
        lambda path: np.save(path, np.full((2, 4), np.nan, dtype=np.float32)),
        lambda path: np.save(path, np.array([{"a": 1}, {"b": 2}], dtype=object), allow_pickle=True),
    ],
    ids=["truncated", "garbage", "rows", "nan", "pickled"],
)
def test_a_damaged_cache_file_is_reported_and_encoded_again(tmp_path, fake_encoder, damage):
    texts = ["a red thing", "a blue thing"]
    embeddings.embed_items(texts, "enc", tmp_path)
    (cache_file,) = tmp_path.glob("*.npy")
    damage(cache_file)
    with pytest.warns(UserWarning, match=r"Embedding cache .* is damaged.*Encoding the items again"):
        vectors, cached = embeddings.embed_items(texts, "enc", tmp_path)
    assert not cached and vectors.shape == (2, 4) and fake_encoder == [2, 2]
    again, cached = embeddings.embed_items(texts, "enc", tmp_path)  # the new file serves the next run
    assert cached and np.array_equal(again, vectors)
