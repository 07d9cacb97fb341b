"""BER confidence statistics and the PRBS patterns of ITU-T O.150."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chi2, poisson

from bringup.sim_devices.links.prbs import PRBS_POLYNOMIALS, PrbsResult, ber_upper_bound, bits_for_zero_error, prbs_sequence

bits_st = st.floats(min_value=1e6, max_value=1e16)
errors_st = st.integers(min_value=0, max_value=2000)
conf_st = st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999])


def test_zero_errors_need_3e12_bits_for_1e12_at_95_percent():
    bits = bits_for_zero_error(1e-12, 0.95)
    assert bits == pytest.approx(3.0e12, rel=2e-3)
    # 94 s of one lane at 32 GT/s, as PHYSICS.md says
    assert bits / 32e9 == pytest.approx(94, abs=1)
    # and the bound after exactly that many clean bits is the target itself
    assert ber_upper_bound(bits, 0, 0.95) == pytest.approx(1e-12, rel=1e-9)


@given(bits_st, errors_st, conf_st)
def test_upper_bound_is_the_chi2_formula(bits, errors, conf):
    expected = chi2.ppf(conf, 2 * (errors + 1)) / (2 * bits)
    assert ber_upper_bound(bits, errors, conf) == pytest.approx(min(expected, 1.0), rel=1e-7)


@given(bits_st, errors_st, conf_st)
def test_upper_bound_is_the_exact_poisson_limit(bits, errors, conf):
    # The BER at the bound would show `errors` or fewer only (1 - CL) of the time.
    bound = ber_upper_bound(bits, errors, conf)
    assert poisson.cdf(errors, bound * bits) == pytest.approx(1 - conf, rel=1e-6)


@given(bits_st, errors_st, conf_st)
def test_bound_is_at_least_the_observed_ratio(bits, errors, conf):
    assert ber_upper_bound(bits, errors, conf) >= errors / bits


@given(bits_st, errors_st, conf_st, st.floats(min_value=1.01, max_value=1e3))
def test_bound_falls_with_more_bits_and_rises_with_more_errors(bits, errors, conf, more):
    bound = ber_upper_bound(bits, errors, conf)
    assert ber_upper_bound(bits * more, errors, conf) < bound
    assert ber_upper_bound(bits, errors + 1, conf) > bound


def test_bad_arguments_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="confidence"):
        ber_upper_bound(1e12, 0, 95)
    with pytest.raises(ValueError, match="errors"):
        ber_upper_bound(1e12, -1, 0.95)
    with pytest.raises(ValueError, match="BER"):
        bits_for_zero_error(0.0, 0.95)
    assert ber_upper_bound(0, 0, 0.95) == 1.0  # nothing checked bounds nothing


def _prime_factors(n):
    out, p = set(), 2
    while p * p <= n:
        while n % p == 0:
            out.add(p)
            n //= p
        p += 1
    if n > 1:
        out.add(n)
    return out


@pytest.mark.parametrize("pattern", ["PRBS7", "PRBS15"])
def test_maximal_length_patterns_have_period_2n_minus_1(pattern):
    poly = PRBS_POLYNOMIALS[pattern]
    period = 2**poly.order - 1
    seq = prbs_sequence(pattern, 2 * period, inverted=False)
    assert np.array_equal(seq[:period], seq[period:])
    for q in _prime_factors(period):  # and no shorter period
        d = period // q
        assert not np.array_equal(seq[:period - d], seq[d:period])
    # an m-sequence holds 2^(n-1) ones and 2^(n-1)-1 zeros; its longest run of ones is n
    assert int(seq[:period].sum()) == 2 ** (poly.order - 1)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, seq[:period], 0])))[::2]
    assert runs.max() == poly.order


@pytest.mark.parametrize("pattern,order,tap", [("PRBS23", 23, 18), ("PRBS31", 31, 28)])
def test_long_patterns_obey_their_o150_polynomial(pattern, order, tap):
    b = prbs_sequence(pattern, 20_000, inverted=False).astype(int)
    k = np.arange(order, len(b))
    assert np.array_equal(b[k], b[k - order] ^ b[k - tap])  # x^order + x^tap + 1
    # not the reciprocal polynomial (x^order + x^(order-tap) + 1): the taps matter
    assert not np.array_equal(b[k], b[k - order] ^ b[k - (order - tap)])
    assert 0.45 < b.mean() < 0.55


def test_o150_patterns_are_sent_inverted_and_seed_sets_the_start():
    raw = prbs_sequence("PRBS31", 64, inverted=False)
    assert np.array_equal(prbs_sequence("prbs31", 64), 1 - raw)  # any case; O.150 inverts
    assert np.array_equal(prbs_sequence("PRBS7", 64), prbs_sequence("PRBS7", 64, inverted=False))
    seeded = prbs_sequence("PRBS7", 7, seed=0b1000000)
    assert seeded.tolist() == [1, 0, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="nonzero"):
        prbs_sequence("PRBS7", 7, seed=0)
    with pytest.raises(ValueError, match="PRBS31"):
        prbs_sequence("PRBS9", 10)


def test_result_passes_only_when_locked_and_below_the_limit():
    good = PrbsResult(0, "PRBS31", 3.1e12, 0, True, ber_upper_bound(3.1e12, 0, 0.95), 0.95)
    assert good.passes(1e-12)
    assert not PrbsResult(0, "PRBS31", 3.1e12, 0, False, good.ber_upper_bound, 0.95).passes(1e-12)
    assert good.ber_observed == 0.0
    assert math.isclose(PrbsResult(0, "PRBS7", 1e9, 5, True, 1e-8, 0.95).ber_observed, 5e-9)
