"""Deletion and insertion curves of saliency maps, beside a random order's.

Deletion: the image's pixels are replaced by a fill colour in a map's order, most important
(largest absolute value) first, `1 / steps` of them at each step, and the explained unit's
score is recorded at every step: the class's probability (softmax of the logits) or the unit's
activation. Insertion: from the image blurred, the image's own pixels come back in that order.
A map that ranks what matters to the model first makes deletion fall fast (a small area) and
insertion rise fast (a large area), compared with a random order of the pixels. For a unit of a
layer with maps, only the pixels of its receptive field move (no other can change it).

Reference: Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
Models", BMVC 2018 (arXiv 1806.07421), section 4.1.
"""
import dataclasses

import numpy as np

from deconv.analysis import occlusion
from deconv.analysis import sanity_metrics

KINDS = ("deletion", "insertion")
RANDOM = "random"


@dataclasses.dataclass
class Curves:
    """Deletion and insertion curves.

    Attributes:
      score: "probability" (a class's) or "activation" (a unit's).
      orders: the method names, then `RANDOM`.
      scores: `{kind: {order: (N, steps + 1)}}`, the score after each step (step 0: none moved).
      areas: `{kind: {order: (N,)}}`, the area under each curve (share moved 0 to 1).
    """
    score: str
    orders: list
    scores: dict
    areas: dict


def random_order(image_size, seed, number, box=None):
    """A random order of the pixels of image `number` (inside `box`), seeded by `(seed,
    number)`."""
    return np.random.default_rng([seed, number]).permutation(
        sanity_metrics.region(image_size, box))


def scores(explainer, images, target, flat):
    """The explained unit's score in each of `images`: the class's probability for logits,
    else the unit's activation; `flat` is its index in the flattened output."""
    outputs = np.concatenate([explainer.units_fn(images[i:i + explainer.batch_size]).numpy()
                              for i in range(0, len(images), explainer.batch_size)])
    if target.logits:
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        outputs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return outputs[:, flat].astype(np.float64)


def image_curves(explainer, image, target, number, order, settings):
    """`{kind: curve (steps + 1,)}` for one image and one pixel order."""
    fill = np.broadcast_to(occlusion.fill_color(settings.fill, image), image.shape)
    ends = {"deletion": (image, fill), "insertion": (sanity_metrics.gaussian_blur(image), image)}
    return {kind: scores(explainer, sanity_metrics.path_images(*ends[kind], order,
                                                               settings.steps),
                         target, int(target.flat[number]))
            for kind in KINDS}


def perturbation_curves(explainer, images, target, maps, settings, tick=None, boxes=None):
    """Deletion and insertion curves of each method's maps, and of a random order.

    Args:
      explainer: the `sanity_methods.Explainer` (its model's current weights are scored).
      images: RGB `(N, H, W, 3)` in [0, 255].
      target: the `sanity_methods.Target` whose score is recorded.
      maps: `{method: (N, H, W)}`.
      settings: a checked `SanitySettings` (its steps, fill and seed).
      tick: called with 2 after each image's pair of curves of one order.
      boxes: per image, the only pixels moved `(top, left, bottom, right)` (a unit's receptive
        field: the others cannot change it); None: every pixel.

    Returns:
      A `Curves`.
    """
    orders = [*maps, RANDOM]
    found = {kind: {order: [] for order in orders} for kind in KINDS}
    for number, image in enumerate(images):
        box = None if boxes is None else boxes[number]
        for order in orders:
            pixels = (random_order(image.shape[:2], settings.seed, number, box)
                      if order == RANDOM else sanity_metrics.pixel_order(maps[order][number], box))
            for kind, curve in image_curves(explainer, image, target, number, pixels,
                                            settings).items():
                found[kind][order].append(curve)
            if tick is not None:
                tick(2)
    curves = {kind: {order: np.array(rows) for order, rows in by_order.items()}
              for kind, by_order in found.items()}
    return Curves("probability" if target.logits else "activation", orders, curves,
                  {kind: {order: sanity_metrics.area(rows) for order, rows in by_order.items()}
                   for kind, by_order in curves.items()})
