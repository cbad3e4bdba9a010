"""`interplay data generate | show | stats` (`data verify` lives in verify_cli.py)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Optional

import typer

from interplay.data.contexts import CONTEXTS, TEMPLATE_TO_CONTEXT


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def generate_cmd(
    op: int = typer.Option(..., help="exact op count (>= 2)"),
    mode: str = typer.Option("forward", help="forward | reverse"),
    context: str = typer.Option("zoo", help="zoo | teachers | festival"),
    count: int = typer.Option(100, help="number of distinct problems"),
    seed: int = typer.Option(0, help="stream seed"),
    render: str = typer.Option("paper", help="paper | compact"),
    out: Path = typer.Option(..., help="output .jsonl or .jsonl.gz"),
    max_distractors: Optional[int] = typer.Option(
        None, help="cap on distractor sentences; default: all for paper, COMPACT_MAX_DISTRACTORS for compact; "
                   "-1 = all"),
    start: int = typer.Option(0, help="first index of the stream"),
) -> None:
    """Generate COUNT problems (distinct ids) and write them as JSONL records."""
    from interplay.data.generator import COMPACT_MAX_DISTRACTORS, GenConfig, generate_many
    from interplay.data.records import write_jsonl

    if count <= 0:
        _fail(f"--count must be > 0, got {count}")
    if max_distractors is None:
        max_distractors = COMPACT_MAX_DISTRACTORS if render == "compact" else None
    elif max_distractors == -1:
        max_distractors = None
    try:
        cfg = GenConfig(op=op, mode=mode, context=context, render=render, max_distractors=max_distractors)
    except ValueError as e:
        _fail(str(e))
    try:
        n = write_jsonl(out, generate_many(cfg, seed, count, start=start))
    except (RuntimeError, OSError) as e:
        _fail(str(e))
    typer.echo(f"wrote {n} problems (op={op} {mode} {context} {render}, seed={seed}) to {out}")


def _read(path: Path) -> list[dict]:
    from interplay.data.records import read_jsonl

    if not path.is_file():
        _fail(f"no such file: {path}")
    try:
        return read_jsonl(path)
    except (OSError, ValueError) as e:
        _fail(f"cannot read {path}: {e}")


def show_cmd(path: Path = typer.Argument(..., help="JSONL(.gz) file of problems"),
             n: int = typer.Option(3, "-n", "--n", help="rows to show")) -> None:
    """Pretty-print the first N rows."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    rows = _read(path)
    console = Console()
    for r in rows[:max(n, 0)]:
        body = Text()
        for key in ("problem", "question", "solution"):
            body.append(f"{key}: ", style="bold cyan")
            body.append(str(r.get(key, "")).strip() + "\n")
        title = (f"{r.get('id', '?')}  op={r.get('op')}  {r.get('mode')}  {r.get('template')}  "
                 f"render={r.get('render', 'paper')}  answer={r.get('answer')}")
        console.print(Panel(body, title=title, title_align="left"))
    typer.echo(f"{min(max(n, 0), len(rows))} of {len(rows)} rows")


def stats_cmd(path: Path = typer.Argument(..., help="JSONL(.gz) file of problems"),
              tokenizer: Optional[Path] = typer.Option(None, help="tokenizer dir (default: contract word regex)"),
              ) -> None:
    """Counts and training-text token lengths (incl. EOS) per op / mode / context."""
    from rich.console import Console
    from rich.table import Table

    from interplay.data.render import training_text, word_tokens

    rows = _read(path)
    if tokenizer is not None:
        try:
            from interplay.data.tokenizers import load_tokenizer

            tok = load_tokenizer(tokenizer)
        except Exception as e:  # any load failure is bad input here
            _fail(f"cannot load tokenizer from {tokenizer}: {e}")

        def count(text: str) -> int:
            return len(tok(text, add_special_tokens=False)["input_ids"]) + 1
    else:
        def count(text: str) -> int:
            return len(word_tokens(text)) + 1

    groups: dict[tuple, list[int]] = defaultdict(list)
    for r in rows:
        mode = {"normalforward": "forward", "forwardreverse": "reverse"}.get(r.get("mode"), r.get("mode"))
        ctx = TEMPLATE_TO_CONTEXT.get(r.get("template"), r.get("template"))
        n = count(training_text(r.get("problem", ""), r.get("question", ""), r.get("solution", "")))
        groups[(int(r.get("op", 0)), str(mode), str(ctx))].append(n)
    unit = "tokens" if tokenizer else "words"
    typer.echo(f"{path}: {len(rows)} rows, training-text length in {unit} incl. EOS")
    table = Table()
    for col in ("op", "mode", "context", "count", "mean", "p50", "p90", "max"):
        table.add_column(col, justify="right")
    for (op, mode, ctx), ls in sorted(groups.items()):
        ls.sort()
        table.add_row(str(op), mode, ctx, str(len(ls)), f"{statistics.mean(ls):.1f}", str(ls[len(ls) // 2]),
                      str(ls[min(len(ls) - 1, int(len(ls) * 0.9))]), str(ls[-1]))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
    app.command("show")(show_cmd)
    app.command("stats")(stats_cmd)


__all__ = ["register", "CONTEXTS"]
