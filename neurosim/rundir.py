"""A run directory: resolved configuration, versions, metrics, checkpoint, log and lock.

Layout::

    RUN_DIR/config.toml      resolved configuration (reloadable with --resume)
    RUN_DIR/run.json         engine, seed, command and software versions of every session
    RUN_DIR/metrics.csv      one row per epoch
    RUN_DIR/metrics.json     the same rows as a JSON list
    RUN_DIR/checkpoint.npz   parameters and training state after the last epoch
    RUN_DIR/train.log        the log of every session of the run
"""

import csv
import fcntl
import json
import os
import platform
import tempfile
from pathlib import Path

from .errors import RunDirectoryError

__all__ = ["RunDirectory", "software_versions", "METRIC_COLUMNS"]

#: Columns of metrics.csv, in order. Errors are fractions in [0, 1]. The seconds leave out
#: time spent compiling (the first epoch of a Brian2 standalone run).
METRIC_COLUMNS = (
    "epoch",
    "train_error_sf",
    "train_error_minus",
    "test_error_sf",
    "test_error_minus",
    "residual_mean",
    "residual_max",
    "train_seconds",
    "eval_seconds",
    "samples_per_second",
)


def software_versions():
    """Return the versions of neurosim, Python, NumPy, SciPy and Brian2 (None if absent).

    Versions come from the installed package metadata, so Brian2 is not imported.
    """
    from importlib import metadata

    from . import __version__

    versions = {"neurosim": __version__, "python": platform.python_version(),
                "platform": platform.platform()}
    for package in ("numpy", "scipy", "brian2"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _write_atomic(path, text):
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name + ".", suffix=".tmp",
                                     delete=False, encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


class RunDirectory:
    """Files of one training run, guarded by an exclusive lock while a process uses them."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock_handle = None

    config_path = property(lambda self: self.path / "config.toml")
    checkpoint_path = property(lambda self: self.path / "checkpoint.npz")
    metrics_csv = property(lambda self: self.path / "metrics.csv")
    metrics_json = property(lambda self: self.path / "metrics.json")
    info_path = property(lambda self: self.path / "run.json")
    log_path = property(lambda self: self.path / "train.log")

    def holds_run(self):
        """True if the folder already contains a configuration or checkpoint."""
        return self.config_path.exists() or self.checkpoint_path.exists()

    def acquire(self):
        """Create the folder and take its lock; raise if another process holds it.

        The lock is an advisory ``flock`` on ``RUN_DIR/.lock``; the kernel releases it when
        the holder exits, even on SIGKILL. Temporary files that an interrupted atomic
        write left behind are deleted once the lock is held.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise RunDirectoryError(f"run directory {self.path} is a file: choose another "
                                    "--out.") from None
        handle = open(self.path / ".lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunDirectoryError(f"run directory {self.path} is in use by another neurosim "
                                    f"process (pid {holder}): wait for it to finish or choose "
                                    "another --out.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle
        for stale in self.path.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        return self

    def release(self):
        """Release the lock."""
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def write_config(self, text):
        """Write the resolved configuration."""
        _write_atomic(self.config_path, text)

    def write_info(self, info):
        """Write run.json."""
        _write_atomic(self.info_path, json.dumps(info, indent=2) + "\n")

    def read_info(self):
        """Return the content of run.json, or an empty dict if it is absent or unreadable."""
        try:
            info = json.loads(self.info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def write_metrics(self, rows):
        """Rewrite metrics.csv and metrics.json with all ``rows`` (dicts keyed by column)."""
        _write_atomic(self.metrics_json, json.dumps(rows, indent=2) + "\n")
        lines = [",".join(METRIC_COLUMNS)]
        for row in rows:
            lines.append(",".join(_format(row.get(column)) for column in METRIC_COLUMNS))
        _write_atomic(self.metrics_csv, "\n".join(lines) + "\n")

    def read_metrics(self):
        """Return the rows of metrics.json (an empty list if there is none yet)."""
        if not self.metrics_json.exists():
            return []
        return json.loads(self.metrics_json.read_text(encoding="utf-8"))


def _format(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_metrics_csv(path):
    """Read a metrics.csv file into a list of dicts of floats."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [{key: (float(value) if value not in ("", "nan") else float("nan"))
                 for key, value in row.items()} for row in csv.DictReader(handle)]


