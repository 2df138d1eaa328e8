"""Models deconv looks inside: building VGG19/VGG16 or loading a `.keras` model, weight files and
where ImageNet weights are found, the ImageNet class names."""
