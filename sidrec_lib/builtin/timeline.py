"""The store's calendar: dates as whole days since 1970-01-01."""

from __future__ import annotations

from datetime import date, timedelta

from sidrec_lib.presets import BuiltinConfig

EPOCH = date(1970, 1, 1)
MS_PER_DAY = 86_400_000
YEAR_DAYS = 365


def day_of(iso: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return (date.fromisoformat(iso) - EPOCH).days


def iso_date(day: int) -> str:
    return (EPOCH + timedelta(days=int(day))).isoformat()


def year_of(day: int) -> int:
    return (EPOCH + timedelta(days=int(day))).year


def timeline(config: BuiltinConfig) -> tuple[int, int]:
    """First and last day of the store: January 1st of ``start_year`` to December 31st of ``end_year``."""
    return day_of(f"{config.start_year}-01-01"), day_of(f"{config.end_year}-12-31")
