"""Receptive-field boxes against hand-worked examples and well-known VGG figures."""
import pytest

import deconv
from deconv.errors import DeconvError


def _size(box):
    return box[2] - box[0], box[3] - box[1]


def test_vgg_boxes_worked_by_hand(vgg16):
    # conv1_1 at (5, 7): 3x3, pad 1 -> rows 4..6, columns 6..8.
    assert deconv.receptive_field(vgg16, "conv1_1", (5, 7), (224, 224)) == (4, 6, 7, 9)
    assert deconv.receptive_field(vgg16, "conv1_1", (0, 0), (224, 224)) == (0, 0, 2, 2)
    assert deconv.receptive_field(vgg16, "conv1_2", (5, 5)) == (3, 3, 8, 8)
    # pool1 at y covers conv1_2 rows 2y, 2y+1, which see pixel rows 2y-2 .. 2y+3.
    assert deconv.receptive_field(vgg16, "pool1", (3, 4)) == (4, 6, 10, 12)
    assert deconv.receptive_field(vgg16, "block2_conv1", (3, 4)) == (2, 4, 12, 14)
    # Clipped at the image's far edges.
    assert deconv.receptive_field(vgg16, "pool1", (111, 111), (224, 224)) == (220, 220, 224, 224)


@pytest.mark.parametrize("layer,size", [("conv3_3", 40), ("pool3", 44), ("conv4_3", 92),
                                        ("pool4", 100), ("conv5_3", 196), ("pool5", 212)])
def test_vgg16_receptive_field_sizes(vgg16, layer, size):
    assert _size(deconv.receptive_field(vgg16, layer, (20, 20))) == (size, size)


def test_strided_same_layers_worked_by_hand(custom_cnn):
    # c1: 3x3/2 'same' on 67 rows -> 34; padding 2 in all, 1 before: rows 2y-1 .. 2y+1.
    assert deconv.receptive_field(custom_cnn, "c1", (0, 0), (67, 45)) == (0, 0, 2, 2)
    assert deconv.receptive_field(custom_cnn, "c1", (10, 3), (67, 45)) == (19, 5, 22, 8)
    # p1: 3x3/2 'same' on 34 rows -> 17; padding 1 in all, 0 before: c1 rows 2y .. 2y+2,
    # pixel rows 4y-1 .. 4y+5; the last map row (16) is clipped to the image.
    # Columns differ: c1 has 23, p1 12, padding 2 in all, 1 before: c1 columns 2x-1 .. 2x+1,
    # pixel columns 4x-3 .. 4x+3.
    assert deconv.receptive_field(custom_cnn, "p1", (16, 2), (67, 45)) == (63, 5, 67, 12)


def test_strided_same_needs_image_size(custom_cnn):
    with pytest.raises(DeconvError, match="image_size"):
        deconv.receptive_field(custom_cnn, "c1", (0, 0))


def test_position_outside_maps(vgg16):
    with pytest.raises(DeconvError, match=r"outside the 14x14 maps"):
        deconv.receptive_field(vgg16, "conv4_3", (14, 0), (112, 112))
