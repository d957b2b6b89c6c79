"""chapters/12 and 13: the comparisons of RNNs and the Transformer, in quick mode; every
conclusion they print is the one nmt/verdicts.py computes from their numbers.

Each test runs `python chapters/NN_name.py --quick --out TMP` in a new process from the checkout;
the lessons that train read the real corpus through $SPA_ENG_PATH (skipped when it is not found).
"""

import json
import shutil

import pytest

from nmt.scoring import LENGTH_BUCKETS, bucket_name
from nmt.verdicts import TOO_LITTLE, bleu_noise, compare_scores, rank_scores, rank_table
from tests.conftest import assert_sections_and_figures, run_chapter

pytestmark = pytest.mark.slow

BUCKETS = [bucket_name(low, high) for low, high in LENGTH_BUCKETS]
MODELS = ("gru", "rnn", "transformer")


def expected_bleu_verdicts(report):
    """The overall and per-bucket BLEU verdicts, recomputed from a comparison's report.json."""
    runs = report["runs"]
    counts = {b: runs["gru"]["by_length"][b]["sources"] for b in BUCKETS}
    with_sources = [b for b in BUCKETS if counts[b]]
    table = {n: {b: runs[n]["by_length"][b].get("bleu") for b in BUCKETS} for n in MODELS}
    noise = {b: bleu_noise(counts[b]) for b in with_sources}
    buckets = rank_table(table, with_sources, noise=noise, metric="BLEU")
    return buckets, counts


def assert_no_winner_when_too_little_training(stdout, verdict):
    if verdict.outcome == "too little training":
        assert TOO_LITTLE in stdout
        assert "the best is" not in stdout and "is ahead" not in stdout


@pytest.fixture(scope="module")
def lesson_12(tmp_path_factory, corpus_path):
    """(stdout, out folder) of lesson 12 in quick mode, run once for the module."""
    out = tmp_path_factory.mktemp("lesson_12")
    return run_chapter("12_rnn_or_transformer", out, corpus_path), out


def test_rnn_or_transformer_lesson_prints_the_computed_conclusions(lesson_12):
    stdout, tmp_path = lesson_12
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Step time and memory versus sequence length", "BLEU by source length", "Figures"],
        ["12_step_cost.png", "12_bleu_by_length.png"])
    assert "self-attention scores are batch x heads x L x L" in stdout
    assert "the score matrices grow with the square of L" in stdout
    assert "the length buckets partition the 100 test sources" in stdout
    results = json.loads((tmp_path / "12_results.json").read_text())
    # The timing conclusions are the ones the measured numbers give.
    lengths, step_ms = results["lengths"], results["step_ms"]
    growth = {n: step_ms[n][-1] / step_ms[n][0] for n in MODELS}
    verdict = rank_scores(growth, metric=f"growth of step time from {lengths[0]} to "
                          f"{lengths[-1]} tokens", noise=0.2, relative=True, floor=None, digits=1)
    assert verdict.sentence == results["verdicts"]["growth"] and verdict.sentence in stdout
    # The BLEU conclusions are the ones the comparison's report gives.
    report = json.loads((tmp_path / "12_compare" / "report.json").read_text())
    buckets, _ = expected_bleu_verdicts(report)
    for bucket, verdict in buckets.items():
        assert verdict.sentence in stdout
    overall = rank_scores({n: report["runs"][n]["greedy"]["bleu"] for n in MODELS}, metric="BLEU",
                          noise=bleu_noise(report["test_sources"]))
    assert overall.sentence in stdout
    assert_no_winner_when_too_little_training(stdout, overall)
    # "Attention buys ..." only when the attention GRU beats the plain GRU on the longest bucket.
    longest = list(buckets)[-1]
    rnn, gru = (report["runs"][n]["by_length"][longest]["bleu"] for n in ("rnn", "gru"))
    gain = compare_scores(rnn, gru, ("rnn", "gru"), metric=f"BLEU ({longest} words)",
                          noise=bleu_noise(report["runs"]["gru"]["by_length"][longest]["sources"]))
    assert gain.sentence in stdout
    assert ("without it the GRU must carry the whole sentence" in stdout) == (gain.leader == "rnn")
    assert "quick mode: tiny models trained for seconds" in stdout


def test_compare_lesson_prints_only_conclusions_its_report_supports(tmp_path, corpus_path,
                                                                    lesson_12):
    # Quick mode trains the same three tiny models as lesson 12 (train_and_compare reuses a
    # finished run only when its settings are the ones it would train: else the lesson fails),
    # so lesson 13 starts from lesson 12's runs and compares them itself.
    shutil.copytree(lesson_12[1] / "12_compare" / "runs", tmp_path / "13_compare" / "runs")
    stdout = run_chapter("13_rnn_vs_transformer", tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path / "13_compare",
        ["Training the three models the same way", "The report", "Size and speed", "Scores",
         "Longer sentences"],
        ["learning_curves.png", "bleu_by_length.png", "attention_rnn.png",
         "attention_transformer.png"])
    assert "the length buckets partition the test sources" in stdout
    report = json.loads((tmp_path / "13_compare" / "report.json").read_text())
    runs = report["runs"]
    best = rank_scores({n: runs[n]["greedy"]["bleu"] for n in MODELS}, metric="test BLEU (greedy)",
                       noise=bleu_noise(report["test_sources"]))
    assert best.sentence in stdout
    assert_no_winner_when_too_little_training(stdout, best)
    speed = rank_scores({n: runs[n]["train_tokens_per_s"] for n in MODELS}, noise=0.1,
                        relative=True, floor=None, digits=0,
                        metric="target tokens per second of training")
    assert speed.sentence in stdout
    assert ("made it the fastest to train" in stdout) == (speed.leader == "transformer")
    buckets, _ = expected_bleu_verdicts(report)
    for verdict in buckets.values():
        assert verdict.sentence in stdout
    longest = buckets[list(buckets)[-1]]
    assert ("the GRU without attention is measurably behind" in stdout) == longest.is_behind("gru")
