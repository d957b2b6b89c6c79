"""Run configuration, declared once: one dataclass whose fields carry their help, group and limits.

Every field is declared with `option(...)`: its default, a help line, its group and the values it
accepts. From that one declaration come the `nmt train` flags with their help and shown defaults
(`add_config_arguments`), the validation of every value (`Config.validate`), and what a resume
compares (`resume_differences`). Presets are partial instances: dictionaries of field values.

The groups say what a value changes:
- "model", "data", "training": what is learned. A resume must use the same values, except the
  fields marked `resumable` (`epochs`, `budget_minutes`: train longer).
- "runtime": how the run executes (where the corpus file is, devices, precision, XLA); a resume
  may change these.

The resolved config is printed at the start of `nmt train` and saved as `config.json` in the
run folder, so `translate` / `evaluate` rebuild everything from the folder alone.

Example:
>>> config = resolve_config("transformer", "tiny", epochs=2)
>>> config.embed_dim, config.epochs
(32, 2)
>>> resolve_config("transformer", "tiny", dropout=1.5)
Traceback (most recent call last):
...
nmt.config.ConfigError: dropout=1.5 (--dropout) must be in [0, 1)
"""

import argparse
import dataclasses
import json
import math

from data.corpus import SPLIT_MODES
from data.errors import NmtError
from data.pipeline import BATCHING_CHOICES
from data.tokenizers import TOKENIZER_CHOICES
from models.decoding import STRATEGIES
from models.optimizers import OPTIMIZERS
from models.registry import MODEL_CHOICES, MODELS
from models.schedules import SCHEDULE_CHOICES
from nmt.hardware import JIT_COMPILE_CHOICES, PRECISION_CHOICES, STRATEGY_CHOICES


class ConfigError(NmtError):
    """A setting with a value that is not accepted (the message names the field and flag)."""


GROUPS = {
    "model": "what is built (a resume must use the same values)",
    "data": "corpus split and vectorization (a resume must use the same values)",
    "training": "how it learns (a resume must use the same values, except --epochs and "
                "--budget-minutes, which may grow)",
    "runtime": "how the run executes, not what it learns (a resume may change these)",
    "decoding": "how each next token is picked from the model's logits",
}
EARLY_STOPPING_METRIC_CHOICES = ("loss", "bleu")


def option(default, help, group, choices=None, minimum=None, above=None, below=None,
           maximum=None, resumable=False, metavar=None):
    """A config field: its default and its declaration (help, group, accepted values).

    Args:
        default: the value when neither a preset nor a flag sets it.
        help: str. One line for `-h`.
        group: one of `GROUPS`.
        choices: tuple or None. The accepted values.
        minimum: number or None. Lowest accepted value (inclusive).
        above: number or None. Values must be greater than this.
        below: number or None. Values must be lower than this.
        maximum: number or None. Highest accepted value (inclusive).
        resumable: bool. A resume may change it (train longer).
        metavar: str or None. The value's name in `-h` (default: N, X or TEXT by type).
    """
    if group not in GROUPS:
        raise ValueError(f"group={group!r} is not one of {tuple(GROUPS)}")
    return dataclasses.field(default=default, metadata=dict(
        help=help, group=group, choices=choices, minimum=minimum, above=above, below=below,
        maximum=maximum,
        resumable=resumable, metavar=metavar))


def flag(name):
    """The command-line flag of field `name`."""
    return "--" + name.replace("_", "-")


