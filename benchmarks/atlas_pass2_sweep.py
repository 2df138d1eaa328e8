"""Issue 14, branch groundwork: pass 2 of a sweep of every map of one layer, today's
`winners.project_views` (winners batched in rank order, one forward per winner) vs
`by_image.project_by_image` (winners grouped by image, one forward per image and chunk).
Same winners, same batch size, one process, alternating; VGG19, random weights (seed 0).

    .venv/bin/python benchmarks/atlas_pass2_sweep.py [COUNT=16 LAYER=conv5_4 TOP=3 SIZE=112]
"""
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE); sys.path.insert(0, os.path.dirname(HERE))
import numpy as np
import deconv
from bench import make_images
from deconv.io import streaming, images as image_files
from deconv.sweeps import by_image, scan as scan_lib, winners as winners_lib
from deconv.sweeps.sweep import make_sweep, expand, EACH_MAP

count, layer, top, size = (int(sys.argv[1]) if len(sys.argv) > 1 else 16,
                           sys.argv[2] if len(sys.argv) > 2 else "conv5_4",
                           int(sys.argv[3]) if len(sys.argv) > 3 else 3,
                           int(sys.argv[4]) if len(sys.argv) > 4 else 112)
folder = make_images(os.path.join("/tmp", f"deconv_atlas_images{count}"), count)
paths = image_files.find_images(folder, image_files.parse_extensions(None))[:count]
net = deconv.Deconvnet(deconv.load_model("vgg19", weights=None, seed=0))
reading = streaming.Reading(size, "stretch", 16)
sweep = make_sweep(net, layer, EACH_MAP, top=top)
state = scan_lib.ScanState.fresh(net, [sweep])
for _ in scan_lib.scan(net, paths, [sweep], state, reading):
    pass
views = [(view, winners_lib.winners(net, view, state.topks[0], paths, size, group))
         for group, view in expand(net, sweep)]
found = [winner for _, f in views for winner in f]
print(f"{layer}: {len(views)} maps, {len(found)} winners over {count} images", flush=True)
def today():
    return [r for _, _, r, _ in winners_lib.project_views(net, views, reading)]
def grouped():
    return by_image.project_by_image(net, sweep.layer, found, size, "stretch", 16)[0]
a, b = np.concatenate(today()), grouped()  # warm-up, and the same results
print("max relative difference:", float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)))
times = {"today": [], "grouped": []}
for r in range(2):
    for name, fn in ([("today", today), ("grouped", grouped)] if r % 2 == 0
                     else [("grouped", grouped), ("today", today)]):
        t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
print({k: [round(x, 2) for x in v] for k, v in times.items()})
print("grouped/today:", [round(g / t, 3) for g, t in zip(times["grouped"], times["today"])])
