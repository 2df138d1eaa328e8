"""The layer-rule registry: `table` gives each layer type its reverse rule and its geometry;
`base` holds `LayerRule` and the contexts its reverses read; the rule families live in `paper`
(rectify, transposed convolution, unpooling, identity), `linear`, `merges`, `shapes` and
`generic`."""
