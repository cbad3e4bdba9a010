"""CLI of the spec system: `findings`, `reproduce`, `report`, `timings`, `spec validate|show`, `pipeline`.

All commands run from the repository root (where specs/ and dvc.yaml live).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from interplay.spec.schema import SpecError

console = Console()
ProfileOpt = Annotated[Optional[str], typer.Option("--profile", "-p", help="Profile (default: params.yaml `profile`).")]


def _fail(msg: str, code: int = 2):
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _root() -> Path:
    root = Path(".")
    if not (root / "specs").is_dir():
        _fail("no specs/ here: run interplay from the repository root")
    return root


def _resolve(profile: str | None):
    from interplay.spec.resolve import resolve

    try:
        return resolve(profile, _root())
    except SpecError as e:
        _fail(str(e))


def _check_findings(res, findings: list[str]) -> list[str]:
    known = list(res.specs.findings)
    for f in findings:
        if f not in known:
            _fail(f"unknown finding {f!r} (known: {', '.join(known)})")
    return findings or known


def _verdicts(res, finding: str) -> dict | None:
    from interplay.io import read_json

    path = Path(res.runs[f"claims_{finding}"].out) / "verdicts.json"
    return read_json(path) if path.exists() else None


def _claim_rows(verdicts) -> list[dict]:
    """verdicts.json as a list of per-claim dicts (tolerates a list or an id -> dict mapping)."""
    rows = verdicts.get("claims", verdicts) if isinstance(verdicts, dict) else verdicts
    if isinstance(rows, dict):
        rows = [{"id": k, **v} if isinstance(v, dict) else {"id": k, "verdict": v} for k, v in rows.items()]
    return [r for r in rows or [] if isinstance(r, dict)]


def _status(res, finding: str) -> str:
    verdicts = _verdicts(res, finding)
    if verdicts is not None:
        rows = _claim_rows(verdicts)
        counts = {v: sum(r.get("verdict") == v for r in rows) for v in ("holds", "fails", "inconclusive", "untestable")}
        return (f"{counts['holds']}/{len(rows)} hold, {counts['fails']} fail, {counts['inconclusive']} inconclusive, "
                f"{counts['untestable']} untestable")
    evals = [n for n in res.finding_runs(finding) if res.runs[n].kind == "evaluate"]
    done = sum((Path(res.runs[n].out) / "metrics.json").exists() for n in evals)
    return f"{done}/{len(evals)} evaluations done" if done else "not run"


def _print_verdicts(res, finding: str) -> None:
    verdicts = _verdicts(res, finding)
    if verdicts is None:
        console.print(f"[yellow]{finding}: no verdicts yet[/]")
        return
    table = Table(title=f"{finding} (profile {res.profile.name})")
    for col in ("claim", "paper", "ours", "95% CI of Δ", "verdict"):
        table.add_column(col)
    for r in _claim_rows(verdicts):
        paper = r.get("paper") or {}
        pv = " vs ".join(f"{paper[k]:g}" for k in ("lhs", "rhs") if paper.get(k) is not None)
        if paper.get("delta") is not None:
            pv = (pv + " " if pv else "") + f"(Δ {paper['delta']:+g})"
        ours = r.get("ours") or {}
        ours_s = " vs ".join(_num(ours.get(k)) for k in ("lhs", "rhs") if ours.get(k) is not None) \
            if isinstance(ours, dict) else str(ours)
        ci = r.get("ci")
        ci_s = f"[{_num(ci[0])}, {_num(ci[1])}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "-"
        color = {"holds": "green", "fails": "red", "untestable": "magenta"}.get(r.get("verdict"), "yellow")
        table.add_row(str(r.get("id")), pv or "-", ours_s or "-", ci_s, f"[{color}]{r.get('verdict')}[/]")
    console.print(table)


def _num(x) -> str:
    """Shares and pass rates in percent, as the paper prints them."""
    return f"{100 * x:.1f}" if isinstance(x, (int, float)) else str(x)


def findings(profile: ProfileOpt = None) -> None:
    """List the paper's findings reproduced here, with their arms, claims and status from the artifacts."""
    res = _resolve(profile)
    table = Table(title=f"findings (profile {res.profile.name})")
    for col in ("finding", "paper", "title", "arms", "claims", "status"):
        table.add_column(col)
    for name, spec in res.specs.findings.items():
        table.add_row(name, spec.paper_ref.split(";")[0], spec.title, str(len(spec.arms)), str(len(spec.claims)),
                      _status(res, name))
    console.print(table)


