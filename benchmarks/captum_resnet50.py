"""Issue 28: Captum's `NeuronDeconvolution` on torchvision's ResNet50 against deconv on Keras's
ResNet50, at the three stage outputs, side by side in one run: this process (run it with the
Python of an environment that has torch, torchvision and captum, never deconv's) times Captum,
and a worker process in deconv's environment times `Deconvnet.project`; rounds alternate the
order, and the median of per-round ratios is reported. Both: seeded random weights, batch 8 at
224x224, each image's strongest activation of map 0, 2 threads each (the worker waits on its
pipe while Captum runs, and the other way round).

    /work/captumenv/bin/python benchmarks/captum_resnet50.py --deconv_python .venv/bin/python

torchvision's C extension is not needed for its models; the wheel on this machine is built for
CUDA and its extension does not load without CUDA's libraries, so the two modules that only
register its operators are skipped (`_skip_torchvision_ops`).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# torchvision's ResNet50 stages -> the Keras application's names for the same tensors
STAGES = {"layer2": "conv3_block4_out", "layer3": "conv4_block6_out", "layer4": "conv5_block3_out"}


def _worker(batch, size):
    """deconv's side: reads a layer name per line, projects, prints the seconds it took."""
    sys.path.insert(0, os.path.dirname(HERE))
    import deconv
    net = deconv.Deconvnet(deconv.load_model("resnet50", weights=None, seed=0))
    images = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    print(json.dumps({"tensorflow": __import__("tensorflow").__version__}), flush=True)
    for line in sys.stdin:
        started = time.perf_counter()
        net.project(images, line.strip(), 0, batch_size=batch)
        print(time.perf_counter() - started, flush=True)


def _skip_torchvision_ops():
    import types
    for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
        sys.modules.setdefault(name, types.ModuleType(name))


def _captum(batch, size):
    """Captum's side: `{stage: call}`, each call attributing every image's strongest
    activation of map 0 at that stage's output."""
    import torch
    _skip_torchvision_ops()
    import torchvision
    from captum.attr import NeuronDeconvolution
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = torchvision.models.resnet50(weights=None).eval()
    for module in model.modules():  # Captum's hooks replace each ReLU's backward
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    images = torch.from_numpy(np.random.default_rng(0).uniform(
        0, 1, (batch, 3, size, size)).astype(np.float32))
    select = lambda out: out[:, 0].flatten(1).max(dim=1).values  # noqa: E731
    calls = {stage: (lambda m=NeuronDeconvolution(model, getattr(model, stage)):
                     m.attribute(images, neuron_selector=select).numpy())
             for stage in STAGES}
    versions = {"torch": torch.__version__, "torchvision": torchvision.__version__,
                "captum": __import__("captum").__version__}
    return calls, versions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deconv_python", default=os.path.join(HERE, "..", ".venv", "bin",
                                                                "python"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="/tmp/captum_resnet50.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.batch, args.size)
    worker = subprocess.Popen(
        [args.deconv_python, __file__, "--worker", "--batch", str(args.batch), "--size",
         str(args.size)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_NUM_INTRAOP_THREADS": "2"})
    versions = json.loads(worker.stdout.readline())

    def deconv_call(layer):
        worker.stdin.write(layer + "\n")
        worker.stdin.flush()
        return float(worker.stdout.readline())

    calls, more = _captum(args.batch, args.size)
    versions.update(more)
    rows = []
    for stage, layer in STAGES.items():
        for _ in range(3):  # warm up: deconv's first call runs eagerly, its second traces
            deconv_call(layer)
            calls[stage]()
        times = {"captum": [], "deconv": []}
        for number in range(args.rounds):
            for side in (("captum", "deconv") if number % 2 == 0 else ("deconv", "captum")):
                if side == "deconv":
                    times["deconv"].append(deconv_call(layer))
                else:
                    started = time.perf_counter()
                    calls[stage]()
                    times["captum"].append(time.perf_counter() - started)
        rows.append({"stage": stage, "layer": layer, "batch": args.batch, "size": args.size,
                     "captum_s": round(float(np.median(times["captum"])), 3),
                     "deconv_s": round(float(np.median(times["deconv"])), 3),
                     "captum/deconv": round(float(np.median(np.array(times["captum"])
                                                            / np.array(times["deconv"]))), 2),
                     "load": os.getloadavg()[0]})
        print(json.dumps(rows[-1]), flush=True)
    worker.stdin.close()
    worker.wait()
    with open(args.out, "w", encoding="utf-8") as stream:
        json.dump({"rows": rows, "versions": versions}, stream, indent=1)
    print(json.dumps(versions))


if __name__ == "__main__":
    main()
