"""Reading every kind of image file as RGB, and finding files in folders."""
import io
import os

import numpy as np
import pytest
from PIL import Image

from deconv.io import images
from deconv.errors import DeconvError


def _save(path, image, **kwargs):
    image.save(path, **kwargs)
    return str(path)


def test_modes_become_rgb(tmp_path):
    gray = Image.fromarray(np.full((6, 8), 77, np.uint8), "L")
    rgba = Image.fromarray(np.dstack([np.full((6, 8, 3), 10, np.uint8),
                                      np.full((6, 8), 0, np.uint8)]), "RGBA")
    palette = gray.convert("P")
    cmyk = Image.new("CMYK", (8, 6), (0, 255, 255, 0))  # pure red
    deep = Image.fromarray(np.full((6, 8), 65535, np.uint16))  # 16-bit white
    cases = {"gray.png": (gray, 77), "rgba.png": (rgba, 255), "palette.png": (palette, 77),
             "cmyk.jpg": (cmyk, None), "deep.png": (deep, 255)}
    for name, (image, value) in cases.items():
        pixels, original, reason = images.read_image(_save(tmp_path / name, image))
        assert reason is None, name
        assert pixels.shape == (6, 8, 3) and pixels.dtype == np.uint8 and original == (6, 8)
        if value is not None:
            assert (pixels == value).all(), (name, pixels[0, 0])
    red, _, _ = images.read_image(str(tmp_path / "cmyk.jpg"))
    assert red[0, 0, 0] > 200 and red[0, 0, 1] < 60


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((4, 10, 3), np.uint8)
    pixels[0, 0] = 255  # a mark at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90-degree clockwise turn
    path = _save(tmp_path / "rotated.png", Image.fromarray(pixels), exif=exif)
    upright, original, _ = images.read_image(path)
    assert upright.shape == (10, 4, 3) and original == (10, 4)
    assert upright[0, -1].max() == 255  # clockwise: stored top-left goes to the top-right


def test_bad_files_give_reasons(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        buffer, "PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])
    reasons = {name: images.read_image(str(tmp_path / name))[2]
               for name in ("empty.jpg", "text.jpg", "cut.png")}
    assert reasons["empty.jpg"] == "zero-byte file"
    assert reasons["text.jpg"] == "not an image Pillow can identify"
    assert reasons["cut.png"].startswith("truncated or corrupt")


def test_resize_stretch_and_crop_and_boxes_back(tmp_path):
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:, :50] = 255  # the left quarter is white
    path = _save(tmp_path / "wide.png", Image.fromarray(pixels))
    stretched, _, _ = images.read_image(path, 20, "stretch")
    cropped, _, _ = images.read_image(path, 20, "crop")
    assert stretched.shape == cropped.shape == (20, 20, 3)
    assert stretched[10, 2].min() > 200 and cropped[10, 2].max() == 0  # crop keeps the centre
    assert images.to_original((0, 0, 10, 10), (100, 200), 20, "stretch") == [0, 0, 50, 100]
    assert images.to_original((0, 0, 10, 10), (100, 200), 20, "crop") == [0, 50, 50, 100]


