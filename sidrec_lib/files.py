"""The library's own files on disk.

Every file appears whole or not at all: it is written under a hidden name beside its target, then
renamed into place, so that a crash or an error never leaves a half-written file (and never removes
the previous one). Trained weights are safetensors (no pickle) beside a JSON description that names
their format and version, checked on load.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported by the functions that need it: run folders and reports need not load it
    import torch


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh hidden path beside ``path`` for the block to write; renamed to ``path`` when the block
    ends, removed when it raises (its folder is made if missing). Concurrent writers of one target
    each get their own partial name; the block creates the file, so it gets the usual permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as partial:
        partial.write_text(text, encoding="utf-8")


def save_tensors(
    folder: str | Path,
    tensors: dict[str, torch.Tensor],
    tensors_file: str,
    description: dict[str, Any],
    description_file: str,
) -> Path:
    """Write ``tensors`` (safetensors) and ``description`` (JSON, which names the format and version)
    into ``folder``, each atomically; return the folder."""
    from safetensors.torch import save_file

    folder = Path(folder)  # made by atomic_path if missing
    with atomic_path(folder / tensors_file) as partial:
        save_file({name: t.detach().cpu().contiguous() for name, t in tensors.items()}, str(partial))
    write_text_atomic(folder / description_file, json.dumps(description, indent=2) + "\n")
    return folder


def load_tensors(
    folder: str | Path, tensors_file: str, description_file: str, format_name: str, version: int
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read what :func:`save_tensors` wrote, after checking that both files are there and that the
    description names ``format_name`` at ``version``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for needed in (folder / description_file, folder / tensors_file):
        if not needed.is_file():
            raise ValueError(f"{needed} is missing: save a fitted {format_name} model into {folder} first.")
    description = json.loads((folder / description_file).read_text())
    if description.get("format") != format_name or description.get("version") != version:
        raise ValueError(
            f"{folder / description_file} is not a {format_name} v{version} file "
            f"(format={description.get('format')!r}, version={description.get('version')!r})."
        )
    return load_file(str(folder / tensors_file)), description
