"""nmt/verdicts.py: conclusions computed from given result tables (win, loss, tie, all zero)."""

import pytest

from nmt.verdicts import TIE, TOO_LITTLE, bleu_noise, compare_scores, rank_scores, rank_table


def test_a_clear_win_names_the_winner():
    verdict = compare_scores(30.0, 20.0, ("x", "y"), metric="BLEU", noise=1.0)
    assert (verdict.outcome, verdict.leader) == ("ahead", "x")
    assert verdict.sentence.startswith("x has the highest BLEU: 30.00, against y 20.00")


def test_a_loss_names_the_other_model():
    verdict = compare_scores(20.0, 30.0, ("x", "y"), metric="BLEU", noise=1.0)
    assert verdict.leader == "y" and verdict.is_behind("x") and not verdict.is_behind("y")


def test_scores_within_noise_are_a_tie():
    # The 20-minute report's overall BLEU: GRU with attention 37.91, Transformer 37.87.
    verdict = compare_scores(37.91, 37.87, ("rnn", "transformer"), metric="BLEU", noise=1.0)
    assert verdict.outcome == "tie" and verdict.leader is None
    assert verdict.leaders == ("rnn", "transformer") and verdict.sentence.startswith(TIE)


def test_a_difference_just_over_the_noise_is_not_a_tie():
    assert compare_scores(31.01, 30.0, ("x", "y"), noise=1.0).outcome == "ahead"
    assert compare_scores(31.0, 30.0, ("x", "y"), noise=1.0).outcome == "tie"


def test_all_zero_scores_are_too_little_training():
    verdict = rank_scores({"gru": 0.0, "rnn": 0.0, "transformer": 0.0}, metric="BLEU")
    assert verdict.outcome == "too little training" and verdict.leaders == ()
    assert verdict.sentence.startswith(TOO_LITTLE) and "highest" not in verdict.sentence
    assert not verdict.is_behind("gru")


def test_one_score_above_the_floor_is_compared():
    verdict = rank_scores({"gru": 0.2, "rnn": 5.0}, metric="BLEU", floor=1.0)
    assert verdict.leader == "rnn"


def test_mixed_three_models_two_tied_ahead_of_the_third():
    verdict = rank_scores({"gru": 25.15, "rnn": 37.91, "transformer": 37.87}, metric="BLEU")
    assert verdict.outcome == "tie" and set(verdict.leaders) == {"rnn", "transformer"}
    assert verdict.is_behind("gru") and "both above gru 25.15" in verdict.sentence


def test_lower_is_better_with_relative_noise():
    times = {"gru": 100.0, "transformer": 50.0}
    verdict = rank_scores(times, metric="ms", higher_is_better=False, relative=True, noise=0.1,
                          floor=None)
    assert verdict.leader == "transformer" and "lowest ms" in verdict.sentence
    # 95 vs 100 ms is within 10% of the best: a tie.
    assert rank_scores({"a": 95.0, "b": 100.0}, higher_is_better=False, relative=True, noise=0.1,
                       floor=None).outcome == "tie"


def test_rank_table_ranks_each_column_with_its_own_noise():
    # The 20-minute report's BLEU by source length (1-5 and 16+ words).
    table = {"gru": {"1-5": 36.05, "16+": 6.53}, "rnn": {"1-5": 43.42, "16+": 25.25},
             "transformer": {"1-5": 45.29, "16+": 18.06}}
    verdicts = rank_table(table, ["1-5", "16+"], noise={"1-5": 1.0, "16+": 8.0}, metric="BLEU")
    assert verdicts["1-5"].leader == "transformer"
    # A noise of 8 BLEU makes 25.25 and 18.06 a tie; gru stays behind.
    assert verdicts["16+"].outcome == "tie" and verdicts["16+"].is_behind("gru")
    assert "BLEU (16+)" in verdicts["16+"].sentence


def test_missing_values_are_left_out():
    verdict = rank_scores({"a": None, "b": 3.0, "c": 2.0}, noise=0.5)
    assert verdict.leader == "b" and "a" not in verdict.scores
    assert rank_scores({"a": None}).outcome == "no data"


def test_bleu_noise_widens_for_small_sets():
    assert bleu_noise(10_000) == 1.0
    assert bleu_noise(105) == 2.4  # 25 / sqrt(105) = 2.44
    with pytest.raises(ValueError, match="sources=0"):
        bleu_noise(0)


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="noise=-1"):
        rank_scores({"a": 1.0, "b": 2.0}, noise=-1)
    with pytest.raises(ValueError, match="two different names"):
        compare_scores(1.0, 2.0, ("a", "a"))
