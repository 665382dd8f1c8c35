"""Invalid configurations give one line naming the key, the value and the fix, and exit 2."""

import logging

import pytest

from neurosim import cli
from neurosim.config import load_config, validate_training
from neurosim.errors import ConfigError
from runhelpers import one_line, run_cli

# A valid model: each case below changes one line of it.
BASE = """
[network]
layers = [8, 6, 3]
init = "feedforward"

[dynamics]
dt = 0.5
t_minus = 2.0
t_plus = 1.0

[training]
epochs = 1
batch_size = 5
beta = 0.5
eta = [0.1, 0.05]

[data]
dataset = "synthetic"
synthetic_train = 20
synthetic_test = 10
"""


def write_model(folder, replace=None, append=""):
    """Write BASE with ``replace`` (old line -> new line) applied into model.toml."""
    text = BASE
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "model.toml"
    path.write_text(text + append, encoding="utf-8")
    return path


@pytest.fixture
def train_cli(tmp_path, monkeypatch, capsys):
    """Run ``neurosim train`` in-process in ``tmp_path``; return (status, error lines, stderr)."""
    monkeypatch.chdir(tmp_path)

    def run(*args):
        status = cli.main(["train", *map(str, args), "--engine", "dense", "--no-progress"])
        err = capsys.readouterr().err
        return status, one_line(err), err
    return run


# (line replaced in BASE, its replacement, words the message must contain)
INVALID_LINES = [
    ("epochs = 1", "epoch = 1", ["unknown key 'training.epoch'", "Did you mean 'epochs'"]),
    ("init = \"feedforward\"", "init = \"feedfoward\"",
     ["network.init = 'feedfoward'", "Did you mean 'feedforward'"]),
    ("[network]", "[netwrk]", ["unknown table [netwrk]", "Did you mean 'network'"]),
    ("batch_size = 5", "batch_size = \"5\"", ["training.batch_size = '5'", "expected an integer"]),
    ("batch_size = 5", "batch_size = 5.0", ["training.batch_size = 5.0", "expected an integer"]),
    ("layers = [8, 6, 3]", "layers = 8", ["network.layers = 8", "expected a list"]),
    ("beta = 0.5", "beta = \"0.5\"", ["training.beta = '0.5'", "expected a number"]),
    ("layers = [8, 6, 3]", "layers = [8, 0, 3]",
     ["network.layers = [8, 0, 3]", "positive integer"]),
    ("layers = [8, 6, 3]", "layers = [8, -6, 3]", ["network.layers", "-6 is not"]),
    ("layers = [8, 6, 3]", "layers = [8]",
     ["network.layers = [8]", "at least an input and an output"]),
    ("epochs = 1", "epochs = 0", ["training.epochs = 0", "positive"]),
    ("batch_size = 5", "batch_size = -5", ["training.batch_size = -5", "positive"]),
    ("t_minus = 2.0", "t_minus = 0.0", ["dynamics.t_minus = 0.0", "positive"]),
    ("t_plus = 1.0", "t_plus = -1.0", ["dynamics.t_plus = -1.0", "positive"]),
    ("t_minus = 2.0", "t_minus = 2.2", ["dynamics.t_minus = 2.2", "whole number of steps"]),
    ("eta = [0.1, 0.05]", "eta = [0.1, 0.0]", ["training.eta = [0.1, 0.0]", "positive"]),
    ("eta = [0.1, 0.05]", "eta = [0.1, -0.05]", ["training.eta", "-0.05 is not"]),
    ("eta = [0.1, 0.05]", "eta = [0.1, nan]", ["training.eta", "nan is not"]),
    ("eta = [0.1, 0.05]", "eta = [0.1]", ["training.eta has 1 values", "one rate per matrix"]),
    ("dt = 0.5", "dt = 0.0", ["dynamics.dt = 0.0", "(0, 1]"]),
    ("dt = 0.5", "dt = -0.5", ["dynamics.dt = -0.5", "(0, 1]"]),
    ("dt = 0.5", "dt = 1.5", ["dynamics.dt = 1.5", "(0, 1]"]),
    ("dt = 0.5", "dt = inf", ["dynamics.dt = inf", "(0, 1]"]),
    ("beta = 0.5", "beta = nan", ["training.beta = nan", "finite"]),
    ("beta = 0.5", "beta = 0.5\neta_decay = 0.0", ["training.eta_decay = 0.0", "(0, 1]"]),
    ("beta = 0.5", "beta = 0.5\neta_decay = 1.5", ["training.eta_decay = 1.5", "(0, 1]"]),
    ("beta = 0.5", "beta = 0.5\neta_decay = nan", ["training.eta_decay = nan", "(0, 1]"]),
    ("beta = 0.5", "beta = 0.5\neta_decay_start = 0",
     ["training.eta_decay_start = 0", "positive"]),
    ("dt = 0.5", "dt = 0.5\ncoupling = -0.1", ["dynamics.coupling = -0.1", ">= 0"]),
    ("init = \"feedforward\"", "init = \"zero\"\n[dynamics]\ncoupling = 0.1",
     ["not valid TOML"]),
    ("synthetic_train = 20", "synthetic_train = 0", ["data.synthetic_train = 0", "positive"]),
    ("dataset = \"synthetic\"", "dataset = \"cifar\"",
     ["data.dataset = 'cifar'", "'mnist', 'synthetic'"]),
]


