"""Typed schemas of specs and profiles (OmegaConf structured dataclasses).

A spec file holds named runs in five sections (`datasets`, `tokenizers`, `pretrain`, `midtrain`, `rl`); a finding
spec adds its arms, evaluation and claims. Specs speak in bands; a profile binds bands to op ranges and sets every
size, so the finding specs are the same at every scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from interplay.eval.config import EvalConfig
from interplay.eval.ladder import Ladder
from interplay.knobs import (BANDS, CLAIM_KINDS, CONTEXTS, METRICS, MODES, REWARDS, At, ClaimKind, Context,  # noqa: F401
                             Band, Metric, Mode, Purpose, Render, TokenizerKind, knob, range_text)
from interplay.train.config import LMCfg
from interplay.train.rl_config import RewardConfig, RLCfg

RUN_SECTIONS = ("datasets", "tokenizers", "pretrain", "midtrain", "rl")


class SpecError(ValueError):
    """A spec or profile is malformed; the message is one line naming the file and the key."""


# ---------------------------------------------------------------------------------------------- spec parts


@dataclass
class Mix:
    """One data component: ops of `bands`, `weight` of the whole, spread over `contexts` (weights)."""

    bands: List[Band] = field(default_factory=list)  # bands whose ops this component covers
    weight: float = knob(1.0, gt=0)  # share of the whole mix
    # Split the band's ops into len(split) consecutive chunks with these shares (paper: 20/30/50 over 2-4/5-7/8-10).
    split: Optional[List[float]] = knob(None, ge=0)
    # Context shares; None = A/B/C equally (the paper's 33/33/33 mix).
    contexts: Optional[Dict[Context, float]] = knob(None, ge=0)


@dataclass
class DatasetSpec:
    """A generated problem set: a test set (per band x context, `problems_per_op` each), an RL prompt pool, or
    the held-out ladder set (`heldout`: like a test set, `pretrain.ladder_problems_per_op` each). At most one
    heldout set; the resolver keeps every test set out of it and it out of every RL pool and training corpus."""

    purpose: Purpose = Purpose.test  # test | rl | heldout
    bands: List[Band] = field(default_factory=list)  # test sets: disjoint bands to evaluate on
    contexts: List[Context] = field(default_factory=lambda: list(CONTEXTS))  # test sets
    mix: List[Mix] = field(default_factory=list)  # RL pools
    exclude: List[str] = field(default_factory=list)  # datasets whose ids must not appear here
    seed_offset: int = 0  # added to the dataset's seed: another draw of the same definition


@dataclass
class TokenizerSpec:
    bands: List[Band] = field(default_factory=lambda: [Band.id, Band.edge, Band.hard])  # ops whose text trains it


@dataclass
class Budget:
    """Fixed compute split (paper §5, Eq. 1-2): mid-training gets (1-beta)T, RL gets beta T."""

    beta: float = knob(1.0, ge=0, le=1)  # each run kind narrows it further (interplay.spec.load._check)


@dataclass
class PretrainSpec:
    tokenizer: str = ""  # a `tokenizers` run name
    mix: List[Mix] = field(default_factory=list)  # the corpus: components by band/weight/context
    exclude: List[str] = field(default_factory=list)  # test sets kept out of the corpus


@dataclass
class MidtrainSpec:
    init: str = ""  # the pretrain run it continues
    mix: List[Mix] = field(default_factory=list)  # the corpus: components by band/weight/context
    exclude: List[str] = field(default_factory=list)  # test sets kept out of the corpus
    budget: Budget = field(default_factory=Budget)  # tokens = (1 - beta) * profile.budget.total_tokens


@dataclass
class RLSpec:
    init: str = ""  # the pretrain/midtrain run it starts from
    prompts: str = ""  # a `datasets` run with purpose rl
    reward: RewardConfig = field(default_factory=RewardConfig)  # reward name, alpha, verify mode
    budget: Optional[Budget] = None  # None: the profile's rl.steps


@dataclass
class Operand:
    arm: str = ""  # an arm of the finding
    metric: Metric = Metric.strict  # strict | answer | false_positive | reward
    k: int = knob(1, ge=1)  # at most the `paper` profile's eval.n (interplay.spec.load._check_k)
    band: Optional[Band] = None  # None: every op of the test set
    at: At = At.all  # all | top
    context: Optional[Context] = None  # None: all contexts
    testset: Optional[str] = None  # None: the finding's evaluate.testset
    last: int = knob(5, ge=1)  # reward: mean of the last `last` logged steps


@dataclass
class PaperRef:
    """The paper's numbers for a claim, in percent as printed (None where the paper only draws a line)."""

    lhs: Optional[float] = None  # the paper's value for lhs
    rhs: Optional[float] = None  # the paper's value for rhs
    delta: Optional[float] = None  # where the paper prints only the difference (Fig. 7, Fig. 15 labels)
    source: str = ""  # where the paper prints or draws it (e.g. 'Fig. 7')


