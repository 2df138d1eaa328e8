"""`SharedGraphs`: what a `Deconvnet` shares with the rooms that build on it (the analyses, pass
1 of a sweep, the export, the live explorer): its forward models and graph functions, and a
cache for the functions they compile of them. The engine's own builder stays behind this door.
"""


class SharedGraphs:
    """The public methods of `Deconvnet` that hand out its models and graph functions.

    Each is built once per net, on first use, from the caller's own layers (the same
    variables). Layers are named either way (`conv4_4` or `block4_conv4`); a step without maps
    (a dense layer, a ReLU's input) by its Keras name.
    """

    def _key(self, layer):
        """The Keras name of `layer`: a step's own name as it is, else resolved (raising
        DeconvError for an unknown layer)."""
        return layer if isinstance(layer, str) and layer in self._steps else self.resolve(layer)

    def activations_model(self, layers):
        """A plain forward Keras model (Keras's own max-pooling, no switches): RGB images in
        [0, 255] -> `{Keras name: activations}` of `layers`, all from one forward pass."""
        return self.builder.activation_model([self._key(layer) for layer in layers])

    def activations_graph(self, layer):
        """`images (float32 RGB in [0, 255]) -> activations` of `layer`, uncompiled: a graph
        function to differentiate, compile or export."""
        return self.builder.activations_graph(self._key(layer))

    def projection_graph(self, layer, mode="activation"):
        """`(images, *selection) -> (reconstructions, values, positions)` of `layer` over whole
        maps, uncompiled (to compile or export). The selection is `(features (N,) int32,
        positions (N, 2) int32)`, `(-1, -1)` for a map's maximum, in mode "activation"; a
        channel mask `(C,)` float32 in mode "maps"."""
        return self.builder.projection_graph(self.check_projectable(layer), mode)

    def cached(self, key, build):
        """`build()`'s value, built once per hashable `key` for this net: where the other rooms
        keep what they compile of its graphs (so a second pass does not trace again)."""
        return self.builder.cached(key, build)
