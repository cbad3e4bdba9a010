"""Pre-/mid-training corpora: a mixture over ops × contexts × modes, filled to a token budget.

A mixture is a list of `MixComponent`s. Component c gets weight w_c / Σw of the budget, spread uniformly
over its ops and split over modes by its mode weights; each (op, context, mode) *cell* is filled with
generated problems (`training_text` + `[EOS]`) until its token share is reached (overshoot ≤ one document).
This is the authors' per-op token accounting (`load_from: mix` in their repository's
`LLaMA-Factory/src/llamafactory/data/loader.py`) on freshly generated
problems instead of pre-generated files.

Cells are filled in rounds of about `chunk_tokens` tokens, each cell advancing in proportion to its share, and
each round's documents are shuffled; so a 1 % context is spread over the whole corpus, memory stays at one
round, and `stream_documents` can feed budgets too large to store. Everything is a pure function of the
arguments: same seed, same bytes.

Shards: `tokens.bin` (uint16, documents concatenated), `docs.npy` (int64 start
offsets), `manifest.json` (realized tokens per op / context / mode).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from interplay.io import atomic_dir, write_json
from interplay.knobs import MODES
_GEN_BATCH = 32  # problems generated per call for one cell


@dataclass(frozen=True)
class MixComponent:
    ops: list[int]
    weight: float
    context: str = "zoo"
    mode_weights: dict = field(default_factory=lambda: {"forward": 0.5, "reverse": 0.5})


@dataclass
class _Cell:
    op: int
    context: str
    mode: str
    target: float  # tokens
    seed: int
    tokens: int = 0
    docs: int = 0
    stream: Iterator | None = None  # this cell's deduplicated problem stream (one per cell, never restarted)
    buffer: list = field(default_factory=list)


def _cell_seed(seed: int, op: int, context: str, mode: str) -> int:
    """Independent problem stream per cell and corpus seed (a test set generated with `seed` never aliases)."""
    h = hashlib.sha256(f"interplay-corpus|{seed}|{op}|{context}|{mode}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def _as_component(c) -> MixComponent:
    if isinstance(c, MixComponent):
        return c
    return MixComponent(ops=list(c["ops"]), weight=float(c["weight"]), context=c.get("context", "zoo"),
                        mode_weights=dict(c.get("mode_weights", {"forward": 0.5, "reverse": 0.5})))


def mixture_targets(components, token_budget: float) -> dict[tuple[int, str, str], float]:
    """Target tokens per (op, context, mode) cell; cells shared by components add up."""
    comps = [_as_component(c) for c in components]
    if not comps:
        raise ValueError("empty mixture")
    total_w = sum(c.weight for c in comps)
    if total_w <= 0 or any(c.weight < 0 for c in comps):
        raise ValueError("mixture weights must be >= 0 with a positive sum")
    targets: dict[tuple[int, str, str], float] = {}
    for c in comps:
        if not c.ops:
            raise ValueError(f"component {c} has no ops")
        mw = {m: float(w) for m, w in c.mode_weights.items() if float(w) > 0}
        if not mw or any(m not in MODES for m in mw):
            raise ValueError(f"mode_weights must name forward/reverse with a positive weight, got {c.mode_weights}")
        msum = sum(mw.values())
        for op in c.ops:
            for mode, w in mw.items():
                key = (int(op), c.context, mode)
                targets[key] = targets.get(key, 0.0) + token_budget * c.weight / total_w / len(c.ops) * w / msum
    return targets


def _backend_encoder(backend, eos: int):
    """Fast batch encoder of a `tokenizers.Tokenizer`: list[str] -> list[list[int]] with EOS appended (no BOS)."""

    def encode(texts: list[str]) -> list[list[int]]:
        return [e.ids + [eos] for e in backend.encode_batch(texts, add_special_tokens=False)]

    return encode


def _backend(tokenizer):
    return getattr(tokenizer, "backend_tokenizer", None) or tokenizer._tokenizer


def _encoder(tokenizer):
    """`_backend_encoder` of an HF fast tokenizer."""
    if tokenizer.eos_token_id is None:
        raise ValueError("tokenizer has no eos_token")
    return _backend_encoder(_backend(tokenizer), tokenizer.eos_token_id)


def _cells(components, budget: float, seed: int) -> list[_Cell]:
    return [_Cell(op, ctx, mode, t, _cell_seed(seed, op, ctx, mode))
            for (op, ctx, mode), t in sorted(mixture_targets(components, budget).items())]


def _round_goals(token_budget: float | None, chunk_tokens: int) -> Iterator[float]:
    """The fraction of its target that every cell reaches by the end of each round."""
    if token_budget is None:  # endless: every round adds one more budget's worth to each cell
        yield from itertools.count(1)
    rounds = max(1, math.ceil(token_budget / chunk_tokens))
    yield from (min(1.0, (r + 1) / rounds) for r in range(rounds))


class _Filler:
    """Advances cells along their own problem streams; the documents of a cell depend on nothing else."""

    def __init__(self, cells: list[_Cell], *, render: str, max_distractors: int | None, exclude: frozenset,
                 encode) -> None:
        from interplay.data.generator import GenConfig

        self.cells, self.exclude, self.encode = cells, exclude, encode
        self.cfgs = [GenConfig(op=c.op, mode=c.mode, context=c.context, render=render,
                               max_distractors=max_distractors) for c in cells]

    def advance(self, frac: float) -> list[list[list[int]]]:
        """Each cell's documents that take it to `frac` of its target (in generation order)."""
        from interplay.data.generator import generate_many
        from interplay.data.render import training_text

        out = []
        for cell, cfg in zip(self.cells, self.cfgs):
            docs, goal = [], cell.target * frac
            while cell.tokens < goal:
                if not cell.buffer:
                    if cell.stream is None:  # one stream per cell: ids stay distinct across batches
                        cell.stream = generate_many(cfg, cell.seed, sys.maxsize, exclude_ids=self.exclude)
                    batch = [training_text(p.problem, p.question, p.solution)
                             for p in itertools.islice(cell.stream, _GEN_BATCH)]
                    if not batch:
                        raise RuntimeError(f"cell op={cell.op} {cell.context}/{cell.mode}: problem stream ended")
                    cell.buffer = self.encode(batch)[::-1]  # pop() from the end = generation order
                    continue
                doc = cell.buffer.pop()
                cell.tokens += len(doc)
                cell.docs += 1
                docs.append(doc)
            out.append(docs)
        return out


