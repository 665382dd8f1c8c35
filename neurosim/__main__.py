"""Allow ``python -m neurosim``."""

import sys

from .cli import main

sys.exit(main())
