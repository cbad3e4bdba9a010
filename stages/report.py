"""Stage `report` (and `summary`): render reports/<profile>/<finding>/ or reports/<profile>/summary.md."""

from __future__ import annotations

from pathlib import Path

import yaml

from interplay.io import atomic_dir
from stages import main


def run(cfg: dict) -> None:
    from interplay.report import render_finding, render_summary

    if cfg["kind"] == "report":
        claims_cfg = yaml.safe_load(Path(cfg["claims_config"]).read_text())
        with atomic_dir(cfg["out"]) as tmp:
            render_finding(claims_cfg, cfg["verdicts"], tmp)
    else:  # render_summary writes the file atomically itself
        render_summary([Path(cfg["findings"][f]) / "verdicts.json" for f in cfg["configs"]],
                       Path(cfg["out"]) / "summary.md")


if __name__ == "__main__":
    main(("report", "summary"), run)
