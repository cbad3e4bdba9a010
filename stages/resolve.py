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
    want = render(res)
    if not DVC_YAML.exists() or DVC_YAML.read_text() != want:
        print(f"error: dvc.yaml is out of date with specs/{_stage_diff(want)}: run `interplay pipeline`",
              file=sys.stderr)
        sys.exit(2)
    changed = write_configs(res)
    print(f"[resolve] profile {res.profile.name}: {len(res.runs)} runs, {len(changed)} configs changed",
          file=sys.stderr)
    for p in changed:
        print(f"  {Path(p)}", file=sys.stderr)


def _stage_diff(want: str) -> str:
    """' (stages added: a, b; removed: c)' between dvc.yaml and what the specs give, '' if only details differ."""
    import yaml

    have = set((yaml.safe_load(DVC_YAML.read_text()) or {}).get("stages", {})) if DVC_YAML.exists() else set()
    new = set(yaml.safe_load(want)["stages"])

    def names(xs: set[str]) -> str:
        xs = sorted(xs)
        return ", ".join(xs[:5]) + (f" and {len(xs) - 5} more" if len(xs) > 5 else "")

    parts = [f"{what}: {names(xs)}" for what, xs in (("added", new - have), ("removed", have - new)) if xs]
    return f" (stages {'; '.join(parts)})" if parts else ""


if __name__ == "__main__":
    main()
