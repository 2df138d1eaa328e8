"""Feature-map ids as users type them: `12`, `0-15`, `3,40,41-43`, checked against a layer."""
from deconv.core import names
from deconv.errors import DeconvError


def parse(values, count, layer, flag="--id"):
    """Returns the map ids `values` name, in order, without repeats.

    Args:
      values: a sequence of ints or strings (what absl's `DEFINE_list` gives); a string is an id
        (`"12"`) or an inclusive range (`"0-15"`).
      count: how many feature maps the layer has.
      layer: the layer's name, for messages.
      flag: how the caller calls the ids, for messages.

    Returns:
      A non-empty list of ints in `[0, count)`.

    Raises:
      DeconvError: an entry that is not an id or range, an empty list, or an id out of range;
        the message echoes the entry and gives the valid ids.
    """
    valid = f"valid ids: 0 to {count - 1}"
    found = []
    for value in values if values is not None else []:
        for number in _expand(value, flag, valid):
            if not 0 <= number < count:
                raise DeconvError(f"{flag} {number} is out of range for layer "
                                  f"{names.short(layer)!r}, which has {count} feature maps "
                                  f"({valid}).")
            if number not in found:
                found.append(number)
    if not found:
        raise DeconvError(f"{flag} names no feature map; give ids such as 12 or 0-15 "
                          f"(comma-separated; {valid}).")
    return found


def _expand(value, flag, valid):
    if isinstance(value, bool):
        raise DeconvError(f"{flag} {value!r} is not a map id ({valid}).")
    if isinstance(value, int):
        return [value]
    text = str(value).strip()
    low, dash, high = text.partition("-")
    try:
        if not dash:
            return [int(text)]
        first, last = int(low), int(high)
    except ValueError:
        raise DeconvError(f"{flag} {text!r} is not a map id or a range such as 0-15 "
                          f"({valid}).") from None
    if last < first:
        raise DeconvError(f"{flag} range {text!r} is empty: write it low-high, e.g. 0-15.")
    return list(range(first, last + 1))
