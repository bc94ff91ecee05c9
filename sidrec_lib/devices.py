"""Where models run: the fastest torch device this machine has."""

from __future__ import annotations

import torch


def default_device(mps: bool = True) -> str:
    """``cuda`` when there is one, then Apple's ``mps`` (if ``mps``), else ``cpu``.

    The encoders and k-means take ``mps``; the recommenders trained and decoded here (SASRec,
    Cornac's models, the fine-tuned LM) keep to ``cuda`` or ``cpu`` (``mps=False``).
    """
    if torch.cuda.is_available():
        return "cuda"
    backend = getattr(torch.backends, "mps", None)
    if mps and backend is not None and backend.is_available():
        return "mps"
    return "cpu"
