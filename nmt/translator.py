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
>>> isinstance(translator.translate("I love AI."), str)   # a string gives a string
True
>>> [len(h) for h in translator.translate(["I love AI.", ""], nbest=2)]   # n-best implies beam
[2, 0]

`import nmt.translator` also registers everything a run's `model.keras` names, so
`keras.saving.load_model("runs/small/model.keras")` loads it as it was saved.
"""

import contextlib
import functools
import os
import sys
import typing
import warnings
import zipfile

import keras
import numpy as np
import tensorflow as tf

from data.tokenizers import learn_tokenizers, tokenizer_class
# Registers every serializable object a saved, compiled model.keras names (the layers come with
# `models.registry`), so after `import nmt.translator` plain `keras.saving.load_model` loads it.
from models import metrics, optimizers, schedules  # noqa: F401
from models.decoding import beam_search, decode as decode_tokens
from models.registry import MODELS
from nmt.config import ConfigError, Decoding
from nmt.hardware import build_precision
from nmt.runs import (CONFIG_FILE, MODEL_FILE, SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE, RunError,
                      check_run_files, load_config, save_config, write_file)


# The mark of a CTranslate2 export (`nmt export --format ctranslate2`): `nmt.ctranslate2` loads
# those folders; `Translator.load` names it.
CTRANSLATE2_MARK = ".nmt-ctranslate2"


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


class Hypothesis(typing.NamedTuple):
    """One translation of a sentence: its text, its score (see `Translator.hypotheses`; None
    when not computed) and its Spanish ids from `[start]` (None for a blank input)."""

    translation: str
    score: typing.Optional[float]
    ids: typing.Optional[np.ndarray]


def _trim(source_ids):
    """int64 ids without the columns that are padding in every row (no effect on outputs, less
    work)."""
    source_ids = np.asarray(source_ids, dtype="int64")
    return source_ids[:, : max(1, int((source_ids != 0).sum(axis=1).max(initial=0)))]


class _ProgressBar:
    """Keras' progress bar, drawn on standard error (standard output carries translations)."""

    def __init__(self, total):
        with contextlib.redirect_stdout(sys.stderr):
            self._bar = keras.utils.Progbar(total, unit_name="sentence")

    def add(self, count):
        with contextlib.redirect_stdout(sys.stderr):
            self._bar.add(count)


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
        precision it was trained in, and the weights of `model.keras` are loaded into it. A
        CTranslate2 export is loaded by `nmt.ctranslate2.load_translator`, which loads both.
        """
        if os.path.isfile(os.path.join(folder, CTRANSLATE2_MARK)):
            raise RunError(f"{folder}: a CTranslate2 export, not a run folder; load it with "
                           f"nmt.ctranslate2.load_translator({folder!r})")
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

    # XLA-compile the decoders (opt-in: `translator.jit_compile = True`). On CPU it fuses the
    # many small ops of each decoding step (benchmarks/ctranslate2_speed.py measures it), but
    # compiles once per source width (rounded up to a multiple of 8 here) and batch size, a few
    # seconds each, and its float rounding differs from the graph's, so it is off by default.
    jit_compile = False

    # Compiled decoders kept at most (one per max_length and set of options; the oldest goes),
    # so a server asked for ever new temperatures does not keep every trace.
    MAX_COMPILED = 16

    def _decode_function(self, max_length, options):
        """A compiled encode + decode for one set of decoding options (traced once, reused).

        The strategy "nbest" is beam search returning every beam and its score, best first."""
        key = (max_length, self.jit_compile, tuple(sorted(options.items())))
        if key not in self._compiled:
            # XLA compiles one shape per loop variable: caches of `max_length` slots.
            steps = (MODELS[self.config.model].steps(self.model, fixed_shapes=True)
                     if self.jit_compile else self.steps)
            start_id, end_id = self.target_tokenizer.start_id, self.target_tokenizer.end_id

            @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64),
                                          tf.TensorSpec([], tf.int64)],
                         jit_compile=self.jit_compile)
            def run(source, seed):
                state = steps.encode(source)
                cache = steps.init_cache(state, max_length)
                start = tf.fill([tf.shape(source)[0]], tf.constant(start_id, tf.int64))
                if options["strategy"] == "nbest":
                    return beam_search(steps.next_fn, start, cache, max_length, end_id,
                                       options["num_beams"], options["alpha"], return_all=True)
                return decode_tokens(steps.next_fn, start, cache, max_length, end_id, seed=seed,
                                     **options)

            self._remember(key, run)
        return self._compiled[key]

    def _remember(self, key, function):
        """Keep a compiled function under `key`, dropping the oldest beyond `MAX_COMPILED`."""
        while len(self._compiled) >= self.MAX_COMPILED:
            self._compiled.pop(next(iter(self._compiled)))
        self._compiled[key] = function

    def check_decoding(self, decoding):
        """Raise `ConfigError` for a `Decoding` this model cannot run: more output tokens than a
        Transformer learned positions for, or a top_k beyond the Spanish vocabulary."""
        max_length = decoding.max_length or self.config.sequence_length
        learned_positions = "sequence_length" in MODELS[self.config.model].build_arguments()
        if learned_positions and max_length > self.config.sequence_length:
            raise ConfigError(f"max_length={max_length} (--max-length) is longer than the "
                              f"{self.config.sequence_length} positions this model learned")
        if decoding.decode == "sample" and decoding.top_k > self.target_tokenizer.vocab_size:
            raise ConfigError(f"top_k={decoding.top_k} (--top-k) is larger than the Spanish "
                              f"vocabulary ({self.target_tokenizer.vocab_size:,})")

    def translate_ids(self, source_ids, decode="greedy", max_length=None, temperature=1.0,
                      top_k=0, top_p=1.0, num_beams=4, alpha=0.6, seed=0):
        """(batch, src_len) English ids -> (batch, max_length + 1) Spanish ids from `[start]`.

        `decode` is "greedy", "sample" (`temperature`, `top_k`, `top_p`, `seed`) or "beam"
        (`num_beams`, length penalty `alpha`); see `models/decoding.py`.
        """
        max_length = max_length or self.config.sequence_length
        self.check_decoding(Decoding(max_length=max_length))
        options = {"strategy": decode}
        if decode == "sample":
            options.update(temperature=float(temperature), top_k=int(top_k), top_p=float(top_p))
        elif decode == "beam":
            options.update(num_beams=int(num_beams), alpha=float(alpha))
        run = self._decode_function(max_length, options)
        return run(tf.constant(self._batch_ids(source_ids)), tf.constant(seed, tf.int64)).numpy()

    def _beams(self, source_ids, num_beams, alpha, max_length):
        """Every beam of a beam search, best first: tokens (batch, num_beams, max_length + 1)
        and scores (batch, num_beams) (log-probability / GNMT length penalty)."""
        run = self._decode_function(max_length, {"strategy": "nbest", "num_beams": int(num_beams),
                                                 "alpha": float(alpha)})
        tokens, scores = run(tf.constant(self._batch_ids(source_ids)), tf.constant(0, tf.int64))
        return tokens.numpy(), scores.numpy()

    def _batch_ids(self, source_ids):
        """The source ids a decoder gets: without the all-padding columns (`_trim`); with
        `jit_compile`, padded back to a multiple of 8 columns, so that XLA compiles a few widths
        only (padding never changes an output)."""
        source_ids = _trim(source_ids)
        if not self.jit_compile:
            return source_ids
        width = min(-(-source_ids.shape[1] // 8) * 8, max(self.config.sequence_length,
                                                          source_ids.shape[1]))
        return np.pad(source_ids, [(0, 0), (0, width - source_ids.shape[1])])

    def token_log_probs(self, source_ids, target_ids):
        """The sum of the log-probabilities the model gives each row's tokens after `[start]`,
        through `[end]` (one teacher-forced pass; the model's own distribution, at temperature
        1 and unfiltered): (batch,) float."""
        target_ids = np.asarray(target_ids, dtype="int64")
        width = max(2, int(np.nonzero(target_ids.any(axis=0))[0].max(initial=0)) + 1)
        inputs, labels = target_ids[:, : width - 1], target_ids[:, 1:width]
        logits = self.model({"english": _trim(source_ids), "spanish": inputs}, training=False)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1).numpy()
        picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
        return (picked * (labels != 0)).sum(axis=1)

    def translate(self, sentences, *, decode=None, num_beams=None, alpha=None, temperature=None,
                  top_k=None, top_p=None, seed=None, max_length=None, nbest=None,
                  batch_size=None, return_ids=False, progress=False, strategy=None):
        """Translate English text: a string gives a string, a list of strings a list.

        The keywords are those of `nmt translate`'s flags (`nmt.config.Decoding`); one left out
        takes its default, and one that only another decoding reads implies it (num_beams,
        alpha, nbest: beam search; temperature, top_k, top_p: sampling) or, with a `decode`
        that would ignore it, is a `ConfigError`. Blank inputs (or only punctuation) give blank
        outputs. Sentences are sorted by length and decoded `batch_size` at a time; the output
        order is the input order.

        Args:
            sentences: str, or a list (any iterable) of str.
            decode: "greedy" (default), "sample" or "beam".
            nbest: int. With beam search, each output is instead a list of up to `nbest`
                `Hypothesis(translation, score, ids)`, best first (a blank input gives []).
            return_ids: bool. Also return the Spanish ids of each output (from `[start]`; None
                for a blank input): `(outputs, ids)`.
            progress: bool. A progress bar on standard error.
            strategy: the former name of `decode`.
        """
        if strategy is not None:
            if decode is not None and decode != strategy:
                raise TypeError(f"decode={decode!r} and strategy={strategy!r}: strategy is the "
                                "former name of decode; give one")
            decode = strategy
        decoding = Decoding.from_options(
            decode=decode, num_beams=num_beams, alpha=alpha, temperature=temperature, top_k=top_k,
            top_p=top_p, seed=seed, max_length=max_length, nbest=nbest, batch_size=batch_size)
        if return_ids and decoding.nbest:
            raise TypeError("return_ids=True with nbest: each Hypothesis holds its ids")
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"translate() takes a string or a list of strings; item {i} is "
                                f"{type(text).__name__}")
        found = self.hypotheses(texts, decoding, progress=progress)
        if decoding.nbest:
            return found[0] if single else found
        outputs, ids = [h[0].translation for h in found], [h[0].ids for h in found]
        if single:
            outputs, ids = outputs[0], ids[0]
        return (outputs, ids) if return_ids else outputs

    def hypotheses(self, sentences, decoding, scores=False, progress=False):
        """Per sentence, a list of `Hypothesis(translation, score, ids)`, best first: up to
        `decoding.nbest` of them with n-best beam search, else one.

        A blank sentence gives `[Hypothesis("", None, None)]` ([] for n-best). The score is
        beam search's (log-probability / GNMT length penalty) with beam search and `scores` or
        n-best; with greedy or sampling and `scores`, the sum of the log-probabilities of the
        tokens (`token_log_probs`); else None.
        """
        self.check_decoding(decoding)
        max_length = decoding.max_length or self.config.sequence_length
        sentences = list(sentences)
        found = [[] if decoding.nbest else [Hypothesis("", None, None)] for _ in sentences]
        work = [i for i, s in enumerate(sentences) if s.strip()]
        if work:
            source_ids = self.source_tokenizer.encode([sentences[i] for i in work])
            # A sentence with no words left (only punctuation) is blank too.
            has_words = source_ids.any(axis=1)
            work = [i for i, keep in zip(work, has_words) if keep]
            source_ids = source_ids[has_words]
        if not work:
            return found
        bar = _ProgressBar(len(work)) if progress else None
        order = np.argsort((source_ids != 0).sum(axis=1), kind="stable")
        for begin in range(0, len(order), decoding.batch_size):
            chunk = order[begin : begin + decoding.batch_size]
            found_here = self._chunk_hypotheses(source_ids[chunk], decoding, max_length, scores,
                                                seed=decoding.seed + begin)
            for j, hypotheses in zip(chunk, found_here):
                found[work[j]] = hypotheses
            if bar is not None:
                bar.add(len(chunk))
        return found

    def _chunk_hypotheses(self, source_ids, decoding, max_length, scores, seed):
        """One batch of `hypotheses`: (batch, src_len) ids -> per row, a list of `Hypothesis`,
        best first (an export's translator decodes its own way here)."""
        found = []
        if decoding.decode == "beam" and (scores or decoding.nbest):
            tokens, beam_scores = self._beams(source_ids, decoding.num_beams, decoding.alpha,
                                              max_length)
            keep = decoding.nbest or 1
            for rows, row_scores in zip(tokens, beam_scores):
                texts = self.target_tokenizer.decode(rows[:keep])
                # A beam that never got a real token (a vocabulary smaller than num_beams) is
                # left out.
                found.append([Hypothesis(text, float(score), row) for text, score, row
                              in zip(texts, row_scores[:keep], rows[:keep]) if score > -1e8])
            return found
        options = {name: value for name, value in decoding.options().items()
                   if name not in ("nbest", "max_length")}
        ids = self.translate_ids(source_ids, seed=seed, max_length=max_length, **options)
        texts = self.target_tokenizer.decode(ids)
        sums = self.token_log_probs(source_ids, ids) if scores else [None] * len(ids)
        return [[Hypothesis(text, None if score is None else float(score), row)]
                for text, score, row in zip(texts, sums, ids)]

    def translate_nbest(self, sentence, num_beams=4, alpha=0.6, max_length=None):
        """Every beam of a beam search for one sentence, best first: a list of
        `Hypothesis(translation, score, ids from [start])`; the score is the log-probability
        divided by the GNMT length penalty (`models.decoding.beam_search`). A blank sentence
        gives []."""
        decoding = Decoding(decode="beam", num_beams=num_beams, alpha=alpha,
                            max_length=max_length or 0, nbest=num_beams).validate()
        return self.hypotheses([sentence], decoding)[0]

    def overlong(self, sentences):
        """Indices of sentences longer than the model's source length (they get truncated)."""
        counts = self.source_tokenizer.token_counts(sentences) if sentences else []
        return [i for i, n in enumerate(counts) if n > self.config.sequence_length]

    def attention(self, sentence, target_ids, all_layers=False, compiled=False):
        """Cross-attention (heads, tgt_len, src_len), source tokens and target tokens, for plots;
        None for a model without attention. With `all_layers` the weights are those of every
        decoder block: (layers, heads, tgt_len, src_len). `compiled` traces the computation once
        and reuses it (a server's many requests; a single plot is faster without)."""
        source_ids = self.source_tokenizer.encode([sentence])
        width = max(1, int((source_ids != 0).sum()))
        source_ids = source_ids[:, :width]
        target_ids = np.asarray(target_ids)
        end = np.nonzero(target_ids == self.target_tokenizer.end_id)[0]
        length = int(end[0]) + 1 if len(end) else int((target_ids != 0).sum())
        inputs = target_ids[None, : max(length - 1, 1)]
        run = functools.partial(self.steps.attention, all_layers=all_layers)
        if compiled:
            key = ("attention", all_layers)
            if key not in self._compiled:
                self._remember(key, tf.function(
                    run, input_signature=[tf.TensorSpec([None, None], tf.int64)] * 2))
            run = self._compiled[key]
        weights = run(tf.constant(source_ids, tf.int64), tf.constant(inputs, tf.int64))
        if weights is None:
            return None
        return (np.asarray(weights)[0], self.source_tokenizer.tokens(source_ids[0]),
                self.target_tokenizer.tokens(target_ids[1:length]))
