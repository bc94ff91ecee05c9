import gzip
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("SIDREC_REAL_DATA", ROOT.parent / "shared" / "data" / "amazon18-industrial"))


def write_jsonl(path: Path, rows: list) -> Path:
    """Write rows (dicts, or raw strings written as-is) as JSON lines; gzip if the name ends in .gz."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The Amazon sample beside the project; its absence fails when SIDREC_REQUIRE_REAL_DATA is set."""
    if not (REAL_DATA / "meta_Industrial_and_Scientific.jsonl.gz").is_file():
        if os.environ.get("SIDREC_REQUIRE_REAL_DATA"):
            pytest.fail(f"real-data tier required but {REAL_DATA} is missing")
        pytest.skip(f"{REAL_DATA} not present")
    return REAL_DATA
