"""Occlusion sensitivity on tiny models whose answers are known."""
import keras
import numpy as np
import pytest

import deconv
from deconv.analysis import occlusion
from deconv.errors import DeconvError
from deconv.models import classes as class_names
from tests.helpers.corner_model import CORNER
from tests.helpers.corner_model import corner_image as _corner_image
from tests.helpers.corner_model import sum_classifier as _sum_classifier


def _covers_corner(top, left, size):
    return top == 0 and left == 0 and size >= CORNER


def _overlaps_corner(top, left):
    return top < CORNER and left < CORNER


def test_feature_loses_activation_only_where_the_corner_is_covered(corner_net):
    image = _corner_image()
    result = occlusion.occlude(corner_net, "blocks", image,
                               occluder=occlusion.Occluder(4, 2, "black"))
    assert result.feature == 0 and result.feature_baseline == pytest.approx(255)
    assert list(result.tops) == [0, 2, 4, 6, 8, 10, 12]
    for r, top in enumerate(result.tops):
        for c, left in enumerate(result.lefts):
            # Brute force: the occluded image's map total, computed by hand.
            occluded = image.copy()
            occluded[top:top + 4, left:left + 4] = 0
            expected = occluded.reshape(4, 4, 4, 4, 3).sum(axis=(1, 3, 4)).sum() / 48
            assert result.feature_total[r, c] == pytest.approx(expected, abs=1e-3)
            assert (result.feature_total[r, c] < 255 - 1e-3) == _overlaps_corner(top, left)


def test_classes_change_only_when_the_corner_is_covered():
    classifier = keras.Sequential([keras.Input((16, 16, 3)),
                                   keras.layers.Conv2D(2, 16, name="logits"),
                                   keras.layers.Flatten(), keras.layers.Softmax()])
    kernel = np.zeros((16, 16, 3, 2), np.float32)
    kernel[:CORNER, :CORNER, :, 0] = 0.1  # class 0 sees the bright corner
    classifier.get_layer("logits").set_weights([kernel, np.array([0.0, 1.0], np.float32)])
    result = occlusion.occlude(deconv.Deconvnet(classifier), None, _corner_image(),
                               feature_part=False, classifier=classifier,
                               occluder=occlusion.Occluder(4, 2, "black"),
                               classifier_preprocessing="none")
    assert result.layer is None and result.feature_total is None  # the class part alone
    assert result.target == 0 and result.target_baseline > 0.99
    for r, top in enumerate(result.tops):
        for c, left in enumerate(result.lefts):
            covered = _covers_corner(top, left, 4)
            assert result.top_class[r, c] == (1 if covered else 0)
            assert (result.target_probability[r, c] < 0.5) == covered


def test_classifier_gets_the_nets_preprocessing_by_default(corner_net):
    assert corner_net.preprocessing.name == "none"  # a .keras model's
    classifier = _sum_classifier(16)
    found = occlusion.occlude(corner_net, "blocks", _corner_image(), classifier=classifier,
                              occluder=occlusion.Occluder(8, 8))
    assert found.target == 0 and found.target_baseline > 0.99
    caffe = occlusion.occlude(corner_net, "blocks", _corner_image(), classifier=classifier,
                              occluder=occlusion.Occluder(8, 8), classifier_preprocessing="caffe")
    assert caffe.target == 1 and caffe.target_baseline > 0.99
    with pytest.raises(DeconvError, match=r"Unknown preprocessing 'bgr'. Valid: caffe, none, "):
        occlusion.occlude(corner_net, None, _corner_image(), feature_part=False,
                          classifier=classifier, occluder=occlusion.Occluder(8),
                          classifier_preprocessing="bgr")


def test_occlude_takes_the_net_first_and_something_to_watch(corner_net):
    with pytest.raises(DeconvError, match=r"^occlude takes a deconv.Deconvnet first .*; "
                                          r"received NoneType\.$"):
        occlusion.occlude(None, None, _corner_image(), classifier=_sum_classifier(16))
    with pytest.raises(DeconvError, match="needs a feature map to watch"):
        occlusion.occlude(corner_net, "blocks", _corner_image(), feature_part=False)


def test_layer_defaults_to_the_last_conv_layer(custom_cnn):
    net = deconv.Deconvnet(custom_cnn)
    image = np.random.default_rng(5).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    found = occlusion.occlude(net, None, image, occluder=occlusion.Occluder(8, 8))
    named = occlusion.occlude(net, "c3", image, occluder=occlusion.Occluder(8, 8))
    assert found.layer == "c3" and found.feature == named.feature
    np.testing.assert_array_equal(found.feature_total, named.feature_total)


def test_grid_and_fill_rules():
    tops, lefts = occlusion.grid((20, 11), 5, 4)
    assert list(tops) == [0, 4, 8, 12, 15] and list(lefts) == [0, 4, 6]
    image = np.zeros((4, 4, 3))
    image[..., 0] = 90
    np.testing.assert_allclose(occlusion.fill_color("mean", image), [90, 0, 0])
    np.testing.assert_allclose(occlusion.fill_color("10,20,30", image), [10, 20, 30])
    with pytest.raises(DeconvError, match="Unknown fill 'pink'"):
        occlusion.fill_color("pink", image)
    with pytest.raises(DeconvError, match="larger than the image"):
        occlusion.grid((20, 11), 12, 4)


def test_class_names_are_shipped():
    classes = class_names.imagenet_classes()
    assert len(classes) == 1000
    assert classes[0][:2] == ["n01440764", "tench"] and classes[281][1] == "tabby"


def test_heat_maps_align_with_the_square_positions():
    result = occlusion.Occlusion(np.array([0, 4, 8]), np.array([0, 6]), size=4)
    values = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    pixels = occlusion.to_pixels(values, result, (12, 10))
    # Each pixel takes the position whose square's centre (top + 2, left + 2) is nearest.
    assert pixels[0, 0] == 1 and pixels[0, 9] == 2 and pixels[11, 0] == 5
    assert pixels[7, 0] == 3 and pixels[8, 0] == 5  # row centres 7.5, 8.5; square centres 6 | 10
    assert pixels[0, 4] == 1 and pixels[0, 5] == 2  # columns 2 | 8: nearest at 4 is 2


