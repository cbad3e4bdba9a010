"""Typed schemas of specs and profiles (OmegaConf structured dataclasses).

A spec file holds named runs in five sections (`datasets`, `tokenizers`, `pretrain`, `midtrain`, `rl`); a finding
spec adds its arms, evaluation and claims. Specs speak in bands; a profile binds bands to op ranges and sets every
size, so the finding specs are the same at every scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

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

    bands: List[str] = field(default_factory=list)  # bands whose ops this component covers
    weight: float = 1.0  # share of the whole mix
    # Split the band's ops into len(split) consecutive chunks with these shares (paper: 20/30/50 over 2-4/5-7/8-10).
    split: Optional[List[float]] = None
    # Context shares; None = A/B/C equally (the paper's 33/33/33 mix).
    contexts: Optional[Dict[str, float]] = None


@dataclass
class DatasetSpec:
    """A generated problem set: a test set (per band x context, `problems_per_op` each) or an RL prompt pool."""

    purpose: str = "test"  # test | rl
    bands: List[str] = field(default_factory=list)  # test sets: disjoint bands to evaluate on
    contexts: List[str] = field(default_factory=lambda: list(CONTEXTS))  # test sets
    mix: List[Mix] = field(default_factory=list)  # RL pools
    exclude: List[str] = field(default_factory=list)  # datasets whose ids must not appear here
    seed_offset: int = 0  # added to the dataset's seed: another draw of the same definition


@dataclass
class TokenizerSpec:
    bands: List[str] = field(default_factory=lambda: ["id", "edge", "hard"])  # ops whose text trains it


@dataclass
class Budget:
    """Fixed compute split (paper §5, Eq. 1-2): mid-training gets (1-beta)T, RL gets beta T."""

    beta: float = 1.0  # RL share of the budget: 0 = full mid-training, 1 = full RL (Table 3)


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
class Reward:
    name: str = "outcome"  # outcome | mix | strict | gated
    alpha: float = 1.0  # weight of R_out in mix/gated (Eq. 3)
    verify_mode: Optional[str] = None  # paper | official_compat; None = the reward's own (gated: official_compat)


@dataclass
class RLSpec:
    init: str = ""  # the pretrain/midtrain run it starts from
    prompts: str = ""  # a `datasets` run with purpose rl
    reward: Reward = field(default_factory=Reward)  # reward name and alpha
    budget: Optional[Budget] = None  # None: the profile's rl.steps


@dataclass
class Operand:
    arm: str = ""  # an arm of the finding
    metric: str = "strict"  # strict | answer | false_positive | reward
    k: int = 1  # pass@k; capped at the profile's eval.n
    band: Optional[str] = None  # None: every op of the test set
    at: str = "all"  # all | top
    context: Optional[str] = None  # None: all contexts
    testset: Optional[str] = None  # None: the finding's evaluate.testset
    last: int = 5  # reward: mean of the last `last` logged steps


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
    kind: str = "greater"  # greater | less | greater_equal | less_equal | at_least | at_most, on d = lhs - rhs
    lhs: Operand = field(default_factory=Operand)  # left statistic
    rhs: Optional[Operand] = None  # right statistic; None: compare lhs with `value`
    value: Optional[float] = None  # the constant when rhs is None (a share in [0, 1])
    margin: float = 0.0  # greater/less: the required gap; other kinds: a tolerance
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
    render: str = "compact"  # paper | compact
    max_distractors: Optional[int] = None  # cap on distractor sentences (None = all, as the authors)
    modulus: Optional[int] = None  # None = no modulus (the authors' mod=-1)
    number_range: int = 5  # literals are 1..number_range-1
    mode_weights: Dict[str, float] = field(default_factory=lambda: {"forward": 0.5, "reverse": 0.5})


@dataclass
class TokenizerCfg:
    kind: str = "word"  # bpe | word
    vocab_size: int = 2200  # entries, including the 10 specials
    sample_per_op: int = 200  # problems per (op, context) the tokenizer is trained on


@dataclass
class LMCfg:
    """Next-token training (pre- or mid-training)."""

    tokens: int = 0  # pre-training token budget (mid-training uses the compute budget)
    seq_len: int = 2048  # tokens per training window
    batch_tokens: int = 524_288  # tokens per optimizer step (global)
    micro_batch_size: int = 64  # sequences per forward (memory only; batch_tokens fixes the optimizer batch)
    packing: str = "docs"  # docs: whole documents padded per window (authors' FFD) | concat: chopped stream
    devices: int = 0  # data-parallel processes (0 = run_lm's auto: 2 DDP x 1 thread on CPU, 1 on GPU)
    lr: float = 1e-4  # the authors' yaml for the paper base (the paper text says 2e-4)
    min_lr: float = 3e-5  # cosine floor (`cosine_with_min_lr`)
    warmup_ratio: float = 0.05  # share of steps in linear warmup
    weight_decay: float = 0.1  # AdamW
    grad_clip: float = 1.0  # max grad norm
    log_every: int = 10  # steps between logged rows
    ckpt_every_steps: int = 500  # optimizer steps between resumable checkpoints


@dataclass
class RLCfg:
    steps: int = 200  # rollout steps of a run without a compute budget
    prompts_per_step: int = 1024  # B, global
    group_size: int = 6  # G rollouts per prompt
    mini_batches: int = 4  # 1024 / 256 (verl ppo_mini_batch_size)
    pool: int = 204_800  # unique prompts per RL pool
    lr: float = 1e-6  # AdamW, constant
    kl_coef: float = 1e-3  # k3 KL in the loss
    clip: float = 0.2  # ratio clip ε
    temperature: float = 1.0  # rollout sampling
    top_p: float = 1.0  # rollout sampling
    max_prompt_tokens: int = 1024  # longer prompts are dropped
    max_new_tokens: int = 1024  # rollout length cap
    ckpt_every_steps: int = 20  # rollout steps between resumable checkpoints
    accelerator: str = "cpu"  # cpu | gpu
    precision: str = "32-true"  # 32-true | bf16-mixed


@dataclass
class BudgetCfg:
    total_tokens: float = 2.097152e9  # T of paper §5 (100 full-RL steps, Table 3 row 2.10B)


@dataclass
class EvalCfg:
    problems_per_op: int = 200  # test problems per (op, context)
    n: int = 128  # samples per problem
    ks: List[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64, 128])  # pass@k reported (k <= n)
    temperature: float = 0.7  # sampling
    top_p: float = 1.0  # sampling
    max_new_tokens: int = 1024  # completion length cap
    mode: str = "paper"  # verification mode: paper | official_compat


@dataclass
class Profile:
    name: str = ""  # equals the file name
    description: str = ""  # one line
    bands: Dict[str, List[int]] = field(default_factory=dict)  # band -> [lo, hi] inclusive
    model: str = "paper"  # interplay.model.PRESETS key
    data: DataCfg = field(default_factory=DataCfg)  # how problems are generated and rendered
    tokenizer: TokenizerCfg = field(default_factory=TokenizerCfg)  # tokenizer kind and size
    pretrain: LMCfg = field(default_factory=LMCfg)  # next-token pre-training
    midtrain: LMCfg = field(default_factory=LMCfg)  # next-token mid-training (tokens: from `budget`)
    rl: RLCfg = field(default_factory=RLCfg)  # GRPO
    budget: BudgetCfg = field(default_factory=BudgetCfg)  # compute budget of the mid-training/RL split
    eval: EvalCfg = field(default_factory=EvalCfg)  # evaluation
    departures: List[Departure] = field(default_factory=list)  # where it differs from the paper, and why


@dataclass
class Overrides:
    profile: Dict[str, Any] = field(default_factory=dict)  # merged onto the selected profile
    runs: Dict[str, Any] = field(default_factory=dict)  # run name -> keys merged onto its resolved config


@dataclass
class Params:
    """params.yaml: the profile choice and the few global knobs (`dvc exp run -S profile=ci`)."""

    profile: str = "cpu"  # specs/profiles/<profile>.yaml
    seed: int = 0  # root of every run's seed
    threads: int = 1  # torch threads per process for stages; not part of any run's identity
    overrides: Overrides = field(default_factory=Overrides)  # ad-hoc changes, e.g. `dvc exp run -S`
