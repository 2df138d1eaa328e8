"""The unit atlas: every feature map of every chosen layer, its top activations across a
dataset projected to pixel space, written as `atlas.json` and a static site (`deconv.atlas`)."""
