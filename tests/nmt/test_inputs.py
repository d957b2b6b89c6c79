"""nmt/inputs.py: one reader, one rule for every way text comes in."""

import subprocess
import sys

import pytest

from nmt.inputs import InputError, decode_lines, read_lines


@pytest.mark.parametrize("data, lines", [
    (b"\xef\xbb\xbfI love AI.\n", ["I love AI."]),  # the byte-order mark is dropped
    (b"a\r\nb\rc\n", ["a", "b", "c"]),  # CRLF, lone CR and LF all end a line
    (b"a\n\nb", ["a", "", "b"]),  # blank lines stay; a last line without an ending counts
    ("a\u2028b\n".encode(), ["a\u2028b"]),  # other separators stay inside the line
    (b"", []),
])
def test_one_rule_splits_lines(data, lines):
    assert decode_lines(data, "x") == lines


def test_non_utf8_input_names_the_file_and_line(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"fine\nstill fine\n\xe9t\xe9\n")
    with pytest.raises(InputError, match=rf"{path}:3: not UTF-8 text \(byte 0xe9\)"):
        read_lines(str(path))


def test_a_folder_or_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        read_lines(str(tmp_path))
    with pytest.raises(InputError, match="input file not found"):
        read_lines(str(tmp_path / "missing.txt"))


def test_stdin_a_file_and_dev_stdin_read_the_same(tmp_path):
    data = b"\xef\xbb\xbfI love AI.\rGo.\r\n"
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    code = "import sys; from nmt.inputs import read_lines; print(read_lines(sys.argv[1]))"
    results = [subprocess.run([sys.executable, "-c", code, source], input=data,
                              capture_output=True, check=True).stdout
               for source in ("-", "/dev/stdin", str(path))]
    assert results[0] == results[1] == results[2] == b"['I love AI.', 'Go.']\n"


def test_typed_lines_come_one_at_a_time_after_a_prompt_on_stderr(monkeypatch, capsys):
    import io

    from nmt.inputs import typed_lines

    typed = io.TextIOWrapper(io.BytesIO(b"Go.\r\n\n\xe9\nI love AI."))
    monkeypatch.setattr(sys, "stdin", typed)
    assert list(typed_lines("en> ")) == ["Go.", "", "I love AI."]  # the last: Ctrl-D mid-line
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("en> ") == 5  # one per line read, and one for the end of input
    assert "warning: typed line 3 is not UTF-8 text (byte 0xe9); skipped\n" in captured.err
