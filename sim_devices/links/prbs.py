"""PRBS test patterns and the statistics of a bit-error-ratio test (PHYSICS.md §5).

A BER test never proves a BER; it bounds it. With N bits checked and E errors seen, the BER is
below `chi2(CL, 2(E+1)) / (2N)` with confidence CL (the exact Poisson upper limit). Zero errors
need `N = -ln(1-CL)/BER` bits: 3.0e12 bits for BER < 1e-12 at 95 %, i.e. 94 s of one lane at
32 GT/s. The simulator therefore never pushes bits through a checker: it draws the error count
from the lane's true BER (`PrbsResult` is what the checker would have reported), so a 3e12-bit
test costs nothing. `prbs_sequence` is here for the patterns themselves: drivers and tests that
want real bits, and a checker's lock logic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincinv


@dataclass(frozen=True)
class PrbsPolynomial:
    """A Fibonacci LFSR of ITU-T O.150: stages `order` and `tap` are XORed into stage 1."""

    name: str
    order: int
    tap: int
    inverted: bool  # O.150 sends the 2^15-1, 2^23-1 and 2^31-1 patterns inverted

    @property
    def period(self) -> int:
        return (1 << self.order) - 1


# x^7+x^6+1 is the common SerDes PRBS7 (not in O.150, so not inverted); the rest are O.150's.
PRBS_POLYNOMIALS: dict[str, PrbsPolynomial] = {
    "PRBS7": PrbsPolynomial("PRBS7", 7, 6, inverted=False),
    "PRBS15": PrbsPolynomial("PRBS15", 15, 14, inverted=True),
    "PRBS23": PrbsPolynomial("PRBS23", 23, 18, inverted=True),
    "PRBS31": PrbsPolynomial("PRBS31", 31, 28, inverted=True),
}


def polynomial(pattern: str) -> PrbsPolynomial:
    """The LFSR of a pattern name (any case: "prbs31" works)."""
    try:
        return PRBS_POLYNOMIALS[pattern.upper()]
    except KeyError:
        raise ValueError(f"unknown PRBS pattern {pattern!r}; "
                         f"known: {', '.join(PRBS_POLYNOMIALS)}") from None


def prbs_sequence(pattern: str, n: int, seed: int | None = None,
                  inverted: bool | None = None) -> np.ndarray:
    """The first `n` bits (uint8 0/1) of a PRBS pattern.

    `seed` is the register's initial state (nonzero, `order` bits; default all ones), which is
    also the first `order` bits of the raw sequence. Every later bit obeys
    `b[k] = b[k-order] ^ b[k-tap]`. `inverted` defaults to O.150's convention for the pattern.
    """
    poly = polynomial(pattern)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    state = (1 << poly.order) - 1 if seed is None else int(seed)
    if not 0 < state < (1 << poly.order):
        raise ValueError(f"{poly.name} seed must be a nonzero {poly.order}-bit value, got {seed}")
    bits = np.empty(max(n, poly.order), dtype=np.uint8)
    bits[:poly.order] = [(state >> (poly.order - 1 - i)) & 1 for i in range(poly.order)]
    # The recurrence reaches back at least `tap` bits, so `tap` bits can be made in one slice.
    k, order, tap = poly.order, poly.order, poly.tap
    while k < n:
        m = min(tap, n - k)
        bits[k:k + m] = bits[k - order:k - order + m] ^ bits[k - tap:k - tap + m]
        k += m
    bits = bits[:n]
    if poly.inverted if inverted is None else inverted:
        bits = bits ^ 1
    return bits


def bits_for_zero_error(ber: float, confidence: float) -> float:
    """Bits to check with zero errors to claim BER < `ber` at `confidence`: -ln(1-CL)/BER."""
    _check_confidence(confidence)
    if not ber > 0:
        raise ValueError(f"target BER must be > 0, got {ber}")
    return -math.log1p(-confidence) / ber


def ber_upper_bound(bits: float, errors: int, confidence: float) -> float:
    """Upper confidence limit of the BER after `errors` in `bits`: chi2(CL, 2(E+1)) / (2N).

    chi2.ppf(CL, 2(E+1)) / 2 is the inverse regularized lower incomplete gamma function at
    (E+1, CL); it is computed that way. No bits checked bounds nothing: the result is 1.0.
    """
    _check_confidence(confidence)
    if errors < 0:
        raise ValueError(f"errors must be >= 0, got {errors}")
    if bits <= 0:
        return 1.0
    return min(1.0, float(gammaincinv(errors + 1, confidence)) / bits)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence is a fraction in (0, 1), e.g. 0.95, got {confidence}")


@dataclass(frozen=True)
class PrbsResult:
    """What a PRBS checker reports for one lane after one test."""

    lane: int
    pattern: str
    bits: float  # bits checked (a float: 1e13 does not fit a checker's 32-bit counter anyway)
    errors: int
    locked: bool  # False: the checker never locked or lost lock; the counts are not a BER
    ber_upper_bound: float
    confidence: float
    after_fec: bool = False  # errors counted after the FEC decoder rather than on the raw lane

    @property
    def ber_observed(self) -> float:
        """errors/bits: the point estimate (0 when nothing was checked)."""
        return self.errors / self.bits if self.bits > 0 else 0.0

    def passes(self, limit: float) -> bool:
        """True only if the checker stayed locked and the BER bound is below `limit`."""
        return self.locked and self.ber_upper_bound < limit
