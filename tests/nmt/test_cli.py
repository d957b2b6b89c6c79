"""nmt/cli.py: the flags come from the config declaration; user errors are one line (exit 2),
bugs say so (exit 1), also from a new process."""

import dataclasses
import json
import os
import re
import shutil

import pytest

import nmt.cli
import nmt.compare
from data.corpus import CorpusError
from nmt.cli import build_parser, main, train_config
from nmt.config import declared_fields, flag, resolve_config
from nmt.runs import RunError, load_config
from nmt.translator import Translator
from tests.conftest import ROOT, run_nmt


def test_train_help_lists_every_setting_with_its_default(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "-h"])
    text = " ".join(capsys.readouterr().out.split())
    for field in declared_fields():
        assert flag(field.name) in text, field.name
    assert text.count("(default: ") >= len(declared_fields())
    for group in ("model options", "data options", "training options", "runtime options"):
        assert group in text
    assert "override the preset's value" not in text
    # The presets table closes the help: one row per preset.
    from nmt.config import PRESET_CHOICES

    table = text.split("presets: preset what it is for", 1)[1]
    for preset in PRESET_CHOICES:
        assert f" {preset} " in f" {table} ", preset


def test_print_config_prints_the_resolved_config_without_training(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--preset", "cpu-best", "--out", str(out), "--epochs", "2",
                 "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["preset"], config["epochs"], config["num_layers"]) == ("cpu-best", 2, 3)
    assert not out.exists()


def test_compare_print_config_prints_what_compare_train_would_train(capsys, tmp_path,
                                                                    monkeypatch):
    arguments = ["compare", "--train", "--preset", "tiny", "--budget-minutes", "2",
                 "--models", "gru,transformer", "--max-pairs", "800", "--out", str(tmp_path)]
    assert main([*arguments, "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(printed) == ["gru", "transformer"] and not os.listdir(tmp_path)
    assert {(c["model"], c["preset"], c["budget_minutes"], c["epochs"], c["max_pairs"])
            for c in printed.values()} == {("gru", "tiny", 2.0, 1000, 800),
                                           ("transformer", "tiny", 2.0, 1000, 800)}
    trained = {}  # what `compare --train` itself trains (nothing is trained or compared here)
    monkeypatch.setattr(nmt.compare, "train", lambda config, run, verbose: trained.update(
        {config.model: dataclasses.asdict(config)}))
    monkeypatch.setattr(nmt.compare, "compare_runs", lambda *args, **kwargs: None)
    assert main(arguments) == 0
    assert trained == printed
    capsys.readouterr()
    assert main(["compare", "--runs", "a", "--print-config", "--out", str(tmp_path)]) == 2
    assert "--print-config is for --train" in capsys.readouterr().err


def test_compare_train_reuses_a_finished_run_only_if_it_has_the_same_settings(tmp_path,
                                                                             monkeypatch):
    run = tmp_path / "runs" / "transformer"
    shutil.copytree(os.path.join(SAVED_RUNS, "transformer-wordpiece"), run)
    saved = load_config(str(run))
    preset = resolve_config("transformer", saved.preset)
    overrides = {name: value for name, value in dataclasses.asdict(saved).items()
                 if value != getattr(preset, name) and name not in ("epochs", "corpus")}
    monkeypatch.setattr(nmt.compare, "train", lambda *args, **kwargs: pytest.fail("trained"))
    compared = []
    monkeypatch.setattr(nmt.compare, "compare_runs", lambda runs, *a, **k: compared.append(runs))
    nmt.compare.train_and_compare(["transformer"], saved.preset, 0, str(tmp_path),
                                  epochs=saved.epochs, overrides=overrides)
    assert compared == [[str(run)]]  # the same settings: reused, not trained again
    with pytest.raises(RunError, match=re.escape(f"{run}: a finished run with other settings "
                                                 "(epochs) is there; remove it")):
        nmt.compare.train_and_compare(["transformer"], saved.preset, 0, str(tmp_path),
                                      epochs=saved.epochs + 1, overrides=overrides)


def test_flags_override_the_preset():
    args = build_parser().parse_args(["train", "--model", "rnn", "--preset", "book",
                                      "--rnn-units", "64", "--out", "x"])
    config = train_config(args)
    assert (config.model, config.rnn_units, config.embed_dim) == ("rnn", 64, 256)


def test_a_user_error_is_one_line_with_exit_code_2(capsys, monkeypatch):
    def fails(args):
        raise CorpusError("spa.txt:3: no tab between English and Spanish")

    monkeypatch.setitem(nmt.cli.COMMANDS, "data", fails)
    monkeypatch.delenv("NMT_DEBUG", raising=False)
    assert main(["data"]) == 2
    assert capsys.readouterr().err == "nmt data: error: spa.txt:3: no tab between English and Spanish\n"


def test_a_bad_setting_is_one_line_with_exit_code_2(capsys):
    assert main(["train", "--out", "x", "--dropout", "1.5", "--print-config"]) == 2
    assert capsys.readouterr().err == (
        "nmt train: error: dropout=1.5 (--dropout) must be in [0, 1)\n")


def test_a_bug_is_reported_as_an_internal_error_with_exit_code_1(capsys, monkeypatch):
    def bug(args):
        raise KeyError("oops")

    monkeypatch.setitem(nmt.cli.COMMANDS, "data", bug)
    monkeypatch.delenv("NMT_DEBUG", raising=False)
    assert main(["data"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nmt data: internal error: KeyError") and "NMT_DEBUG=1" in err
    assert err.count("\n") == 1
    monkeypatch.setenv("NMT_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["data"])


@pytest.mark.slow  # new processes (the exit code of `nmt data` itself)
def test_cli_data_error_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Go.\tVe.\nno tab\n", encoding="utf-8")
    result = run_nmt("data", "--corpus", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"nmt data: error: {bad}:2: no tab between English and Spanish "
        "(use --skip-bad-lines to skip such lines)")
    assert "Traceback" not in result.stderr
    result = run_nmt("data", "--corpus", str(bad), "--skip-bad-lines")
    assert result.returncode == 0, result.stderr
    assert "1 bad lines skipped" in result.stdout


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """A tiny run trained in process on a synthetic corpus, and a second corpus that splits
    differently."""
    from data.corpus import read_corpus, write_pairs
    from nmt.training import train
    from tests.conftest import synthetic_pairs, tiny_run_config

    folder = tmp_path_factory.mktemp("cli")
    corpus, other = folder / "pairs.tsv", folder / "other.tsv"
    pairs = synthetic_pairs()
    write_pairs(pairs, corpus)
    write_pairs(pairs[:300], other)
    train(tiny_run_config(str(corpus)), str(folder / "run"), verbose=0)
    assert read_corpus(str(other)).pairs
    return str(folder / "run"), str(other)


def test_evaluate_refuses_a_corpus_that_is_not_the_runs_unless_asked(synthetic_run, capsys,
                                                                      tmp_path):
    import os

    run, other = synthetic_run
    assert main(["evaluate", "--run", run, "--corpus", other, "--limit", "5"]) == 2
    assert "does not give the split the run was trained on" in capsys.readouterr().err
    assert main(["evaluate", "--run", run, "--corpus", other, "--limit", "5",
                 "--any-corpus"]) == 0
    assert "not the run's held-out scores" in capsys.readouterr().out
    assert os.path.isfile(os.path.join(run, "eval_test_other-corpus.json"))
    assert not os.path.exists(os.path.join(run, "eval_test.json"))


def test_evaluate_writes_what_it_scored_and_sacrebleu_reproduces_both_scores(synthetic_run,
                                                                            capsys, tmp_path):
    import json

    import sacrebleu

    from nmt.scoring import book_normalised

    run, _ = synthetic_run
    report_path = tmp_path / "scores.json"
    assert main(["evaluate", "--run", run, "--limit", "30", "--json", str(report_path)]) == 0
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    for key in ("bleu_signature", "chrf_signature", "bleu_as_is_signature",
                "chrf_as_is_signature"):
        assert "version:" + sacrebleu.__version__ in report[key]
        assert report[key] in out
    assert report["bleu_signature"].startswith("nrefs:var|case:mixed|eff:no|tok:13a")
    assert report["scored_texts"] == ["scores.src.txt", "scores.hyp.txt", "scores.refs.jsonl"]
    sources = (tmp_path / "scores.src.txt").read_text().splitlines()
    hypotheses = (tmp_path / "scores.hyp.txt").read_text().splitlines()
    references = [json.loads(line) for line in
                  (tmp_path / "scores.refs.jsonl").read_text().splitlines()]
    assert len(sources) == len(hypotheses) == len(references) == report["sources"] == 30
    assert sum(map(len, references)) == report["references"]

    def rescored(hyps, refs):  # sacrebleu alone, from the written files
        most = max(map(len, refs))
        streams = [[r[k] if k < len(r) else None for r in refs] for k in range(most)]
        return (round(sacrebleu.metrics.BLEU().corpus_score(hyps, streams).score, 2),
                round(sacrebleu.metrics.CHRF().corpus_score(hyps, streams).score, 2))

    assert rescored(hypotheses, references) == (report["bleu_as_is"], report["chrf_as_is"])
    assert rescored(*book_normalised(hypotheses, references)) == (report["bleu"], report["chrf"])


def test_decoding_numbers_are_checked_like_every_setting(synthetic_run, capsys):
    run, _ = synthetic_run
    assert main(["translate", "--run", run, "--decode", "beam", "--alpha", "nan", "Hi"]) == 2
    assert capsys.readouterr().err == ("nmt translate: error: alpha=nan (--alpha) must be a "
                                       "finite number\n")
    assert main(["translate", "--run", run, "--top-p", "0", "Hi"]) == 2
    assert "top_p=0.0 (--top-p) must be in (0, 1]" in capsys.readouterr().err


@pytest.mark.slow
def test_closed_streams_and_a_reader_that_leaves_are_handled_quietly(synthetic_run):
    import subprocess
    import sys

    from tests.conftest import ROOT

    run, _ = synthetic_run
    command = f"{sys.executable} -m nmt translate --run {run}"
    closed_stdin = subprocess.run(["bash", "-c", command + " <&-"], cwd=ROOT, capture_output=True,
                                  text=True, timeout=300)
    assert closed_stdin.returncode == 2
    assert closed_stdin.stderr.strip().splitlines()[-1] == (
        "nmt translate: error: standard input is closed; give sentences or --input FILE")
    closed_stdout = subprocess.run(["bash", "-c", command + " 'red cat' >&-"], cwd=ROOT,
                                   capture_output=True, text=True, timeout=300)
    assert closed_stdout.returncode == 2
    assert closed_stdout.stderr.strip().splitlines()[-1] == (
        "nmt translate: error: standard output is closed")
    # 3,000 lines into `head -1`: the reader leaves after one line.
    piped = subprocess.run(["bash", "-c", "set -o pipefail; yes 'red cat' | head -3000 | "
                            + command + " | head -1"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert piped.stdout.count("\n") == 1
    assert "Traceback" not in piped.stderr and "Error" not in piped.stderr
    assert piped.returncode in (0, 141)  # 141: nmt stopped by the closed pipe, quietly


# `nmt translate`: flags as fairseq / Marian / OpenNMT users know them.

SAVED_RUNS = os.path.join(ROOT, "tests", "fixtures", "saved_runs")
RUN = os.path.join(SAVED_RUNS, "transformer-wordpiece")  # sequence length 12


def test_translate_nbest_prints_a_scored_block_per_input(capsys):
    assert main(["translate", "--run", RUN, "--nbest", "3", "Where is the train station?", "",
                 "Go."]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n\n")
    blocks, block = [], []
    for line in out.split("\n")[:-1]:  # every block ends with an empty line
        if line:
            block.append(line)
        else:
            blocks.append(block)
            block = []
    assert len(blocks) == 3 and blocks[1] == []  # a blank input has no hypotheses
    for block in (blocks[0], blocks[2]):
        assert 1 <= len(block) <= 3
        scores = [float(line.split("\t")[0]) for line in block]
        assert scores == sorted(scores, reverse=True)
    best = Translator.load(RUN).translate("Where is the train station?", decode="beam",
                                          num_beams=3)
    assert blocks[0][0].split("\t", 1)[1] == best


def test_translate_jsonl_gives_source_translation_score_and_nbest(capsys):
    assert main(["translate", "--run", RUN, "--format", "jsonl", "Go.", ""]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["source"] for row in rows] == ["Go.", ""]
    assert rows[0]["translation"] == Translator.load(RUN).translate("Go.")
    assert isinstance(rows[0]["score"], float) and rows[0]["score"] < 0  # greedy: sum of log-probs
    assert rows[1] == {"source": "", "translation": "", "score": None}
    assert main(["translate", "--run", RUN, "--format", "jsonl", "--nbest", "2", "Go."]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert set(row) == {"source", "translation", "score", "nbest"}
    assert 1 <= len(row["nbest"]) <= 2
    assert row["nbest"][0] == {"translation": row["translation"], "score": row["score"]}


def test_translate_an_ignored_option_is_implied_and_a_conflict_is_exit_2(capsys):
    assert main(["translate", "--run", RUN, "--num-beams", "3", "Go.", "I love AI."]) == 0
    implied = capsys.readouterr().out
    assert main(["translate", "--run", RUN, "--decode", "beam", "--num-beams", "3", "Go.",
                 "I love AI."]) == 0
    assert capsys.readouterr().out == implied
    for flags, message in [
            (["--decode", "greedy", "--num-beams", "4"],
             "num_beams=4 (--num-beams) is for --decode beam, not --decode greedy"),
            (["--decode", "beam", "--temperature", "0.7"],
             "temperature=0.7 (--temperature) is for --decode sample, not --decode beam"),
            (["--nbest", "5", "--num-beams", "3"],
             "nbest=5 (--nbest) is more than num_beams=3 (--num-beams), the hypotheses beam "
             "search keeps"),
            (["--max-length", "13"],
             "max_length=13 (--max-length) is longer than the 12 positions this model learned")]:
        assert main(["translate", "--run", RUN, *flags, "Go."]) == 2, flags
        assert capsys.readouterr().err == f"nmt translate: error: {message}\n"


def _without_tensorflow_settings():
    """This environment without the settings that quiet TensorFlow (as a user's shell has it)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("TF_CPP_MIN_LOG_LEVEL", "NMT_DEBUG", "GRPC_VERBOSITY")}


@pytest.mark.slow
@pytest.mark.slow  # the real corpus (evaluate)
def test_translate_and_evaluate_jit_compile_give_the_graph_decoders_translations(
        capsys, corpus_path, tmp_path):
    sentences = ["Go.", "Where is the train station?", "I love AI."]
    for flags in ([], ["--num-beams", "3"]):
        assert main(["translate", "--run", RUN, *flags, *sentences]) == 0
        graph = capsys.readouterr().out
        assert main(["translate", "--run", RUN, "--jit-compile", *flags, *sentences]) == 0
        assert capsys.readouterr().out == graph
    for flags in ([], ["--jit-compile"]):
        assert main(["evaluate", "--run", RUN, "--limit", "5", "--corpus", corpus_path,
                     "--json", str(tmp_path / "report.json"), *flags]) == 0
        capsys.readouterr()
        scores = json.loads((tmp_path / "report.json").read_text())
        if not flags:
            graph = {k: scores[k] for k in ("bleu", "chrf", "loss")}
    assert {k: scores[k] for k in graph} == graph


def test_translate_prints_no_tensorflow_start_up_lines():
    import subprocess
    import sys

    from tests.conftest import ROOT as root

    result = subprocess.run([sys.executable, "-m", "nmt", "translate", "--run", RUN, "Go."],
                            cwd=root, env=_without_tensorflow_settings(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout == Translator.load(RUN).translate("Go.") + "\n"


@pytest.mark.slow
def test_translate_at_a_terminal_translates_each_typed_line_until_ctrl_d():
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT as root

    def start():
        """`nmt translate` at a terminal of its own, as a shell in a terminal window starts it:
        a new session whose controlling terminal is the pseudo-terminal (its stdin and stderr;
        stdout is a pipe, read here), with SIGINT at its default."""
        terminal, child_side = pty.openpty()
        command = [sys.executable, "-m", "nmt", "translate", "--run", RUN]
        # A shell starts a foreground command with Ctrl-C's signal at its default; under the full
        # suite this test's process had SIGINT ignored, which a child inherits (Python then
        # installs no KeyboardInterrupt handler, and Ctrl-C did nothing for 180 s).
        take_the_terminal = ("import fcntl, os, signal, sys, termios; "
                             "signal.signal(signal.SIGINT, signal.SIG_DFL); "
                             "fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                             f"os.execv(sys.executable, {command!r})")
        process = subprocess.Popen(
            [sys.executable, "-c", take_the_terminal], cwd=root,
            env=_without_tensorflow_settings(), stdin=child_side, stdout=subprocess.PIPE,
            stderr=child_side, start_new_session=True)
        os.close(child_side)
        return terminal, process

    def read_until(fd, ending, seconds=120):
        """What `fd` gives until it ends with `ending` (the prompt, a line)."""
        text, deadline = b"", time.monotonic() + seconds
        while not text.endswith(ending):
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"timed out waiting for {ending!r}; got {text!r}"
            text += os.read(fd, 4096)
        return text.decode()

    def wait_reading(fd, seconds=180):
        """(exit code, what `fd` gave meanwhile): the process' end, with its terminal read all
        along, so that nothing it writes there on its way out can block it."""
        text, deadline = b"", time.monotonic() + seconds
        while process.poll() is None:
            assert time.monotonic() < deadline, f"no exit in {seconds} s; got {text!r}"
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    text += os.read(fd, 4096)
                except OSError:  # the other side closed (the process has gone)
                    break
        return process.wait(timeout=seconds), text.decode()

    translator = Translator.load(RUN)
    terminal, process = start()
    try:
        assert "Ctrl-D quits" in read_until(terminal, b"en> ")
        translations = []
        for sentence in ("Go.", "Where is the train station?"):
            os.write(terminal, sentence.encode() + b"\n")
            translations.append(read_until(process.stdout.fileno(), b"\n").rstrip("\n"))
            read_until(terminal, b"en> ")
        assert translations == translator.translate(["Go.", "Where is the train station?"])
        os.write(terminal, b"\x04")  # Ctrl-D at the start of a line: end of input
        try:
            code = wait_reading(terminal, seconds=30)[0]
        except AssertionError:
            # Under the full suite's load the end of input was lost 3 times in 4 runs (the
            # process wrote nothing more and kept reading; never when run alone): a second
            # Ctrl-D, as a user would press it, must still end the session with 0.
            os.write(terminal, b"\x04")
            code = wait_reading(terminal)[0]
        assert code == 0
    finally:
        process.kill()
        os.close(terminal)
    # Ctrl-C (SIGINT) at the prompt: a clean exit with 130.
    terminal, process = start()
    try:
        read_until(terminal, b"en> ")
        process.send_signal(signal.SIGINT)
        code, said = wait_reading(terminal)
        assert code == 130
        assert "interrupted\r\n" in said and "Traceback" not in said
    finally:
        process.kill()
        os.close(terminal)
