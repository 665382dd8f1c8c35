"""Interruption, resume, divergence, corrupt checkpoints, reproducibility and run isolation."""

import json
import logging
import math
import os
import signal
import zipfile

import numpy as np
import pytest

import neurosim.training as training
from neurosim import cli
from neurosim.checkpoint import load_checkpoint, save_checkpoint
from neurosim.config import load_config
from neurosim.engines.base import TrainStats
from neurosim.engines.dense import DenseEngine
from neurosim.errors import CheckpointError, DivergenceError, RunDirectoryError
from neurosim.network import Network
from neurosim.rundir import RunDirectory
from neurosim.training import Trainer, TrainingInterrupted
from runhelpers import (
    checkpoint_state,
    error_columns,
    finish,
    one_line,
    run_cli,
    start_cli,
    wait_until,
)

# In-process runs: 600 training samples, 60 minibatches per epoch, a fraction of a second.
FAST = ["training.epochs=3"]
# Subprocess runs: epochs of 6000 samples (about a second each), long enough to be caught
# in the middle of an epoch.
SLOW = ["data.synthetic_train=6000", "training.epochs=3"]


def config_with(overrides):
    return load_config("synthetic-small", overrides)


def fit(run_dir, overrides=FAST, **options):
    return Trainer(config_with(overrides), run_dir, progress=False, **options).fit()


def saved_metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def fast_reference(tmp_path_factory):
    """Metrics and final checkpoint of an uninterrupted FAST run."""
    run_dir = tmp_path_factory.mktemp("fast_reference")
    return fit(run_dir), run_dir


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory):
    """Metrics of an uninterrupted SLOW run, computed in this process."""
    return fit(tmp_path_factory.mktemp("slow_reference"), SLOW)


def slow_args(*extra):
    args = ["train", "synthetic-small", "--engine", "dense", "--out", "run", "--no-progress"]
    for assignment in SLOW:
        args += ["--set", assignment]
    return args + list(extra)


def use_engine(monkeypatch, factory):
    """Make the trainer build its engine with ``factory(network, config)``."""
    monkeypatch.setattr(training, "make_engine", lambda name, network, config: factory(network,
                                                                                         config))


class SignalingEngine(DenseEngine):
    """Dense engine that sends ``signum`` to its own process during call ``at_call`` of train."""

    def __init__(self, network, config, at_call, signum):
        super().__init__(network, config)
        self.at_call, self.signum, self.calls = at_call, signum, 0

    def train(self, x, y, signs):
        self.calls += 1
        if self.calls == self.at_call:
            os.kill(os.getpid(), self.signum)
        return super().train(x, y, signs)


class PoisoningEngine(DenseEngine):
    """Dense engine, one minibatch per call, that writes NaN into ``W_2`` after call ``at_call``.

    With ``at_call=None`` it trains normally.
    """

    batches_per_call = 1

    def __init__(self, network, config, at_call):
        super().__init__(network, config)
        self.at_call, self.calls = at_call, 0

    def train(self, x, y, signs):
        stats = super().train(x, y, signs)
        self.calls += 1
        if self.calls == self.at_call:
            self.network.weights[1][0, 0] = np.nan
        return stats


# --- interruption ----------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_mid_epoch_saves_and_resumes(tmp_path, monkeypatch, fast_reference, signum):
    before = signal.getsignal(signal.SIGINT)
    # Ten minibatches per call, six calls per epoch: call 8 is the second of epoch 2.
    use_engine(monkeypatch, lambda net, cfg: SignalingEngine(net, cfg, 8, signum))
    with pytest.raises(TrainingInterrupted) as info:
        fit(tmp_path / "run")
    assert f"stopped by {signal.Signals(signum).name} in epoch 2 after minibatch 20 of 60" \
        in str(info.value)
    assert signal.getsignal(signal.SIGINT) is before

    state = checkpoint_state(tmp_path / "run" / "checkpoint.npz")
    assert (state["epoch"], state["next_batch"]) == (1, 20)
    assert len(state["metrics"]) == 1

    monkeypatch.undo()
    metrics = fit(tmp_path / "run", resume=True)
    assert error_columns(metrics) == error_columns(fast_reference[0])
    assert error_columns(saved_metrics(tmp_path / "run")) == error_columns(fast_reference[0])


