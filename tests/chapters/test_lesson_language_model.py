"""chapters/15: the decoder-only language model, in quick mode on the real corpus.

The test runs `python chapters/15_language_model.py --quick --out TMP` in a new process from
the checkout, reading the corpus through $SPA_ENG_PATH (skipped when it is not found).
"""

import re

import pytest

from tests.conftest import assert_sections_and_figures, run_chapter

pytestmark = pytest.mark.slow


def test_language_model_lesson_trains_scores_and_samples_with_its_checks(tmp_path, corpus_path):
    stdout = run_chapter("15_language_model", tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The data: Spanish sentences", "The model",
         "The unembedding: logits = last hidden state @ W",
         "The causal mask: the past cannot see the future", "Training",
         "Validation perplexity", "Generating with temperature and top-k",
         "Next to the translator"],
        ["15_training_curve.png", "15_temperature_entropy.png"])
    assert "[check] no training token is [UNK]" in stdout
    assert "by hand = the model's" in stdout
    assert "leaves positions 0..4 unchanged" in stdout
    assert "the uniform model's perplexity is the vocabulary size" in stdout
    assert "the trained model beats the uniform model" in stdout
    assert "on the same contexts the entropy grows with the temperature" in stdout
    assert "every sampled token is among the 10 likeliest" in stdout
    assert "the formula equals the language model's count_params()" in stdout
    # The uniform model's perplexity printed is the vocabulary size printed beside it.
    uniform = re.search(r"uniform model\s+perplexity\s+([\d,.]+)\s+\(vocabulary ([\d,]+)\)",
                        stdout)
    assert uniform and round(float(uniform[1].replace(",", ""))) == int(uniform[2].replace(",", ""))
    # Three temperatures were sampled, with and without top-k.
    for temperature in ("0.5", "1.0", "1.5"):
        assert f"T = {temperature}, all tokens" in stdout
        assert f"T = {temperature}, top-k = 10" in stdout
