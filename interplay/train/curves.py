"""A run's training curve: the files DVCLive's Lightning logger writes (interplay.train.tracking), read and rewound.

    out/dvclive/metrics.json                latest value of every key (nested at "/") and "step"
    out/dvclive/plots/metrics/<key>.tsv     one row per logged step: `step`, then the key's last part

This module imports no Lightning, so claims and reports read curves cheaply.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from interplay.io import write_json, write_text

LIVE_DIR = "dvclive"  # under a run's output directory
PLOTS = Path("plots") / "metrics"  # DVCLive's metric history files, under LIVE_DIR
SUMMARY = f"{LIVE_DIR}/metrics.json"  # one per run: what `dvc exp show` lists


def live_dir(out: str | os.PathLike) -> Path:
    return Path(out) / LIVE_DIR


def read_metric(out: str | os.PathLike, key: str) -> list[tuple[int, float]]:
    """(step, value) rows of one logged key of the run in `out` ([] when it was never logged)."""
    path = live_dir(out) / PLOTS / f"{key}.tsv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [(int(r["step"]), float(r[Path(key).name])) for r in csv.DictReader(f, delimiter="\t")]


def read_rows(out: str | os.PathLike) -> list[dict[str, Any]]:
    """Every logged key of the run in `out` as one row per step: `[{"step": s, key: value, ...}]`, by step."""
    root = live_dir(out) / PLOTS
    rows: dict[int, dict[str, Any]] = {}
    for path in sorted(root.rglob("*.tsv")):
        key = path.relative_to(root).with_suffix("").as_posix()
        for step, value in read_metric(out, key):
            rows.setdefault(step, {"step": step})[key] = value
    return [rows[s] for s in sorted(rows)]


def _number(text: str | None) -> int | float | None:
    """A logged value as DVCLive wrote it (an int stays an int); None for a cut-off or empty field."""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def rewind(live: str | os.PathLike, step: int) -> None:
    """Cut DVCLive's files in `live` back to rows with step <= `step` (a resumed run's checkpoint) and rewrite
    metrics.json from them. Half-written rows (a kill during an append) are dropped; kept rows stay as written."""
    live = Path(live)
    summary: dict[str, Any] = {}
    for path in sorted((live / PLOTS).rglob("*.tsv")):
        name = path.stem
        with open(path, newline="") as f:
            kept = []  # the rows as written (text), so kept rows stay byte for byte
            for r in csv.DictReader(f, delimiter="\t"):
                try:
                    if int(r["step"]) <= step and _number(r[name]) is not None:
                        kept.append({"step": r["step"], name: r[name]})
                except (KeyError, TypeError, ValueError):
                    continue
        buf = io.StringIO()
        w = csv.DictWriter(buf, ["step", name], delimiter="\t", lineterminator=os.linesep)
        w.writeheader()
        w.writerows(kept)
        write_text(path, buf.getvalue())
        if kept:
            node = summary
            *parents, _ = path.relative_to(live / PLOTS).with_suffix("").parts
            for p in parents:
                node = node.setdefault(p, {})
            node[name] = _number(kept[-1][name])
    summary["step"] = step
    write_json(live / "metrics.json", summary)
    (live / "params.yaml").unlink(missing_ok=True)  # a kill can leave it half written; fit logs the params again