@dataclasses.dataclass
class Config:
    # What to build.
    model: str = option("transformer", " | ".join(f"{name}: {spec.label}" for name, spec in
                                                  MODELS.items()), "model", choices=MODEL_CHOICES)
    embed_dim: int = option(128, "token vector width (both languages)", "model", minimum=1)
    dense_dim: int = option(512, "Transformer feed-forward inner width", "model", minimum=1)
    num_heads: int = option(4, "Transformer attention heads (embed_dim must be divisible by it)",
                            "model", minimum=1)
    num_layers: int = option(1, "Transformer encoder blocks (and as many decoder blocks)",
                             "model", minimum=1)
    key_dim: int = option(0, "Transformer: width of each attention head's queries, keys and values "
                          "(0 = embed_dim // num_heads, the 3rd edition's blocks; the 2nd "
                          "edition's is embed_dim: Q/K/V projections num_heads times wider)",
                          "model", minimum=0)
    norm_first: bool = option(False, "Transformer: pre-layer-norm blocks (the book's are post-LN)",
                              "model")
    tie_embeddings: bool = option(False, "Transformer: the output layer is the target embedding, "
                                  "transposed", "model")
    rnn_units: int = option(256, "GRU width (encoder per direction, decoder) for rnn and gru",
                            "model", minimum=1)
    dropout: float = option(0.5, "dropout before the output layer (the book's 0.5)", "model",
                            minimum=0.0, below=1.0)
    block_dropout: float = option(0.0, "dropout on the embeddings and inside the Transformer "
                                  "blocks (the book: 0)", "model", minimum=0.0, below=1.0)
    positional: bool = option(True, "Transformer: learned position embeddings (--no-positional: "
                              "a bag of words)", "model")

    # Data and vectorization.
    skip_bad_lines: bool = option(False, "skip malformed corpus lines (counted) instead of "
                                  "failing", "data")
    split: str = option("source", "source: no English sentence in two splits | book: random "
                        "pairs, as the book", "data", choices=SPLIT_MODES)
    val_fraction: float = option(0.15, "fraction of sources (pairs with --split book) for "
                                 "validation", "data", above=0.0, below=1.0)
    test_fraction: float = option(0.15, "fraction of sources (pairs with --split book) for test",
                                  "data", above=0.0, below=1.0)
    max_pairs: int = option(0, "use a seeded random sample of N pairs (0 = all); for quick runs",
                            "data", minimum=0)
    tokenizer: str = option("word", "word: the book's lowercase words without punctuation | "
                            "wordpiece: subwords that keep case and punctuation", "data",
                            choices=TOKENIZER_CHOICES)
    vocab_size: int = option(15000, "tokens per language, padding and reserved tokens included",
                             "data", minimum=5)
    shared_vocab: bool = option(False, "wordpiece: one vocabulary learned from both languages",
                                "data")
    sequence_length: int = option(20, "source length and target length, in tokens", "data",
                                  minimum=1)

    # Training.
    batching: str = option("trim", "trim: the book's random batches, each padded to its longest "
                           "sentence | bucket: batches of similar lengths | fixed: padded to "
                           "the full length (the book)", "training", choices=BATCHING_CHOICES)
    batch_size: int = option(64, "sentences per batch (the global batch across replicas)",
                             "training", minimum=1)
    max_tokens: int = option(0, "bucket batching by a token budget (padded length x sentences); "
                             "0 = off", "training", minimum=0)
    epochs: int = option(3, "passes over the training split", "training", minimum=1,
                         resumable=True)
    steps_per_epoch: int = option(0, "cap the batches per epoch (0 = the whole split); for quick "
                                  "runs", "training", minimum=0)
    budget_minutes: float = option(0.0, "stop after this much training time, validation "
                                   "excluded (0 = no limit)", "training", minimum=0.0,
                                   resumable=True)
    budget_cooldown: float = option(0.2, "with --budget-minutes: the learning rate decays "
                                     "linearly to 0 over this last fraction of the steps the "
                                     "budget allows, estimated from the run's speed as it trains "
                                     "(0 = off)", "training", minimum=0.0, maximum=1.0)
    optimizer: str = option("adam", "adam | adamw | rmsprop (the book's)", "training",
                            choices=tuple(OPTIMIZERS))
    learning_rate: float = option(1e-3, "the optimizer's learning rate (the peak, with a "
                                  "schedule)", "training", above=0.0)
    lr_schedule: str = option("constant", "constant (the book) | inverse_sqrt: warmup + "
                              "1/sqrt(step) | cosine: warmup + cosine to 0", "training",
                              choices=SCHEDULE_CHOICES)
    warmup_steps: int = option(0, "linear warmup steps for inverse_sqrt and cosine", "training",
                               minimum=0)
    weight_decay: float = option(0.0, "decoupled weight decay (0 = none)", "training",
                                 minimum=0.0)
    label_smoothing: float = option(0.0, "mix this much of the uniform distribution into the "
                                    "targets", "training", minimum=0.0, below=1.0)
    early_stopping: int = option(0, "stop after N epochs without a better validation metric and "
                                 "keep the best weights (0 = off)", "training", minimum=0)
    early_stopping_metric: str = option("loss", "what --early-stopping watches: loss | bleu "
                                        "(needs --val-bleu-sources)", "training",
                                        choices=EARLY_STOPPING_METRIC_CHOICES)
    val_bleu_sources: int = option(0, "after each epoch, greedy BLEU on N validation sources "
                                   "(0 = off)", "training", minimum=0)
    average_last: int = option(0, "average the weights of the last N epochs at the end; kept if "
                               "its validation loss is lower (0 = off)", "training", minimum=0)
    seed: int = option(1337, "seed of the split, vocabulary order, shuffling and initial weights",
                       "training", minimum=0)

    # How the run executes.
    corpus: str = option("", "corpus file: spa-eng.zip, spa.txt or an English<TAB>Spanish file "
                         "(empty: $SPA_ENG_PATH, the Keras cache, else download)", "runtime",
                         metavar="PATH")
    precision: str = option("auto", "auto: mixed_bfloat16 on bfloat16 hardware (CPUs with "
                            "AVX512-BF16/AMX, GPUs from Ampere on), mixed_float16 on older GPUs, "
                            "else float32; weights, logits and loss stay float32", "runtime",
                            choices=PRECISION_CHOICES)
    jit_compile: str = option("auto", "XLA for the training step (auto: on with a GPU, off on a "
                              "CPU)", "runtime", choices=JIT_COMPILE_CHOICES)
    fused_optimizer: bool = option(True, "the optimizer update in fused kernels: TensorFlow's "
                                   "Adam kernel, XLA for RMSprop (same math, fewer passes)",
                                   "runtime")
    select_tokens: bool = option(True, "training: the output layer and softmax on real target "
                                 "tokens only (same math, less work)", "runtime")
    steps_per_execution: int = option(16, "training steps in one call into TensorFlow (same "
                                      "math, fewer Python round trips; the time budget and the "
                                      "progress bar see every Nth step; 1 under --strategy "
                                      "mirrored or multiworker)", "runtime", minimum=1)
    strategy: str = option("default", "tf.distribute: default (one device) | mirrored (local "
                           "GPUs or devices) | multiworker (machines in TF_CONFIG)", "runtime",
                           choices=STRATEGY_CHOICES)
    cluster_timeout: int = option(300, "multiworker: seconds to wait for every worker in "
                                  "TF_CONFIG to start before giving up", "runtime", minimum=1,
                                  metavar="SECONDS")

    # Bookkeeping: the preset these values started from (chosen with --preset).
    preset: str = dataclasses.field(default="small", metadata={"group": None})

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        """A config from saved values; fields missing there take their defaults."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config fields: {unknown}")
        return cls(**values)

    def validate(self):
        """Check every value against its declaration, then the rules between fields."""
        check_declared(self)
        self._check_combinations()
        return self

    def _check_combinations(self):
        def fail(message):
            raise ConfigError(message)

        if self.lr_schedule == "inverse_sqrt" and self.warmup_steps < 1:
            fail(f"warmup_steps={self.warmup_steps}: lr_schedule='inverse_sqrt' needs a warmup "
                 "(the rate is the peak at its end): give --warmup-steps N")
        if self.label_smoothing and not self.select_tokens:
            fail(f"label_smoothing={self.label_smoothing} needs select_tokens=True")
        if self.shared_vocab and self.tokenizer != "wordpiece":
            fail(f"shared_vocab=True needs tokenizer='wordpiece' (tokenizer={self.tokenizer!r})")
        if self.tie_embeddings and "tie_embeddings" not in MODELS[self.model].build_arguments():
            fail(f"tie_embeddings=True is for the Transformer (model={self.model!r} has no "
                 "tied output layer)")
        if self.average_last and self.early_stopping:
            fail(f"average_last={self.average_last} and early_stopping={self.early_stopping}: "
                 "use one of them (both pick the final weights)")
        if self.early_stopping_metric == "bleu" and self.early_stopping and \
                not self.val_bleu_sources:
            fail("early_stopping_metric='bleu' needs val_bleu_sources > 0 "
                 f"(val_bleu_sources={self.val_bleu_sources})")
        if self.average_last == 1:
            fail("average_last=1: averaging needs at least 2 epochs (0 = off)")
        if self.key_dim and "key_dim" not in MODELS[self.model].build_arguments():
            fail(f"key_dim={self.key_dim} is for the Transformer (model={self.model!r} has no "
                 "attention heads)")
        if not self.key_dim and self.embed_dim % self.num_heads:
            fail(f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads} "
                 "(or give --key-dim)")
        if self.max_tokens and self.batching != "bucket":
            fail(f"max_tokens={self.max_tokens} needs batching='bucket'")
        if self.val_fraction + self.test_fraction >= 1.0:
            fail(f"val_fraction={self.val_fraction} + test_fraction={self.test_fraction} leave "
                 "no training data: their sum must be below 1")


@dataclasses.dataclass
class Decoding:
    """How `translate`, `evaluate` and `compare` pick each next token (`models.decoding`).

    The same rule everywhere (`from_options`, used by the command line and `Translator.translate`):
    an option that only beam search reads (num_beams, alpha, nbest) chooses beam search when no
    `decode` is given, one that only sampling reads (temperature, top_k, top_p) chooses sampling,
    and with another `decode` given it is an error, never silently ignored.

    Example:
    >>> Decoding.from_options(num_beams=8).decode
    'beam'
    >>> Decoding.from_options(decode="greedy", num_beams=4)
    Traceback (most recent call last):
    ...
    nmt.config.ConfigError: num_beams=4 (--num-beams) is for --decode beam, not --decode greedy
    """

    decode: str = option("greedy", "greedy: the most likely token | sample: a random draw | "
                         "beam: beam search (--num-beams, --alpha or --nbest imply beam; "
                         "--temperature, --top-k or --top-p imply sample)", "decoding",
                         choices=STRATEGIES)
    num_beams: int = option(4, "beams for --decode beam", "decoding", minimum=1)
    alpha: float = option(0.6, "GNMT length penalty for --decode beam (0 = none)", "decoding",
                          minimum=0.0)
    temperature: float = option(1.0, "for --decode sample: the logits are divided by it",
                                "decoding", above=0.0)
    top_k: int = option(0, "for --decode sample: draw from the K most likely tokens (0 = all)",
                        "decoding", minimum=0)
    top_p: float = option(1.0, "for --decode sample: draw from the most likely tokens that hold "
                          "this much probability (1 = all)", "decoding", above=0.0, maximum=1.0)
    seed: int = option(0, "random seed for --decode sample (greedy and beam need none)",
                       "decoding", minimum=0)
    max_length: int = option(0, "output tokens at most (0 = the run's sequence length, also the "
                             "most a Transformer's learned positions allow)", "decoding",
                             minimum=0)
    batch_size: int = option(256, "sentences decoded at once", "decoding", minimum=1)
    # Hypotheses per input, best first (0 = the best only); with beam search. Only `translate`
    # has the flag (`nmt translate --nbest`), so it is declared there, not here.
    nbest: int = dataclasses.field(default=0, metadata={"group": None})

    # The options only one decoding reads: given without `decode`, they choose it.
    ONLY_FOR = {"beam": ("num_beams", "alpha", "nbest"),
                "sample": ("temperature", "top_k", "top_p")}

    @classmethod
    def from_options(cls, **given):
        """The validated decoding for the options given; a None value is an option not given.

        An option that only one decoding reads implies it when `decode` is not given; given with
        another `decode` (or with an option of the other decoding) it is a `ConfigError`.
        Without `num_beams`, `nbest` raises the beams to at least `nbest`. An unknown option is a
        `TypeError` naming it.
        """
        known = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise TypeError(f"unknown decoding option {unknown[0]!r} (known: {', '.join(known)})")
        given = {name: value for name, value in given.items() if value is not None}
        if given.get("nbest") == 0:  # the default: the best only, implies nothing
            del given["nbest"]
        if "decode" in given:
            check_value(known["decode"], given["decode"])
        used = {kind: [name for name in names if name in given]
                for kind, names in cls.ONLY_FOR.items()}
        if used["beam"] and used["sample"]:
            beam, sample = used["beam"][0], used["sample"][0]
            raise ConfigError(f"{beam}={given[beam]!r} ({flag(beam)}) is an option of beam search "
                              f"and {sample}={given[sample]!r} ({flag(sample)}) one of sampling: "
                              "use one decoding")
        implied = next((kind for kind, names in used.items() if names), None)
        decode = given.setdefault("decode", implied or "greedy")
        if implied and decode != implied:
            name = used[implied][0]
            raise ConfigError(f"{name}={given[name]!r} ({flag(name)}) is for --decode {implied}, "
                              f"not --decode {decode}")
        nbest = given.get("nbest", 0)
        if "num_beams" not in given and isinstance(nbest, int) and nbest > cls.num_beams:
            given["num_beams"] = nbest
        return cls(**given).validate()

    @classmethod
    def add_arguments(cls, parser):
        """Add the decoding flags to `parser`: their help shows the defaults, their parsed value
        is None when not given (so `decoding_from_arguments` knows which were given)."""
        add_config_arguments(parser, cls)
        parser.set_defaults(**{field.name: None for field in declared_fields(cls)},
                            **{UNSET_IS_NONE: True})

    def validate(self):
        """Check every value against its declaration, and `nbest` against the decoding."""
        check_declared(self)
        nbest = self.nbest
        if isinstance(nbest, bool) or not isinstance(nbest, int) or nbest < 0:
            raise ConfigError(f"nbest={nbest!r} (--nbest) must be an integer >= 0")
        if nbest and self.decode != "beam":
            raise ConfigError(f"nbest={nbest} (--nbest) needs --decode beam, not --decode "
                              f"{self.decode}")
        if nbest > self.num_beams:
            raise ConfigError(f"nbest={nbest} (--nbest) is more than num_beams={self.num_beams} "
                              "(--num-beams), the hypotheses beam search keeps")
        return self

    def options(self):
        """The keyword arguments of `Translator.translate` for this decoding (`seed` and
        `batch_size` not among them: callers pass those themselves)."""
        options = {"decode": self.decode}
        if self.decode == "sample":
            options.update(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        elif self.decode == "beam":
            options.update(num_beams=self.num_beams, alpha=self.alpha)
            if self.nbest:
                options["nbest"] = self.nbest
        if self.max_length:
            options["max_length"] = self.max_length
        return options


# Set on parsed arguments by `Decoding.add_arguments`: decoding flags not given are None.
UNSET_IS_NONE = "_decoding_unset_is_none"


def declared_fields(cls=None):
    """The fields of `cls` (default `Config`) that carry a declaration (all but `Config.preset`,
    bookkeeping)."""
    return [field for field in dataclasses.fields(cls or Config) if field.metadata.get("group")]


def check_declared(instance):
    """`check_value` for every declared field of a `Config` or `Decoding`."""
    for field in declared_fields(type(instance)):
        check_value(field, getattr(instance, field.name))


def check_value(field, value):
    """Raise `ConfigError` unless `value` is accepted by `field`'s declaration."""
    meta = field.metadata
    name = f"{field.name}={value!r} ({flag(field.name)})"
    kind = field.type
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false")
        return
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (kind is int and not float(value).is_integer()):
            raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'}")
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number")
    elif not isinstance(value, kind):
        raise ConfigError(f"{name} must be a {kind.__name__}")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ConfigError(f"{name} is not one of {meta['choices']}")
    low, above, below, high = meta["minimum"], meta["above"], meta["below"], meta["maximum"]
    if (low is not None and value < low) or (above is not None and value <= above) or \
            (below is not None and value >= below) or (high is not None and value > high):
        raise ConfigError(f"{name} must be {describe_range(meta)}")


