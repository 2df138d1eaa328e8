"""`ReversePlan`: how a projection's reverse pass runs, over whole maps or starting inside the
activation's receptive-field window (`deconv.core.window` on chains, `deconv.core.graph_window`
on any graph).

`GraphBuilder.reverse_plan` chooses one per layer and image size; the builder's projection
functions take it.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class ReversePlan:
    """How a projection's reverse pass runs. Make one with `WHOLE_MAPS` or a constructor:
    `window_to_pixels()`, `window_until(index)` (chains), `graph_windows(image_size, limit)`.

    Attributes:
      windowed: whether the reverse starts in the activation's window (False: the deconv model
        alone, over whole maps).
      whole_maps_from: on a chain, the index of the first step reversed over whole maps (it
        and every step below), or None: the window reaches the pixels.
      image_size: on a graph, the `(height, width)` of the images the windows are planned for;
        None on a chain.
      limit: on a graph, the share of its maps' area a window may cover (`graph_window.plan`).
    """
    windowed: bool = False
    whole_maps_from: int = None
    image_size: tuple = None
    limit: float = None

    @classmethod
    def window_to_pixels(cls):
        """On a chain: in the window from the layer down to the pixels."""
        return cls(windowed=True)

    @classmethod
    def window_until(cls, index):
        """On a chain: in the window down to step `index`, which and every step below it are
        reversed over whole maps."""
        return cls(windowed=True, whole_maps_from=index)

    @classmethod
    def graph_windows(cls, image_size, limit):
        """On a graph: each tensor in a window while it covers at most `limit` of its maps,
        for images of `image_size` (`graph_window.plan` says which)."""
        return cls(windowed=True, image_size=tuple(int(side) for side in image_size),
                   limit=limit)

    @property
    def on_graph(self):
        """Whether the windows are a graph's (`deconv.core.graph_window`)."""
        return self.image_size is not None

    @property
    def reaches_pixels(self):
        """On a chain: whether the window goes all the way to the pixels."""
        return self.windowed and not self.on_graph and self.whole_maps_from is None


WHOLE_MAPS = ReversePlan()
