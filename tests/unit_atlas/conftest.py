"""The unit atlas's shared fixtures: a small image folder and a real atlas of it (VGG16 with
seeded random weights and small biases, two layers), built once per session."""
import numpy as np
from PIL import Image
import pytest

from deconv.io import images as image_files
from deconv.unit_atlas import build
from tests.conftest import photos

SIZE = 32
SETTINGS = build.AtlasSettings(top=3, size=SIZE, batch_size=4, tile=16, thumb=8)
RECORD = {"model": "vgg16", "weights": "random", "seed": 2}


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """Eight images (two real photos, six of noise, odd sizes) and a corrupt file."""
    root = tmp_path_factory.mktemp("atlas_images")
    rng = np.random.default_rng(5)
    pictures_ = list(photos((40, 30), ("astronaut", "coffee")))
    pictures_ += [rng.integers(0, 256, (30 + 4 * i, 36, 3), np.uint8) for i in range(6)]
    for number, pixels in enumerate(pictures_):
        Image.fromarray(pixels).save(root / f"img{number}.png")
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    paths, ignored = image_files.scan_folder(str(root), image_files.parse_extensions(None))
    return str(root), paths, ignored


@pytest.fixture(scope="session")
def atlas(net16, dataset, tmp_path_factory):
    root, paths, ignored = dataset
    out = str(tmp_path_factory.mktemp("atlas"))
    layers = build.choose_layers(net16, ["conv1_2", "conv3_1"], SETTINGS)
    outcome = build.build_atlas(net16, paths, root, layers, out, SETTINGS, RECORD, ignored)
    return out, outcome


