"""Generated tokens/s: `interplay.sampling.sample` vs `transformers` `generate()` (default and static cache).

Same model, prompts, batch (P prompts × n samples), temperature, top-p and max new tokens for all three.
Models are random-weight Qwen2s of the ci and cpu sizes (the `interplay.model` presets when available), so
almost every row runs to max_new_tokens; tokens are counted up to and including a stop token for each.
Prints the median over repeats, the spread (min–max) and the ratio to default `generate()`.

    .venv/bin/python benchmarks/sampling.py                       # ci + cpu, batch 64 and 256
    .venv/bin/python benchmarks/sampling.py --sizes ci --batches 64 --repeats 3 --new-tokens 64
    .venv/bin/python benchmarks/sampling.py --batches 256 --n 128     # eval shape: 2 prompts x 128 samples
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from interplay.sampling import sample

SPECIAL = ["[UNK]", "[PAD]", "[BOS]", "[EOS]", "<question>", "</question>", "<solution>", "</solution>",
           "<answer>", "</answer>"]
# Equivalent configs when interplay.model is not there yet (~0.2M and ~1.6M parameters).
FALLBACK = {
    "ci": dict(hidden_size=64, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
               num_key_value_heads=2),
    "cpu": dict(hidden_size=128, intermediate_size=512, num_hidden_layers=6, num_attention_heads=4,
                num_key_value_heads=2),
}


def make_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(SPECIAL + [f"w{i}" for i in range(vocab_size - len(SPECIAL))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]",
                                   additional_special_tokens=SPECIAL[4:])


def make_model(size: str, vocab_size: int) -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    try:
        from interplay.model import build_model

        model = build_model(size, vocab_size)
    except (ImportError, KeyError, AttributeError):
        model = Qwen2ForCausalLM(Qwen2Config(vocab_size=vocab_size, max_position_embeddings=2048,
                                             tie_word_embeddings=True, pad_token_id=1, eos_token_id=3,
                                             **FALLBACK[size]))
    return model.float().eval()


def make_prompts(count: int, length: int, vocab_size: int, seed: int = 0) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        L = length + int(torch.randint(-length // 4, length // 4 + 1, (1,), generator=g))  # ragged lengths
        words = torch.randint(0, vocab_size - len(SPECIAL), (L,), generator=g).tolist()
        out.append("<question> " + " ".join(f"w{w}" for w in words) + " </question> <solution>")
    return out


def run_ours(model, tok, prompts, n, args) -> int:
    s = sample(model, tok, prompts, n, temperature=args.temperature, top_p=args.top_p,
               max_new_tokens=args.new_tokens, stop=("</answer>",), seed=0, batch_size=len(prompts) * n)
    return int(s.completion_mask.sum())


def run_hf(model, tok, prompts, n, args, static: bool) -> int:
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    stop_ids = [tok.eos_token_id, tok.convert_tokens_to_ids("</answer>")]
    kw = dict(cache_implementation="static") if static else {}
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(**enc, do_sample=True, temperature=args.temperature, top_p=args.top_p, top_k=0,
                             max_new_tokens=args.new_tokens, num_return_sequences=n, eos_token_id=stop_ids,
                             pad_token_id=tok.pad_token_id, **kw)
    gen = out[:, enc["input_ids"].shape[1]:]
    # tokens up to and including the first stop token (later positions are padding)
    is_stop = torch.isin(gen, torch.tensor(stop_ids))
    after = (is_stop.cumsum(1) - is_stop.long()) > 0
    return int((~after).sum())


def bench(fn, repeats: int, clock) -> tuple[float, float, float]:
    rates = []
    for _ in range(repeats):
        t0 = clock()
        tokens = fn()
        rates.append(tokens / (clock() - t0))
    return statistics.median(rates), min(rates), max(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["ci", "cpu"])
    ap.add_argument("--batches", nargs="+", type=int, default=[64, 256])
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--prompt-len", type=int, default=120)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--n", type=int, default=0,
                    help="samples per prompt (default 8 at batch <= 64, else 16; the paper's eval uses 128)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0 = leave as is)")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="cpu: tokens per CPU-second of this process (robust on a shared machine); wall: per second")
    ap.add_argument("--skip-default", action="store_true", help="skip default generate() (slowest)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    tok = make_tokenizer(args.vocab)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, T={args.temperature}, "
          f"top_p={args.top_p}, new tokens {args.new_tokens}, prompt ~{args.prompt_len} tokens, "
          f"median (min–max) of {args.repeats}, tokens per {args.clock}-second, load avg {os.getloadavg()[0]:.1f}")
    print(f"{'size':5} {'params':>7} {'batch':>5} {'P×n':>7} | {'ours tok/s':>18} | {'generate tok/s':>18} | "
          f"{'static tok/s':>18} | {'×default':>8} {'×static':>7}")
    ratios = []
    for size in args.sizes:
        model = make_model(size, len(tok))
        params = sum(p.numel() for p in model.parameters())
        for batch in args.batches:
            n = min(args.n, batch) if args.n else (8 if batch <= 64 else 16)
            prompts = make_prompts(batch // n, args.prompt_len, args.vocab)
            run_ours(model, tok, prompts[:1], 2, args)  # warm-up
            ours = bench(lambda: run_ours(model, tok, prompts, n, args), args.repeats, clock)
            static = bench(lambda: run_hf(model, tok, prompts, n, args, True), args.repeats, clock)
            default = (float("nan"),) * 3 if args.skip_default else \
                bench(lambda: run_hf(model, tok, prompts, n, args, False), args.repeats, clock)
            fmt = lambda r: f"{r[0]:7.0f} ({r[1]:.0f}–{r[2]:.0f})"  # noqa: E731
            print(f"{size:5} {params / 1e6:6.2f}M {batch:5} {len(prompts):>3}×{n:<3} | {fmt(ours):>18} | "
                  f"{fmt(default):>18} | {fmt(static):>18} | {ours[0] / default[0]:8.2f} "
                  f"{ours[0] / static[0]:7.2f}", flush=True)
            ratios.append((f"sampling_{size}_b{batch}_n{n}", ours[0] / default[0], ours[0] / static[0]))
    for name, vs_default, vs_static in ratios:
        print(f"{name}_vs_generate: ratio {vs_default:.2f} (target 3.0)")
        print(f"{name}_vs_static: ratio {vs_static:.2f} (target 1.5)")


if __name__ == "__main__":
    main()
