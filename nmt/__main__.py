"""`python -m nmt ...`: the same command as the installed `nmt` console script."""

import sys

from nmt.cli import main

sys.exit(main())