def _cell_stats(cells: list[_Cell]) -> list[dict]:
    return [{"op": c.op, "context": c.context, "mode": c.mode, "target": c.target, "tokens": c.tokens,
             "docs": c.docs} for c in cells]


def stream_documents(components, tokenizer, *, seed: int, render: str = "paper", token_budget: float | None = None,
                     exclude_ids: Iterable[str] = (), max_distractors: int | None = None,
                     chunk_tokens: int = 1 << 20, stats: dict | None = None) -> Iterator[list[int]]:
    """Yield tokenized documents (ending in EOS) of the mixture, in corpus order.

    With `token_budget=None` the stream is endless (cells keep their relative shares); `stats`, if given, is
    updated in place with per-cell realized tokens/docs.
    """
    budget = float(token_budget) if token_budget is not None else float(chunk_tokens)
    cells = _cells(components, budget, seed)
    filler = _Filler(cells, render=render, max_distractors=max_distractors, exclude=frozenset(exclude_ids),
                     encode=_encoder(tokenizer))
    for rnd, frac in enumerate(_round_goals(token_budget, chunk_tokens)):
        round_docs = [d for docs in filler.advance(frac) for d in docs]
        if stats is not None:
            stats["cells"] = _cell_stats(cells)
        random.Random(f"{seed}|round|{rnd}").shuffle(round_docs)
        yield from round_docs


def _split(cells: list[_Cell], workers: int) -> list[list[int]]:
    """Cell indices per worker, balanced by target tokens (largest first onto the least loaded)."""
    loads, parts = [0.0] * workers, [[] for _ in range(workers)]
    for i in sorted(range(len(cells)), key=lambda i: (-cells[i].target, i)):
        w = min(range(workers), key=lambda w: (loads[w], w))
        parts[w].append(i)
        loads[w] += cells[i].target
    return [sorted(p) for p in parts if p]


def _worker(conn, parent: int, cells: list[_Cell], goals: list[float], tokenizer_json: str, eos: int,
            render: str, max_distractors: int | None, exclude: frozenset) -> None:
    """One corpus worker: its cells' documents round by round, as (uint16 tokens, lengths) per cell."""
    from tokenizers import Tokenizer

    try:
        filler = _Filler(cells, render=render, max_distractors=max_distractors, exclude=exclude,
                         encode=_backend_encoder(Tokenizer.from_str(tokenizer_json), eos))
        for frac in goals:
            if os.getppid() != parent:  # the building process died: stop instead of generating for nobody
                return
            conn.send([(np.fromiter(itertools.chain.from_iterable(docs), dtype=np.uint16),
                        np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))) for docs in filler.advance(frac)])
        conn.send(_cell_stats(cells))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(RuntimeError(f"corpus worker: {type(e).__name__}: {e}"))
    finally:
        conn.close()


