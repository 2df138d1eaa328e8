"""Runs one command line several times in ONE Python process, so that a test pays TensorFlow's
start-up once instead of once a run.

Each run goes through the command's own path, `_cli.run(main)` with `sys.argv` (absl's
`app.run` re-parses the flags on a rerun; they are reset to their defaults first), and its exit
status is the `SystemExit` that raises, as under `python -m deconv.X` (whose `prog()` it
reports: `__main__` is given a spec of the command's name). Standard output and error are captured
at the file-descriptor level, each run apart, with the working folder's listing after each run;
the first run's include the command module's import (TensorFlow's start-up), as a fresh
process's would.

A test keeps at least one real `python -m deconv.X` run of a command; this batches the others.

    python tests/helpers/command_batch.py COMMAND RUNS.json RESULTS_FOLDER
"""
import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
import traceback

_HERE = os.path.abspath(__file__)


def run_commands(command, runs, tmp_path, cwd=None, env=None, timeout=600):
    """Runs `python -m deconv.<command> *flags` for each `flags` of `runs` in one process.

    Returns:
      A list of `(CompletedProcess, listing)`: the run's exit status, standard output and error
      (text), and the sorted names in the working folder after it.
    """
    folder = tmp_path / f"batch_{command}"
    folder.mkdir(exist_ok=True)
    (folder / "runs.json").write_text(json.dumps([list(map(str, flags)) for flags in runs]))
    done = subprocess.run([sys.executable, _HERE, command, str(folder / "runs.json"),
                           str(folder)], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    results = []
    for index, flags in enumerate(runs):
        record = json.loads((folder / f"{index}.json").read_text())
        results.append((subprocess.CompletedProcess(
            ["python", "-m", f"deconv.{command}", *flags], record["returncode"],
            (folder / f"{index}.out").read_text(), (folder / f"{index}.err").read_text()),
            record["listing"]))
    return results


def _run_once(name, argv, out_path, err_path):
    """Imports command module `name` (once) and runs its `main` on `argv` (`argv[0]` omitted:
    the module's file) with fds 1 and 2 sent to the two files; returns its exit status."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(out_path, "w") as out, open(err_path, "w") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            module = importlib.import_module(name)
            from absl import flags
            from deconv import _cli
            flags.FLAGS.unparse_flags()
            sys.argv = [module.__file__, *argv]
            _cli.run(module.main)
            code = 0
        except SystemExit as stop:
            code = stop.code
        except BaseException:  # a traceback, as the command would print it, exit 1
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
    return 0 if code is None else code if isinstance(code, int) else 1


def _main(command, runs_file, folder):
    name = f"deconv.{command}"
    sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec(name, None)  # prog()
    runs = json.loads(open(runs_file, encoding="utf-8").read())
    for index, flags in enumerate(runs):
        code = _run_once(name, flags, os.path.join(folder, f"{index}.out"),
                         os.path.join(folder, f"{index}.err"))
        with open(os.path.join(folder, f"{index}.json"), "w") as record:
            json.dump({"returncode": code, "listing": sorted(os.listdir("."))}, record)


if __name__ == "__main__":
    sys.path.remove(os.path.dirname(_HERE))  # this folder is no package root
    _main(*sys.argv[1:])
