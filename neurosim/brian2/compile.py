"""Generate and compile the C++ standalone project of a network spec.

Run as ``python -m neurosim.brian2.compile SPEC_JSON PROJECT_DIR``, in a process of its
own, because Brian2's standalone device is global to a process. It writes the project,
compiles it without running it, and writes ``manifest.json``: the command-line names of
every input and the result file of every output, so that :mod:`neurosim.brian2.standalone`
can run the binary again and again with new data and parameters.

Brian2's makefile compiles each of the network's code objects (60 to 100) as a file of
its own, and parsing the shared headers dominates, so on two cores that takes minutes.
This module compiles them instead as a few large translation units (``unity_<k>.cpp``, one
per two CPU cores): each code object goes into a namespace of its own, and global wrappers
forward the functions that ``main.cpp`` calls. If that fails, it falls back to Brian2's
makefile.
"""

import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["compile_project", "MANIFEST"]

#: Name of the file that describes a compiled project.
MANIFEST = "manifest.json"


def compile_project(spec, directory):
    """Build ``spec`` with Brian2's C++ standalone device into ``directory``.

    Returns
    -------
    dict
        The manifest, also written to ``directory / MANIFEST``.
    """
    import brian2 as b2
    import numpy as np

    from .builder import build_network

    began = time.perf_counter()
    b2.set_device("cpp_standalone", build_on_run=False)
    b2.prefs.core.default_float_dtype = np.dtype(spec.dtype).type
    built = build_network(spec)
    # Command-line values are applied here: after the synapses exist (so that their
    # weights can be set) and before the run.
    b2.get_device().apply_run_args()
    built.net.run(built.duration)
    device = b2.get_device()
    device.build(directory=str(directory), compile=False, run=False, with_output=False)
    compile_sources(Path(directory))

    def argument(owner, variable):
        return f"{owner.name}.{variable}"

    def result(owner, variable):
        var = owner.variables[variable]
        return {"file": device.get_array_filename(var), "dtype": np.dtype(var.dtype).str}

    manifest = {
        "spec": spec.to_dict(),
        "timed_arrays": {name: f"{name}.values" for name in built.timed_array_names()},
        "parameters": {name: argument(owner, variable)
                       for name, (owner, variable) in built.parameters.items()},
        "rates": {name: argument(owner, variable)
                  for name, (owner, variable) in built.rates.items()},
        "parameter_results": {name: result(owner, variable)
                              for name, (owner, variable) in built.parameters.items()},
        "monitor_results": {},
        "synapse_indices": {},
        "compile_seconds": time.perf_counter() - began,
        "brian2_version": b2.__version__,
    }
    for key, monitor in built.monitors.items():
        variables = sorted(monitor.record_variables,
                           key=lambda v: int(v.rsplit("_", 1)[1]) if key == "residual" else 0)
        manifest["monitor_results"][key] = {
            "columns": [result(monitor, v) for v in variables],
            "width": int(len(monitor.record) if key != "residual" else 1),
        }
    for name, (owner, _) in built.parameters.items():
        if hasattr(owner, "N_post"):
            manifest["synapse_indices"][name] = {
                "pre": result(owner, "_synaptic_pre"), "post": result(owner, "_synaptic_post")}
    (Path(directory) / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def write_unity_sources(directory, parts):
    """Write ``unity_<k>.cpp`` files that include the code objects, each in a namespace.

    Returns the names of the files written; ``parts`` of them, so that they compile in
    parallel.
    """
    sources = sorted((directory / "code_objects").glob("*.cpp"))
    includes = set()
    for source in sources:
        includes.update(re.findall(r'^\s*#include\s*([<"][^>"]+[>"])', source.read_text(),
                                   re.MULTILINE))
    # Every header is included once, at global scope, first; their include guards then
    # make the includes inside the namespaces empty.
    header = [f"#include {name}" for name in sorted(includes)]
    header += [f'#include "code_objects/{path.name}"'
               for path in sorted((directory / "code_objects").glob("*.h"))]
    # Largest sources first, each to the part with the least code so far.
    by_size = sorted(enumerate(sources), key=lambda item: -item[1].stat().st_size)
    parts = max(1, min(parts, len(sources)))
    bodies, wrappers, sizes = [[] for _ in range(parts)], [[] for _ in range(parts)], [0] * parts
    for index, source in by_size:
        part = sizes.index(min(sizes))
        sizes[part] += source.stat().st_size
        include = f'#include "code_objects/{source.name}"'
        bodies[part].append(f"namespace unity_{index} {{\n{include}\n}}")
        declarations = source.with_suffix(".h").read_text()
        for function in re.findall(r"^void (\w+)\(\);", declarations, re.MULTILINE):
            wrappers[part].append(f"void {function}() {{ unity_{index}::{function}(); }}")
    names = []
    for part in range(parts):
        name = f"unity_{part}.cpp"
        (directory / name).write_text("\n".join(header + bodies[part] + wrappers[part]) + "\n")
        names.append(name)
    return names


def remove_step_timer(directory):
    """Stop Brian2's network loop from reading the CPU clock after every time step.

    ``std::clock()`` is a system call on Linux, and the generated loop calls it once per
    step only to report the run's duration; with a few thousand steps per second of
    simulation that costs about a tenth of the run. The call moves after the loop, so
    the reported duration stays right. A loop that does not look as expected is left as
    it is.
    """
    path = directory / "network.cpp"
    source = path.read_text()
    pattern = re.compile(r"\n(\s*)current = std::clock\(\);\n\s*(elapsed_realtime = [^\n]*;)\n"
                         r"(\s*\n)*(\s*)\}\n(\s*)Network::_globally_running = false;")
    match = pattern.search(source)
    if match is None:
        logger.debug("network.cpp has an unexpected loop; the step timer stays")
        return
    indent = match.group(5)
    replacement = (f"\n{match.group(4)}}}\n{indent}current = std::clock();\n{indent}"
                   f"{match.group(2)}\n{indent}Network::_globally_running = false;")
    path.write_text(source[:match.start()] + replacement + source[match.end():])


def _makefile_value(text, name):
    match = re.search(rf"^{name}\s*=(.*)$", text, re.MULTILINE)
    return shlex.split(match.group(1)) if match else []


def compile_sources(directory):
    """Compile the project in ``directory`` into its binary ``main``.

    Raises
    ------
    RuntimeError
        When neither the single translation unit nor Brian2's makefile compiles.
    """
    makefile = (directory / "makefile").read_text()
    flags = _makefile_value(makefile, "OPTIMISATIONS")
    link_flags = _makefile_value(makefile, "LFLAGS")
    compiler = shlex.split(os.environ.get("CXX", "g++"))
    remove_step_timer(directory)
    try:
        # Each part parses the headers again (a few seconds), so split only across cores
        # that the other files do not already keep busy.
        unity = write_unity_sources(directory, parts=max(1, (os.cpu_count() or 1) // 2))
        # Only the code objects hold loops that run every step; the rest is set-up and
        # file input/output, compiled with little optimisation to save time.
        light = [flag if not flag.startswith("-O") else "-O1" for flag in flags]
        units = [(name, flags) for name in unity] + [(name, light) for name in
                                          ("objects.cpp", "main.cpp", "network.cpp", "run.cpp",
                                           "synapses_classes.cpp")]
        jobs = [subprocess.Popen(compiler + ["-c", "-Wno-write-strings", *options, "-I.",
                                             name, "-o", name[:-4] + ".o"],
                                 cwd=directory, stderr=subprocess.PIPE, text=True)
                for name, options in units]
        errors = [job.communicate()[1] for job in jobs]
        if any(job.returncode for job in jobs):
            raise RuntimeError(next(e for e, j in zip(errors, jobs) if j.returncode).strip())
        objects = [name[:-4] + ".o" for name, _ in units]
        subprocess.run(compiler + objects + ["-o", "main"] + link_flags, cwd=directory,
                       check=True, capture_output=True, text=True)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        logger.warning("compiling the project as one unit failed (%s); using Brian2's "
                       "makefile", str(exc).splitlines()[-1] if str(exc) else exc)
        jobs = max(1, os.cpu_count() or 1)
        completed = subprocess.run(["make", f"-j{jobs}"], cwd=directory, capture_output=True,
                                   text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"compilation failed: {completed.stderr.strip()[-500:]}") from None


def main(argv=None):
    """Entry point of the compile process: ``SPEC_JSON PROJECT_DIR``."""
    from .spec import NetworkSpec

    argv = sys.argv[1:] if argv is None else argv
    spec = NetworkSpec.from_dict(json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    compile_project(spec, Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
