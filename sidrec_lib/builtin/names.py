"""Names: studios, games, subtitles and franchise entries ('Name 2', 'Name III', 'Name: Subtitle'...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sidrec_lib.builtin.draws import pick
from sidrec_lib.builtin.vocab import fill

_TRIES = 1000  # draws before a name is given up on: the word lists are too small


@dataclass(frozen=True)
class FranchiseNaming:
    """How a franchise titles its entries: numbered, roman, subtitled, mixed or by season."""

    name: str
    yearly: bool
    style: str
    template: str


class Namer:
    """Draws new names from ``names.json`` and ``texts.json``, tracking the titles and studios used."""

    def __init__(self, vocab: dict[str, Any], rng: np.random.Generator) -> None:
        self.rng = rng
        self.names: dict[str, Any] = vocab["names"]
        self.texts: dict[str, Any] = vocab["texts"]
        self.genres: list[dict[str, Any]] = vocab["genres"]["genres"]
        self.used_titles: set[str] = set()
        self.used_studios: set[str] = set()

    def studio(self) -> str:
        """A new studio name such as 'Ironleaf Interactive'."""
        s, rng = self.names["studio"], self.rng
        for _ in range(_TRIES):
            first, second = pick(rng, s["prefixes"]), pick(rng, s["prefixes"])
            slots = {
                "prefix": first,
                "prefix2": second,
                "tail": pick(rng, s["tails"]),
                "suffix": pick(rng, s["suffixes"]),
            }
            name = fill(pick(rng, s["templates"]), slots)
            if name not in self.used_studios and first != second and slots["tail"] not in first.lower():
                self.used_studios.add(name)
                return name
        raise ValueError("Ran out of unused studio names: names.json is too small for this many items")

    def standalone(self, genre: int) -> str:
        """A new name for a game outside any franchise."""
        return self._game(genre, self.names["standalone_templates"])

    def franchise(self, genre: int, yearly: bool) -> FranchiseNaming:
        """A franchise name and the way its sequels are titled."""
        name = self._game(genre, self.names["franchise_templates"])
        style = pick(self.rng, sorted(self.texts["sequel_styles"]))
        templates = self.texts["yearly_templates"] if yearly else self.texts["sequel_styles"][style]
        return FranchiseNaming(name, yearly, style, pick(self.rng, templates))

    def entry_title(self, naming: FranchiseNaming, entry: int, first_year: int) -> str:
        """Title of a franchise entry: 'Name', 'Name 2', 'Name III', 'Name: Subtitle', 'Name 17'..."""
        for _ in range(30):
            if naming.yearly:
                season = first_year + entry  # the season after release: a 2016 release is "Name 17"
                template = naming.template
                slots = {"name": naming.name, "year": season, "yy": f"{season % 100:02d}"}
            else:
                template = self._sequel_template(naming, entry)
                roman = self.names["roman_numerals"]
                slots = {
                    "name": naming.name,
                    "n": entry,
                    "roman": roman[entry - 1] if entry <= len(roman) else str(entry),
                    "subtitle": self._subtitle() if "{subtitle}" in template else "",
                }
            title = fill(template, slots)
            if title not in self.used_titles:
                break
        self.used_titles.add(title)
        return title

    def _game(self, genre: int, templates: list[str]) -> str:
        """A new, unused game name from genre-flavoured and generic words."""
        g, n, rng = self.genres[genre], self.names, self.rng
        for _ in range(_TRIES):
            adj = pick(rng, g["adjectives"] if rng.random() < 0.6 else n["adjectives"])
            noun = pick(rng, g["nouns"] if rng.random() < 0.6 else n["nouns"])
            noun2 = pick(rng, n["nouns"] if rng.random() < 0.6 else g["nouns"])
            slots = {
                "adj": adj,
                "noun": noun,
                "noun2": noun2,
                "place": self._place(),
                "coined": self._coined(),
                "subtitle": self._subtitle(),
            }
            name = fill(pick(rng, templates), slots)
            if noun2 != noun and name not in self.used_titles:
                self.used_titles.add(name)
                return name
        raise ValueError("Ran out of unused game names: names.json is too small for this many items")

    def _sequel_template(self, naming: FranchiseNaming, entry: int) -> str:
        """The first entry's own template; later ones keep the franchise's, or draw one in a mixed style."""
        if entry == 1:
            return pick(self.rng, self.texts["first_entry_templates"])
        if naming.style == "mixed":
            return pick(self.rng, self.texts["sequel_styles"][naming.style])
        return naming.template

    def _coined(self) -> str:
        return pick(self.rng, self.names["coined_prefixes"]) + pick(self.rng, self.names["coined_suffixes"])

    def _place(self) -> str:
        return self._coined() if self.rng.random() < 0.3 else pick(self.rng, self.names["places"])

    def _subtitle(self) -> str:
        n = self.names
        place = self._place()
        slots = {
            "sub_adj": pick(self.rng, n["subtitle_adjectives"]),
            "place": place,
            "sub_noun": pick(self.rng, n["subtitle_nouns"]),
        }
        return fill(pick(self.rng, n["subtitle_templates"]), slots)
