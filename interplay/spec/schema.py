"""Typed schemas of specs and profiles (OmegaConf structured dataclasses).

A spec file holds named runs in five sections (`datasets`, `tokenizers`, `pretrain`, `midtrain`, `rl`); a finding
spec adds its arms, evaluation and claims. Specs speak in bands; a profile binds bands to op ranges and sets every
size, so the finding specs are the same at every scale. See docs/contracts.md §6a.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from interplay.eval.ladder import Ladder

BANDS = ("atomic", "id", "id_top", "mixed", "edge", "hard", "beyond")
CONTEXTS = ("zoo", "teachers", "festival")
MODES = ("forward", "reverse")
REWARDS = ("outcome", "mix", "strict", "gated")
CLAIM_KINDS = ("greater", "less", "greater_equal", "less_equal", "at_least", "at_most")
METRICS = ("strict", "answer", "false_positive", "reward")
RUN_SECTIONS = ("datasets", "tokenizers", "pretrain", "midtrain", "rl")


class SpecError(ValueError):
    """A spec or profile is malformed; the message is one line naming the file and the key."""


# ---------------------------------------------------------------------------------------------- spec parts


@dataclass
class Mix:
    """One data component: ops of `bands`, `weight` of the whole, spread over `contexts` (weights)."""

    bands: List[str] = field(default_factory=list)
    weight: float = 1.0
    # Split the band's ops into len(split) consecutive chunks with these shares (paper: 20/30/50 over 2-4/5-7/8-10).
    split: Optional[List[float]] = None
    # Context shares; None = A/B/C equally (the paper's 33/33/33 mix).
    contexts: Optional[Dict[str, float]] = None


@dataclass
class DatasetSpec:
    """A generated problem set: a test set (per band x context, `problems_per_op` each), an RL prompt pool, or
    the held-out ladder set (`heldout`: like a test set, `pretrain.ladder_problems_per_op` each). At most one
    heldout set; the resolver keeps every test set out of it and it out of every RL pool and training corpus."""

    purpose: str = "test"  # test | rl | heldout
    bands: List[str] = field(default_factory=list)  # test sets: disjoint bands to evaluate on
    contexts: List[str] = field(default_factory=lambda: list(CONTEXTS))  # test sets
    mix: List[Mix] = field(default_factory=list)  # RL pools
    exclude: List[str] = field(default_factory=list)  # datasets whose ids must not appear here
    seed_offset: int = 0


@dataclass
class TokenizerSpec:
    bands: List[str] = field(default_factory=lambda: ["id", "edge", "hard"])  # ops whose text trains it


@dataclass
class Budget:
    """Fixed compute split (paper §5, Eq. 1-2): mid-training gets (1-beta)T, RL gets beta T."""

    beta: float = 1.0


@dataclass
class PretrainSpec:
    tokenizer: str = ""
    mix: List[Mix] = field(default_factory=list)
    exclude: List[str] = field(default_factory=list)  # test sets kept out of the corpus


@dataclass
class MidtrainSpec:
    init: str = ""
    mix: List[Mix] = field(default_factory=list)
    exclude: List[str] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)  # tokens = (1 - beta) * profile.budget.total_tokens


@dataclass
class Reward:
    name: str = "outcome"  # outcome | mix | strict | gated
    alpha: float = 1.0  # weight of R_out in mix/gated (Eq. 3)


@dataclass
class RLSpec:
    init: str = ""
    prompts: str = ""
    reward: Reward = field(default_factory=Reward)
    budget: Optional[Budget] = None  # None: the profile's rl.steps


@dataclass
class Operand:
    arm: str = ""
    metric: str = "strict"  # strict | answer | false_positive | reward
    k: int = 1
    band: Optional[str] = None
    at: str = "all"  # all | top
    context: Optional[str] = None
    testset: Optional[str] = None  # None: the finding's evaluate.testset
    last: int = 5  # reward: mean of the last `last` logged steps


@dataclass
class PaperRef:
    """The paper's numbers for a claim, in percent as printed (None where the paper only draws a line)."""

    lhs: Optional[float] = None
    rhs: Optional[float] = None
    delta: Optional[float] = None  # where the paper prints only the difference (Fig. 7, Fig. 15 labels)
    source: str = ""


@dataclass
class Claim:
    id: str = ""
    text: str = ""
    kind: str = "greater"
    lhs: Operand = field(default_factory=Operand)
    rhs: Optional[Operand] = None
    value: Optional[float] = None
    margin: float = 0.0
    paper: PaperRef = field(default_factory=PaperRef)


@dataclass
class Decision:
    """A paper inconsistency (reference/paper.md §9) and how the specs decide it."""

    issue: str = ""
    decision: str = ""


@dataclass
class EvaluateSpec:
    testset: str = ""
    extra: List[str] = field(default_factory=list)  # further test sets the arms are evaluated on


