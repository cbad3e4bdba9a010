"""Atomic artifact writes: a killed stage never leaves a half-written file or directory."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """OS errors name the requested path, not the hidden temp file next to it."""
    try:
        yield
    except OSError as e:
        if e.filename is None or str(e.filename) == str(path):
            raise
        raise type(e)(e.errno, e.strerror, str(path)) from None


def _remove_stale(path: Path) -> None:
    """Delete temp siblings of `path` left by killed writers (`.NAME.XXXXXXXX.tmp`, see tempfile), once a write
    of `path` has succeeded."""
    stale = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")
    for p in path.parent.iterdir():
        if stale.fullmatch(p.name):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)


def _tmp_sibling(path: Path) -> Path:
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; artifacts should be readable like any other file
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp file path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
        _remove_stale(path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp directory next to `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _readable(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
        _remove_stale(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _readable(root: Path) -> None:
    """Modes 0755 (directories) / 0644 (files) throughout, whatever wrote them (safetensors and tempfile make 0600)."""
    os.chmod(root, 0o755)
    for d, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(d, name), 0o755)
        for name in files:
            if not os.path.islink(os.path.join(d, name)):
                os.chmod(os.path.join(d, name), 0o644)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def finite(obj: Any) -> Any:
    """`obj` with every NaN/±Infinity float replaced by None: JSON has no such numbers."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Valid JSON always: non-finite floats are written as null (never a bare NaN)."""
    write_text(path, json.dumps(finite(obj), indent=indent, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())
