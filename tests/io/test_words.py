"""Counts in words: plurals, and the skip summary every command reading a folder prints."""
from deconv.io import images
from deconv.io import words


def test_one_is_singular():
    assert [words.plural(n, "round") for n in (0, 1, 2)] == ["0 rounds", "1 round", "2 rounds"]
    assert [words.plural(n, "class") for n in (1, 3)] == ["1 class", "3 classes"]


def test_skip_summary():
    skipped = [("a.png", "truncated or corrupt (broken PNG)"), ("b.jpg", "zero-byte file"),
               ("c.jpg", "zero-byte file")]
    ignored = {".txt": 2, ".json": 1, images.OUTPUT_FOLDER: 1, images.UNREADABLE_FOLDER: 2}
    assert words.skip_summary(5, skipped, ignored, outside=1) == (
        "read 5 images, skipped 3 (1 truncated or corrupt, 2 zero-byte file); left out 3 files "
        "of other types (.txt: 2, .json: 1), 1 image in no class folder, 2 folders that cannot "
        "be read and 1 folder of deconv's outputs")
    assert words.skip_summary(1, [], {".txt": 1}) == (
        "read 1 image, skipped 0; left out 1 file of other types (.txt: 1)")
    assert words.skip_summary(2, []) == "read 2 images, skipped 0"
