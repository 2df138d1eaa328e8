"""The graph functions a `Deconvnet` compiles: callables over its Keras models.

They are callable objects rather than closures: TensorFlow groups its retracing warnings by a
function's code, which every closure of one function shares, so one closure per layer would warn
about "retracing" that is only one trace each.
"""
import tensorflow as tf

from deconv.core import selection
from deconv.core import window


def images_spec(dtype=tf.float32, name=None, size=(None, None)):
    """The `tf.TensorSpec` of a batch of RGB images `(N, H, W, 3)` of any size, or of `size`."""
    return tf.TensorSpec([None, *size, 3], dtype, name=name)


IMAGES = images_spec(tf.float32)  # RGB in [0, 255], as floats
PIXELS = images_spec(tf.uint8)  # RGB as read from files
SOURCES = tf.TensorSpec([None], tf.int32)  # the image of each selection, by row

# What each kind of projection keeps, and the selection it takes besides the images.
SELECTIONS = {
    "activation": (selection.one_per_image, [tf.TensorSpec([None], tf.int32),
                                             tf.TensorSpec([None, 2], tf.int32)]),
    "maps": (selection.whole_maps, [tf.TensorSpec([None], tf.float32)]),
    "ranges": (selection.top_maps_top_activations, [tf.TensorSpec([], tf.int32),
                                                    tf.TensorSpec([], tf.int32)]),
    "frames": (selection.per_image_channel_masks, [tf.TensorSpec([None, None], tf.float32)]),
}


class CompileOnReuse:
    """Runs a graph function eagerly on its first call, compiled with `tf.function` after.

    Tracing a projection graph costs about a second; a single projection per layer (a sweep's
    pass 2) runs faster eagerly (measured, VGG19 conv4_4, 9 images at 224x224: 1.3 s eagerly,
    2.1 s traced and run), while repeated calls run faster compiled (1.1 s each). With
    `eager_first` False, every call runs compiled: Keras runs a grouped convolution on the CPU
    as a new XLA-compiled function at each eager call, which would compile (and warn of
    retracing) once per such layer at an eager call. The batch dimension of every signature
    is `None`: new images, selections and counts reuse one trace. Not with XLA
    (`jit_compile`): it cannot compile the switches (`MaxPoolWithArgmax`,
    `MaxPoolGradWithArgmax`), and where it can (EfficientNet-Lite0) its CPU code ran 12-16x
    slower (`benchmarks/xla.py`, BENCHMARKS.md).
    """

    def __init__(self, function, input_signature, eager_first=True):
        self.function = function
        self.compiled = tf.function(function, input_signature=input_signature)
        self.specs = input_signature
        self.calls = 0 if eager_first else 1

    def __call__(self, *args):
        self.calls += 1
        if self.calls > 1:
            return self.compiled(*args)
        return self.function(*(tf.convert_to_tensor(arg, spec.dtype)
                                for arg, spec in zip(args, self.specs)))


class Activations:
    """Images -> one layer's activations, through the plain forward model."""

    def __init__(self, model, layer):
        self.model, self.layer = model, layer

    def __call__(self, images):
        return self.model(images, training=False)[self.layer]


class Project:
    """Images and a selection -> reconstructions, values and positions: forward with switches,
    keep the selected activations, reverse through the deconv model."""

    def __init__(self, forward, deconv, layer, keys, mode):
        self.forward, self.deconv, self.layer, self.keys = forward, deconv, layer, keys
        self.select = SELECTIONS[mode][0]

    def __call__(self, images, *selector):
        tensors = self.forward(images, training=False)
        activations = tensors[self.layer]
        signal, values, positions = self.select(selection.as_maps(activations), *selector)
        inputs = {"signal": selection.like(signal, activations),
                  **{key: tensors[key] for key in self.keys}}
        return self.deconv(inputs, training=False), values, positions


class ProjectGroups:
    """B images and k selections, each naming its image (`sources`, `(k,)` rows) -> k
    reconstructions: one forward pass of the B images, one batched reverse."""

    def __init__(self, forward, deconv, layer, keys, prepool_of, select):
        self.forward, self.deconv, self.layer, self.keys = forward, deconv, layer, keys
        self.prepool_of, self.select = prepool_of, select

    def __call__(self, images, sources, *selector):
        tensors = self.forward(images, training=False)
        tiled = window.gather_for_each({key: tensors[key] for key in {self.layer, *self.keys}},
                                       sources, self.prepool_of, tensors)
        activations = tiled[self.layer]
        signal, values, positions = self.select(selection.as_maps(activations), *selector)
        inputs = {"signal": selection.like(signal, activations),
                  **{key: tiled[key] for key in self.keys}}
        return self.deconv(inputs, training=False), values, positions


class PerImage:
    """A projection whose selections name their images (`(images, sources, *selection)`),
    called one selection per image: `(images, *selection)`."""

    def __init__(self, grouped):
        self.grouped = grouped

    def __call__(self, images, *selector):
        return self.grouped(images, tf.range(tf.shape(images)[0]), *selector)
