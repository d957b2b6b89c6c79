"""The one place that lists the translators: each model's builder, decoding steps and label.

To add a model, write its builder (returning a `keras.Model` that holds its layers in
`model.parts`, with `output_dropout`, `output(vectors)` and `groups()`) and its steps class
(`encode`, `init_cache`, `next_fn`, `attention`), then add one line to `MODELS`. The
configuration, the command line, training, decoding and reports take it from here.

Example:
>>> sorted(MODELS)
['gru', 'rnn', 'transformer']
>>> model = MODELS["gru"].build(source_vocab_size=30, target_vocab_size=40, embed_dim=4,
...                             rnn_units=8)
>>> parameter_parts(model)["total"] == model.count_params()
True
"""

import dataclasses
import inspect

from models.rnn import RNNSteps, build_gru, build_rnn_attention
from models.transformer import TransformerSteps, build_transformer


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A translator kind.

    Args:
        label: str. Its name in reports.
        build: callable. Keyword arguments (sizes, dropout, ...) -> `keras.Model`.
        steps: class. `steps(model)` gives the incremental-decoding functions.
        has_attention: bool. Whether it has cross-attention weights to show.
    """

    label: str
    build: callable
    steps: type
    has_attention: bool

    def build_arguments(self):
        """The names of the builder's arguments (taken from a config of the same names)."""
        return tuple(inspect.signature(self.build).parameters)


# In the chapter's order (reports list them so): the book's GRU, attention, the Transformer.
MODELS = {
    "gru": ModelSpec("GRU (book, no attention)", build_gru, RNNSteps, False),
    "rnn": ModelSpec("GRU + Luong attention", build_rnn_attention, RNNSteps, True),
    "transformer": ModelSpec("Transformer", build_transformer, TransformerSteps, True),
}
MODEL_CHOICES = tuple(MODELS)


def parameter_parts(model):
    """Parameters by part: embeddings, encoder, decoder, output, and the total.

    The parts are those of `model.parts.groups()`; weights outside them (none in this
    project's translators) count in the total only.
    """
    counts = {name: sum(layer.count_params() for layer in layers if layer.built)
              for name, layers in model.parts.groups().items()}
    counts["total"] = model.count_params()
    return counts


def parameter_counts(model):
    """{"total": n, layer name: n, ...} for the top-level layers of `model` that have weights.

    A listing for lessons that show where the parameters are, layer by layer; reports group
    them by part with `parameter_parts`.
    """
    counts = {"total": model.count_params()}
    for layer in model.layers:
        n = layer.count_params() if layer.built else 0
        if n:
            counts[layer.name] = n
    return counts
