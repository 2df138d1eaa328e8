"""The benchmark command stays runnable: its --quick mode on tiny inputs (the real run is not
part of the test suite)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_quick_mode_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench.py"), "--quick",
         "--out", str(tmp_path / "results.json"), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"ops", "projection", "sweep", "all16", "memory"} <= set(results)
    assert all(row["argmax/MaxPool"] > 0 for row in results["ops"])
    for row in results["projection"]:
        if row["batch"] != 9:
            assert row["P_vs_G_rel_error"] < 1e-4, row  # both methods project the same
            assert row["F"] > 0 and row["R"] > 0 and row["G"] > 0
    assert results["sweep"]["images"] == 6 and results["sweep"]["pass1"] > 0
    assert results["memory"]["peak_MiB_large"] > 100
    assert "| layer | batch | window |" in result.stdout