def reproduce(
    finding: Annotated[Optional[list[str]], typer.Argument(help="Findings to reproduce (default: all).")] = None,
    profile: ProfileOpt = None,
    dry: Annotated[bool, typer.Option("--dry", help="Show what dvc would run, run nothing.")] = False,
) -> None:
    """Reproduce findings: sync configs and dvc.yaml, `dvc repro` their targets, print the verdicts.

    `--profile P` sets `profile: P` in params.yaml (as `dvc exp run -S profile=P` would) before running.
    """
    from interplay.spec.load import list_profiles, load_params
    from interplay.spec.pipeline import finding_targets, sync

    root = _root()
    if profile is not None and profile not in list_profiles(root):
        _fail(f"unknown profile {profile!r} (have: {', '.join(list_profiles(root))})")
    names = _check_findings(_resolve(profile), list(finding or []))  # validate before touching any file
    try:
        params = load_params(root)
        if profile is not None and profile != params.profile:
            _set_profile(root, profile)
        sync(root)
    except SpecError as e:
        _fail(str(e))
    res = _resolve(profile)
    targets = [t for f in names for t in finding_targets(res, f)]
    if not finding:
        targets.append("summary")
    venv_dvc = Path(sys.executable).with_name("dvc")
    dvc = str(venv_dvc) if venv_dvc.exists() else shutil.which("dvc") or "dvc"
    cmd = [dvc, "repro", *(["--dry"] if dry else []), *targets]
    # stages run `python -m stages...`: make that the interpreter running this CLI (its virtualenv)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if not dry:
        _parallel_pass(res, targets, dvc, env)
    console.print(f"[bold]$ {' '.join(['dvc', *cmd[1:]])}[/]  (profile {res.profile.name})")
    rc = subprocess.call(cmd, env=env)
    if rc != 0:
        _fail(f"dvc repro failed with exit code {rc}", rc)
    for f in names:
        _print_verdicts(res, f)


def _cores() -> int:
    """Cores this process may use (as `interplay.eval.evaluate.default_workers` counts them on CPU)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def upstream(res, targets: list[str]) -> list[str]:
    """The runs that `targets` read, directly or not, targets included, in the resolver's topological order."""
    seen: set[str] = set()
    todo = [t for t in targets if t in res.runs]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += res.runs[name].inputs
    return [n for n in res.runs if n in seen]


def stage_cores(run, cores: int) -> int | None:
    """Cores a stage keeps busy: its processes for training runs (`devices`, 0 resolved as the run itself resolves
    it), None for an evaluation (it takes whatever is free: its results never depend on its worker count), 1 for the
    rest."""
    if run.kind in ("pretrain", "midtrain"):
        from interplay.train.config import load_config

        return max(1, min(load_config(run.config["lm"]).devices, cores))
    if run.kind == "rl":
        from interplay.train.rl_config import load_rl_config

        return max(1, min(load_rl_config(run.config["rl"]).devices, cores))
    return None if run.kind == "evaluate" else 1


def _stale(dvc: str, env: dict, names: list[str], res) -> set[str]:
    """The stages `dvc repro` would run: those `dvc status` reports changed, and everything downstream of them."""
    import json

    out = subprocess.run([dvc, "status", "--json"], env=env, capture_output=True, text=True)  # one pass over all
    try:
        changed = {k.split(":")[-1] for k in json.loads(out.stdout or "{}")} if out.returncode == 0 else set(names)
    except ValueError:
        changed = set(names)
    stale: set[str] = set()
    for n in names:  # topological order: a stage reruns when it changed or anything it reads reruns
        if n in changed or any(i in stale for i in res.runs[n].inputs):
            stale.add(n)
    return stale


