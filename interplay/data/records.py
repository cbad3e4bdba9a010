"""JSONL records of problems: content ids, atomic (gzip-aware) writing, reading, and loading.

A record is `Problem.to_record()`: the official dataset fields (`problem, question, solution, op, id,
template, mode`) plus `answer`, `render` and the gold `graph`. Rows in the official schema (no `graph`,
`mode` = normalforward | forwardreverse, junk ids) load too: their gold graph comes from parsing the gold
solution with `interplay.data.parser`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

from interplay.data.types import Graph, Problem
from interplay.io import atomic_path

__all__ = ["content_id", "canonical", "write_jsonl", "read_jsonl", "load_problems", "problem_from_record"]

_FIELD_SEP = "\n--FIELD--\n"  # the official dedup key's separator (scripts/data_gen/generate_zero_context_medium.py)
_WS = re.compile(r"\s+")
_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_OFFICIAL_MODES = {"normalforward": "forward", "forwardreverse": "reverse", "forward": "forward",
                   "reverse": "reverse"}


def canonical(text: str) -> str:
    """Whitespace-normalized text (paper A.1.5: canonicalize before hashing; numbers are plain ints)."""
    return _WS.sub(" ", text or "").strip()


def content_id(problem: str, question: str, solution: str) -> str:
    """sha256 of the canonicalized (problem, question, solution), first 16 hex chars."""
    key = _FIELD_SEP.join(canonical(x) for x in (problem, question, solution))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _is_gz(path: str | os.PathLike) -> bool:
    return str(path).endswith(".gz")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Problem | dict[str, Any]]) -> int:
    """Write problems (or dicts) as JSONL, atomically; `.gz` paths are gzipped reproducibly. Returns #rows."""
    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw:
            # mtime=0 and no file name: the same rows give the same bytes
            out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if _is_gz(path) else raw
            with io.TextIOWrapper(out, encoding="utf-8", newline="\n") as f:
                for r in rows:
                    rec = r.to_record() if isinstance(r, Problem) else r
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    n += 1
            if out is not raw:
                out.close()
    return n


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    opener = gzip.open if _is_gz(path) else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _official_answer(solution: str) -> int | None:
    tail = solution.split("Answer: ")[-1].strip().rstrip(".")  # eval_checkpoints' gold answer rule
    try:
        return int(float(tail))
    except ValueError:
        return None


def problem_from_record(rec: dict[str, Any]) -> Problem:
    """A Problem from one JSONL row (ours, or the official schema without `graph`)."""
    problem, question, solution = rec.get("problem", ""), rec.get("question", ""), rec.get("solution", "")
    mode = _OFFICIAL_MODES.get(str(rec.get("mode", "forward")), "forward")
    extra: dict[str, Any] = {}
    if rec.get("graph"):
        graph = Graph.from_dict(rec["graph"])
    else:
        from interplay.data.parser import parse_solution

        parsed = parse_solution(solution)
        if parsed.graph is None:
            raise ValueError(f"cannot derive a gold graph for row {rec.get('id')!r}: {parsed.error}")
        nodes = parsed.graph.nodes
        # query: the hidden x in reverse mode, else the last node of the solution
        query = next((n.name for n in nodes if n.letter == "x"), None) if mode == "reverse" else None
        answer = rec.get("answer", _official_answer(solution))
        graph = Graph(nodes=nodes, query=query or (nodes[-1].name if nodes else ""),
                      answer=None if answer is None else int(answer))
    pid = str(rec.get("id", ""))
    if not _ID_RE.match(pid):  # official ids ("5_p3") are neither unique nor stable
        if pid:
            extra["source_id"] = pid
        pid = content_id(problem, question, solution)
    answer = rec.get("answer", graph.answer if graph.answer is not None else _official_answer(solution))
    return Problem(problem=problem, question=question, solution=solution, op=int(rec.get("op", 0)), id=pid,
                   template=str(rec.get("template", "")), mode=mode,
                   answer=int(answer) if answer is not None else 0, graph=graph,
                   render=str(rec.get("render", "paper")), extra=extra)


def load_problems(path: str | os.PathLike) -> list[Problem]:
    return [problem_from_record(r) for r in read_jsonl(Path(path))]
