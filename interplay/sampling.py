"""Batched autoregressive sampling from an HF Qwen2 model (shared by evaluation and GRPO rollouts).

Why not `model.generate()`: for the small models of this project the per-step Python overhead of HF's
generic path (mask building, cache objects, logits processors) dominates; this decoder runs the model's own
modules layer by layer over preallocated K/V tensors and is several times faster (benchmarks/sampling.py).

How a batch is run:
* the samples are prompt-major (`n` rows per prompt); each batch of at most `batch_size` rows prefills every
  distinct prompt it contains once, left-padded to the longest. Positions count from each prompt's first real
  token, so padding never shifts RoPE; an additive key mask hides the padding.
* the prompt's K/V are never copied to its rows: each row owns a cache for its generated tokens only, and
  decode attention reads the shared prompt block once per prompt for all its rows (attention over the cache
  is memory-bound, so this is the main speed-up over `generate()`, which repeats the prompt n times).
* rows that hit EOS or a stop sequence are dropped from the batch once a quarter of it is done (the row
  caches are compacted), so finished rows stop costing compute.
* sampling: logits / T, optional top-k / top-p, then inverse-CDF sampling with one uniform per row (exact,
  and far cheaper on CPU than a random number per vocabulary entry). The log-prob stored for each token is
  log_softmax(logits / T) (untruncated, as TRL/verl compute it); T = 0 is greedy and stores log_softmax(logits).
Randomness: sample j of a prompt draws its t-th token with the t-th uniform of its own stream, seeded by
(seed, the prompt's key), so which batch, call or worker process draws a sample never changes its random
numbers; the result is bitwise reproducible for the same seed, batch composition and device (other batch
compositions change only floating-point rounding of the logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class Samples:
    prompt_index: torch.LongTensor  # [N] which prompt each sample belongs to (grouped: prompt-major)
    prompt_ids: list[list[int]]  # per prompt
    completion_ids: torch.LongTensor  # [N, T] right-padded with pad_id
    completion_mask: torch.BoolTensor  # [N, T] True on generated tokens up to and incl. the stop/EOS token
    logprobs: torch.FloatTensor  # [N, T] log-prob of each sampled token at the sampling temperature (0 on pad)
    finished: torch.BoolTensor  # [N] stopped by EOS or stop string (False = truncated)
    texts: list[str]  # decoded completions (special tokens kept)

    @property
    def lengths(self) -> torch.LongTensor:
        return self.completion_mask.sum(1)


# ----------------------------------------------------------------------------------------------- helpers


def _special_id(tokenizer, attr: str, literal: str) -> int | None:
    tid = getattr(tokenizer, attr, None)
    if tid is None:
        tid = tokenizer.convert_tokens_to_ids(literal) if literal in tokenizer.get_vocab() else None
    return None if tid is None else int(tid)


def _stop_sequences(tokenizer, stop: Sequence[str] | str | None) -> list[list[int]]:
    """Each stop string as token ids: a single id when it is one token (e.g. `</answer>`), else a sequence."""
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = (stop,)
    seqs = []
    for s in stop:
        if not isinstance(s, str) or not s:
            raise ValueError(f"stop strings must be non-empty strings, got {s!r}")
        vocab = tokenizer.get_vocab()
        ids = [vocab[s]] if s in vocab else tokenizer.encode(s, add_special_tokens=False)
        if not ids:
            raise ValueError(f"stop string {s!r} encodes to no tokens")
        seqs.append([int(i) for i in ids])
    return seqs


def _filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Mask logits outside the top-k / nucleus (top-p) set with -inf (the most likely token always stays)."""
    if top_k and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = (cum - sorted_logits.softmax(-1)) >= top_p  # the tokens before this one already reach p
        drop[..., 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


# CPU flash attention that also returns the log-sum-exp (a private ATen op; None where this torch lacks it)
_FLASH_CPU = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)

_BLOCK = 64  # vocabulary block of the two-level inverse-CDF draw


