"""`interplay calibrate GRID.yaml`: short candidate pre-trainings from a grid, each with the ladder curve on, and a
table of their ladder results and cost. How a profile's pre-training recipe is found (issue 10), on any machine.

A grid file (example: specs/calibration/example.yaml) names a profile and one pretrain run of specs/, settings
applied to every candidate (`fixed`) and lists of values (`grid`); every combination is one candidate. Keys are
dotted paths: `profile.<key>` is merged onto the profile (as params.yaml `overrides.profile`: model preset,
pretrain token_budget / tokens_per_step / lr / warmup_ratio / seq_len / packing, bands, data.max_distractors, ...) and
`run.<key>` onto the run's resolved config (as `overrides.runs.<run>`: `run.lm.model_overrides.hidden_size`,
`run.lm.cross_doc_attention`, ...). So a candidate is resolved by the pipeline's own resolver and trained by the
pipeline's own stage code (`build_corpus` + `run_lm`, with the ladder callback), then evaluated by `evaluate`
(a sampled pass@k pass on the held-out set, checked against the profile's ladder).

An RL grid (`run:` an rl run of specs/, `init:` a finished pre-training candidate's directory) sizes GRPO the same
way: each candidate is the pipeline's own rl stage started from that base, evaluated on the base's held-out set,
and its table shows the base's numbers beside its own (`base_*`), so a user sees whether RL moved pass@k.

Layout under `--out` (default `calibration/<grid file stem>/`): `shared/<run>-<hash>/` (tokenizer, test sets and
the held-out set, built once per distinct config), `candidates/<id>/` (candidate.yaml, log.txt, corpus/, ckpt/,
model/, ladder.csv, eval/, result.json) and `results.csv` / `results.md`. A candidate's id is the content hash of
its resolved config and evaluation settings: a rerun skips finished candidates, and one killed midway resumes
from its Lightning checkpoint. Candidates run as separate processes (`--jobs J`, at most one per core, each one
process with one torch thread); a candidate being run by another `calibrate` process is left alone (file lock).
"""

from __future__ import annotations

import csv
import json
import fcntl
import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml

from interplay.io import read_json, write_json, write_text
from interplay.knobs import MODES
from interplay.spec.resolve import content_hash, dump_config
from interplay.spec.schema import Overrides, Params, SpecError

GRID_KEYS = ("profile", "run", "init", "seed", "fixed", "grid", "eval", "description")
EVAL_KEYS = ("n", "temperature", "seed", "problems_per_op")


class GridError(ValueError):
    """A malformed grid file: one line naming the file and the key."""


@dataclass
class Grid:
    path: Path
    profile: str = "cpu"
    run: str = "base"
    seed: int = 0
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    # n (samples per held-out problem), temperature, seed; problems_per_op (per op and context): a larger held-out
    # set for the final sampled evaluation (the curve keeps the profile's small one)
    eval: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    init: Optional[str] = None  # an RL grid: the trained base (a candidate directory or a model's parent dir)


