"""Every documented command runs: each example in `nmt -h` and every subcommand's `-h`, and each
command and Python block in README.md's code blocks (and its copy-paste `.venv/bin/...` spans), is
read from the text itself and executed in a cheap form, in process, in a sandbox folder whose
`runs/NAME` are copies of the saved tiny runs (tests/fixtures/saved_runs).

The cheap forms: `train` gets `--print-config` (every flag parsed, the preset resolved and
validated, nothing trained), and so does `compare --train` (each model's config: what
`train_and_compare` trains, which lessons 12 and 13 run; tests/nmt/test_cli.py checks the two
are the same); `evaluate` and `compare --runs` score 3 sources; `serve` answers one request
through the app it would serve instead of listening; `make TARGET` is `make -n TARGET`, whose `python -m nmt` steps (the
demo's translate and evaluate) then run in their cheap forms; a lesson command must name a lesson
that its test runs with the same flags (tests/chapters run every lesson with `--quick`). Lines
that cannot run here (Docker, a network request, a placeholder path) are listed in SKIPPED with
the reason, and a skip that no longer matches a line fails too."""

import contextlib
import glob
import io
import os
import re
import shlex
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # the real corpus (data, evaluate, compare) and `make -n`

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "saved_runs")
README = os.path.join(ROOT, "README.md")

# Lines of README.md that are not run, each with why (matched on the line's start).
SKIPPED = {
    "export SPA_ENG_PATH=/path/to/spa-eng.zip": "a shell setting with a placeholder path",
    "docker run": "needs Docker and a registry image (the README says it is not run here)",
    "curl": "a request to the TensorFlow Serving container above",
}
NMT_PREFIXES = (["nmt"], [".venv/bin/nmt"], ["python", "-m", "nmt"],
                [".venv/bin/python", "-m", "nmt"], ["python3", "-m", "nmt"])
PYTHONS = ("python", ".venv/bin/python")


# Reading the documents.

def help_texts():
    """{'nmt': text, 'nmt train': text, ...}: the help of `nmt` and of every subcommand."""
    from nmt.cli import build_parser

    parser = build_parser()
    texts = {"nmt": parser.format_help()}
    (commands,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    for name, subparser in commands.choices.items():
        texts[f"nmt {name}"] = subparser.format_help()
    return texts


def help_examples(text):
    """The command lines under each `examples:` heading of a help text (up to a blank line)."""
    lines, examples, inside = text.splitlines(), [], False
    for line in lines:
        if line.strip().lower() in ("examples:", "example:"):
            inside = True
        elif inside and not line.strip():
            inside = False
        elif inside:
            examples.append(line.strip())
    return examples


def readme_blocks(path=README):
    """[(language, text)] of the fenced code blocks of a Markdown file, in order."""
    text = open(path, encoding="utf-8").read()
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)