def _draw(z: torch.Tensor, u: torch.Tensor, return_norm: bool = False):
    """One token per row from softmax(z) [B, V] by inverse-CDF sampling with the row's uniform u [B] in [0, 1)
    (drawing B×V numbers for a Gumbel/exponential race costs more than a small model's whole forward pass on
    CPU). Two levels (block masses, then within the chosen block) so the sequential cumsum runs over V/64 + 64
    entries instead of V."""
    B, V = z.shape
    zmax = z.amax(-1, keepdim=True)
    pad = (-V) % _BLOCK
    zp = F.pad(z, (0, pad), value=float("-inf")) if pad else z
    e = (zp - zmax).exp_().view(B, -1, _BLOCK)  # [B, nb, blk]
    mass = e.sum(-1)  # [B, nb]
    cmass = mass.cumsum(-1)
    total = cmass[:, -1:]
    u = u.to(e.dtype)[:, None] * total  # [B, 1]
    blk = torch.searchsorted(cmass, u, right=True).clamp_(max=cmass.shape[1] - 1)  # [B, 1]
    u = u - (cmass.gather(1, blk) - mass.gather(1, blk))  # remaining mass inside the block
    inner = e.gather(1, blk[:, :, None].expand(B, 1, _BLOCK))[:, 0].cumsum(-1)  # [B, blk]
    within = torch.searchsorted(inner, u, right=True).clamp_(max=_BLOCK - 1)
    nxt = (blk * _BLOCK + within)[:, 0].clamp_(max=V - 1)
    # float round-off can step onto a zero-probability (masked or padded) token; never emit one
    bad = torch.isinf(z.gather(1, nxt[:, None])[:, 0])
    if bool(bad.any()):
        nxt = torch.where(bad, z.argmax(-1), nxt)
    if return_norm:
        return nxt, total[:, 0].log(), zmax[:, 0]
    return nxt


@dataclass
class _Layout:
    """Which prompt (prefix-cache slot) each batch row decodes from; rows are sorted by slot."""

    slot: torch.Tensor  # [R] prompt slot of each row
    n_prompts: int  # U
    n_max: int  # most rows of one prompt
    grp: torch.Tensor  # [R] row's index in the padded [U * n_max] grouping
    prefix_bias: torch.Tensor  # [R, 1, 1, P0] additive mask over the prompt columns (left padding → -inf)
    prompt_bias: torch.Tensor  # [U, 1, 1, P0] the same per prompt
    dense: bool  # every prompt has exactly n_max rows, in order: the grouping is a plain reshape

    @staticmethod
    def build(slot: torch.Tensor, n_prompts: int, prefix_valid: torch.Tensor, dtype) -> "_Layout":
        counts = torch.bincount(slot, minlength=n_prompts)
        n_max = int(counts.max())
        starts = counts.cumsum(0) - counts
        rank = torch.arange(slot.numel(), device=slot.device) - starts[slot]
        bias = torch.zeros(prefix_valid.shape, dtype=dtype, device=slot.device).masked_fill_(~prefix_valid,
                                                                                            float("-inf"))
        grp = slot * n_max + rank
        dense = slot.numel() == n_prompts * n_max  # sorted rows with equal counts: grp is the identity
        return _Layout(slot, n_prompts, n_max, grp, bias.index_select(0, slot)[:, None, None], bias[:, None, None],
                       dense)


