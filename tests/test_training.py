"""The training loop on synthetic data: learning, metrics, checkpoints and resume."""

import json
import time

import numpy as np
import pytest

from neurosim.checkpoint import load_checkpoint
from neurosim.config import apply_overrides, load_config
from neurosim.data import load_dataset
from neurosim.engines import DenseEngine
from neurosim.network import Network
from neurosim.errors import CheckpointError, RunDirectoryError
from neurosim.rundir import METRIC_COLUMNS, read_metrics_csv
from neurosim.training import Trainer

ERROR_COLUMNS = ("train_error_sf", "train_error_minus", "test_error_sf", "test_error_minus")


def _config(*overrides):
    return apply_overrides(load_config("synthetic-small"), list(overrides))


def test_training_learns_synthetic_task(tmp_path):
    config = _config("training.epochs=3")
    data = load_dataset(config)
    untrained = DenseEngine(Network.initialize(config.network.layers, seed=0), config)
    before_sf, before_minus = untrained.evaluate(data.x_test).errors(data.y_test)
    # Four classes: chance is 75 % error, and an untrained network is about there.
    assert before_sf > 0.4
    assert before_minus > 0.4
    metrics = Trainer(config, tmp_path / "run", progress=False).fit(data)
    assert len(metrics) == 3
    assert metrics[-1]["test_error_minus"] < 0.1
    assert metrics[-1]["test_error_sf"] < 0.1


def test_run_directory_files(tmp_path):
    run = tmp_path / "run"
    Trainer(_config("training.epochs=2"), run, progress=False).fit()
    for name in ("config.toml", "run.json", "metrics.csv", "metrics.json", "checkpoint.npz",
                 "train.log"):
        assert (run / name).is_file(), name
    rows = read_metrics_csv(run / "metrics.csv")
    assert [row["epoch"] for row in rows] == [1.0, 2.0]
    assert list(rows[0]) == list(METRIC_COLUMNS)
    info = json.loads((run / "run.json").read_text())
    assert info["versions"]["numpy"] == np.__version__
    assert load_config(run / "config.toml").to_dict() == _config("training.epochs=2").to_dict()
    network, state = load_checkpoint(run / "checkpoint.npz")
    assert state["epoch"] == 2
    assert network.layers == [64, 100, 4]


def test_resume_gives_same_metrics_as_uninterrupted_run(tmp_path):
    full = Trainer(_config("training.epochs=3"), tmp_path / "full", progress=False).fit()
    Trainer(_config("training.epochs=1"), tmp_path / "split", progress=False).fit()
    resumed = Trainer(_config("training.epochs=3"), tmp_path / "split", resume=True,
                      progress=False).fit()
    assert len(resumed) == 3
    for a, b in zip(full, resumed):
        for column in ERROR_COLUMNS:
            assert a[column] == b[column], column


def test_plain_ep_reports_no_feedforward_error(tmp_path):
    metrics = Trainer(_config("training.epochs=1", "network.init=\"zero\""), tmp_path / "ep",
                      progress=False).fit()
    assert np.isnan(metrics[0]["test_error_sf"])
    assert np.isnan(metrics[0]["train_error_sf"])
    assert metrics[0]["test_error_minus"] < 0.75


def test_existing_run_is_not_overwritten(tmp_path):
    Trainer(_config("training.epochs=1"), tmp_path / "run", progress=False).fit()
    with pytest.raises(RunDirectoryError, match="--resume"):
        Trainer(_config("training.epochs=1"), tmp_path / "run", progress=False).fit()
    metrics = Trainer(_config("training.epochs=1"), tmp_path / "run", force=True,
                      progress=False).fit()
    assert len(metrics) == 1


def test_max_samples_limits_epoch(tmp_path):
    trainer = Trainer(_config("training.epochs=1"), tmp_path / "run", max_samples=100,
                      progress=False)
    metrics = trainer.fit()
    _, state = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert state["max_samples"] == 100
    assert metrics[0]["samples_per_second"] > 0


def test_resume_reuses_max_samples_of_run(tmp_path):
    Trainer(_config("training.epochs=1"), tmp_path / "run", max_samples=100, progress=False).fit()
    metrics = Trainer(_config("training.epochs=2"), tmp_path / "run", resume=True,
                      progress=False).fit()
    assert len(metrics) == 2
    _, state = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert state["max_samples"] == 100


def test_resume_with_other_max_samples_names_fix(tmp_path):
    Trainer(_config("training.epochs=1"), tmp_path / "run", max_samples=100, progress=False).fit()
    with pytest.raises(CheckpointError, match="pass --max-samples 100"):
        Trainer(_config("training.epochs=2"), tmp_path / "run", resume=True, max_samples=50,
                progress=False).fit()