def _parallel_rounds(components, tokenizer, *, seed: int, render: str, token_budget: float, exclude_ids: frozenset,
                     max_distractors: int | None, chunk_tokens: int, workers: int, stats: dict
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`stream_documents`' corpus, byte for byte, with the cells generated by `workers` processes: yields each
    round's (tokens, document lengths) in corpus order."""
    import multiprocessing as mp

    cells = _cells(components, float(token_budget), seed)
    goals = list(_round_goals(token_budget, chunk_tokens))
    tokenizer_json = _backend(tokenizer).to_str()
    ctx = mp.get_context("spawn")  # no fork of a process that may hold torch threads
    parts = _split(cells, workers)
    conns, procs = [], []
    try:
        for part in parts:
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker, daemon=True,
                            args=(send, os.getpid(), [cells[i] for i in part], goals, tokenizer_json,
                                  tokenizer.eos_token_id, render, max_distractors, exclude_ids))
            p.start()
            send.close()
            conns.append(recv)
            procs.append(p)

        def receive(conn):
            try:
                msg = conn.recv()
            except EOFError:
                raise RuntimeError("corpus worker died") from None
            if isinstance(msg, Exception):
                raise msg
            return msg

        for rnd in range(len(goals)):
            per_cell: list = [None] * len(cells)
            for part, conn in zip(parts, conns):
                for i, arrays in zip(part, receive(conn)):
                    per_cell[i] = arrays
            docs = [d for toks, lens in per_cell if len(lens) for d in np.split(toks, np.cumsum(lens)[:-1])]
            order = list(range(len(docs)))
            random.Random(f"{seed}|round|{rnd}").shuffle(order)  # the same permutation as stream_documents
            yield (np.concatenate([docs[i] for i in order]) if docs else np.zeros(0, np.uint16),
                   np.fromiter((len(docs[i]) for i in order), dtype=np.int64, count=len(order)))
        done = [None] * len(cells)
        for part, conn in zip(parts, conns):
            for i, st in zip(part, receive(conn)):
                done[i] = st
        stats["cells"] = done
    finally:
        for conn in conns:
            conn.close()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()


def build_corpus(components, token_budget: int, tokenizer, out_dir, *, seed: int, render: str = "paper",
                 exclude_ids: Iterable[str] = (), max_distractors: int | None = None,
                 chunk_tokens: int = 1 << 20, workers: int = 1) -> dict:
    """Generate the mixture to `token_budget` tokens and write the shards atomically; returns the manifest.

    `workers > 1` generates the cells in that many processes; the shards are the same bytes (each cell's
    documents depend only on its own stream, and each round is shuffled by the same permutation)."""
    comps = [_as_component(c) for c in components]
    exclude_ids = frozenset(exclude_ids)  # may be a one-shot iterator
    if token_budget <= 0:
        raise ValueError(f"token_budget must be positive, got {token_budget}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    vocab_size = len(tokenizer)
    if vocab_size > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"vocabulary of {vocab_size} does not fit uint16 shards")
    stats: dict = {}
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        starts, n_tok = [], 0
        with open(tmp / "tokens.bin", "wb") as f:
            if workers > 1:
                lengths = []
                for toks, lens in _parallel_rounds(comps, tokenizer, seed=seed, render=render,
                                                   token_budget=token_budget, exclude_ids=exclude_ids,
                                                   max_distractors=max_distractors, chunk_tokens=chunk_tokens,
                                                   workers=workers, stats=stats):
                    toks.tofile(f)
                    lengths.append(lens)
                lens = np.concatenate(lengths)
                starts, n_tok = np.cumsum(lens) - lens, int(lens.sum())
            else:
                buf: list[np.ndarray] = []
                for doc in stream_documents(comps, tokenizer, seed=seed, render=render, token_budget=token_budget,
                                            exclude_ids=exclude_ids, max_distractors=max_distractors,
                                            chunk_tokens=chunk_tokens, stats=stats):
                    starts.append(n_tok)
                    n_tok += len(doc)
                    buf.append(np.asarray(doc, dtype=np.uint16))
                    if len(buf) >= 4096:
                        np.concatenate(buf).tofile(f)
                        buf = []
                if buf:
                    np.concatenate(buf).tofile(f)
        np.save(tmp / "docs.npy", np.asarray(starts, dtype=np.int64))
        per_op: dict[str, int] = {}
        per_context: dict[str, int] = {}
        per_mode: dict[str, int] = {}
        for c in stats["cells"]:
            per_op[str(c["op"])] = per_op.get(str(c["op"]), 0) + c["tokens"]
            per_context[c["context"]] = per_context.get(c["context"], 0) + c["tokens"]
            per_mode[c["mode"]] = per_mode.get(c["mode"], 0) + c["tokens"]
        manifest = {
            "tokens": n_tok, "docs": len(starts), "per_op": per_op, "per_context": per_context,
            "per_mode": per_mode, "seed": seed, "vocab_size": vocab_size, "dtype": "uint16",
            "token_budget": int(token_budget), "render": render, "max_distractors": max_distractors,
            "excluded_ids": len(exclude_ids), "eos_id": tokenizer.eos_token_id,
            "components": [asdict(c) for c in comps], "cells": stats["cells"],
        }
        write_json(tmp / "manifest.json", manifest)
    return manifest


def load_shards(shard_dir: str | os.PathLike) -> tuple[np.memmap, np.ndarray, dict]:
    """(tokens memmap, doc starts, manifest) of a shard directory; a clear error if anything is missing."""
    import json

    d = Path(shard_dir)
    missing = [n for n in ("tokens.bin", "docs.npy", "manifest.json") if not (d / n).is_file()]
    if missing:
        raise FileNotFoundError(f"shard directory {d} is missing {', '.join(missing)}")
    manifest = json.loads((d / "manifest.json").read_text())
    tokens = np.memmap(d / "tokens.bin", dtype=np.dtype(manifest.get("dtype", "uint16")), mode="r")
    docs = np.load(d / "docs.npy")
    return tokens, docs, manifest
