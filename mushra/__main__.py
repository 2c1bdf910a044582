"""``python -m mushra build|serve|analyze ...`` (the same as ``bench mushra ...``)."""

import sys

from mushra.cli import main

sys.exit(main())
