"""Every benchmark runs at a tiny size and ends with machine-readable `<name>: ratio <x> (target <y>)` lines.

Speed is never asserted here (benchmarks measure it, on a quiet machine); this only keeps the scripts from rotting
when the code they drive changes (benchmarks/pretrain.py once broke silently on a new `_trainer` argument)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RATIO = re.compile(r"^(\w+): ratio (\S+) \(target (\S+)\)$")

CASES = {
    "corpus": ["--profile", "ci", "--tokens", "20000", "--repeats", "1"],
    "generator": ["--n", "20", "--repeats", "1"],
    "sampling": ["--sizes", "ci", "--batches", "8", "--n", "4", "--prompt-len", "16", "--new-tokens", "8",
                 "--repeats", "1"],
    "evaluate": ["--problems", "4", "--n", "2", "--new-tokens", "8", "--repeats", "1"],
    "pretrain": ["--preset", "ci", "--steps", "4", "--warmup", "1", "--repeats", "1"],
    "grpo": ["--preset", "ci", "--prompts", "4", "--group", "2", "--mini-batches", "2", "--new-tokens", "8",
             "--repeats", "1"],
    "grpo --side-by-side": ["--side-by-side", "--preset", "ci", "--prompts", "4", "--group", "2", "--mini-batches",
                            "2", "--new-tokens", "8", "--repeats", "1"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_runs_and_reports_ratios(name, tmp_path):
    if name == "grpo" and importlib.util.find_spec("trl") is None:
        pytest.skip("benchmarks/grpo.py needs the bench extra (TRL)")
    script = ROOT / "benchmarks" / f"{name.split()[0]}.py"
    proc = subprocess.run([sys.executable, str(script), *CASES[name]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ratios = [m.groups() for line in proc.stdout.splitlines() if (m := RATIO.match(line.strip()))]
    assert ratios, f"no '<name>: ratio <x> (target <y>)' line in:\n{proc.stdout[-2000:]}"
    for _, value, target in ratios:
        float(value), float(target)  # both parse as numbers (nan included)
