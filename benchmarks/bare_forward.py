"""The floor of a dataset sweep: one plain forward pass over a folder, nothing kept.

    python benchmarks/bare_forward.py --images DIR --layer conv4_4 [--size 224 --batch_size 16]

Reads the images through the same `tf.data` pipeline as `python -m deconv.run` (parallel Pillow
decoding, batching, prefetching) and runs VGG19 (random weights) to `--layer`, discarding the
activations. Prints the loop's wall time, the part comparable to the runner's pass 1.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import deconv  # noqa: E402
from deconv.core import compiled  # noqa: E402
from deconv.io import streaming  # noqa: E402
from deconv.io import images as image_files  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--layer", default="conv4_4")
    parser.add_argument("--model", default="vgg19")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch_size", type=int, default=16)
    args = parser.parse_args()
    net = deconv.Deconvnet(deconv.load_model(args.model, weights=None, seed=0))
    layer = net.resolve(args.layer)
    forward = tf.function(net.activations_graph(layer),
                          input_signature=[compiled.IMAGES])
    paths = image_files.find_images(args.images, image_files.parse_extensions(None))
    started = time.perf_counter()
    count = 0
    for _, pixels, _ in streaming.image_dataset(paths, args.size, "stretch", args.batch_size):
        forward(tf.cast(pixels, tf.float32)).numpy()
        count += len(pixels)
    print(f"forward {count} images to {layer} in {time.perf_counter() - started:.3f} s")


if __name__ == "__main__":
    main()
