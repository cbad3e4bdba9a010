"""Process verification (paper §A.4): ProcessAcc, VerifiedCorrect and an error category per sample.

For each gold node v, s(v) = 1 iff a predicted node has the same name, the same parent-name set, and both
values are defined and equal. ProcessAcc = mean s(v); extra predicted nodes are allowed.
VerifiedCorrect = (ProcessAcc == 1) and the final answer is right (numeric equality, relative tolerance
1e-8, as the official eval's exact match).

Category (the paper's Fig. 8), first that applies:
  unparseable          no "Define ... as V;" step could be parsed
  correct              VerifiedCorrect
  missing_nodes        some gold node is absent from the prediction
  dependency_mismatch  some present gold node has the wrong parent set
  value_mismatch       some present gold node has a wrong or undefined value
  wrong_answer_only    every gold node is right, the final answer is not

Mode ``official_compat`` uses the official parser (`parse_solution(..., "official_compat")`) and the
official `compare` (values within 1e-6, two undefined values are equal, answers within 1e-6), and takes the
gold graph from parsing the record's gold solution (as `build_gold_dependency_graphs.py` does), so that
letter artifacts on both sides cancel exactly as in the official numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from interplay.data.parser import MODES, parse_solution
from interplay.data.types import Graph
from interplay.knobs import CATEGORIES

_OFFICIAL_TOL = 1e-6  # official compare(value_tolerance)
_ANSWER_RTOL = 1e-8  # official eval exact-match numeric tolerance


@dataclass(frozen=True)
class VerifyResult:
    process_acc: float  # (1/|V|) Σ s(v), paper §A.4
    verified: bool  # ProcessAcc == 1 and answer correct
    answer_correct: bool  # numeric equality of the final answer
    category: str  # see CATEGORIES
    n_gold: int
    n_right: int
    n_missing: int
    n_value_mismatch: int
    n_dep_mismatch: int
    n_extra: int


@dataclass(frozen=True)
class _Gold:
    nodes: dict[str, tuple[frozenset[str], Any]]  # name -> (parent names, value)
    answer: Any


def _index(graph: Graph, answer: Any) -> _Gold:
    return _Gold({n.name: (frozenset(n.parents), n.value) for n in graph.nodes}, answer)


@lru_cache(maxsize=8192)
def _gold_from_graph(graph: Graph) -> _Gold:
    return _index(graph, graph.answer)


@lru_cache(maxsize=8192)
def _gold_from_solution(solution: str, mode: str, answer: Any) -> _Gold:
    res = parse_solution(solution, mode)
    if res.graph is None:
        return _Gold({}, res.answer if answer is None else answer)
    return _index(res.graph, res.graph.answer if answer is None else answer)


def _gold(gold: Graph | dict, mode: str) -> _Gold:
    if isinstance(gold, Graph):
        return _gold_from_graph(gold)
    if not isinstance(gold, dict):
        raise TypeError(f"gold must be a Graph or a record dict, not {type(gold).__name__}")
    answer = gold.get("answer")
    if not isinstance(answer, (int, float, str)):
        answer = None
    solution = gold.get("solution")
    graph = gold.get("graph")
    # official_compat: the gold graph is the official parse of the gold solution (its artifacts included)
    if isinstance(solution, str) and (graph is None or mode == "official_compat"):
        return _gold_from_solution(solution, mode, None if mode == "official_compat" else answer)
    if isinstance(graph, Graph):
        g = graph
    elif isinstance(graph, dict):
        g = Graph.from_dict(graph)
    else:
        raise ValueError("gold record has neither a 'graph' nor a 'solution'")
    gi = _gold_from_graph(g)
    if answer is not None and gi.answer is None:
        gi = _Gold(gi.nodes, answer)
    return gi


def _answer_equal(pred: Any, gold: Any) -> bool:
    if pred is None or gold is None:
        return False
    try:
        a, b = float(pred), float(gold)
    except (TypeError, ValueError, OverflowError):
        return False
    return a == b or abs(a - b) <= _ANSWER_RTOL * max(abs(a), abs(b))


def _official_close(g: Any, p: Any) -> bool:
    """Official compare: two undefined values are equal, one undefined is a mismatch, else |g-p| <= tol."""
    if g is None or p is None:
        return g is None and p is None
    try:
        return not abs(float(g) - float(p)) > _OFFICIAL_TOL  # NaN compares "equal", as official
    except (TypeError, ValueError, OverflowError):
        return False


def _paper_equal(g: Any, p: Any) -> bool:
    return g is not None and p is not None and g == p


def verify(solution_text: str, gold: Graph | dict, mode: str = "paper") -> VerifyResult:
    """Score one solution against its gold graph. Never raises on any `solution_text`."""
    if mode not in MODES:
        raise ValueError(f"unknown verify mode {mode!r}; expected one of {MODES}")
    g = _gold(gold, mode)
    res = parse_solution(solution_text, mode)
    n_gold = len(g.nodes)
    compat = mode == "official_compat"
    if compat:
        answer_ok = _official_close(g.answer, res.answer)
    else:
        answer_ok = _answer_equal(res.answer, g.answer)
    if not res.ok or res.graph is None:
        return VerifyResult(0.0, False, answer_ok, "unparseable", n_gold, 0, n_gold, 0, 0, 0)

    pred = {n.name: n for n in res.graph.nodes}
    same_value = _official_close if compat else _paper_equal
    right = missing = bad_value = bad_dep = 0
    for name, (parents, value) in g.nodes.items():
        p = pred.get(name)
        if p is None:
            missing += 1
            continue
        dep_ok = frozenset(p.parents) == parents
        val_ok = same_value(value, p.value)
        bad_dep += not dep_ok
        bad_value += not val_ok
        right += dep_ok and val_ok
    extra = sum(1 for name in pred if name not in g.nodes)
    # an empty gold graph verifies nothing (it only arises from an unparseable gold solution)
    acc = right / n_gold if n_gold else 0.0
    process_ok = n_gold > 0 and right == n_gold
    verified = process_ok and answer_ok
    if verified:
        cat = "correct"
    elif missing:
        cat = "missing_nodes"
    elif bad_dep:
        cat = "dependency_mismatch"
    elif bad_value or not process_ok:
        cat = "value_mismatch"
    else:
        cat = "wrong_answer_only"
    return VerifyResult(acc, verified, answer_ok, cat, n_gold, right, missing, bad_value, bad_dep, extra)


def verify_file(path, mode: str = "paper") -> dict:
    """Verify every row's gold solution against its gold graph (`interplay data verify`).

    Raises ValueError with a one-line message when the file cannot be read or a row is not a record.
    """
    from interplay.data.records import read_jsonl

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    try:
        rows = read_jsonl(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise ValueError(f"{path}: cannot read: {e}") from None
    except ValueError as e:  # json.JSONDecodeError
        raise ValueError(f"{path}: not JSONL: {e}") from None
    cats: Counter[str] = Counter()
    acc_sum = 0.0
    n_verified = 0
    failures = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("solution"), str):
            raise ValueError(f"{path}: row {i + 1} is not a record with a 'solution' string")
        try:
            r = verify(row["solution"], row, mode)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: row {i + 1}: bad gold graph: {e}") from None
        cats[r.category] += 1
        acc_sum += r.process_acc
        n_verified += r.verified
        if not r.verified:
            failures.append({"row": i + 1, "id": row.get("id"), "op": row.get("op"), "category": r.category,
                             "process_acc": r.process_acc})
    n = len(rows)
    return {
        "file": str(path),
        "mode": mode,
        "n": n,
        "process_acc": acc_sum / n if n else 0.0,
        "verified": n_verified / n if n else 0.0,
        "n_verified": n_verified,
        "n_failed": n - n_verified,
        "categories": {c: cats.get(c, 0) for c in CATEGORIES},
        "failures": failures,
    }