def _has_gpu() -> bool:
    """Stages would share one accelerator on a GPU machine: there the pipeline runs them one at a time."""
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _parallel_pass(res, targets: list[str], dvc: str, env: dict) -> None:
    """Run the targets' stale stages side by side on the CPU's cores before the main `dvc repro`.

    `dvc repro` runs one stage at a time. Here every stage whose inputs are done starts as its own
    `dvc --wait-for-lock repro --single-item STAGE` (DVC's documented way to run branches in parallel: it releases its
    repo lock while a stage's command runs and guards paths with read/write locks) as soon as enough cores are free:
    a training stage takes as many cores as it has processes (`devices`), an evaluation takes what is free (1 or 2
    worker processes, same results either way), anything else one. A base trained in one process thus runs beside
    another (two compiled one-process bases put ~1.6x the tokens of one 2-process DDP run through 2 cores:
    docs/calibration.md). Results are the bytes of a sequential run, as each stage is a pure function of its config
    and inputs, and the main `dvc repro` afterwards finds every stage up to date. Each stage's output goes to
    artifacts/<profile>/logs/<stage>.log; after a failure the running stages finish and nothing new starts."""
    import time

    cores = _cores()
    names = upstream(res, targets)
    if cores < 2 or not names or _has_gpu():
        return
    if subprocess.call([dvc, "repro", "--single-item", "resolve"], env=env, stdout=subprocess.DEVNULL) != 0:
        _fail("dvc repro resolve failed", 1)  # every stage reads the configs that `resolve` writes
    stale = _stale(dvc, env, names, res)
    todo = [n for n in names if n in stale]
    if not todo:
        return
    from interplay.timings import log_path

    logs = log_path(res.profile.name).parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]parallel pass:[/] {len(todo)} stages on {cores} cores (logs: {logs})")
    done = {n for n in names if n not in stale}
    running: dict[str, tuple] = {}
    failed: list[str] = []
    while (todo and not failed) or running:
        free = cores - sum(r[3] for r in running.values())
        for name in [n for n in todo if all(i in done for i in res.runs[n].inputs)]:
            need = stage_cores(res.runs[name], cores)
            use = free if need is None else need
            if failed or use < 1 or use > free:
                continue
            log = open(logs / f"{name}.log", "w")
            child_env = {**env, "INTERPLAY_WORKERS": str(use)} if need is None else env
            proc = subprocess.Popen([dvc, "--wait-for-lock", "repro", "--single-item", name], env=child_env,
                                    stdout=log, stderr=subprocess.STDOUT)
            running[name] = (proc, log, time.time(), use)
            todo.remove(name)
            free -= use
        time.sleep(0.2)
        for name, (proc, log, t0, use) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[name]
            ok = proc.returncode == 0
            console.print(f"  {'done' if ok else 'FAILED'} {name} ({time.time() - t0:.0f} s, {use} of {cores} cores)")
            (done.add if ok else failed.append)(name)
    if failed:
        console.print("\n".join((logs / f"{failed[0]}.log").read_text().splitlines()[-15:]))
        _fail(f"stage failed: {', '.join(failed)} (log: {logs / (failed[0] + '.log')})", 1)


def _set_profile(root: Path, profile: str) -> None:
    """Change only the `profile:` line of params.yaml, keeping its comments."""
    path = root / "params.yaml"
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    for i, line in enumerate(lines):
        if line.startswith("profile:"):
            comment = line[line.index("#"):] if "#" in line else "\n"
            lines[i] = f"profile: {profile}" + ("  " + comment if comment != "\n" else "\n")
            break
    else:
        lines.insert(0, f"profile: {profile}\n")
    from interplay.io import write_text

    write_text(path, "".join(lines))
    console.print(f"params.yaml: profile set to {profile}")


def report(
    finding: Annotated[Optional[str], typer.Argument(help="Finding (default: the summary of all).")] = None,
    profile: ProfileOpt = None,
) -> None:
    """Show a finding's rendered report and claims verdicts (or the summary across findings)."""
    res = _resolve(profile)
    if finding is None:
        path = Path(res.runs["summary"].out) / "summary.md"
        names = list(res.specs.findings)
    else:
        _check_findings(res, [finding])
        path = Path(res.runs[f"report_{finding}"].out) / "report.md"
        names = [finding]
    for f in names:
        _print_verdicts(res, f)
    if not path.exists():
        _fail(f"{path} not rendered yet: run `interplay reproduce{' ' + finding if finding else ''}`", 1)
    console.print(f"report: {path}")