@pytest.mark.parametrize("old, new, words", INVALID_LINES,
                         ids=[case[1].splitlines()[0] for case in INVALID_LINES])
def test_config_invalid_value_one_line(train_cli, tmp_path, old, new, words):
    path = write_model(tmp_path, {old: new})
    status, lines, err = train_cli(path)
    assert status == 2
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0]
    assert "model.toml" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_config_key_in_wrong_table_names_home(train_cli, tmp_path):
    path = write_model(tmp_path, {"init = \"feedforward\"": "init = \"feedforward\"\nepochs = 2"})
    status, lines, _ = train_cli(path)
    assert status == 2
    assert "unknown key 'network.epochs'" in lines[0]
    assert "'epochs' belongs in [training]" in lines[0]


def test_config_key_outside_table_names_home(train_cli, tmp_path):
    path = tmp_path / "model.toml"
    path.write_text("seed = 3\n" + BASE)
    status, lines, _ = train_cli(path)
    assert status == 2
    assert "key 'seed'" in lines[0]
    assert "under [training]" in lines[0]


def test_config_coupling_needs_feedforward(train_cli, tmp_path):
    path = write_model(tmp_path, {"init = \"feedforward\"": "init = \"zero\"",
                                  "dt = 0.5": "dt = 0.5\ncoupling = 0.1"})
    status, lines, _ = train_cli(path)
    assert status == 2
    assert "dynamics.coupling > 0" in lines[0]
    assert "network.init = \"feedforward\"" in lines[0]


def test_config_toml_syntax_error_names_line(train_cli, tmp_path):
    path = write_model(tmp_path, {"epochs = 1": "epochs = = 1"})
    line = path.read_text().splitlines().index("epochs = = 1") + 1
    status, lines, _ = train_cli(path)
    assert status == 2
    assert "not valid TOML" in lines[0]
    assert f"line {line}," in lines[0]


def test_config_missing_preset_suggests_name(train_cli):
    status, lines, _ = train_cli("synthetic-smal")
    assert status == 2
    assert "no preset named 'synthetic-smal'" in lines[0]
    assert "Did you mean 'synthetic-small'" in lines[0]


def test_config_missing_file(train_cli):
    status, lines, _ = train_cli("nowhere.toml")
    assert status == 2
    assert "model file nowhere.toml not found" in lines[0]


def test_config_folder_instead_of_file(train_cli, tmp_path):
    (tmp_path / "models.toml").mkdir()
    status, lines, _ = train_cli("models.toml")
    assert status == 2
    assert "is a folder" in lines[0]


def test_config_not_utf8(train_cli, tmp_path):
    path = tmp_path / "model.toml"
    path.write_bytes(BASE.encode("utf-8") + b"# \xff\xfe\n")
    status, lines, _ = train_cli(path)
    assert status == 2
    assert "not UTF-8" in lines[0]


@pytest.mark.parametrize("assignment, words", [
    ("training.epochs", ["--set 'training.epochs' is invalid", "KEY=VALUE"]),
    ("epochs=3", ["--set key 'epochs' is invalid", "training.epochs"]),
    ("training.epoch=3", ["unknown key 'training.epoch'", "Did you mean 'epochs'"]),
    ("training.eta=0.1,0.05", ["training.eta = '0.1,0.05'", "expected a list"]),
])
def test_config_set_invalid(train_cli, tmp_path, assignment, words):
    path = write_model(tmp_path)
    status, lines, _ = train_cli(path, "--set", assignment)
    assert status == 2
    for word in words:
        assert word in lines[0]


