"""An atlas configuration file: a flat TOML table whose keys are `deconv.atlas`'s flags, e.g.

    model = "vgg16"
    images = "examples/images"
    layers = ["conv1_2", "conv3_3"]   # or "all"
    top = 9

Flags given on the command line override the file.
"""
import os
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from deconv.errors import DeconvError

# The keys a file may set: `python -m deconv.atlas`'s flags, by the same names.
KEYS = ("images", "out", "layers", "top", "per_image", "model", "weights", "seed", "include_top",
        "preprocessing", "rule", "imtype", "size", "aspect", "batch_size", "normalize", "crop", "tile",
        "thumb", "project_batch", "maximize", "checkpoint_every", "engine", "beam_options")


def load(path, valid):
    """Returns `{key: value}` of the configuration at `path`; values stay as TOML typed them.

    Args:
      valid: the keys the file may set.

    Raises:
      DeconvError: an unreadable file, bad TOML, a key that is not in `valid` (listing them).
    """
    try:
        with open(path, "rb") as stream:
            content = tomllib.load(stream)
    except OSError as error:
        raise DeconvError(f"Cannot read --config {path}: {error.strerror}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise DeconvError(f"--config {path} is not valid TOML: {error}.") from None
    unknown = sorted(set(content) - set(valid))
    if unknown:
        raise DeconvError(f"{os.path.basename(path)}: unknown key {unknown[0]!r}. Valid keys: "
                          f"{', '.join(sorted(valid))}.")
    return content


def as_flag_text(value):
    """A TOML value as the text its flag parses: lists joined by commas, booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)
