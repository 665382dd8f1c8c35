"""Command-line plumbing shared by the experiment scripts (not part of the library)."""

import argparse
import json
import logging
import sys
from pathlib import Path

# The scripts run from a clone: make the package next to this folder importable.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONFIGS = ROOT / "experiments" / "configs"


def parser(description, experiment, config):
    """Return an argument parser with the options every experiment script accepts."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", default=str(CONFIGS / config),
                   help=f"experiment settings (default: experiments/configs/{config})")
    p.add_argument("--out", default=str(Path("results") / experiment),
                   help=f"results folder (default: results/{experiment})")
    p.add_argument("--engine", choices=("dense", "brian2"), default="dense",
                   help="simulation engine passed to the training loop (default: dense)")
    p.add_argument("--smoke", action="store_true",
                   help="a tiny version that runs in seconds, to check that the script works")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return p


def setup(args):
    """Configure logging and create the results folder; return it as a Path."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_json(path, data):
    """Write ``data`` as indented JSON (NaN written as null) and return the path."""
    path = Path(path)
    path.write_text(json.dumps(_clean(data), indent=2) + "\n", encoding="utf-8")
    return path


def _clean(value):
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def run_main(main):
    """Call ``main()`` and turn a NeurosimError into a one-line message and exit status."""
    from neurosim.errors import NeurosimError

    try:
        sys.exit(main())
    except NeurosimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
