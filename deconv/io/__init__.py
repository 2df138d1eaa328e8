"""Files: reading images, streaming folders with `tf.data`, atomic outputs, rendering pictures."""