def shell_lines(block):
    """A shell block's command lines: continuations joined, blanks and comments dropped, `a && b`
    split into its commands."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        command = []
        for word in words + ["&&"]:
            if word == "&&":
                commands.append((line.strip(), command))
                command = []
            else:
                command.append(word)
    return commands


def readme_spans(path=README):
    """The copy-paste commands written inline (`` `.venv/bin/... ARGS` ``), placeholders left out."""
    text = open(path, encoding="utf-8").read()
    spans = re.findall(r"`(\.venv/bin/[^`]+ [^`]+)`", text)
    return [span for span in spans if "[" not in span and "NN_" not in span]


def readme_commands():
    """[(line, words)] of every shell command in README.md: code blocks, then inline spans."""
    commands = []
    for language, block in readme_blocks():
        if language in ("bash", "sh", "shell", ""):
            commands += [(line, words) for line, words in shell_lines(block) if words]
    commands += [(span, shlex.split(span)) for span in readme_spans()]
    return commands


def readme_python_blocks():
    return [block for language, block in readme_blocks() if language == "python"]


# Running them.

def nmt_arguments(words):
    """The arguments after `nmt`, or None when `words` is not an `nmt` command."""
    for prefix in NMT_PREFIXES:
        if words[: len(prefix)] == prefix:
            return words[len(prefix):]
    return None


def _value(arguments, flag):
    return arguments[arguments.index(flag) + 1] if flag in arguments else None


def _with(arguments, flag, value):
    """`arguments` with `flag value` set (replaced if given, else added)."""
    if flag in arguments:
        arguments = list(arguments)
        arguments[arguments.index(flag) + 1] = value
        return arguments
    return [*arguments, flag, value]


def cheap(arguments):
    """The cheap form of `nmt ARGUMENTS` (module docstring)."""
    if "-h" in arguments or "--help" in arguments:
        return arguments
    command = arguments[0]
    if command == "train":
        return arguments if "--print-config" in arguments else [*arguments, "--print-config"]
    if command == "evaluate":
        return _with(arguments, "--limit", "3")
    if command == "compare" and "--train" in arguments:  # as `train`: the configs it trains
        return arguments if "--print-config" in arguments else [*arguments, "--print-config"]
    if command == "compare":
        return _with(arguments, "--limit", "3")
    if command == "serve":
        return _with(arguments, "--port", "0")
    return arguments


def fixture_for(run_name):
    """The saved tiny run that stands in for `runs/RUN_NAME`: the same kind of model."""
    if "gru" in run_name:
        return "gru-word"
    if "rnn" in run_name:
        return "rnn-wordpiece"
    return "transformer-wordpiece"


class Sandbox:
    """A folder to run documented commands from: `runs/NAME` copied from the saved run of that
    kind of model the first time a command reads it, and input files the commands name."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.results = {}  # words -> '' or why it failed: each distinct command runs once

    def prepare(self, arguments):
        for flag in ("--run", "--runs"):
            for index, word in enumerate(arguments):
                if word != flag:
                    continue
                for value in arguments[index + 1:]:
                    if value.startswith("-"):
                        break
                    self.provide_run(value)
        sentences = _value(arguments, "--input")
        if sentences and sentences != "-":
            path = os.path.join(self.folder, sentences)
            if not os.path.exists(path):
                with open(path, "w", encoding="utf-8") as f:
                    f.write("I love AI.\n\nWhere is the station?\n")

    def provide_run(self, value):
        path = os.path.join(self.folder, value)
        if os.path.exists(path) or not value.startswith("runs/"):
            return  # made by an earlier command (an export), or not a run folder
        shutil.copytree(os.path.join(FIXTURES, fixture_for(os.path.basename(value))), path)


@contextlib.contextmanager
def serving_one_request(requests):
    """`uvicorn.Server.run` answers one translation through the app it was given, then returns
    (instead of listening until Ctrl-C), without uvicorn's logging set-up; each answer is appended
    to `requests`."""
    import uvicorn
    from fastapi.testclient import TestClient

    original, original_logging = uvicorn.Server.run, uvicorn.Config.configure_logging

    def run(server, sockets=None):
        client = TestClient(server.config.app)
        info = client.get("/api/info")
        answer = client.post("/api/translate", json={"text": "Where is the station?"})
        requests.append((info.status_code, answer.status_code, answer.json()))

    # uvicorn's logging set-up (logging.config.dictConfig) closes every handler there is, pytest's
    # log capture included, which then fails on the closed file; a real `nmt serve` owns its process.
    uvicorn.Server.run, uvicorn.Config.configure_logging = run, lambda config: None
    try:
        yield
    finally:
        uvicorn.Server.run, uvicorn.Config.configure_logging = original, original_logging


