"""Analyses built on the engine, one module each, one call shape: `(net, layer, inputs, *,
options) -> result`: occlusion, ranges and GIF frames, activation maximization, class-wise top
maps and their plot, activation overlays."""
