"""The base class of every error that is the user's to fix, not a bug.

The command line prints an `NmtError` as one line (exit code 2); any other exception is a bug
(a one-line "internal error", exit code 1, or the traceback with `NMT_DEBUG=1`). It lives at the
lowest level of the code (`data/`) so that every level can raise its own subclass:
`data.corpus.CorpusError`, `nmt.config.ConfigError`, `nmt.runs.RunError`.

Example:
>>> class ExampleError(NmtError):
...     pass
>>> isinstance(ExampleError("corpus.txt:3: no tab"), NmtError)
True
"""


class NmtError(Exception):
    """A problem with the user's input, files or settings; the message says what to do."""
