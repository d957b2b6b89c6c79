"""CTranslate2: export a Transformer run for fast CPU inference, and translate with the export.

[CTranslate2](https://opennmt.net/CTranslate2/) is a C++ inference engine for Transformer models
(fused kernels, int8/int16 weights, its own batched greedy, sampling and beam search). An export
is built from the run's Keras weights with CTranslate2's own model-spec API: a
`ctranslate2.specs.TransformerSpec` filled layer by layer (`transformer_spec`), which a
`ctranslate2.converters.Converter` subclass returns from `_load()` and CTranslate2 validates,
quantizes and writes (`Converter.convert`). Nothing of CTranslate2 is reimplemented here.

An export folder (written to a temporary folder beside it, then renamed into place):

    OUT/model.bin, OUT/config.json, OUT/*vocabulary.json   CTranslate2's model
    OUT/run/config.json, english_vocab.txt, spanish_vocab.txt   this project's config and
                                                             tokenizers (as in a run folder)
    OUT/.nmt-ctranslate2                                     the mark (JSON: format, quantization,
                                                             CTranslate2 version, run)

`load_translator(folder)` loads a run folder (`Translator`) or an export
(`CTranslate2Translator`); both have the methods `nmt translate` and `nmt serve` use
(`hypotheses`, `translate`, `translate_nbest`, `overlong`, `check_decoding`), and the tokenizers
are this project's. `ctranslate2` is imported only when an export is written or loaded.

Decoding, against `models/decoding.py` (docs/ctranslate2.md has the measurements):
- greedy: the same rule (the most likely token, `[end]` allowed from the first step:
  `min_decoding_length=0`); the outputs differ only where float32 rounding in other kernels
  flips a near-tie between two tokens.
- beam: CTranslate2's search ranks hypotheses by log-probability and sets each finished one
  aside, filling its place with the next candidate, until `num_beams` have finished; ours keeps
  a finished hypothesis in the beam while its GNMT-normalised score stays among the best
  `num_beams`. CTranslate2's length penalty is `length ** length_penalty`, not GNMT's
  `((5 + length) / 6) ** alpha`, so it is asked for every finished hypothesis with its raw
  log-probability (`length_penalty=0`) and they are ranked here by GNMT's formula with `--alpha`:
  the score is exactly ours; only the set of hypotheses the search finds can differ.
- sample: the same distribution (temperature, then top-k, then top-p on the tempered
  probabilities), drawn by CTranslate2's random generator (`ctranslate2.set_random_seed`): the
  same seed gives the same draws, but not those of TensorFlow.

Example (an untrained tiny model, exported and loaded back):
>>> import tempfile
>>> from nmt.config import resolve_config
>>> from nmt.translator import Translator, make_tokenizers
>>> pairs = [("I love AI.", "Me encanta la IA."), ("Go.", "Ve.")]
>>> config = resolve_config("transformer", "tiny", vocab_size=40, sequence_length=8)
>>> keras_translator = Translator.create(config, *make_tokenizers(config, pairs))
>>> folder = export_ctranslate2(keras_translator, tempfile.mkdtemp() + "/tiny-ct2")
>>> ct2 = load_translator(folder)
>>> ct2.translate("I love AI.") == keras_translator.translate("I love AI.")
True
"""

import functools
import json
import os
import shutil

import numpy as np

from nmt.export import _commit, _sync_tree
from nmt.runs import RunError, load_config, write_text
from nmt.translator import CTRANSLATE2_MARK, Hypothesis, Translator, read_tokenizers

FORMAT = "ctranslate2"
MARKER_FILE = CTRANSLATE2_MARK
RUN_SUBFOLDER = "run"  # the project's config.json and vocabularies (CTranslate2 has its own config.json)
# CTranslate2's weight types (`ctranslate2.specs.model_spec.ACCEPTED_MODEL_TYPES`, checked by a
# test), here so that `nmt -h` does not import CTranslate2.
QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16",
                 "bfloat16", "float32")
