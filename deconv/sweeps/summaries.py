"""TensorBoard summaries of a run: every sweep's grids as images, its manifest as text.

TensorFlow's summary ops need the `tensorboard` package (`pip install deconv[tensorboard]`).
"""
import contextlib
import importlib.util
import json

import numpy as np
import tensorflow as tf

from deconv.io import outputs
from deconv.errors import DeconvError


class Writer:
    """Writes each sweep's summaries as it is done, readable with `tensorboard --logdir`."""

    def __init__(self, log_dir):
        if importlib.util.find_spec("tensorboard") is None:
            raise DeconvError("--tensorboard needs the tensorboard package: pip install "
                              "tensorboard (or pip install -e '.[tensorboard]').")
        outputs.ensure_folder(log_dir)
        self.log_dir = log_dir
        self._writer = tf.summary.create_file_writer(log_dir)

    def add(self, dataset, view, files, feat_grid, im_grid, manifest):
        """Adds one sweep: its two grids (one image each) and its manifest (as text).

        The signature is `deconv.sweeps.runner.run_config`'s `on_written` callback.
        """
        tag = f"{dataset}/{view.label}"
        with self._failing_writes(), self._writer.as_default():
            tf.summary.image(tag, np.stack([feat_grid, im_grid]), step=0, max_outputs=2,
                             description="first: reconstructions; second: image patches")
            tf.summary.text(f"{tag}/manifest", "```\n" + json.dumps(manifest, indent=2)
                            + "\n```", step=0)

    def close(self):
        with self._failing_writes():
            self._writer.flush()
            self._writer.close()

    @contextlib.contextmanager
    def _failing_writes(self):
        """TensorFlow's write errors (a full disk) as one line naming the folder."""
        try:
            yield
        except tf.errors.OpError as error:
            raise DeconvError(f"Cannot write TensorBoard summaries to {self.log_dir}: "
                              f"{' '.join(error.message.split())}.") from None
