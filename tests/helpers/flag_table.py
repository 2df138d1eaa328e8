"""Every command's flags, read in one interpreter: `python -m tests.helpers.flag_table OUT.json`.

The commands define their flags in absl's one global registry, so two of them cannot be
imported side by side; this script imports one, records its flags, checks how its parser
answers bad values (`deconv._cli.parse_flags`, what `python -m deconv.X` runs), removes its
flags, and goes on to the next. It writes `{command: {flag: {...}}}` as JSON.
"""
import contextlib
import importlib
import io
import json
import sys

from absl import flags

COMMANDS = ("run", "occlusion", "visualize", "maximize", "classwise", "overlay", "export",
            "pretrained", "evolution", "invariance", "correspondence", "atlas", "serve", "sanity")


def _parse(cli, argv):
    """`(exit code, standard error)` of parsing `argv` with the commands' parser."""
    flags.FLAGS.unparse_flags()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            cli.parse_flags(argv)
            return 0, stderr.getvalue()
        except SystemExit as exit_:
            return exit_.code, stderr.getvalue()


def _describe(cli, command, name, flag):
    parser = flag.parser
    kind = type(parser).__name__
    entry = {"parser": kind, "lower": getattr(parser, "lower_bound", None),
             "upper": getattr(parser, "upper_bound", None)}
    argv = [f"deconv.{command}"]
    if isinstance(parser, (flags.IntegerParser, flags.FloatParser)):
        entry["float"] = isinstance(parser, flags.FloatParser)
        bad = ["abc"]
        if entry["upper"] is not None:
            bad.append(str(entry["upper"] * 10 + 1))
        if entry["float"]:
            bad += ["inf", "nan", "-inf"]
        entry["answers"] = {value: _parse(cli, [*argv, f"--{name}={value}"]) for value in bad}
    elif isinstance(parser, flags.EnumParser):
        entry["answers"] = {"bogus": _parse(cli, [*argv, f"--{name}=bogus"])}
    return entry


def main(out):
    table = {}
    for command in COMMANDS:
        module = importlib.import_module(f"deconv.{command}")
        cli = importlib.import_module("deconv._cli")
        own = list(flags.FLAGS.flags_by_module_dict().get(module.__name__, []))
        table[command] = {flag.name: _describe(cli, command, flag.name, flag) for flag in own}
        table[command]["--unknown"] = {"answers": {"--nonsense=1": _parse(
            cli, [f"deconv.{command}", "--nonsense=1"])}}
        for flag in own:  # the next command defines its own
            delattr(flags.FLAGS, flag.name)
    with open(out, "w", encoding="utf-8") as stream:
        json.dump(table, stream)


if __name__ == "__main__":
    main(sys.argv[1])
