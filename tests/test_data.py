"""Data loaders: MNIST from the offline wheel and from IDX files, and the synthetic set."""

import gzip
import struct

import numpy as np
import pytest

from neurosim import data as data_module
from neurosim.data import load_mnist, make_synthetic, one_hot, read_idx
from neurosim.errors import DataError

# Class counts of the standard MNIST splits, digits 0 to 9.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    pytest.importorskip("pureml", reason="the offline MNIST copy needs neurosim[mnist]")
    return load_mnist(download=False)


def test_mnist_shapes_and_range(mnist):
    assert mnist.x_train.shape == (60000, 784)
    assert mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.dtype == np.float32
    assert mnist.x_train.min() == 0.0
    assert mnist.x_train.max() == 1.0


def test_mnist_class_counts(mnist):
    assert np.bincount(mnist.y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.y_test).tolist() == TEST_COUNTS


def _write_idx(folder, stem, array, compress):
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(">" + "I" * array.ndim,
                                                                   *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        (folder / (stem + ".gz")).write_bytes(gzip.compress(payload, compresslevel=1))
    else:
        (folder / stem).write_bytes(payload)


def _write_mnist_folder(folder, mnist, compress=True):
    arrays = {
        "train_images": np.rint(mnist.x_train.reshape(-1, 28, 28) * 255),
        "train_labels": mnist.y_train,
        "test_images": np.rint(mnist.x_test.reshape(-1, 28, 28) * 255),
        "test_labels": mnist.y_test,
    }
    for key, (stem, _) in data_module.MNIST_FILES.items():
        _write_idx(folder, stem, arrays[key], compress)


def test_mnist_from_idx_folder_matches_wheel(mnist, tmp_path):
    _write_mnist_folder(tmp_path, mnist, compress=True)
    loaded = load_mnist(root=tmp_path, download=False)
    assert loaded.source.startswith("IDX files")
    assert np.array_equal(loaded.x_test, mnist.x_test)
    assert np.array_equal(loaded.y_train, mnist.y_train)


def test_idx_file_with_changed_label_is_rejected(mnist, tmp_path):
    _write_mnist_folder(tmp_path, mnist, compress=False)
    labels = mnist.y_test.copy()
    labels[0] = (labels[0] + 1) % 10
    _write_idx(tmp_path, "t10k-labels-idx1-ubyte", labels, compress=False)
    with pytest.raises(DataError, match="SHA-256"):
        load_mnist(root=tmp_path, download=False)


def test_read_idx_rejects_truncated_file():
    payload = struct.pack(">III", 0x0802, 2, 3) + bytes(5)
    with pytest.raises(DataError, match="truncated"):
        read_idx(payload, "sample.idx")


def test_read_idx_parses_header():
    payload = struct.pack(">III", 0x0802, 2, 3) + bytes(range(6))
    assert read_idx(payload).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_missing_mnist_lists_sources(monkeypatch, tmp_path):
    monkeypatch.setattr(data_module, "_load_pureml", lambda: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NEUROSIM_MNIST_DIR", raising=False)
    with pytest.raises(DataError, match="pip install neurosim\\[mnist\\]"):
        load_mnist(download=False)


def test_missing_root_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_mnist(root=tmp_path / "absent", download=False)


def test_synthetic_set_is_reproducible_and_in_range():
    first = make_synthetic(20, 3, n_train=50, n_test=10, seed=5)
    second = make_synthetic(20, 3, n_train=50, n_test=10, seed=5)
    assert np.array_equal(first.x_train, second.x_train)
    assert first.x_train.shape == (50, 20)
    assert first.x_train.min() >= 0.0
    assert first.x_train.max() <= 1.0
    assert set(np.unique(first.y_train)) <= {0, 1, 2}


def test_one_hot():
    assert one_hot(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_download_into_cache_from_loopback_mirror(mnist, tmp_path, monkeypatch):
    import functools
    import http.server
    import threading

    served = tmp_path / "mirror"
    served.mkdir()
    _write_mnist_folder(served, mnist, compress=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        mirror = f"http://127.0.0.1:{server.server_address[1]}/"
        monkeypatch.setattr(data_module, "MNIST_MIRRORS", ("http://127.0.0.1:9/", mirror))
        monkeypatch.setattr(data_module, "_load_pureml", lambda: None)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        monkeypatch.delenv("NEUROSIM_MNIST_DIR", raising=False)
        loaded = load_mnist(download=True)
    finally:
        server.shutdown()
    assert loaded.source == "a download"
    assert np.array_equal(loaded.y_test, mnist.y_test)
    assert (tmp_path / "cache" / "neurosim" / "mnist" / "train-labels-idx1-ubyte.gz").is_file()
