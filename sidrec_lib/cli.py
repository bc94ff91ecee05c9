"""Command-line options that the course's scripts share."""

from __future__ import annotations

import argparse

__all__ = ["add_set_option"]


def add_set_option(parser: argparse.ArgumentParser, help: str) -> None:
    """A repeatable ``--set KEY=VALUE`` option; ``args.set`` lists the pairs given, in order."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=help)
