"""GRPO numerics against hand-computed values (verl semantics)."""

import math

import pytest
import torch

from interplay.train.grpo_loss import (LossConfig, agg_loss, clipped_surrogate, entropy_from_logits,
                                       group_advantages, grpo_loss, k3_kl, token_logprobs)


def test_group_advantages_unbiased_std_and_zero_variance():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5])
    idx = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    adv, frac = group_advantages(r, idx)
    std = math.sqrt(4 * 0.25 / 3)  # Bessel-corrected: sqrt(1/3)
    a = 0.5 / (std + 1e-6)
    assert torch.allclose(adv, torch.tensor([a, -a, -a, a, 0, 0, 0, 0]), atol=1e-6)
    assert frac == 0.5


def test_zero_variance_is_exactly_zero_even_with_float_noise():
    adv, frac = group_advantages(torch.tensor([0.1, 0.1, 0.1]), torch.tensor([0, 0, 0]))
    assert torch.equal(adv, torch.zeros(3)) and frac == 1.0


def test_dr_grpo_skips_std_and_singleton_group_follows_verl():
    r = torch.tensor([1.0, 0.0, 0.0, 0.7])
    idx = torch.tensor([3, 3, 3, 9])  # prompt 9 has one sample: verl mean 0, std 1
    adv, frac = group_advantages(r, idx, norm_by_std=False)
    assert torch.allclose(adv, torch.tensor([2 / 3, -1 / 3, -1 / 3, 0.7]), atol=1e-6)
    adv, _ = group_advantages(r, idx)
    assert adv[3].item() == pytest.approx(0.7 / (1 + 1e-6), abs=1e-7)
    assert frac == 0.0


def test_groups_by_index_not_position():
    r = torch.tensor([1.0, 5.0, 0.0, 5.0])
    adv, frac = group_advantages(r, torch.tensor([0, 1, 0, 1]))
    assert adv[1] == 0 and adv[3] == 0 and adv[0] > 0 > adv[2] and frac == 0.5


def verl_grpo_advantage(scores, index, epsilon=1e-6, norm_adv_by_std_in_grpo=True):
    """verl 0.5 `compute_grpo_outcome_advantage` on per-sample scores (its loop, transcribed)."""
    scores = scores.clone()
    id2score = {}
    for i in range(scores.shape[0]):
        id2score.setdefault(int(index[i]), []).append(scores[i])
    id2mean, id2std = {}, {}
    for idx, vals in id2score.items():
        if len(vals) == 1:
            id2mean[idx], id2std[idx] = torch.tensor(0.0), torch.tensor(1.0)
        else:
            t = torch.stack(vals)
            id2mean[idx], id2std[idx] = torch.mean(t), torch.std(t)
    for i in range(scores.shape[0]):
        k = int(index[i])
        if norm_adv_by_std_in_grpo:
            scores[i] = (scores[i] - id2mean[k]) / (id2std[k] + epsilon)
        else:
            scores[i] = scores[i] - id2mean[k]
    return scores


@pytest.mark.parametrize("norm_by_std", [True, False])
@pytest.mark.parametrize("group", [1, 2, 6, 16, 64])
def test_bit_equal_to_verl_on_non_constant_groups(group, norm_by_std):
    gen = torch.Generator().manual_seed(group)
    n_groups = 7
    levels = torch.tensor([0.0, 0.2, 0.28, 0.52, 0.9, 1.0])  # mix/gated-style reward values
    r = levels[torch.randint(0, len(levels), (n_groups * group,), generator=gen)]
    r[::group] = torch.rand(n_groups, generator=gen)
    if group > 1:
        r[1::group] = r[::group] + 0.5  # every group of size > 1 is non-constant
    perm = torch.randperm(n_groups * group, generator=gen)  # groups interleaved, ids not in order
    r, idx = r[perm], (torch.arange(n_groups).repeat_interleave(group) * 10 + 3)[perm]
    adv, frac = group_advantages(r, idx, norm_by_std=norm_by_std)
    assert torch.equal(adv, verl_grpo_advantage(r, idx, norm_adv_by_std_in_grpo=norm_by_std))
    assert frac == 0.0


def test_constant_group_is_exactly_zero_for_any_reward():
    adv, frac = group_advantages(torch.full((3,), 0.9), torch.zeros(3, dtype=torch.long))
    assert torch.equal(adv, torch.zeros(3)) and frac == 1.0
    assert verl_grpo_advantage(torch.full((3,), 0.9), torch.zeros(3)).abs().min() > 0.05  # what verl gives
    for v in torch.linspace(0, 1, 101):  # every value, G = 6 and 16, with and without std
        for g in (6, 16):
            for norm in (True, False):
                adv, frac = group_advantages(torch.full((g,), float(v)), torch.zeros(g, dtype=torch.long),
                                             norm_by_std=norm)
                assert torch.equal(adv, torch.zeros(g)) and frac == 1.0


