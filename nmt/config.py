"""Run configuration: one dataclass, presets as instances of it.

The resolved config is printed at the start of `nmt train` and saved as `config.json` in the
run folder, so `translate` / `evaluate` rebuild everything from the folder alone.

Example:
>>> config = resolve_config("transformer", "tiny", epochs=2)
>>> config.embed_dim, config.epochs
(32, 2)
"""

import dataclasses
import json

class RunError(ValueError):
    """A run folder that is missing, incomplete or inconsistent."""


MODEL_CHOICES = ("transformer", "rnn", "gru")
PRESET_CHOICES = ("tiny", "small", "book-small", "book", "cpu-best")
STRATEGY_CHOICES = ("default", "mirrored", "multiworker")
PRECISION_CHOICES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
TOKENIZER_CHOICES = ("word", "wordpiece")
BATCHING_CHOICES = ("trim", "bucket", "fixed")
OPTIMIZER_CHOICES = ("adam", "adamw", "rmsprop")
LR_SCHEDULE_CHOICES = ("constant", "inverse_sqrt", "cosine")
EARLY_STOPPING_METRIC_CHOICES = ("loss", "bleu")


@dataclasses.dataclass
class Config:
    # What to build.
    model: str = "transformer"  # transformer | rnn (GRU + Luong attention) | gru (book, no attention)
    preset: str = "small"  # the preset these values started from
    embed_dim: int = 128  # token vector width (both languages)
    dense_dim: int = 512  # Transformer feed-forward inner width
    num_heads: int = 4  # Transformer attention heads (embed_dim must be divisible by it)
    num_layers: int = 1  # Transformer encoder blocks = decoder blocks
    norm_first: bool = False  # Transformer: pre-layer-norm blocks (False: post-LN, the book's)
    tie_embeddings: bool = False  # Transformer: output layer = the target embedding, transposed
    rnn_units: int = 256  # GRU width (encoder per direction, decoder) for rnn / gru
    dropout: float = 0.5  # dropout before the output layer (the book's 0.5)
    block_dropout: float = 0.0  # dropout on embeddings and inside Transformer blocks (0: book)
    positional: bool = True  # learned position embeddings (Transformer)

    # Data and vectorization.
    corpus: str = ""  # corpus file; "" = $SPA_ENG_PATH, the Keras cache, or download
    skip_bad_lines: bool = False  # skip malformed corpus lines (counted) instead of failing
    split: str = "source"  # source (no English sentence in two splits) | book (random pairs)
    val_fraction: float = 0.15  # fraction of sources (or pairs with split=book) for validation
    test_fraction: float = 0.15  # ... and for test
    max_pairs: int = 0  # use only the first N pairs of the corpus (0 = all); for quick runs
    # word (the book's: lowercase words, no punctuation) | wordpiece (subwords; keeps case and
    # punctuation, no out-of-vocabulary words)
    tokenizer: str = "word"
    vocab_size: int = 15000  # tokens per language, including padding and reserved tokens
    shared_vocab: bool = False  # wordpiece: one vocabulary learned from both languages
    sequence_length: int = 20  # source length and target length (tokens)

    # Training.
    # trim: the book's random batches, each padded to its own longest sentence | bucket: batches
    # of similar lengths (faster, lower accuracy at equal data here) | fixed: padded to 20 (book)
    batching: str = "trim"
    batch_size: int = 64  # sentences per batch (global batch across replicas)
    max_tokens: int = 0  # bucket batching by a token budget (padded length x sentences); 0 = off
    epochs: int = 3  # passes over the training split
    steps_per_epoch: int = 0  # cap batches per epoch (0 = the whole split); for quick runs
    budget_minutes: float = 0.0  # stop after this much training time (not validation; 0 = none)
    optimizer: str = "adam"  # adam | adamw | rmsprop (the book)
    learning_rate: float = 1e-3  # optimizer learning rate (the peak, with a schedule)
    lr_schedule: str = "constant"  # constant (the book) | inverse_sqrt | cosine (to 0 at the end)
    warmup_steps: int = 0  # linear warmup steps for inverse_sqrt / cosine
    weight_decay: float = 0.0  # decoupled weight decay (0 = none; adamw: Keras' default 0.004)
    label_smoothing: float = 0.0  # mix this much uniform distribution into the targets
    early_stopping: int = 0  # stop after N epochs with no better val metric; keep the best; 0 = off
    early_stopping_metric: str = "loss"  # loss (val loss) | bleu (val BLEU; needs val_bleu_sources)
    val_bleu_sources: int = 0  # after each epoch, greedy BLEU on this many val sources (0 = off)
    # average the weights of the last N epochs at the end; kept if its val loss is lower (0 = off)
    average_last: int = 0
    # auto (mixed_bfloat16 on bf16 hardware: CPUs with AVX512-BF16/AMX, GPUs from Ampere on;
    # mixed_float16 on older GPUs; else float32) | float32 | mixed_bfloat16 | mixed_float16.
    # Weights, logits and the loss stay float32. `train` saves the resolved value.
    precision: str = "auto"
    jit_compile: str = "auto"  # auto (XLA on GPUs, not on CPUs) | on | off
    fused_optimizer: bool = True  # XLA-compile the optimizer update alone (same math, fewer passes)
    select_tokens: bool = True  # training: output layer + softmax on real target tokens only
    strategy: str = "default"  # default | mirrored (local GPUs / devices) | multiworker (TF_CONFIG)
    seed: int = 1337  # split, vocabulary order, shuffling and initial weights

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config fields: {unknown}")
        return cls(**values)

    def validate(self):
        if self.model not in MODEL_CHOICES:
            raise ValueError(f"model={self.model!r} is not one of {MODEL_CHOICES}")
        if self.tokenizer not in TOKENIZER_CHOICES:
            raise ValueError(f"tokenizer={self.tokenizer!r} is not one of {TOKENIZER_CHOICES}")
        if self.split not in ("source", "book"):
            raise ValueError(f"split={self.split!r} is not 'source' or 'book'")
        if self.batching not in BATCHING_CHOICES:
            raise ValueError(f"batching={self.batching!r} is not one of {BATCHING_CHOICES}")
        if self.optimizer not in OPTIMIZER_CHOICES:
            raise ValueError(f"optimizer={self.optimizer!r} is not one of {OPTIMIZER_CHOICES}")
        if self.lr_schedule not in LR_SCHEDULE_CHOICES:
            raise ValueError(f"lr_schedule={self.lr_schedule!r} is not one of {LR_SCHEDULE_CHOICES}")
        if self.lr_schedule == "inverse_sqrt" and self.warmup_steps < 1:
            raise ValueError(f"warmup_steps={self.warmup_steps}: lr_schedule='inverse_sqrt' needs "
                             "a warmup (the rate is the peak at its end)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={self.label_smoothing} must be in [0, 1)")
        if self.label_smoothing and not self.select_tokens:
            raise ValueError(f"label_smoothing={self.label_smoothing} needs select_tokens=True")
        if self.shared_vocab and self.tokenizer != "wordpiece":
            raise ValueError(f"shared_vocab=True needs tokenizer='wordpiece' "
                             f"(tokenizer={self.tokenizer!r})")
        if self.tie_embeddings and self.model != "transformer":
            raise ValueError(f"tie_embeddings=True is for the Transformer (model={self.model!r})")
        if self.average_last and self.early_stopping:
            raise ValueError(f"average_last={self.average_last} and early_stopping="
                             f"{self.early_stopping}: use one of them (both pick the final "
                             "weights)")
        if self.early_stopping_metric not in EARLY_STOPPING_METRIC_CHOICES:
            raise ValueError(f"early_stopping_metric={self.early_stopping_metric!r} is not one of "
                             f"{EARLY_STOPPING_METRIC_CHOICES}")
        if self.early_stopping_metric == "bleu" and self.early_stopping and \
                not self.val_bleu_sources:
            raise ValueError("early_stopping_metric='bleu' needs val_bleu_sources > 0 "
                             f"(val_bleu_sources={self.val_bleu_sources})")
        if self.average_last == 1:
            raise ValueError("average_last=1: averaging needs at least 2 epochs (0 = off)")
        for name in ("dropout", "block_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}={getattr(self, name)} must be in [0, 1)")
        for name in ("warmup_steps", "early_stopping", "weight_decay", "average_last",
                     "val_bleu_sources"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
        if self.strategy not in STRATEGY_CHOICES:
            raise ValueError(f"strategy={self.strategy!r} is not one of {STRATEGY_CHOICES}")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"precision={self.precision!r} is not one of {PRECISION_CHOICES}")
        if self.jit_compile not in ("auto", "on", "off"):
            raise ValueError(f"jit_compile={self.jit_compile!r} is not 'auto', 'on' or 'off'")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        if self.max_tokens < 0 or (self.max_tokens and self.batching != "bucket"):
            raise ValueError(f"max_tokens={self.max_tokens} needs batching='bucket' and >= 0")
        for name in ("embed_dim", "dense_dim", "num_heads", "num_layers", "rnn_units", "vocab_size",
                     "sequence_length", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        return self


# Presets: per preset, the shared values and the per-model overrides.
SMALL_SIZES = dict(embed_dim=128, dense_dim=512, num_heads=4, rnn_units=256, epochs=3)
# Both small Transformers: an epoch takes about a third of an RNN epoch here, so they get more
# of them; float32 was measured faster than bfloat16 for their 128-wide matmuls (the casts cost
# more than they save; benchmarks/README.md), bfloat16 wins from the book sizes up.
SMALL_TRANSFORMER = dict(epochs=5, precision="float32")
PRESETS = {
    # Seconds: for tests and smoke runs.
    # float32: tiny matmuls gain nothing from bfloat16, and tests give the same numbers anywhere.
    "tiny": dict(embed_dim=32, dense_dim=64, num_heads=2, rnn_units=32, vocab_size=2000,
                 batch_size=32, epochs=1, precision="float32"),
    # The CPU default: a useful translator in <= 15 minutes of training on 2 cores.
    "small": SMALL_SIZES,
    # The book's recipe at the small sizes (its words, 20 tokens, dropout 0.5 before the output
    # layer only, no smoothing or schedule; Adam rather than its RMSprop): what the chapter
    # scripts teach and the speed benchmarks time (the `small` preset before the recipe).
    "book-small": SMALL_SIZES,
    # The book's exact sizes and training setup.
    # (The book pads every batch to 20 tokens: --batching fixed; same results, slower.)
    "book": dict(embed_dim=256, dense_dim=2048, num_heads=8, rnn_units=1024, optimizer="rmsprop",
                 epochs=30),
    # The best translator this project trains on a 2-core CPU in <= 2 hours (a Transformer):
    # subwords that keep case and punctuation, NMT practice's recipe (label smoothing, warmup +
    # 1/sqrt(step) decay, AdamW, dropout, averaging the last epochs). Measured 2026-11-27 on the
    # 2-core machine: 23 epochs in 106.7 min of training + 8.6 min of validation (116 min for
    # the whole command), test BLEU 47.81 greedy / 48.99 beam 4 (README.md).
    "cpu-best": dict(
        tokenizer="wordpiece", vocab_size=8000,  # per language; ~8 pieces per sentence here
        sequence_length=24,  # pieces: 99.7% of the Spanish sentences fit (20 fits 99.0%)
        embed_dim=256, dense_dim=1024, num_heads=4, rnn_units=512,
        dropout=0.1, block_dropout=0.1, label_smoothing=0.1,
        optimizer="adamw", weight_decay=0.01, learning_rate=7e-4,
        lr_schedule="inverse_sqrt", warmup_steps=1000,
        batch_size=128, epochs=24, budget_minutes=106.0, average_last=5),
}
MODEL_PRESETS = {
    ("gru", "book"): dict(epochs=15),  # the book trains its GRU for 15 epochs
    # The demo: the book's recipe, which learns fastest in a short run (the 4-minute ablation in
    # benchmarks/README.md: 8.8 BLEU ahead of the full recipe), with WordPiece (case and
    # punctuation, no [UNK]; as good as words on book-normalised BLEU there) and label smoothing.
    ("transformer", "small"): dict(
        SMALL_TRANSFORMER, tokenizer="wordpiece", vocab_size=8000, sequence_length=24,
        label_smoothing=0.1, budget_minutes=10.0),
    ("transformer", "book-small"): SMALL_TRANSFORMER,
    # Three encoder and three decoder blocks; the output layer is the target embedding.
    ("transformer", "cpu-best"): dict(num_layers=3, tie_embeddings=True),
}


def resolve_config(model, preset, **overrides):
    """The preset's values for `model`, then `overrides` (None values are ignored)."""
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is not one of {PRESET_CHOICES}")
    values = dict(model=model, preset=preset, **PRESETS[preset])
    values.update(MODEL_PRESETS.get((model, preset), {}))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config.from_dict(values).validate()
