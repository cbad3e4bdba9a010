"""The building blocks of every typed config: `knob` fields with a checked range, and every enumeration.

Each list of names is defined here once, as a `StrEnum` that OmegaConf checks when a YAML value is merged onto a
structured config (an unknown name fails at load time with the key named); the tuples beside them are for
messages and membership tests. Run configs hold plain strings (`plain`), so checkpoints and JSON files never
carry enum objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from enum import Enum, StrEnum
from typing import Any


class _Names(StrEnum):
    def __repr__(self) -> str:  # messages show 'id', not <Band.id: 'id'>
        return repr(self.value)


def _enum(name: str, *values: str) -> type[StrEnum]:
    """A StrEnum whose member names equal their values (OmegaConf looks members up by name)."""
    return _Names(name, [(v, v) for v in values], module=__name__)


Band = _enum("Band", "atomic", "id", "id_top", "mixed", "edge", "hard", "beyond")  # op ranges a profile binds
Context = _enum("Context", "zoo", "teachers", "festival")  # problem contexts A, B, C (paper §4)
Mode = _enum("Mode", "forward", "reverse")  # problem direction
Render = _enum("Render", "paper", "compact")  # surface text of a problem
TokenizerKind = _enum("TokenizerKind", "bpe", "word")
Purpose = _enum("Purpose", "test", "rl", "heldout")  # what a generated dataset is for
Packing = _enum("Packing", "concat", "docs")  # chopped document stream | whole documents padded per window
LossOn = _enum("LossOn", "all", "solution")  # next-token loss on every token | on the solution (and answer) only
Schedule = _enum("Schedule", "cosine", "wsd")  # LR after warmup: cosine to min_lr | constant, then linear decay
Accelerator = _enum("Accelerator", "auto", "cpu", "gpu")
Reward = _enum("Reward", "outcome", "mix", "strict", "gated")  # RL reward (paper Eq. 3)
VerifyMode = _enum("VerifyMode", "paper", "official_compat")  # how a solution's process is verified
ClaimKind = _enum("ClaimKind", "greater", "less", "greater_equal", "less_equal", "at_least", "at_most")
Metric = _enum("Metric", "strict", "answer", "false_positive", "reward", "rollout_strict")  # a claim operand's statistic
# claim metrics read from an RL run's logged curve, and the logged column each one averages
RL_METRICS = {"reward": "reward", "rollout_strict": "acc_strict"}
At = _enum("At", "all", "top")  # a claim operand's ops: the band's all, or its highest only
Verdict = _enum("Verdict", "holds", "fails", "inconclusive", "untestable")

BANDS = tuple(Band)
CONTEXTS = tuple(Context)
MODES = tuple(Mode)
REWARDS = tuple(Reward)
VERIFY_MODES = tuple(VerifyMode)
CLAIM_KINDS = tuple(ClaimKind)
METRICS = tuple(Metric)
VERDICTS = tuple(Verdict)
# error categories of a scored sample (interplay.data.verify); not a config field
CATEGORIES = ("correct", "wrong_answer_only", "value_mismatch", "dependency_mismatch", "missing_nodes",
              "unparseable")


def knob(default: Any = None, *, factory: Any = None, gt: float | None = None, ge: float | None = None,
         le: float | None = None) -> Any:
    """A numeric field with its allowed range (`gt` / `ge` lower bound, `le` upper bound), checked at load time for
    the value or, for lists and dicts, every element (`interplay.spec.load.check_ranges`; None values pass)."""
    meta = {"range": {k: v for k, v in (("gt", gt), ("ge", ge), ("le", le)) if v is not None}}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def range_text(rng: dict) -> str:
    """{'ge': 0, 'le': 1} -> 'in [0, 1]'; {'gt': 0} -> '> 0'."""
    if "le" in rng:
        lo = f"[{rng['ge']:g}" if "ge" in rng else f"({rng['gt']:g}"
        return f"in {lo}, {rng['le']:g}]"
    return f"> {rng['gt']:g}" if "gt" in rng else f">= {rng['ge']:g}"


def plain(x: Any) -> Any:
    """Enum members -> their string values, recursively through dataclasses (in place), dicts and lists."""
    if isinstance(x, Enum):
        return x.value
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            setattr(x, f.name, plain(getattr(x, f.name)))
        return x
    if isinstance(x, dict):
        return {plain(k): plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    return x


def section(obj: Any, base: type) -> dict:
    """The fields of dataclass `base` read from `obj` (a profile section of that type or a subclass), as plain
    values: the part of a profile section a run config takes as is."""
    return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(base)}
