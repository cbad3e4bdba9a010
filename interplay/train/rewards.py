"""GRPO rewards (paper §6 / §8, official `verl/dataset.py::compute_score` and `verl/reward_fn.py`).

* `outcome`: R_out, the official normalized string match of the `<answer>` content (`verl/dataset.py::compute_score`),
             with the authors' case-insensitive `Answer:` fallback.
* `mix`:     paper Eq. 3, α·R_out + (1-α)·ProcessAcc (ProcessAcc from `interplay.data.verify`, paper §A.4).
* `strict`:  R_out if ProcessAcc = 1, else 0 (= VerifiedCorrect).
* `gated`:   the authors' code, R_out·(α + (1-α)·PR), PR = max(0, 1 - penalty/|V_gold|), penalty = value +
             dependency + missing + min(extra, |V_gold|) + answer mismatch; `strict_zero` zeroes any mismatch
             (their `_process_strict`, which unlike eval also rejects extra nodes).

Every reward is a pure function of (completion text, gold record) and never raises: garbage scores 0.
Answer extraction is linear in the text length (a 100k-character completion scores in about a millisecond).

`verify_mode` is the verifier behind the process terms: `paper` (the paper's definition) or `official_compat`
(the authors' parser and compare). Unset, it is the reward's own: `official_compat` for `gated` (so that it is
the authors' reward, equal to theirs on every checked text), `paper` for the paper's `mix` and `strict`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from interplay.knobs import REWARDS, VERIFY_MODES  # re-exported

DEFAULT_VERIFY_MODE = {"outcome": "paper", "mix": "paper", "strict": "paper", "gated": "official_compat"}

# The authors' `extract_answer_flexible` rules, each found by linear scans (no lazy match over unclosed
# tags): rule 1 `<answer>(.*?)</answer>` (re.I, DOTALL) is the first open tag and the first close after it.
_OPEN = re.compile(r"<answer>", re.IGNORECASE)
_CLOSE = re.compile(r"</answer>", re.IGNORECASE)
_LAST_OPEN = re.compile(r".*<answer>", re.IGNORECASE | re.ASCII | re.DOTALL)  # text.lower().rfind("<answer>")
_UP_TO_TAG = re.compile(r"[^<\n]*")
_ANSWER_LINE = re.compile(r"Answer:\s*([^<\n]*)", re.IGNORECASE)


@dataclass
class RewardOut:
    score: float  # the reward used for advantages
    outcome: float  # R_out ∈ {0, 1}
    process: float  # the process term of this reward (ProcessAcc, or PR for `gated`); 0 if unparseable
    verified: bool  # VerifiedCorrect (eval definition: all gold nodes right, answer right; extra nodes allowed)
    answer_correct: bool  # numeric answer equality from the verifier
    category: str  # verifier category; "unparseable" for garbage
    components: dict[str, float] = field(default_factory=dict)  # logged as rewards/<name>/mean


def extract_answer(text: str, allow_answer_line: bool = True) -> str | None:
    """Official `extract_answer_flexible` (verl/dataset.py, scripts/eval_checkpoints.py): the first
    <answer>…</answer>; else after the last <answer> up to `<`, newline or end; else (the reward only, not
    their eval or process reward) `Answer: …`, case-insensitive, up to `<` or newline.

    One difference, theirs a bug: they find the last open tag in `text.lower()` and slice `text` there, so a
    character whose lower case is longer (`İ`) shifts their slice; here the slice is where the tag is.
    """
    m = _OPEN.search(text)
    if m is not None:
        c = _CLOSE.search(text, m.end())
        if c is not None:
            return text[m.end():c.start()]
    last = _LAST_OPEN.match(text)  # greedy: one backward scan from the end to the last tag
    if last is not None:
        return _UP_TO_TAG.match(text, last.end()).group(0)
    if allow_answer_line:
        m = _ANSWER_LINE.search(text)
        if m:
            return m.group(1)
    return None


def _norm(s: Any) -> str:
    return str(s).strip().rstrip(".")


def outcome_reward(text: str, gold_answer: Any, allow_answer_line: bool = True) -> float:
    """1.0 iff the extracted answer string equals the gold one after `.strip().rstrip(".")` ("2.0" ≠ "2")."""
    ans = extract_answer(text, allow_answer_line)
    return float(ans is not None and _norm(ans) == _norm(gold_answer))


def _verify(text: str, gold: dict, mode: str):
    """The verifier never raises by contract; a defect there must not kill an RL run either."""
    from interplay.data.verify import verify

    try:
        return verify(text, gold, mode=mode)
    except Exception:  # noqa: BLE001 - garbage is scored, never crashes
        return None


def official_process_reward(vr) -> tuple[float, bool]:
    """Authors' PR and mismatch flag (verl/reward_fn.py::_compute_step_process_reward)."""
    if vr is None or vr.category == "unparseable":
        return 0.0, True
    n = max(vr.n_gold, 1)
    penalty = (vr.n_value_mismatch + vr.n_dep_mismatch + vr.n_missing + min(vr.n_extra, vr.n_gold)
               + (0 if vr.answer_correct else 1))
    return max(0.0, 1.0 - penalty / n), penalty > 0


def resolve_verify_mode(name: str, verify_mode: str | None = None) -> str:
    """The verifier a reward uses: `verify_mode` if given, else the reward's default (DEFAULT_VERIFY_MODE)."""
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; expected one of {REWARDS}")
    if verify_mode is None:
        return DEFAULT_VERIFY_MODE[name]
    if verify_mode not in VERIFY_MODES:
        raise ValueError(f"unknown verify_mode {verify_mode!r}; expected one of {VERIFY_MODES}")
    return verify_mode


def reward(name: str, completion_text: str, gold_record: dict, *, alpha: float | None = None,
           strict_zero: bool = False, verify_mode: str | None = None) -> RewardOut:
    """Score one completion (text after the prompt) against its gold record (`answer`, `graph`).

    alpha: weight of R_out; default 0.5 for `mix` (a Fig. 7 arm) and 0.2 for `gated` (the code default).
    strict_zero: `gated` only, the authors' zero_on_process_mismatch.
    verify_mode: `paper` | `official_compat`; None = the reward's default (see the module docstring).
    """
    verify_mode = resolve_verify_mode(name, verify_mode)
    text = completion_text if isinstance(completion_text, str) else ""
    vr = _verify(text, gold_record, verify_mode)
    verified = bool(vr is not None and vr.verified)
    answer_ok = bool(vr is not None and vr.answer_correct)
    category = vr.category if vr is not None else "unparseable"
    proc_acc = float(vr.process_acc) if vr is not None else 0.0
    r_out = outcome_reward(text, gold_record.get("answer"))

    if name == "outcome":
        score, process = r_out, proc_acc
    elif name == "mix":
        a = 0.5 if alpha is None else alpha
        score, process = a * r_out + (1.0 - a) * proc_acc, proc_acc
    elif name == "strict":
        score, process = r_out * float(proc_acc == 1.0), proc_acc
    else:  # gated: the official code's outcome drops the "Answer:" fallback
        a = 0.2 if alpha is None else alpha
        r_out = outcome_reward(text, gold_record.get("answer"), allow_answer_line=False)
        process, mismatch = official_process_reward(vr)
        score = min(max(a * r_out + (1.0 - a) * process, 0.0), 1.0) * r_out
        if strict_zero and r_out == 1.0 and mismatch:
            score = 0.0
    return RewardOut(score=float(score), outcome=r_out, process=process, verified=verified,
                     answer_correct=answer_ok, category=category,
                     components={"outcome": r_out, "process": process})
