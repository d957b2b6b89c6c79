"""models/sinusoidal_encoding.py: the sinusoidal encoding has the paper's values; the layer
broadcasts, round-trips and checks its arguments."""

import keras
import numpy as np
import pytest

from models.sinusoidal_encoding import SinusoidalEncoding, sinusoidal_encoding
from tests.conftest import assert_config_round_trip, assert_saved_model_round_trip


def test_sinusoidal_encoding_has_the_papers_values():
    pe = np.asarray(sinusoidal_encoding(length=3, depth=6))
    assert pe.shape == (3, 6)
    # Position 0: sin(0) = 0 in the even columns, cos(0) = 1 in the odd ones.
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1, 0, 1], atol=1e-7)
    # Column pair i has frequency 10000^(-2i/6): pair 0 is sin/cos(pos), pair 1 sin/cos(pos/10000^(1/3)).
    np.testing.assert_allclose(pe[2, :2], [np.sin(2.0), np.cos(2.0)], atol=1e-6)
    np.testing.assert_allclose(pe[1, 2:4], [np.sin(10000 ** (-1 / 3)), np.cos(10000 ** (-1 / 3))],
                               atol=1e-6)
    # start_index shifts the positions (one-token decoding).
    np.testing.assert_allclose(np.asarray(sinusoidal_encoding(1, 6, start_index=2))[0], pe[2], atol=1e-6)


def test_sinusoidal_layer_broadcasts_to_its_input_and_round_trips(tmp_path):
    x = np.zeros((2, 4, 8), "float32")
    out = np.asarray(SinusoidalEncoding()(x))
    assert out.shape == (2, 4, 8)
    np.testing.assert_allclose(out[1], np.asarray(sinusoidal_encoding(4, 8)), atol=1e-7)
    assert_config_round_trip(SinusoidalEncoding(max_wavelength=100.0), x)
    inputs = keras.Input((None, 8))
    model = keras.Model(inputs, inputs + SinusoidalEncoding(max_wavelength=100.0)(inputs))
    assert_saved_model_round_trip(model, np.ones((2, 5, 8), "float32"), tmp_path)


@pytest.mark.parametrize("make", [
    lambda: sinusoidal_encoding(length=-1, depth=4),
    lambda: sinusoidal_encoding(length=3, depth=0),
    lambda: sinusoidal_encoding(length=3, depth=4, max_wavelength=0.5),
    lambda: SinusoidalEncoding(max_wavelength=-10),
])
def test_sinusoidal_bad_arguments_raise_value_error_with_the_value(make):
    with pytest.raises(ValueError, match=r"=\S+"):
        make()