@dataclass
class Claim:
    id: str = ""  # unique within the finding
    text: str = ""  # the claim in words, as the report prints it
    kind: ClaimKind = ClaimKind.greater  # greater | less | greater_equal | less_equal | at_least | at_most, on d = lhs - rhs
    lhs: Operand = field(default_factory=Operand)  # left statistic
    rhs: Optional[Operand] = None  # right statistic; None: compare lhs with `value`
    value: Optional[float] = None  # the constant when rhs is None (a share in [0, 1])
    margin: float = knob(0.0, ge=0)  # greater/less: the required gap; other kinds: a tolerance
    paper: PaperRef = field(default_factory=PaperRef)  # the paper's numbers, for the report


@dataclass
class Decision:
    """A paper inconsistency and how the specs decide it (docs/decisions.md)."""

    issue: str = ""  # what the paper says, with sections
    decision: str = ""  # what the specs do


@dataclass
class EvaluateSpec:
    testset: str = ""  # the `datasets` run every arm is evaluated on
    extra: List[str] = field(default_factory=list)  # further test sets the arms are evaluated on


@dataclass
class SpecFile:
    finding: Optional[str] = None  # None: a file of shared runs (runs.yaml)
    title: str = ""  # the finding in one line
    paper_ref: str = ""  # paper sections, figures and tables it reproduces
    decisions: List[Decision] = field(default_factory=list)  # paper inconsistencies, decided (docs/decisions.md)
    datasets: Dict[str, DatasetSpec] = field(default_factory=dict)  # generated test sets and RL prompt pools
    tokenizers: Dict[str, TokenizerSpec] = field(default_factory=dict)  # trained tokenizers
    pretrain: Dict[str, PretrainSpec] = field(default_factory=dict)  # next-token runs from scratch
    midtrain: Dict[str, MidtrainSpec] = field(default_factory=dict)  # next-token runs from a checkpoint
    rl: Dict[str, RLSpec] = field(default_factory=dict)  # GRPO runs
    arms: List[str] = field(default_factory=list)  # runs to evaluate and compare
    evaluate: Optional[EvaluateSpec] = None  # how arms are evaluated
    claims: List[Claim] = field(default_factory=list)  # checked by bootstrap (interplay/claims.py)


# ---------------------------------------------------------------------------------------------- profiles


@dataclass
class Departure:
    key: str = ""  # the profile field that departs
    paper: str = ""  # the paper's setting
    ours: str = ""  # this profile's
    reason: str = ""  # one line: why


@dataclass
class DataCfg:
    render: Render = Render.compact  # paper | compact
    max_distractors: Optional[int] = knob(None, ge=0)  # cap on distractor sentences (None = all, as the authors)
    modulus: Optional[int] = knob(None, ge=2)  # None = no modulus (the authors' mod=-1)
    number_range: int = knob(5, ge=1)  # literals are 1..number_range-1
    mode_weights: Dict[Mode, float] = knob(factory=lambda: {"forward": 0.5, "reverse": 0.5}, ge=0)


