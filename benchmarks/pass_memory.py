"""Peak memory of the dataset passes: the runner and the atlas over a small and a large folder.

    python benchmarks/pass_memory.py [--work /tmp/pass_memory] [--small 25 --large 400]

Runs each command in a fresh process (seeded random weights) over `--small` and `--large` images
cut from the example photos, and prints the peak resident memory (`ru_maxrss`, MiB) of each run
and the change from small to large: pass 1 keeps k candidates per map and pass 2 one image's
projections at a time, so the peak should not grow with the dataset.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench  # noqa: E402

# The command's peak, measured from a parent that only waits for it.
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
         "stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")

COMMANDS = {
    "runner resnet50 conv4_block6_out": ["deconv.run", "--model", "resnet50", "--size", "128",
                                         "--feat", "conv4_block6_out", "--top", "64"],
    "atlas vgg16 block3_conv3,block5_conv3": ["deconv.atlas", "--model", "vgg16", "--size",
                                              "96", "--layers", "block3_conv3,block5_conv3",
                                              "--top", "2", "--nomaximize"],
    "atlas resnet50 conv3_block4_out": ["deconv.atlas", "--model", "resnet50", "--size", "96",
                                        "--layers", "conv3_block4_out", "--top", "2",
                                        "--nomaximize"],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/pass_memory")
    parser.add_argument("--small", type=int, default=25)
    parser.add_argument("--large", type=int, default=400)
    parser.add_argument("--out", default=None, help="also write the peaks as JSON here")
    args = parser.parse_args()
    folders = {count: bench.make_images(os.path.join(args.work, f"images{count}"), count)
               for count in (args.small, args.large)}
    peaks = {}
    for name, command in COMMANDS.items():
        for count, folder in folders.items():
            out = os.path.join(args.work, f"{name.replace(' ', '_').replace(',', '_')}_{count}")
            result = subprocess.run(
                [sys.executable, "-c", _PEAK, sys.executable, "-m", *command, "--weights",
                 "random", "--images", folder, "--out", out, "--noprogress", "--restart"],
                capture_output=True, text=True, check=True)
            peaks[f"{name}, {count} images"] = float(result.stdout.strip().splitlines()[-1])
        small, large = (peaks[f"{name}, {count} images"] for count in (args.small, args.large))
        print(f"{name}: {small:,.0f} MiB over {args.small} images, {large:,.0f} MiB over "
              f"{args.large} ({100 * (large / small - 1):+.1f} %)", flush=True)
    if args.out:
        with open(args.out, "w") as file:
            json.dump(peaks, file, indent=1)


if __name__ == "__main__":
    main()
