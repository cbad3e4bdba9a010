"""Stage `claims`: check a finding's claims against its evaluations -> verdicts.json."""

from __future__ import annotations

from pathlib import Path

from stages import main


def run(cfg: dict) -> None:
    from interplay.claims import check_finding, write_verdicts

    write_verdicts(Path(cfg["out"]) / "verdicts.json", check_finding(cfg))


if __name__ == "__main__":
    main("claims", run)
