"""What a dataset sweep looks for: a layer, a map (or all maps together, or each map), how many
of its strongest activations, how many per image, and what is projected for each."""
import dataclasses

import numpy as np

from deconv import limits
from deconv.core import names
from deconv.core import selection
from deconv.core.receptive_field import receptive_field
from deconv.errors import DeconvError

EACH_MAP = "all"  # a sweep's feature: the top-k of every map of the layer, one group per map


@dataclasses.dataclass(frozen=True)
class Sweep:
    """What one sweep looks for.

    Attributes:
      layer: the layer's Keras name (see `make_sweep`).
      feature: a map id; None for the strongest activations over all maps together; or
        `EACH_MAP` for a top-k of every map.
      top: how many activations to keep (per map, for `EACH_MAP`).
      per_image: how many of them may come from one image.
      mode: what pass 2 projects for each: `"activation"` (that activation alone) or `"maps"`
        (its whole feature map in that image).
    """
    layer: str
    feature: object = None
    top: int = 9
    per_image: int = 1
    mode: str = "activation"

    @property
    def label(self):
        """The sweep's name in file names: `conv4_4`, `conv4_4_350`, `conv4_4_all`; `_maps`
        is appended in mode "maps"."""
        layer = names.short(self.layer)
        label = layer if self.feature is None else f"{layer}_{self.feature}"
        return f"{label}_maps" if self.mode == "maps" else label


def make_sweep(net, layer, feature=None, top=9, per_image=1, mode="activation"):
    """Returns a checked `Sweep`: all bad input is reported here, before any image is read.

    Raises:
      DeconvError: unknown layer (listing the layers), one whose projection would reverse a
        layer deconv cannot reverse, feature out of range (giving the map count), `top` or `per_image` outside `deconv.limits.RANGES`, unknown mode.
    """
    if mode not in selection.MODES:
        raise DeconvError(f"Unknown mode {mode!r}. Valid: {', '.join(selection.MODES)}.")
    name = net.check_projectable(layer)
    count = net.feature_count(name)
    if feature is not None and feature != EACH_MAP:
        if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)):
            raise DeconvError(f"A feature must be a map id, None or {EACH_MAP!r}; received "
                              f"{feature!r}.")
        if not 0 <= feature < count:
            raise DeconvError(f"Feature {feature} is out of range for layer {layer!r}, which has "
                              f"{count} feature maps (valid ids: 0 to {count - 1}).")
        feature = int(feature)
    return Sweep(name, feature, limits.check("top", top), limits.check("per_image", per_image),
                 mode)


def check_settings(net, sweeps, size, batch_size, min_tile=64):
    """Raises DeconvError if `size` is too small for a sweep's layer, a number is outside its
    range (`deconv.limits`), or a sweep's grids would be too large a picture."""
    limits.check("size", size)
    limits.check("batch_size", batch_size)
    limits.check("min_tile", min_tile)
    for sweep in sweeps:
        net.check_image_size(sweep.layer, size, "--size")
        if sweep.mode == "maps":  # a tile is the whole image
            side = size
        else:  # a tile is the activation's receptive field
            top, _, bottom, _ = receptive_field(net, sweep.layer, (0, 0), (size, size),
                                                clip=False)
            side = bottom - top
        limits.check_picture(sweep.top, max(side, min_tile),
                             f"The grids of {sweep.label} (top {sweep.top}; lower it, --size "
                             f"or --min_tile)")


def groups(net, sweep):
    """Returns how many running top-k lists a sweep keeps: one, or one per map."""
    return net.feature_count(sweep.layer) if sweep.feature == EACH_MAP else 1


def expand(net, sweep):
    """Returns `(group, view)` pairs: a sweep of every map becomes one view per map."""
    if sweep.feature == EACH_MAP:
        return [(feature, dataclasses.replace(sweep, feature=feature))
                for feature in range(net.feature_count(sweep.layer))]
    return [(0, sweep)]