VERSION = "4.8.5"  # the pinned version (requirements.txt)
PADDING_TOKEN = "<blank>"  # id 0, "" in this project's vocabularies (CTranslate2 needs a name)
ATTENTION_NOTE = ("attention is not available for a CTranslate2 export (CTranslate2 returns no "
                  "per-layer, per-head cross-attention; serve the run folder it was exported "
                  "from to see it)")


def _import_ctranslate2():
    try:
        import ctranslate2
    except ImportError:
        raise RunError(f"CTranslate2 is not installed: pip install ctranslate2=={VERSION}") \
            from None
    return ctranslate2


# What CTranslate2 can represent.


def unsupported(translator):
    """Why `translator`'s model cannot be a CTranslate2 `TransformerSpec`, in one line, or None.

    Read from the layers themselves: the model kind, one layer-norm epsilon for the whole model
    (CTranslate2 has one, `layer_norm_epsilon`), LayerNorms with a scale and an offset, ReLU
    feed-forward layers and attention projections with biases.
    """
    import keras

    config = translator.config
    if config.model != "transformer":
        return (f"it is a {config.model} run, and CTranslate2 exports Transformer runs only (it "
                "has no GRU encoder-decoder); use --format savedmodel")
    parts = translator.model.parts
    norms = [getattr(block, name) for block in parts.encoders + parts.decoders
             for name in ("layernorm_1", "layernorm_2", "layernorm_3") if hasattr(block, name)]
    norms += [norm for norm in (parts.encoder_norm, parts.decoder_norm) if norm is not None]
    epsilons = sorted({float(norm.epsilon) for norm in norms})
    if len(epsilons) > 1:
        return (f"its LayerNorms use different epsilons ({', '.join(f'{e:g}' for e in epsilons)}); "
                "CTranslate2 has one layer_norm_epsilon for the whole model")
    if any(getattr(norm, "rms_scaling", False) or not (norm.center and norm.scale)
           for norm in norms):
        return "a LayerNorm without scale and offset: CTranslate2's LayerNorm has both"
    for block in parts.encoders + parts.decoders:
        if block.dense_1.activation is not keras.activations.relu or \
                block.dense_2.activation is not keras.activations.linear:
            return (f"{block.name}: a feed-forward activation other than ReLU, which this "
                    "export does not map")
        attentions = [block.attention] if hasattr(block, "attention") else \
            [block.self_attention, block.cross_attention]
        if any(not attention._use_bias for attention in attentions):
            return f"{block.name}: attention projections without biases"
    return None


def check_exportable(translator):
    """Raise `RunError` (one line) for a model CTranslate2 cannot represent."""
    reason = unsupported(translator)
    if reason:
        raise RunError(f"--format ctranslate2 cannot export this run: {reason}")


# Keras weights -> CTranslate2 spec.


def _numpy(variable):
    import keras

    return np.ascontiguousarray(keras.ops.convert_to_numpy(variable), dtype="float32")


def _set_dense(spec, dense):
    """A Keras Dense (kernel (in, out)) into a CTranslate2 LinearSpec (weight (out, in))."""
    spec.weight = np.ascontiguousarray(_numpy(dense.kernel).T)
    spec.bias = _numpy(dense.bias)


def _projection(einsum_dense):
    """A Keras attention projection, kernel (embed, heads, head_dim), as a LinearSpec with weight
    (heads * head_dim, embed): row h * head_dim + d is head h's dimension d, the order in which
    CTranslate2 splits heads."""
    from ctranslate2.specs import common_spec

    kernel = _numpy(einsum_dense.kernel)
    linear = common_spec.LinearSpec()
    linear.weight = np.ascontiguousarray(kernel.reshape(kernel.shape[0], -1).T)
    linear.bias = _numpy(einsum_dense.bias).reshape(-1)
    return linear


def _set_norm(spec, norm):
    spec.gamma = _numpy(norm.gamma)
    spec.beta = _numpy(norm.beta)