def run_nmt_in_process(arguments, sandbox, monkeypatch):
    """(exit code, stdout, stderr) of `nmt.cli.main(cheap(arguments))` run from the sandbox."""
    from nmt.cli import main

    arguments = cheap(arguments)
    sandbox.prepare(arguments)
    monkeypatch.chdir(sandbox.folder)
    out, err, requests = io.StringIO(), io.StringIO(), []
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            serving_one_request(requests):
        try:
            code = main(arguments)
        except SystemExit as stop:  # -h
            code = stop.code
    if arguments[0] == "serve" and code == 0:
        assert requests and requests[0][:2] == (200, 200), requests
        assert all(run["translation"] is not None for run in requests[0][2]["runs"])
    return code, out.getvalue(), err.getvalue()


def run_make_dry(words):
    """`make -n TARGET...` from the checkout: the target exists and its recipe expands. Returns
    (exit code, the recipe's command lines, stderr)."""
    result = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    lines = result.stdout.replace("\\\n", " ").splitlines()
    return result.returncode, [shlex.split(line) for line in lines if line.strip()], result.stderr


def lesson_tested_with(words):
    """'' if `python chapters/NN_name.py FLAGS` names a lesson that tests/chapters run with those
    flags (run_chapter passes --quick and --out), else what is wrong."""
    script = words[1]
    if words[1] == "-m":  # python -m chapters.NN_name
        script = words[2].replace(".", "/") + ".py"
    name = os.path.splitext(os.path.basename(script))[0]
    if not os.path.isfile(os.path.join(ROOT, script)):
        return f"{script}: no such lesson"
    flags = words[2:] if words[1] != "-m" else words[3:]
    if not set(flags) <= {"--quick"}:
        return f"{script}: flags {flags} are not the ones its test runs (--quick)"
    tests = "".join(open(path, encoding="utf-8").read()
                    for path in glob.glob(os.path.join(ROOT, "tests", "chapters", "test_*.py")))
    if f'"{name}"' not in tests:
        return f"{script}: no test in tests/chapters runs it"
    return ""


def run_documented(line, words, sandbox, monkeypatch):
    """'' if the documented command `words` (from `line`) ran in its cheap form, else why not."""
    arguments = nmt_arguments(words)
    if arguments is not None:
        code, out, err = run_nmt_in_process(arguments, sandbox, monkeypatch)
        return "" if code == 0 else f"exit {code}: {err.strip()[-500:] or out.strip()[-500:]}"
    if words[0] == "make":
        code, recipe, err = run_make_dry(words)
        if code != 0:
            return f"make -n: exit {code}: {err.strip()[-500:]}"
        for step in recipe:  # the recipe's own `python -m nmt ...` steps run too (make demo's)
            arguments = nmt_arguments(step)
            if arguments is not None:
                code, out, err = run_nmt_in_process(arguments, sandbox, monkeypatch)
                if code != 0:
                    return (f"{' '.join(step)} (from make {' '.join(words[1:])}): exit {code}: "
                            f"{err.strip()[-500:] or out.strip()[-500:]}")
        return ""
    if words[0] in PYTHONS and len(words) > 1 and "chapters" in words[1] + "".join(words[2:3]):
        return lesson_tested_with(words)
    return "not a kind of command this test knows how to run: add it to run_documented"


def skipped(line):
    return next((why for start, why in SKIPPED.items() if line.startswith(start)), None)


def command_key(words):
    """What makes two documented commands the same run: `nmt` however it is started, and for
    `nmt compare` (which nothing later reads) any --out folder."""
    arguments = nmt_arguments(words)
    if arguments is None:
        return tuple(words)
    if arguments[:1] == ["compare"] and "--out" in arguments:
        at = arguments.index("--out")
        arguments = arguments[:at] + arguments[at + 2:]
    return ("nmt", *arguments)


