"""Evaluate a checkpoint: sample n completions per test problem, verify each, report process-verified pass@k.

Every sample is scored twice (paper §6; the authors' `scripts/eval_checkpoints.py`): answer-only (the authors'
evaluation exact match, `answer_exact_match`) and strict (VerifiedCorrect: every gold node right and the answer
right), together with its ProcessAcc and error category (paper Fig. 8). pass@k uses the unbiased estimator for both.
Also reported: teacher-forced NLL of the gold solutions per op (Fig. 10) and the base-model ladder check
(`interplay.eval.ladder`).

Outputs, written as one directory atomically: `metrics.json`, `per_problem.csv`,
`per_op.csv`, `passk.csv`, `samples.jsonl.gz` (the completions, so `rescore` never resamples).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from interplay.eval.config import EvalConfig
from interplay.eval.ladder import Ladder, check_ladder
from interplay.knobs import CATEGORIES, VERIFY_MODES
from interplay.eval.passk import default_ks, pass_at_k_table
from interplay.io import atomic_dir, read_json, write_json

log = logging.getLogger(__name__)

DEFAULT_BANDS = {"id": (2, 10), "edge": (11, 14), "hard": (15, 20)}  # paper §6: ID / OOD-edge / OOD-hard
MODES = VERIFY_MODES
_CFG = EvalConfig()  # the defaults of evaluate()'s sampling arguments
PER_PROBLEM_COLUMNS = ["id", "op", "context", "mode", "n", "c_strict", "c_answer", "process_acc_mean", "nll",
                       *[f"cat_{c}" for c in CATEGORIES]]


class EvalError(ValueError):
    """Bad input to evaluation (missing tokenizer, unknown band, ...): a one-line message for the CLI."""


# ---------------------------------------------------------------------------------------------- inputs


def parse_bands(spec: str | dict | None) -> dict[str, tuple[int, int]]:
    """`"id=2-10,edge=11-14"` or `{"id": [2, 10]}` → {"id": (2, 10), ...}. A bare name (`"id,edge"`) means
    the paper's range for it (DEFAULT_BANDS); a bare name that is not there is an error."""
    if spec is None:
        return dict(DEFAULT_BANDS)
    if isinstance(spec, dict):
        items = [(str(k), v) for k, v in spec.items()]
    else:
        items = []
        for part in (p.strip() for p in str(spec).split(",")):
            if not part:
                continue
            name, eq, rng = part.partition("=")
            items.append((name.strip(), rng.strip() if eq else None))
    bands: dict[str, tuple[int, int]] = {}
    for name, rng in items:
        if not name:
            raise EvalError(f"band without a name in {spec!r}")
        if rng is None:
            if name not in DEFAULT_BANDS:
                raise EvalError(f"band {name!r} is not defined (define it as {name}=LO-HI; known: "
                                f"{', '.join(DEFAULT_BANDS)})")
            bands[name] = DEFAULT_BANDS[name]
            continue
        try:
            if isinstance(rng, str):
                lo_s, _, hi_s = rng.partition("-")
                lo, hi = int(lo_s), int(hi_s or lo_s)
            else:
                lo, hi = (int(rng), int(rng)) if isinstance(rng, int) else (int(rng[0]), int(rng[-1]))
        except (TypeError, ValueError, IndexError):
            raise EvalError(f"band {name!r}: bad op range {rng!r} (expected LO-HI, e.g. 11-14)") from None
        if lo > hi:
            raise EvalError(f"band {name!r}: empty op range {lo}-{hi}")
        bands[name] = (lo, hi)
    if not bands:
        raise EvalError("no bands given")
    return bands