class _Decoder:
    """The HF Qwen2 forward pass, re-expressed over a preallocated cache [layers, 2, B, Hkv, S, D].

    Weights are read from the model's own modules at construction (so a model that GRPO has just updated is
    sampled as it is now), with q/k/v and gate/up fused into one matmul each to cut per-step kernel calls, and
    stored transposed ([in, out], contiguous): a plain x @ W runs 10-20 % faster than F.linear at these sizes.
    Decode attention on CPU uses the fused flash kernel twice (shared prompt block, own suffix) and merges the
    two by their log-sum-exp; elsewhere it runs the same math with matmuls and one softmax."""

    def __init__(self, model):
        cfg = model.config
        if getattr(cfg, "use_sliding_window", False) and getattr(cfg, "sliding_window", None):
            raise ValueError("sliding-window attention is not supported by interplay.sampling")
        self.model = model
        self.inner = model.model
        layers = list(self.inner.layers[: cfg.num_hidden_layers])
        attn = layers[0].self_attn
        self.head_dim = attn.head_dim
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.groups = self.n_heads // self.n_kv
        self.scaling = attn.scaling
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.n_layers = len(layers)
        self.layers = []
        for layer in layers:
            a, m = layer.self_attn, layer.mlp
            w_qkv = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).t().contiguous()
            b_qkv = torch.cat([_bias(a.q_proj), _bias(a.k_proj), _bias(a.v_proj)])
            w_gu = torch.cat([m.gate_proj.weight, m.up_proj.weight]).t().contiguous()
            self.layers.append((layer.input_layernorm, w_qkv, b_qkv, _t(a.o_proj), layer.post_attention_layernorm,
                                w_gu, _t(m.down_proj), m.act_fn))
        self.head = _t(model.lm_head)
        self.ffn = layers[0].mlp.gate_proj.out_features

    def rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sign-folded sin for integer positions [B, L] → [B, 1, L, D] (broadcast over heads)."""
        dummy = torch.empty(0, dtype=self.dtype, device=self.device)
        cos, sin = self.inner.rotary_emb(dummy, positions)
        half = sin.shape[-1] // 2
        sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)  # rotate_half(x)·sin = roll(x)·(±sin)
        return cos.unsqueeze(1), sin.unsqueeze(1)

    @staticmethod
    def _rot(x, cos, sin_signed):
        """HF's x·cos + rotate_half(x)·sin, with rotate_half = roll by D/2 and the sign folded into sin."""
        return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin_signed

    def forward(self, ids: torch.Tensor, cos, sin, attend) -> torch.Tensor:
        """Run `ids` [B, L]; `attend(layer, q, k, v)` (q [B, H, L, D], k/v [B, Hkv, L, D], RoPE applied) stores
        k/v in its cache and returns the attention output [B, L, H*D]. Returns the last position's final
        hidden state [B, hidden] (after the final norm)."""
        B, L = ids.shape
        H, Hkv, D = self.n_heads, self.n_kv, self.head_dim
        h = self.inner.embed_tokens(ids)
        for i, (ln1, w_qkv, b_qkv, o_proj, ln2, w_gu, down, act) in enumerate(self.layers):
            qkv = _mm(_rms(ln1, h), w_qkv, b_qkv).view(B, L, H + 2 * Hkv, D).transpose(1, 2)
            qk = self._rot(qkv[:, : H + Hkv], cos, sin)  # RoPE on q and k heads in one go
            h = h + _mm(attend(i, qk[:, :H], qk[:, H:], qkv[:, H + Hkv:]), *o_proj)
            gate, up = _mm(_rms(ln2, h), w_gu).split(self.ffn, dim=-1)
            h = h + _mm(act(gate) * up, *down)
        return _rms(self.inner.norm, h[:, -1])

    def prefill_attend(self, pcache: torch.Tensor, mask: torch.Tensor):
        """Causal attention over the whole (left-padded) prompt; fills `pcache` [layers, 2, U, Hkv, P0, D]."""

        def attend(i, q, k, v):
            B, _, L, D = q.shape
            pcache[i, 0], pcache[i, 1] = k, v
            if self.groups > 1:
                k, v = k.repeat_interleave(self.groups, dim=1), v.repeat_interleave(self.groups, dim=1)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling)
            return o.transpose(1, 2).reshape(B, L, self.n_heads * D)

        return attend

    def decode_attend(self, pcache: torch.Tensor, scache: torch.Tensor, t: int, lay: "_Layout"):
        """One new token per row, written at suffix column t. Each row attends its prompt's shared prefix
        (stored once per prompt, not once per sample) and its own suffix; the two score blocks share one
        softmax. Reading the prompt K/V once for all the samples of a prompt is what makes decoding fast:
        attention over the cache is memory-bound."""
        U, G, D = lay.n_prompts, self.groups, self.head_dim
        if _FLASH_CPU is not None and self.device.type == "cpu":
            return self._decode_attend_flash(pcache, scache, t, lay)

        def attend(i, q, k, v):
            R = q.shape[0]
            scache[i, 0, :, :, t], scache[i, 1, :, :, t] = k[:, :, 0], v[:, :, 0]
            q = q.reshape(R, self.n_kv, G, D) * self.scaling  # query heads grouped under their KV head
            pk, pv = pcache[i, 0], pcache[i, 1]  # [U, Hkv, P0, D]
            sk, sv = scache[i, 0, :, :, : t + 1], scache[i, 1, :, :, : t + 1]  # [R, Hkv, t+1, D]
            # rows → [U, Hkv, n_max*G, D] (zero rows for absent samples): one matmul per prompt block
            qp = q if lay.dense else q.new_zeros((U * lay.n_max, self.n_kv, G, D)).index_copy_(0, lay.grp, q)
            qp = qp.view(U, lay.n_max, self.n_kv, G, D).transpose(1, 2).reshape(U, self.n_kv, -1, D)
            sp = torch.matmul(qp, pk.transpose(-1, -2))  # [U, Hkv, n_max*G, P0]
            sp = sp.view(U, self.n_kv, lay.n_max, G, -1).transpose(1, 2).reshape(U * lay.n_max, self.n_kv, G, -1)
            sp = sp if lay.dense else sp.index_select(0, lay.grp)
            P0 = sp.shape[-1]
            scores = torch.cat([sp + lay.prefix_bias, torch.matmul(q, sk.transpose(-1, -2))], dim=-1)
            probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
            o = torch.matmul(probs[..., P0:], sv)  # [R, Hkv, G, D]
            pp = probs[..., :P0]
            ppad = pp if lay.dense else pp.new_zeros((U * lay.n_max, self.n_kv, G, P0)).index_copy_(0, lay.grp, pp)
            ppad = ppad.view(U, lay.n_max, self.n_kv, G, P0).transpose(1, 2).reshape(U, self.n_kv, -1, P0)
            op = torch.matmul(ppad, pv).view(U, self.n_kv, lay.n_max, G, D).transpose(1, 2)
            op = op.reshape(U * lay.n_max, self.n_kv, G, D)
            o = o + (op if lay.dense else op.index_select(0, lay.grp))
            return o.reshape(R, 1, self.n_heads * D)

        return attend

    def _decode_attend_flash(self, pcache, scache, t: int, lay: "_Layout"):
        U, Hkv, G, D, n_max = lay.n_prompts, self.n_kv, self.groups, self.head_dim, lay.n_max

        def attend(i, q, k, v):
            R = q.shape[0]
            scache[i, 0, :, :, t], scache[i, 1, :, :, t] = k[:, :, 0], v[:, :, 0]
            q = q.reshape(R, Hkv, G, D)  # query heads grouped under their KV head; "length" G
            o_s, l_s = _FLASH_CPU(q, scache[i, 0, :, :, : t + 1], scache[i, 1, :, :, : t + 1], scale=self.scaling)
            qp = q if lay.dense else q.new_zeros((U * n_max, Hkv, G, D)).index_copy_(0, lay.grp, q)
            qp = qp.view(U, n_max, Hkv, G, D).transpose(1, 2).reshape(U, Hkv, n_max * G, D)
            o_p, l_p = _FLASH_CPU(qp, pcache[i, 0], pcache[i, 1], attn_mask=lay.prompt_bias, scale=self.scaling)
            o_p = o_p.view(U, Hkv, n_max, G, D).transpose(1, 2).reshape(U * n_max, Hkv, G, D)
            l_p = l_p.view(U, Hkv, n_max, G).transpose(1, 2).reshape(U * n_max, Hkv, G)
            if not lay.dense:
                o_p, l_p = o_p.index_select(0, lay.grp), l_p.index_select(0, lay.grp)
            # softmax over [prompt | suffix] = the two partial softmaxes weighted by their shares of the mass
            w = torch.sigmoid(l_p - l_s)[..., None]
            return torch.lerp(o_s, o_p, w).reshape(R, 1, self.n_heads * D)

        return attend

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return _mm(hidden, *self.head).float()


