"""GRPO as a Lightning module with manual optimization (the verl recipe the authors used: their
repository's `verl/`, paper App. A.3.3).

One training_step = one rollout step: B prompts (this rank's share; all G samples of a prompt stay on one
rank, so group statistics need no communication), G samples each from the shared sampler at T, rewards,
group advantages, reference log-probs from a frozen copy of the initial policy, then B / mini_batch
optimizer steps (ppo_epochs passes), each accumulated over micro-batches. The loader yields step numbers
starting at the restored step, so a resumed run draws the same prompts and sampler seeds.
"""

from __future__ import annotations

import copy
import csv
import io
import random
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from interplay import compute
from interplay.io import write_text
from interplay.train.grpo_loss import entropy_from_logits, group_advantages, grpo_loss
from interplay.train.rewards import reward
from interplay.train.rl_config import loss_config

_CONTEXT_TEMPLATES = {"zoo": "crazy_zootopia", "teachers": "teachers_in_school", "festival": "movie_festival_awards"}

METRIC_COLUMNS = ["step", "reward", "reward_std", "frac_reward_zero_std", "completions/mean_length",
                  "completions/clipped_ratio", "kl", "entropy", "clip_ratio", "acc_strict", "acc_answer",
                  "tokens_per_s", "token_equivalents", "rewards/outcome/mean", "rewards/process/mean",
                  "loss", "grad_norm", "old_logprob_abs_diff", "token_equivalents_nominal", "step_time"]


class PromptMixture:
    """Weighted mixture of record sources; within a source a record uniformly (or the op first, balance_ops).

    `draw(step)` is a pure function of (seed, step): the data position of a run is its step number.
    """

    def __init__(self, sources, tokenizer, *, seed: int, max_prompt_tokens: int, exclude_ids=frozenset()):
        from interplay.data.records import read_jsonl
        from interplay.data.render import prompt_text

        self.seed = seed
        self.buckets: list[dict[int, list[dict]]] = []
        self.balance = [bool(src.balance_ops) for src in sources]
        weights = []
        for src in sources:
            ctx = None if src.contexts is None else {_CONTEXT_TEMPLATES.get(c, c) for c in src.contexts}
            by_op: dict[int, list[dict]] = {}
            for rec in read_jsonl(src.path):
                if rec.get("id") in exclude_ids:
                    continue
                if src.ops is not None and int(rec["op"]) not in src.ops:
                    continue
                if ctx is not None and rec.get("template") not in ctx:
                    continue
                if src.modes is not None and rec.get("mode") not in src.modes:
                    continue
                rec = dict(rec, prompt=prompt_text(rec["problem"], rec["question"]))
                if len(tokenizer(rec["prompt"], add_special_tokens=False)["input_ids"]) > max_prompt_tokens:
                    continue  # verl filter_overlong_prompts
                by_op.setdefault(int(rec["op"]), []).append(rec)
            if not by_op:
                raise ValueError(f"RL source {src.path} has no records after filters (ops={src.ops}, "
                                 f"contexts={src.contexts}, modes={src.modes})")
            self.buckets.append(dict(sorted(by_op.items())))
            weights.append(float(src.weight))
        self.flat = [[r for recs in b.values() for r in recs] for b in self.buckets]
        w = np.asarray(weights)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("RL source weights must be non-negative with a positive sum")
        self.weights = w / w.sum()

    def draw(self, step: int, n: int) -> list[dict]:
        rng = np.random.default_rng([self.seed, step, 0x5EED])
        out = []
        for s in rng.choice(len(self.buckets), size=n, p=self.weights):
            if self.balance[s]:  # op uniform, then a record of that op
                ops = list(self.buckets[s])
                bucket = self.buckets[s][ops[rng.integers(len(ops))]]
            else:  # a record uniformly: the file's own op proportions
                bucket = self.flat[s]
            out.append(bucket[rng.integers(len(bucket))])
        return out


class _Steps(torch.utils.data.IterableDataset):
    """Yields rollout step numbers from the module's (restored) position on."""

    def __init__(self, module: "GRPOModule"):
        self.module = module

    def __iter__(self):
        return iter(range(self.module.rl_step, self.module.cfg.steps))


