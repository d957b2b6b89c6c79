"""The `nmt` command line: a thin layer over `models/` and `data/` (see `nmt/cli.py`)."""