def run_all(commands, sandbox, monkeypatch):
    """The commands that failed, as 'COMMAND\n    why' (a command run before in this sandbox,
    by command_key, is not run again)."""
    failures = []
    for line, words in commands:
        if skipped(line):
            continue
        key = command_key(words)
        if key not in sandbox.results:
            sandbox.results[key] = run_documented(line, words, sandbox, monkeypatch)
        if sandbox.results[key]:
            failures.append(f"{' '.join(words)}\n    {sandbox.results[key]}")
    return failures


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, corpus_path):
    os.environ.setdefault("SPA_ENG_PATH", corpus_path)
    return Sandbox(tmp_path_factory.mktemp("documented"))


# The reading is checked on its own, so that a parser that finds nothing cannot pass.

def test_the_help_examples_and_readme_commands_are_found():
    examples = [line for text in help_texts().values() for line in help_examples(text)]
    assert len(examples) >= 9
    assert "nmt train --preset cpu-best --print-config" in " ".join(
        " ".join(shlex.split(e, comments=True)) for e in examples)
    commands = [" ".join(words) for _, words in readme_commands()]
    for expected in ("make demo", "make test", "nmt data", "nmt export --run runs/small --out "
                     "exported/small", ".venv/bin/nmt train --preset cpu-best --out runs/cpu-best"):
        assert expected in commands, expected
    assert len(readme_python_blocks()) >= 3


def test_the_same_run_started_another_way_or_into_another_report_folder_runs_once():
    same = [".venv/bin/nmt", "compare", "--runs", "runs/a", "--out", "reports/x"]
    assert command_key(same) == command_key(["nmt", "compare", "--runs", "runs/a", "--out", "r"])
    export = ["nmt", "export", "--run", "runs/a", "--out"]
    assert command_key([*export, "exported/a"]) != command_key([*export, "exported/b"])


def test_shell_lines_join_continuations_and_split_and_and():
    block = ("# a comment\nmake setup && .venv/bin/python chapters/07_encoder_block.py --quick\n"
             "nmt translate --run runs/small \\\n  \"I love AI.\"   # why\n")
    assert [words for _, words in shell_lines(block)] == [
        ["make", "setup"], [".venv/bin/python", "chapters/07_encoder_block.py", "--quick"],
        ["nmt", "translate", "--run", "runs/small", "I love AI."]]


def test_every_skipped_readme_line_is_still_in_the_readme():
    lines = [line for line, _ in readme_commands()]
    for start in SKIPPED:
        assert any(line.startswith(start) for line in lines), f"stale skip: {start}"


def test_a_broken_example_is_reported(sandbox, monkeypatch):
    failures = run_all([("nmt translate --run runs/small --num-beams 0 Go.",
                         ["nmt", "translate", "--run", "runs/small", "--num-beams", "0", "Go."]),
                        ("python chapters/99_none.py", ["python", "chapters/99_none.py"])],
                       sandbox, monkeypatch)
    assert len(failures) == 2 and "exit 2" in failures[0] and "no such lesson" in failures[1]


# The documents.

def test_every_example_in_the_help_of_nmt_and_its_subcommands_runs(sandbox, monkeypatch):
    commands = [(line, shlex.split(line, comments=True))
                for text in help_texts().values() for line in help_examples(text)]
    failures = run_all(commands, sandbox, monkeypatch)
    assert not failures, "help examples that fail:\n" + "\n".join(failures)


def test_every_command_in_the_readme_runs(sandbox, monkeypatch):
    failures = run_all(readme_commands(), sandbox, monkeypatch)
    assert not failures, "README commands that fail:\n" + "\n".join(failures)


def test_every_python_block_in_the_readme_runs(sandbox, monkeypatch):
    """After the README's commands (its evaluate wrote runs/small/eval_test.*, its export wrote
    exported/small/1), each Python block runs as written, from the sandbox."""
    run_all(readme_commands(), sandbox, monkeypatch)  # what the blocks read (run once per sandbox)
    monkeypatch.chdir(sandbox.folder)
    for block in readme_python_blocks():
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, "README.md python block", "exec"), {})
