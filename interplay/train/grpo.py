"""GRPO as a Lightning module with manual optimization (the verl recipe the authors used: their
repository's `verl/`, paper App. A.3.3).

One training_step = one rollout step: B prompts (this rank's share; all G samples of a prompt stay on one
rank, so group statistics need no communication), G samples each from the shared sampler at T, rewards,
group advantages, reference log-probs from a frozen copy of the initial policy, then B / mini_batch
optimizer steps (ppo_epochs passes), each accumulated over micro-batches. The loader yields step numbers
starting at the restored step, so a resumed run draws the same prompts and sampler seeds. Every step's metrics
(`METRIC_COLUMNS`) go to the trainer's logger (DVCLive: interplay.train.tracking) at the rollout step.
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from interplay import compute
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
    def __init__(self, cfg, policy, tokenizer, mixture: PromptMixture):
        super().__init__()
        self.automatic_optimization = False
        self.cfg = cfg
        self.policy = policy.train()  # from_pretrained returns eval mode
        self.tokenizer = tokenizer
        self.mixture = mixture
        # The frozen reference is not a submodule: it stays out of DDP, the optimizer and checkpoints
        # (a resumed run rebuilds it from `init`).
        ref = None
        self.loss_cfg = loss_config(cfg)
        if cfg.kl_coef != 0.0:
            ref = copy.deepcopy(policy).eval().requires_grad_(False)
        self.__dict__["ref"] = ref
        self.gamma = 1 if ref is not None else 0
        self.rl_step = 0
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
            "rl_step": self.rl_step, "cum_tokens": self.cum_tokens,
            "rng": {"torch": torch.get_rng_state(), "numpy": _np_state_plain(), "python": random.getstate()}}

    def on_load_checkpoint(self, checkpoint):
        st = checkpoint["interplay_rl"]
        self.rl_step, self.cum_tokens = st["rl_step"], st["cum_tokens"]
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
        step = int(step)
        t0 = time.perf_counter()
        ro = self._rollout(step)
        sc = self._score(ro)
        ref_logp = self._reference_logprobs(ro)
        upd = self._update(ro, sc.advantages, ref_logp)
        local = self._local_sums(ro, sc, upd)  # built in one fixed key order: the same on every rank
        totals = dict(zip(local, self._reduce_sum(list(local.values()))))  # one all-reduce for all metrics
        self.cum_tokens += compute.rl_token_factor(self.gamma) * totals["step_tokens"]
        elapsed = time.perf_counter() - t0
        self.rl_step = step + 1
        row = self._metrics(totals, elapsed)
        metrics = {k: v for k, v in row.items() if k != "step"}
        # callback_metrics for the divergence guard; the logger gets the row at its rollout step
        self.log_dict(metrics, on_step=True, prog_bar=False, logger=False, rank_zero_only=True)
        if self.logger is not None:
            self.logger.log_step(metrics, step=self.rl_step)

    def _rollout(self, step: int) -> "_Rollout":
        """This rank's prompts of `step` and G samples of each (log-probs at T from the sampler; eval mode, no grad)."""
        from interplay.sampling import sample

        c = self.cfg
        world, rank = self.trainer.world_size, self.global_rank
        per_rank = c.prompts_per_step // world
        recs = self.mixture.draw(step, c.prompts_per_step)[rank * per_rank:(rank + 1) * per_rank]
        self.policy.eval()
        # each prompt samples from its own stream keyed by its index in the step: the rollouts of a prompt do not
        # depend on the rank (or the device count) that draws them
        s = sample(self.policy, self.tokenizer, [r["prompt"] for r in recs], c.group_size, temperature=c.temperature,
                   top_p=c.top_p, top_k=c.top_k, max_new_tokens=c.max_new_tokens, stop=tuple(c.stop),
                   seed=c.seed * 1_000_003 + step, batch_size=c.sample_batch_size,
                   prompt_keys=range(rank * per_rank, (rank + 1) * per_rank))
        self.policy.train()
        pidx = s.prompt_index.cpu()
        finished = s.finished.cpu()
        mask = s.completion_mask.cpu().clone()
        lengths = mask.sum(-1).tolist()
        if c.truncated == "mask":
            mask &= finished[:, None]
        return _Rollout(recs=recs, texts=s.texts, prompt_index=pidx, prompt_ids=[s.prompt_ids[int(j)] for j in pidx],
                        completion_ids=s.completion_ids.cpu(), mask=mask, lengths=lengths,
                        old_logp=s.logprobs.cpu().float(), finished=finished)

    def _score(self, ro: "_Rollout") -> "_Scores":
        """Rewards of each sample and group advantages (groups are rank-local: no communication)."""
        c = self.cfg
        outs = [reward(c.reward.name, ro.texts[i], ro.recs[int(ro.prompt_index[i])], alpha=c.reward.alpha,
                       strict_zero=c.reward.strict_zero, verify_mode=c.reward.verify_mode) for i in range(ro.n)]
        rewards = torch.tensor([o.score for o in outs])
        adv, frac_zero = group_advantages(rewards, ro.prompt_index, norm_by_std=c.norm_by_std, eps=c.adv_eps)
        return _Scores(outs=outs, rewards=rewards, advantages=adv, frac_zero_std=frac_zero)

    def _reference_logprobs(self, ro: "_Rollout") -> torch.Tensor | None:
        """Log-probs of the frozen initial policy (None without a KL term), by micro-batches."""
        if self.ref is None:
            return None
        mb_size = self.cfg.micro_batch_samples
        with torch.no_grad():
            ref_logp = torch.zeros_like(ro.old_logp)
            for a in range(0, ro.n, mb_size):
                b = min(a + mb_size, ro.n)
                tm = max(max(ro.lengths[a:b]), 1)
                lp, _ = self._logprobs(self.ref, ro.prompt_ids[a:b], ro.completion_ids[a:b, :tm], ro.lengths[a:b])
                ref_logp[a:b, :tm] = lp.cpu()
        return ref_logp

    def _update(self, ro: "_Rollout", adv: torch.Tensor, ref_logp: torch.Tensor | None) -> dict[str, float]:
        """PPO-style updates: B / mini_batch optimizer steps per epoch, each accumulated over micro-batches.

        Returns this rank's sums for the metrics: loss, token-weighted kl / clip_ratio / entropy, update tokens
        (`tok`), the mean grad norm and the largest sampler-vs-recompute log-prob gap before the first step.
        """
        c, world = self.cfg, self.trainer.world_size
        n, mask, lengths, comp, old_logp = ro.n, ro.mask, ro.lengths, ro.completion_ids, ro.old_logp
        mb_size = c.micro_batch_samples
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
                    logp, ent = self._logprobs(self.policy, ro.prompt_ids[a:b], comp[a:b, :tm], lengths[a:b],
                                               entropy=True)
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
        sums["loss"] = sums["loss"] / max(n_mb * c.ppo_epochs, 1)  # mean over optimizer steps
        sums["grad_norm"] = float(np.mean(grad_norms))
        sums["old_logprob_abs_diff"] = 0.0 if old_diff != old_diff else old_diff
        return sums

    def _local_sums(self, ro: "_Rollout", sc: "_Scores", upd: dict[str, float]) -> dict[str, float]:
        """This rank's additive statistics (summed over ranks by the caller); per-sample means are weighted by n."""
        n, outs, rewards, pidx = ro.n, sc.outs, sc.rewards, ro.prompt_index
        groups = pidx.unique()
        g_std = [rewards[pidx == g].std().item() if int((pidx == g).sum()) > 1 else 0.0 for g in groups]
        sums = {
            "reward": float(rewards.sum()), "samples": float(n), "reward_std": float(sum(g_std)),
            "groups": float(len(groups)), "groups_zero_std": sc.frac_zero_std * len(groups),
            "completion_tokens": float(sum(ro.lengths)), "clipped": float((~ro.finished).sum()),
            "kl": upd["kl"], "entropy": upd["entropy"], "clip_ratio": upd["clip_ratio"],
            "acc_strict": float(sum(o.verified for o in outs)), "acc_answer": float(sum(o.answer_correct for o in outs)),
            "step_tokens": float(sum(len(p) for p in ro.prompt_ids) + sum(ro.lengths)),
            "outcome": float(sum(o.components["outcome"] for o in outs)),
            "process": float(sum(o.components["process"] for o in outs)),
            "loss": upd["loss"] * n, "grad_norm": upd["grad_norm"] * n,
            "old_logprob_abs_diff": upd["old_logprob_abs_diff"], "update_tokens": upd["tok"]}
        return sums

    def _metrics(self, tot: dict[str, float], elapsed: float) -> dict:
        """One step's metrics (`METRIC_COLUMNS`) from the sums over all ranks (TRL names, contracts §8)."""
        c = self.cfg
        n, groups = max(tot["samples"], 1.0), max(tot["groups"], 1)
        upd = max(tot["update_tokens"], 1.0)  # kl, entropy, clip_ratio: means over all ranks' tokens
        return {"step": self.rl_step, "reward": tot["reward"] / n, "reward_std": tot["reward_std"] / groups,
                "frac_reward_zero_std": tot["groups_zero_std"] / groups,
                "completions/mean_length": tot["completion_tokens"] / n, "completions/clipped_ratio": tot["clipped"] / n,
                "kl": tot["kl"] / upd, "entropy": tot["entropy"] / upd, "clip_ratio": tot["clip_ratio"] / upd,
                "acc_strict": tot["acc_strict"] / n, "acc_answer": tot["acc_answer"] / n,
                "tokens_per_s": tot["step_tokens"] / max(elapsed, 1e-9), "token_equivalents": self.cum_tokens,
                "rewards/outcome/mean": tot["outcome"] / n, "rewards/process/mean": tot["process"] / n,
                "loss": tot["loss"] / n, "grad_norm": tot["grad_norm"] / n,
                "old_logprob_abs_diff": tot["old_logprob_abs_diff"] / max(self.trainer.world_size, 1),
                "token_equivalents_nominal": compute.rl_token_equivalents(
                    self.rl_step * c.prompts_per_step, c.group_size, c.max_prompt_tokens + c.max_new_tokens,
                    self.gamma),
                "step_time": elapsed}


@dataclass
class _Rollout:
    """One rank's samples of a step: row i is a completion of prompt `prompt_index[i]` (of `recs`)."""

    recs: list[dict]
    texts: list[str]
    prompt_index: torch.Tensor
    prompt_ids: list[list[int]]  # per row
    completion_ids: torch.Tensor
    mask: torch.Tensor  # loss mask (truncated completions dropped when truncated == "mask")
    lengths: list[int]  # completion lengths
    old_logp: torch.Tensor  # sampler log-probs at T
    finished: torch.Tensor

    @property
    def n(self) -> int:
        return self.completion_ids.shape[0]


@dataclass
class _Scores:
    outs: list  # RewardOutput per row
    rewards: torch.Tensor
    advantages: torch.Tensor
    frac_zero_std: float


def _np_state_plain():
    """NumPy's global RNG state as plain Python types (checkpoints load with weights_only=True)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]

