"""Models deconv looks inside: building Keras's applications or loading a `.keras` model, weight
files and where ImageNet weights are found, the ImageNet class names."""
