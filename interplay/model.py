"""Qwen2 decoder models per profile (paper A.3.1; official `model_configs/qwen2_100M/config.json`).

`paper` is the authors' model exactly. The smaller presets keep the architecture (GQA with 2 KV heads, tied
embeddings, SiLU MLP with FFN = 4×hidden, RMSNorm 1e-6, RoPE θ = 1e6) and shrink depth/width. `ci` is sized for
seconds-long runs (≈ 11-15K tokens/s on one core). `cpu` (4L/96, 0.67M with the word vocabulary) was chosen by
the calibration probes in docs/calibration.md: at equal wall time it learned the task better than 4L/128 and
8L/64; it trains at ≈ 9-11K tokens/s on one core. `gpu` (≈17M) sits in the design's 10-30M range; its throughput
was not measured (no GPU in these sessions).
"""

from __future__ import annotations

from typing import Any

from transformers import Qwen2Config, Qwen2ForCausalLM

_COMMON = dict(hidden_act="silu", rms_norm_eps=1e-6, rope_theta=1e6, max_position_embeddings=2048,
               tie_word_embeddings=True, attention_dropout=0.0, initializer_range=0.02, use_sliding_window=False)

PRESETS: dict[str, dict[str, Any]] = {
    # 12L/768/FFN 3072/12 heads/2 KV heads: ≈101.5M non-embedding parameters, 103.2M with vocab 2200
    "paper": dict(num_hidden_layers=12, hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                  num_key_value_heads=2),
    "gpu": dict(num_hidden_layers=8, hidden_size=384, intermediate_size=1536, num_attention_heads=6,
                num_key_value_heads=2),  # ≈17.3M non-embedding
    # 4L/96: at equal wall time on one core it beat 4L/128 and 8L/64 on the ladder (docs/calibration.md)
    "cpu": dict(num_hidden_layers=4, hidden_size=96, intermediate_size=384, num_attention_heads=4,
                num_key_value_heads=2),  # ≈0.55M non-embedding
    "ci": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=256, num_attention_heads=4,
               num_key_value_heads=2),  # ≈0.12M non-embedding
}
SPECIAL_IDS = dict(pad_token_id=1, bos_token_id=2, eos_token_id=3)  # official tokenizer order (ids 0-9)


def model_config(preset_or_cfg: str | dict, vocab_size: int, **overrides) -> Qwen2Config:
    if isinstance(preset_or_cfg, str):
        if preset_or_cfg not in PRESETS:
            raise ValueError(f"unknown model preset {preset_or_cfg!r} (expected one of {', '.join(PRESETS)})")
        arch = dict(PRESETS[preset_or_cfg])
    else:
        arch = dict(preset_or_cfg)
    kw = {**_COMMON, **SPECIAL_IDS, **arch, **overrides, "vocab_size": int(vocab_size)}
    return Qwen2Config(**kw)


def build_model(preset_or_cfg: str | dict, vocab_size: int, **overrides) -> Qwen2ForCausalLM:
    """A freshly initialized Qwen2ForCausalLM with SDPA attention (fp32 weights)."""
    cfg = model_config(preset_or_cfg, vocab_size, **overrides)
    return Qwen2ForCausalLM._from_config(cfg, attn_implementation="sdpa")


def param_counts(model) -> tuple[int, int]:
    """(total, non-embedding) parameter counts; tied embeddings counted once (paper's P excludes them)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    emb = model.get_input_embeddings().weight.numel()
    out = model.get_output_embeddings()
    untied = out is not None and out.weight is not model.get_input_embeddings().weight
    return total, total - emb - (out.weight.numel() if untied else 0)
