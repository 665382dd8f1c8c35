"""``python -m neurosim.benchmarking``: the same as ``neurosim bench``."""

import sys

from . import main

sys.exit(main())
