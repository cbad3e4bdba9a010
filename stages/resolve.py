"""Stage `resolve`: specs/ + params.yaml -> configs/<profile>/*.yaml (only changed files are rewritten).

Runs first in `dvc repro`, so spec edits and `dvc exp run -S ...` overrides reach the stages; fails when
dvc.yaml no longer matches the specs (a run was added or removed: run `interplay pipeline`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from interplay.spec.pipeline import DVC_YAML, render
from interplay.spec.resolve import resolve, write_configs
from interplay.spec.schema import SpecError


def main() -> None:
    try:
        res = resolve()
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if not DVC_YAML.exists() or DVC_YAML.read_text() != render(res):
        print("error: dvc.yaml is out of date with specs/: run `interplay pipeline`", file=sys.stderr)
        sys.exit(2)
    changed = write_configs(res)
    print(f"[resolve] profile {res.profile.name}: {len(res.runs)} runs, {len(changed)} configs changed",
          file=sys.stderr)
    for p in changed:
        print(f"  {Path(p)}", file=sys.stderr)


if __name__ == "__main__":
    main()
