"""Analyses built on the engine, one call shape: `(net, layer, inputs, *, options) -> result`.

- `occlusion`: occlusion sensitivity of a map and of the classifier's class (the paper's fig. 7);
- `ranges`: the strongest maps and activations of each layer, and the GIF frames of a layer;
- `maximization` (+ its `maximization_*` modules): activation maximization, pixel, Fourier and
  MACO parameterisations, and its quality measures;
- `class_maps` (+ `class_plot`): each class's top feature maps, and their plot;
- `overlays` (+ `overlay_pictures`): activation overlays of chosen or strongest maps;
- `evolution` (+ `evolution_callback`, `evolution_pictures`): a map's strongest activation
  through training (fig. 4);
- `invariance` (+ `invariance_plot`): feature distances and class probability under translation,
  scale and rotation (fig. 5), on the feature vectors of `features`;
- `correspondence`: object parts occluded, how consistently the features change (table 1);
- `sanity` (+ `sanity_*`): the sanity checks of a unit's maps under randomisation, deletion and
  insertion, beside other attribution methods;
- `measured_dependence`: a unit's projections compared across images.
"""