def _set_attention(spec, attention, norm, self_attention):
    """One attention sub-block: the fused query/key/value projections (CTranslate2's layout:
    self-attention [q | k | v], cross-attention q then [k | v]), the output projection and the
    sub-block's LayerNorm (applied before or after by CTranslate2, as `pre_norm` says)."""
    from ctranslate2.converters.utils import fuse_linear

    query, key, value = (_projection(dense) for dense in
                         (attention._query_dense, attention._key_dense, attention._value_dense))
    if self_attention:
        fuse_linear(spec.linear[0], [query, key, value])
    else:
        spec.linear[0].weight, spec.linear[0].bias = query.weight, query.bias
        fuse_linear(spec.linear[1], [key, value])
    # Output projection: kernel (heads, head_dim, embed) -> weight (embed, heads * head_dim).
    kernel = _numpy(attention._output_dense.kernel)
    spec.linear[-1].weight = np.ascontiguousarray(kernel.reshape(-1, kernel.shape[-1]).T)
    spec.linear[-1].bias = _numpy(attention._output_dense.bias)
    _set_norm(spec.layer_norm, norm)


def _set_feed_forward(spec, block, norm):
    _set_norm(spec.layer_norm, norm)
    _set_dense(spec.linear_0, block.dense_1)
    _set_dense(spec.linear_1, block.dense_2)


def _positions(embedding):
    """The (positions, embed_dim) table added to the token vectors: the learned one, or zeros
    for a model without positions (`--no-positional`), so that CTranslate2 adds nothing (without
    a table it would add its own sinusoids)."""
    if embedding.position_embeddings is not None:
        return _numpy(embedding.position_embeddings.embeddings)
    return np.zeros((embedding.sequence_length, embedding.output_dim), "float32")


def vocabulary_tokens(tokenizer):
    """The tokenizer's vocabulary as CTranslate2 token strings: the same list, with a name for
    padding (id 0 is "" here) that no other token has."""
    tokens = list(tokenizer.vocabulary)
    padding = PADDING_TOKEN
    while padding in tokens:
        padding += "_"
    tokens[0] = padding
    return tokens


def transformer_spec(translator):
    """A `ctranslate2.specs.TransformerSpec` holding `translator`'s model (`check_exportable`
    first): the same blocks, norms, positions, head widths and vocabularies."""
    from ctranslate2.specs import common_spec, transformer_spec as specs

    check_exportable(translator)
    config, parts = translator.config, translator.model.parts
    first = parts.encoders[0]
    # CTranslate2's head width defaults to embed_dim // num_heads; the 2nd edition's is wider.
    head_dim = None if first.head_dim * first.num_heads == first.embed_dim else first.head_dim
    options = dict(pre_norm=config.norm_first, activation=common_spec.Activation.RELU,
                   head_dim=head_dim)
    encoder = specs.TransformerEncoderSpec(config.num_layers, config.num_heads, **options)
    decoder = specs.TransformerDecoderSpec(config.num_layers, config.num_heads, **options)

    # Embeddings: token + position, not scaled by sqrt(embed_dim) (the book's layer).
    encoder.embeddings[0].weight = _numpy(parts.source_embedding.token_embeddings.embeddings)
    encoder.position_encodings.encodings = _positions(parts.source_embedding)
    encoder.scale_embeddings = False
    decoder.embeddings.weight = _numpy(parts.target_embedding.token_embeddings.embeddings)
    decoder.position_encodings.encodings = _positions(parts.target_embedding)
    decoder.scale_embeddings = False

    for spec, block in zip(encoder.layer, parts.encoders):
        _set_attention(spec.self_attention, block.attention, block.layernorm_1, True)
        _set_feed_forward(spec.ffn, block, block.layernorm_2)
    for spec, block in zip(decoder.layer, parts.decoders):
        _set_attention(spec.self_attention, block.self_attention, block.layernorm_1, True)
        _set_attention(spec.attention, block.cross_attention, block.layernorm_2, False)
        _set_feed_forward(spec.ffn, block, block.layernorm_3)
    if config.norm_first:  # pre-LN stacks end with a LayerNorm
        _set_norm(encoder.layer_norm, parts.encoder_norm)
        _set_norm(decoder.layer_norm, parts.decoder_norm)

    # The output layer: Dense, or the target embedding transposed plus its bias (tied; the
    # converter stores the shared matrix once).
    if parts.output_layer is None:
        decoder.projection.weight = decoder.embeddings.weight
        decoder.projection.bias = _numpy(parts.target_embedding.output_bias)
    else:
        _set_dense(decoder.projection, parts.output_layer)

    spec = specs.TransformerSpec(encoder, decoder)
    target = translator.target_tokenizer
    epsilon = float(first.layernorm_1.epsilon)
    spec.config.unk_token = target.vocabulary[target.unk_id]
    spec.config.bos_token = target.vocabulary[target.start_id]
    spec.config.eos_token = target.vocabulary[target.end_id]
    spec.config.decoder_start_token = target.vocabulary[target.start_id]
    spec.config.layer_norm_epsilon = epsilon
    spec.register_source_vocabulary(vocabulary_tokens(translator.source_tokenizer))
    spec.register_target_vocabulary(vocabulary_tokens(target))
    return spec


