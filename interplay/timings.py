"""Wall time of every finished stage, for the per-stage time table (`interplay timings`).

Each stage command (`stages.main`) appends one JSON line to `artifacts/<profile>/timings.jsonl` when it succeeds:
stage name, kind, config hash, seconds, finish time. The file sits outside every DVC output, so it never changes a
stage's result or cache key; a stage that DVC restores from its cache, or skips, writes nothing. A stage killed and
resumed logs only the segment that finished (the earlier segments are lost with the process).
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path


def log_path(profile: str, root: str | os.PathLike = ".") -> Path:
    return Path(root) / "artifacts" / profile / "timings.jsonl"


def record(path: str | os.PathLike, *, name: str, kind: str, hash: str, seconds: float) -> None:
    """Append one line (a single short O_APPEND write: lines of concurrent stages never interleave)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"stage": name, "kind": kind, "hash": hash, "seconds": round(float(seconds), 2),
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cores": os.cpu_count()}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def latest(path: str | os.PathLike, hashes: dict[str, str] | None = None) -> dict[str, dict]:
    """The last entry per stage; with `hashes` (stage -> current config hash) only entries of the current configs.
    Unreadable lines (a write cut by a full disk) are skipped."""
    path = Path(path)
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            e = json.loads(line)
            name, h, _, _ = str(e["stage"]), str(e["hash"]), float(e["seconds"]), str(e["kind"])
        except (ValueError, KeyError, TypeError):
            continue
        if hashes is None or hashes.get(name) == h:
            out[name] = e
    return out


def by_kind(entries: dict[str, dict]) -> list[tuple[str, int, float]]:
    """(kind, stages, minutes) per stage kind, most expensive first."""
    agg: dict[str, list[float]] = defaultdict(list)
    for e in entries.values():
        agg[e["kind"]].append(float(e["seconds"]))
    return sorted(((k, len(v), sum(v) / 60) for k, v in agg.items()), key=lambda r: -r[2])
