"""Using a deconvnet without deconv: SavedModel export."""