def load_grid(path: str | Path) -> Grid:
    path = Path(path)
    if not path.is_file():
        raise GridError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise GridError(f"{path}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise GridError(f"{path}: expected a mapping at the top level")
    for k in data:
        if k not in GRID_KEYS:
            raise GridError(f"{path}: {k}: unknown key (known: {', '.join(GRID_KEYS)})")
    g = Grid(path, **{k: v for k, v in data.items() if v is not None})
    for section in ("fixed", "grid", "eval"):
        if not isinstance(getattr(g, section), dict):
            raise GridError(f"{path}: {section}: expected a mapping")
    for section in ("fixed", "grid"):
        for key in getattr(g, section):
            if not (isinstance(key, str) and key.split(".", 1)[0] in ("profile", "run") and "." in key):
                raise GridError(f"{path}: {section}.{key}: keys are dotted paths starting with `profile.` or `run.`")
    for key, values in g.grid.items():
        if not isinstance(values, list) or not values:
            raise GridError(f"{path}: grid.{key}: expected a non-empty list of values")
    if g.init is not None and not (Path(g.init) / "model").is_dir():
        raise GridError(f"{path}: init: {g.init} has no model/ directory (give a finished candidate's directory)")
    for key in g.eval:
        if key not in EVAL_KEYS:
            raise GridError(f"{path}: eval.{key}: unknown key (known: {', '.join(EVAL_KEYS)})")
    if int(g.eval.get("n", 1)) < 1:
        raise GridError(f"{path}: eval.n: must be >= 1")
    if int(g.eval.get("problems_per_op", 1)) < 1:
        raise GridError(f"{path}: eval.problems_per_op: must be >= 1")
    return g


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise GridError(f"{key}: a parent of this key is also given a value")
        node[last] = value
    return out


def candidate_values(g: Grid) -> list[dict[str, Any]]:
    """Every combination of the grid's lists, on top of `fixed` (one candidate without a grid)."""
    keys = list(g.grid)
    return [{**g.fixed, **dict(zip(keys, combo))} for combo in itertools.product(*(g.grid[k] for k in keys))]


def label(g: Grid, values: dict[str, Any]) -> str:
    return " ".join(f"{k.rsplit('.', 1)[-1]}={values[k]}" for k in g.grid) or "fixed"


# ------------------------------------------------------------------------------------------------- preparation


def _retarget(obj: Any, moves: dict[str, str]) -> Any:
    """`obj` with every path string under one of `moves`' keys moved under its value."""
    if isinstance(obj, dict):
        return {k: _retarget(v, moves) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_retarget(v, moves) for v in obj]
    if isinstance(obj, str):
        for old, new in moves.items():
            if obj == old or obj.startswith(old + "/"):
                return new + obj[len(old):]
    return obj


def _upstream(res, name: str) -> list[str]:
    """The runs `name` depends on, in resolved (topological) order."""
    return res.closure(*res.runs[name].inputs)


def _build_shared(run, out: Path, moves: dict[str, str]) -> None:
    """Generate a tokenizer or dataset the candidate needs (once per config hash) with the stage's own code."""
    done = out.with_name(out.name + ".done")
    if done.is_file():
        return
    cfg = _retarget({**run.config, "out": str(out)}, moves)
    if run.kind == "tokenizer":
        from stages.tokenizer import run as build
    elif run.kind == "generate":
        from stages.generate import run as build
    else:  # pragma: no cover - a pretrain run only depends on tokenizers and datasets
        raise GridError(f"run {run.name!r} of kind {run.kind} cannot be a calibration input")
    build(cfg)
    write_text(done, run.config["hash"] + "\n")


def _init_identity(init: Path) -> str:
    """What an RL candidate's id records of its base: the candidate id when it is one, else the model file's stat."""
    res = init / "result.json"
    if res.is_file():
        return str(read_json(res).get("id"))
    st = (init / "model" / "model.safetensors").stat()
    return f"{init}:{st.st_size}:{st.st_mtime_ns}"


def prepare(g: Grid, out: Path, root: Path = Path("."), build: bool = True) -> list[dict]:
    """Resolve every candidate, build the shared inputs (unless `build` is False), write
    candidates/<id>/candidate.yaml; returns the candidates.

    A pretrain run trains from scratch; an rl run (grid key `init`) starts from the given base, whose run in
    specs/ (and anything upstream of it) is mapped onto that directory instead of being trained."""
    from interplay.spec.resolve import resolve

    out = out.resolve()
    cands, seen = [], set()
    for values in candidate_values(g):
        nested = _nest(values)
        run_over = nested.get("run", {})
        params = Params(profile=g.profile, seed=g.seed,
                        overrides=Overrides(profile=nested.get("profile", {}), runs={g.run: run_over}))
        try:
            res = resolve(g.profile, root, params)
        except SpecError as e:
            raise GridError(f"{g.path}: candidate {label(g, values)}: {e}") from None
        kind = res.runs[g.run].kind if g.run in res.runs else None
        if kind not in ("pretrain", "rl"):
            raise GridError(f"{g.path}: run: {g.run!r} is not a pretrain or rl run of specs/")
        if (kind == "rl") != (g.init is not None):
            raise GridError(f"{g.path}: init: an rl run needs `init` (its trained base) and a pretrain run takes none")
        run = res.runs[g.run]
        section = "lm" if kind == "pretrain" else "rl"
        run.config[section]["devices"] = int(run_over.get(section, {}).get("devices", 1))  # one process each
        moves: dict[str, str] = {}
        init = Path(g.init).resolve() if kind == "rl" else None
        if init is not None:  # the base: the given directory, not a training run
            base = next(d for d in _upstream(res, g.run) if res.runs[d].kind in ("pretrain", "midtrain")
                        and run.config["rl"]["init"].startswith(res.runs[d].out + "/"))
            moves[res.runs[base].out] = str(init)
            lad = dict(res.runs[base].config["lm"].get("ladder") or {})
            skip = {d for d in res.closure(base) if res.runs[d].kind in ("pretrain", "midtrain", "rl")}
        else:
            lad = run.config["lm"].get("ladder") or {}
            skip = set()
        if not lad:
            raise GridError(f"{g.path}: run {g.run!r} has no held-out ladder set (a `heldout` dataset in specs/)")
        if kind == "pretrain" and lad["every"] <= 0:  # the profile has the curve off: calibration draws it
            steps = run.config["lm"]["token_budget"] // run.config["lm"]["tokens_per_step"]
            lad["every"] = max(1, steps // 10)
        run.config["hash"] = content_hash(run.config)
        ev = {"n": int(g.eval.get("n", min(16, res.profile.eval.n))),
              "temperature": float(g.eval.get("temperature", res.profile.eval.temperature)),
              "top_p": res.profile.eval.top_p, "max_new_tokens": res.profile.eval.max_new_tokens,
              "mode": res.profile.eval.mode, "seed": int(g.eval.get("seed", 0))}
        if "problems_per_op" in g.eval:  # only when asked: the ids of earlier grids stay as they were
            ev["problems_per_op"] = int(g.eval["problems_per_op"])
        ident = {kind: run.config, "eval": ev, "ladder": vars(res.profile.ladder)}
        if init is not None:
            ident["init"] = _init_identity(init)
        cid = content_hash(ident)[:12]
        if cid in seen:
            continue
        seen.add(cid)
        for dep in _upstream(res, g.run):
            d = res.runs[dep]
            if dep in skip:
                continue
            moves[d.out] = str(out / "shared" / f"{dep}-{d.config['hash']}")
            if build:
                _build_shared(d, Path(moves[d.out]), moves)
        final = _final_heldout(g, nested, root, res, lad, moves, out, build) if "problems_per_op" in ev else None
        cdir = out / "candidates" / cid
        moves[run.out] = str(cdir)
        cand = {"id": cid, "label": label(g, values), "values": values, "grid": str(g.path),
                "profile": g.profile, "run": g.run, "kind": kind, kind: _retarget(run.config, moves),
                "heldout": _retarget(lad, moves), "eval": ev, "ladder": vars(res.profile.ladder)}
        if init is not None:
            cand["init"] = str(init)
        if final is not None:
            cand["heldout_eval"] = final
        write_text(cdir / "candidate.yaml", dump_config(cand))
        cands.append(cand)
    return cands


# ------------------------------------------------------------------------------------------------- one candidate


def _final_heldout(g: Grid, nested: dict, root: Path, res, lad: dict, moves: dict[str, str], out: Path,
                   build: bool) -> dict:
    """The held-out set of the final sampled evaluation when the grid asks for `eval.problems_per_op`: the same
    dataset run (same seed stream, same exclusions) at that size, built once per config hash. With 9 problems per
    op a pass@32 cell moves in steps of .11, too coarse to rank close recipes (docs/calibration.md, 25M)."""
    from interplay.spec.resolve import resolve

    name = next(n for n, r in res.runs.items() if r.out == lad["heldout"])
    prof = dict(nested.get("profile", {}))
    prof["pretrain"] = {**prof.get("pretrain", {}), "ladder_problems_per_op": int(g.eval["problems_per_op"])}
    params = Params(profile=g.profile, seed=g.seed, overrides=Overrides(profile=prof, runs={}))
    try:
        big = resolve(g.profile, root, params).runs[name]
    except SpecError as e:
        raise GridError(f"{g.path}: eval.problems_per_op: {e}") from None
    path = out / "shared" / f"{name}-{big.config['hash']}"
    if build:
        _build_shared(big, path, moves)
    return {**_retarget(lad, moves), "heldout": str(path)}


def _unseen(final: dict, corpus: Path, tokenizer_dir: Path, dest: Path) -> tuple[dict, int]:
    """`final` without the problems that occur, as whole documents, in the training corpus at `corpus` (the corpus
    excludes the profile's small held-out set only). Writes the kept problems to `dest` (same file layout);
    returns the set to evaluate and how many problems were dropped."""
    import numpy as np

    from interplay.data.render import training_text
    from interplay.data.tokenizers import load_tokenizer

    src = Path(final["heldout"])
    index = read_json(src / "index.json")
    rows = {f["path"]: [json.loads(line) for line in (src / f["path"]).read_text().splitlines() if line.strip()]
            for f in index["files"]}
    seen: set[bytes] = set()
    if (corpus / "docs.npy").is_file():
        manifest = read_json(corpus / "manifest.json")
        dtype = np.dtype(manifest.get("dtype", "uint16"))
        tokens = np.fromfile(corpus / "tokens.bin", dtype=dtype)
        starts = np.load(corpus / "docs.npy")
        ends = np.append(starts[1:], len(tokens))
        seen = {tokens[a:b].tobytes() for a, b in zip(starts.tolist(), ends.tolist())}
        tok, eos = load_tokenizer(tokenizer_dir), int(manifest["eos_id"])

        def in_corpus(r: dict) -> bool:
            ids = tok.encode(training_text(r["problem"], r["question"], r["solution"]), add_special_tokens=False)
            return np.asarray([*ids, eos], dtype=dtype).tobytes() in seen
    else:  # no corpus to compare with (an RL candidate whose base kept none): evaluate the whole set
        def in_corpus(r: dict) -> bool:
            return False
    dropped = 0
    dest.mkdir(parents=True, exist_ok=True)
    for rel, problems in rows.items():
        keep = [r for r in problems if not in_corpus(r)]
        dropped += len(problems) - len(keep)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        write_text(dest / rel, "".join(json.dumps(r) + "\n" for r in keep))
    write_json(dest / "index.json", index)
    return {**final, "heldout": str(dest)}, dropped


def _heldout_eval(model: Path, lad: dict, ev: dict, out: Path, ladder: dict) -> dict:
    """Sampled pass@k of `model` on the held-out set's bands (what the ladder is judged on)."""
    from interplay.eval.evaluate import evaluate
    from interplay.eval.ladder import Ladder

    index = read_json(Path(lad["heldout"]) / "index.json")
    files = [str(Path(lad["heldout"]) / f["path"]) for f in index["files"]
             if f["band"] in lad["bands"] and (not lad["contexts"] or f["context"] in lad["contexts"])]
    ks = sorted({1, *[2 ** i for i in range(1, 12) if 2 ** i < ev["n"]], ev["n"]})
    bands = {b: [min(ops), max(ops)] for b, ops in lad["bands"].items()}
    m = evaluate(model, files, n=ev["n"], temperature=ev["temperature"], top_p=ev["top_p"],
                 max_new_tokens=ev["max_new_tokens"], ks=ks, seed=ev["seed"], out_dir=out,
                 mode=ev["mode"], bands=bands, ladder=Ladder.from_dict(ladder), nll=False)
    sampled = {b: {"pass1": m["passk"][f"band={b}"]["strict"]["1"],
                   "passk": m["passk"][f"band={b}"]["strict"][str(max(ks))],
                   "answer_passk": m["passk"][f"band={b}"]["answer"][str(max(ks))],
                   **{f"{d}_pass1": m["passk"][f"band={b}/mode={d}"]["strict"]["1"]
                      for d in MODES if f"band={b}/mode={d}" in m["passk"]}}
               for b in lad["bands"] if f"band={b}" in m["passk"]}
    per_op = {k.split("=", 1)[1]: {"pass1": v["strict"]["1"], "passk": v["strict"][str(max(ks))]}
              for k, v in m["passk"].items() if k.startswith("op=")}
    return {"n": ev["n"], "k": max(ks), "sampled": sampled, "per_op": per_op, "ladder": m["ladder"]}


def run_candidate(cdir: str | Path) -> dict:
    """Train (resuming if a checkpoint is there), evaluate and summarize one candidate -> result.json."""
    cdir = Path(cdir).resolve()
    cand = yaml.safe_load((cdir / "candidate.yaml").read_text())
    kind = cand.get("kind", "pretrain")
    cfg, ev = cand[kind], cand["eval"]
    lad = cand.get("heldout") or cfg["lm"]["ladder"]
    t0 = time.perf_counter()
    if kind == "pretrain":
        from stages.pretrain import run as train
    else:
        from stages.rl import run as train
    train(cfg)
    train_wall = time.perf_counter() - t0
    dropped = None
    if cand.get("heldout_eval"):  # the larger final set, minus the problems the base was trained on
        corpus = cdir / "corpus" if kind == "pretrain" else Path(cand["init"]) / "corpus"
        lad, dropped = _unseen(cand["heldout_eval"], corpus, cdir / "model", cdir / "heldout_eval")
    held = _heldout_eval(cdir / "model", lad, ev, cdir / "eval", cand["ladder"])
    tm = read_json(cdir / "metrics.json")
    result = {"id": cand["id"], "kind": kind, "label": cand["label"], "values": cand["values"],
              "steps": tm["steps"], "wall_seconds": time.perf_counter() - t0, "train_wall_seconds": train_wall,
              **held}
    if dropped is not None:
        result["heldout_dropped"] = dropped
    if kind == "pretrain":
        result.update(params_total=tm["params_total"], params_non_embedding=tm["params_non_embedding"],
                      tokens=tm["tokens"], tokens_per_step=tm["tokens_per_step"], final_loss=tm["final_loss"],
                      train_seconds=tm["train_seconds"], greedy=tm.get("ladder") or {})
    else:
        result.update({k: tm.get(k) for k in ("reward_first", "reward_last10_mean", "acc_strict_last10_mean",
                                               "acc_answer_last10_mean", "samples")})
        base = Path(cand["init"]) / "result.json"
        result["base"] = ({k: read_json(base).get(k) for k in ("id", "sampled", "per_op")} if base.is_file()
                          else None)  # the base's own numbers, for the table's base_* columns
    write_json(cdir / "result.json", result)
    return result


def _lock(cdir: Path):
    """An exclusive lock on candidates/<id>/lock for this process's lifetime (None: another process holds it)."""
    f = open(cdir / "lock", "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def _done(cdir: Path, cid: str) -> bool:
    p = cdir / "result.json"
    return p.is_file() and read_json(p).get("id") == cid


# ------------------------------------------------------------------------------------------------- the grid


def run_grid(g: Grid, out: Path, jobs: int = 1, root: Path = Path("."), echo=print) -> list[dict]:
    """Prepare, run the unfinished candidates `jobs` at a time (one process each), return every result."""
    cands = prepare(g, out, root)
    out = out.resolve()
    pending = [c for c in cands if not _done(out / "candidates" / c["id"], c["id"])]
    echo(f"{len(cands)} candidates, {len(cands) - len(pending)} finished, {len(pending)} to run "
         f"({jobs} at a time) -> {out}")
    env = {**os.environ, "INTERPLAY_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running: list[tuple[dict, subprocess.Popen, Any, float]] = []
    failed = []
    queue = list(pending)
    while queue or running:
        while queue and len(running) < jobs:
            c = queue.pop(0)
            cdir = out / "candidates" / c["id"]
            log = open(cdir / "log.txt", "a")
            p = subprocess.Popen([sys.executable, "-m", "interplay.calibrate", str(cdir)], cwd=root, env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
            running.append((c, p, log, time.time()))
            echo(f"  started {c['id']} ({c['label']})")
        time.sleep(0.5)
        for item in list(running):
            c, p, log, t = item
            if p.poll() is None:
                continue
            running.remove(item)
            log.close()
            if p.returncode == 0:
                echo(f"  finished {c['id']} in {time.time() - t:.0f}s")
            elif p.returncode == 3:
                echo(f"  {c['id']} is being run by another process; skipped")
            else:
                failed.append(c["id"])
                echo(f"  FAILED {c['id']} (exit {p.returncode}); see {out / 'candidates' / c['id'] / 'log.txt'}")
    results = []
    for c in cands:
        cdir = out / "candidates" / c["id"]
        results.append(read_json(cdir / "result.json") if _done(cdir, c["id"])
                       else {"id": c["id"], "label": c["label"], "values": c["values"], "status": "not finished"})
    write_tables(g, results, out)
    return results


# ------------------------------------------------------------------------------------------------- the table


def table_rows(g: Grid, results: list[dict]) -> list[dict[str, Any]]:
    """One flat row per candidate: varied values, cost, greedy held-out ladder (pre-training) or rewards (RL),
    sampled pass@k per band, verdict. An RL row also shows its base's sampled numbers (`base_*`)."""
    rows = []
    for r in results:
        row: dict[str, Any] = {"id": r["id"], **{k: r["values"].get(k) for k in g.grid}}
        if "steps" not in r:
            rows.append({**row, "ladder": r.get("status", "not finished")})
            continue
        row.update(steps=r["steps"], wall_s=round(r["wall_seconds"]))
        if r.get("kind", "pretrain") == "pretrain":
            row.update(params=r["params_total"], tokens=r["tokens"], loss=round(r["final_loss"], 3))
            for b in ("id", "edge", "hard"):
                gr = r["greedy"].get(b, {})
                row[f"greedy_{b}"] = gr.get("strict")
                row[f"copy_{b}"] = gr.get("copy")
        else:
            row.update(reward_first=r.get("reward_first"), reward_last10=r.get("reward_last10_mean"),
                       strict_last10=r.get("acc_strict_last10_mean"))
        row["id_min_op_passk"] = r["ladder"]["rungs"][0]["value"]
        for d in MODES:  # the two halves of the ID band (forward problems are the harder)
            row[f"id_{d}_pass1"] = r["sampled"].get("id", {}).get(f"{d}_pass1")
        base = r.get("base") or {}
        for b in ("id", "edge", "hard"):
            s = r["sampled"].get(b, {})
            row[f"{b}_pass1"] = s.get("pass1")
            row[f"{b}_passk"] = s.get("passk")
            if r.get("kind") == "rl":
                bs = base.get("sampled", {}).get(b, {})
                row[f"base_{b}_pass1"], row[f"base_{b}_passk"] = bs.get("pass1"), bs.get("passk")
        row["k"] = r["k"]
        row["ladder"] = {True: "holds", False: "fails", None: "not measured"}[r["ladder"]["holds"]]
        rows.append(row)
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.2f}" if 0.01 <= abs(v) < 1 else f"{v:.3g}"  # an lr of 3e-3 must not print as 0.00
    return str(v)


def write_tables(g: Grid, results: list[dict], out: Path) -> list[dict]:
    rows = table_rows(g, results)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    md = [f"# Calibration: {g.path}", "", g.description or "", "",
          f"Profile `{g.profile}`, run `{g.run}`. greedy_*: held-out greedy strict accuracy at the last step; "
          "copy_*: share of gold quantity names the greedy solution defines; id_min_op_passk / edge_pass1 / "
          "*_passk: sampled strict pass@k (k as listed) on the held-out set; id_forward_pass1 / id_reverse_pass1: "
          "ID strict pass@1 of each mode; ladder: the profile's thresholds.", "",
          "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    write_text(out / "results.md", "\n".join(md) + "\n")
    return rows


def print_table(g: Grid, rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    cols = list(dict.fromkeys(k for r in rows for k in r))
    t = Table(title=f"calibration {g.path.name} (profile {g.profile}, run {g.run})")
    for c in cols:
        t.add_column(c, justify="right" if c not in ("id", "ladder") else "left")
    color = {"holds": "green", "fails": "red"}
    for r in rows:
        t.add_row(*[f"[{color.get(r.get(c), 'white')}]{_fmt(r.get(c))}[/]" if c == "ladder" else _fmt(r.get(c))
                    for c in cols])
    Console(width=max(120, 12 * len(cols))).print(t)


# ------------------------------------------------------------------------------------------------- command line


def calibrate(
    grid: Annotated[Path, typer.Argument(help="Grid file (see specs/calibration/example.yaml).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Work directory (default calibration/<stem>).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Candidates at once (one process, one thread each; "
                                                           "at most one per core).")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the candidates and their status only.")] = False,
) -> None:
    """Short candidate pre-trainings from a grid, with the ladder curve on: a table of ladder results and cost.

    Resumable: a rerun skips finished candidates (content hash of their config) and resumes killed ones from their
    checkpoint. Writes results.csv and results.md in the work directory."""
    cores = os.cpu_count() or 1
    if not 1 <= jobs <= cores:
        typer.echo(f"error: --jobs must be in 1..{cores} (one candidate per core), got {jobs}", err=True)
        raise typer.Exit(2)
    try:
        g = load_grid(grid)
        out = out or Path("calibration") / grid.stem
        if dry_run:
            cands = prepare(g, out, build=False)
            for c in cands:
                done = _done(out.resolve() / "candidates" / c["id"], c["id"])
                typer.echo(f"{c['id']}  {'finished' if done else 'to run  '}  {c['label']}")
            return
        results = run_grid(g, out, jobs, echo=typer.echo)
    except GridError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    print_table(g, table_rows(g, results))
    typer.echo(f"wrote {out / 'results.csv'} and {out / 'results.md'}")
    if any("steps" not in r for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)


def main(argv: list[str] | None = None) -> int:
    """`python -m interplay.calibrate CANDIDATE_DIR`: run one candidate (what `run_grid` starts per candidate)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m interplay.calibrate CANDIDATE_DIR", file=sys.stderr)
        return 2
    cdir = Path(argv[0])
    lock = _lock(cdir)
    if lock is None:
        return 3
    try:
        cid = yaml.safe_load((cdir / "candidate.yaml").read_text())["id"]
        if not _done(cdir, cid):
            run_candidate(cdir)
    finally:
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