def load_checkpoint(checkpoint_dir: str | os.PathLike, device: str | torch.device | None = None):
    """(model, tokenizer) from an HF checkpoint directory; the tokenizer must be saved beside the model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(checkpoint_dir)
    if not path.is_dir():
        raise EvalError(f"checkpoint {path} is not a directory")
    if not (path / "config.json").is_file():
        raise EvalError(f"checkpoint {path} has no config.json (not an HF model directory)")
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        raise EvalError(f"checkpoint {path} has no tokenizer (save it with tokenizer.save_pretrained)")
    if (path / "tokenizer.json").is_file():  # every checkpoint this package writes
        from interplay.checkpoint import load

        return load(path, device)
    tok = AutoTokenizer.from_pretrained(str(path))  # a foreign checkpoint with a tokenizer config only
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tok


def load_testsets(testsets: Sequence[str | os.PathLike]) -> list:
    if isinstance(testsets, (str, os.PathLike)):
        testsets = [testsets]
    if not testsets:
        raise EvalError("no test set given")
    problems = []
    for ts in testsets:
        if not Path(ts).is_file():
            raise EvalError(f"test set {ts} not found")
        got = read_testset(ts)
        if not got:
            raise EvalError(f"test set {ts} has no problems")
        problems.extend(got)
    return problems


# Fields a test-set record must have, with their types (official schema and ours); optional ones are typed when set.
_REQUIRED = {"problem": str, "question": str, "solution": str, "op": int}
_OPTIONAL = {"id": str, "template": str, "mode": str, "render": str, "answer": int, "graph": dict}
_TYPE_NAMES = {str: "a string", int: "an integer", dict: "an object"}


def read_testset(path: str | os.PathLike) -> list:
    """Problems of one JSONL(.gz) test set; a malformed row is an EvalError naming the file and its line."""
    from interplay.data.records import problem_from_record

    opener = gzip.open if str(path).endswith(".gz") else open
    problems = []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            lines = list(f)
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"test set {path}: cannot read ({type(e).__name__}: {e})") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"test set {path}, line {no}"
        try:
            rec = json.loads(line.strip())
        except json.JSONDecodeError as e:
            raise EvalError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(rec, dict):
            raise EvalError(f"{where}: expected a JSON object, got {type(rec).__name__}")
        for key, typ in {**_REQUIRED, **_OPTIONAL}.items():
            value = rec.get(key)
            if value is None and key in _OPTIONAL:
                continue
            if key not in rec:
                raise EvalError(f"{where}: required field `{key}` is missing")
            if not isinstance(value, typ) or isinstance(value, bool):
                raise EvalError(f"{where}: `{key}` must be {_TYPE_NAMES[typ]}, got {json.dumps(value)[:40]}")
        for key in ("problem", "question"):
            if not rec[key].strip():
                raise EvalError(f"{where}: `{key}` is empty")
        try:
            problems.append(problem_from_record(rec))
        except Exception as e:  # noqa: BLE001 - any malformed row is one clear error
            raise EvalError(f"{where}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    return problems


def context_of(template: str) -> str:
    try:
        from interplay.data.contexts import TEMPLATE_TO_CONTEXT
    except ImportError:  # pragma: no cover
        return template
    return TEMPLATE_TO_CONTEXT.get(template, template or "unknown")


# ---------------------------------------------------------------------------------------------- scoring


_FRACTION_RE = re.compile(r"([+-]?\d+)\s*/\s*([+-]?\d+)")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d)")
_DECIMAL_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\d*\.\d+)")


def _official_number(s: str) -> float | None:
    """The authors' `_parse_numeric` (scripts/eval_checkpoints.py): a fraction, or a decimal once thousands
    separators are dropped; anything else is not a number."""
    t = s.strip().rstrip(".")
    if not t:
        return None
    m = _FRACTION_RE.fullmatch(t)
    if m:
        try:
            return float(Fraction(int(m.group(1)), int(m.group(2))))
        except (ZeroDivisionError, ValueError, OverflowError):
            return None
    m = _DECIMAL_RE.fullmatch(_THOUSANDS_RE.sub("", t))
    if m:
        try:
            return float(m.group(0))
        except (ValueError, OverflowError):
            return None
    return None


def answer_exact_match(text: str, record: dict) -> bool:
    """The answer-only metric: the authors' evaluation exact match (scripts/eval_checkpoints.py, vLLM path).

    Their sampler stops at `</answer>` and drops it, so the text is cut at the first `</answer>`; the answer
    is the text after the last `<answer>` up to `<` or a newline (no `Answer:` fallback, the whole content,
    not its first number); gold is the text after the last "Answer: " of the gold solution. Equal as numbers
    (relative tolerance 1e-8, thousands separators dropped, fractions allowed) when both parse, else as
    strings after `rstrip(".")`.
    """
    from interplay.train.rewards import extract_answer

    cut = text.find("</answer>")
    pred = (extract_answer(text[:cut] if cut >= 0 else text, allow_answer_line=False) or "").strip()
    sol = record.get("solution")
    if isinstance(sol, str) and "Answer: " in sol:
        gold = sol.split("Answer: ")[-1].strip().rstrip(".")
    else:
        gold = str(record.get("answer", "")).strip().rstrip(".")
    if not gold:
        return False
    a, b = _official_number(pred), _official_number(gold)
    if a is not None and b is not None:
        return abs(a - b) <= 1e-8 * max(1.0, abs(a), abs(b))
    return pred.rstrip(".") == gold.rstrip(".")


def score_completion(text: str, record: dict, mode: str = "paper") -> dict[str, Any]:
    """Answer-only (the authors' exact match) and strict correctness, ProcessAcc and category of one
    completion. Never raises."""
    from interplay.data.verify import verify

    try:
        text = text if isinstance(text, str) else ""
        r = verify(text, record, mode=mode)
        cat = r.category if r.category in CATEGORIES else "unparseable"
        return {"answer": answer_exact_match(text, record), "strict": bool(r.verified),
                "process_acc": float(r.process_acc), "category": cat}
    except Exception as e:  # noqa: BLE001 - garbage output is scored as unparseable, never a crash
        log.debug("verify failed on a sample: %s", e)
        return {"answer": False, "strict": False, "process_acc": 0.0, "category": "unparseable"}


def score_rows(rows: list[dict], mode: str) -> None:
    """(Re)score every completion of every row in place."""
    for row in rows:
        scores = [score_completion(t, row["record"], mode) for t in row["completions"]]
        row["answer_correct"] = [s["answer"] for s in scores]
        row["verified"] = [s["strict"] for s in scores]
        row["process_acc"] = [s["process_acc"] for s in scores]
        row["category"] = [s["category"] for s in scores]


@torch.no_grad()
def gold_nll(model, tokenizer, problems: Sequence, batch_size: int = 16) -> list[tuple[float, int]]:
    """Teacher-forced NLL (sum, token count) of each gold solution: the tokens of `training_text` after the
    prompt (solution body, `</solution> <answer> n </answer>`; no EOS), as in paper Fig. 10."""
    from interplay.data.render import prompt_text, training_text

    device = next(model.parameters()).device
    seqs: list[tuple[list[int], int]] = []
    for p in problems:
        prompt = tokenizer.encode(prompt_text(p.problem, p.question), add_special_tokens=False)
        full = tokenizer.encode(training_text(p.problem, p.question, p.solution), add_special_tokens=False)
        start = 0  # first solution token: after the longest common prefix with the prompt
        while start < min(len(prompt), len(full)) and prompt[start] == full[start]:
            start += 1
        seqs.append((full, max(start, 1)))
    out: list[tuple[float, int]] = [(0.0, 0)] * len(seqs)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for b0 in range(0, len(order), batch_size):
        idx = order[b0: b0 + batch_size]
        L = max(len(seqs[i][0]) for i in idx)
        ids = torch.full((len(idx), L), pad, dtype=torch.long)
        att = torch.zeros((len(idx), L), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, : len(seqs[i][0])] = torch.tensor(seqs[i][0])
            att[r, : len(seqs[i][0])] = 1
        logits = model(input_ids=ids.to(device), attention_mask=att.to(device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], -1).gather(2, ids[:, 1:, None].to(device))[..., 0].cpu()
        for r, i in enumerate(idx):
            full, start = seqs[i]
            tok_lp = logp[r, start - 1: len(full) - 1]
            out[i] = (float(-tok_lp.sum()), int(tok_lp.numel()))
    return out


# ---------------------------------------------------------------------------------------------- summary


def _groups(rows: list[dict], bands: dict[str, tuple[int, int]]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {"overall": list(range(len(rows)))}

    def add(name, i):
        groups.setdefault(name, []).append(i)

    for i, r in enumerate(rows):
        for b, (lo, hi) in bands.items():
            if lo <= r["op"] <= hi:
                add(f"band={b}", i)
                add(f"band={b}/context={r['context']}", i)
                add(f"band={b}/mode={r['mode']}", i)
        add(f"op={r['op']}", i)
        add(f"context={r['context']}", i)
        add(f"mode={r['mode']}", i)

    def key(g):  # overall, bands (in given order), ops (numeric), contexts, modes, band/context, band/mode
        kind = g.split("=")[0] if g != "overall" else ""
        rank = {"": 0, "band": 1, "op": 2, "context": 3, "mode": 4}.get(kind, 5)
        if "/" in g:
            rank = 5
        sub = int(g.split("=")[1]) if kind == "op" else (list(bands).index(g[5:].split("/")[0])
                                                          if kind == "band" else 0)
        return rank, sub, g

    return {g: groups[g] for g in sorted(groups, key=key)}


def summarize(rows: list[dict], meta: dict, ladder: Ladder = Ladder(), n_boot: int = 1000) -> dict:
    """metrics.json content (contract §7) from scored rows."""
    bands = {k: tuple(v) for k, v in meta["bands"].items()}
    ks = [int(k) for k in meta["ks"]]
    seed = int(meta.get("seed", 0))
    passk, cats, pacc = {}, {}, {}
    for g, idx in _groups(rows, bands).items():
        n = np.array([len(rows[i]["completions"]) for i in idx])
        cs = np.array([sum(rows[i]["verified"]) for i in idx])
        ca = np.array([sum(rows[i]["answer_correct"]) for i in idx])
        ts, ta = pass_at_k_table(n, cs, ks, n_boot=n_boot, seed=seed), pass_at_k_table(n, ca, ks, n_boot=n_boot,
                                                                                         seed=seed)
        passk[g] = {"strict": ts["pass"], "answer": ta["pass"], "strict_ci": ts["ci"], "answer_ci": ta["ci"],
                    "problems": len(idx)}
        counts = {c: 0 for c in CATEGORIES}
        for i in idx:
            for c in rows[i]["category"]:
                counts[c] = counts.get(c, 0) + 1
        total = max(sum(counts.values()), 1)
        cats[g] = {c: counts[c] / total for c in counts}
        accs = [a for i in idx for a in rows[i]["process_acc"]]
        pacc[g] = float(np.mean(accs)) if accs else float("nan")
    nll: dict[str, float] = {}
    for op in sorted({r["op"] for r in rows}):
        tot = [(r["nll"], r["nll_tokens"]) for r in rows if r["op"] == op and r.get("nll_tokens")]
        if tot:
            nll[str(op)] = sum(s for s, _ in tot) / sum(t for _, t in tot)
    metrics = {k: meta[k] for k in ("checkpoint", "n", "ks", "temperature", "top_p", "top_k", "max_new_tokens",
                                    "seed", "mode", "bands", "testsets", "ladder_thresholds") if k in meta}
    counts = [{"op": r["op"], "context": r["context"], "n": len(r["completions"]), "c_strict": sum(r["verified"])}
              for r in rows]
    ladder_bands = {b: list(range(lo, hi + 1)) for b, (lo, hi) in bands.items()}
    metrics.update(passk=passk, categories=cats, process_acc=pacc, nll=nll,
                   ladder=check_ladder(counts, ladder_bands, ladder, k=max(ks) if ks else None))
    return metrics


def _per_problem(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        d = {"id": r["id"], "op": r["op"], "context": r["context"], "mode": r["mode"], "n": len(r["completions"]),
             "c_strict": sum(r["verified"]), "c_answer": sum(r["answer_correct"]),
             "process_acc_mean": float(np.mean(r["process_acc"])) if r["process_acc"] else 0.0,
             "nll": r["nll"] / r["nll_tokens"] if r.get("nll_tokens") else ""}
        for c in CATEGORIES:
            d[f"cat_{c}"] = sum(1 for x in r["category"] if x == c)
        out.append(d)
    return out


def _csv(path: Path, columns: list[str], rows: Iterable[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def write_outputs(out_dir: str | os.PathLike, rows: list[dict], metrics: dict) -> None:
    """All five artifacts into one directory, swapped in atomically."""
    with atomic_dir(out_dir) as tmp:
        write_json(tmp / "metrics.json", metrics)  # valid JSON: a non-finite value is written as null
        _csv(tmp / "per_problem.csv", PER_PROBLEM_COLUMNS, _per_problem(rows))
        passk = metrics["passk"]
        _csv(tmp / "per_op.csv", ["op", "k", "strict", "answer"],
             ({"op": g[3:], "k": k, "strict": v["strict"][k], "answer": v["answer"][k]}
              for g, v in passk.items() if g.startswith("op=") for k in v["strict"]))
        _csv(tmp / "passk.csv", ["group", "k", "strict", "answer"],
             ({"group": g, "k": k, "strict": v["strict"][k], "answer": v["answer"][k]}
              for g, v in passk.items() for k in v["strict"]))
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:  # mtime 0: same samples → same bytes
            for r in rows:
                gz.write((json.dumps(r) + "\n").encode())
        (tmp / "samples.jsonl.gz").write_bytes(buf.getvalue())


def read_samples(out_dir: str | os.PathLike) -> list[dict]:
    path = Path(out_dir) / "samples.jsonl.gz"
    if not path.is_file():
        raise EvalError(f"{out_dir} has no samples.jsonl.gz (not an evaluation directory)")
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------------------------- entry points


def _chunk_rows(model, tok, problems: Sequence, keys: Sequence[int], sampler: Callable, sample_kw: dict,
                mode: str, nll: bool) -> tuple[list[dict], int]:
    """Sample, score and (optionally) take the gold NLL of one chunk of problems; `keys` are their global
    indices, which key their sampling streams. Returns the scored rows (chunk order) and the tokens sampled."""
    from interplay.data.render import prompt_text

    nlls = gold_nll(model, tok, problems) if nll else [(None, 0)] * len(problems)
    s = sampler(model, tok, [prompt_text(p.problem, p.question) for p in problems], prompt_keys=list(keys),
                **sample_kw)
    lengths = s.completion_mask.sum(1).tolist()
    rows = []
    for j, p in enumerate(problems):
        sel = (s.prompt_index == j).nonzero()[:, 0].tolist()
        rows.append({"id": p.id, "op": int(p.op), "context": context_of(p.template), "mode": p.mode,
                     "template": p.template, "nll": nlls[j][0], "nll_tokens": nlls[j][1],
                     "completions": [s.texts[i] for i in sel], "finished": [bool(s.finished[i]) for i in sel],
                     "lengths": [int(lengths[i]) for i in sel], "record": p.to_record()})
    score_rows(rows, mode)
    return rows, int(sum(lengths))


_WORKER: dict = {}


def _worker_init(checkpoint_dir, device, sampler, threads: int) -> None:
    """In each worker: 1 torch thread; the model as forked from the parent (Linux), else loaded again."""
    torch.set_num_threads(threads)
    if "model" not in _WORKER:
        model, tok = load_checkpoint(checkpoint_dir, device)
        _WORKER.update(model=model, tok=tok, sampler=sampler)


def _worker_chunk(problems, keys, sample_kw, mode, nll):
    w = _WORKER
    return _chunk_rows(w["model"], w["tok"], problems, keys, w["sampler"], sample_kw, mode, nll)


def default_workers(device: str | torch.device | None) -> int:
    """Evaluation worker processes when not given: one per available core on CPU (1 thread each; measured
    faster than one process with all cores, benchmarks/evaluate.py), at most $INTERPLAY_WORKERS; one on a GPU."""
    dev = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if not dev.startswith("cpu"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    given = os.environ.get("INTERPLAY_WORKERS")  # the cores `interplay reproduce` left this stage (its parallel pass)
    return max(1, min(cores, int(given))) if given else cores


def evaluate(checkpoint_dir: str | os.PathLike, testsets: Sequence[str | os.PathLike], *, n: int = _CFG.n,
             temperature: float = _CFG.temperature, top_p: float = _CFG.top_p, max_new_tokens: int = _CFG.max_new_tokens,
             ks: Sequence[int] | None = None, seed: int = 0, out_dir: str | os.PathLike, mode: str = _CFG.mode.value,
             bands: str | dict | None = None, top_k: int = 0, batch_size: int = 256, n_boot: int = 1000,
             ladder: Ladder = Ladder(), nll: bool = True, device: str | None = None,
             sampler: Callable | None = None, workers: int | None = None) -> dict:
    """Sample, score and summarize; writes the contract §7 artifacts to `out_dir` and returns metrics.json.

    `n`, `ks`, `temperature`, `top_p`, `max_new_tokens` and `mode` are the fields of `EvalConfig` (their defaults
    too); `ks` None = `default_ks(n)`.

    The problems are cut into chunks of one sampler batch (`batch_size // n` problems, longest prompts first,
    so a batch pads little), and each problem samples from its own random stream (keyed by its index in the
    test sets): the artifacts depend on the seed and the batch size, never on `workers`. `workers` > 1 runs
    the chunks in that many processes (1 torch thread each; forked with the loaded model on Linux); default
    `default_workers(device)` for the default sampler, 1 for a stand-in. `sampler` defaults to
    `interplay.sampling.sample`; anything with its signature (including `prompt_keys`) can stand in (tests)."""
    if int(n) < 1:
        raise EvalError(f"n must be >= 1, got {n}")
    if mode not in MODES:
        raise EvalError(f"unknown scoring mode {mode!r} (expected one of {', '.join(MODES)})")
    if workers is not None and int(workers) < 0:
        raise EvalError(f"workers must be >= 0 (0 = auto), got {workers}")
    bands = parse_bands(bands)
    ks = default_ks(n) if not ks else sorted({int(k) for k in ks})
    if any(k < 1 for k in ks):
        raise EvalError(f"ks must be >= 1, got {ks}")
    if any(k > n for k in ks):
        log.warning("dropping k > n=%d from ks %s (pass@k is not defined there)", n, ks)
        ks = [k for k in ks if k <= n]
    problems = load_testsets(testsets)
    custom = sampler is not None
    if sampler is None:
        from interplay.sampling import sample as sampler
    if not workers:
        workers = 1 if custom else default_workers(device)
    from interplay.data.render import prompt_text

    sample_kw = dict(n=n, temperature=temperature, top_p=top_p, top_k=top_k, max_new_tokens=max_new_tokens,
                     stop=("</answer>",), seed=seed, batch_size=batch_size)
    model, tok = load_checkpoint(checkpoint_dir, device)
    # longest prompts first: similar lengths share a batch, and the costliest chunks start first
    plen = [len(tok.encode(prompt_text(p.problem, p.question), add_special_tokens=False)) for p in problems]
    order = sorted(range(len(problems)), key=lambda i: -plen[i])
    per_call = max(1, batch_size // n)
    chunks = [order[c: c + per_call] for c in range(0, len(order), per_call)]
    workers = max(1, min(int(workers), len(chunks)))
    t0 = time.perf_counter()
    rows: list[dict | None] = [None] * len(problems)
    n_tokens, done = 0, 0

    def collect(idx, result):
        nonlocal n_tokens, done
        got, tokens = result
        for i, r in zip(idx, got):
            rows[i] = r
        n_tokens += tokens
        done += len(idx)
        log.info("sampled %d/%d problems", done, len(problems))

    if workers == 1:
        for idx in chunks:
            collect(idx, _chunk_rows(model, tok, [problems[i] for i in idx], idx, sampler, sample_kw, mode, nll))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # fork (Linux, CPU): workers start at once with the loaded model (importing torch again costs seconds)
        fork = sys.platform.startswith("linux") and not str(device or "").startswith("cuda") \
            and not torch.cuda.is_available()
        if fork:
            _WORKER.update(model=model, tok=tok, sampler=sampler)
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # else HF tokenizers warns in every worker
        else:
            del model
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork" if fork else "spawn"),
                                     initializer=_worker_init, initargs=(str(checkpoint_dir), dev, sampler, 1)) as pool:
                futures = [(idx, pool.submit(_worker_chunk, [problems[i] for i in idx], idx, sample_kw, mode, nll))
                           for idx in chunks]
                for idx, fut in futures:
                    collect(idx, fut.result())
        finally:
            _WORKER.clear()
    elapsed = time.perf_counter() - t0
    log.info("sampling and scoring (%d process%s): %d tokens in %.1fs (%.0f tok/s)", workers,
             "es" if workers > 1 else "", n_tokens, elapsed, n_tokens / max(elapsed, 1e-9))
    meta = {"checkpoint": str(checkpoint_dir), "n": int(n), "ks": ks, "temperature": float(temperature),
            "top_p": float(top_p), "top_k": int(top_k), "max_new_tokens": int(max_new_tokens), "seed": int(seed),
            "mode": mode, "bands": {k: list(v) for k, v in bands.items()}, "testsets": [str(t) for t in testsets],
            "ladder_thresholds": asdict(ladder)}
    metrics = summarize(rows, meta, ladder, n_boot)
    write_outputs(out_dir, rows, metrics)
    return metrics


def rescore(out_dir: str | os.PathLike, mode: str = "paper", *, out: str | os.PathLike | None = None,
            bands: str | dict | None = None, ks: Sequence[int] | None = None, n_boot: int = 1000,
            ladder: Ladder | None = None) -> dict:
    """Re-verify the stored completions of an evaluation (e.g. in `official_compat` mode) and rewrite every
    artifact (to `out`, default in place) without sampling again."""
    if mode not in MODES:
        raise EvalError(f"unknown scoring mode {mode!r} (expected one of {', '.join(MODES)})")
    out_dir = Path(out_dir)
    if not (out_dir / "metrics.json").is_file():
        raise EvalError(f"{out_dir} has no metrics.json (not an evaluation directory)")
    old = read_json(out_dir / "metrics.json")
    rows = read_samples(out_dir)
    score_rows(rows, mode)
    meta = {k: old[k] for k in ("checkpoint", "n", "ks", "temperature", "top_p", "top_k", "max_new_tokens",
                                "seed", "bands", "testsets") if k in old}
    meta["mode"] = mode
    if bands is not None:
        meta["bands"] = {k: list(v) for k, v in parse_bands(bands).items()}
    if ks:
        meta["ks"] = sorted({int(k) for k in ks if int(k) <= int(meta["n"])})
    if ladder is None:
        ladder = Ladder.from_dict(old.get("ladder_thresholds"))
    meta["ladder_thresholds"] = asdict(ladder)
    metrics = summarize(rows, meta, ladder, n_boot)
    write_outputs(out or out_dir, rows, metrics)
    return metrics
