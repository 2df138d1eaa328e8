"""Dataset sweeps: the running top-k, pass 1 and pass 2, resuming, run configurations, the
runner, manifests and grids, `index.html`, TensorBoard summaries."""
