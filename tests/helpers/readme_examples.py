"""The command lines of README.md's examples, and their flags parsed by each command's parser:
`python -m tests.helpers.readme_examples OUT.json` writes `{"examples": [{line, command, argv,
error}], "help": {command: its --help text}}`.

Each example is a line of a code block that runs `python -m deconv.X` (a `\\` continues it);
`[...]` (an optional part) is kept without its brackets, a `# comment` dropped. The commands
define their flags in absl's one registry, so (as `flag_table` does) each command's module is
imported in turn, its examples parsed, and its flags removed.
"""
import contextlib
import importlib
import io
import json
import os
import re
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def examples(path=os.path.join(ROOT, "README.md")):
    """`[(line as written, command, argv)]` of every `python -m deconv.X` example."""
    text = open(path, encoding="utf-8").read()
    found = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = line.split("&&")[-1].strip()
            if not line.startswith("python -m deconv."):
                continue
            words = shlex.split(re.sub(r"[\[\]]", "", line), comments=True)
            found.append((line, words[2].split(".", 1)[1], words[3:]))
    return found


def _parse(cli, command, argv):
    """The one-line error of parsing `argv` with the commands' parser, or None."""
    from absl import flags
    flags.FLAGS.unparse_flags()
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        try:
            cli.parse_flags([f"deconv.{command}", *argv])
        except SystemExit:
            return said.getvalue().strip()
    return None


def main(out):
    from absl import flags
    parsed, helps = [], {}
    by_command = {}
    for line, command, argv in examples():
        by_command.setdefault(command, []).append((line, argv))
    for command, lines in by_command.items():
        module = importlib.import_module(f"deconv.{command}")
        cli = importlib.import_module("deconv._cli")
        for line, argv in lines:
            parsed.append({"line": line, "command": command, "argv": argv,
                           "error": _parse(cli, command, argv)})
        helps[command] = f"{module.__doc__}\n{flags.FLAGS.module_help(module.__name__)}"
        for flag in list(flags.FLAGS.flags_by_module_dict().get(module.__name__, [])):
            delattr(flags.FLAGS, flag.name)
    with open(out, "w", encoding="utf-8") as stream:
        json.dump({"examples": parsed, "help": helps}, stream)


if __name__ == "__main__":
    main(sys.argv[1])
