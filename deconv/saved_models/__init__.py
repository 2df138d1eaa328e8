"""SavedModel export (`python -m deconv.export`): a layer's deconvnet as SavedModel signatures,
usable without deconv (`saved_model`)."""
