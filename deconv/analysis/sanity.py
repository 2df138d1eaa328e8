"""A trust report: how much of each saliency picture comes from the model, and how much from
the image alone.

For one unit per image (a class logit, or an activation of a layer's map), five methods' maps
(`deconv.analysis.sanity_methods`) are compared with themselves after the model's weights are
randomised, block by block (`deconv.analysis.sanity_blocks`): cascading from the top block down,
and one block at a time; for a unit of a layer with maps, inside its receptive field (outside it
every map is zero). A map that stays alike when the weights it explains are noise does not
show the model (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018, arXiv
1810.03292). Deletion and insertion curves (Petsiuk et al., "RISE", BMVC 2018, arXiv 1806.07421)
ask whether each map's order of the pixels matters to the model more than a random order; the
deconvnet's and guided backpropagation's image dependence is measured
(`deconv.analysis.measured_dependence`). The caller's weights are restored afterwards.
"""
import dataclasses
import time

import numpy as np

from deconv import limits
from deconv.analysis import measured_dependence
from deconv.analysis import occlusion
from deconv.analysis import sanity_blocks
from deconv.analysis import sanity_curves
from deconv.analysis import sanity_methods
from deconv.analysis import sanity_metrics
from deconv.core import checks
from deconv.core.receptive_field import receptive_field
from deconv.errors import DeconvError

STEP_RANGE = (2, 1000)  # deletion and insertion steps
KEPT_UNITS = (0, 100)  # units whose image dependence is measured


