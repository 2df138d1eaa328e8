"""A real Dask cluster on loopback for the tests: `dask scheduler` and `dask worker ADDRESS`
started as subprocesses with Dask's own commands (each in its own session, so that stopping it
stops its nanny's worker process too), and stopped whatever happens, with a check that none of
their processes is left. Also used by benchmarks/beam_engine.py."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The `dask` command installed beside this Python (the test extra installs it).
DASK = os.path.join(os.path.dirname(sys.executable), "dask")


def _address_in(scheduler_file, scheduler, timeout):
    """The address the scheduler wrote to `scheduler_file`, once it has (it writes the file
    when it listens)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and scheduler.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            with open(scheduler_file) as stream:
                return json.load(stream)["address"]
        time.sleep(0.1)
    raise RuntimeError(f"dask scheduler wrote no address to {scheduler_file} "
                       f"(exit status {scheduler.poll()})")


def _sessions_alive(sessions):
    """The pids of living processes in any of `sessions` (read from /proc)."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) in sessions:  # state, ppid, pgrp, session
            alive.append(int(entry))
    return alive


class DaskCluster:
    """A scheduler and `workers` single-threaded workers on 127.0.0.1, logs in `folder`; the
    scheduler ends itself after `idle_timeout` seconds without work.

    Attributes:
      address: the scheduler's `tcp://127.0.0.1:PORT`.
      processes: `{name: Popen}` of the commands started.
    """

    def __init__(self, folder, workers=2, idle_timeout=600):
        self.folder, self.workers, self.idle_timeout = folder, workers, idle_timeout
        self.address, self.processes = None, {}

    def _start(self, name, *args):
        log = open(os.path.join(self.folder, f"{name}.log"), "w")
        # Dask's scratch space and its locks in `folder` too (not /tmp/dask-scratch-space).
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "DASK_TEMPORARY_DIRECTORY": str(self.folder)}
        self.processes[name] = subprocess.Popen(
            [DASK, *args], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
            start_new_session=True)
        log.close()

    def start(self, timeout=120):
        """Starts the scheduler on a port the system picks (`--port 0`: no race for a free
        one), reads its address from its `--scheduler-file`, then starts the workers on that
        address and waits until every one has joined."""
        scheduler_file = os.path.join(self.folder, "scheduler.json")
        # --idle-timeout and --death-timeout: if this test process were killed before it
        # could stop them, the scheduler and then its workers would end by themselves.
        self._start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
                    "--scheduler-file", scheduler_file, "--no-dashboard", "--idle-timeout",
                    str(self.idle_timeout))
        self.address = _address_in(scheduler_file, self.processes["scheduler"], timeout)
        for number in range(self.workers):
            self._start(f"worker{number}", "worker", self.address, "--nthreads", "1",
                        "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "60",
                        "--local-directory", str(self.folder), "--name", f"worker{number}")
        self.wait_for_workers(self.workers)
        return self

    def wait_for_workers(self, count, timeout=180):
        from dask.distributed import Client
        with Client(self.address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=timeout)

    def worker_pids(self):
        """`{pid: address}` of the processes that run tasks (each a nanny's child)."""
        from dask.distributed import Client
        with Client(self.address, timeout=60, set_as_default=False) as client:
            return {pid: address for address, pid in client.run(os.getpid).items()}

    def allow_failures(self, count):
        """Sets how many workers may die running one task before it fails (the scheduler's
        `distributed.scheduler.allowed-failures`, 3 by default), now. Returns the earlier
        count."""
        from dask.distributed import Client

        def swap(dask_scheduler):  # pickled by value: the scheduler cannot import the tests
            earlier, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, count
            return earlier

        with Client(self.address, timeout=60, set_as_default=False) as client:
            return client.run_on_scheduler(swap)

    def sessions(self):
        return {process.pid for process in self.processes.values()}

    def stop(self):
        """Stops every process started (SIGTERM to each session, SIGKILL after 20 s).

        Returns:
          the pids still alive in their sessions afterwards (none, unless something is wrong).
        """
        for process in reversed(list(self.processes.values())):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _sessions_alive(self.sessions()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        time.sleep(0.2)
        return _sessions_alive(self.sessions())

    def logs(self, tail=3000):
        """The end of every process's log, for a failing test's message."""
        text = []
        for name in self.processes:
            with open(os.path.join(self.folder, f"{name}.log"), errors="replace") as stream:
                text.append(f"--- {name}\n{stream.read()[-tail:]}")
        return "\n".join(text)

