"""SavedModel export: a layer's deconvnet as serving signatures, usable without `deconv`.

Each exported layer has three signatures, all with preprocessing inside the graph and dynamic
batch and image size:

  activations(images uint8 [N, H, W, 3]) -> activations float32 [N, h, w, C]
  project(images, feature int32 [N], position int32 [N, 2])
      -> reconstruction float32 [N, H, W, 3] (RGB), value float32 [N], position int32 [N, 2],
         box int32 [N, 4]; position (-1, -1) means "that map's maximum"
  top_k(images, k int32 []) -> value float32 [N, k], map int32 [N, k], position int32 [N, k, 2],
      box int32 [N, k, 4]: the k strongest activations of the layer per image, over all maps

Boxes are receptive fields `(top, left, bottom, right)`, half-open, clipped to the image,
computed in the graph. Bad input (a feature or position out of range, an image too small for
the layer, k out of range) fails with an InvalidArgumentError naming the limit. An empty batch
(N = 0) gives empty outputs.

The SavedModel holds only the variables its signatures read, once: a conv4_4 export of VGG19
carries conv1_1 to conv4_4, not conv5. It is written in a hidden folder beside `out_dir` and
renamed into place when complete, so a full disk or Ctrl-C leaves nothing half-written.
"""
import os
import re

import tensorflow as tf

from deconv.core import compiled
from deconv.core import geometry
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import outputs

_IMAGES = compiled.images_spec(tf.uint8, name="images")


class _Endpoint:
    """What every signature of one layer shares: the layer's geometry, in the graph."""

    def __init__(self, net, layer):
        self.layer = net.resolve(layer)
        self.label = names.short(self.layer)
        self.steps = net.steps
        self.vector = len(net.step(self.layer).shape) != 4  # logits: one value per map
        self.count = net.feature_count(self.layer)
        if not self.vector and geometry.graph_sizes(self.steps, (512, 512))[self.layer] is None:
            raise DeconvError(f"Layer {self.label!r} cannot be exported: it lies past a layer "
                              f"whose output size deconv cannot compute in the graph.")

    def _sizes(self, images):
        """Returns `(sizes, image size, map size, checks)`: `checks` are assertion ops that
        the computation must wait for (with `_after`), so that bad input always fails with our
        message rather than a kernel's."""
        shape = tf.shape(images)
        sizes = geometry.graph_sizes(self.steps, (shape[1], shape[2]))
        height, width = (1, 1) if self.vector else sizes[self.layer]
        checks = [tf.debugging.assert_positive(
            tf.minimum(height, width),
            message=f"images are too small for layer {self.label}: its maps would be empty")]
        return sizes, (shape[1], shape[2]), (height, width), checks

    @staticmethod
    def _after(checks):
        return tf.control_dependencies([check for check in checks if check is not None])

    @staticmethod
    def _at_least_one(images, *extra):
        """Pads an empty batch with one zero image (and `extra` rows, `(fill, tensor)`), so
        that every kernel sees N >= 1; the caller keeps the first `count` rows of each output.

        Returns:
          `(count, images, *extra)`.
        """
        count = tf.shape(images)[0]
        pad = tf.maximum(1 - count, 0)
        padded = [tf.concat([images, tf.zeros(tf.concat([[pad], tf.shape(images)[1:]], 0),
                                              images.dtype)], 0)]
        for fill, tensor in extra:
            shape = tf.concat([[pad], tf.shape(tensor)[1:]], 0)
            padded.append(tf.concat([tensor, tf.fill(shape, tf.cast(fill, tensor.dtype))], 0))
        return (count, *padded)

    def _boxes(self, y, x, sizes, image_size):
        box = geometry.graph_window(self.steps, self.layer, y, x, sizes, tf.maximum, tf.minimum)
        if box == geometry.WHOLE:  # past a global pool: every position sees the whole image
            box = (tf.zeros_like(y), tf.zeros_like(x), tf.fill(tf.shape(y), image_size[0]),
                   tf.fill(tf.shape(x), image_size[1]))
        top, left, bottom, right = box
        return tf.stack([tf.maximum(top, 0), tf.maximum(left, 0),
                         tf.minimum(bottom, image_size[0]), tf.minimum(right, image_size[1])],
                        axis=-1)


class _Activations(_Endpoint):
    def __init__(self, net, layer):
        super().__init__(net, layer)
        self.activations = net.activations_graph(self.layer)

    def __call__(self, images):
        checks = self._sizes(images)[3]
        count, images = self._at_least_one(images)
        with self._after(checks):
            return {"activations": self.activations(tf.cast(images, tf.float32))[:count]}


