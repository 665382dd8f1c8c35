"""``python -m benchmarks``: run the engine benchmarks (the same as ``neurosim bench``)."""

import sys

from neurosim.benchmarking import main

sys.exit(main())