def test_rate_scale_follows_the_schedule_by_hand():
    training = _config("training.eta_decay=0.5", "training.eta_decay_start=3").training
    assert [training.rate_scale(epoch) for epoch in range(1, 6)] == [1, 1, 0.5, 0.25, 0.125]
    assert _config().training.rate_scale(40) == 1.0


def test_decayed_epochs_barely_move_parameters(tmp_path):
    Trainer(_config("training.epochs=1"), tmp_path / "one", progress=False).fit()
    # From epoch 2 on the rates are 1e-9 of their value: three epochs end where one did.
    three = _config("training.epochs=3", "training.eta_decay=1e-9", "training.eta_decay_start=2")
    Trainer(three, tmp_path / "three", progress=False).fit()
    after_one, _ = load_checkpoint(tmp_path / "one" / "checkpoint.npz")
    after_three, _ = load_checkpoint(tmp_path / "three" / "checkpoint.npz")
    # Without the decay, epochs 2 and 3 do move them.
    Trainer(_config("training.epochs=3"), tmp_path / "full", progress=False).fit()
    full, _ = load_checkpoint(tmp_path / "full" / "checkpoint.npz")

    def distance(a, b):
        return max(np.abs(p - q).max() for (_, p), (_, q) in zip(a.parameters(), b.parameters()))

    assert distance(after_three, after_one) < 1e-6
    assert distance(full, after_one) > 1e-4


def test_resume_accepts_later_schedule(tmp_path):
    run = tmp_path / "run"
    Trainer(_config("training.epochs=2"), run, progress=False).fit()
    tail = _config("training.epochs=3", "training.eta_decay=0.5", "training.eta_decay_start=3")
    metrics = Trainer(tail, run, resume=True, progress=False).fit()
    assert [row["epoch"] for row in metrics] == [1, 2, 3]
    assert load_config(run / "config.toml").training.eta_decay == 0.5


def test_resume_rejects_schedule_for_trained_epochs(tmp_path):
    run = tmp_path / "run"
    Trainer(_config("training.epochs=2"), run, progress=False).fit()
    early = _config("training.epochs=3", "training.eta_decay=0.5", "training.eta_decay_start=2")
    with pytest.raises(CheckpointError, match="eta_decay_start to 3 or later"):
        Trainer(early, run, resume=True, progress=False).fit()


def test_every_preset_loads_and_validates():
    from neurosim.config import list_presets

    names = list_presets()
    assert "mnist-784-500-10-decay" in names
    for name in names:
        config = load_config(name)
        assert config.network.layers[0] in (64, 784), name


def test_decay_preset_schedule_by_hand():
    training = load_config("mnist-784-500-10-decay").training
    assert training.epochs == 35
    assert training.rate_scale(25) == 1.0
    assert training.rate_scale(26) == pytest.approx(0.7)
    assert training.rate_scale(35) == pytest.approx(0.7 ** 10)  # 0.0282


def test_resume_after_decay_keeps_schedule(tmp_path):
    run = tmp_path / "run"
    decayed = _config("training.epochs=3", "training.eta_decay=0.5", "training.eta_decay_start=2")
    Trainer(decayed, run, progress=False).fit()
    later = _config("training.epochs=4", "training.eta_decay=0.5", "training.eta_decay_start=4")
    with pytest.raises(CheckpointError, match="keep eta_decay = 0.5 and eta_decay_start = 2"):
        Trainer(later, run, resume=True, progress=False).fit()
    extended = _config("training.epochs=4", "training.eta_decay=0.5", "training.eta_decay_start=2")
    assert len(Trainer(extended, run, resume=True, progress=False).fit()) == 4


class _CompilingEngine(DenseEngine):
    """A dense engine whose first training call spends 1 s "compiling" (sleeping)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compile_seconds = 0.0

    def train(self, x, y, signs):
        if not self.compile_seconds:
            began = time.perf_counter()
            time.sleep(1.0)
            self.compile_seconds = time.perf_counter() - began
        return super().train(x, y, signs)


def test_compile_time_is_not_training_time(tmp_path, monkeypatch):
    import neurosim.training as training

    monkeypatch.setattr(training, "make_engine",
                        lambda name, network, config, **options: _CompilingEngine(network, config))
    metrics = Trainer(_config("training.epochs=1"), tmp_path / "run", progress=False).fit()
    # The 600 samples of synthetic-small train in a few hundredths of a second here, so
    # the second of compiling must not show up in the epoch's training time.
    assert 0 < metrics[0]["train_seconds"] < 0.5