@functools.cache
def converter_class():
    """`KerasTransformerConverter`, a `ctranslate2.converters.Converter` whose `_load()` is
    `transformer_spec(translator)` (defined on first use: CTranslate2 is imported then)."""
    from ctranslate2.converters import Converter

    class KerasTransformerConverter(Converter):
        """Converts a `Translator` of a Transformer run (its Keras weights) to CTranslate2."""

        def __init__(self, translator):
            self.translator = translator

        def _load(self):
            return transformer_spec(self.translator)

    return KerasTransformerConverter


# Writing and reading an export.


def is_export(folder):
    """True when `folder` is a CTranslate2 export of this project (it holds the mark)."""
    return os.path.isfile(os.path.join(folder, MARKER_FILE))


def _check_out(out):
    if os.path.exists(out) and not os.path.isdir(out):
        raise RunError(f"--out {out}: is a file; give a new folder for the CTranslate2 model")
    if os.path.isdir(out) and os.listdir(out):
        raise RunError(f"--out {out}: exists and is not empty; give a new folder (an export is "
                       "written whole, never over another)")


def export_ctranslate2(translator, out, quantization="float32", run=None):
    """Write `translator` (a Transformer run) as a CTranslate2 model folder `out`; return `out`.

    Everything is checked before anything is written (`check_exportable`, the quantization,
    `out` new or empty). The model is written into a temporary folder beside `out`, with this
    project's config and vocabularies in `run/` and the mark, flushed, then renamed to `out`: a
    kill at any instant leaves no partial export.

    Args:
        translator: `nmt.translator.Translator` of a Transformer run.
        out: str. The export folder (must not exist, or be empty).
        quantization: one of `QUANTIZATIONS` (CTranslate2's weight types).
        run: str or None. The run folder it came from (recorded in the mark).
    """
    check_exportable(translator)
    if quantization not in QUANTIZATIONS:
        raise RunError(f"--quantization {quantization}: choose one of {', '.join(QUANTIZATIONS)}")
    _check_out(out)
    ctranslate2 = _import_ctranslate2()
    path = os.path.abspath(out)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = os.path.join(os.path.dirname(path),
                             f".{os.path.basename(path)}.tmp-{os.getpid()}")
    if os.path.exists(temporary):  # left by a killed export of a process with this id
        shutil.rmtree(temporary)
    try:
        converter_class()(translator).convert(temporary, quantization=quantization)
        os.makedirs(os.path.join(temporary, RUN_SUBFOLDER))
        translator.save_vocabularies(os.path.join(temporary, RUN_SUBFOLDER))
        mark = {"format": FORMAT, "quantization": quantization,
                "ctranslate2": ctranslate2.__version__,
                "run": os.path.abspath(run) if run else None,
                "what": "a CTranslate2 model exported by nmt export --format ctranslate2; "
                        "nmt translate --run and nmt serve --run load it"}
        write_text(os.path.join(temporary, MARKER_FILE), json.dumps(mark, indent=2) + "\n")
        _sync_tree(temporary)
        _commit(temporary, path)
    except OSError as error:
        raise RunError(f"--out {out}: cannot be written ({error.strerror or error})") from None
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary)
    return out