@dataclass
class TokenizerCfg:
    kind: TokenizerKind = TokenizerKind.word  # bpe | word
    vocab_size: int = knob(2200, gt=0)  # entries, including the 10 specials
    sample_per_op: int = knob(200, gt=0)  # problems per (op, context) the tokenizer is trained on


@dataclass
class PretrainCfg(LMCfg):
    """Pre-training: the LM knobs plus the ladder curve on the held-out set (interplay.train.ladder)."""

    ladder_every: int = knob(0, ge=0)  # optimizer steps between greedy held-out evaluations (and the last step); 0 = off
    ladder_problems_per_op: int = knob(8, gt=0)  # held-out problems per op and context (both modes)
    # share of tokens on edge-band ops that the spec's mix does not already cover, spread over the mix's contexts
    # (0 = the paper: the base never sees an edge op; App. A.7 varies a related share)
    edge_share: float = knob(0.0, ge=0, le=0.5)
    # forward/reverse mix of the pre-training corpus only (None = data.mode_weights, which every test set and RL
    # pool also uses; the paper gives no ratio for pre-training)
    mode_weights: Optional[Dict[Mode, float]] = knob(None, ge=0)
    # distractor cap of the pre-training corpus only (None = data.max_distractors, as every test set and RL pool)
    max_distractors: Optional[int] = knob(None, ge=0)


@dataclass
class RLSection(RLCfg):
    """GRPO: the run knobs plus the size of each RL prompt pool."""

    pool: int = knob(204_800, gt=0)  # unique prompts per RL pool


@dataclass
class BudgetCfg:
    total_tokens: float = knob(2.097152e9, gt=0)  # T of paper §5 (100 full-RL steps, Table 3 row 2.10B)


@dataclass
class EvalSection(EvalConfig):
    """Evaluation: the sampling settings plus the size of each test set."""

    problems_per_op: int = knob(200, gt=0)  # test problems per (op, context)


@dataclass
class Profile:
    name: str = ""  # equals the file name
    description: str = ""  # one line
    bands: Dict[str, List[int]] = field(default_factory=dict)  # band -> [lo, hi] inclusive
    model: str = "paper"  # interplay.model.PRESETS key
    data: DataCfg = field(default_factory=DataCfg)  # how problems are generated and rendered
    tokenizer: TokenizerCfg = field(default_factory=TokenizerCfg)  # tokenizer kind and size
    pretrain: PretrainCfg = field(default_factory=PretrainCfg)  # next-token pre-training
    midtrain: LMCfg = field(default_factory=LMCfg)  # next-token mid-training (token_budget: from `budget`)
    rl: RLSection = field(default_factory=RLSection)  # GRPO
    budget: BudgetCfg = field(default_factory=BudgetCfg)  # compute budget of the mid-training/RL split
    eval: EvalSection = field(default_factory=EvalSection)  # evaluation
    ladder: Ladder = field(default_factory=Ladder)  # what a base must show before claims on it are testable
    departures: List[Departure] = field(default_factory=list)  # where it differs from the paper, and why


@dataclass
class Overrides:
    profile: Dict[str, Any] = field(default_factory=dict)  # merged onto the selected profile
    runs: Dict[str, Any] = field(default_factory=dict)  # run name -> keys merged onto its resolved config


@dataclass
class Params:
    """params.yaml: the profile choice and the few global knobs (`dvc exp run -S profile=ci`)."""

    profile: str = "cpu"  # specs/profiles/<profile>.yaml
    seed: int = knob(0, ge=0)  # root of every run's seed
    threads: int = knob(1, gt=0)  # torch threads per process for stages; not part of any run's identity
    overrides: Overrides = field(default_factory=Overrides)  # ad-hoc changes, e.g. `dvc exp run -S`
