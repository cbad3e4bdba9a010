"""The first logged metrics row equals statistics recomputed by hand from the same rollouts (sampled again with
the step's seed from the initial policy, which has not moved before step 0's rollouts): each named metric
lands in its own column, reduced over all rows of the step."""

import pytest
import torch

from interplay.train.curves import read_rows

from . import make_world, records, rl_config

pytest.importorskip("interplay.data.verify", reason="rewards need interplay.data.verify (data-verify)")


def test_first_row_matches_an_independent_recompute(tmp_path):
    from transformers import AutoModelForCausalLM

    from interplay import compute
    from interplay.data.tokenizers import load_tokenizer
    from interplay.sampling import sample
    from interplay.train.grpo import PromptMixture
    from interplay.train.rewards import reward
    from interplay.train.rl_config import load_rl_config, sources
    from interplay.train.run_rl import run_rl

    init = make_world(tmp_path / "w", {"easy": records(2, 1, 24) + records(3, 1, 24)})
    cfg = load_rl_config(rl_config(init, tmp_path / "w/easy.jsonl", steps=1, max_new_tokens=12, seed=3))
    run_rl(cfg, tmp_path / "run")
    (row,) = read_rows(tmp_path / "run")

    tok = load_tokenizer(cfg.init)
    policy = AutoModelForCausalLM.from_pretrained(cfg.init, dtype=torch.float32).eval()
    recs = PromptMixture(sources(cfg), tok, seed=cfg.seed, max_prompt_tokens=cfg.max_prompt_tokens).draw(
        0, cfg.prompts_per_step)
    s = sample(policy, tok, [r["prompt"] for r in recs], cfg.group_size, temperature=cfg.temperature,
               top_p=cfg.top_p, top_k=cfg.top_k, max_new_tokens=cfg.max_new_tokens, stop=tuple(cfg.stop),
               seed=cfg.seed * 1_000_003, batch_size=cfg.sample_batch_size, prompt_keys=range(cfg.prompts_per_step))
    outs = [reward(cfg.reward.name, t, recs[int(p)]) for t, p in zip(s.texts, s.prompt_index)]
    scores = torch.tensor([o.score for o in outs], dtype=torch.float64).view(cfg.prompts_per_step, cfg.group_size)
    lengths = s.completion_mask.sum(-1).double()
    tokens = sum(len(p) for p in s.prompt_ids) * cfg.group_size + float(lengths.sum())
    expected = {
        "reward": scores.mean(), "reward_std": scores.std(dim=1).mean(),
        "frac_reward_zero_std": (scores.amax(1) == scores.amin(1)).double().mean(),
        "completions/mean_length": lengths.mean(), "completions/clipped_ratio": (~s.finished).double().mean(),
        "acc_answer": sum(o.answer_correct for o in outs) / len(outs),
        "acc_strict": sum(o.verified for o in outs) / len(outs),
        "rewards/outcome/mean": sum(o.components["outcome"] for o in outs) / len(outs),
        "token_equivalents": compute.rl_token_factor(1 if cfg.kl_coef else 0) * tokens}
    assert 0 < float(lengths.mean()) < cfg.max_new_tokens  # a test that can fail: not all empty or all clipped
    for k, v in expected.items():
        assert float(row[k]) == pytest.approx(float(v), rel=1e-6, abs=1e-9), k
    assert row["step"] == 1 and float(row["grad_norm"]) >= 0 and float(row["entropy"]) > 0
