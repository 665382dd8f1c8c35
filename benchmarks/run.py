"""Run the engine benchmarks: ``python benchmarks/run.py [options]`` from the clone's root."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neurosim.benchmarking import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
