"""`Translator`: a model, both vectorizers and decoding, saved and loaded as one folder.

A run folder holds `model.keras`, `english_vocab.txt`, `spanish_vocab.txt` and `config.json`;
`Translator.load(folder)` needs nothing else.

A run folder is loaded with `Translator.load("runs/small")`. Here, an untrained translator
built from tiny vocabularies:

Example:
>>> from nmt.config import resolve_config
>>> pairs = [("I love AI.", "Me encanta la IA."), ("Go.", "Ve.")]
>>> config = resolve_config("transformer", "tiny", vocab_size=40, sequence_length=8)
>>> translator = Translator.create(config, *make_tokenizers(config, pairs))
>>> outputs = translator.translate(["I love AI.", "", "?"])
>>> len(outputs), outputs[1:]   # blank input, or punctuation only, gives a blank line
(3, ['', ''])
"""

import os
import warnings
import zipfile

import keras
import numpy as np
import tensorflow as tf

from data.tokenizers import learn_tokenizers, tokenizer_class
from models import metrics  # noqa: F401  (registers the metrics a saved, compiled model names)
from models.decoding import decode
from models.registry import MODELS
from nmt.hardware import build_precision
from nmt.runs import (CONFIG_FILE, MODEL_FILE, SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE, RunError,
                      check_run_files, load_config, save_config, write_file)


def build_model(config, source_vocab_size=None, target_vocab_size=None):
    """The Keras model for `config.model` (logits for the next Spanish token).

    The builder of `models.registry.MODELS[config.model]` gets the config fields named like its
    arguments; the vocabulary sizes default to `config.vocab_size`.
    """
    spec = MODELS[config.model]
    values = dict(source_vocab_size=source_vocab_size or config.vocab_size,
                  target_vocab_size=target_vocab_size or config.vocab_size)
    values.update({name: getattr(config, name) for name in spec.build_arguments()
                   if name not in values})
    return spec.build(**values)


def make_tokenizers(config, train_pairs):
    """Learn the English and Spanish vocabularies (`config.tokenizer`) on the training pairs."""
    return learn_tokenizers(config.tokenizer, [e for e, _ in train_pairs],
                            [s for _, s in train_pairs], config.vocab_size,
                            config.sequence_length, shared_vocab=config.shared_vocab)


def read_tokenizers(config, folder):
    """The English and Spanish tokenizers saved in a run folder (a file that is missing or not
    a vocabulary of `config.tokenizer` is a `RunError` naming it)."""
    tokenizers = []
    for name, length, language in ((SOURCE_VOCAB_FILE, config.sequence_length, "english"),
                                   (TARGET_VOCAB_FILE, config.sequence_length + 1, "spanish")):
        path = os.path.join(folder, name)
        try:
            tokenizers.append(tokenizer_class(config.tokenizer).load(path, length, language))
        except (OSError, ValueError) as error:
            raise RunError(f"{path}: not a {config.tokenizer} vocabulary that this run can use "
                           f"({error})") from None
    if tokenizers[1].start_id is None or tokenizers[1].end_id is None:
        raise RunError(f"{os.path.join(folder, TARGET_VOCAB_FILE)}: has no [start] and [end] "
                       "tokens: not this run's Spanish vocabulary")
    return tuple(tokenizers)


