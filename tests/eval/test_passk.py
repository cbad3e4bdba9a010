"""pass@k estimator: product form vs comb form vs brute-force enumeration; edge cases; curves; bootstrap."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import interplay.eval as ev
from interplay.eval.passk import (bootstrap_ci, default_ks, pass_at_k, pass_at_k_array, pass_at_k_curve,
                                  pass_at_k_table)


def comb_form(n, c, k):
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def brute_force(n, c, k):
    """Fraction of k-subsets of n samples (first c correct) that contain a correct sample."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@st.composite
def nck(draw, nmax=200):
    n = draw(st.integers(1, nmax))
    return n, draw(st.integers(0, n)), draw(st.integers(1, n))


@given(nck())
@settings(max_examples=300, deadline=None)
def test_matches_comb_form(x):
    n, c, k = x
    assert pass_at_k(n, c, k) == pytest.approx(comb_form(n, c, k), abs=1e-12)


@given(nck(nmax=9))
@settings(max_examples=150, deadline=None)
def test_matches_brute_force(x):
    n, c, k = x
    assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


@given(st.lists(st.integers(0, 128), min_size=1, max_size=30), st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]))
@settings(max_examples=100, deadline=None)
def test_vectorized_matches_scalar(cs, k):
    got = pass_at_k_array(128, cs, k)
    want = [pass_at_k(128, c, k) for c in cs]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_edge_cases():
    assert pass_at_k(128, 0, 1) == 0.0 and pass_at_k(128, 0, 128) == 0.0
    assert pass_at_k(128, 128, 1) == 1.0 and pass_at_k(5, 5, 3) == 1.0
    assert pass_at_k(128, 1, 128) == 1.0  # k = n: one correct sample is always drawn
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(128, 64, 1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not defined"):
        pass_at_k(4, 1, 8)
    with pytest.raises(ValueError, match="not defined"):
        pass_at_k_array([8, 4], [1, 1], 8)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 0)
    # large n: the product form stays finite where the comb ratio would need huge integers
    assert 0.0 < pass_at_k(100_000, 3, 10) < 1.0


def test_public_export():
    assert ev.pass_at_k is pass_at_k
    assert ev.pass_at_k(2, 1, 1) == 0.5


def test_default_ks_and_curve():
    assert default_ks(128) == [1, 2, 4, 8, 16, 32, 64, 128]
    assert default_ks(100) == [1, 2, 4, 8, 16, 32, 64, 100]
    assert default_ks(1) == [1]
    curve = pass_at_k_curve(8, [0, 4, 8])
    assert list(curve) == [1, 2, 4, 8]
    assert curve[1] == pytest.approx((0 + 0.5 + 1) / 3)
    assert curve[8] == pytest.approx(2 / 3)
    vals = list(curve.values())
    assert all(a <= b + 1e-12 for a, b in zip(vals, vals[1:]))  # monotone in k
    # ks above the smallest n are not reported
    assert list(pass_at_k_curve([4, 8], [1, 1], ks=[1, 4, 8])) == [1, 4]


def test_bootstrap_ci():
    x = np.r_[np.zeros(50), np.ones(50)]
    lo, hi = bootstrap_ci(x, seed=0)
    assert lo < 0.5 < hi and 0.35 < lo and hi < 0.65
    assert np.array_equal(bootstrap_ci(x, seed=3), bootstrap_ci(x, seed=3))
    lo, hi = bootstrap_ci(np.ones(10))
    assert lo == hi == 1.0
    both = bootstrap_ci(np.stack([x, np.ones(100)], 1))
    assert both.shape == (2, 2) and both[0, 1] == 1.0


def test_table_keys_and_ci_contains_mean():
    rng = np.random.default_rng(0)
    cs = rng.integers(0, 17, size=40)
    t = pass_at_k_table(16, cs, [1, 2, 4, 16, 32], seed=1)
    assert list(t["pass"]) == ["1", "2", "4", "16"]
    for k, p in t["pass"].items():
        lo, hi = t["ci"][k]
        assert lo <= p <= hi
        assert p == pytest.approx(float(np.mean([pass_at_k(16, c, int(k)) for c in cs])))