def read_mark(folder):
    """The export's mark (a dict); `RunError` if it is missing or damaged."""
    path = os.path.join(folder, MARKER_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            mark = json.load(f)
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: not a CTranslate2 export's mark ({error})") from None
    if not isinstance(mark, dict) or mark.get("format") != FORMAT:
        raise RunError(f"{path}: not a CTranslate2 export's mark")
    return mark


def _ctranslate2_vocabularies(folder):
    """(source tokens, target tokens) as CTranslate2 stored them."""
    def read(name):
        with open(os.path.join(folder, f"{name}_vocabulary.json"), encoding="utf-8") as f:
            return json.load(f)

    try:
        if os.path.isfile(os.path.join(folder, "shared_vocabulary.json")):
            shared = read("shared")
            return shared, shared
        return read("source"), read("target")
    except (OSError, ValueError) as error:
        raise RunError(f"{folder}: the CTranslate2 vocabularies cannot be read ({error})") \
            from None


def _load_model(folder, options):
    """`ctranslate2.Translator(folder, **options)`; `RunError` if CTranslate2 cannot load it."""
    ctranslate2 = _import_ctranslate2()
    try:
        return ctranslate2.Translator(folder, **options)
    except (RuntimeError, ValueError, OSError) as error:
        raise RunError(f"{folder}: CTranslate2 cannot load it "
                       f"({str(error).splitlines()[0] if str(error) else error})") from None


def load_translator(folder, **options):
    """The translator of `folder`: a `CTranslate2Translator` for a CTranslate2 export, else
    `Translator.load(folder)` (a run folder). `options` go to `CTranslate2Translator.load`."""
    if is_export(folder):
        return CTranslate2Translator.load(folder, **options)
    return Translator.load(folder)


# Translating with an export.


class CTranslate2Translator(Translator):
    """A `Translator` whose model is a CTranslate2 export: the same tokenizers, inputs, outputs
    and decoding options, decoded by `ctranslate2.Translator.translate_batch`.

    Args:
        config: the run's `Config`.
        model: `ctranslate2.Translator`.
        source_tokenizer, target_tokenizer: this project's tokenizers.
        source_tokens, target_tokens: the CTranslate2 vocabularies (token `i` is id `i`).
        mark: the export's mark (quantization, version, run).
        folder, load_options: where the model was loaded from, and how (`load`): sampling loads
            it again for each batch (see `_chunk_hypotheses`).
    """

    attention_note = ATTENTION_NOTE

    def __init__(self, config, model, source_tokenizer, target_tokenizer, source_tokens,
                 target_tokens, mark=None, folder=None, load_options=None):
        self.config = config
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.steps = None
        self._compiled = {}
        self.mark = mark or {}
        self.folder = folder
        self.load_options = dict(load_options or {})
        if len(source_tokens) != source_tokenizer.vocab_size or \
                len(target_tokens) != target_tokenizer.vocab_size:
            raise RunError("the CTranslate2 vocabularies do not match the run's vocabulary files")
        self._source_tokens = list(source_tokens)
        self._target_tokens = list(target_tokens)
        self._target_ids = {token: i for i, token in enumerate(target_tokens)}

    @property
    def quantization(self):
        return self.mark.get("quantization", "float32")

    @classmethod
    def load(cls, folder, device="cpu", compute_type="default", intra_threads=1):
        """The export in `folder`, loaded once (`RunError` if it is not one or is damaged).

        `compute_type` "default" computes in the type the weights were exported in (int8
        weights: int8 matrix products). `intra_threads` is 1 by default: on the 2-core AMD EPYC
        of docs/ctranslate2.md, CTranslate2's own default (a thread per core) made int8
        decoding about 7x slower (oneDNN's threads and OpenMP's oversubscribing the cores), and
        every model of the process after it; 0 lets CTranslate2 choose.
        """
        mark = read_mark(folder)
        run = os.path.join(folder, RUN_SUBFOLDER)
        config = load_config(run)
        source, target = read_tokenizers(config, run)
        options = dict(device=device, compute_type=compute_type, intra_threads=intra_threads)
        return cls(config, _load_model(folder, options), source, target,
                   *_ctranslate2_vocabularies(folder), mark=mark, folder=folder,
                   load_options=options)

    def save(self, folder):
        raise RunError("a CTranslate2 export cannot be saved as a run folder")

    def _source_batch(self, source_ids):
        """(batch, len) ids -> lists of CTranslate2 source tokens (padding left out)."""
        return [[self._source_tokens[i] for i in row if i] for row in np.asarray(source_ids)]

    def _ids(self, tokens, max_length):
        """CTranslate2 output tokens -> ids from [start], padded to max_length + 1 (the TF
        decoder's rows)."""
        ids = np.zeros(max_length + 1, "int64")
        ids[0] = self.target_tokenizer.start_id
        found = [self._target_ids.get(token, self.target_tokenizer.unk_id) for token in tokens]
        ids[1 : 1 + len(found)] = found[:max_length]
        return ids

    def _chunk_hypotheses(self, source_ids, decoding, max_length, scores, seed):
        """One batch through `translate_batch`: per row, a list of `Hypothesis`, best first."""
        options = dict(max_decoding_length=max_length, min_decoding_length=0,
                       return_end_token=True, max_input_length=0, length_penalty=0.0)
        beam = decoding.decode == "beam"
        model = self.model
        if beam:
            # Every finished hypothesis with its raw log-probability, ranked below by GNMT.
            options.update(beam_size=decoding.num_beams, num_hypotheses=decoding.num_beams,
                           return_scores=True)
        else:
            options.update(beam_size=1, return_scores=scores)
            if decoding.decode == "sample":
                # CTranslate2 draws from a generator per worker thread, seeded when the thread
                # first samples: a model loaded after `set_random_seed` (a new worker) draws the
                # same tokens for the same seed, as a new process would.
                _import_ctranslate2().set_random_seed(int(seed))
                if self.folder is not None:
                    model = _load_model(self.folder, self.load_options)
                options.update(sampling_topk=decoding.top_k, sampling_topp=decoding.top_p,
                               sampling_temperature=decoding.temperature)
        results = model.translate_batch(self._source_batch(source_ids), **options)
        found = []
        for result in results:
            rows = [self._ids(tokens, max_length) for tokens in result.hypotheses]
            raw = list(result.scores) if result.scores else [None] * len(rows)
            if beam:
                # GNMT: log-probability / ((5 + length) / 6) ** alpha, length counting [end]
                # (models.decoding.length_penalty); stable, as the TF decoder's ranking.
                lengths = [len(tokens) for tokens in result.hypotheses]
                ranked = sorted(zip(rows, raw, lengths),
                                key=lambda entry: -entry[1] / ((5.0 + entry[2]) / 6.0)
                                ** decoding.alpha)
                keep = ranked[: decoding.nbest or 1]
                rows = [row for row, _, _ in keep]
                raw = [score / ((5.0 + length) / 6.0) ** decoding.alpha
                       if scores or decoding.nbest else None for _, score, length in keep]
            texts = self.target_tokenizer.decode(rows)
            found.append([Hypothesis(text, None if score is None else float(score), row)
                          for text, score, row in zip(texts, raw, rows)])
        return found

    def translate_ids(self, source_ids, decode="greedy", max_length=None, **options):
        raise RunError("translate_ids needs the Keras model; a CTranslate2 export translates "
                       "text (translate, hypotheses)")

    def attention(self, sentence, target_ids, all_layers=False, compiled=False):
        """None: CTranslate2 returns no per-layer, per-head attention (`attention_note`)."""
        return None

    def next_logits(self, source_ids, target_ids):
        """(vocab,) logits of the token after `target_ids` (from `[start]`) for one source
        (1, src_len), as the Keras model's teacher-forced pass gives them at the last position
        (`nmt serve`'s next-token distribution): CTranslate2 decodes one step after
        `target_ids[1:]`, a forced prefix, and returns that step's logits."""
        prefix = [self._target_tokens[int(i)] for i in target_ids[1:]]
        result = self.model.translate_batch(
            self._source_batch(source_ids), target_prefix=[prefix], beam_size=1,
            # The length counts the prefix; the logits of every step come back, prefix included.
            max_decoding_length=len(prefix) + 1, min_decoding_length=0, return_logits_vocab=True,
            max_input_length=0)[0]
        return np.asarray(result.logits[0][-1], dtype="float32")
