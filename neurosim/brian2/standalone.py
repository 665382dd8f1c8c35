"""Compile a network once with Brian2's C++ standalone device and run the binary many times.

A build is keyed by a hash of its :class:`~neurosim.brian2.spec.NetworkSpec`, of the
engine's Brian2 source code, of the Brian2 version, the compiler settings and the host,
and lives in the user cache (``$XDG_CACHE_HOME/neurosim/brian2``, by default
``~/.cache/neurosim/brian2``; ``NEUROSIM_BRIAN2_CACHE`` overrides it). A file lock per key
lets one process compile while others wait; the project is compiled in a folder of its
own and renamed into place only once complete, so no process ever sees a partial build.

Each run writes its inputs (TimedArray values, weights, biases) as raw binary files into a
private work folder, passes them on the binary's command line, and reads the results the
binary writes there. Learning rates and lambda go on the command line as numbers.
"""

import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from .compile import MANIFEST
from .layout import from_synapses, parameter_order, parameter_shape, to_synapses
from .results import RunOutputs

__all__ = ["StandaloneSimulator", "StandaloneBuildError", "cache_root", "build_key"]

logger = logging.getLogger(__name__)

#: Source files whose content changes the generated code.
_SOURCES = ("builder.py", "equations.py", "spec.py", "compile.py", "layout.py")


class StandaloneBuildError(RuntimeError):
    """The C++ standalone project could not be generated, compiled or run."""


def cache_root():
    """Return the folder that contains compiled builds."""
    override = os.environ.get("NEUROSIM_BRIAN2_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neurosim" / "brian2"


def build_key(spec):
    """Return the cache key of ``spec``'s build on this host."""
    import brian2

    digest = hashlib.sha256()
    digest.update(json.dumps(spec.to_dict(), sort_keys=True).encode())
    here = Path(__file__).parent
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    flags = brian2.prefs.codegen.cpp.extra_compile_args_gcc
    context = [brian2.__version__, sys.version, platform.node(), platform.machine(),
               os.environ.get("CXX", ""), " ".join(flags)]
    digest.update("\n".join(context).encode())
    return f"{spec.mode}-{'-'.join(map(str, spec.layers))}-{digest.hexdigest()[:16]}"


def _compile(spec, key, timeout):
    """Compile ``spec`` into the cache unless a build of ``key`` exists.

    Returns the build folder and the seconds spent compiling (0 for a cached build).
    """
    from brian2.utils.filelock import FileLock

    root = cache_root()
    final = root / key
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(root / f"{key}.lock"))
        lock.acquire()
    except OSError as exc:
        raise StandaloneBuildError(f"the build cache {root} is not writable ({exc}); set "
                                   "NEUROSIM_BRIAN2_CACHE to a writable folder") from None
    try:
        if (final / MANIFEST).is_file():
            return final, 0.0
        return final, _compile_into(spec, final, timeout)
    finally:
        lock.release()


def _compile_into(spec, final, timeout):
    """Compile ``spec`` in a staging folder and rename it to ``final``; return the seconds."""
    staging = Path(tempfile.mkdtemp(prefix=f"{final.name}.build-", dir=final.parent))
    spec_file = staging / "spec.json"
    spec_file.write_text(json.dumps(spec.to_dict()), encoding="utf-8")
    # Brian2 reads this file from the working folder: no debug log and script copies
    # left in the temporary folder when the compilation fails (its output is reported).
    (staging / "brian_preferences").write_text("logging.file_log = False\n"
                                               "logging.std_redirection = False\n")
    project = staging / "project"
    began = time.perf_counter()
    try:
        completed = subprocess.run(compile_command(spec_file, project), capture_output=True,
                                   text=True, timeout=timeout, env=_child_env(), cwd=staging)
        if completed.returncode != 0 or not (project / MANIFEST).is_file():
            raise StandaloneBuildError(_last_error(completed.stdout + completed.stderr))
        os.rename(project, final)
    except subprocess.TimeoutExpired:
        raise StandaloneBuildError(f"compilation took more than {timeout} s") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return time.perf_counter() - began


def compile_command(spec_file, project):
    """Return the command that compiles the spec in ``spec_file`` into ``project``."""
    return [sys.executable, "-m", "neurosim.brian2.compile", str(spec_file), str(project)]


def _child_env():
    """Return the environment of the compile process, with neurosim importable."""
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    return env


