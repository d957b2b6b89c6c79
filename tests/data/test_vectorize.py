"""data/vectorize.py: the book's standardization (registered, so it survives save/load) and the
word tokenizer's vocabulary file."""

import keras
import numpy as np
import tensorflow as tf

from data.vectorize import WordTokenizer, add_markers, normalize_like_book, spanish_standardize


def test_spanish_standardization_strips_inverted_marks_and_keeps_markers():
    out = spanish_standardize(tf.constant(["[start] ¿Dónde está la ESTACIÓN? ¡Ya! [end]"]))
    assert out.numpy()[0].decode() == "[start] dónde está la estación ya [end]"
    assert normalize_like_book(["¿Dónde está, la ESTACIÓN?"], "spanish") == ["dónde está la estación"]


def test_standardization_is_registered_so_a_saved_vectorizer_restores(tmp_path):
    layer = keras.layers.TextVectorization(output_sequence_length=5, standardize=spanish_standardize)
    layer.adapt(["[start] ¿hola mundo? [end]"])
    model = keras.Sequential([keras.Input(shape=(), dtype="string"), layer])
    path = str(tmp_path / "vectorizer.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    text = tf.constant(["[start] ¿Hola? [end]"])
    np.testing.assert_array_equal(restored(text), model(text))
    assert restored.layers[0]._standardize is spanish_standardize


def test_vocabulary_file_round_trip_gives_same_ids(tmp_path):
    texts = add_markers(["hola mundo", "adiós mundo", "hola"])
    tok = WordTokenizer.adapt(texts, vocab_size=10, sequence_length=6, language="spanish")
    tok.save(tmp_path / "vocab.txt")
    loaded = WordTokenizer.load(tmp_path / "vocab.txt", 6, "spanish")
    np.testing.assert_array_equal(loaded.encode(texts), tok.encode(texts))
    assert loaded.start_id == tok.start_id and loaded.end_id == tok.end_id
    # Decoding drops [start], stops at [end]; unknown words become [UNK].
    assert tok.decode(tok.encode(add_markers(["hola xyz"]))) == ["hola [UNK]"]
