"""Tiny stand-ins for the library entry points that stages/ call, installed only into a *temporary copy* of the
repository so the DVC wiring and the stage glue can be tested end to end in seconds, independent of the real
(slow) training code. They honour the contracted signatures and output layouts, nothing more.
"""

FILES = {
    "interplay/data/generator.py": '''
import hashlib
from dataclasses import dataclass
from interplay.data.types import Graph, Node, Problem
CONTEXTS = {"zoo": "crazy_zootopia", "teachers": "teachers_in_school", "festival": "movie_festival_awards"}
@dataclass(frozen=True)
class GenConfig:
    op: int
    mode: str = "forward"
    context: str = "zoo"
    render: str = "paper"
    max_distractors: int | None = None
    modulus: int | None = None
    number_range: int = 5
def generate(cfg, seed, index):
    text = f"{cfg.context} {cfg.mode} op {cfg.op} seed {seed} i {index}"
    pid = hashlib.sha256(text.encode()).hexdigest()[:16]
    g = Graph((Node("a", "A", (), 1),), "a", 1)
    return Problem(text, "A = ?", "Define a as A; so A = 1. Answer: 1.", cfg.op, pid, CONTEXTS[cfg.context],
                   cfg.mode, 1, g, cfg.render)
def generate_many(cfg, seed, count, start=0, exclude_ids=()):
    seen, i = set(exclude_ids), start
    while count:
        p = generate(cfg, seed, i)
        i += 1
        if p.id not in seen:
            seen.add(p.id)
            count -= 1
            yield p
''',
    "interplay/data/records.py": '''
import json
from pathlib import Path
from interplay.io import write_text
def write_jsonl(path, rows):
    write_text(path, "".join(json.dumps(r.to_record() if hasattr(r, "to_record") else r) + "\\n" for r in rows))
def read_jsonl(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]
''',
    "interplay/data/render.py": '''
def training_text(problem, question, solution):
    return f"<question> {problem} {question} </question> <solution> {solution} </solution>"
def prompt_text(problem, question):
    return f"<question> {problem} {question} </question> <solution>"
''',
    "interplay/data/tokenizers.py": '''
import json
from pathlib import Path
def train_tokenizer(kind, texts, vocab_size=2200):
    return {"kind": kind, "vocab": sorted({w for t in texts for w in t.split()})[:vocab_size]}
def save_tokenizer(tok, out_dir):
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "tokenizer.json").write_text(json.dumps(tok))
def load_tokenizer(path):
    return json.loads(Path(path, "tokenizer.json").read_text())
''',
    "interplay/data/corpus.py": '''
import json
from dataclasses import dataclass, field
from pathlib import Path
@dataclass(frozen=True)
class MixComponent:
    ops: list
    weight: float
    context: str = "zoo"
    mode_weights: dict = field(default_factory=lambda: {"forward": .5, "reverse": .5})
def build_corpus(components, token_budget, tokenizer, out_dir, *, seed, render, exclude_ids=(), max_distractors=None,
                 workers=1):
    m = {"tokens": token_budget, "docs": len(components), "seed": seed, "excluded": len(exclude_ids)}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "manifest.json").write_text(json.dumps(m))
    return m
''',
    "interplay/model.py": "PRESETS = {}\n",
    "interplay/sampling.py": "",
    "interplay/train/run_lm.py": '''
import json
from pathlib import Path
def run_lm(cfg, out_dir, resume):
    out = Path(out_dir)
    assert Path(cfg["shards"], "manifest.json").exists()
    if cfg["init"]:
        assert Path(cfg["init"], "config.json").exists(), cfg["init"]
    (out / "ckpt").mkdir(parents=True, exist_ok=True)
    (out / "model").mkdir(parents=True, exist_ok=True)
    (out / "model" / "config.json").write_text(json.dumps({"tokens": cfg["token_budget"], "lr": cfg["lr"]}))
    (out / "dvclive" / "plots" / "metrics" / "train").mkdir(parents=True, exist_ok=True)
    (out / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv").write_text("step\\tloss\\n1\\t2.0\\n2\\t1.5\\n")
    (out / "dvclive" / "metrics.json").write_text(json.dumps({"train": {"loss": 1.5}, "step": 2}))
    if cfg.get("ladder"):
        (out / "ladder.csv").write_text("step,tokens,band,problems,strict,answer,copy,seconds\\n")
    (out / "metrics.json").write_text(json.dumps({"loss": 1.5}))
    return {"loss": 1.5}
''',
    "interplay/train/run_rl.py": '''
import json
from pathlib import Path
def run_rl(cfg, out_dir, resume):
    out = Path(out_dir)
    assert Path(cfg["init"], "config.json").exists() and Path(cfg["prompts"]).exists()
    (out / "ckpt").mkdir(parents=True, exist_ok=True)
    (out / "model").mkdir(parents=True, exist_ok=True)
    (out / "model" / "config.json").write_text(json.dumps(cfg["reward"]))
    rows = "".join(f"{s}\\t{0.1 * s}\\n" for s in range(1, cfg["steps"] + 1))
    (out / "dvclive" / "plots" / "metrics").mkdir(parents=True, exist_ok=True)
    (out / "dvclive" / "plots" / "metrics" / "reward.tsv").write_text("step\\treward\\n" + rows)
    (out / "dvclive" / "metrics.json").write_text(json.dumps({"reward": 0.1 * cfg["steps"], "step": cfg["steps"]}))
    (out / "metrics.json").write_text(json.dumps({"reward": 0.1 * cfg["steps"]}))
    return {}
''',
    "interplay/eval/evaluate.py": '''
import json
from pathlib import Path
def evaluate(checkpoint_dir, testsets, *, n, temperature, top_p, max_new_tokens, ks, seed, out_dir, mode="paper",
             bands=None, ladder=None):
    out = Path(out_dir)
    assert Path(checkpoint_dir, "config.json").exists() and bands
    for p in testsets:
        assert Path(p).exists(), p
    (out / "metrics.json").write_text(json.dumps({"n": n, "ks": ks, "passk": {}}))
    (out / "per_problem.csv").write_text("id,op,context,mode,n,c_strict,c_answer\\n")
    (out / "per_op.csv").write_text("op,k,strict,answer\\n2,1,0.5,0.5\\n")
    (out / "passk.csv").write_text("group,k,strict,answer\\noverall,1,0.5,0.5\\n")
    (out / "samples.jsonl.gz").write_bytes(b"")
    return {}
''',
    "interplay/claims.py": '''
from pathlib import Path
def check_finding(cfg):
    for a in cfg["arms"].values():
        for d in a["eval_dirs"].values():
            assert Path(d, "per_problem.csv").exists()
    return {"finding": cfg["finding"], "claims": [{"id": c["id"], "verdict": "inconclusive"} for c in cfg["claims"]]}
def write_verdicts(path, v):
    import json
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(v))
''',
    "interplay/report.py": '''
from pathlib import Path
import json
def render_finding(cfg, verdicts, out_dir):
    verdicts = json.loads(Path(verdicts).read_text())
    Path(out_dir, "report.md").write_text(f"# {cfg['finding']}\\n" + "".join(
        f"- {c['id']}: {c['verdict']}\\n" for c in verdicts["claims"]))
def render_summary(findings, out_path):
    vs = [json.loads(Path(p).read_text()) for p in findings]
    Path(out_path).write_text("".join(f"{v['finding']}: {len(v['claims'])}\\n" for v in vs))
''',
    "interplay/plots.py": "",
}


def install(root):
    from pathlib import Path

    for rel, text in FILES.items():
        p = Path(root, rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text.lstrip("\n"))
