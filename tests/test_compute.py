"""Compute accounting: Eq. 1-2 and paper Table 3, exactly."""

import pytest

from interplay.compute import rl_token_equivalents, split_budget, table3, train_flops

# Paper Table 3: (mid-only steps, RL-only steps, RL-only samples k, 80/20, 50/50, 20/80 as (mid, rl)).
TABLE3 = [
    (2000, 50, 51.2, (1600, 10), (1000, 25), (400, 40)),
    (4000, 100, 102.4, (3200, 20), (2000, 50), (800, 80)),
    (8000, 200, 204.8, (6400, 40), (4000, 100), (1600, 160)),
    (16000, 400, 409.6, (12800, 80), (8000, 200), (3200, 320)),
    (24000, 600, 614.4, (19200, 120), (12000, 300), (4800, 480)),
    (32000, 800, 819.2, (25600, 160), (16000, 400), (6400, 640)),
    (38147, 954, 976.6, (30517, 191), (19073, 477), (7629, 763)),
]


@pytest.mark.parametrize("row,expected", list(zip(table3(), TABLE3)))
def test_table3_matches_paper(row, expected):
    mid_only, rl_only, rl_k, s80, s50, s20 = expected
    by_beta = {s.beta: s for s in row["splits"]}
    assert by_beta[0.0].mid_steps == mid_only and by_beta[0.0].rl_steps == 0
    assert by_beta[1.0].rl_steps == rl_only and by_beta[1.0].mid_steps == 0
    assert round(by_beta[1.0].rl_samples / 1000, 1) == rl_k
    assert (by_beta[0.2].mid_steps, by_beta[0.2].rl_steps) == s80
    assert (by_beta[0.5].mid_steps, by_beta[0.5].rl_steps) == s50
    assert (by_beta[0.8].mid_steps, by_beta[0.8].rl_steps) == s20


def test_eq1_token_equivalents():
    # 100 RL steps x 1024 prompts = 2.097B token-equivalents (paper §5 Eq. 1; Table 3's 2.10B row).
    assert rl_token_equivalents(102_400) == pytest.approx(5 / 3 * 102_400 * 6 * 2048)
    assert rl_token_equivalents(102_400) / 1e9 == pytest.approx(2.097, abs=1e-3)
    assert rl_token_equivalents(10, gamma=0) == pytest.approx(4 / 3 * 10 * 6 * 2048)
    assert train_flops(1000, 10) == 60_000


def test_split_rejects_bad_beta():
    with pytest.raises(ValueError, match="beta"):
        split_budget(1e9, 1.5)
