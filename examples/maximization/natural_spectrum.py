"""Makes deconv/analysis/data/natural_spectrum.npz: the natural-image statistics that the
Fourier and MACO feature visualizations use (deconv.analysis.maximization_params).

    python examples/maximization/natural_spectrum.py [OUT.npz]

From six colour photographs that ship with scikit-image (skimage.data: astronaut, chelsea,
coffee, rocket, and the left and right views of stereo_motorcycle), pixels in [0, 1]:
- `colour` (3, 3): the square root of the photos' RGB covariance (its eigenvectors times the
  square roots of its eigenvalues, each eigenvector's sign chosen so its largest entry is
  positive), its columns scaled so the largest has norm 1. It takes decorrelated channels to
  RGB: rgb = colour @ decorrelated.
- `magnitude` (3, 224, 113): the mean |rfft2| of every 224 x 224 crop of the photos on a grid
  of stride 16, in the decorrelated channels where MACO applies it (each crop's pixels taken
  through the inverse of `colour`; each channel separately, the photos' mean pixel removed,
  no window), float16. Its zero-frequency term is thus how far a crop's mean colour strays
  from the photos' mean, not the mean itself (which would outweigh everything else once the
  image is standardised).
- `size` (224), `sources` (the photos' names) and `crops` (how many crops were averaged).
Deterministic: the same scikit-image photos give the same file.
"""
import sys

import numpy as np
import skimage.data

SIZE = 224
STRIDE = 16
OUT = "deconv/analysis/data/natural_spectrum.npz"


def photos():
    left, right, _ = skimage.data.stereo_motorcycle()
    found = {"astronaut": skimage.data.astronaut(), "chelsea": skimage.data.chelsea(),
             "coffee": skimage.data.coffee(), "rocket": skimage.data.rocket(),
             "stereo_motorcycle_left": left, "stereo_motorcycle_right": right}
    return {name: np.asarray(image, np.float64)[..., :3] / 255.0 for name, image in found.items()}


def colour_matrix(images):
    pixels = np.concatenate([image.reshape(-1, 3) for image in images])
    covariance = np.cov(pixels, rowvar=False)
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(3)])
    root = vectors * signs * np.sqrt(values)
    return root / np.linalg.norm(root, axis=0).max()


def mean_magnitude(images, colour):
    inverse = np.linalg.inv(colour)
    images = [image @ inverse.T for image in images]  # decorrelated channels
    mean = np.concatenate([image.reshape(-1, 3) for image in images]).mean(axis=0)
    total, count = np.zeros((3, SIZE, SIZE // 2 + 1)), 0
    for image in images:
        image = image - mean
        height, width, _ = image.shape
        for top in range(0, height - SIZE + 1, STRIDE):
            for left in range(0, width - SIZE + 1, STRIDE):
                crop = np.moveaxis(image[top:top + SIZE, left:left + SIZE], -1, 0)
                total += np.abs(np.fft.rfft2(crop))
                count += 1
    return total / count, count


def main(out=OUT):
    found = photos()
    colour = colour_matrix(found.values())
    magnitude, count = mean_magnitude(found.values(), colour)
    np.savez_compressed(out, colour=colour.astype(np.float32),
                        magnitude=magnitude.astype(np.float16), size=np.int64(SIZE),
                        sources=np.array(sorted(found)), crops=np.int64(count))
    print(f"{out}: {count} crops of {SIZE} px from {len(found)} photos")


if __name__ == "__main__":
    main(*sys.argv[1:])
