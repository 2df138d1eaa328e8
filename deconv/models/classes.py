"""The 1,000 ImageNet class names, shipped with the package (Keras fetches its class index at run
time, which fails offline)."""
import json
import os


def imagenet_classes():
    """Returns the 1,000 ImageNet classes `[wordnet id, short name, all names]`, in index order."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                        "imagenet_classes.json")
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)["classes"]


def class_name(class_names, index, unknown=None):
    """The name of class `index`, or `unknown` without names."""
    return class_names[index] if class_names and 0 <= index < len(class_names) else unknown