def test_ignored_sighup_stays_ignored(tmp_path, monkeypatch, fast_reference):
    # Under nohup SIGHUP is ignored; the run must neither stop nor die on it.
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        use_engine(monkeypatch, lambda net, cfg: SignalingEngine(net, cfg, 8, signal.SIGHUP))
        metrics = fit(tmp_path / "run")
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert error_columns(metrics) == error_columns(fast_reference[0])


def test_signal_in_last_stretch_stops_at_epoch_end(tmp_path, monkeypatch, fast_reference):
    # Call 6 is the last stretch of epoch 1: the run finishes that epoch, then stops.
    use_engine(monkeypatch, lambda net, cfg: SignalingEngine(net, cfg, 6, signal.SIGINT))
    with pytest.raises(TrainingInterrupted, match="stopped by SIGINT after epoch 1"):
        fit(tmp_path / "run")
    state = checkpoint_state(tmp_path / "run" / "checkpoint.npz")
    assert (state["epoch"], state["next_batch"]) == (1, 0)

    monkeypatch.undo()
    assert error_columns(fit(tmp_path / "run", resume=True)) == error_columns(fast_reference[0])


def test_resume_at_epoch_boundary_matches(tmp_path, fast_reference):
    fit(tmp_path / "run", ["training.epochs=1"])
    fit(tmp_path / "run", ["training.epochs=2"], resume=True)
    metrics = fit(tmp_path / "run", ["training.epochs=3"], resume=True)
    assert error_columns(metrics) == error_columns(fast_reference[0])


def test_resume_without_checkpoint_epoch_one(tmp_path, fast_reference):
    # A run killed in its first epoch resumes from the checkpoint written before it began.
    run_dir = tmp_path / "run"
    use_state = {}

    class KilledEngine(DenseEngine):
        def train(self, x, y, signs):
            use_state["checkpoint"] = checkpoint_state(run_dir / "checkpoint.npz")
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        use_engine(patch, KilledEngine)
        with pytest.raises(KeyboardInterrupt):
            fit(run_dir)
    assert (use_state["checkpoint"]["epoch"], use_state["checkpoint"]["next_batch"]) == (0, 0)
    assert error_columns(fit(run_dir, resume=True)) == error_columns(fast_reference[0])


