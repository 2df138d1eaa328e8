"""Paper-style and Keras-style layer names."""
import pytest

from deconv.core import names
from deconv.errors import DeconvError

LAYERS = ["block1_conv1", "block1_conv2", "block1_pool", "block2_conv1"]


@pytest.mark.parametrize("given,expected", [("conv1_2", "block1_conv2"), ("pool1", "block1_pool"),
                                            ("block2_conv1", "block2_conv1")])
def test_both_spellings_resolve(given, expected):
    assert names.resolve(given, LAYERS) == expected


def test_unknown_name_lists_valid_names():
    with pytest.raises(DeconvError) as error:
        names.resolve("conv9_9", LAYERS)
    message = str(error.value)
    assert "'conv9_9'" in message
    assert "conv1_1/block1_conv1" in message and "pool1/block1_pool" in message


def test_aliases_both_ways():
    assert names.paper_name("block4_conv4") == "conv4_4"
    assert names.keras_name("conv4_4") == "block4_conv4"
    assert names.paper_name("dense") is None and names.keras_name("c1") is None
