"""The engine, with no file I/O: `Deconvnet`, the layer-rule registry, graph building, the windowed
reverse, geometry, selection, the deconvnet's Keras layers, preprocessing, names and checks."""
