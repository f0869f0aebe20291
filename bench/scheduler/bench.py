#!/usr/bin/env python3
"""Scheduler benchmark: wall time of a suite of many small files run one file at a time
(--cpus 1) against the default pool (every online CPU), as a speedup ratio. Standard library
only; called by bench/scheduler/run.sh.

Two suites are generated in temporary projects:
  qemu  - QEMU_FILES files, each boots one 256 MiB `linux` guest and runs one command;
  local - LOCAL_FILES files, each starts one --vmm local sandbox and runs five commands.
Each configuration runs REPS times; medians are reported. The default pool runs twice: with
host-pressure (PSI) throttling as shipped, and with a calm PSI reading (PROVIUM_PSI_ROOT), so
the cost of throttling on this machine is visible.

A quick run (--quick) runs each configuration once and skips the QEMU warm-up run: bench/run.sh
has booted the guest image (built, in the page cache) before this part.

usage: bench.py PROVIUM_BINARY OUTPUT_JSON [--quick]
"""
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import projects  # noqa: E402

QUICK = "--quick" in sys.argv
REPS = int(os.environ.get("PROVIUM_BENCH_SCHED_REPS", "1" if QUICK else "3"))
QEMU_FILES = int(os.environ.get("PROVIUM_BENCH_QEMU_FILES", "4" if QUICK else "6"))
LOCAL_FILES = int(os.environ.get("PROVIUM_BENCH_LOCAL_FILES", "20" if QUICK else "40"))

# The repository's provium.toml (its `linux` profile is the guest users get) plus a `host`
# profile for the --vmm local suite.
HOST_PROFILE = '\n[profiles.host]\nkernel = "/nonexistent"\ncmdline = "console=ttyS0"\n'

QEMU_FILE = """test("boots and runs", function(t)
  local vm = provium:vm("v", "linux", {memory = "256M"})
  vm:boot()
  t:assert_eq(vm:run("echo ok").stdout, "ok\\n")
end)
"""

LOCAL_FILE = """test("sandbox", function(t)
  local vm = provium:vm("s", "host", {memory = "64M"})
  vm:boot()
  for i = 1, 5 do t:assert_eq(vm:run("echo " .. i).stdout, i .. "\\n") end
end)
"""


def make_project(kind):
    d = projects.make_project({}, prefix="provium-bench-sched-")
    with open(os.path.join(d, "provium.toml"), "a") as f:
        f.write(HOST_PROFILE)
    n, body = (QEMU_FILES, QEMU_FILE) if kind == "qemu" else (LOCAL_FILES, LOCAL_FILE)
    for i in range(n):
        with open(os.path.join(d, "f%03d.test.lua" % i), "w") as f:
            f.write(body)
    calm = os.path.join(d, ".calm-psi")
    os.mkdir(calm)
    for name in ("cpu", "memory"):
        with open(os.path.join(calm, name), "w") as f:
            f.write("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    return d, n


def run_suite(binary, project, kind, extra, env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    env["HOME"] = project  # durations.json and the rerun state stay in the scratch project
    args = [binary, "--no-ksm", "--no-progress", "-q"] + extra
    if kind == "local":
        args += ["--vmm", "local", "--no-preflight"]
    t0 = time.monotonic()
    r = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit("bench: provium failed (%d):\n%s\n%s" % (r.returncode, r.stdout, r.stderr))
    # Files from one run must not reorder the next (durations.json): start each run fresh.
    try:
        os.remove(os.path.join(project, ".cache", "provium", "durations.json"))
    except FileNotFoundError:
        pass
    run_suite.last_stderr = r.stderr
    return wall


def accelerator(stderr):
    """What provium said it used: it warns when it falls back to TCG."""
    return "TCG" if "TCG" in stderr else "KVM"


def main():
    binary, out_path = os.path.abspath(sys.argv[1]), sys.argv[2]
    results = {
        "machine": {"cores": os.cpu_count(), "kernel": platform.release()},
        "reps": REPS,
        "suites": {},
    }
    print("== scheduler: suite wall time, one file at a time vs the default pool "
          "(%d cores, medians of %d) ==" % (os.cpu_count(), REPS))
    print("%-6s %5s %12s %14s %14s %9s %9s" % ("suite", "files", "--cpus 1 s", "default s",
                                               "default,calm s", "speedup", "calm"))
    for kind in ("local", "qemu"):
        project, n = make_project(kind)
        calm = {"PROVIUM_PSI_ROOT": os.path.join(project, ".calm-psi")}
        try:
            if not (QUICK and kind == "qemu"):
                run_suite(binary, project, kind, [], calm)  # warm-up: image build, page cache
            serial = [run_suite(binary, project, kind, ["--cpus", "1"], calm) for _ in range(REPS)]
            if kind == "qemu":
                results["machine"]["accel"] = accelerator(run_suite.last_stderr)
            default = [run_suite(binary, project, kind, [], {}) for _ in range(REPS)]
            default_calm = [run_suite(binary, project, kind, [], calm) for _ in range(REPS)]
        finally:
            shutil.rmtree(project, ignore_errors=True)
        s, d, c = (statistics.median(x) for x in (serial, default, default_calm))
        results["suites"][kind] = {
            "files": n,
            "serial_s": serial, "default_s": default, "default_calm_psi_s": default_calm,
            "serial_median_s": s, "default_median_s": d, "default_calm_median_s": c,
            "speedup": s / d, "speedup_calm_psi": s / c,
            "files_per_minute_default": n / d * 60,
        }
        print("%-6s %5d %12.2f %14.2f %14.2f %8.2fx %8.2fx" % (kind, n, s, d, c, s / d, s / c))
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    print("written: %s" % out_path)


if __name__ == "__main__":
    main()