def describe_range(meta):
    """The accepted range of a declaration in words: ">= 1", "in [0, 1)", "> 0", "in (0, 1]"."""
    low = meta["minimum"] if meta["minimum"] is not None else meta["above"]
    opening = "[" if meta["minimum"] is not None else "("
    if meta["below"] is not None:
        return f"in {opening}{low:g}, {meta['below']:g})"
    if meta["maximum"] is not None:
        return f"in {opening}{low:g}, {meta['maximum']:g}]"
    if low is None:
        return "any value"
    return f"{'>=' if meta['minimum'] is not None else '>'} {low:g}"


# Presets: per preset, the shared values; then the per-model overrides.
SMALL_SIZES = dict(embed_dim=128, dense_dim=512, num_heads=4, rnn_units=256, epochs=3)
# Both small Transformers get more epochs than the RNNs (an epoch takes about a third of an RNN
# epoch) and float32, which was faster than bfloat16 for their 128-wide matmuls
# (benchmarks/README.md); bfloat16 wins from the book sizes up.
SMALL_TRANSFORMER = dict(epochs=5, precision="float32")
BOOK_SIZES = dict(embed_dim=256, dense_dim=2048, num_heads=8, rnn_units=1024, optimizer="rmsprop",
                  epochs=30)
PRESETS = {
    # Seconds: for tests and smoke runs; float32 gives the same numbers on any machine.
    "tiny": dict(embed_dim=32, dense_dim=64, num_heads=2, rnn_units=32, vocab_size=2000,
                 batch_size=32, epochs=1, precision="float32"),
    # The CPU default: a useful translator in <= 15 minutes of training on 2 cores.
    "small": SMALL_SIZES,
    # The book's recipe at the small sizes (its words, 20 tokens, dropout 0.5 before the output
    # layer only, no smoothing or schedule; Adam rather than its RMSprop): what the lessons teach
    # and the speed benchmarks time.
    "book-small": SMALL_SIZES,
    # The book's sizes (the same in both editions) and the 2nd edition's training setup
    # (RMSprop, 30 epochs; it pads every batch to 20 tokens: --batching fixed, the same results,
    # slower), with the 3rd edition's attention blocks (key_dim = embed_dim // num_heads).
    "book": BOOK_SIZES,
    # The 2nd edition's Transformer exactly: key_dim = embed_dim (MODEL_PRESETS below), 19,960,216
    # parameters at these sizes; the GRUs as in "book" (both editions build the same GRU).
    "book-2nd": BOOK_SIZES,
    # The best translator this project trains on a 2-core CPU in <= 2 hours (a Transformer):
    # subwords that keep case and punctuation, and NMT practice's recipe (label smoothing,
    # warmup + 1/sqrt(step) decay, AdamW, dropout, averaging the last epochs). Its measured
    # time and scores are in README.md; what each element is worth in benchmarks/README.md.
    "cpu-best": dict(
        tokenizer="wordpiece", vocab_size=8000,  # per language; ~8 pieces per sentence here
        sequence_length=24,  # pieces: 99.7% of the Spanish sentences fit (20 fits 99.0%)
        embed_dim=256, dense_dim=1024, num_heads=4, rnn_units=512,
        dropout=0.1, block_dropout=0.1, label_smoothing=0.1,
        optimizer="adamw", weight_decay=0.01, learning_rate=7e-4,
        lr_schedule="inverse_sqrt", warmup_steps=1000,
        batch_size=128, epochs=24, budget_minutes=106.0, average_last=5,
        # Measured (docs/results.md) before budget runs had a cooldown; its 1/sqrt decay and
        # averaging of 5 epochs end the run instead, until a cooldown run is measured.
        budget_cooldown=0.0),
}
PRESET_CHOICES = tuple(PRESETS)
# One line per preset: what it is for (`presets_table` adds the sizes, tokenizer and length).
PRESET_SUMMARIES = {
    "tiny": "seconds: tests and smoke runs (float32: the same numbers on any machine)",
    "small": "the CPU default and the demo: the Transformer with the book's recipe plus subwords, "
             "label smoothing and batches of similar lengths; the RNNs as book-small",
    "book-small": "the book's recipe (words, 20 tokens, dropout 0.5, Adam) at small sizes: what "
                  "the lessons teach and the speed benchmarks time",
    "book": "the book's sizes with the 3rd edition's attention (key_dim = embed_dim // "
            "num_heads) and the 2nd edition's RMSprop",
    "book-2nd": "the 2nd edition's Transformer: key_dim = embed_dim (19,960,216 parameters); "
                "the RNNs as book",
    "cpu-best": "the best translator for 2 CPU cores in 2 hours: subwords, 3 tied blocks, label "
                "smoothing, warmup + 1/sqrt decay, AdamW, averaging",
}
MODEL_PRESETS = {
    ("gru", "book"): dict(epochs=15),  # both editions train their GRU for 15 epochs
    ("gru", "book-2nd"): dict(epochs=15),
    # The 2nd edition's MultiHeadAttention(num_heads=8, key_dim=embed_dim): each head 256 wide.
    ("transformer", "book-2nd"): dict(key_dim=BOOK_SIZES["embed_dim"]),
    # The demo: the book's recipe, which learns fastest in a short run (benchmarks/README.md's
    # ablation), with WordPiece (case and punctuation, no [UNK]) and label smoothing. It trains
    # for its 10-minute budget, and its epochs are only a cap: 5 left 3 of the 10 minutes unused
    # on 2026-11-27's AMX machine, and 8 left 1.3 unused on 2026-12-06's AMD EPYC (8.7 minutes)
    # once its batches were faster; there 12 epochs took 9.3 minutes on 2026-12-07, once the
    # datasets no longer waited for tf.data's autotuning thread (docs/results.md). Its batches
    # hold sentences of similar lengths, about 576 padded tokens each: 1.14-1.24x the target
    # tokens per second of the book's random batches through `train_on_batch` with AVX2
    # kernels, AVX-512 and on AMX, 1.18x through `model.fit` with AVX2 kernels, at the same
    # validation accuracy per token (benchmarks/README.md, `train_speed.py`).
    ("transformer", "small"): dict(
        SMALL_TRANSFORMER, epochs=12, tokenizer="wordpiece", vocab_size=8000, sequence_length=24,
        label_smoothing=0.1, budget_minutes=10.0, batching="bucket", max_tokens=576),
    ("transformer", "book-small"): SMALL_TRANSFORMER,
    # Three encoder and three decoder blocks; the output layer is the target embedding.
    ("transformer", "cpu-best"): dict(num_layers=3, tie_embeddings=True),
}


