"""One reader for the text users give: `--input FILE`, `--input -`, stdin, pipes, /dev/stdin,
lines typed at a terminal (`typed_lines`).

Every path goes through `decode_lines`, with one rule: the bytes are UTF-8 (a byte-order mark at
the start is dropped), and a line ends at "\\n", "\\r\\n" or a lone "\\r" (as Python's universal
newlines); other separators (U+2028, form feeds) stay inside the line. A last line without an
ending counts; an empty file has no lines.

Example:
>>> decode_lines("\\ufeffI love AI.\\r\\nGo.\\rHi\\n".encode(), "input.txt")
['I love AI.', 'Go.', 'Hi']
>>> decode_lines(b"ok\\n\\xff\\n", "input.txt")
Traceback (most recent call last):
...
nmt.inputs.InputError: input.txt:2: not UTF-8 text (byte 0xff); save the file as UTF-8
"""

import os
import re
import sys

from data.errors import NmtError

_LINE_END = re.compile(r"\r\n|\r|\n")


class InputError(NmtError):
    """Input text that cannot be read (the message names the file or stream and the line)."""


def decode_lines(data, name):
    """UTF-8 bytes -> lines (see the module docstring for the rule); `name` is for errors."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(f"{name}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}); "
                         "save the file as UTF-8") from None
    text = text.removeprefix("\ufeff")
    lines = _LINE_END.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def read_lines(path=None):
    """The lines of file `path`, or of standard input when `path` is None or "-"."""
    if path in (None, "-"):
        if sys.stdin is None:
            raise InputError("standard input is closed; give sentences or --input FILE")
        return decode_lines(sys.stdin.buffer.read(), "standard input")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder; give --input a text file")
    if not os.path.exists(path):
        raise InputError(f"{path}: input file not found")
    with open(path, "rb") as f:  # also /dev/stdin, named pipes, process substitution
        return decode_lines(f.read(), path)


def typed_lines(prompt):
    """The lines typed at a terminal, each read after `prompt` (on standard error, so standard
    output carries only results), by the same rule; it ends at Ctrl-D (end of input). A line
    that is not UTF-8 gets a warning and is skipped (the session goes on)."""
    number = 0
    while True:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        data = sys.stdin.buffer.readline()
        if not data:
            sys.stderr.write("\n")
            return
        number += 1
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            print(f"warning: typed line {number} is not UTF-8 text (byte "
                  f"0x{data[error.start]:02x}); skipped", file=sys.stderr)
            continue
        yield _LINE_END.split(text.removeprefix("\ufeff"))[0]
