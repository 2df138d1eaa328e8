"""Class-wise top feature maps on a hand-set colour model whose answers are known."""
import os

import numpy as np
import pytest
from PIL import Image

from deconv.analysis import class_maps
from deconv.errors import DeconvError
from deconv.io.streaming import Reading
from tests.helpers import colour_model
from tests.helpers.colour_model import BLUE, CONSTANT, RED


def test_names_the_map_of_each_class(colour_net, colour_folder):
    root, _ = colour_folder
    result = class_maps.class_maps(colour_net, "colours", str(root), per_image=1, per_class=3,
                                   reading=Reading(16, batch_size=2))
    assert result.classes == ["blue", "red"]
    # Only maps that won in some image are listed, so each class names its colour alone.
    assert result.maps == {"blue": [BLUE], "red": [RED]}
    assert result.images.tolist() == [3, 4]
    assert result.counts[1, RED] == 4 and result.counts[0, BLUE] == 3
    assert result.counts.sum() == 7


def test_ties_in_count_go_to_the_stronger_map_and_files_are_accounted_for(colour_net,
                                                                          colour_folder):
    root, written = colour_folder
    result = class_maps.class_maps(colour_net, "pooled", str(root), per_image=2, per_class=5,
                                   reading=Reading(16, batch_size=3))
    # Every red image votes for red and the constant map: the tie goes to red (stronger).
    assert result.maps == {"blue": [BLUE, CONSTANT], "red": [RED, CONSTANT]}
    # Oracle: the maps' means by hand, pooled over 2x2 blocks, averaged per class.
    for number, name in enumerate(result.classes):
        maps = [colour_model.by_hand(pixels[None])[0] for key, pixels in written.items()
                if key.startswith(name)]
        pooled = [m.reshape(8, 2, 8, 2, 5).max(axis=(1, 3)).mean(axis=(0, 1)) for m in maps]
        np.testing.assert_allclose(result.mean_activation[number], np.mean(pooled, axis=0),
                                   rtol=1e-5, atol=1e-6)
    reasons = {os.path.basename(path): reason for path, reason in result.skipped}
    assert sorted(reasons) == ["cut.png", "empty.jpg", "text.png"]
    assert reasons["empty.jpg"] == "zero-byte file"
    assert reasons["text.png"] == "not an image Pillow can identify"
    assert reasons["cut.png"].startswith("truncated or corrupt")
    assert [os.path.basename(path) for path in result.outside] == ["loose.png"]
    assert result.ignored == {".txt": 1}
    details = class_maps.details(result)
    assert details["counts"] == {"read": 7, "skipped": 3, "skipped_by_reason": {
        "not an image Pillow can identify": 1, "truncated or corrupt": 1, "zero-byte file": 1},
        "outside_class_folders": 1, "ignored_by_extension": {".txt": 1}}
    assert details["classes"]["red"]["maps"][1] == {
        "map": CONSTANT, "count": 4, "share": 1.0,
        "mean_activation": pytest.approx(0.05, abs=1e-6)}


def test_ranking_rules():
    counts = np.array([[3, 5, 5, 0, 1]])
    means = np.array([[9.0, 1.0, 2.0, 7.0, 2.0]])
    assert class_maps.rank_maps(counts, means, 3) == [[2, 1, 0]]
    assert class_maps.rank_maps(counts, means, 10) == [[2, 1, 0, 4]]
    ids, kept = class_maps.top_per_image(np.array([[0.0, 2.0, 2.0, -1.0]]), 3)
    assert ids.tolist() == [[1, 2, 0]] and kept.tolist() == [[True, True, False]]


def test_bad_input(colour_net, colour_folder, tmp_path):
    root, _ = colour_folder
    with pytest.raises(DeconvError, match=r"per_image must be an integer from 1 to 65536; "
                                          r"received 0"):
        class_maps.class_maps(colour_net, "colours", str(root), per_image=0,
                              reading=Reading(16))
    with pytest.raises(DeconvError, match=r"size 1: too small for layer 'pooled', which needs "
                                          r"images of at least 2x2"):
        class_maps.class_maps(colour_net, "pooled", str(root), per_image=1, reading=Reading(1))
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DeconvError, match="has images but no class sub-folders"):
        class_maps.scan_classes(str(tmp_path / "flat"))
    (tmp_path / "bad.json").write_text('{"red": [0, "x"]}')
    with pytest.raises(DeconvError, match=r"must be a JSON object \{class: \[map ids\]\}"):
        class_maps.load(str(tmp_path / "bad.json"))


