"""models/registry.py: every model is one entry (builder, steps, label) and its model holds its
parts, which is all that decoding, training and reports use."""

import numpy as np
import pytest

from models.registry import MODELS, parameter_counts, parameter_parts
from models.token_selection import build_training_model

SIZES = {"transformer": dict(sequence_length=6, embed_dim=8, dense_dim=16, num_heads=2),
         "rnn": dict(embed_dim=8, rnn_units=8), "gru": dict(embed_dim=8, rnn_units=8)}


def _build(name, **extra):
    return MODELS[name].build(source_vocab_size=30, target_vocab_size=40, **SIZES[name], **extra)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_parts_cover_every_weight(name):
    model = _build(name)
    parts = parameter_parts(model)
    assert sum(v for k, v in parts.items() if k != "total") == parts["total"] == \
        model.count_params()
    assert parameter_counts(model)["total"] == parts["total"]


@pytest.mark.parametrize("name, extra", [("transformer", {}), ("transformer",
                                          dict(tie_embeddings=True, norm_first=True)),
                                         ("rnn", {}), ("gru", {})])
def test_the_training_view_and_the_steps_use_the_models_parts(name, extra):
    model = _build(name, **extra)
    ids = np.array([[3, 4, 5, 0, 0, 0], [6, 7, 8, 9, 0, 0]], dtype="int64")
    full = np.asarray(model({"english": ids, "spanish": ids}))
    training = build_training_model(model)
    mask = (ids != 0).astype("int64")
    selected = np.asarray(training({"english": ids, "spanish": ids, "loss_mask": mask}))
    np.testing.assert_allclose(selected, full[mask.astype(bool)], atol=1e-5)
    steps = MODELS[name].steps(model)
    state = steps.encode(ids)
    cache = steps.init_cache(state, 6)
    logits, _ = steps.next_fn(ids, cache, 0)
    np.testing.assert_allclose(np.asarray(logits), full[:, 0], atol=1e-4)
    assert (steps.attention(ids, ids) is None) == (not MODELS[name].has_attention)


def test_builders_name_their_arguments_like_the_config_fields():
    from nmt.config import Config

    fields = set(Config.__dataclass_fields__)
    for name, spec in MODELS.items():
        missing = set(spec.build_arguments()) - fields - {"source_vocab_size", "target_vocab_size"}
        assert not missing, (name, missing)


@pytest.mark.parametrize("name, extra, layers, heads", [
    ("transformer", dict(num_layers=2), 2, 2), ("rnn", {}, 1, 1), ("gru", {}, None, None)])
def test_the_attention_of_every_layer_ends_with_the_last_layers(name, extra, layers, heads):
    steps = MODELS[name].steps(_build(name, **extra))
    source = np.array([[3, 4, 5, 0], [6, 7, 8, 9]], dtype="int64")
    target = np.array([[1, 5, 6], [1, 7, 0]], dtype="int64")
    every = steps.attention(source, target, all_layers=True)
    if layers is None:  # the attention-free GRU
        assert every is None
        return
    assert every.shape == (2, layers, heads, 3, 4)  # (batch, layers, heads, tgt_len, src_len)
    np.testing.assert_allclose(np.asarray(every)[:, -1], steps.attention(source, target),
                               atol=1e-6)