@dataclass
class SpecFile:
    finding: Optional[str] = None
    title: str = ""
    paper_ref: str = ""
    decisions: List[Decision] = field(default_factory=list)
    datasets: Dict[str, DatasetSpec] = field(default_factory=dict)
    tokenizers: Dict[str, TokenizerSpec] = field(default_factory=dict)
    pretrain: Dict[str, PretrainSpec] = field(default_factory=dict)
    midtrain: Dict[str, MidtrainSpec] = field(default_factory=dict)
    rl: Dict[str, RLSpec] = field(default_factory=dict)
    arms: List[str] = field(default_factory=list)
    evaluate: Optional[EvaluateSpec] = None
    claims: List[Claim] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- profiles


@dataclass
class Departure:
    key: str = ""
    paper: str = ""
    ours: str = ""
    reason: str = ""


@dataclass
class DataCfg:
    render: str = "compact"  # paper | compact
    max_distractors: Optional[int] = None
    modulus: Optional[int] = None
    number_range: int = 5
    mode_weights: Dict[str, float] = field(default_factory=lambda: {"forward": 0.5, "reverse": 0.5})


@dataclass
class TokenizerCfg:
    kind: str = "word"  # bpe | word
    vocab_size: int = 2200
    sample_per_op: int = 200  # problems per (op, context) the tokenizer is trained on


@dataclass
class LMCfg:
    """Next-token training (pre- or mid-training)."""

    tokens: int = 0  # pre-training token budget (mid-training uses the compute budget)
    seq_len: int = 2048
    batch_tokens: int = 524_288
    micro_batch_size: int = 64  # sequences per forward (memory only; batch_tokens fixes the optimizer batch)
    packing: str = "docs"  # docs: whole documents padded per window (authors' FFD) | concat: chopped stream
    devices: int = 0  # data-parallel processes (0 = run_lm's auto: 2 DDP x 1 thread on CPU, 1 on GPU)
    lr: float = 1e-4  # the authors' yaml for the paper base (the paper text says 2e-4)
    min_lr: float = 3e-5
    warmup_ratio: float = 0.05
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    log_every: int = 10
    ckpt_every_steps: int = 500


@dataclass
class PretrainCfg(LMCfg):
    """Pre-training: the LM knobs plus the ladder curve on the held-out set (interplay.train.ladder)."""

    ladder_every: int = 0  # optimizer steps between greedy held-out evaluations (and the last step); 0 = off
    ladder_problems_per_op: int = 8  # held-out problems per op and context (both modes)


@dataclass
class RLCfg:
    steps: int = 200
    prompts_per_step: int = 1024
    group_size: int = 6
    mini_batches: int = 4  # 1024 / 256 (verl ppo_mini_batch_size)
    pool: int = 204_800  # unique prompts per RL pool
    lr: float = 1e-6
    kl_coef: float = 1e-3
    clip: float = 0.2
    temperature: float = 1.0
    top_p: float = 1.0
    max_prompt_tokens: int = 1024
    max_new_tokens: int = 1024
    ckpt_every_steps: int = 20
    accelerator: str = "cpu"  # cpu | gpu
    precision: str = "32-true"  # 32-true | bf16-mixed


@dataclass
class BudgetCfg:
    total_tokens: float = 2.097152e9  # T of paper §5 (100 full-RL steps, Table 3 row 2.10B)


@dataclass
class EvalCfg:
    problems_per_op: int = 200
    n: int = 128
    ks: List[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64, 128])
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 1024
    mode: str = "paper"  # verification mode: paper | official_compat


@dataclass
class Profile:
    name: str = ""
    description: str = ""
    bands: Dict[str, List[int]] = field(default_factory=dict)  # band -> [lo, hi] inclusive
    model: str = "paper"  # interplay.model.PRESETS key
    data: DataCfg = field(default_factory=DataCfg)
    tokenizer: TokenizerCfg = field(default_factory=TokenizerCfg)
    pretrain: PretrainCfg = field(default_factory=PretrainCfg)
    midtrain: LMCfg = field(default_factory=LMCfg)
    rl: RLCfg = field(default_factory=RLCfg)
    budget: BudgetCfg = field(default_factory=BudgetCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)
    ladder: Ladder = field(default_factory=Ladder)  # what a base must show before claims on it are testable
    departures: List[Departure] = field(default_factory=list)


@dataclass
class Overrides:
    profile: Dict[str, Any] = field(default_factory=dict)  # merged onto the selected profile
    runs: Dict[str, Any] = field(default_factory=dict)  # run name -> keys merged onto its resolved config


@dataclass
class Params:
    """params.yaml: the profile choice and the few global knobs (`dvc exp run -S profile=ci`)."""

    profile: str = "cpu"
    seed: int = 0
    threads: int = 1  # torch threads per process for stages; not part of any run's identity
    overrides: Overrides = field(default_factory=Overrides)
