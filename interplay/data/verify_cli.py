"""`interplay data verify FILE`: parse every gold solution and check it against its gold graph."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from interplay.data.parser import MODES


def verify_cmd(
    file: Path = typer.Argument(..., help="JSONL(.gz) problem records (ours, or the official schema)."),
    mode: str = typer.Option("paper", "--mode", help="paper (the paper's definition) | official_compat."),
    show: int = typer.Option(10, "--show", min=0, help="How many failing rows to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of tables."),
) -> None:
    """Report ProcessAcc, VerifiedCorrect and error categories of the gold solutions; exit 1 if any fails."""
    from interplay.data.verify import verify_file

    if mode not in MODES:
        typer.echo(f"error: unknown --mode {mode!r}; expected one of: {', '.join(MODES)}", err=True)
        raise typer.Exit(2)
    try:
        summary = verify_file(file, mode)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None

    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        console = Console()
        t = Table(title=f"{file} ({summary['n']} rows, mode {mode})")
        t.add_column("metric")
        t.add_column("value", justify="right")
        t.add_row("ProcessAcc (mean)", f"{summary['process_acc']:.4f}")
        t.add_row("VerifiedCorrect", f"{summary['verified']:.4f} ({summary['n_verified']}/{summary['n']})")
        for cat, count in summary["categories"].items():
            t.add_row(f"  {cat}", str(count))
        console.print(t)
        if summary["failures"] and show:
            f = Table(title=f"failing gold solutions (first {min(show, len(summary['failures']))})")
            for col in ("row", "id", "op", "category", "process_acc"):
                f.add_column(col)
            for row in summary["failures"][:show]:
                f.add_row(str(row["row"]), str(row["id"]), str(row["op"]), row["category"], f"{row['process_acc']:.3f}")
            console.print(f)
    if summary["n_failed"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_cmd)
