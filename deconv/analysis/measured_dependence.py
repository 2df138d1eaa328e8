"""How much a projection depends on the image, measured: the same unit projected in different
images (and in a blank one), and how alike the projections are. `Deconvnet.image_dependence(layer)`
(`deconv.core.dependence`) derives what can tie a layer's projections to the image from the graph;
`measure_image_dependence` measures how much they do, for one unit and some images.

A deconvnet's reverse pass ignores the forward ReLU masks (Zeiler & Fergus 2014, section 2.1):
what ties a projection to its image is the max-pool switches, the unit's position and, on
graphs, the gradients of layers reversed by their own VJP. On a network without max-pooling the
projections of one unit may be the same picture for every image (Nie, Zhang & Patel, ICML 2018).
A mean correlation near 1 says so; guided backpropagation (Springenberg et al. 2015), which keeps
the forward masks, gives lower ones. The means are of absolute correlations: a picture and its
negative show the same pattern (a unit of the other sign, as a class logit can be in another
image, is projected along other rectified paths; on EfficientNet-Lite0's logits the picture
comes out close to the negative).
"""
import dataclasses

import numpy as np

from deconv.analysis import occlusion
from deconv.analysis import sanity_metrics
from deconv.analysis import sanity_methods
from deconv.core import checks
from deconv.errors import DeconvError


@dataclasses.dataclass
class MeasuredDependence:
    """How alike one unit's projections are across images (measured; what the graph allows is
    `Deconvnet.image_dependence`'s `deconv.core.dependence.ImageDependence`).

    Attributes:
      layer, relu_rule: the layer's Keras name and the net's ReLU rule.
      feature: the class (logits) or map projected; `position`: its `(y, x)` (logits: (0, 0)).
      between_images: the mean absolute Pearson correlation over pairs of images (NaN with
        fewer than two images where the unit is not zero); `pairs`: `(P, 3)` rows `(i, j,
        correlation)`, signed.
      to_blank: the mean absolute correlation of each image's projection with the blank
        image's (NaN where the unit is zero in the blank image); `per_image`: `(N,)` those
        correlations, signed.
      values: `(N,)` the unit in each image; `blank_value`: in the blank image. Images where the
        unit is zero (no projection) are left out of the means.
    """
    layer: str
    relu_rule: str
    feature: int
    position: tuple
    between_images: float
    pairs: np.ndarray
    to_blank: float
    per_image: np.ndarray
    values: np.ndarray
    blank_value: float

    def summary(self):
        """JSON-ready numbers."""
        return {"layer": self.layer, "rule": self.relu_rule, "feature": self.feature,
                "position": list(self.position), "between_images": _number(self.between_images),
                "to_blank": _number(self.to_blank),
                "pairs": [[int(i), int(j), _number(c)] for i, j, c in self.pairs],
                "per_image_to_blank": [_number(c) for c in self.per_image],
                "values": [float(v) for v in self.values], "blank_value": self.blank_value}


def _number(value):
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def shared_position(net, layer, images, feature):
    """The position of map `feature` where its smallest activation over `images` is largest: a
    unit active in as many of the images as can be."""
    maps = net.activations(images, layer)[..., feature]
    weakest = maps.min(axis=0)
    y, x = np.unravel_index(int(weakest.argmax()), weakest.shape)
    return int(y), int(x)


def _projections(net, layer, images, feature, position):
    """`(projections (N, H*W*3), values (N,))`: as `project` draws them; zero rows where the
    unit is 0."""
    logits = sanity_methods.is_logits(net, layer)
    found = net.project_details(images, layer, np.full(len(images), feature, np.int32),
                                None if logits else position)
    return (found.reconstructions.reshape(len(images), -1).astype(np.float64),
            found.values.astype(np.float64))


def measure_image_dependence(net, layer, images, *, feature, position=None, blank="gray"):
    """Projects one unit in each image and in a blank image, and correlates the projections.

    Args:
      net: a `deconv.Deconvnet` (its rule is the one measured).
      layer: the layer (a softmax classifier's layer: the class logit `feature`).
      images: RGB `(N, H, W, 3)` in [0, 255], N >= 2.
      feature: the class or map id.
      position: the unit's `(y, x)` in the maps, the same in every image; default
        `shared_position`. Ignored for logits.
      blank: the blank image's colour (`deconv.analysis.occlusion.fill_color`: gray is the
        ImageNet mean).

    Returns:
      A `MeasuredDependence`.
    """
    name = net.resolve(layer)
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) < 2:
        raise DeconvError(f"measure_image_dependence compares two or more images (N, H, W, 3); "
                          f"received shape {images.shape}.")
    feature = int(checks.features(feature, name, net.feature_count(name))[0])
    if sanity_methods.is_logits(net, name):
        position = (0, 0)
    elif position is None:
        position = shared_position(net, name, images, feature)
    blank_image = np.broadcast_to(occlusion.fill_color(blank, images[0]), images.shape[1:])
    stacked = np.concatenate([images, blank_image[None]])
    flat, values = _projections(net, name, stacked, feature, tuple(position))
    alive = values[:-1] != 0
    pairs = [(i, j, float(sanity_metrics.pearson(flat[i:i + 1], flat[j:j + 1])[0]))
             for i in range(len(images)) for j in range(i + 1, len(images))
             if alive[i] and alive[j]]
    per_image = np.where(alive & (values[-1] != 0),
                         sanity_metrics.pearson(flat[:-1], np.repeat(flat[-1:], len(images), 0)),
                         np.nan)
    return MeasuredDependence(
        name, net.relu_rule, feature, tuple(int(p) for p in position),
        float(np.mean([abs(c) for _, _, c in pairs])) if pairs else float("nan"),
        np.array(pairs, np.float64).reshape(-1, 3),
        float(np.nanmean(np.abs(per_image))) if np.isfinite(per_image).any() else float("nan"),
        per_image, values[:-1], float(values[-1]))
