"""chapters/11 and 14: model size (both editions) and the training recipe, in quick mode.

Each test runs `python chapters/NN_name.py --quick --out TMP` in a new process from the checkout;
the lessons that train read the real corpus through $SPA_ENG_PATH (skipped when it is not found).
"""

import pytest

from tests.conftest import assert_sections_and_figures, run_chapter

pytestmark = pytest.mark.slow


def test_parameter_lesson_reproduces_both_editions_exact_counts(tmp_path):
    stdout = run_chapter("11_counting_parameters", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The formulas", "The formulas equal Keras' counts", "Against the paper's Table 3",
         "The book's models, exactly", "Two editions, two Transformers",
         "Figure: where the parameters are"],
        ["11_parameter_breakdown.png"])
    assert "34,869,912" in stdout
    # The 3rd edition's Transformer (key_dim = embed_dim // num_heads, no positions) and the
    # 2nd edition's (key_dim = embed_dim, learned positions), each built and counted by Keras.
    assert "Keras 14,428,824, formula 14,428,824" in stdout
    assert "Keras 19,960,216, formula 19,960,216" in stdout
    # The difference: 3 attention layers 8x wider, plus 2 x 20 x 256 positions.
    assert "= 5,521,152 in attention + 2 x 20 x 256 = 10,240 in positions" in stdout
    assert "encoder layer 3,152,384" in stdout  # the paper's base model, d=512, d_ff=2048


def test_training_recipe_lesson_checks_each_element_of_cpu_best(tmp_path):
    stdout = run_chapter("14_training_recipe", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Subwords: no [UNK], case and punctuation kept",
         "Label smoothing: the best prediction is no longer a one-hot", "Warmup and decay",
         "Tied embeddings", "Pre-LN against post-LN", "Averaging the last checkpoints",
         "The recipe together"],
        ["14_lr_schedules.png"])
    assert "decode restores case, accents and ¿ ? exactly" in stdout
    assert "costs more than a less confident one" in stdout
    assert "at 4x the warmup the rate is half the peak" in stdout
    assert "the difference is exactly embed_dim x vocabulary = 64,000" in stdout  # tiny: 32 x 2,000
    assert "pre-LN: the residual stream grows with depth" in stdout
    assert "lower than the last epoch's" in stdout
    assert "nmt train --preset cpu-best" in stdout and "BLEU" not in stdout
