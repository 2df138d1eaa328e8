"""The atlas on Beam (`deconv.distributed.atlas`: pass 1 merged from shards, pass 2 projected
and drawn on the workers; the DirectRunner in this process) makes the same atlas as the local
engine: every file equal, byte for byte (the network reaches the Beam worker as a .keras file,
rebuilt there from its path)."""
import os

from deconv.distributed import atlas as beam_atlas
from deconv.distributed import options as options_lib
from deconv.distributed import spec as spec_lib
from deconv.unit_atlas import build
from tests.conftest import RECORD
from tests.conftest import SETTINGS

IN_PROCESS = "--runner=DirectRunner --direct_running_mode=in_memory --direct_num_workers=1"


def _files(root):
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as stream:
                found[os.path.relpath(path, root)] = stream.read()
    return found


def test_beam_makes_the_same_atlas(net16, dataset, atlas, tmp_path):
    root, paths, ignored = dataset
    local_out, _ = atlas
    model_file = tmp_path / "vgg16.keras"
    net16.model.save(model_file)
    spec = spec_lib.NetSpec(str(model_file), "imagenet")  # the file's own weights
    out = tmp_path / "beam" / os.path.basename(local_out)  # the same name: the same pages
    layers = build.choose_layers(net16, ["conv1_2", "conv3_1"], SETTINGS)
    beam = beam_atlas.AtlasOnBeam(options_lib.pipeline_options(IN_PROCESS), spec, SETTINGS,
                                  per_shard=4)
    projected = []

    def recorded(net, layer, found):  # which layers the workers projected
        projected.append(layer)
        return beam.projected(net, layer, found)

    try:
        outcome = build.build_atlas(net16, paths, root, layers, str(out), SETTINGS, RECORD,
                                    ignored, scan=beam.scan_layers, projected=recorded)
    finally:
        beam.close()
    assert outcome.made == ["conv1_2", "conv3_1"] and outcome.files_scanned == len(paths)
    assert projected == layers and sorted(beam.groups) == sorted(layers)
    assert sorted(os.listdir(out.parent)) == [out.name]  # the workers' results removed
    local, beam = _files(local_out), _files(out)
    assert sorted(beam) == sorted(local) and len(local) > 20
    assert [name for name in local if local[name] != beam[name]] == []
