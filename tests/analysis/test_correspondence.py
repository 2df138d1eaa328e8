"""Correspondence on models and images whose answers are known: one unit that only a red 'nose'
drives, and Delta counted by hand on three tiny images."""
import json

import keras
import numpy as np
import pytest
from PIL import Image

from deconv.analysis import correspondence
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError
from deconv.io import images as image_files

NOSE = 4  # the red square's side


def nose_model():
    """`maps`: map 0 fires on red only (R - G - B); maps 1-7 see only green and blue (random
    3x3 kernels). `top`: each map's global maximum."""
    model = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                                                  name="maps"),
                              keras.layers.GlobalMaxPooling2D(name="top")], name="nose")
    kernel = np.random.default_rng(4).normal(0, 1, (3, 3, 3, 8)).astype(np.float32)
    kernel[:, :, 0, 1:] = 0  # the noise maps are blind to red
    kernel[..., 0] = 0
    kernel[1, 1, :, 0] = [1, -1, -1]
    model.get_layer("maps").set_weights([kernel, np.zeros(8, np.float32)])
    return model


def nose_images(count=5, side=20, seed=0):
    """Green-blue noise with a red square at a different place in each image; its boxes."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, side, side, 3), np.float32)
    images[..., 1:] = rng.integers(0, 256, (count, side, side, 2))
    parts = []
    for image in images:
        top, left = rng.integers(1, side - NOSE - 1, 2)
        image[top:top + NOSE, left:left + NOSE] = [255, 0, 0]
        parts.append({"nose": (int(top), int(left), int(top) + NOSE, int(left) + NOSE)})
    return images, parts


def test_a_part_that_drives_one_unit_changes_the_features_consistently():
    images, parts = nose_images()
    result = correspondence.part_correspondence(Deconvnet(nose_model(), "none"), "top", images,
                                                parts=parts, fill="black", trials=8)
    # Covering the nose turns off map 0 in every image and leaves the noise maps' maxima: the
    # same change everywhere. Random boxes of the same size change other maps, image by image.
    assert result.parts == ["nose"] and result.images["nose"] == [0, 1, 2, 3, 4]
    assert result.delta("nose", "top") == (0.0, 0.0)
    random_delta, spread = result.random_delta("nose", "top")
    assert random_delta > 0.1 and spread > 0
    assert result.random_pairs["nose"]["top"].shape == (8, 10)
    boxes = result.random_boxes["nose"]
    assert np.all(boxes[..., 2] - boxes[..., 0] == NOSE) and np.all(boxes[..., 3] -
                                                                   boxes[..., 1] == NOSE)
    assert boxes.min() >= 0 and boxes[..., 2:].max() <= 20
    again = correspondence.part_correspondence(Deconvnet(nose_model(), "none"), "top", images,
                                               parts=parts, fill="black", trials=8)
    np.testing.assert_array_equal(again.random_boxes["nose"], boxes)  # seeded


def test_delta_by_hand_on_three_images():
    # Identity features (the pixels) and their channel means; the top row is covered with 100.
    model = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(3, 1, use_bias=False, name="pixels"),
                              keras.layers.GlobalAveragePooling2D(name="gap")])
    model.get_layer("pixels").set_weights([np.eye(3, dtype=np.float32)[None, None]])
    rows = {"a": [200, 50], "b": [200, 200], "c": [50, 100]}  # the top row; the bottom is 30
    images = np.full((3, 2, 2, 3), 30, np.float32)
    for image, top in zip(images, rows.values()):
        image[0] = np.array(top, np.float32)[:, None]
    parts = [{"row": (0, 0, 1, 2)}] * 3
    result = correspondence.part_correspondence(Deconvnet(model, "none"), ["pixels", "gap"],
                                                images, parts=parts, fill="100")
    # Signs of x - 100 on the top row (3 channels each), 0 on the bottom row; 12 entries:
    # a (+, -), b (+, +), c (-, 0): a-b differ in 3, a-c in 6, b-c in 6.
    np.testing.assert_allclose(result.pairs["row"]["pixels"], [3 / 12, 6 / 12, 6 / 12])
    assert result.delta("row", "pixels") == pytest.approx((15 / 36, np.std([3, 6, 6]) / 12))
    # Channel means change by (100 - 50) / 4 > 0, 200 / 4 > 0 and (-50 + 0) / 4 < 0.
    np.testing.assert_allclose(result.pairs["row"]["gap"], [0, 1, 1])
    row = "| row (3) | 0.417 ± 0.118 | {:.3f} ± {:.3f} | 0.667 ± 0.471 | {:.3f} ± {:.3f} |"
    assert correspondence.table(result).splitlines()[2] == row.format(
        *result.random_delta("row", "pixels"), *result.random_delta("row", "gap"))


def test_boxes_map_to_the_resized_image_and_back():
    for aspect, original in (("stretch", (300, 200)), ("crop", (300, 200)), ("crop", (120, 360))):
        box = [90, 40, 150, 120]
        if aspect == "crop" and original == (120, 360):
            box = [30, 150, 90, 210]
        resized = correspondence.from_original(box, original, 60, aspect)
        back = image_files.to_original(resized, original, 60, aspect)
        scale = max(original) / 60
        assert all(abs(a - b) <= scale + 1 for a, b in zip(back, box)), (aspect, box, back)
        assert back[0] <= box[0] and back[1] <= box[1] and back[2] >= box[2] and back[3] >= box[3]
    with pytest.raises(DeconvError, match=r"^box \[0, 0, 100, 40\] lies outside the centre "
                                          r"square that aspect crop keeps of the 120x360 image"):
        correspondence.from_original([0, 0, 100, 40], (120, 360), 60, "crop")


def test_bad_parts_are_reported_first():
    images, parts = nose_images(3)
    run = lambda parts: correspondence.part_correspondence(  # noqa: E731
        Deconvnet(nose_model()), "top", images, parts=parts)
    with pytest.raises(DeconvError, match=r"^part_correspondence takes a deconv.Deconvnet first "
                                          r".*; received Sequential\.$"):
        correspondence.part_correspondence(nose_model(), "top", images, parts=parts)
    with pytest.raises(DeconvError, match=r"^parts must give one \{part: box\} dict per image "
                                          r"\(3\); received list of 2\.$"):
        run(parts[:2])
    with pytest.raises(DeconvError, match=r"^Image 1, part 'nose': box \[0, 0, 0, 4\] is empty"):
        run([parts[0], {"nose": (0, 0, 0, 4)}, parts[2]])
    with pytest.raises(DeconvError, match=r"^Each part needs boxes in at least two images; eye "
                                          r"has fewer\.$"):
        run([{**parts[0], "eye": (0, 0, 2, 2)}, parts[1], parts[2]])
    with pytest.raises(DeconvError, match=r"^Image 0, part 'nose': a box is four integers"):
        run([{"nose": (0.5, 0, 2, 2)}, parts[1], parts[2]])


def test_a_parts_file_is_read_in_original_pixels(tmp_path):
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (40, 80, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 256, (30, 30, 3), np.uint8)).save(tmp_path / "b.png")
    (tmp_path / "parts.json").write_text(json.dumps({
        "a.png": {"eye": [10, 20, 20, 40], "ear": [0, 0, 4, 4]}, "b.png": {"eye": [3, 3, 9, 9]}}))
    paths, pixels, parts = correspondence.read_parts(str(tmp_path / "parts.json"),
                                                     str(tmp_path), 20)
    assert paths == [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    assert pixels.shape == (2, 20, 20, 3) and pixels.dtype == np.uint8
    # Stretched to 20x20: a.png's rows by 1/2 and columns by 1/4, b.png's both by 2/3.
    assert parts == [{"eye": [5, 5, 10, 10], "ear": [0, 0, 2, 1]}, {"eye": [2, 2, 6, 6]}]
    (tmp_path / "bad.json").write_text(json.dumps({"a.png": {"eye": [10, 20, 50, 40]}}))
    with pytest.raises(DeconvError, match=r"^Parts file .*bad.json: a.png, part 'eye': box "
                                          r"\[10, 20, 50, 40\] is empty or outside the 40x80 "
                                          r"image\.$"):
        correspondence.read_parts(str(tmp_path / "bad.json"), str(tmp_path), 20)
    (tmp_path / "odd.json").write_text(json.dumps({"a.png": {"eye": [1, 2, 3]}}))
    with pytest.raises(DeconvError, match=r"a.png, part 'eye': a box is \[top, left, bottom, "
                                          r"right\] in pixels; received \[1, 2, 3\]\.$"):
        correspondence.read_parts(str(tmp_path / "odd.json"), str(tmp_path), 20)
