"""One convention in every command: usage errors in one line and exit 2, every number in a
range, Ctrl-C in one line at any moment, plain warnings."""
import ast
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.commands import flag_table
from tests.conftest import ROOT

# Numbers whose range depends on the model: checked against it before any work.
MODEL_RANGED = {("run", "id"), ("occlusion", "id"), ("occlusion", "label"), ("sanity", "id")}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("flags") / "table.json"
    result = subprocess.run([sys.executable, "-m", "tests.commands.flag_table", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def _error(answer):
    code, stderr = answer
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1, answer
    assert lines[0].startswith("python -m tests.commands.flag_table: error: "), answer
    return lines[0].split(": error: ", 1)[1]


def test_every_number_has_a_range_and_bad_values_are_one_line(table):
    assert set(table) == set(flag_table.COMMANDS)
    numbers = 0
    for command, found in table.items():
        for name, entry in found.items():
            if "lower" not in entry or entry["parser"] not in ("IntegerParser",
                                                               "_FiniteFloatParser"):
                assert entry.get("parser") != "FloatParser", (command, name)  # NaN would pass
                continue
            numbers += 1
            if (command, name) in MODEL_RANGED:
                assert entry["upper"] is None
                continue
            low, high = entry["lower"], entry["upper"]
            assert low is not None and high is not None, (command, name)
            valid = (f"a number from {low:g} to {high:g}" if entry["float"]
                     else f"an integer from {low} to {high}")
            for value, answer in entry["answers"].items():
                assert _error(answer) == f"--{name} must be {valid}; received '{value}'.", (
                    command, name)
    assert numbers >= 30
    assert _error(table["run"]["aspect"]["answers"]["bogus"]) == (
        "--aspect must be one of stretch, crop; received 'bogus'.")
    for command in flag_table.COMMANDS:
        assert _error(table[command]["--unknown"]["answers"]["--nonsense=1"]).startswith(
            "Unknown flag --nonsense"), command


def test_every_command_runs_with_the_one_line_conventions():
    """Each command's `__main__` runs `_cli.run(main)` (our flags parser) and its main is
    wrapped by `_cli.one_line_errors` (errors, warnings, Ctrl-C)."""
    for command in flag_table.COMMANDS:
        tree = ast.parse(open(os.path.join(ROOT, "deconv", f"{command}.py")).read())
        main = next(node for node in tree.body
                    if isinstance(node, ast.FunctionDef) and node.name == "main")
        assert any("one_line_errors" in ast.unparse(d) for d in main.decorator_list), command
        guard = tree.body[-1]
        assert isinstance(guard, ast.If) and ast.unparse(guard.body[0]) == "_cli.run(main)", (
            command)


def _interrupted(resumes, action):
    from deconv import _cli

    @_cli.one_line_errors(resumes=resumes)
    def main(argv):
        action()

    with pytest.raises(SystemExit) as exit_info:
        main(["prog"])
    return exit_info.value.code


def test_interrupts_are_one_line_and_say_resumes_only_where_true(capsys):
    def converted():  # TensorFlow turned the KeyboardInterrupt into an error of its own
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise RuntimeError("Graph execution error: a stack of TensorFlow") from None

    def plain():
        raise KeyboardInterrupt

    before = signal.getsignal(signal.SIGINT)
    for resumes, action in ((False, converted), (True, plain), (False, plain)):
        assert _interrupted(resumes, action) == 130
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "interrupted" in lines[0], lines
        assert ("resumes" in lines[0]) == resumes, lines
    assert signal.getsignal(signal.SIGINT) == before  # given back


def test_ctrl_c_while_tensorflow_starts_is_one_line(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "deconv.export", "--feat", "conv1_1",
                                "--weights", "random", "--out", str(tmp_path / "m")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # TensorFlow takes seconds to import
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    lines = stderr.strip().splitlines()  # on this machine, in TensorFlow's import
    assert len(lines) == 1 and lines[0].startswith("python -m deconv.export: interrupted"), lines
    assert not os.path.exists(tmp_path / "m")


def test_warnings_are_plain_lines(capfd):
    import logging as std_logging

    from absl import logging

    from deconv import _cli

    @_cli.one_line_errors
    def main(argv):
        logging.warning("Skipping %s: %s", "a.png", "truncated")

    logging.use_absl_handler()  # what absl's app.run does for a command
    try:
        main(["prog"])
    finally:
        std_logging.root.removeHandler(logging.get_absl_handler())
    assert capfd.readouterr().err.strip().splitlines()[-1] == "warning: Skipping a.png: truncated"
