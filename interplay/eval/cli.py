"""`interplay eval CHECKPOINT --testset FILE ...` and `interplay eval rescore DIR [--mode official_compat]`.

One command whose first argument is either a checkpoint directory or the word `rescore` (Click cannot mix a
positional argument with subcommands). Extra positional words after `--testset FILE` are more test sets, so
both `--testset a.jsonl --testset b.jsonl` and `--testset a.jsonl b.jsonl` work.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

HELP = """Evaluate CHECKPOINT (an HF model dir with its tokenizer) on test sets, or `rescore DIR`.

\b
  interplay eval CHECKPOINT --testset FILE... --bands id=2-10,edge=11-14,hard=15-20 --n 128 --out DIR
  interplay eval rescore DIR [--mode official_compat] [--out DIR2]
"""


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _parse_ks(ks: Optional[str]) -> Optional[list[int]]:
    if not ks:
        return None
    try:
        out = [int(k) for k in ks.split(",") if k.strip()]
    except ValueError:
        _fail(f"--ks must be comma-separated integers, got {ks!r}")
    if any(k < 1 for k in out):
        _fail(f"--ks must be >= 1, got {ks!r}")
    return out


def _summary(metrics: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    ks = [str(k) for k in metrics["ks"]]
    k1, kmax = ks[0], ks[-1]
    t = Table(title=f"{metrics.get('checkpoint', '')} · n={metrics['n']} · T={metrics.get('temperature')} · "
                    f"mode={metrics['mode']}")
    t.add_column("group", no_wrap=True)
    for col in ("probs", f"s@{k1}", f"s@{kmax}", f"a@{k1}", f"a@{kmax}", "correct", "dep.err"):
        t.add_column(col, justify="right", no_wrap=True)
    for g, v in metrics["passk"].items():
        if "/" in g or g.startswith("mode="):
            continue
        cat = metrics["categories"].get(g, {})
        t.add_row(g, str(v["problems"]), f"{v['strict'].get(k1, float('nan')):.3f}",
                  f"{v['strict'].get(kmax, float('nan')):.3f}", f"{v['answer'].get(k1, float('nan')):.3f}",
                  f"{v['answer'].get(kmax, float('nan')):.3f}", f"{cat.get('correct', 0):.3f}",
                  f"{cat.get('dependency_mismatch', 0):.3f}")
    con = Console()
    con.print(t)
    con.print("s@k: strict (process-verified) pass@k; a@k: answer-only pass@k; correct / dep.err: sample shares")
    from interplay.eval.ladder import rung_text

    lad = metrics["ladder"]
    verdict = {True: "holds", False: "does NOT hold", None: "not measured"}[lad["holds"]]
    con.print(f"ladder (strict, k={lad['k']}): {verdict}")
    for r in lad["rungs"]:
        con.print(f"  {'ok  ' if r['ok'] else 'FAIL' if r['ok'] is False else 'n/a '} {rung_text(r)}")
    con.print(f"wrote {out}/metrics.json, per_problem.csv, per_op.csv, passk.csv, samples.jsonl.gz")


def register(app: typer.Typer) -> None:
    @app.command("eval", help=HELP, no_args_is_help=True)
    def eval_cmd(
        target: str = typer.Argument(..., metavar="CHECKPOINT|rescore", help="checkpoint dir, or `rescore`"),
        extra: Optional[list[str]] = typer.Argument(None, metavar="[DIR|FILE...]",
                                                    help="rescore: the eval dir; else more test sets"),
        testset: Optional[list[Path]] = typer.Option(None, "--testset", help="JSONL test set (repeatable)"),
        bands: Optional[str] = typer.Option(None, help="NAME=LO-HI,... (default id=2-10,edge=11-14,hard=15-20)"),
        n: int = typer.Option(128, "--n", help="samples per problem"),
        temperature: float = typer.Option(0.7, help="sampling temperature (0 = greedy)"),
        top_p: float = typer.Option(1.0, "--top-p"),
        top_k: int = typer.Option(0, "--top-k", help="0 or -1 = off"),
        max_new_tokens: int = typer.Option(1024, "--max-new-tokens"),
        ks: Optional[str] = typer.Option(None, help="comma-separated k (default 1,2,4,...,n)"),
        seed: int = typer.Option(0),
        batch_size: int = typer.Option(256, "--batch-size", help="sampler rows per batch"),
        mode: str = typer.Option("paper", help="verification mode: paper | official_compat"),
        nll: bool = typer.Option(True, "--nll/--no-nll", help="teacher-forced NLL of the gold solutions"),
        device: Optional[str] = typer.Option(None, help="cpu | cuda (default: cuda if available)"),
        workers: int = typer.Option(0, "--workers", help="sampling processes, 1 thread each (0 = auto: one per "
                                                        "core on CPU, 1 on GPU); the result does not depend on it"),
        out: Optional[Path] = typer.Option(None, "--out", help="output directory"),
    ) -> None:
        from interplay.eval.evaluate import EvalError, evaluate, parse_bands, rescore

        logging.basicConfig(level=logging.INFO, format="%(message)s")
        try:
            if target == "rescore":
                if not extra or len(extra) != 1:
                    _fail("usage: interplay eval rescore DIR [--mode official_compat] [--out DIR2]")
                metrics = rescore(extra[0], mode, out=out, bands=bands, ks=_parse_ks(ks))
                _summary(metrics, out or Path(extra[0]))
                return
            files = [*(testset or []), *map(Path, extra or [])]
            if not files:
                _fail("give at least one --testset FILE")
            if out is None:
                _fail("give --out DIR")
            if n < 1:
                _fail(f"--n must be >= 1, got {n}")
            parse_bands(bands)  # fail on an undefined band before loading anything
            metrics = evaluate(target, files, n=n, temperature=temperature, top_p=top_p, top_k=top_k,
                               max_new_tokens=max_new_tokens, ks=_parse_ks(ks), seed=seed, out_dir=out, mode=mode,
                               bands=bands, batch_size=batch_size, nll=nll, device=device, workers=workers)
            _summary(metrics, out)
        except (EvalError, ValueError, OSError) as e:  # OSError: an unwritable --out, named by interplay.io
            _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
