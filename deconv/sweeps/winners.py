"""The winners of pass 1: each of a sweep's strongest activations read from its top-k, and the
check that pass 2's recomputed value agrees with pass 1's."""
import dataclasses

import numpy as np

from deconv.errors import DeconvError
from deconv.sweeps.sweep import EACH_MAP


@dataclasses.dataclass(frozen=True)
class Winner:
    """One of a sweep's strongest activations, as pass 1 found it (pass 2 projects it into a
    `deconv.sweeps.pass2.Projected`)."""
    rank: int
    path: str
    feature: int
    position: tuple
    value: float


def winners(net, sweep, topk, paths, size, group=0):
    """Returns the `Winner`s of one group of a sweep's top-k, best first."""
    height, width = net.map_size(sweep.layer, (size, size))
    count = net.feature_count(sweep.layer)
    found = []
    for rank, (value, image, index) in enumerate(zip(topk.values[group], topk.images[group],
                                                     topk.indices[group]), 1):
        if sweep.feature is None:
            index, feature = divmod(int(index), count)
        else:
            feature = group if sweep.feature == EACH_MAP else sweep.feature
        position = divmod(int(index), width)
        if position[0] >= height:  # only a state saved for another image size could do this
            raise DeconvError(f"Saved position {position} lies outside {sweep.label}'s "
                              f"{height}x{width} maps: start afresh with --restart.")
        found.append(Winner(rank, paths[image], int(feature), position, float(value)))
    return found


def value_matches(mode, projected, recorded):
    """Whether pass 2's value agrees with pass 1's. In mode "maps" pass 2 reports the largest
    value of the whole map, which bounds the recorded activation from above."""
    if mode == "activation":
        return bool(np.isclose(projected, recorded, rtol=1e-4, atol=1e-6))
    return projected >= recorded * (1 - 1e-4) - 1e-6
