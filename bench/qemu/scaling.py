#!/usr/bin/env python3
"""Memory scaling (issue: benchmarks): cold boot, restore to agent ready and vm:run("true") of
the `linux` guest at 256 MiB, 1 GiB and 4 GiB, in one provium process running
bench/qemu/memory.bench.lua. Prints a table (median / p95 per size, and each size as a ratio
to the smallest) and writes the figures as JSON. Standard library only.

usage: scaling.py PROVIUM_BINARY OUTPUT_JSON [--quick]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from bench import bench_logs  # noqa: E402
from stats import summary  # noqa: E402

QUICK = "--quick" in sys.argv
MEMS = os.environ.get("PROVIUM_BENCH_MEMS", "256M,1G,4G")
REPS = int(os.environ.get("PROVIUM_BENCH_SCALING_REPS", "1" if QUICK else "3"))
RUNS = int(os.environ.get("PROVIUM_BENCH_SCALING_RUNS", "30" if QUICK else "100"))


def main():
    provium, out_path = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="provium-mbench-")
    try:
        f = os.path.join(work, "memory.test.lua")
        shutil.copy(os.path.join(HERE, "memory.bench.lua"), f)
        env = dict(os.environ, TMPDIR=work, PROVIUM_BENCH_MEMS=MEMS, PROVIUM_BENCH_REPS=str(REPS),
                   PROVIUM_BENCH_RUNS=str(RUNS))
        t0 = time.monotonic()
        # --mem: the pool must admit one 4 GiB guest whatever 80 % of this host's RAM is.
        r = subprocess.run([provium, "--json", "--no-progress", "--mem", "6G", f], env=env,
                           capture_output=True, text=True)
        wall = time.monotonic() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    records, failures = bench_logs(r.stdout)
    if r.returncode != 0 or failures:
        sys.stderr.write(r.stderr)
        sys.exit("bench: memory scaling failed (exit %d): %s" % (r.returncode, "; ".join(failures)))
    sizes = {}
    for rec in records:
        if rec.get("what") != "memory":
            continue
        sizes[rec["memory"]] = {
            "cold_boot_s": summary(rec["boot_s"]),
            "restore_s": summary(rec["restore_s"]),
            "first_run_after_restore_s": summary(rec["first_run_after_restore_s"]),
            "run_true_s": summary(rec["run_true_s"]),
            "snapshot_s": rec["snapshot_s"],
            "snapshot_bytes": rec["snapshot_bytes"],
        }
    base = sizes[next(iter(sizes))]
    for s in sizes.values():
        s["ratio_to_smallest"] = {k: s[k]["median"] / base[k]["median"]
                                  for k in ("cold_boot_s", "restore_s", "run_true_s")}
    res = {"reps": REPS, "runs": RUNS, "sizes": sizes, "wall_s": wall}
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    print("== memory scaling: linux guest, median / p95 (boots and restores n=%d, vm:run n=%d) =="
          % (REPS, RUNS))
    print("%-6s %18s %18s %18s %10s" % ("memory", "cold boot s", "restore s", "vm:run ms",
                                        "snapshot"))
    for mem, s in sizes.items():
        b, rs, rt, q = s["cold_boot_s"], s["restore_s"], s["run_true_s"], s["ratio_to_smallest"]
        print("%-6s %7.2f/%5.2f %4.2fx %7.2f/%5.2f %4.2fx %7.2f/%5.2f %4.2fx %8.1fMB" % (
            mem, b["median"], b["p95"], q["cold_boot_s"], rs["median"], rs["p95"], q["restore_s"],
            rt["median"] * 1e3, rt["p95"] * 1e3, q["run_true_s"], s["snapshot_bytes"] / 1e6))
    print("written: %s (%.0f s)" % (out_path, wall))


if __name__ == "__main__":
    main()
