"""The lessons as notebooks: chapters/common.py's arguments under a Jupyter kernel, the notebook
builder (chapters/notebooks.py) on every lesson, and two lessons executed end to end as
notebooks by a real kernel (nbclient), as Jupyter or Colab would run them."""

import os
import re
import shlex
import sys
import time

import jupytext
import nbformat
import pytest

from chapters import common
from chapters.notebooks import build_notebook, lesson_paths, main, write_notebook
from tests.conftest import ROOT

# How Jupyter starts a kernel: the launcher and its connection file, nothing for the lesson.
KERNEL_ARGV = ["ipykernel_launcher.py", "-f", "x.json"]


@pytest.fixture
def kernel_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", list(KERNEL_ARGV))
    monkeypatch.delenv(common.LESSON_ARGS, raising=False)


# parse_args: the command line, or $NMT_LESSON_ARGS under a kernel.

def test_parse_args_under_a_kernel_without_lesson_args_runs_the_full_lesson(
        kernel_argv, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(common, "ROOT", str(tmp_path))  # the default --out is ROOT/runs/chapters
    args = common.parse_args("02 · A title")
    assert args.quick is False
    assert args.out == str(tmp_path / "runs" / "chapters")
    assert "full lesson" in capsys.readouterr().out


def test_parse_args_under_a_kernel_reads_nmt_lesson_args(kernel_argv, monkeypatch, tmp_path):
    out = tmp_path / "with space"  # split as a shell would: the quotes keep it one argument
    monkeypatch.setenv(common.LESSON_ARGS, f"--quick --out {shlex.quote(str(out))}")
    args = common.parse_args("02 · A title")
    assert args.quick is True
    assert args.out == str(out)
    assert out.is_dir()


def test_parse_args_under_a_kernel_gives_nmt_lesson_args_to_extra(kernel_argv, monkeypatch,
                                                                  tmp_path):
    monkeypatch.setenv(common.LESSON_ARGS, f"--run runs/a --out {tmp_path}")
    args = common.parse_args("10 · A title", extra=lambda p: p.add_argument("--run"))
    assert (args.run, args.quick) == ("runs/a", False)


def test_parse_args_under_a_kernel_rejects_a_wrong_argument_naming_the_variable(
        kernel_argv, monkeypatch, capsys):
    monkeypatch.setenv(common.LESSON_ARGS, "--quik")
    with pytest.raises(SystemExit) as exit_info:
        common.parse_args("02 · A title")
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == "$NMT_LESSON_ARGS: error: unrecognized arguments: --quik"


def test_parse_args_on_the_command_line_reads_argv_not_the_variable(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["chapters/02_self_attention.py", "--quick", "--out",
                                      str(tmp_path / "figures")])
    monkeypatch.setenv(common.LESSON_ARGS, "--not-an-option")  # ignored outside a kernel
    args = common.parse_args("02 · A title")
    assert args.quick is True
    assert args.out == str(tmp_path / "figures")


@pytest.mark.parametrize("argv, is_kernel", [
    (["/venv/lib/python3.11/site-packages/ipykernel_launcher.py", "-f",
      "/run/jupyter/kernel-1.json", "--HistoryManager.hist_file=:memory:"], True),  # nbclient
    (["/usr/local/lib/python3.12/dist-packages/colab_kernel_launcher.py", "-f",
      "/root/.local/share/jupyter/runtime/kernel-1.json"], True),  # Colab
    (["/venv/bin/some_launcher.py", "--f=/run/jupyter/kernel-v2-1.json"], True),  # the `--f=` form
    (["chapters/02_self_attention.py", "--quick"], False),
    (["chapters/02_self_attention.py", "-f", "notes.txt"], False),  # not a connection file
    ([], False),
])
def test_kernel_argv_tells_a_kernel_launch_from_a_lesson_command_line(argv, is_kernel):
    assert common.kernel_argv(argv) is is_kernel


def test_common_docstring_examples_hold():
    import doctest

    result = doctest.testmod(common)
    assert result.attempted >= 3 and result.failed == 0


def test_save_figure_outside_a_kernel_only_writes_the_png(tmp_path, capsys):
    plt = common.pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = common.save_figure(fig, str(tmp_path), "line.png")
    plt.close(fig)
    assert path == str(tmp_path / "line.png") and os.path.getsize(path) > 0
    assert capsys.readouterr().out == f"  figure saved: {path}\n"


def test_printed_results_are_plain_values_a_notebook_does_not_echo_again(capsys):
    diff = common.check_close([1.0, 2.0], [1.0, 2.5], "close enough", atol=1.0)
    assert isinstance(diff, float) and diff == 0.5 and f"{diff:.1f}" == "0.5"
    assert diff._ipython_display_() is None  # IPython calls this instead of echoing `Out[]: 0.5`
    assert "[check] close enough (max abs diff 5.00e-01 <= 1)" in capsys.readouterr().out


# The setup cell every notebook starts with: it finds the checkout.

def run_setup_cell(cwd, monkeypatch):
    """Run the setup cell's code from `cwd` (the cwd and sys.path are restored afterwards)."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != ROOT])  # as in a kernel
    source = build_notebook(lesson_paths(["02"])[0], clone="`!git clone URL`").cells[0].source
    exec(compile(source, "setup-cell", "exec"), {})
    return os.getcwd()


def test_setup_cell_walks_up_to_the_checkout_and_moves_there(monkeypatch, capsys):
    assert run_setup_cell(os.path.join(ROOT, "tests", "chapters"), monkeypatch) == ROOT
    assert sys.path[0] == ROOT
    assert capsys.readouterr().out == f"checkout: {ROOT}\n"


def test_setup_cell_finds_a_clone_just_inside_the_folder_as_in_colab(monkeypatch, tmp_path):
    (tmp_path / "project" / "chapters").mkdir(parents=True)
    (tmp_path / "project" / "chapters" / "common.py").write_text("")
    assert run_setup_cell(tmp_path, monkeypatch) == str(tmp_path / "project")


def test_setup_cell_in_colab_without_a_clone_says_what_to_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert run_setup_cell(tmp_path, monkeypatch) == str(tmp_path)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "`!git clone URL`" in out
    assert "pip install -r requirements.txt" in out and "%cd" in out


def test_setup_cell_elsewhere_fails_with_one_line(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkout of the project"):
        run_setup_cell(tmp_path, monkeypatch)


# The builder, on every lesson. This enforces the lesson format (issue 14): a lesson that is not
# a jupytext percent script with its titled markdown cell first fails here.

@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: os.path.basename(p)[:-3])
def test_lesson_becomes_a_valid_notebook_in_the_lesson_format(path, tmp_path):
    name = os.path.basename(path)[:-3]
    target = tmp_path / f"{name}.ipynb"
    assert write_notebook(build_notebook(path), str(target)) is True
    notebook = nbformat.read(str(target), as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    assert notebook.metadata.companion.source == f"chapters/{name}.py"
    setup, first, *lesson = notebook.cells
    assert setup.cell_type == "code" and "_find_checkout" in setup.source
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")

    # The first cell is the lesson's title ("# NN · Topic") with its book sections.
    assert first.cell_type == "markdown", f"{name}: the first cell is not a markdown cell"
    heading = first.source.splitlines()[0]
    assert re.match(rf"# {name[:2]} · \S", heading), f"{name}: first line {heading!r}"
    assert "**Book:**" in first.source, f"{name}: no **Book:** line in the first cell"
    words = " ".join(first.source.split())
    assert "2nd ed. §" in words and "3rd ed. §" in words, (
        f"{name}: the first cell must name the sections of both editions")
    # It ends with what the reader learned and 2-3 exercises.
    last = notebook.cells[-1]
    assert last.cell_type == "markdown" and "## What you learned" in last.source, name
    exercises = last.source.split("## Exercises", 1)
    assert len(exercises) == 2, f"{name}: no Exercises in the last cell"
    assert 2 <= len(re.findall(r"^\d+\. ", exercises[1], re.M)) <= 3, f"{name}: 2-3 exercises"
    kinds = {cell.cell_type for cell in lesson}
    assert kinds == {"markdown", "code"}, f"{name}: cells after the title are only {kinds}"
    titles = [re.search(r'parse_args\(\s*"([^"]*)"', cell.source) for cell in lesson
              if cell.cell_type == "code"]
    titles = [match.group(1) for match in titles if match]
    assert titles == [heading[2:]], f"{name}: parse_args titles {titles} != heading {heading!r}"

    # Nothing of the lesson is lost or changed: the cells after the setup cell, written back as
    # a percent script, are the lesson's file byte for byte.
    notebook.cells = notebook.cells[1:]
    with open(path, encoding="utf-8") as f:
        assert jupytext.writes(notebook, fmt="py:percent") == f.read(), (
            f"{name}: jupytext does not read it back as written (a cell marker or a markdown "
            f"cell not in the lesson format?)")


def test_lesson_paths_takes_a_name_a_number_or_a_path():
    expected = os.path.join(ROOT, "chapters", "02_self_attention.py")
    for name in ("02_self_attention", "02", "chapters/02_self_attention.py"):
        assert lesson_paths([name]) == [expected]
    assert len(lesson_paths()) >= 14
    with pytest.raises(ValueError, match="no lesson '99'"):
        lesson_paths(["99"])


def test_builder_command_writes_the_named_lessons_and_rejects_an_unknown_one(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "02", "01"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["01_tokens_and_embeddings.ipynb",
                                            "02_self_attention.ipynb"]
    assert main(["--out", str(tmp_path), "02"]) == 0
    assert "unchanged" in capsys.readouterr().out  # the same lesson gives the same bytes
    assert main(["--out", str(tmp_path), "99"]) == 2
    assert capsys.readouterr().err.startswith("error: no lesson '99' in chapters/")


def test_building_all_removes_only_its_own_notebooks_of_lessons_gone(tmp_path, capsys):
    gone = build_notebook(lesson_paths(["02"])[0])
    gone.metadata.companion.source = "chapters/99_renamed.py"  # a lesson renamed since
    write_notebook(gone, str(tmp_path / "99_renamed.ipynb"))
    foreign = nbformat.v4.new_notebook()  # a reader's own notebook: no `companion` metadata
    nbformat.write(foreign, str(tmp_path / "mine.ipynb"))
    assert main(["--out", str(tmp_path)]) == 0
    names = sorted(os.listdir(tmp_path))
    assert "99_renamed.ipynb" not in names and "mine.ipynb" in names
    assert len(names) == len(lesson_paths()) + 1
    assert "chapters/99_renamed.py no longer exists" in capsys.readouterr().out


def test_a_failed_write_keeps_the_previous_notebook(tmp_path, monkeypatch):
    target = tmp_path / "02_self_attention.ipynb"
    notebook = build_notebook(lesson_paths(["02"])[0])
    write_notebook(notebook, str(target))
    before = target.read_text()
    notebook.cells[-1].source += "\n# changed"

    def fail(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)  # fails after the temporary file is written
    with pytest.raises(OSError, match="disk full"):
        write_notebook(notebook, str(target))
    assert target.read_text() == before
    assert os.listdir(tmp_path) == [target.name]  # no temporary file left behind


# Two lessons run end to end as notebooks, in quick mode, by a kernel of this interpreter.

def kernel_manager(folder):
    """A KernelManager for a `python3` kernel of this very interpreter. Its kernelspec is written
    in `folder`, so no kernelspec installed elsewhere (user, system) can pick another Python."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    kernels = folder / "kernels"
    write_kernel_spec(str(kernels / "python3"))  # argv: sys.executable -m ipykernel_launcher
    return KernelManager(kernel_name="python3",
                         kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))


