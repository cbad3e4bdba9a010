"""The DVCLive curve files (interplay.train.curves): the logger writes them rank-0 style with our step numbers,
the readers give them back, and `rewind` cuts a killed run's files back to its checkpoint."""

import json

from interplay.train.curves import SUMMARY, read_metric, read_rows, rewind
from interplay.train.tracking import RunLogger


def _log(out, steps, resume_step=None, scale=1.0):
    logger = RunLogger(out, resume_step)
    for s in steps:
        logger.log_step({"train/loss": scale / s, "train/tokens": 512 * s, "reward": 0.5 * s,
                         "rewards/outcome/mean": s / 10}, step=s)
    logger.finalize("success")


def test_logger_writes_dvclive_files_that_read_back(tmp_path):
    _log(tmp_path, range(1, 4))
    live = tmp_path / "dvclive"
    assert sorted(p.relative_to(live).as_posix() for p in live.rglob("*.tsv")) == [
        "plots/metrics/reward.tsv", "plots/metrics/rewards/outcome/mean.tsv", "plots/metrics/train/loss.tsv",
        "plots/metrics/train/tokens.tsv"]
    assert (live / "plots/metrics/train/loss.tsv").read_text().splitlines()[:2] == ["step\tloss", "1\t1.0"]
    assert read_metric(tmp_path, "reward") == [(1, 0.5), (2, 1.0), (3, 1.5)]
    assert read_rows(tmp_path)[1] == {"step": 2, "reward": 1.0, "rewards/outcome/mean": 0.2, "train/loss": 0.5,
                                      "train/tokens": 1024}
    assert json.loads((tmp_path / SUMMARY).read_text()) == {
        "train": {"loss": 1 / 3, "tokens": 1536}, "reward": 1.5, "rewards": {"outcome": {"mean": 0.3}}, "step": 3}
    assert not (tmp_path / "dvc.yaml").exists() and not (live / "dvc.yaml").exists()  # dvc.yaml is the pipeline's
    assert read_metric(tmp_path, "never/logged") == []


def test_a_fresh_run_clears_an_old_curve(tmp_path):
    _log(tmp_path, range(1, 6), scale=2.0)
    _log(tmp_path, range(1, 3))
    assert [s for s, _ in read_metric(tmp_path, "train/loss")] == [1, 2]


def test_resume_rewinds_to_the_checkpoint_then_appends(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    _log(full, range(1, 7))
    _log(killed, range(1, 6))  # logged up to step 5, but its checkpoint holds step 3
    loss = killed / "dvclive/plots/metrics/train/loss.tsv"
    loss.write_text(loss.read_text() + "6\t0.1")  # and the kill cut an append short
    (killed / SUMMARY).write_text('{"train": {"lo')  # ... or a summary write
    _log(killed, range(4, 7), resume_step=3)
    assert read_rows(killed) == read_rows(full)
    for p in (full / "dvclive/plots").rglob("*.tsv"):  # byte for byte
        assert (killed / p.relative_to(full)).read_text() == p.read_text()
    assert json.loads((killed / SUMMARY).read_text()) == json.loads((full / SUMMARY).read_text())


def test_rewind_keeps_rows_up_to_the_step_and_rebuilds_the_summary(tmp_path):
    _log(tmp_path, range(1, 5))
    rewind(tmp_path / "dvclive", 2)
    assert [s for s, _ in read_metric(tmp_path, "reward")] == [1, 2]
    assert (tmp_path / "dvclive/plots/metrics/train/tokens.tsv").read_text() == "step\ttokens\n1\t512\n2\t1024\n"
    assert json.loads((tmp_path / SUMMARY).read_text()) == {
        "reward": 1.0, "rewards": {"outcome": {"mean": 0.2}}, "train": {"loss": 0.5, "tokens": 1024}, "step": 2}


def test_logger_needs_no_repository_state(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.chdir(tmp_path)  # a Git repository without commits: DVCLive's own probe raises there
    subprocess.run(["git", "init", "-q"], check=True)
    _log(tmp_path / "run", range(1, 3))
    assert [s for s, _ in read_metric(tmp_path / "run", "reward")] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".git", "run"]  # nothing written beside the run
