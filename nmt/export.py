"""Export a `Translator` as a TensorFlow SavedModel: English strings in, Spanish strings out.

Vectorization, encoding, cached decoding and detokenization all run inside the graph, so the
SavedModel serves with plain TensorFlow, in a process that does not import this project:

    translate = tf.saved_model.load("exported").translate
    translate(tf.constant(["Where is the station?"]))
    # <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'dónde está la estación'], ...)>
"""

import keras
import tensorflow as tf

from models.decoding import decode
from nmt.runs import RunError


def export_saved_model(translator, path, strategy="greedy", num_beams=4, alpha=0.6):
    """Write `translator` to `path` with one endpoint `translate(strings) -> strings`."""
    if translator.config.tokenizer != "word":
        raise RunError(f"tokenizer={translator.config.tokenizer!r}: export supports the word "
                       "tokenizer only (its vectorizer is a Keras layer that runs in the graph)")
    steps = translator.steps
    vectorizer = translator.source_tokenizer.layer
    target = translator.target_tokenizer
    vocabulary = tf.constant(list(target.tokens(range(target.vocab_size))))
    max_length = translator.config.sequence_length
    options = {"strategy": strategy}
    if strategy == "beam":
        options.update(num_beams=num_beams, alpha=alpha)
    elif strategy != "greedy":
        raise ValueError(f"strategy={strategy!r}: export supports 'greedy' and 'beam'")

    def translate(sentences):
        source = tf.cast(vectorizer(sentences), tf.int64)  # (batch, src_len)
        state = steps.encode(source)
        cache = steps.init_cache(state, max_length)
        start = tf.fill([tf.shape(source)[0]], tf.constant(target.start_id, tf.int64))
        tokens = decode(steps.next_fn, start, cache, max_length, target.end_id, **options)[:, 1:]
        # Keep the words before the first [end]; drop padding and [start] (as WordTokenizer.decode).
        before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(tokens, target.end_id), tf.int32),
                                        axis=1), 0)
        keep = tf.logical_and(before_end, tf.logical_and(tf.not_equal(tokens, 0),
                                                         tf.not_equal(tokens, target.start_id)))
        words = tf.ragged.boolean_mask(tf.gather(vocabulary, tokens), keep)
        text = tf.strings.reduce_join(words, axis=1, separator=" ")
        blank = tf.reduce_all(tf.equal(source, 0), axis=1)  # no words (blank or punctuation)
        return tf.where(blank, tf.fill(tf.shape(text), ""), text)

    vectorizer(tf.constant([""]))  # builds the layer (export needs built layers)
    archive = keras.export.ExportArchive()
    archive.track(translator.model)
    archive.track(vectorizer)
    archive.add_endpoint("translate", translate,
                         input_signature=[tf.TensorSpec([None], tf.string, name="english")])
    archive.write_out(path, verbose=False)
    return path
