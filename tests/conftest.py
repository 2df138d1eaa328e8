"""Session-scoped tiny fixtures: seeded random VGGs and a small custom CNN, small inputs."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import deconv  # noqa: E402


def with_small_biases(model, seed):
    """Gives every bias small random values, so forward ReLUs and pooling are not trivial."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if len(layer.weights) == 2:
            layer.weights[1].assign(rng.uniform(-0.02, 0.02, layer.weights[1].shape)
                                    .astype(np.float32))
    return model


@pytest.fixture(scope="session")
def vgg19():
    return with_small_biases(deconv.load_model("vgg19", weights=None, seed=19), 1)


@pytest.fixture(scope="session")
def vgg16():
    return with_small_biases(deconv.load_model("vgg16", weights=None, seed=16), 2)


@pytest.fixture(scope="session")
def net19(vgg19):
    return deconv.Deconvnet(vgg19)


def build_custom_cnn(seed=7):
    """A chain with what VGG lacks: strided and valid convs, ReLU layers, overlapping 'same'
    pooling, dilation, dropout and a linear conv."""
    model = keras.Sequential([
        keras.Input((None, None, 3)),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1"),
        keras.layers.ReLU(name="r1"),
        keras.layers.MaxPooling2D(3, strides=2, padding="same", name="p1"),
        keras.layers.Conv2D(6, 3, padding="valid", activation="relu", name="c2"),
        keras.layers.Dropout(0.5, name="d1"),
        keras.layers.Conv2D(5, 3, dilation_rate=2, padding="same", name="c3"),
        keras.layers.Activation("relu", name="a3"),
    ], name="custom")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for weight in layer.weights:
            weight.assign(rng.normal(0, 0.3, weight.shape).astype(np.float32))
    return model


@pytest.fixture(scope="session")
def custom_cnn():
    return build_custom_cnn()


def photos(size, names=("astronaut", "chelsea")):
    """Real photos from scikit-image, resized to `size` = (height, width), uint8 RGB."""
    from PIL import Image
    from skimage import data
    return np.stack([np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB")
                                .resize(size[::-1], Image.BILINEAR)) for name in names])


@pytest.fixture(scope="session")
def images_67x45():
    """One real photo and one of noise, as floats: an odd size, so pooling drops a row/column."""
    noise = np.random.default_rng(0).uniform(0, 255, (1, 67, 45, 3))
    return np.concatenate([photos((67, 45), ("astronaut",)), noise]).astype(np.float32)


@pytest.fixture(scope="session")
def images_64x48():
    """Two real photos as uint8, an even size."""
    return photos((64, 48))


@pytest.fixture(scope="session")
def colour_net():
    """The hand-set colour model's deconvnet (`tests.colour_model`)."""
    from tests import colour_model
    return deconv.Deconvnet(colour_model.colour_model())


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory):
    """`(root, {name: pixels})`: a red/blue class folder with bad files (read only)."""
    from tests import colour_model
    root = tmp_path_factory.mktemp("classes")
    return root, colour_model.make_folder(root)