def test_config_beta_zero_rejected_for_training(train_cli, tmp_path):
    path = write_model(tmp_path, {"beta = 0.5": "beta = 0.0"})
    status, lines, _ = train_cli(path)
    assert status == 2
    assert "training.beta = 0 is invalid for training" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_config_beta_zero_loads_without_training(tmp_path):
    # Settling and evaluation never divide by beta, so a free-phase configuration loads.
    config = load_config(write_model(tmp_path, {"beta = 0.5": "beta = 0.0"}))
    assert config.training.beta == 0.0
    with pytest.raises(ConfigError, match="training.beta = 0"):
        validate_training(config)


@pytest.mark.parametrize("dt, coupling, warns", [
    (0.5, 0.0, False),   # rate 1.5: 0.75 <= 1
    (0.6, 0.0, False),   # 0.9 <= 1
    (0.7, 0.0, True),    # 1.05 > 1
    (0.5, 0.3, True),    # rate 2.1: 1.05 > 1
    (1.0, 0.0, True),
])
def test_config_dt_warns_where_euler_overshoots(tmp_path, caplog, dt, coupling, warns):
    path = write_model(tmp_path, {"dt = 0.5": f"dt = {dt}\ncoupling = {coupling}",
                                  "t_minus = 2.0": f"t_minus = {10 * dt}",
                                  "t_plus = 1.0": f"t_plus = {2 * dt}"})
    with caplog.at_level(logging.WARNING, logger="neurosim"):
        load_config(path)
    overshoot = [r for r in caplog.records if "overshoots with forward Euler" in r.getMessage()]
    assert bool(overshoot) == warns
    if warns:
        limit = 1.0 / (1.0 + 2.0 * coupling + 0.5)
        assert f"needs dt <= {limit:.3g}" in overshoot[0].getMessage()


def test_config_overrides_warn_once(tmp_path, caplog):
    path = write_model(tmp_path)
    with caplog.at_level(logging.WARNING, logger="neurosim"):
        load_config(path, ["dynamics.dt=1.0", "dynamics.t_plus=1.0"])
    overshoot = [r for r in caplog.records if "overshoots" in r.getMessage()]
    assert len(overshoot) == 1


def test_config_resume_and_force_exclusive(train_cli, tmp_path):
    status, lines, _ = train_cli(write_model(tmp_path), "--resume", "--force")
    assert status == 2
    assert "--resume and --force exclude each other" in lines[0]


def test_config_max_samples_below_batch(train_cli, tmp_path):
    status, lines, _ = train_cli(write_model(tmp_path), "--max-samples", "3", "--out", "run")
    assert status == 2
    assert "training.batch_size = 5 is larger than the 3 training samples" in lines[0]
    assert not (tmp_path / "run" / "config.toml").exists()
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_config_max_samples_not_positive(train_cli, tmp_path):
    status, lines, _ = train_cli(write_model(tmp_path), "--max-samples", "0")
    assert status == 2
    assert "--max-samples 0 is invalid" in lines[0]


def test_config_dense_rejects_runge_kutta(train_cli, tmp_path):
    path = write_model(tmp_path, {"dt = 0.5": "dt = 0.5\nmethod = \"rk4\""})
    status, lines, _ = train_cli(path, "--out", "run")
    assert status == 2
    assert "dynamics.method = 'rk4' is not available in the dense engine" in lines[0]
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_config_error_subprocess_has_no_traceback(tmp_path):
    path = write_model(tmp_path, {"epochs = 1": "epoch = 1"})
    result = run_cli("train", path, "--engine", "dense", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == one_line(result.stderr)
    assert len(one_line(result.stderr)) == 1


@pytest.mark.parametrize("start, warns", [(1, False), (3, False), (4, True)])
def test_config_decay_after_last_epoch_warns(tmp_path, caplog, start, warns):
    path = write_model(tmp_path, {"epochs = 1": "epochs = 3",
                                  "beta = 0.5": f"beta = 0.5\neta_decay = 0.5\n"
                                                f"eta_decay_start = {start}"})
    with caplog.at_level(logging.WARNING, logger="neurosim"):
        load_config(path)
    never = [r for r in caplog.records if "never applies" in r.getMessage()]
    assert bool(never) == warns