def test_sigkill_mid_epoch_then_resume(tmp_path, slow_reference):
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    proc = start_cli(*slow_args(), cwd=tmp_path)
    wait_until(lambda: (checkpoint_state(checkpoint) or {}).get("epoch", 0) >= 1, proc)
    proc.kill()
    returncode, _, _ = finish(proc)
    assert returncode == -signal.SIGKILL

    state = checkpoint_state(checkpoint)
    rows = saved_metrics(tmp_path / "run")
    assert 1 <= state["epoch"] < 3
    # At most the epoch in progress is lost.
    assert state["epoch"] <= len(rows) <= state["epoch"] + 1

    # No model named: --resume reads the run's config.toml and engine.
    result = run_cli("train", "--out", "run", "--resume", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert error_columns(saved_metrics(tmp_path / "run")) == error_columns(slow_reference)


def test_sigint_subprocess_then_resume(tmp_path, slow_reference):
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    proc = start_cli(*slow_args(), cwd=tmp_path)
    wait_until(lambda: (checkpoint_state(checkpoint) or {}).get("epoch", 0) >= 1, proc)
    proc.send_signal(signal.SIGINT)
    returncode, _, stderr = finish(proc)
    assert returncode == 130
    lines = one_line(stderr)
    assert len(lines) == 1
    assert lines[0].startswith("neurosim: interrupted: stopped by SIGINT")
    assert "Continue with --resume" in lines[0]
    assert "Traceback" not in stderr

    state = checkpoint_state(checkpoint)
    if "after minibatch" in lines[0]:
        assert state["next_batch"] > 0

    result = run_cli(*slow_args("--resume"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert error_columns(saved_metrics(tmp_path / "run")) == error_columns(slow_reference)


# --- divergence and non-convergence ----------------------------------------------------------

def test_nan_weight_stops_with_location(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    # One minibatch per call, 60 per epoch: call 65 is minibatch 5 of epoch 2.
    use_engine(monkeypatch, lambda net, cfg: PoisoningEngine(net, cfg, 65))
    with pytest.raises(DivergenceError) as info:
        fit(run_dir)
    message = str(info.value)
    assert "W_2 (layer 2) became NaN or infinite in epoch 2, minibatch 5." in message
    assert "last good checkpoint" in message
    assert "Lower the learning rates (training.eta" in message
    assert info.value.exit_code == 3

    # The checkpoint of epoch 1 is intact: resuming it with a sound engine matches the reference.
    network, state = load_checkpoint(run_dir / "checkpoint.npz")
    assert (state["epoch"], state["next_batch"]) == (1, 0)
    assert network.first_non_finite() is None
    assert len(saved_metrics(run_dir)) == 1
    assert "training diverged" in (run_dir / "train.log").read_text()

    # The engine sums residuals per call, so the reference must use one minibatch per call too.
    use_engine(monkeypatch, lambda net, cfg: PoisoningEngine(net, cfg, None))
    reference = fit(tmp_path / "reference")
    assert error_columns(fit(run_dir, resume=True)) == error_columns(reference)


def test_nan_states_stop_training(tmp_path, monkeypatch):
    class NanStatesEngine(DenseEngine):
        def train(self, x, y, signs):
            stats = super().train(x, y, signs)
            stats.residual_sum = float("nan")
            return stats

    use_engine(monkeypatch, NanStatesEngine)
    with pytest.raises(DivergenceError, match="the settled states became NaN or infinite in "
                                              "epoch 1, minibatches 1 to 10"):
        fit(tmp_path / "run")


def test_huge_learning_rate_diverges_cli(tmp_path):
    result = run_cli("train", "synthetic-small", "--engine", "dense", "--out", "run",
                     "--no-progress", "--set", "training.eta=[1e308, 1e308]", cwd=tmp_path)
    assert result.returncode == 3
    lines = one_line(result.stderr)
    assert len(lines) == 1
    assert lines[0].startswith("neurosim: error: training diverged: W_1 (layer 1) became NaN "
                               "or infinite in epoch 1, minibatches 1 to 10.")
    assert "RuntimeWarning" not in result.stderr

    # The only checkpoint is the one written before training: the initial parameters.
    network, state = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert (state["epoch"], state["next_batch"]) == (0, 0)
    initial = Network.initialize(config_with([]).network.layers, seed=0)
    for (name, saved), (_, fresh) in zip(network.parameters(), initial.parameters()):
        assert np.array_equal(saved, fresh), name


def test_unsettled_negative_phase_warns_and_continues(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="neurosim"):
        metrics = fit(tmp_path / "run", ["training.epochs=2", "dynamics.t_minus=0.5"])
    assert len(metrics) == 2
    assert all(row["residual_mean"] > training.RESIDUAL_WARNING for row in metrics)
    warnings = [r.getMessage() for r in caplog.records if "has not settled" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0].startswith("epoch 1: the negative phase has not settled")


def test_settled_negative_phase_is_quiet(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="neurosim"):
        metrics = fit(tmp_path / "run", ["training.epochs=1"])
    assert metrics[0]["residual_mean"] < training.RESIDUAL_WARNING
    assert not [r for r in caplog.records if "has not settled" in r.getMessage()]


# --- checkpoints -----------------------------------------------------------------------------

def trained_run(tmp_path):
    run_dir = tmp_path / "run"
    fit(run_dir, ["training.epochs=1"])
    return run_dir


def assert_resume_rejected(run_dir, words):
    """Resuming raises CheckpointError with ``words`` and changes no file of the run."""
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != "train.log"}
    with pytest.raises(CheckpointError) as info:
        fit(run_dir, ["training.epochs=2"], resume=True)
    assert words in str(info.value)
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != "train.log"}
    assert after == before


def test_checkpoint_truncated_rejected(tmp_path):
    run_dir = trained_run(tmp_path)
    path = run_dir / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert_resume_rejected(run_dir, "is corrupt or truncated")


@pytest.mark.parametrize("content", [b"", b"\x00" * 100, b"PK\x03\x04garbage"],
                         ids=["empty", "zeros", "bad-zip"])
def test_checkpoint_garbage_rejected(tmp_path, content):
    run_dir = trained_run(tmp_path)
    (run_dir / "checkpoint.npz").write_bytes(content)
    assert_resume_rejected(run_dir, "is corrupt or truncated")


def test_checkpoint_flipped_byte_rejected(tmp_path):
    run_dir = trained_run(tmp_path)
    path = run_dir / "checkpoint.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert_resume_rejected(run_dir, "checkpoint")


def rewrite_checkpoint(path, change):
    """Apply ``change(arrays, state)`` to a checkpoint's content and write it back as npz."""
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    state = json.loads(arrays.pop("state").tobytes())
    change(arrays, state)
    arrays["state"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("change, words", [
    (lambda a, s: s.pop("rng_state"), "lacks the training state rng_state"),
    (lambda a, s: s.update(format_version=99), "format version 99"),
    (lambda a, s: a.update(weights_0=np.zeros((3, 3))), "inconsistent parameters"),
    (lambda a, s: a.pop("biases_1"), "the array 'biases_1' is missing"),
    (lambda a, s: a["weights_1"].__setitem__((0, 0), np.inf), "NaN or infinity in weights_1"),
    (lambda a, s: s.update(stats={"samples": "x", "bogus": 1}), "invalid training state"),
    (lambda a, s: s.update(config=[1, 2]), "has no readable configuration"),
], ids=["no-rng", "version", "shape", "missing-array", "inf", "stats", "config"])
def test_checkpoint_inconsistent_rejected(tmp_path, change, words):
    run_dir = trained_run(tmp_path)
    rewrite_checkpoint(run_dir / "checkpoint.npz", change)
    assert_resume_rejected(run_dir, words)


def test_checkpoint_cli_error_one_line(tmp_path, monkeypatch, capsys):
    run_dir = trained_run(tmp_path)
    path = run_dir / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[:100])
    monkeypatch.chdir(tmp_path)
    status = cli.main(["train", "--out", "run", "--resume", "--no-progress"])
    lines = one_line(capsys.readouterr().err)
    assert status == 2
    assert len(lines) == 1
    assert "checkpoint run/checkpoint.npz is corrupt or truncated" in lines[0]
    assert "start over with --force" in lines[0]


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    run_dir = trained_run(tmp_path)
    path = run_dir / "checkpoint.npz"
    before = path.read_bytes()
    network, state = load_checkpoint(path)

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError):
        save_checkpoint(path, network, state)
    assert path.read_bytes() == before
    assert not list(run_dir.glob("*.tmp"))


def test_resume_with_changed_config_rejected(tmp_path):
    run_dir = trained_run(tmp_path)
    with pytest.raises(CheckpointError, match=r"training.eta is \[0.2, 0.05\] but the checkpoint "
                                              r"was trained with \[0.1, 0.05\]"):
        fit(run_dir, ["training.epochs=2", "training.eta=[0.2, 0.05]"], resume=True)


def test_resume_with_other_engine_rejected(tmp_path):
    run_dir = trained_run(tmp_path)
    with pytest.raises(CheckpointError, match="Pass --engine dense"):
        Trainer(config_with(["training.epochs=2"]), run_dir, engine="brian2", resume=True,
                progress=False).fit()


def test_resume_empty_directory_rejected(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        fit(tmp_path / "run", resume=True)


# --- run directories -------------------------------------------------------------------------

def test_existing_run_not_overwritten(tmp_path, monkeypatch, capsys):
    run_dir = trained_run(tmp_path)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != "train.log"}
    monkeypatch.chdir(tmp_path)
    status = cli.main(["train", "synthetic-small", "--engine", "dense", "--out", "run",
                       "--no-progress", "--epochs", "1"])
    lines = one_line(capsys.readouterr().err)
    assert status == 2
    assert lines == ["neurosim: error: run already contains a run: continue it with --resume, start "
                     "over with --force, or choose another --out."]
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != "train.log"}
    assert after == before


