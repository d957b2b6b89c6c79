"""models/positional_embedding.py: token plus position embeddings, the padding mask, the tied
output layer (the embedding in reverse)."""

import numpy as np
import pytest

from models.positional_embedding import PositionalEmbedding
from tests.conftest import BATCH, DIM, TGT, assert_config_round_trip, random_floats


def test_positional_embedding_shapes_mask_and_positions():
    layer = PositionalEmbedding(sequence_length=6, input_dim=10, output_dim=DIM)
    ids = np.array([[3, 4, 0, 0], [5, 5, 5, 0]])
    out = layer(ids)
    assert out.shape == (2, 4, DIM)
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    # The same token at two positions gets two different vectors.
    assert not np.allclose(out[1, 0], out[1, 1])
    # Embedding one token at position 2 equals position 2 of the full pass.
    np.testing.assert_allclose(layer(ids[:, 2:3], start_index=2)[:, 0], out[:, 2], atol=1e-6)


def test_positional_embedding_without_positions_is_a_token_embedding():
    layer = PositionalEmbedding(sequence_length=6, input_dim=10, output_dim=DIM, use_position=False)
    out = layer(np.array([[5, 5]]))
    np.testing.assert_allclose(out[0, 0], out[0, 1])
    assert layer.count_params() == 10 * DIM


@pytest.mark.parametrize("make", [
    lambda: PositionalEmbedding(sequence_length=0, input_dim=10, output_dim=8),
])
def test_bad_arguments_raise_value_error_with_the_value(make):
    with pytest.raises(ValueError, match=r"=\S+"):
        make()


def test_tied_embedding_in_reverse_scores_vectors_against_every_token_vector():
    layer = PositionalEmbedding(6, 10, DIM, tied_output=True)
    vectors = random_floats(BATCH, TGT, DIM)
    layer(np.array([[1, 2]]))  # build
    layer.output_bias.assign(np.arange(10, dtype="float32"))
    table = layer.token_embeddings.embeddings.numpy()
    np.testing.assert_allclose(layer(vectors, reverse=True), vectors @ table.T + np.arange(10),
                               atol=1e-5)
    with pytest.raises(ValueError, match="tied_output"):
        PositionalEmbedding(6, 10, DIM)(vectors, reverse=True)


def test_layer_config_round_trips():
    ids = np.array([[3, 4, 0], [5, 1, 2]])
    assert_config_round_trip(PositionalEmbedding(6, 10, DIM), ids)
    assert_config_round_trip(PositionalEmbedding(6, 10, DIM, tied_output=True), ids)
