"""Checkpoints: the network's parameters and the training state in one atomically written file.

A checkpoint is an ``.npz`` archive with the parameters (see
:meth:`neurosim.network.Network.to_arrays`) and a JSON document under the key ``state``
(epoch, next minibatch, random generator state, metrics so far). It is written to a
temporary file in the same folder, flushed to disk and renamed over the old one, so a crash
leaves either the old or the new checkpoint, never a partial one.
"""

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import CheckpointError
from .network import Network

__all__ = ["save_checkpoint", "load_checkpoint", "CHECKPOINT_VERSION"]

#: Format version written into every checkpoint; loading rejects other versions.
CHECKPOINT_VERSION = 1

#: Keys of the training state that every checkpoint carries.
REQUIRED_STATE_KEYS = ("epoch", "next_batch", "rng_state", "stats", "epoch_seconds", "metrics",
                       "config", "engine", "max_samples")


def save_checkpoint(path, network, state):
    """Write ``network`` and the JSON-serializable ``state`` to ``path`` atomically."""
    path = Path(path)
    document = dict(state, format_version=CHECKPOINT_VERSION)
    arrays = network.to_arrays()
    arrays["state"] = np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name + ".", suffix=".tmp",
                                         delete=False)
    try:
        with handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    (Network, dict)
        The parameters and the training state.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, corrupt or of another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found: train first, or pass the run "
                              "directory of a run that finished at least one epoch.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({exc}). Restore it "
                              "from a backup, or start over with --force.") from None
    if "state" not in arrays:
        raise CheckpointError(f"checkpoint {path} has no training state: it was not written "
                              "by neurosim. Start over with --force.")
    try:
        state = json.loads(arrays.pop("state").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path} has an unreadable state ({exc}). Start over "
                              "with --force.") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} has an unreadable state (a JSON "
                              f"{type(state).__name__}, not an object). Start over with --force.")
    version = state.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version}, but this neurosim "
                              f"reads version {CHECKPOINT_VERSION}.")
    missing = [key for key in REQUIRED_STATE_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks the training state {', '.join(missing)}: "
                              "it is incomplete. Start over with --force.")
    try:
        network = Network.from_arrays(arrays, source=f"checkpoint {path}")
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} contains inconsistent parameters ({exc}). Start "
                              "over with --force.") from None
    bad = network.first_non_finite()
    if bad is not None:
        raise CheckpointError(f"checkpoint {path} contains NaN or infinity in {bad}: it cannot be "
                              "resumed. Start over with --force and lower learning rates.")
    return network, state
