"""The synthetic task: graph sampling, renderings, parsing, process verification, tokenizers, corpora.

Public API (imported lazily so that `import interplay.data` stays cheap):
`generate, generate_many, GenConfig, CONTEXTS, verify, VerifyResult, parse_solution, ParseResult,
load_problems, read_jsonl, write_jsonl, training_text, prompt_text`.
"""

from __future__ import annotations

import importlib

from interplay.data.types import Graph, Node, Problem

# Bound eagerly: `interplay.data.verify` is both a submodule and the public function; binding the
# function here (after the submodule import) keeps `interplay.data.verify(...)` the function for good.
from interplay.data.verify import VerifyResult, verify, verify_file  # noqa: E402

_LAZY = {
    "generate": "generator", "generate_many": "generator", "GenConfig": "generator", "CONTEXTS": "generator",
    "parse_solution": "parser", "ParseResult": "parser",
    "load_problems": "records", "read_jsonl": "records", "write_jsonl": "records", "content_id": "records",
    "training_text": "render", "prompt_text": "render",
}

__all__ = ["Graph", "Node", "Problem", "verify", "VerifyResult", "verify_file", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"interplay.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'interplay.data' has no attribute {name!r}")