class _Project(_Endpoint):
    def __init__(self, net, layer):
        super().__init__(net, layer)
        self.project = net.projection_graph(self.layer)

    def __call__(self, images, feature, position):
        sizes, image_size, (height, width), checks = self._sizes(images)
        count = tf.shape(images)[0]
        checks += [
            tf.debugging.assert_equal(tf.shape(feature)[0], count,
                                      message="feature needs one map id per image"),
            tf.debugging.assert_equal(tf.shape(position)[0], count,
                                      message="position needs one (y, x) per image"),
            tf.debugging.assert_non_negative(feature, message="feature ids start at 0"),
            tf.debugging.assert_less(feature, self.count, message=(
                f"feature out of range: layer {self.label} has {self.count} feature maps"))]
        strongest = tf.reduce_all(tf.equal(position, -1), axis=1)
        with self._after(checks[-2:]):  # the comparisons below need matching lengths
            inside = ((position[:, 0] >= 0) & (position[:, 0] < height) & (position[:, 1] >= 0)
                      & (position[:, 1] < width))
            checks.append(tf.debugging.assert_equal(strongest | inside, True, message=(
                f"position outside layer {self.label}'s maps (use -1, -1 for a map's "
                f"maximum)")))
        count, images, feature, position = self._at_least_one(images, (0, feature),
                                                              (-1, position))
        with self._after(checks):
            reconstruction, value, found = self.project(tf.cast(images, tf.float32), feature,
                                                        position)
        found = found[:count]
        return {"reconstruction": reconstruction[:count], "value": value[:count],
                "position": found, "box": self._boxes(found[:, 0], found[:, 1], sizes,
                                                      image_size)}


class _TopK(_Endpoint):
    def __init__(self, net, layer):
        super().__init__(net, layer)
        self.activations = net.activations_graph(self.layer)

    def __call__(self, images, k):
        sizes, image_size, (height, width), checks = self._sizes(images)
        checks += [
            tf.debugging.assert_positive(k, message="k must be at least 1"),
            tf.debugging.assert_less_equal(k, height * width * self.count, message=(
                f"k is larger than the number of activations of layer {self.label}"))]
        count, images = self._at_least_one(images)
        with self._after(checks):
            activations = self.activations(tf.cast(images, tf.float32))[:count]
            flat = tf.reshape(activations, [count, -1])
            value, index = tf.math.top_k(flat, k)
        spatial = index // self.count
        y, x = spatial // width, spatial % width
        return {"value": value, "map": index % self.count,
                "position": tf.stack([y, x], axis=-1),
                "box": self._boxes(y, x, sizes, image_size)}


SIGNATURES = {
    "project": (_Project, [_IMAGES, tf.TensorSpec([None], tf.int32, name="feature"),
                           tf.TensorSpec([None, 2], tf.int32, name="position")]),
    "activations": (_Activations, [_IMAGES]),
    "top_k": (_TopK, [_IMAGES, tf.TensorSpec([], tf.int32, name="k")]),
}


def signature_names(net, layers):
    """Returns the signature names for `layers`: `project`, ... for one layer; `conv4_4_project`,
    ... (named by layer) for several."""
    if len(layers) == 1:
        return {name: (layers[0], name) for name in SIGNATURES}
    return {f"{names.short(net.resolve(layer))}_{name}": (layer, name)
            for layer in layers for name in SIGNATURES}


