"""Experiment run lists: parsing, selection, configurations and resumable training."""

import pytest

from neurosim.analysis.curves import summarize_run
from neurosim.analysis.runs import (
    check_same_settings,
    load_runs,
    read_metrics,
    run_config,
    select_runs,
    train_run,
)
from neurosim.errors import ConfigError

EXPERIMENT = """
[[run]]
name = "a"
panel = "p"
label = "A"
preset = "synthetic-small"
epochs = 3
set = ["dynamics.t_minus=2.0"]

[[run]]
name = "b"
preset = "synthetic-small"
epochs = 1
"""


@pytest.fixture()
def experiment(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    return path


def test_load_runs_reads_every_run(experiment):
    specs = load_runs(experiment)
    assert [s.name for s in specs] == ["a", "b"]
    assert specs[0].overrides == ["dynamics.t_minus=2.0"]
    assert specs[1].label == "b"


def test_load_runs_rejects_missing_keys_and_duplicates(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[run]]\nname = "a"\npreset = "synthetic-small"\n')
    with pytest.raises(ConfigError, match="epochs"):
        load_runs(path)
    path.write_text(EXPERIMENT.replace('name = "b"', 'name = "a"'))
    with pytest.raises(ConfigError, match="more than once"):
        load_runs(path)


def test_select_runs_names_unknown(experiment):
    specs = load_runs(experiment)
    assert [s.name for s in select_runs(specs, ["b"])] == ["b"]
    with pytest.raises(ConfigError, match="unknown run c"):
        select_runs(specs, ["c"])


def test_run_config_applies_overrides_and_smoke(experiment):
    spec = load_runs(experiment)[0]
    config = run_config(spec)
    assert config.dynamics.steps_minus == 4
    assert config.training.epochs == 3
    smoke = run_config(load_runs(experiment)[0], smoke=True)
    assert smoke.network.layers == [64, 32, 4]
    assert smoke.training.epochs == 2
    assert smoke.data.synthetic_train == 200


def test_train_run_resumes_to_more_epochs(experiment, tmp_path):
    spec = load_runs(experiment)[1]
    rows = train_run(spec, tmp_path / "out", epochs=1)
    assert len(rows) == 1
    rows = train_run(spec, tmp_path / "out", epochs=2)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert len(read_metrics(tmp_path / "out" / "b")) == 2
    summary = summarize_run(rows)
    assert summary["epochs"] == 2
    assert summary["final_minus"] == 100 * rows[-1]["test_error_minus"]


def test_check_same_settings_rejects_other_settings(experiment, tmp_path):
    specs = load_runs(experiment)
    train_run(specs[1], tmp_path / "out", epochs=1)
    check_same_settings(run_config(specs[1], epochs=7), tmp_path / "out" / "b")
    with pytest.raises(ConfigError, match="t_minus"):
        check_same_settings(run_config(specs[0]), tmp_path / "out" / "b")
