"""Specs (one YAML per finding), profiles, typed loading, resolution into runs, and the DVC stage graph.

`load_specs`, `load_profile`, `load_params` (load.py) -> `resolve(profile)` (resolve.py) -> `render`/`sync`
(pipeline.py). Errors are `SpecError` with a one-line "file: key: message".
"""

from interplay.spec.load import FINDINGS, load_params, load_profile, load_specs
from interplay.spec.resolve import Resolved, Run, load_config, resolve, resolve_all
from interplay.spec.schema import SpecError

__all__ = ["FINDINGS", "Resolved", "Run", "SpecError", "load_config", "load_params", "load_profile", "load_specs",
           "resolve", "resolve_all"]