def export_saved_model(net, layers, out_dir, described=""):
    """Writes a SavedModel with the signatures of `layers`, and a README.txt beside it.

    Only the variables the signatures read are saved, once each. The model is written in a
    hidden folder beside `out_dir` and renamed to `out_dir` when complete: an error or an
    interruption leaves no partial model.

    Args:
      net: the `Deconvnet` (weights loaded).
      layers: layer names; one layer gives signatures `project`, `activations`, `top_k` (and
        `serving_default`, the first); several give `<layer>_project`, ... for each.
      out_dir: the SavedModel folder (created; if it exists, it must be empty).
      described: a line on the model and weights, for README.txt.

    Returns:
      The signature names.

    Raises:
      DeconvError: an unknown layer, an out_dir that already holds a SavedModel or other
        files, or a failure to write (a full disk), naming the path.
    """
    layers = [net.check_projectable(layer) for layer in layers]
    check_out_dir(out_dir)
    root = tf.Module()
    functions, variables = {}, {}
    for signature, (layer, kind) in signature_names(net, layers).items():
        endpoint, spec = SIGNATURES[kind]
        functions[signature] = tf.function(endpoint(net, layer), input_signature=spec)
        for variable in functions[signature].get_concrete_function().variables:
            variables.setdefault(id(variable), variable)
        setattr(root, signature, functions[signature])
    # What the signatures read, tracked once, in the order of their names (the files then do not
    # depend on the order a trace met them in).
    root.deconv_variables = sorted(variables.values(), key=lambda variable: variable.name)
    first = next(iter(functions))
    concrete = {name: function.get_concrete_function() for name, function in functions.items()}
    try:
        with outputs.staged(out_dir) as staging:
            tf.saved_model.save(root, staging, signatures={"serving_default": concrete[first],
                                                           **concrete})
            outputs.write_bytes(os.path.join(staging, "README.txt"), readme(
                net, layers, signature_names(net, layers), described).encode())
            outputs.ensure_folder(staging)  # marked: never read as input
    except tf.errors.OpError as error:  # TensorFlow's own writer failed (a full disk)
        message = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]", "", error.message)  # its op names
        raise DeconvError(f"Cannot write the SavedModel {out_dir}: "
                          f"{' '.join(message.split())}.") from None
    return list(functions)


def check_out_dir(out_dir):
    """Raises DeconvError unless `out_dir` can receive a SavedModel: new, or an empty folder."""
    if os.path.exists(os.path.join(out_dir, "saved_model.pb")):
        raise DeconvError(f"{out_dir!r} already holds a SavedModel; choose another --out or "
                          f"remove it.")
    if os.path.isfile(out_dir):
        raise DeconvError(f"--out {out_dir!r} is a file: give a folder for the SavedModel.")
    if os.path.isdir(out_dir) and set(os.listdir(out_dir)) - {outputs.MARKER}:
        raise DeconvError(f"{out_dir!r} is not empty: the SavedModel goes in a new or empty "
                          f"folder; choose another --out.")
    outputs.ensure_folder(os.path.dirname(os.path.abspath(out_dir)), mark=False)


def readme(net, layers, signatures, described):
    """The README.txt written beside an exported model."""
    first = next(iter(signatures))
    example = first.replace("project", "") or ""
    lines = [
        "A deconvnet (Zeiler & Fergus 2014) exported by deconv as a TensorFlow SavedModel.",
        f"Model: {described or net.model.name}; preprocessing {net.preprocessing.name} "
        f"(inside the graph); ReLU rule {net.relu_rule}.",
        f"Layers: {', '.join(names.short(layer) for layer in layers)}.",
        "",
        "Signatures (dynamic batch N and image size H x W; images are RGB uint8):",
    ]
    for signature, (layer, _) in signatures.items():
        count = net.feature_count(layer)
        lines.append(f"  {signature}: layer {names.short(layer)} ({count} maps)")
    lines += [
        "",
        "  *project(images uint8[N,H,W,3], feature int32[N], position int32[N,2])",
        "      -> reconstruction float32[N,H,W,3] (RGB, unnormalised), value float32[N],",
        "         position int32[N,2], box int32[N,4] (receptive field: top, left, bottom, right)",
        "      position (-1, -1) projects that map's strongest activation.",
        "  *activations(images uint8[N,H,W,3]) -> activations float32[N,h,w,C]",
        "  *top_k(images uint8[N,H,W,3], k int32) -> value float32[N,k], map int32[N,k],",
        "      position int32[N,k,2], box int32[N,k,4]: the k strongest activations per image.",
        f"  serving_default is {first}.",
        "",
        "Load and call it without deconv (only TensorFlow is needed):",
        "",
        "  import numpy as np, tensorflow as tf",
        "  model = tf.saved_model.load(PATH)",
        "  images = np.zeros((2, 224, 224, 3), np.uint8)",
        f"  out = model.signatures[\"{example}project\"](",
        "      images=tf.constant(images), feature=tf.constant([3, 7], tf.int32),",
        "      position=tf.constant([[-1, -1], [-1, -1]], tf.int32))",
        "  out[\"reconstruction\"], out[\"value\"], out[\"position\"], out[\"box\"]",
        "",
        "Inspect: saved_model_cli show --all --dir PATH",
        "TF Serving: serve PATH as a model version folder; the signatures above are exposed.",
    ]
    return "\n".join(lines) + "\n"