def preset_values(model, preset):
    """The values `preset` sets for `model` (before any flag)."""
    if preset not in PRESETS:
        raise ConfigError(f"preset={preset!r} (--preset) is not one of {PRESET_CHOICES}")
    return {**PRESETS[preset], **MODEL_PRESETS.get((model, preset), {})}


def presets_table(width=100):
    """The presets as a plain-text table: what each is for, its model sizes, tokenizer and
    length (for `nmt train -h` and the README).

    Each cell shows the Transformer's value, then the RNN models' where they differ. Sizes:
    embed_dim/dense_dim, num_heads x the width of each head (key_dim), and the GRU units.

    Example:
    >>> print(presets_table().splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
    preset what it is for model sizes tokenizer epochs (budget)
    """
    import textwrap

    def sizes(config):
        if config.model != "transformer":
            return f"GRU {config.rnn_units}"
        head = config.key_dim or config.embed_dim // config.num_heads
        return (f"{config.embed_dim}/{config.dense_dim}, {config.num_heads}x{head} heads"
                + (f", {config.num_layers} blocks" if config.num_layers > 1 else "")
                + (", tied" if config.tie_embeddings else ""))

    def tokenizer(config):
        return f"{config.tokenizer} {config.vocab_size:,}"

    def length(config):
        budget = f", <= {config.budget_minutes:g} min" if config.budget_minutes else ""
        return f"{config.epochs}{budget}"

    def cell(preset, describe, always_rnn=False):
        """The Transformer's value, then the other models' where they differ (or always)."""
        values = {model: describe(resolve_config(model, preset)) for model in MODEL_CHOICES}
        first = values.pop("transformer")
        others = {}
        for model, value in values.items():
            if value != first or always_rnn:
                others.setdefault(value, []).append(model)
        def who(models):
            return "RNNs" if len(models) > 1 else models[0]

        extra = "; ".join(value if always_rnn else f"{who(models)} {value}"
                          for value, models in others.items())
        if always_rnn:  # on a line of its own
            return first + (f"\n{extra}" if extra else "")
        return first + (f"; {extra}" if extra else "")

    headers = ("preset", "what it is for", "model sizes", "tokenizer", "epochs (budget)")
    rows = [(name, PRESET_SUMMARIES[name], cell(name, sizes, always_rnn=True),
             cell(name, tokenizer), cell(name, length)) for name in PRESETS]
    fixed = (max(len(row[0]) for row in rows), 0, 21, 16, 15)
    widths = list(fixed)
    widths[1] = max(20, width - sum(fixed) - 2 * (len(fixed) - 1))
    lines = []
    for row in [headers, tuple("-" * w for w in widths)] + rows:
        wrapped = [[line for part in text.split("\n") for line in textwrap.wrap(part, w) or [""]]
                   for text, w in zip(row, widths)]
        for i in range(max(map(len, wrapped))):
            parts = [(cell_lines[i] if i < len(cell_lines) else "").ljust(w)
                     for cell_lines, w in zip(wrapped, widths)]
            lines.append("  ".join(parts).rstrip())
    lines += ["", "model sizes: the Transformer's embed_dim/dense_dim and num_heads x key_dim, "
              "then the GRU units;",
              "each cell gives the Transformer's value, then the RNN models' where they differ."]
    return "\n".join(lines)


