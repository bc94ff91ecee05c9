#!/usr/bin/env python
"""Put a run's headline results into the README, so that its figures come from a run, not a keyboard.

    python ci/readme_figures.py artifacts/cpu
    python ci/readme_figures.py artifacts/cpu-amazon18-industrial

The README holds one block per run, between ``<!-- results: <run> -->`` and ``<!-- /results -->``;
the block is replaced by :func:`sidrec_lib.summary.headline` of that run (the same lines that head
the results in its ``summary.md``). Run it after any change that can move a figure, and commit the
README with it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from sidrec_lib.artifacts import Run
from sidrec_lib.files import write_text_atomic
from sidrec_lib.summary import headline

ROOT = Path(__file__).resolve().parents[1]


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the block of run ``name`` replaced by ``content``; a clear error if it has none."""
    pattern = re.compile(rf"(<!-- results: {re.escape(name)} -->\n).*?(<!-- /results -->)", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(
            f"The README has no block for run {name!r}: add the lines "
            f"'<!-- results: {name} -->' and '<!-- /results -->' where its figures belong."
        )
    return pattern.sub(lambda m: m.group(1) + content + m.group(2), text, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a run folder, e.g. artifacts/cpu")
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    args = parser.parse_args(argv)
    folder = Path(args.run)
    results = headline(Run(folder.parent, folder.name))
    if not results:
        print(f"error: {folder} has no finished 06_evaluate step; run the course first.", file=sys.stderr)
        return 2
    readme = Path(args.readme)
    try:
        text = replace_block(readme.read_text(), folder.name, results)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_text_atomic(readme, text)
    print(f"{readme}: results of {folder.name} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