def test_force_starts_over(tmp_path, fast_reference):
    run_dir = tmp_path / "run"
    fit(run_dir, ["training.epochs=1", "training.seed=5"])
    metrics = fit(run_dir, FAST, force=True)
    assert error_columns(metrics) == error_columns(fast_reference[0])
    assert error_columns(saved_metrics(run_dir)) == error_columns(fast_reference[0])
    info = json.loads((run_dir / "run.json").read_text())
    assert len(info["sessions"]) == 1


def test_lock_rejects_second_holder(tmp_path):
    first = RunDirectory(tmp_path / "run").acquire()
    try:
        with pytest.raises(RunDirectoryError, match=f"in use by another neurosim process "
                                                    f"\\(pid {os.getpid()}\\)"):
            RunDirectory(tmp_path / "run").acquire()
    finally:
        first.release()
    RunDirectory(tmp_path / "run").acquire().release()


def test_lock_removes_stale_temporary_files(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoint.npz.abc123.tmp").write_bytes(b"partial")
    RunDirectory(run_dir).acquire().release()
    assert not list(run_dir.glob("*.tmp"))


def test_concurrent_runs_in_separate_directories(tmp_path, slow_reference):
    folders = [tmp_path / "a", tmp_path / "b"]
    procs = []
    for folder in folders:
        folder.mkdir()
        procs.append(start_cli(*slow_args(), cwd=folder))
    for folder, proc in zip(folders, procs):
        returncode, _, stderr = finish(proc)
        assert returncode == 0, stderr
        assert error_columns(saved_metrics(folder / "run")) == error_columns(slow_reference)


def test_concurrent_run_same_directory_rejected(tmp_path):
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    first = start_cli(*slow_args(), cwd=tmp_path)
    wait_until(lambda: checkpoint_state(checkpoint) is not None, first)
    second = run_cli(*slow_args("--resume"), cwd=tmp_path)
    assert second.returncode == 2
    assert one_line(second.stderr) == [
        f"neurosim: error: run directory run is in use by another neurosim process (pid "
        f"{first.pid}): wait for it to finish or choose another --out."]

    first.send_signal(signal.SIGTERM)
    returncode, _, stderr = finish(first)
    assert returncode == 130, stderr
    assert "stopped by SIGTERM" in stderr


# --- reproducibility -------------------------------------------------------------------------

def test_same_seed_bit_identical(tmp_path, fast_reference):
    metrics = fit(tmp_path / "again")
    assert error_columns(metrics) == error_columns(fast_reference[0])
    _, reference_dir = fast_reference
    with np.load(reference_dir / "checkpoint.npz") as a, np.load(tmp_path / "again" /
                                                                 "checkpoint.npz") as b:
        for key in a.files:
            if key != "state":
                assert np.array_equal(a[key], b[key]), key


def test_other_seed_differs(tmp_path, fast_reference):
    metrics = fit(tmp_path / "other", FAST + ["training.seed=1"])
    assert error_columns(metrics) != error_columns(fast_reference[0])


def test_float32_same_seed_bit_identical(tmp_path):
    first = fit(tmp_path / "a", ["training.epochs=2", "training.dtype=\"float32\""])
    second = fit(tmp_path / "b", ["training.epochs=2", "training.dtype=\"float32\""])
    assert error_columns(first) == error_columns(second)


def test_run_directory_records_versions_and_config(tmp_path):
    run_dir = tmp_path / "run"
    config = config_with(["training.epochs=1", "training.seed=7"])
    Trainer(config, run_dir, progress=False).fit()
    info = json.loads((run_dir / "run.json").read_text())
    for package in ("neurosim", "python", "numpy", "brian2"):
        assert package in info["versions"]
    assert info["versions"]["numpy"] == np.__version__
    assert (info["engine"], info["seed"]) == ("dense", 7)
    assert load_config(run_dir / "config.toml").to_dict() == config.to_dict()

    Trainer(config_with(["training.epochs=2", "training.seed=7"]), run_dir, resume=True,
            progress=False).fit()
    sessions = json.loads((run_dir / "run.json").read_text())["sessions"]
    assert [s["resumed"] for s in sessions] == [False, True]
    assert load_config(run_dir / "config.toml").training.epochs == 2


def test_metrics_csv_matches_json(tmp_path):
    from neurosim.rundir import read_metrics_csv

    run_dir = trained_run(tmp_path)
    rows_csv = read_metrics_csv(run_dir / "metrics.csv")
    rows_json = saved_metrics(run_dir)
    for row_csv, row_json in zip(rows_csv, rows_json):
        for key, value in row_json.items():
            if value != value:
                assert row_csv[key] != row_csv[key], key
            else:
                assert math.isclose(row_csv[key], value), key


def test_zip_checkpoint_has_no_pickles(tmp_path):
    run_dir = trained_run(tmp_path)
    with zipfile.ZipFile(run_dir / "checkpoint.npz") as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                header = member.read(128)
            assert b"'descr': '|O'" not in header, name
    assert checkpoint_state(run_dir / "checkpoint.npz")["engine"] == "dense"


def test_stats_round_trip_exact():
    stats = TrainStats(samples=3, correct_sf=1, correct_minus=2, residual_sum=0.1 + 0.2,
                       residual_max=1 / 3)
    assert TrainStats(**json.loads(json.dumps(stats.as_dict()))) == stats


# --- evaluate --------------------------------------------------------------------------------

def test_evaluate_trained_run(tmp_path, monkeypatch, capsys):
    run_dir = trained_run(tmp_path)
    row = saved_metrics(run_dir)[-1]
    monkeypatch.chdir(tmp_path)
    assert cli.main(["evaluate", "run"]) == 0
    out = capsys.readouterr().out
    assert (f"run: epoch 1, test error s^f {100 * row['test_error_sf']:.2f} %, "
            f"s- {100 * row['test_error_minus']:.2f} %") in out


def break_layers(run_dir):
    path = run_dir / "config.toml"
    layers = config_with([]).network.layers
    old = f"layers = {layers}"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, f"layers = {[layers[0], 7, layers[-1]]}"))


LAYERS = config_with([]).network.layers


@pytest.mark.parametrize("damage, words", [
    (lambda run: None, "run directory gone not found"),
    (lambda run: (run / "config.toml").unlink(), "has no config.toml"),
    (lambda run: (run / "checkpoint.npz").write_bytes(b"PK"), "is corrupt or truncated"),
    (break_layers, f"contains layers {LAYERS}, but run/config.toml sets network.layers = "
                   f"{[LAYERS[0], 7, LAYERS[-1]]}"),
], ids=["missing", "no-config", "corrupt", "layers"])
def test_evaluate_bad_run_directory(tmp_path, monkeypatch, capsys, damage, words):
    run_dir = trained_run(tmp_path)
    damage(run_dir)
    monkeypatch.chdir(tmp_path)
    target = "gone" if words.startswith("run directory gone") else "run"
    status = cli.main(["evaluate", target])
    lines = one_line(capsys.readouterr().err)
    assert status == 2
    assert len(lines) == 1
    assert words in lines[0]
