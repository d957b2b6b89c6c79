"""nmt/export.py: the exported SavedModel translates as the Translator does."""

import tensorflow as tf

from data.vectorize import WordTokenizer, add_markers
from nmt.config import resolve_config
from nmt.translator import Translator


def test_export_round_trip_matches_translator(tmp_path, tiny_pairs):
    from nmt.export import export_saved_model

    config = resolve_config("transformer", "tiny")
    english = WordTokenizer.adapt([e for e, _ in tiny_pairs], 100, 20, "english")
    spanish = WordTokenizer.adapt(add_markers([s for _, s in tiny_pairs]), 100, 21, "spanish")
    translator = Translator.create(config, english, spanish)
    sentences = ["Where is the station?", "", "I love AI."]
    export_saved_model(translator, str(tmp_path / "exported"))
    restored = tf.saved_model.load(str(tmp_path / "exported"))
    got = [s.decode() for s in restored.translate(tf.constant(sentences)).numpy()]
    assert got == translator.translate(sentences)