def resolve_config(model, preset, **overrides):
    """The preset's values for `model`, then `overrides` (None values are ignored), validated."""
    values = dict(model=model, preset=preset, **preset_values(model, preset))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config.from_dict(values).validate()


def resume_differences(saved, config, finished=False):
    """The fields that differ between a saved run's config and `config` and that a resume must
    keep: everything in the model, data and training groups except the resumable fields (and
    those too when `finished`: a finished run stands in for `config`'s only if it was trained
    with all of its settings)."""
    return sorted(field.name for field in declared_fields()
                  if field.metadata["group"] != "runtime"
                  and (finished or not field.metadata["resumable"])
                  and getattr(saved, field.name) != getattr(config, field.name))


# The command line.


def _shown(value):
    """A value as `-h` shows it: on / off for booleans, '' for the empty string."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return repr(value) if value == "" else str(value)


def _preset_summary(name):
    """Where the presets differ from the default of field `name`: "tiny 32, book 256, ..."."""
    default = next(f.default for f in dataclasses.fields(Config) if f.name == name)
    entries = []
    for preset in PRESETS:
        by_model = {model: preset_values(model, preset).get(name, default)
                    for model in MODEL_CHOICES}
        values = set(map(repr, by_model.values()))
        if len(values) == 1:
            value = next(iter(by_model.values()))
            if value != default:
                entries.append(f"{preset} {_shown(value)}")
        else:
            entries += [f"{preset}/{model} {_shown(value)}" for model, value in by_model.items()
                        if value != default]
    return ", ".join(entries)


def add_config_arguments(parser, cls=None):
    """Add one flag per declared field of `cls` (default `Config`) to `parser`, in groups.

    `Config` flags default to None (not given: the preset's value stays); their help line shows
    the default and where the presets differ from it. Other declarations (`Decoding`) have no
    presets: their flags default to the declared values.
    """
    fields = declared_fields(cls)
    used = {field.metadata["group"] for field in fields}
    groups = {name: parser.add_argument_group(f"{name} options", description)
              for name, description in GROUPS.items() if name in used}
    for field in fields:
        meta = field.metadata
        presets = _preset_summary(field.name) if cls in (None, Config) else ""
        default = None if cls in (None, Config) else field.default
        text = (f"{meta['help']} (default: {_shown(field.default)}"
                + (f"; presets: {presets}" if presets else "") + ")")
        text = text.replace("%", "%%")
        kind = field.type
        group = groups[meta["group"]]
        if kind is bool:
            group.add_argument(flag(field.name), dest=field.name, default=default,
                               action=argparse.BooleanOptionalAction, help=text)
        else:
            group.add_argument(flag(field.name), dest=field.name, default=default,
                               type=_number(kind) if kind in (int, float) else kind,
                               choices=meta["choices"], help=text,
                               metavar=None if meta["choices"] else meta["metavar"] or METAVARS[kind])


METAVARS = {int: "N", float: "X", str: "TEXT"}


def _number(kind):
    """An argparse type for int or float flags that names the expected kind on bad input."""
    def parse(text):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None

    parse.__name__ = kind.__name__
    return parse


def decoding_from_arguments(args):
    """The validated `Decoding` of parsed flags (`Decoding.from_options`: a flag that only one
    decoding reads implies it, or conflicts with the --decode given).

    With `Decoding.add_arguments` a flag not given is None. A parser from plain
    `add_config_arguments(parser, Decoding)` fills in every default, so there a value equal to
    its default counts as not given.
    """
    fields = dataclasses.fields(Decoding)
    values = {field.name: getattr(args, field.name, None) for field in fields}
    if not getattr(args, UNSET_IS_NONE, False):
        values = {field.name: None if values[field.name] == field.default else values[field.name]
                  for field in fields}
    return Decoding.from_options(**values)


def config_from_arguments(args, preset):
    """The resolved `Config` for parsed flags (from `add_config_arguments`) over `preset`."""
    overrides = {field.name: getattr(args, field.name, None) for field in declared_fields()}
    model = overrides.pop("model") or Config.model
    return resolve_config(model, preset, **overrides)
