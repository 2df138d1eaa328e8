"""What the commands share about their inputs' files and the network: a file of the right kind,
and the `Deconvnet` built before its (large) weights are loaded, with the record of what was
loaded. Imports TensorFlow only when called (commands load it quietly first, in `_cli`)."""
import os

from absl import logging

from deconv.errors import DeconvError


def input_file(path, what, flag):
    """Raises a one-line error unless `path` (given with `flag`) is an existing file; `what`
    names the kind of file expected."""
    if os.path.isdir(path):
        raise DeconvError(f"{flag} {path!r} is a folder, not {what}.")
    if not os.path.exists(path):
        raise DeconvError(f"{flag} {path!r}: no such file ({what} expected).")


def load_net(model, weights, seed=0, relu_rule="deconvnet", preprocessing="auto",
             include_top=False, size=None):
    """Builds a `Deconvnet` now and defers loading large weights, so input can be checked first.

    Args:
      model: a Keras application's name (`"vgg19"`, `"resnet50"`, ...) or a `.keras` path.
      weights: `"imagenet"`, a weights file or `"random"` (seeded by `seed`).
      seed, relu_rule, preprocessing, include_top, size: see `deconv.load_model` and
        `deconv.Deconvnet`.

    Returns:
      `(net, load)`: `load()` loads the weights (if not loaded yet), warns when they are random,
      and returns the JSON-ready record of what was loaded: `model`, `weights` as given, and
      the files used with their sizes and SHA-256 (`model_file`, `weights_file`), or the `seed`.
      `load.given` is that record as far as it is known before the weights load.
    """
    from deconv.core.deconvnet import Deconvnet  # here: TensorFlow must load quietly first
    from deconv.models import loading
    from deconv.models import weights as weight_files

    random = weights == "random"
    if weights not in ("random", "imagenet"):
        input_file(weights, "a weights file (.h5, .weights.h5, .npy or .pth)", "--weights")
    record = {"model": model, "weights": weights, **({"include_top": True} if include_top else {})}
    if model.endswith(".keras"):
        input_file(model, "a .keras model file", "--model")
        loaded = loading.load_model(model, weights=weights, seed=seed)
        record["model_file"] = weight_files.file_record(model)
        if weights == "imagenet":
            record["weights"] = "the .keras file's own"
    else:
        loaded = loading.build(model, seed if random else None, include_top, size)
    net = Deconvnet(loaded, preprocessing, relu_rule)

    def load():
        if random:
            logging.warning("--weights random: the results show an untrained network.")
            record["seed"] = seed
        elif not model.endswith(".keras"):
            record["weights_file"] = weight_files.file_record(
                loading.load_weights(loaded, model, weights, include_top))
        elif weights != "imagenet":
            record["weights_file"] = weight_files.file_record(weights)
        return dict(record)

    load.given = {**record, **({"seed": seed} if random else {})}
    return net, load


def load_keras_model(model, weights, seed=0, include_top=False, size=None):
    """Like `load_net` for analyses that only run the model forward (no `Deconvnet`): `(keras
    model, load)`, the model now, its weights on `load()`, so input is checked first."""
    from deconv.models import loading  # here: TensorFlow must load quietly first
    if model.endswith(".keras") or weights == "random":
        loaded = loading.load_model(model, weights=weights, seed=seed, include_top=include_top,
                                    size=size)
        if weights == "random":
            logging.warning("--weights random: the results show an untrained network.")
        return loaded, lambda: None
    loaded = loading.build(model, None, include_top, size)
    return loaded, lambda: loading.load_weights(loaded, model, weights, include_top)


def warn_if_image_independent(net, layers):
    """Warns, in one line, when the deconvnet rule is used on layers whose projections cannot
    depend on the image (`Deconvnet.image_dependence`: no max-pool switch, no layer reversed by
    its gradient, between them and the pixels), suggesting --rule guided."""
    from deconv.core import names  # here: TensorFlow must load quietly first
    alone = [names.short(layer) for layer in dict.fromkeys(layers)
             if net.image_dependence(layer).independent]
    if not alone:
        return
    shown = ", ".join(alone[:4]) + (f" and {len(alone) - 4} more" if len(alone) > 4 else "")
    logging.warning("--rule deconvnet on %s: no max-pool lies between %s and the pixels, so "
                    "the projections cannot depend on the image (every image gets the same "
                    "picture, moved to the activation's position; README: 'When a deconvnet "
                    "picture cannot depend on the image'); --rule guided shows what in the "
                    "image drove them.", shown, "it" if len(alone) == 1 else "them")