def _last_error(output):
    """Return the most telling lines of a failed compile process's output."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    for marker in ("not found", "No such file", "error:", "Error"):
        hits = [line for line in lines if marker in line]
        if hits:
            return hits[-1].strip()[:300]
    return lines[-1].strip()[:300] if lines else "no output"


class StandaloneSimulator:
    """A compiled C++ standalone network, run once per call of :meth:`run`.

    Parameters
    ----------
    spec : NetworkSpec
    timeout : float
        Seconds allowed for compiling.

    Raises
    ------
    StandaloneBuildError
        When the project cannot be generated, compiled or run (no compiler, a failing
        compiler, an unexpected synapse order).
    """

    device_name = "cpp_standalone"

    def __init__(self, spec, timeout=1800):
        self.spec = spec
        key = build_key(spec)
        self.project, self.compile_seconds = _compile(spec, key, timeout)
        self.manifest = json.loads((self.project / MANIFEST).read_text(encoding="utf-8"))
        if self.compile_seconds:
            logger.info("compiled the Brian2 C++ standalone %s network in %.1f s (cache %s)",
                        spec.mode, self.compile_seconds, self.project)
        else:
            logger.info("using the compiled Brian2 C++ standalone %s network in %s", spec.mode,
                        self.project)
        self._work = Path(tempfile.mkdtemp(prefix="neurosim-brian2-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._work, ignore_errors=True)
        self._checked_order = False

    def close(self):
        """Delete the work folder of this process."""
        self._cleanup()

    def run(self, inputs):
        """Run the binary on ``inputs`` (:class:`RunInputs`) and return :class:`RunOutputs`."""
        manifest = self.manifest
        arguments = []
        files = dict(manifest["timed_arrays"])
        files.update(manifest["parameters"])
        values = dict(inputs.timed)
        layers = self.spec.layers
        values.update({name: to_synapses(layers, name, array)
                       for name, array in inputs.parameters.items()})
        dtype = np.dtype(self.spec.dtype)
        for name, target in files.items():
            path = self._work / f"{name}.bin"
            np.ascontiguousarray(values[name], dtype=dtype).tofile(path)
            arguments.append(f"{target}={path}")
        for name, target in manifest["rates"].items():
            arguments.append(f"{target}={float(inputs.rates[name])!r}")

        results = self._work / "results"
        results.mkdir(exist_ok=True)
        (results / "last_run_info.txt").unlink(missing_ok=True)
        command = [str(self.project / "main"), "--results_dir", f"{results}{os.sep}"] + arguments
        # A session of its own keeps Ctrl-C in the terminal from stopping the binary
        # mid-run: the training loop stops at the end of the chunk instead.
        completed = subprocess.run(command, cwd=self.project, capture_output=True, text=True,
                                   start_new_session=True)
        output = completed.stdout + completed.stderr
        # The binary reports unreadable inputs and unwritable results but carries on.
        if completed.returncode != 0 or "Error" in output or "Cannot set" in output:
            raise StandaloneBuildError(f"the compiled network {self.project} failed "
                                       f"(exit status {completed.returncode}): "
                                       f"{_last_error(output)}")
        self._check_completed(results)
        if not self._checked_order:
            self._check_synapse_order(results)
            self._checked_order = True
        return self._outputs(results)

    def _check_completed(self, results):
        """Raise RuntimeError if the binary stopped before the end of its run."""
        info = (results / "last_run_info.txt").read_text().split()
        if len(info) != 2 or float(info[1]) < 1.0:
            raise RuntimeError(f"the compiled network {self.project} stopped before the end of "
                               f"its run (completed fraction {info[1:] or 'unknown'}); it was "
                               "probably interrupted by a signal")

    def _read(self, results, entry):
        return np.fromfile(results / entry["file"], dtype=np.dtype(entry["dtype"]))

    def _check_synapse_order(self, results):
        for name, entry in self.manifest["synapse_indices"].items():
            pre, post = self._read(results, entry["pre"]), self._read(results, entry["post"])
            expected = parameter_order(self.spec.layers, name)
            if not (np.array_equal(pre, expected[0]) and np.array_equal(post, expected[1])):
                raise StandaloneBuildError(f"the synapses of {name} were created in an "
                                           "unexpected order")

    def _outputs(self, results):
        manifest = self.manifest
        parameters = {}
        for name, entry in manifest["parameter_results"].items():
            parameters[name] = from_synapses(self.spec.layers, name, self._read(results, entry),
                                             parameter_shape(self.spec, name))
        monitors = {}
        for key, entry in manifest["monitor_results"].items():
            columns = [self._read(results, column).reshape(-1, entry["width"])
                       for column in entry["columns"]]
            monitors[key] = np.concatenate(columns, axis=1)
        return RunOutputs(parameters=parameters, monitors=monitors)
