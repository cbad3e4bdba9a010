"""Shared data types of the synthetic task: the gold/predicted dependency graph and a problem record.

A graph is what process verification compares: nodes are matched by their quantity *name* (letters are
arbitrary per solution), a node is right iff present with the same parent names and the same value
(paper §A.4). Literal constants (the official "RNG" pseudo-node) are not nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Node:
    name: str  # whitespace-normalized quantity name, e.g. "adult owl in Jefferson Circus"
    letter: str  # variable letter used in the solution text
    parents: tuple[str, ...]  # sorted names of parent nodes (constants excluded)
    value: int | None  # numeric value; None when not computable

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "letter": self.letter, "parents": list(self.parents), "value": self.value}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Node":
        v = d.get("value")
        return Node(str(d["name"]), str(d.get("letter", "")), tuple(sorted(d.get("parents", ()))),
                    None if v is None else int(v))


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]  # in topological (solution) order
    query: str  # name of the queried node (forward: last in topo order; reverse: the unknown x)
    answer: int | None

    @property
    def order(self) -> list[str]:
        return [n.name for n in self.nodes]

    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [n.to_dict() for n in self.nodes], "order": self.order, "query": self.query,
                "answer": self.answer}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Graph":
        ans = d.get("answer")
        return Graph(tuple(Node.from_dict(n) for n in d["nodes"]), str(d.get("query", "")),
                     None if ans is None else int(ans))


@dataclass(frozen=True)
class Problem:
    """One rendered problem. `to_record()` gives the JSONL row (official fields + answer + graph)."""

    problem: str
    question: str
    solution: str  # full solution text, ending in "Answer: <n>."
    op: int
    id: str  # content hash of the canonical (problem, question, solution)
    template: str  # crazy_zootopia | teachers_in_school | movie_festival_awards
    mode: str  # forward | reverse
    answer: int
    graph: Graph
    render: str = "paper"  # paper | compact
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_record(self) -> dict[str, Any]:
        rec = {"problem": self.problem, "question": self.question, "solution": self.solution, "op": self.op,
               "id": self.id, "template": self.template, "mode": self.mode, "answer": self.answer,
               "render": self.render, "graph": self.graph.to_dict()}
        rec.update(self.extra)
        return rec
