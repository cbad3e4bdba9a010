"""GRPO on 2 DDP processes (rank-local groups) matches 1 process over a few steps.

Equal by construction up to floating-point summation order, when the two runs do the same arithmetic: each
prompt samples from its own stream (keyed by its index in the step, not by rank), the loss is normalized by the
mini-batch's token count over all ranks, and here the 1-process run samples in batches of one rank's rows
(`sample_batch_size`) and takes one mini-batch per step (with several, the mini-batches are rank-local slices,
a different — equally valid — partition per device count). What differs is the order in which the micro-batch
gradients are summed (DDP all-reduce vs one accumulation): about 1e-7 relative in a step's gradient, which
Adam turns into weight differences of ~1e-5 after 3 steps (it divides by the root of tiny second moments). So
the tolerance is 1e-5 relative on the per-step metrics and 5e-5 absolute on the final weights (which move by
~3e-3); a sampled token that differed, or a loss normalized per rank, breaks it by far more.
"""

import pytest
import torch

from interplay.train.curves import read_rows

from . import make_world, records, rl_config

pytest.importorskip("interplay.data.verify", reason="rewards need interplay.data.verify (data-verify)")

COMPARED = ("reward", "reward_std", "completions/mean_length", "kl", "entropy", "clip_ratio", "loss", "grad_norm",
            "token_equivalents", "acc_answer")


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    from safetensors.torch import load_file

    from interplay.train.run_rl import run_rl

    # op-2 problems warm-started to reward ≈ 0.5, so that advantages (and updates) are not all zero
    init = make_world(tmp_path / "w", {"easy": records(2, 1, 32)}, train=records(2, 0, 600), warm_steps=300)
    kw = dict(steps=3, prompts_per_step=4, group_size=4, mini_batches=1, micro_batch_samples=4,
              sample_batch_size=8, max_new_tokens=64, lr=1e-3, kl_coef=1e-2, ckpt_every_steps=100)
    one = run_rl(rl_config(init, tmp_path / "w/easy.jsonl", devices=1, **kw), tmp_path / "one")
    two = run_rl(rl_config(init, tmp_path / "w/easy.jsonl", devices=2, **kw), tmp_path / "two")
    assert one["steps"] == two["steps"] == 3
    r1, r2 = read_rows(tmp_path / "one"), read_rows(tmp_path / "two")
    assert any(float(r["grad_norm"]) > 0 for r in r1)  # the runs did learn something
    for a, b in zip(r1, r2):
        for k in COMPARED:
            assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-5, abs=1e-7), (a["step"], k)
    w1, w2 = load_file(tmp_path / "one/model/model.safetensors"), load_file(tmp_path / "two/model/model.safetensors")
    init_w = load_file(init / "model.safetensors")
    assert max(float((w1[k] - init_w[k]).abs().max()) for k in w1) > 1e-4  # weights moved ...
    for k in w1:  # ... the same way in both runs
        torch.testing.assert_close(w1[k], w2[k], rtol=0, atol=5e-5)
