"""What a test is in STDF terms, and its number: the same test gets the same number in every run.

A yield tool trends a test across lots by its TEST_NUM, so the number must not depend on what
else happened in the run (how many tests came before, which phase failed). It is derived from
the test's identity alone - its step path and its measurement name, with the chip taken out
(the chip is the part, not the test) - by a persistent hash into a range. Two identities that
hash to the same number are told apart deterministically: the lower (hash, identity) keeps the
number and the other takes the next free one, so a collision can only move a number when the
colliding test is itself added or removed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable

#: Test numbers live in [FIRST, FIRST + SPAN): clear of the small numbers test programs hand
#: out by hand, and below 2**31 for tools that read TEST_NUM as a signed 32-bit integer.
FIRST = 1_000_000
SPAN = 1 << 30


@dataclass(frozen=True, order=True)
class StdfTest:
    """A test's identity: the step path its measurements are recorded under, and its name."""

    path: str
    name: str

    @property
    def text(self) -> str:
        return f"{self.path}/{self.name}"


def chip_of(coords: dict | None) -> str | None:
    """The chip a measurement belongs to (its `chip` coordinate), as text; None for the whole DUT."""
    if not coords or coords.get("chip") is None:
        return None
    chip = coords["chip"]
    if isinstance(chip, float) and chip.is_integer():
        chip = int(chip)
    return str(chip)


def base_name(name: str, coords: dict | None) -> str:
    """`sled.rail_voltage(rail=VDD_CORE, chip=2)` -> `sled.rail_voltage(rail=VDD_CORE)` when the
    measurement is chip 2's: every chip runs the same test."""
    chip = chip_of(coords)
    if chip is None or "(" not in name:
        return name
    base, _, rest = name.partition("(")
    if not rest.endswith(")"):
        return name
    args = [a for a in re.split(r",\s*", rest[:-1]) if a]
    kept = [a for a in args if a.replace(" ", "") not in (f"chip={chip}", f"chip={chip}.0")]
    if len(kept) == len(args):
        return name
    return f"{base}({', '.join(kept)})" if kept else base


def identify(m: dict) -> StdfTest:
    return StdfTest(m["path"], base_name(m["name"], m.get("coords")))


def _hash(key: StdfTest) -> int:
    digest = hashlib.blake2b(key.text.encode("utf-8"), digest_size=8, person=b"bringup-test#").digest()
    return int.from_bytes(digest, "big") % SPAN


def number_tests(keys: Iterable[StdfTest]) -> dict[StdfTest, int]:
    """A stable TEST_NUM for each distinct key (see the module docstring for collisions)."""
    taken: set[int] = set()
    numbers: dict[StdfTest, int] = {}
    for key in sorted(set(keys), key=lambda k: (_hash(k), k)):
        slot = _hash(key)
        while slot in taken:
            slot = (slot + 1) % SPAN
        taken.add(slot)
        numbers[key] = FIRST + slot
    return numbers