class Translator:
    """English -> Spanish translation with one model and its vocabularies.

    Args:
        config: `Config` the model was built from.
        model: the Keras model (inputs "english", "spanish"; next-token logits).
        source_tokenizer, target_tokenizer: `data.tokenizer.Tokenizer`s for English and
            Spanish.
    """

    def __init__(self, config, model, source_tokenizer, target_tokenizer):
        self.config = config
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.steps = MODELS[config.model].steps(model)
        self._compiled = {}

    @classmethod
    def create(cls, config, source_tokenizer, target_tokenizer):
        model = build_model(config, source_tokenizer.vocab_size, target_tokenizer.vocab_size)
        return cls(config, model, source_tokenizer, target_tokenizer)

    # Saving and loading.

    def save(self, folder):
        """Write the run files (each crash-safe: a temporary file, then a rename)."""
        os.makedirs(folder, exist_ok=True)
        self.save_vocabularies(folder)
        write_file(os.path.join(folder, MODEL_FILE), self.model.save)

    def save_vocabularies(self, folder):
        """Write both vocabulary files, then config.json (whose presence marks a run that has
        started: a resume needs the vocabularies); the model is written by `save`."""
        write_file(os.path.join(folder, SOURCE_VOCAB_FILE), self.source_tokenizer.save)
        write_file(os.path.join(folder, TARGET_VOCAB_FILE), self.target_tokenizer.save)
        save_config(folder, self.config)

    @classmethod
    def load(cls, folder):
        """The translator saved in a run folder.

        The model is rebuilt from `config.json` by its builder (so it holds its parts), in the
        precision it was trained in, and the weights of `model.keras` are loaded into it.
        """
        check_run_files(folder)
        config = load_config(folder)
        source, target = read_tokenizers(config, folder)
        with build_precision(config.precision):
            model = build_model(config, source.vocab_size, target.vocab_size)
        path = os.path.join(folder, MODEL_FILE)
        if not zipfile.is_zipfile(path):
            raise RunError(f"{path}: damaged or not a Keras model file (was it cut short?); "
                           "train the run again")
        try:
            with warnings.catch_warnings():
                # Keras warns, and loads nothing into them, about layers missing from the file.
                warnings.simplefilter("error", UserWarning)
                model.load_weights(path)
        except (ValueError, KeyError, UserWarning) as error:
            raise RunError(f"{path}: does not match {CONFIG_FILE} and the vocabulary files "
                           f"({str(error).splitlines()[0]})") from None
        return cls(config, model, source, target)

    def vectorize(self, pairs):
        """Pairs -> (English ids (n, len), Spanish `[start] .. [end]` ids (n, len + 1))."""
        source = self.source_tokenizer.encode([e for e, _ in pairs])
        target = self.target_tokenizer.encode([s for _, s in pairs], markers=True)
        return source, target

    # Decoding.

    def _decode_function(self, max_length, options):
        """A compiled encode + decode for one set of decoding options (traced once, reused)."""
        key = (max_length, tuple(sorted(options.items())))
        if key not in self._compiled:
            steps = self.steps
            start_id, end_id = self.target_tokenizer.start_id, self.target_tokenizer.end_id

            @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64),
                                          tf.TensorSpec([], tf.int64)])
            def run(source, seed):
                state = steps.encode(source)
                cache = steps.init_cache(state, max_length)
                start = tf.fill([tf.shape(source)[0]], tf.constant(start_id, tf.int64))
                return decode(steps.next_fn, start, cache, max_length, end_id, seed=seed, **options)

            self._compiled[key] = run
        return self._compiled[key]

    def translate_ids(self, source_ids, strategy="greedy", max_length=None, temperature=1.0,
                      top_k=0, top_p=1.0, num_beams=4, alpha=0.6, seed=0):
        """(batch, src_len) English ids -> (batch, max_length + 1) Spanish ids from `[start]`.

        `strategy` is "greedy", "sample" (`temperature`, `top_k`, `top_p`, `seed`) or "beam"
        (`num_beams`, length penalty `alpha`); see `models/decoding.py`.
        """
        max_length = max_length or self.config.sequence_length
        learned_positions = "sequence_length" in MODELS[self.config.model].build_arguments()
        if learned_positions and max_length > self.config.sequence_length:
            raise ValueError(f"max_length={max_length} is longer than the "
                             f"{self.config.sequence_length} positions this model learned")
        options = {"strategy": strategy}
        if strategy == "sample":
            options.update(temperature=float(temperature), top_k=int(top_k), top_p=float(top_p))
        elif strategy == "beam":
            options.update(num_beams=int(num_beams), alpha=float(alpha))
        run = self._decode_function(max_length, options)
        source_ids = np.asarray(source_ids, dtype="int64")
        # Drop the columns that are padding in every row (no effect on outputs, less work).
        width = max(1, int((source_ids != 0).sum(axis=1).max(initial=0)))
        return run(tf.constant(source_ids[:, :width]), tf.constant(seed, tf.int64)).numpy()

    def translate(self, sentences, batch_size=256, return_ids=False, progress=False, seed=0,
                  **decoding):
        """Translate a list of English strings; blank inputs (or only punctuation) give blank outputs.

        Sentences are sorted by length and decoded `batch_size` at a time; the output order is
        the input order. `decoding` options go to `translate_ids` (strategy, num_beams, ...).
        """
        sentences = list(sentences)
        outputs = [""] * len(sentences)
        ids_out = [None] * len(sentences)
        work = [i for i, s in enumerate(sentences) if s.strip()]
        if work:
            source_ids = self.source_tokenizer.encode([sentences[i] for i in work])
            # A sentence with no words left (only punctuation) is blank too.
            has_words = source_ids.any(axis=1)
            work = [i for i, keep in zip(work, has_words) if keep]
            source_ids = source_ids[has_words]
        bar = keras.utils.Progbar(len(work), unit_name="sentence") if progress and work else None
        if work:
            order = np.argsort((source_ids != 0).sum(axis=1), kind="stable")
            for begin in range(0, len(order), batch_size):
                chunk = order[begin : begin + batch_size]
                ids = self.translate_ids(source_ids[chunk], seed=seed + begin, **decoding)
                for row, j in zip(ids, chunk):
                    outputs[work[j]] = self.target_tokenizer.decode([row])[0]
                    ids_out[work[j]] = row
                if bar is not None:
                    bar.add(len(chunk))
        return (outputs, ids_out) if return_ids else outputs

    def overlong(self, sentences):
        """Indices of sentences longer than the model's source length (they get truncated)."""
        counts = self.source_tokenizer.token_counts(sentences) if sentences else []
        return [i for i, n in enumerate(counts) if n > self.config.sequence_length]

    def attention(self, sentence, target_ids):
        """Cross-attention (heads, tgt_len, src_len), source tokens and target tokens, for plots."""
        source_ids = self.source_tokenizer.encode([sentence])
        width = max(1, int((source_ids != 0).sum()))
        source_ids = source_ids[:, :width]
        target_ids = np.asarray(target_ids)
        end = np.nonzero(target_ids == self.target_tokenizer.end_id)[0]
        length = int(end[0]) + 1 if len(end) else int((target_ids != 0).sum())
        inputs = target_ids[None, : max(length - 1, 1)]
        weights = self.steps.attention(tf.constant(source_ids), tf.constant(inputs))
        if weights is None:
            return None
        return (np.asarray(weights)[0], self.source_tokenizer.tokens(source_ids[0]),
                self.target_tokenizer.tokens(target_ids[1:length]))
