"""What a request asks of the items it wants, as constraints on attribute values.

"A horror game on PC" is two constraints (genre holds horror, platform holds PC); "anything but a
racing game" is one that excludes (genre does not hold racing). The steerability benchmark scores a
list by the share of its items that meet every constraint of its request, the stage-2 task mix picks
its answers among the items that meet them, and the request parser of the classic pipeline
(:mod:`sidrec_lib.request_parser`) turns words back into them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sidrec_lib.prepare import row_index


@dataclass(frozen=True)
class Constraint:
    """An item must hold one of ``values`` of ``attribute`` (``include``), or none of them."""

    attribute: str
    values: tuple[str, ...]
    include: bool = True

    def __str__(self) -> str:
        return f"{self.attribute} {'in' if self.include else 'not in'} {{{', '.join(self.values)}}}"

    def met_by(self, held: Mapping[str, Iterable[str]]) -> bool:
        """Whether an item with attribute values ``held`` (attribute → values) meets the constraint."""
        return bool(set(held.get(self.attribute, ())) & set(self.values)) == self.include


class HolderIndex:
    """Which catalog items hold each attribute value, for masks over the catalog in item order.

    ``facts``: item_id → {attribute: values} (:func:`~sidrec_lib.attributes.item_facts`).
    """

    def __init__(self, item_ids: Sequence[str], facts: Mapping[str, Mapping[str, Sequence[str]]]):
        self.item_ids = list(item_ids)
        self.row_of = row_index(self.item_ids)
        rows: dict[tuple[str, str], list[int]] = {}
        for item, by_attribute in facts.items():
            row = self.row_of.get(item)
            if row is None:
                continue
            for attribute, values in by_attribute.items():
                for value in values:
                    rows.setdefault((attribute, value), []).append(row)
        self.rows = {key: np.unique(np.array(held, dtype=np.int64)) for key, held in rows.items()}

    def holds(self, attribute: str, values: Iterable[str]) -> np.ndarray:
        """Bool mask over the catalog: the items holding any of ``values``."""
        mask = np.zeros(len(self.item_ids), dtype=bool)
        for value in values:
            mask[self.rows.get((attribute, value), [])] = True
        return mask

    def mask(self, constraints: Iterable[Constraint]) -> np.ndarray:
        """Bool mask over the catalog: the items that meet every constraint."""
        mask = np.ones(len(self.item_ids), dtype=bool)
        for constraint in constraints:
            held = self.holds(constraint.attribute, constraint.values)
            mask &= held if constraint.include else ~held
        return mask

    def meeting(self, constraints: Iterable[Constraint], outside: Iterable[str] = ()) -> np.ndarray:
        """Rows of the items that meet every constraint, leaving out the items ``outside``."""
        mask = self.mask(constraints)
        mask[[self.row_of[item] for item in outside if item in self.row_of]] = False
        return np.flatnonzero(mask)
