"""Nsight Compute runs shared by the profiling scripts: one metric, the kernel duration, for every kernel a program
launches (inside its profiler range, or every node of its CUDA graphs, as the arguments ask)."""
import csv
import io
import shutil
import subprocess
import sys

US_PER_UNIT = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}


def kernel_times(program, ncu_args=()):
    """Runs program (argv) under ncu; returns (its stdout before ncu's table, [(kernel name, microseconds)] in launch
    order). Exits with ncu's output when it fails."""
    ncu = shutil.which("ncu") or "/usr/local/cuda/bin/ncu"
    cmd = [ncu, "--csv", "--metrics", "gpu__time_duration.sum", *ncu_args, *program]
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    text = proc.stdout
    start = text.find('"ID"')
    if proc.returncode != 0 or start < 0:
        sys.exit("ncu failed (%d):\n%s\n%s" % (proc.returncode, text[-3000:], proc.stderr[-3000:]))
    rows = [r for r in csv.DictReader(io.StringIO(text[start:])) if r["Metric Name"] == "gpu__time_duration.sum"]
    return text[:start], [(r["Kernel Name"], float(r["Metric Value"].replace(",", "")) * US_PER_UNIT[r["Metric Unit"]])
                          for r in rows]
