"""DVC stage commands: `python -m stages.<kind> configs/<profile>/<run>.yaml`.

Each module is thin glue: read one resolved run config (interplay.spec.resolve), call the library entry points
(interplay.data, interplay.train, interplay.eval, interplay.claims), write its artifacts atomically. The config
is the stage's only parameter source.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import yaml


def threads() -> int:
    """Torch threads: $INTERPLAY_THREADS, else params.yaml `threads` (not part of any run's identity)."""
    env = os.environ.get("INTERPLAY_THREADS")
    if env:
        return int(env)
    p = Path("params.yaml")
    if p.exists():
        return int((yaml.safe_load(p.read_text()) or {}).get("threads", 1))
    return 1


def setup_torch() -> None:
    import torch

    torch.set_num_threads(max(1, threads()))


def load(argv: list[str], kind: str | tuple[str, ...]) -> dict:
    """Read the resolved config named on the command line; one-line error and exit 2 on bad input."""
    kinds = (kind,) if isinstance(kind, str) else kind
    if len(argv) != 1:
        sys.exit(f"usage: python -m stages.{kinds[0]} CONFIG.yaml")
    path = Path(argv[0])
    if not path.is_file():
        print(f"error: {path}: config not found (run `interplay pipeline`)", file=sys.stderr)
        sys.exit(2)
    cfg = yaml.safe_load(path.read_text())
    if not isinstance(cfg, dict) or cfg.get("kind") not in kinds:
        print(f"error: {path}: kind {cfg.get('kind') if isinstance(cfg, dict) else None!r} is not "
              f"{'/'.join(kinds)}", file=sys.stderr)
        sys.exit(2)
    return cfg


def main(kind: str | tuple[str, ...], fn: Callable[[dict], object], argv: list[str] | None = None) -> None:
    from interplay.train import Diverged

    cfg = load(sys.argv[1:] if argv is None else argv, kind)
    t0 = time.time()
    try:
        fn(cfg)
    except Diverged as e:  # the stage fails with one line; DVC then runs nothing downstream
        print(f"error: [{cfg['kind']}] {cfg['name']}: {e}", file=sys.stderr)
        sys.exit(1)
    seconds = time.time() - t0
    if cfg.get("profile"):  # the per-stage time table (`interplay timings`); outside every DVC output
        from interplay.timings import log_path, record

        record(log_path(cfg["profile"]), name=cfg["name"], kind=cfg["kind"], hash=str(cfg.get("hash", "")),
               seconds=seconds)
    print(f"[{cfg['kind']}] {cfg['name']} done in {seconds:.1f}s -> {cfg['out']}", file=sys.stderr)


def resumable_ckpt(cfg: dict) -> None:
    """Keep `out/ckpt/` (a DVC `persist: true` output) only if it was written for this exact config.

    DVC keeps persisted outputs across config edits too; resuming an old run's checkpoint under a new config
    would silently mix the two, so a checkpoint from another config hash is discarded.
    """
    ckpt = Path(cfg["out"]) / "ckpt"
    marker = ckpt / "config_hash"
    if ckpt.exists() and (not marker.exists() or marker.read_text().strip() != cfg["hash"]):
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)
    marker.write_text(cfg["hash"] + "\n")


def excluded_ids(dirs: list[str]) -> set[str]:
    """Ids of the problems in the given dataset artifacts (test sets kept out of training data)."""
    from interplay.data import read_jsonl
    from interplay.io import read_json

    ids: set[str] = set()
    for d in dirs:
        for f in read_json(Path(d) / "index.json")["files"]:
            ids.update(r["id"] for r in read_jsonl(Path(d) / f["path"]))
    return ids