@dataclasses.dataclass(frozen=True)
class SanitySettings:
    """What a sanity check runs.

    Attributes:
      methods: method names (`sanity_methods.METHODS`) or `sanity_methods.Method`s.
      cascading, independent: which randomisations run.
      randomisation: "reinitialise" (the layers' own initializers) or "shuffle" (each weight
        tensor's values permuted); see `sanity_blocks.Randomiser`.
      seed: the randomisation's and the random pixel order's seed.
      steps: deletion and insertion steps (each moves `1 / steps` of the pixels).
      fill: the colour deleted pixels take (`occlusion.fill_color`); insertion starts from the
        image blurred (RISE's Gaussian, 11 taps, sigma 5).
      occluder: the occlusion method's square; None: a quarter of the image's smaller side,
        moved by an eighth.
      batch_size: images per compiled call.
      dependence_units: at most this many distinct units have their image dependence measured,
        per rule (0: none).
    """
    methods: tuple = sanity_methods.METHODS
    cascading: bool = True
    independent: bool = True
    randomisation: str = "reinitialise"
    seed: int = 0
    steps: int = 25
    fill: str = "gray"
    occluder: occlusion.Occluder = None
    batch_size: int = 16
    dependence_units: int = 10

    def checked(self, image_size):
        """These settings, checked, with the occluder resolved for images of `image_size`."""
        sanity_metrics.require_scikit_image()
        limits.check("seed", self.seed)
        limits.check("batch_size", self.batch_size)
        limits.check("steps", self.steps, bounds=STEP_RANGE)
        limits.check("dependence_units", self.dependence_units, bounds=KEPT_UNITS)
        if self.randomisation not in sanity_blocks.RANDOMISATIONS:
            raise DeconvError(f"Unknown randomisation {self.randomisation!r}. Valid: "
                              f"{', '.join(sanity_blocks.RANDOMISATIONS)}.")
        names = [getattr(method, "name", method) for method in self.methods]
        unknown = [method for method in self.methods if not isinstance(
            method, sanity_methods.Method) and method not in sanity_methods.METHODS]
        if not names or unknown or len(set(names)) != len(names):
            raise DeconvError(f"methods must be distinct names among "
                              f"{', '.join(sanity_methods.METHODS)} (or Method objects); "
                              f"received {names}.")
        occlusion.fill_color(self.fill, np.zeros((1, 1, 3)))
        side = min(image_size)
        occluder = self.occluder or occlusion.Occluder(max(1, side // 4), max(1, side // 8))
        occlusion.grid(image_size, occluder.size, occluder.stride)
        return dataclasses.replace(self, occluder=occluder)


@dataclasses.dataclass
class Randomised:
    """One randomisation's results, per step.

    Attributes:
      steps: the name of each step (the block randomised last, or alone).
      similarity: `{method: {metric: (steps, N)}}` (`sanity_metrics.METRICS`).
      maps: `{method: (steps, N, H, W)}` float16, each map divided by its largest magnitude
        (cascading only; else empty).
      units: `(steps, N)` the explained unit's value.
      zero_maps: `{method: (steps,)}` how many images' maps were all zero (a similarity of 0).
    """
    steps: list
    similarity: dict
    maps: dict
    units: np.ndarray
    zero_maps: dict


@dataclasses.dataclass
class SanityReport:
    """What `sanity_check` found.

    Attributes:
      target: the `sanity_methods.Target` explained.
      boxes: per image, the unit's receptive field `(top, left, bottom, right)`, inside which
        maps are compared and pixels deleted or inserted; None for class logits (whole images).
      blocks: the `sanity_blocks.Block`s, bottom-up; `block_scheme`: "names" or "runs".
      methods: the method names, in order.
      maps: `{method: (N, H, W)}` float32: the original model's maps; `units`: `(N,)`.
      cascading, independent: `Randomised` (None when not run).
      curves: a `sanity_curves.Curves` (deletion and insertion).
      dependence: `{rule: [MeasuredDependence]}`, measured; `derived`: `{rule:
        deconv.core.dependence.ImageDependence}`, what the graph lets tie the layer's
        projections to the image (`Deconvnet.image_dependence`).
      settings: the `SanitySettings` used; `seconds`: each phase's time.
    """
    target: sanity_methods.Target
    boxes: list
    blocks: list
    block_scheme: str
    methods: list
    maps: dict
    units: np.ndarray
    cascading: Randomised
    independent: Randomised
    curves: object
    dependence: dict
    derived: dict
    settings: SanitySettings
    seconds: dict


def _all_maps(explainer, methods, images, target, tick):
    found = {}
    for method in methods:
        if method in ("gradient", "gradient_x_input") and method in found:
            continue
        if method in ("gradient", "gradient_x_input"):
            both = explainer.gradients(images, target)
            found.update({name: both[name] for name in both if name in methods})
        else:
            found[getattr(method, "name", method)] = explainer.maps(method, images, target)
        tick(len(images))
    return found


def _for_display(maps):
    """Maps `(N, H, W)` each divided by its largest magnitude, as float16 (a randomised model's
    maps can be far below float16's smallest number)."""
    peak = np.abs(maps).reshape(len(maps), -1).max(axis=1)
    return (maps / np.where(peak > 0, peak, 1.0)[:, None, None]).astype(np.float16)


def _compare(state, method, found):
    """`{metric: (N,)}` between the original maps of `method` and `found`; for a unit of a layer
    with maps, within each image's receptive field of the unit (outside it every map is 0, and
    so alike)."""
    boxes = state["boxes"]
    if boxes is None:
        return sanity_metrics.similarities(state["maps"][method], found, state["hog"][method])
    rows = [sanity_metrics.similarities(original[None], changed[None], features)
            for original, changed, features in zip(
                sanity_metrics.cropped(state["maps"][method], boxes),
                sanity_metrics.cropped(found, boxes), state["hog"][method])]
    return {metric: np.concatenate([row[metric] for row in rows])
            for metric in sanity_metrics.METRICS}


def _hog(maps, boxes):
    """The HOG features of the original maps (of each one's receptive field, with `boxes`)."""
    if boxes is None:
        return sanity_metrics.hog_features(maps)
    return [sanity_metrics.hog_features(one[None])
            for one in sanity_metrics.cropped(maps, boxes)]


def _step(explainer, state, record, name):
    """Computes every map with the current (randomised) weights; records them in `record`."""
    found = _all_maps(explainer, state["settings"].methods, state["images"], state["target"],
                      state["tick"])
    record["steps"].append(name)
    record["units"].append(explainer.units(state["images"], state["target"]))
    for method in state["names"]:
        for metric, values in _compare(state, method, found[method]).items():
            record["similarity"][method][metric].append(values)
        record["zero_maps"][method].append(
            int((np.abs(found[method]).reshape(len(found[method]), -1).max(axis=1) == 0).sum()))
        if "maps" in record:
            record["maps"][method].append(_for_display(found[method]))


def _randomised(explainer, state, cascade):
    """Runs every step of one randomisation, from the top block down: `cascade`, each block
    randomised in turn and kept so; else each block alone, the others original."""
    settings, blocks = state["settings"], state["blocks"]
    record = {"steps": [], "units": [], "similarity": {
        method: {metric: [] for metric in sanity_metrics.METRICS} for method in state["names"]},
        "zero_maps": {method: [] for method in state["names"]}}
    if cascade:
        record["maps"] = {method: [] for method in state["names"]}

    def randomiser():
        return sanity_blocks.Randomiser(explainer.net, blocks, settings.seed,
                                        settings.randomisation)

    top_down = range(len(blocks) - 1, -1, -1)
    if cascade:
        with randomiser() as weights:
            for index in top_down:
                weights.randomise(index)
                _step(explainer, state, record, blocks[index].name)
    else:
        for index in top_down:
            with randomiser() as weights:
                weights.randomise(index)
                _step(explainer, state, record, blocks[index].name)
    return Randomised(record["steps"], {
        method: {metric: np.array(values) for metric, values in by_metric.items()}
        for method, by_metric in record["similarity"].items()},
        {method: np.stack(frames) for method, frames in record.get("maps", {}).items()},
        np.array(record["units"]), {method: np.array(counts) for method, counts in
                                    record["zero_maps"].items()})


def _dependence(explainer, images, target, count):
    """`({relu_rule: [MeasuredDependence]}, {relu_rule: ImageDependence})`: measured for up to
    `count` distinct units of `target` (none with one image), and derived from the graph."""
    units = list(dict.fromkeys((int(f), tuple(int(v) for v in p))
                               for f, p in zip(target.features, target.positions)))[:count]
    nets = sorted(explainer.nets.items())
    measure = measured_dependence.measure_image_dependence
    measured = {relu_rule: [measure(net, target.layer, images, feature=feature,
                                    position=position) for feature, position in units]
                for relu_rule, net in nets} if len(images) > 1 else {}
    return measured, {relu_rule: net.image_dependence(target.layer)
                      for relu_rule, net in nets}


def _work(settings, blocks, images):
    """The units of work the progress counts: each method's maps per image and step, the
    curves' images, the projections of the image dependence."""
    passes = 1 + len(blocks) * (settings.cascading + settings.independent)
    methods = len(settings.methods) - (
        "gradient" in settings.methods and "gradient_x_input" in settings.methods)
    return (passes * methods * len(images)
            + len(images) * (len(settings.methods) + 1) * 2
            + 2 * min(settings.dependence_units, len(images)) * (len(images) + 1))


def sanity_check(net, layer, images, *, feature=None, position=None, settings=SanitySettings(),
                 progress=None):
    """Runs the sanity checks of each method's maps of one unit per image.

    Args:
      net: a `deconv.Deconvnet` (either rule: both rules are compared).
      layer: a softmax classifier's layer (the unit is a class logit), or a layer with maps.
      images: RGB `(N, H, W, 3)` in [0, 255], N >= 1 (the image dependence needs 2).
      feature, position: the unit (see `sanity_methods.choose_target`): default, each image's
        top class, or its strongest map at that map's maximum.
      settings: a `SanitySettings`.
      progress: called as `progress(done, total)` as the work goes.

    Returns:
      A `SanityReport`. The model's weights are the caller's again when it returns or raises.
    """
    started = time.perf_counter()
    name = net.resolve(layer)
    images = checks.images(images, layer, net.steps, name, net.input_shape).astype(np.float32)
    if not len(images):
        raise DeconvError("sanity_check needs at least one image.")
    settings = settings.checked(images.shape[1:3])
    target = sanity_methods.choose_target(net, name, images, feature, position)
    boxes = None if target.logits else [
        tuple(int(v) for v in receptive_field(net, name, where, images.shape[1:3]))
        for where in target.positions]
    blocks, scheme = sanity_blocks.model_blocks(net, name)
    explainer = sanity_methods.Explainer(net, name, settings.occluder, settings.batch_size)
    total, done = _work(settings, blocks, images), [0]

    def tick(count):
        done[0] += count
        if progress is not None:
            progress(min(done[0], total), total)

    seconds = {}
    names = [getattr(method, "name", method) for method in settings.methods]
    maps = _all_maps(explainer, settings.methods, images, target, tick)
    state = {"settings": settings, "blocks": blocks, "names": names, "images": images,
             "target": target, "maps": maps, "tick": tick,
             "boxes": boxes, "hog": {method: _hog(maps[method], boxes) for method in names}}
    seconds["maps"] = time.perf_counter() - started
    runs = {}
    for kind, cascade in (("cascading", True), ("independent", False)):
        if getattr(settings, kind):
            began = time.perf_counter()
            runs[kind] = _randomised(explainer, state, cascade)
            seconds[kind] = time.perf_counter() - began
    began = time.perf_counter()
    curves = sanity_curves.perturbation_curves(explainer, images, target, maps, settings, tick,
                                               boxes)
    seconds["curves"] = time.perf_counter() - began
    began = time.perf_counter()
    dependence, derived = _dependence(explainer, images, target, settings.dependence_units)
    tick(total)
    seconds["image_dependence"] = time.perf_counter() - began
    seconds["total"] = time.perf_counter() - started
    return SanityReport(target, boxes, blocks, scheme, names, maps,
                        explainer.units(images, target), runs.get("cascading"),
                        runs.get("independent"), curves, dependence, derived, settings, seconds)
