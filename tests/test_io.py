"""Atomic artifact writes: a failure inside the block leaves the old artifact (or nothing) in place."""

import pytest

from interplay.io import atomic_dir, atomic_path, read_json, write_json


def test_atomic_path_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_old_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("garbage")
            raise RuntimeError("killed")
    assert read_json(target) == {"a": 1}


def test_atomic_dir_replaces_whole_directory(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as d:
        (d / "a.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as d:
            (d / "b.txt").write_text("2")
            raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_dir(target) as d:
        (d / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_temp_left_by_a_killed_writer_is_gone_after_the_next_success(tmp_path):
    """A SIGKILL inside the block cannot clean up; the next successful write of the same target does."""
    import tempfile

    target = tmp_path / "eval_x"
    tempfile.mkdtemp(prefix=".eval_x.", suffix=".tmp", dir=tmp_path)  # what a killed evaluation leaves
    tempfile.mkstemp(prefix=".metrics.json.", suffix=".tmp", dir=tmp_path)
    keep = tmp_path / ".eval_xy.abcdefgh.tmp"  # another target's temp: not ours to remove
    keep.mkdir()
    with atomic_dir(target) as d:
        (d / "a.txt").write_text("1")
    write_json(tmp_path / "metrics.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == [keep.name, "eval_x", "metrics.json"]


def test_every_written_file_is_world_readable(tmp_path):
    import os

    with atomic_dir(tmp_path / "model") as d:
        fd = os.open(d / "model.safetensors", os.O_CREAT | os.O_WRONLY, 0o600)  # as safetensors writes it
        os.close(fd)
        (d / "sub").mkdir(mode=0o700)
        (d / "sub" / "x").write_text("1")
    write_json(tmp_path / "m.json", {})
    modes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777 for p in tmp_path.rglob("*")}
    assert modes == {"model": 0o755, "model/model.safetensors": 0o644, "model/sub": 0o755, "model/sub/x": 0o644,
                     "m.json": 0o644}


@pytest.mark.parametrize("target", ["/proc/interplay_out/metrics.json", "/proc/interplay_out.json"])
def test_unwritable_target_is_named_not_its_temp(target):
    with pytest.raises(OSError) as e:
        write_json(target, {})
    assert e.value.filename in (target, "/proc/interplay_out")  # the target or the directory it needs
    with pytest.raises(OSError) as e:
        with atomic_dir(target):
            pass
    assert ".tmp" not in str(e.value) and "interplay_out" in str(e.value)


def test_json_never_holds_a_bare_nan(tmp_path):
    import json

    write_json(tmp_path / "m.json", {"loss": float("nan"), "rows": [1.5, float("inf"), -float("inf")], "k": 2})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {"loss": None, "rows": [1.5, None, None], "k": 2}