@pytest.mark.slow
@pytest.mark.parametrize("lesson, figures, via", [
    ("02_self_attention", ["02_self_attention_weights.png"], "the kernel's environment"),
    # As the README tells a reader: a `%env` cell before the lesson's first one.
    ("04_multi_head_attention", ["04_multi_head_attention_maps.png"], "an %env cell"),
])
def test_lesson_runs_end_to_end_as_a_notebook(lesson, figures, via, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    out = tmp_path / "figures"
    lesson_args = f"--quick --out {shlex.quote(str(out))}"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = build_notebook(lesson_paths([lesson])[0])
    if via == "an %env cell":
        monkeypatch.delenv(common.LESSON_ARGS, raising=False)
        env_cell = nbformat.v4.new_code_cell(f"%env {common.LESSON_ARGS}={lesson_args}")
        notebook.cells.insert(1, env_cell)
    else:
        monkeypatch.setenv(common.LESSON_ARGS, lesson_args)
    # The kernel starts in a folder of the checkout that is not its root, as notebooks/ is: the
    # lesson's imports work only once the setup cell has found the checkout.
    start = os.path.join(ROOT, "tests", "chapters")
    started = time.perf_counter()
    client = NotebookClient(notebook, km=kernel_manager(tmp_path), timeout=600,
                            resources={"metadata": {"path": start}})
    client.execute(cleanup_kc=True)  # raises on a cell's error; shuts the kernel down
    print(f"{lesson}: executed as a notebook ($NMT_LESSON_ARGS from {via}) in "
          f"{time.perf_counter() - started:.1f} s")

    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    printed = "".join(output.text for output in outputs
                      if output.output_type == "stream" and output.name == "stdout")
    assert f"checkout: {ROOT}" in printed
    assert f"(notebook: arguments from $NMT_LESSON_ARGS: {lesson_args!r})" in printed
    assert "[check]" in printed and "CHECK FAILED" not in printed
    # Each saved figure is shown once, below the cell that saved it.
    images = [output for output in outputs
              if output.output_type == "display_data" and "image/png" in output.data]
    assert printed.count("figure saved:") == len(images) == len(figures)
    # A lesson is a script: what it shows, it prints. Nothing is echoed as a cell's value
    # (check_close and save_figure return values that a notebook does not echo again).
    assert [output for output in outputs if output.output_type == "execute_result"] == []
    assert sorted(os.listdir(out)) == sorted(figures)