def test_clipped_surrogate_hand_values():
    ratio = torch.tensor([[1.5, 1.5, 0.5, 0.5, 4.0]])
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0, -1.0]])
    loss, clipped = clipped_surrogate(ratio.log(), torch.zeros_like(ratio), adv)
    # A>0, r=1.5: max(-1.5, -1.2) = -1.2 (clipped); A<0, r=1.5: max(1.5, 1.2) = 1.5;
    # A>0, r=.5: max(-.5, -.8) = -.5; A<0, r=.5: max(.5, .8) = .8 (clipped); A<0, r=4: min(max(4, 1.2), 3) = 3
    assert torch.allclose(loss, torch.tensor([[-1.2, 1.5, -0.5, 0.8, 3.0]]), atol=1e-6)
    assert clipped.tolist() == [[True, False, False, True, False]]
    loss, _ = clipped_surrogate(ratio.log(), torch.zeros_like(ratio), adv, clip_ratio_c=None)
    assert loss[0, 4].item() == pytest.approx(4.0, rel=1e-6)


def test_asymmetric_clip():
    lp = torch.tensor([[math.log(1.25)]])
    l_sym, c_sym = clipped_surrogate(lp, torch.zeros_like(lp), torch.tensor([1.0]))
    l_hi, c_hi = clipped_surrogate(lp, torch.zeros_like(lp), torch.tensor([1.0]), clip_high=0.28)
    assert l_sym.item() == pytest.approx(-1.2) and c_sym.item()
    assert l_hi.item() == pytest.approx(-1.25) and not c_hi.item()


def test_k3_kl_values_and_clamps():
    kl = k3_kl(torch.tensor([math.log(0.5), -1.0]), torch.tensor([math.log(0.25), -1.0]))
    assert kl[0].item() == pytest.approx(0.5 + math.log(2) - 1, abs=1e-6)  # 0.193147
    assert kl[1].item() == 0.0
    big = k3_kl(torch.tensor([0.0, 0.0]), torch.tensor([30.0, -30.0]))
    assert big.tolist() == [10.0, 10.0]  # log-ratio clamped to ±20, then kl to 10 (−30 → 19 → 10)
    mid = k3_kl(torch.tensor([0.0]), torch.tensor([-5.0]))
    assert mid.item() == pytest.approx(math.exp(-5) + 5 - 1, rel=1e-6)


LOSS = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 0.0, 0.0]])
MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)


def test_three_aggregations_differ_on_ragged_masks():
    tm = agg_loss(LOSS, MASK, "token-mean").item()
    sm = agg_loss(LOSS, MASK, "seq-mean-token-mean").item()
    sn = agg_loss(LOSS, MASK, "seq-mean-token-sum-norm").item()
    assert tm == pytest.approx(21 / 6)  # all tokens equal weight
    assert sm == pytest.approx((10 / 4 + 11 / 2) / 2)  # = 4.0, each sequence equal weight
    assert sn == pytest.approx(21 / 4)  # Σ tokens / padded response length
    assert agg_loss(LOSS, MASK, "seq-mean-token-sum-norm", norm_len=8).item() == pytest.approx(21 / 8)
    assert len({tm, sm, sn}) == 3
    with pytest.raises(ValueError):
        agg_loss(LOSS, MASK, "seq-mean-token-sum")


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_micro_batches_add_up_to_the_mini_batch(mode):
    full = agg_loss(LOSS, MASK, mode, norm_len=4)
    kw = dict(norm_len=4, n_tokens=float(MASK.sum()), n_seqs=2.0)
    parts = agg_loss(LOSS[:1], MASK[:1], mode, **kw) + agg_loss(LOSS[1:], MASK[1:], mode, **kw)
    assert parts.item() == pytest.approx(full.item())


def test_grpo_loss_combines_pg_and_kl():
    logp = torch.tensor([[math.log(0.5), math.log(0.5)]], requires_grad=True)
    old = torch.tensor([[math.log(0.5), math.log(0.5)]])
    ref = torch.tensor([[math.log(0.25), math.log(0.5)]])
    mask = torch.tensor([[True, True]])
    loss, st = grpo_loss(logp, old, ref, torch.tensor([2.0]), mask, LossConfig())
    kl = (0.5 + math.log(2) - 1) / 2
    assert loss.item() == pytest.approx(-2.0 + 1e-3 * kl, abs=1e-7)
    assert st["kl"].item() == pytest.approx(kl, abs=1e-7) and st["clip_ratio"].item() == 0.0


def test_zero_advantage_at_the_reference_has_zero_gradient():
    logp = torch.randn(3, 5, requires_grad=True)
    loss, _ = grpo_loss(logp, logp.detach(), logp.detach(), torch.zeros(3), torch.ones(3, 5, dtype=torch.bool),
                        LossConfig())
    loss.backward()
    assert torch.count_nonzero(logp.grad) == 0


def test_logprobs_at_temperature_and_entropy():
    logits = torch.tensor([[[2.0, 0.0]]])
    lp = token_logprobs(logits, torch.tensor([[0]]), temperature=2.0)
    assert lp.item() == pytest.approx(math.log(math.e / (math.e + 1)))
    ent = entropy_from_logits(torch.zeros(1, 1, 7))
    assert ent.item() == pytest.approx(math.log(7))