class GRPOModule(pl.LightningModule):
    def __init__(self, cfg, policy, tokenizer, mixture: PromptMixture, out_dir: str | Path | None = None):
        super().__init__()
        self.automatic_optimization = False
        self.cfg = cfg
        self.policy = policy.train()  # from_pretrained returns eval mode
        self.tokenizer = tokenizer
        self.mixture = mixture
        self.out_dir = None if out_dir is None else Path(out_dir)
        # The frozen reference is not a submodule: it stays out of DDP, the optimizer and checkpoints
        # (a resumed run rebuilds it from `init`).
        ref = None
        self.loss_cfg = loss_config(cfg)
        if cfg.kl_coef != 0.0:
            ref = copy.deepcopy(policy).eval().requires_grad_(False)
        self.__dict__["ref"] = ref
        self.gamma = 1 if ref is not None else 0
        self.rl_step = 0
        self.rows: list[dict] = []
        self.cum_tokens = 0.0
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    # ---- Lightning plumbing -------------------------------------------------------------------------
    def configure_optimizers(self):
        c = self.cfg
        return torch.optim.AdamW(self.policy.parameters(), lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(_Steps(self), batch_size=None, num_workers=0)

    def on_fit_start(self):
        if self.cfg.threads:  # in every rank (spawned DDP processes do not inherit the parent's setting)
            torch.set_num_threads(self.cfg.threads)
        if self.ref is not None:
            self.ref.to(self.device)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["interplay_rl"] = {
            "rl_step": self.rl_step, "rows": self.rows, "cum_tokens": self.cum_tokens,
            "rng": {"torch": torch.get_rng_state(), "numpy": _np_state_plain(), "python": random.getstate()}}

    def on_load_checkpoint(self, checkpoint):
        st = checkpoint["interplay_rl"]
        self.rl_step, self.rows, self.cum_tokens = st["rl_step"], st["rows"], st["cum_tokens"]
        torch.set_rng_state(st["rng"]["torch"])
        kind, keys, pos, has_gauss, gauss = st["rng"]["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        random.setstate(st["rng"]["python"])

    # ---- log-probs ----------------------------------------------------------------------------------
    def _logprobs(self, model, prompt_ids: list[list[int]], comp: torch.Tensor, lengths: list[int],
                  entropy: bool = False):
        """Log-probs (at the sampling temperature) of completion tokens given prompt + completion prefix.

        Rows are prompt ⊕ completion[:len], right-padded, so positions match an unpadded forward.
        """
        n, t = comp.shape
        rows = [p + comp[i, :lengths[i]].tolist() for i, p in enumerate(prompt_ids)]
        width = max(len(r) for r in rows)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
        # No attention mask: the padding is on the right and causal attention never lets a real position see
        # it, so the outputs read below are the same (bit for bit) and SDPA takes its faster causal path.
        h = model.model(input_ids=ids.to(self.device)).last_hidden_state
        # The hidden state at position p_len - 1 + j predicts completion token j; the LM head runs only there
        # (prompt positions need no logits).
        starts = torch.tensor([len(p) - 1 for p in prompt_ids], device=self.device)
        pos = (starts[:, None] + torch.arange(t, device=self.device)[None, :]).clamp(max=width - 1)
        h = h.gather(1, pos[..., None].expand(n, t, h.shape[-1]))
        sel = model.lm_head(h).float() / self.cfg.temperature
        logp_full = F.log_softmax(sel, dim=-1)
        logp = logp_full.gather(-1, comp.to(self.device)[..., None]).squeeze(-1)
        ent = None
        if entropy:
            with torch.no_grad():
                ent = entropy_from_logits(sel)
        return logp, ent

    # ---- one rollout step ---------------------------------------------------------------------------
    def _reduce_sum(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.trainer.world_size > 1:
            t = self.trainer.strategy.reduce(t, reduce_op="sum")
        return t.tolist()

    def training_step(self, step, batch_idx):
        from interplay.sampling import sample

        c = self.cfg
        step = int(step)
        t0 = time.perf_counter()
        world, rank = self.trainer.world_size, self.global_rank
        per_rank = c.prompts_per_step // world
        recs = self.mixture.draw(step, c.prompts_per_step)[rank * per_rank:(rank + 1) * per_rank]

        # 1. Rollouts (log-probs at T come from the sampler; eval mode, no grad).
        self.policy.eval()
        # each prompt samples from its own stream keyed by its index in the step: the rollouts of a prompt do not
        # depend on the rank (or the device count) that draws them
        s = sample(self.policy, self.tokenizer, [r["prompt"] for r in recs], c.group_size, temperature=c.temperature,
                   top_p=c.top_p, top_k=c.top_k, max_new_tokens=c.max_new_tokens, stop=tuple(c.stop),
                   seed=c.seed * 1_000_003 + step, batch_size=c.sample_batch_size,
                   prompt_keys=range(rank * per_rank, (rank + 1) * per_rank))
        self.policy.train()
        pidx = s.prompt_index.cpu()
        comp = s.completion_ids.cpu()
        mask = s.completion_mask.cpu().clone()
        old_logp = s.logprobs.cpu().float()
        lengths = mask.sum(-1).tolist()
        if c.truncated == "mask":
            mask &= s.finished.cpu()[:, None]
        n = comp.shape[0]

        # 2. Rewards and group advantages.
        outs = [reward(c.reward.name, s.texts[i], recs[int(pidx[i])], alpha=c.reward.alpha,
                       strict_zero=c.reward.strict_zero, verify_mode=c.reward.verify_mode) for i in range(n)]
        rewards = torch.tensor([o.score for o in outs])
        adv, frac_zero = group_advantages(rewards, pidx, norm_by_std=c.norm_by_std, eps=c.adv_eps)
        prompt_ids = [s.prompt_ids[int(j)] for j in pidx]

        # 3. Reference log-probs (frozen initial policy).
        mb_size = c.micro_batch_samples
        ref_logp = None
        if self.ref is not None:
            with torch.no_grad():
                ref_logp = torch.zeros_like(old_logp)
                for a in range(0, n, mb_size):
                    b = min(a + mb_size, n)
                    tm = max(max(lengths[a:b]), 1)
                    lp, _ = self._logprobs(self.ref, prompt_ids[a:b], comp[a:b, :tm], lengths[a:b])
                    ref_logp[a:b, :tm] = lp.cpu()

        # 4. PPO-style updates: B / mini_batch optimizer steps per epoch, each over micro-batches.
        opt = self.optimizers()
        n_mb = c.mini_batches
        rows_per_mb = n // n_mb
        sums = {"kl": 0.0, "clip_ratio": 0.0, "entropy": 0.0, "loss": 0.0, "tok": 0.0}
        grad_norms, old_diff = [], float("nan")
        # Each loss is normalized by its mini-batch's totals over all ranks and scaled by the world size, so that
        # DDP's gradient average equals the gradient of the whole (global) mini-batch's loss.
        totals = self._reduce_sum([float(mask[m * rows_per_mb:(m + 1) * rows_per_mb].sum()) for m in range(n_mb)]
                                  + [float(rows_per_mb)] * n_mb)
        for epoch in range(c.ppo_epochs):
            for m in range(n_mb):
                lo, hi = m * rows_per_mb, (m + 1) * rows_per_mb
                n_tokens, n_seqs = totals[m], totals[n_mb + m]
                opt.zero_grad()
                for a in range(lo, hi, mb_size):
                    b = min(a + mb_size, hi)
                    tm = max(max(lengths[a:b]), 1)  # this micro-batch's longest completion
                    mk = mask[a:b, :tm].to(self.device)
                    logp, ent = self._logprobs(self.policy, prompt_ids[a:b], comp[a:b, :tm], lengths[a:b], entropy=True)
                    old = old_logp[a:b, :tm].to(self.device)
                    if epoch == 0 and m == 0:  # policy has not moved yet: sampler log-probs must match a recompute
                        d = ((logp.detach() - old).abs() * mk).max().item() if mk.any() else 0.0
                        old_diff = d if old_diff != old_diff else max(old_diff, d)
                    loss, st = grpo_loss(logp, old, None if ref_logp is None else ref_logp[a:b, :tm].to(self.device),
                                         adv[a:b].to(self.device), mk, self.loss_cfg, n_tokens=n_tokens, n_seqs=n_seqs)
                    loss = loss * world
                    self.manual_backward(loss)
                    tok = float(mk.sum())
                    sums["tok"] += tok
                    sums["loss"] += float(loss.detach())
                    sums["clip_ratio"] += float(st["clip_ratio"]) * tok
                    sums["kl"] += float(st.get("kl", torch.tensor(0.0))) * tok
                    sums["entropy"] += float((ent * mk).sum())
                grads = [p.grad for p in self.policy.parameters() if p.grad is not None]
                gn = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item() if grads else 0.0
                grad_norms.append(gn)
                if np.isfinite(gn):  # verl skips the update on a non-finite grad norm
                    self.clip_gradients(opt, gradient_clip_val=c.grad_clip, gradient_clip_algorithm="norm")
                    opt.step()

        # 5. Metrics (summed over ranks), TRL names (contracts §8).
        groups = pidx.unique()
        g_std = [rewards[pidx == g].std().item() if int((pidx == g).sum()) > 1 else 0.0 for g in groups]
        step_tokens = float(sum(len(p) for p in prompt_ids) + sum(lengths))
        loc = [float(rewards.sum()), float(n), float(sum(g_std)), float(len(groups)), frac_zero * len(groups),
               float(sum(lengths)), float((~s.finished.cpu()).sum()), sums["kl"], sums["entropy"],
               sums["clip_ratio"], float(sum(o.verified for o in outs)),
               float(sum(o.answer_correct for o in outs)), step_tokens,
               float(sum(o.components["outcome"] for o in outs)), float(sum(o.components["process"] for o in outs)),
               sums["loss"] / max(n_mb * c.ppo_epochs, 1) * n, float(np.mean(grad_norms)) * n,
               0.0 if old_diff != old_diff else old_diff, sums["tok"]]
        tot = self._reduce_sum(loc)
        N, upd = max(tot[1], 1.0), max(tot[18], 1.0)  # kl, entropy, clip_ratio: means over all ranks' tokens
        self.cum_tokens += compute.rl_token_factor(self.gamma) * tot[12]
        elapsed = time.perf_counter() - t0
        self.rl_step = step + 1
        row = {"step": self.rl_step, "reward": tot[0] / N, "reward_std": tot[2] / max(tot[3], 1),
               "frac_reward_zero_std": tot[4] / max(tot[3], 1), "completions/mean_length": tot[5] / N,
               "completions/clipped_ratio": tot[6] / N, "kl": tot[7] / upd, "entropy": tot[8] / upd,
               "clip_ratio": tot[9] / upd, "acc_strict": tot[10] / N, "acc_answer": tot[11] / N,
               "tokens_per_s": tot[12] / max(elapsed, 1e-9), "token_equivalents": self.cum_tokens,
               "rewards/outcome/mean": tot[13] / N, "rewards/process/mean": tot[14] / N, "loss": tot[15] / N,
               "grad_norm": tot[16] / N, "old_logprob_abs_diff": tot[17] / max(world, 1),
               "token_equivalents_nominal": compute.rl_token_equivalents(
                   self.rl_step * c.prompts_per_step, c.group_size, c.max_prompt_tokens + c.max_new_tokens, self.gamma),
               "step_time": elapsed}
        self.rows.append(row)
        self.log_dict({k: v for k, v in row.items() if k != "step"}, on_step=True, prog_bar=False, rank_zero_only=True)
        if self.global_rank == 0 and self.out_dir is not None:
            write_rewards_csv(self.out_dir / "rewards.csv", self.rows)


def _np_state_plain():
    """NumPy's global RNG state as plain Python types (checkpoints load with weights_only=True)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]


def write_rewards_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in r.items()})
    write_text(path, buf.getvalue())