def _t(linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight transposed to [in, out] contiguous, bias or None) of an nn.Linear."""
    return linear.weight.t().contiguous(), linear.bias


def _mm(x: torch.Tensor, wt: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """x [..., in] @ wt [in, out] (+ b) as one 2-D BLAS call."""
    x2 = x.reshape(-1, x.shape[-1])
    y = torch.mm(x2, wt) if b is None else torch.addmm(b, x2, wt)
    return y.view(*x.shape[:-1], wt.shape[1])


def _bias(linear) -> torch.Tensor:
    if linear.bias is not None:
        return linear.bias
    return torch.zeros(linear.out_features, dtype=linear.weight.dtype, device=linear.weight.device)


def _rms(norm, x: torch.Tensor) -> torch.Tensor:
    """Qwen2RMSNorm in one fused call (same math: fp32 variance, weight applied in the input dtype)."""
    eps = getattr(norm, "variance_epsilon", getattr(norm, "eps", 1e-6))
    if x.dtype == torch.float32:
        return F.rms_norm(x, (x.shape[-1],), norm.weight, eps=eps)
    y = F.rms_norm(x.float(), (x.shape[-1],), eps=eps).to(x.dtype)
    return norm.weight * y


# ----------------------------------------------------------------------------------------------- sampling


@torch.no_grad()
def sample(model, tokenizer, prompts: list[str], n: int, *, temperature: float = 1.0, top_p: float = 1.0,
           top_k: int = 0, max_new_tokens: int = 1024, stop: Sequence[str] | str | None = ("</answer>",),
           seed: int = 0, batch_size: int = 256, prompt_keys: Sequence[int] | None = None) -> Samples:
    """Draw `n` completions for each prompt; see the module docstring for how and `Samples` for the result.

    `prompt_keys` (default: each prompt's position in `prompts`) names each prompt's random stream: callers that
    split one set of prompts over several calls or processes pass the prompts' global indices, so a prompt's
    samples do not depend on which call or worker drew them."""
    if isinstance(prompts, str) or not isinstance(prompts, (list, tuple)):
        raise ValueError("prompts must be a list of strings")
    if not prompts:
        raise ValueError("prompts is empty")
    if any(not isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a list of strings")
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    keys = list(range(len(prompts))) if prompt_keys is None else [int(k) for k in prompt_keys]
    if len(keys) != len(prompts):
        raise ValueError(f"prompt_keys has {len(keys)} entries for {len(prompts)} prompts")
    n, top_k = int(n), max(int(top_k), 0)  # top_k <= 0 (official −1) means off

    eos_id = _special_id(tokenizer, "eos_token_id", "[EOS]")
    pad_id = _special_id(tokenizer, "pad_token_id", "[PAD]")
    pad_id = pad_id if pad_id is not None else (eos_id if eos_id is not None else 0)
    stops = _stop_sequences(tokenizer, stop)
    single_stop = sorted({s[0] for s in stops if len(s) == 1} | ({eos_id} if eos_id is not None else set()))
    multi_stop = [s for s in stops if len(s) > 1]

    prompt_ids = [tokenizer.encode(p, add_special_tokens=False) for p in prompts]
    if any(len(p) == 0 for p in prompt_ids):
        raise ValueError("a prompt encodes to no tokens")
    max_pos = getattr(model.config, "max_position_embeddings", None)
    longest = max(len(p) for p in prompt_ids) + max_new_tokens
    if max_pos is not None and longest > max_pos:
        raise ValueError(f"prompt + max_new_tokens = {longest} exceeds the model's "
                         f"max_position_embeddings = {max_pos}")

    was_training = model.training
    model.eval()
    dec = _Decoder(model)
    stop_t = torch.tensor(single_stop, dtype=torch.long, device=dec.device)

    N = len(prompts) * n
    # sample j of prompt p draws its t-th token with uniforms[p * n + j, t]: one stream per (seed, prompt key)
    uniforms = None if temperature == 0 else torch.cat(
        [torch.rand((n, max_new_tokens), generator=torch.Generator().manual_seed(stream_seed(seed, k)))
         for k in keys]).to(dec.device)
    out_ids = torch.full((N, max_new_tokens), pad_id, dtype=torch.long)
    out_lp = torch.zeros((N, max_new_tokens), dtype=torch.float32)
    out_len = torch.zeros(N, dtype=torch.long)
    out_fin = torch.zeros(N, dtype=torch.bool)
    try:
        for s0 in range(0, N, batch_size):
            rows = torch.arange(s0, min(N, s0 + batch_size))
            u = None if uniforms is None else uniforms[s0: s0 + rows.numel()]
            ids, lp, length, fin = _run_batch(dec, prompt_ids, rows, n, u, temperature, top_k, top_p,
                                              max_new_tokens, stop_t, multi_stop, pad_id)
            T = ids.shape[1]
            out_ids[rows, :T], out_lp[rows, :T], out_len[rows], out_fin[rows] = ids, lp, length, fin
    finally:
        model.train(was_training)

    T = max(int(out_len.max()), 1)
    mask = torch.arange(T)[None, :] < out_len[:, None]
    comp = out_ids[:, :T].masked_fill(~mask, pad_id)
    texts = tokenizer.batch_decode([comp[i, : out_len[i]].tolist() for i in range(N)], skip_special_tokens=False)
    return Samples(prompt_index=torch.arange(N) // n, prompt_ids=prompt_ids, completion_ids=comp,
                   completion_mask=mask, logprobs=out_lp[:, :T].masked_fill(~mask, 0.0), finished=out_fin,
                   texts=texts)


def _run_batch(dec: _Decoder, prompt_ids, rows, n, uniforms, temperature, top_k, top_p, max_new_tokens, stop_t,
               multi_stop, pad_id):
    """Sample the global sample indices `rows` (prompt-major) with their uniforms [R, max_new_tokens] (None when
    greedy). Returns ids/logprobs [R, T], lengths, finished."""
    dev, dt = dec.device, dec.dtype
    pidx = (rows // n).tolist()
    uniq = sorted(set(pidx))
    lens = torch.tensor([len(prompt_ids[p]) for p in uniq], device=dev)
    P0 = int(lens.max())

    # Prefill each distinct prompt once, left-padded; positions start at 0 on the first real token.
    tok = torch.full((len(uniq), P0), pad_id, dtype=torch.long, device=dev)
    for j, p in enumerate(uniq):
        tok[j, P0 - len(prompt_ids[p]):] = torch.tensor(prompt_ids[p], device=dev)
    pad = P0 - lens  # [U] left-pad width per prompt
    col = torch.arange(P0, device=dev)
    pvalid = col[None, :] >= pad[:, None]  # [U, P0] real tokens
    pos = (col[None, :] - pad[:, None]).clamp(min=0)
    causal = col[None, :] <= col[:, None]  # [P0(q), P0(k)]
    # a padded query row would see no key at all (NaN); let it see itself, its output is never used
    mask = (causal[None] & pvalid[:, None, :]) | torch.eye(P0, dtype=torch.bool, device=dev)[None]
    pcache = torch.empty((dec.n_layers, 2, len(uniq), dec.n_kv, P0, dec.head_dim), dtype=dt, device=dev)
    cos, sin = dec.rope(pos)
    hidden = dec.forward(tok, cos, sin, dec.prefill_attend(pcache, mask[:, None]))

    # The prompt's K/V stay shared: each sample row only owns a cache for its own generated tokens.
    slot = torch.tensor([uniq.index(p) for p in pidx], device=dev)
    R = len(pidx)
    lay = _Layout.build(slot, len(uniq), pvalid, dt)
    scache = torch.empty((dec.n_layers, 2, R, dec.n_kv, max_new_tokens, dec.head_dim), dtype=dt, device=dev)
    hidden = hidden.index_select(0, slot)
    next_pos = lens.index_select(0, slot).clone()  # RoPE position of the next token, per row

    # rope table for every position this batch can reach, gathered per row each step
    table_cos, table_sin = dec.rope(torch.arange(P0 + max_new_tokens, device=dev)[None])  # [1, 1, S, D]
    table_cos, table_sin = table_cos[0, 0], table_sin[0, 0]

    out_ids = torch.full((R, max_new_tokens), pad_id, dtype=torch.long, device=dev)
    out_lp = torch.zeros((R, max_new_tokens), dtype=torch.float32, device=dev)
    length = torch.full((R,), max_new_tokens, dtype=torch.long, device=dev)
    fin = torch.zeros(R, dtype=torch.bool, device=dev)
    alive = torch.arange(R, device=dev)  # batch row → index in this call's outputs
    done, n_done = torch.zeros(R, dtype=torch.bool, device=dev), 0  # per batch row: finished, not yet dropped
    for t in range(max_new_tokens):
        u = None if uniforms is None else uniforms[:, t].index_select(0, alive)
        nxt, lp = _next_token(dec, hidden, temperature, top_k, top_p, u)
        out_ids[:, t].index_put_((alive,), nxt)  # (a column view: no scalar index tensor per step)
        out_lp[:, t].index_put_((alive,), lp)

        stopped = torch.isin(nxt, stop_t) if stop_t.numel() else torch.zeros_like(nxt, dtype=torch.bool)
        for seq in multi_stop:
            m = len(seq)
            if t + 1 >= m:
                stopped |= (out_ids[alive, t + 1 - m: t + 1] == torch.tensor(seq, device=dev)).all(1)
        # finished rows not yet compacted keep running; their later tokens fall beyond `length` and are masked
        newly = stopped & ~done
        if bool(newly.any()):  # the only host sync of a step without stops
            rows_new = alive[newly]
            length[rows_new] = t + 1
            fin[rows_new] = True
            done |= newly
            n_done += int(newly.sum())
        if t + 1 == max_new_tokens or n_done == alive.numel():
            break
        # Drop finished rows once they are a quarter of the batch: a compaction copies the suffix cache, so
        # doing it for every finished row would cost more than computing a few dead rows.
        if n_done * 4 >= alive.numel() and n_done:
            keep = (~done).nonzero()[:, 0]
            alive, nxt, next_pos = alive[keep], nxt[keep], next_pos[keep]
            done, n_done = done[keep], 0
            scache = _compact(scache, keep, t)
            used, slot = torch.unique(lay.slot[keep], return_inverse=True)  # prompts that still have rows
            if used.numel() < lay.n_prompts:
                pcache, pvalid = pcache.index_select(2, used), pvalid.index_select(0, used)
            lay = _Layout.build(slot, used.numel(), pvalid, dt)
        cos = table_cos.index_select(0, next_pos)[:, None, None, :]
        sin = table_sin.index_select(0, next_pos)[:, None, None, :]
        hidden = dec.forward(nxt[:, None], cos, sin, dec.decode_attend(pcache, scache, t, lay))
        next_pos = next_pos + 1
    T = int(length.max())
    return out_ids[:, :T].cpu(), out_lp[:, :T].cpu(), length.cpu(), fin.cpu()


def _next_token(dec: _Decoder, hidden, temperature, top_k, top_p, u) -> tuple[torch.Tensor, torch.Tensor]:
    """Next token per row and its log-prob under log_softmax(logits / T) (T = 0: greedy, log_softmax(logits))."""
    if temperature == 0:
        logp = torch.log_softmax(dec.logits(hidden), -1)
        nxt = logp.argmax(-1)
        return nxt, logp.gather(1, nxt[:, None])[:, 0]
    if dec.model.lm_head.bias is None:  # lm_head is linear: scale the hidden state, fewer numbers than logits
        z = dec.logits(hidden / temperature)
    else:
        z = dec.logits(hidden) / temperature
    if top_k or top_p < 1.0:
        nxt = _draw(_filter_logits(z, top_k, top_p), u)
        return nxt, z.gather(1, nxt[:, None])[:, 0] - torch.logsumexp(z, -1)
    nxt, log_total, zmax = _draw(z, u, return_norm=True)
    return nxt, z.gather(1, nxt[:, None])[:, 0] - zmax - log_total


def stream_seed(seed: int, key: int) -> int:
    """A 64-bit seed for the random stream of prompt `key` under run seed `seed` (well mixed, so nearby seeds and
    keys give unrelated streams)."""
    state = np.random.SeedSequence([int(seed) % 2**64, int(key) % 2**64]).generate_state(1, np.uint64)
    return int(state[0])


def _compact(cache: torch.Tensor, keep: torch.Tensor, used: int) -> torch.Tensor:
    """Rows `keep` of the cache; only the `used` filled columns are copied."""
    new = torch.empty((*cache.shape[:2], keep.numel(), *cache.shape[3:]), dtype=cache.dtype, device=cache.device)
    new[:, :, :, :, :used] = cache[:, :, :, :, :used].index_select(2, keep)
    return new