def test_find_images_recursive_filtered_and_errors(tmp_path):
    for relative in ("a/x.jpg", "a/b/y.JPEG", "c/z.png", "notes.txt"):
        os.makedirs(tmp_path / os.path.dirname(relative), exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    found = images.find_images(str(tmp_path), images.parse_extensions(".jpg"))
    assert [os.path.relpath(p, tmp_path) for p in found] == ["a/b/y.JPEG", "a/x.jpg"]
    assert len(images.find_images(str(tmp_path), images.parse_extensions(None))) == 3
    with pytest.raises(DeconvError, match=r"No files of .*\.bmp.* it has: \.jpeg \(1\), \.jpg"):
        images.find_images(str(tmp_path), images.parse_extensions("bmp"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeconvError, match="is empty"):
        images.find_images(str(tmp_path / "empty"), images.parse_extensions(None))
    with pytest.raises(DeconvError, match="Image folder not found"):
        images.find_images(str(tmp_path / "missing"), images.parse_extensions(None))


def test_find_images_follows_folder_links_once(tmp_path):
    (tmp_path / "data" / "cats").mkdir(parents=True)
    (tmp_path / "data" / "cats" / "a.jpg").write_bytes(b"x")
    only_link = tmp_path / "only_link"
    only_link.mkdir()
    os.symlink(tmp_path / "data" / "cats", only_link / "cats")
    found = images.find_images(str(only_link), images.parse_extensions(None))
    assert [os.path.relpath(p, only_link) for p in found] == ["cats/a.jpg"]
    root = tmp_path / "root"
    root.mkdir()
    (root / "b.png").write_bytes(b"x")
    os.symlink(tmp_path / "data" / "cats", root / "cats")          # a linked class folder
    os.symlink(tmp_path / "data" / "cats", root / "cats_again")    # the same folder twice
    os.symlink(root, tmp_path / "data" / "cats" / "up")            # a loop back up the tree
    found = images.find_images(str(root), images.parse_extensions(None))
    assert [os.path.relpath(p, root) for p in found] == ["b.png", "cats/a.jpg"]


def test_unreadable_subfolder_is_warned_and_counted(tmp_path, monkeypatch):
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.jpg").write_bytes(b"x")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.jpg").write_bytes(b"x")
    real_scandir = os.scandir

    def scandir(path):
        if os.path.basename(str(path)) == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    warnings = []
    monkeypatch.setattr(images.logging, "warning",
                        lambda *args: warnings.append(args[0] % args[1:]))
    paths, others = images.scan_folder(str(tmp_path), images.parse_extensions(None))
    assert [os.path.relpath(p, tmp_path) for p in paths] == ["ok/a.jpg"]
    assert others == {"(unreadable folder)": 1}
    assert len(warnings) == 1 and "locked" in warnings[0]


def _exact_box(box, original, size, aspect):
    """The box in original pixels as exact fractions: what each edge maps to."""
    from fractions import Fraction
    height, width = original
    if aspect == "crop":
        scale = size / min(height, width)
        resized = [max(size, round(side * scale)) for side in (height, width)]
    else:
        resized = [size, size]
    offsets = [(r - size) // 2 for r in resized]
    return [Fraction(offsets[axis] + edge) * Fraction((height, width)[axis], resized[axis])
            for edge, axis in zip(box, (0, 1, 0, 1))]


def test_boxes_in_original_pixels_cover_every_source_pixel_and_are_never_empty():
    import math
    # The case: a 1x1 image, any box of the resized square is its one pixel.
    assert images.to_original([100, 100, 110, 110], (1, 1), 224, "stretch") == [0, 0, 1, 1]
    assert images.to_original([0, 112, 10, 224], (1, 1), 224, "crop") == [0, 0, 1, 1]
    rng = np.random.default_rng(5)
    for original in [(1, 1), (1, 7), (3, 2), (100, 200), (37, 59), (224, 224), (500, 333)]:
        for aspect in images.ASPECTS:
            for _ in range(40):
                size = int(rng.integers(1, 300))
                top, bottom = sorted(rng.choice(size + 1, 2, replace=False))
                left, right = sorted(rng.choice(size + 1, 2, replace=False))
                box = [int(top), int(left), int(bottom), int(right)]
                got = images.to_original(box, original, size, aspect)
                exact = _exact_box(box, original, size, aspect)
                for axis, side in ((0, original[0]), (1, original[1])):
                    start, end = got[axis], got[axis + 2]
                    assert 0 <= start < end <= side, (box, original, aspect, got)
                    assert start == min(math.floor(exact[axis]), side - 1)
                    assert end == min(max(math.ceil(exact[axis + 2]), start + 1), side)


def test_deconv_outputs_are_never_read_as_input(tmp_path, monkeypatch):
    from deconv.io import outputs
    root = tmp_path / "photos"
    outputs.ensure_folder(str(root / "results"))  # written by an earlier command: marked
    for relative in ("a.png", "results/conv1_1_feat.png", "next/b.png", "cats/c.png"):
        os.makedirs(root / os.path.dirname(relative), exist_ok=True)
        (root / relative).write_bytes(b"x")
    warnings = []
    monkeypatch.setattr(images.logging, "warning",
                        lambda *args: warnings.append(args[0] % args[1:]))
    paths, others = images.scan_folder(str(root), images.parse_extensions(None),
                                       exclude=[str(root / "next")])  # this command's output
    assert [os.path.relpath(p, root) for p in paths] == ["a.png", "cats/c.png"]
    assert others == {images.OUTPUT_FOLDER: 2}
    assert sorted(warnings) == [f"Skipped {root / name}: deconv's own outputs are never read as "
                                f"input." for name in ("next", "results")]
    for folder, exclude in ((root / "results", ()), (root, [str(root)])):
        with pytest.raises(DeconvError, match=r"is a folder deconv writes its outputs to: deconv "
                                              r"never reads its own outputs as input"):
            images.scan_folder(str(folder), images.parse_extensions(None), exclude)
