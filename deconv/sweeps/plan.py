"""Planning a run configuration: every sweep checked against the model, per dataset, before
any image is read; sweeps that would write the same files refused; where each dataset's outputs
go."""
import os

from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.sweeps import report
from deconv.sweeps import sweep as sweeps_lib


def _check_files_differ(net, sweeps, entry, where):
    """Registers the file labels of `entry`'s new `sweeps` in `where` (`{label: (sweep,
    entry)}` of one dataset), raising if one is taken by another sweep (same layer, map and
    mode, other `top` or `per_image`; or a map also covered by a sweep of every map)."""
    for sweep in sweeps:
        for _, view in sweeps_lib.expand(net, sweep):
            label = view.label
            other, other_entry = where.setdefault(label, (sweep, entry))
            if other != sweep:
                first = other_entry.where.rstrip(": ") or "a sweep"
                raise DeconvError(
                    f"{entry.where}this sweep and the one at {first} would both write "
                    f"{label}.json and its grids ({names.short(sweep.layer)}, map "
                    f"{view.feature}, mode {sweep.mode}; top {other.top} vs {sweep.top}, "
                    f"per_image {other.per_image} vs {sweep.per_image}): keep one, or run the "
                    f"other with another --out.")


def plan(net, config):
    """Returns the checked `Sweep`s of a `RunConfig` per dataset name.

    Raises:
      DeconvError: a bad sweep; the message starts with its file and line.
    """
    planned = {dataset.name: [] for dataset in config.datasets}
    where = {dataset.name: {} for dataset in config.datasets}  # file label -> (sweep, entry)
    for entry in config.sweeps:
        sweeps = _entry_sweeps(net, entry)
        for name in entry.datasets or planned:
            added = [sweep for number, sweep in enumerate(sweeps)
                     if sweep not in planned[name] and sweep not in sweeps[:number]]
            _check_files_differ(net, added, entry, where[name])
            planned[name].extend(added)
    for dataset in config.datasets:
        if not planned[dataset.name]:
            raise DeconvError(f"{config.source or 'The configuration'}: dataset "
                              f"{dataset.name!r} has no sweeps: every [[sweeps]] names other "
                              f"datasets.")
        try:
            sweeps_lib.check_settings(net, planned[dataset.name], dataset.size,
                                      config.batch_size, config.min_tile)
        except DeconvError as error:
            raise DeconvError(f"{dataset.where_keys.get('size', '')}{error}") from None
    return planned


def _entry_sweeps(net, entry):
    """The checked `Sweep`s of one `SweepConfig`; an error starts with the file and the line of
    the key at fault (of the entry when the key came from a flag)."""
    features = entry.features if isinstance(entry.features, list) else [entry.features]
    try:
        net.resolve(entry.layer)
    except DeconvError as error:
        raise DeconvError(f"{entry.at('layer')}{error}") from None
    for feature in features:
        try:
            sweeps_lib.make_sweep(net, entry.layer, feature)
        except DeconvError as error:
            raise DeconvError(f"{entry.at('features')}{error}") from None
    try:
        return [sweeps_lib.make_sweep(net, entry.layer, feature, entry.top, entry.per_image,
                                      entry.mode) for feature in features]
    except DeconvError as error:
        raise DeconvError(f"{entry.where}{error}") from None


def targets(net, config, planned):
    """The paths of every file the run of `planned` (`plan`'s result) writes: each sweep's
    grids and manifests in its dataset's folder, and `index.html` (deconv's own where a
    dataset's folder beside it is marked as deconv's)."""
    ours = any(outputs.is_output_folder(dataset_folder(config, dataset))
               for dataset in config.datasets)
    return ([] if ours else [os.path.join(config.out, "index.html")]) + [
        os.path.join(dataset_folder(config, dataset), name) for dataset in config.datasets
        for sweep in planned[dataset.name] for _, view in sweeps_lib.expand(net, sweep)
        for name in report.file_names(view).values()]


def dataset_folder(config, dataset):
    """Returns where a dataset's outputs go: `out`, or `out/<name>` when there are several."""
    return os.path.join(config.out, dataset.name) if len(config.datasets) > 1 else config.out
