"""What a Beam worker needs to rebuild the network, and the shards of an image list: plain,
picklable values (a worker builds its own model from them, once, in its DoFn's `setup`)."""
import dataclasses
import itertools
import json
import math

from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError
from deconv.models import loading
from deconv.models import weights as weight_files


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """How to build the `Deconvnet` every worker uses, as the command line built it.

    Attributes:
      model: a Keras application's name or the path of a `.keras` file (every worker must be
        able to read it).
      weights: `"imagenet"`, `"random"` (seeded by `seed`) or a weights file's path.
      seed: the seed of random weights.
      relu_rule, preprocessing, include_top, size: see `deconv.Deconvnet` and `deconv.load_model`.
      sha256: `{path: SHA-256}` of the files the driver loaded (model and weights files): a
        worker refuses a file that differs, so every worker computes with the same network.
    """
    model: str
    weights: str = "imagenet"
    seed: int = 0
    relu_rule: str = "deconvnet"
    preprocessing: str = "auto"
    include_top: bool = False
    sha256: tuple = ()
    size: int = None

    @classmethod
    def from_record(cls, record, relu_rule, preprocessing, size=None):
        """The spec of what `deconv._net.load_net`'s `load()` recorded (model, weights, seed,
        the files with their hashes), for images of `size`."""
        hashes = tuple((entry["path"], entry["sha256"]) for entry in (
            record.get("model_file"), record.get("weights_file")) if entry)
        weights = record["weights"]
        if weights == "the .keras file's own":
            weights = "imagenet"  # what `load_net` was given: the file keeps its own weights
        return cls(record["model"], weights, record.get("seed", 0), relu_rule, preprocessing,
                   bool(record.get("include_top")), hashes, size)

    def build(self):
        """Builds the `Deconvnet` (what `deconv._net.load_net` builds, weights loaded).

        Raises:
          DeconvError: a model or weights file that is missing here or differs from the
            driver's.
        """
        for path, expected in self.sha256:
            try:
                found = weight_files.file_record(path)["sha256"]
            except OSError as error:
                raise DeconvError(f"A worker cannot read {path}: {error.strerror or error}; "
                                  f"every worker needs the model and weights files.") from None
            if found != expected:
                raise DeconvError(f"{path} on a worker differs from the driver's (SHA-256 "
                                  f"{found[:12]}..., not {expected[:12]}...).")
        random = self.weights == "random"
        if self.model.endswith(".keras"):
            model = loading.load_model(self.model, weights=self.weights, seed=self.seed)
        else:
            model = loading.build(self.model, self.seed if random else None, self.include_top,
                                  self.size)
            if not random:
                loading.load_weights(model, self.model, self.weights, self.include_top)
        return Deconvnet(model, self.preprocessing, self.relu_rule)


@dataclasses.dataclass(frozen=True)
class Shard:
    """A run of consecutive image files: `paths` are numbers `first`, `first + 1`, ... of the
    dataset's sorted list; `number` counts the shards from 0."""
    number: int
    first: int
    paths: tuple

    def to_json(self):
        """The shard as one line of JSON (the pipeline reads its shards from a file)."""
        return json.dumps({"number": self.number, "first": self.first, "paths": self.paths})

    @classmethod
    def from_json(cls, line):
        found = json.loads(line)
        return cls(found["number"], found["first"], tuple(found["paths"]))

    def describe(self, shown=4):
        """The shard and its files, for an error message."""
        names = ", ".join(self.paths[:shown])
        more = f" and {len(self.paths) - shown} more" if len(self.paths) > shown else ""
        return (f"shard {self.number} (images {self.first} to {self.first + len(self.paths) - 1}"
                f": {names}{more})")


@dataclasses.dataclass(frozen=True)
class ShardRef:
    """Where shard `number`'s line lies in the shard list's file (`listing`): what the
    pipeline carries instead of the paths, so that its graph stays small on any runner (a
    million paths are some 100 MB)."""
    number: int
    offset: int
    length: int


def listing(shards_):
    """The file of `shards_`, one JSON line each, and a `ShardRef` to each line."""
    lines = [f"{shard.to_json()}\n".encode() for shard in shards_]
    offsets = [0, *itertools.accumulate(len(line) for line in lines)]
    return b"".join(lines), [ShardRef(shard.number, offset, len(line))
                             for shard, offset, line in zip(shards_, offsets, lines)]


def shards(paths, batch_size, per_shard=None):
    """Cuts `paths` into `Shard`s of whole batches, so that every forward batch holds the same
    images as the local engine's (whose batches start at 0): the same activations, bit for bit.

    Args:
      paths: the dataset's sorted image files.
      batch_size: images per forward batch.
      per_shard: images per shard, rounded up to whole batches; default: about 8 shards, each
        of 1 to 16 batches (a worker builds its model once and then takes shard after shard).
    """
    if per_shard is None:
        per_shard = batch_size * min(16, max(1, math.ceil(len(paths) / (8 * batch_size))))
    if per_shard < 1:
        raise DeconvError(f"A shard must hold at least one image; received {per_shard}.")
    per_shard = math.ceil(per_shard / batch_size) * batch_size
    return [Shard(number, start, tuple(paths[start:start + per_shard]))
            for number, start in enumerate(range(0, len(paths), per_shard))]