def timings(profile: ProfileOpt = None,
            stages: Annotated[bool, typer.Option("--stages", help="Also list every timed stage.")] = False) -> None:
    """Wall time of the profile's finished stages by stage kind (from artifacts/<profile>/timings.jsonl).

    Only runs of the current configs count; stages restored from DVC's cache or not run yet show as untimed."""
    from interplay.timings import by_kind, latest, log_path

    res = _resolve(profile)
    hashes = {n: str(r.config.get("hash", "")) for n, r in res.runs.items()}
    path = log_path(res.profile.name, _root())
    done = latest(path, hashes)
    table = Table(title=f"stage wall time, profile {res.profile.name} ({path})")
    for col in ("stage kind", "stages timed", "of", "minutes"):
        table.add_column(col, justify="left" if col == "stage kind" else "right")
    kinds = {r.kind for r in res.runs.values()}
    rows = {k: (n, m) for k, n, m in by_kind(done)}
    for kind in sorted(kinds, key=lambda k: -rows.get(k, (0, 0.0))[1]):
        n, m = rows.get(kind, (0, 0.0))
        table.add_row(kind, str(n), str(sum(r.kind == kind for r in res.runs.values())), f"{m:.1f}")
    table.add_row("total", str(len(done)), str(len(res.runs)), f"{sum(m for _, m in rows.values()):.1f}")
    console.print(table)
    if stages:
        for name, e in sorted(done.items(), key=lambda kv: -float(kv[1]["seconds"])):
            console.print(f"  {name:36s} {e['kind']:10s} {float(e['seconds']) / 60:7.1f} min  ({e['finished']})")


spec_app = typer.Typer(help="Validate and inspect the finding specs and their resolved runs.", no_args_is_help=True)


@spec_app.command("validate")
def validate(profile: ProfileOpt = None) -> None:
    """Check every spec against every profile (or one) without training anything; exit 2 on the first error."""
    from interplay.spec.load import list_profiles
    from interplay.spec.pipeline import sync
    from interplay.spec.resolve import resolve

    root = _root()
    profiles = [profile] if profile else list_profiles(root)
    try:
        for p in profiles:
            res = resolve(p, root)
            kinds: dict[str, int] = {}
            for r in res.runs.values():
                kinds[r.kind] = kinds.get(r.kind, 0) + 1
            detail = ", ".join(f"{n} {k}" for k, n in kinds.items())
            typer.echo(f"ok  {p}: {len(res.specs.findings)} findings, {len(res.runs)} runs ({detail})")
            clamped = _clamped(res)
            if clamped:
                typer.echo(f"    {p}: {clamped} claim operands ask for k > eval.n = {res.profile.eval.n} and are "
                           f"evaluated at k = {res.profile.eval.n} (reports print `paper k=...`)")
        stale_dvc, stale = sync(root, check=True)
    except SpecError as e:
        _fail(str(e))
    if stale_dvc or stale:
        typer.echo(f"note: dvc.yaml{' (stale)' if stale_dvc else ''} / {len(stale)} config files out of date: "
                   "run `interplay pipeline`")


def _clamped(res) -> int:
    """Claim operands whose k the profile's eval.n cannot reach (resolve clamps them to n, keeping `k_spec`)."""
    ops = [op for r in res.runs.values() if r.kind == "claims" for c in r.config["claims"]
           for op in (c["lhs"], c["rhs"]) if op]
    return sum(op.get("k_spec", op["k"]) != op["k"] for op in ops)


@spec_app.command("show")
def show(
    name: Annotated[Optional[str], typer.Argument(help="A run or finding name (default: list all runs).")] = None,
    profile: ProfileOpt = None,
) -> None:
    """Print one resolved run config (or a finding's claims config), or list every run with kind and hash."""
    res = _resolve(profile)
    if name is None:
        table = Table(title=f"runs (profile {res.profile.name})")
        for col in ("run", "kind", "hash", "inputs"):
            table.add_column(col)
        for r in res.runs.values():
            table.add_row(r.name, r.kind, r.config["hash"], ", ".join(r.inputs))
        console.print(table)
        return
    key = f"claims_{name}" if name in res.specs.findings else name
    if key not in res.runs:
        _fail(f"unknown run or finding {name!r} under profile {res.profile.name!r}")
    typer.echo(yaml.safe_dump(res.runs[key].config, sort_keys=False, width=120), nl=False)


def pipeline(check: Annotated[bool, typer.Option("--check", help="Only report; exit 1 when out of date.")] = False
             ) -> None:
    """Regenerate dvc.yaml and configs/<profile>/*.yaml (every profile) from specs/."""
    from interplay.spec.pipeline import sync

    root = _root()
    try:
        dvc_changed, changed = sync(root, check=check)
    except SpecError as e:
        _fail(str(e))
    verb = "out of date" if check else "updated"
    if dvc_changed:
        typer.echo(f"dvc.yaml {verb}")
    for p in changed:
        typer.echo(f"{p} {verb}")
    if not dvc_changed and not changed:
        typer.echo("dvc.yaml and configs/ are up to date")
    elif check:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("findings")(findings)
    app.command("reproduce")(reproduce)
    app.command("report")(report)
    app.command("pipeline")(pipeline)
    app.command("timings")(timings)
    app.add_typer(spec_app, name="spec")
