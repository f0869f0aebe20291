#!/usr/bin/env python3
"""Suite-level figures users feel (issue: benchmarks), whole provium processes, median + p95:

  hundred_tests_s      one file of 100 trivial tests (no VM): the framework's own cost;
  suite_s              a suite of 20 small files, each booting one `linux` guest and running
                       one command; also as files per minute;
  events_overhead      the same 20-file suite with --save-events, as a ratio to without (runs
                       alternate, so drift in the machine's speed hits both alike); also for
                       the 100-test file, where the stream's own cost is not hidden by boots;
  file_scaling         suite wall time for 1, 4, 16 and 64 files that each restore a cached
                       fixture and run one command (what a grown suite does);
  idle_vm_memory       RSS and peak RSS of each QEMU process while two booted 256 MiB guests idle.

Standard library only; called by bench/suite/run.sh.

usage: bench.py PROVIUM_BINARY OUTPUT_JSON [--quick]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from projects import FIXTURE, FIXTURE_USER, make_project  # noqa: E402
from stats import summary  # noqa: E402

QUICK = "--quick" in sys.argv
REPS = int(os.environ.get("PROVIUM_BENCH_SUITE_REPS", "2" if QUICK else "3"))  # own knob: --quick sets PROVIUM_BENCH_REPS for the guest part
FILES = int(os.environ.get("PROVIUM_BENCH_SUITE_FILES", "4" if QUICK else "20"))
TRIVIAL_REPS = 5 if QUICK else 11  # a 0.02 s process: cheap to repeat
SCALING = [int(x) for x in os.environ.get(
    "PROVIUM_BENCH_SCALING_FILES", "1,4,16" if QUICK else "1,4,16,64").split(",")]
SCALING_REPS = int(os.environ.get("PROVIUM_BENCH_SCALING_REPS", "1" if QUICK else "3"))

VM_FILE = """local vm = provium:vm("v", "linux", { memory = "256M" })
vm:boot()
test("one command", function(t) vm:run("true"):assert_ok() end)
"""


def project(files):
    return make_project(files, prefix="provium-bench-suite-")


def timed(binary, d, extra=()):
    env = dict(os.environ, HOME=d, XDG_CACHE_HOME=os.path.join(d, ".cache"))
    t0 = time.monotonic()
    r = subprocess.run([binary, "--no-ksm", "--no-progress", "-q", *extra], cwd=d, env=env,
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit("bench: provium failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    try:  # a fresh dispatch order every time
        os.remove(os.path.join(d, ".cache", "provium", "durations.json"))
    except FileNotFoundError:
        pass
    return wall


def file_scaling(binary):
    """Suite wall time against the number of files, each restoring one cached fixture."""
    d = project({"fixtures/base.fixture.lua": FIXTURE})
    out = {}
    try:
        for i in range(max(SCALING)):
            with open(os.path.join(d, "f%03d.test.lua" % i), "w") as f:
                f.write(FIXTURE_USER)
        timed(binary, d, ("f000.test.lua",))  # warm-up: builds the fixture once
        for n in SCALING:
            names = ["f%03d.test.lua" % i for i in range(n)]
            walls = [timed(binary, d, tuple(names)) for _ in range(SCALING_REPS)]
            out[str(n)] = summary(walls)
            out[str(n)]["files_per_minute"] = n / out[str(n)]["median"] * 60
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return out


IDLE_FILE = """local a = provium:vm("a", "linux", { memory = "256M" })
local b = provium:vm("b", "linux", { memory = "256M" })
provium:boot()
test("idle", function(t)
  a:run("true"); b:run("true")
  io.open(os.getenv("PROVIUM_BENCH_MARK"), "w"):close()
  _provium_sleep(4)
end)
"""


def rss_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def idle_vm_memory(binary):
    """RSS of each QEMU process (and of provium itself) while two booted 256 MiB guests idle."""
    d = project({"idle.test.lua": IDLE_FILE})
    mark = os.path.join(d, "mark")
    env = dict(os.environ, HOME=d, XDG_CACHE_HOME=os.path.join(d, ".cache"), PROVIUM_BENCH_MARK=mark)
    p = subprocess.Popen([binary, "--no-ksm", "--no-progress", "-q"], cwd=d, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(mark) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
        time.sleep(1)
        qemu = []
        for pid in (int(x) for x in os.listdir("/proc") if x.isdigit()):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open("/proc/%d/comm" % pid) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if ppid == p.pid and comm.startswith("qemu-system"):
                qemu.append(pid)
        per_vm = [rss_kib(q, "VmRSS") for q in qemu]
        peak = [rss_kib(q, "VmHWM") for q in qemu]
        own = rss_kib(p.pid, "VmHWM")
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)
    per_vm = [v for v in per_vm if v]
    peak = [v for v in peak if v]
    if not per_vm:
        return None
    return {"qemu_rss_mib_per_idle_vm": statistics.median(per_vm) / 1024,
            "qemu_peak_rss_mib_per_vm": statistics.median(peak) / 1024 if peak else None,
            "vms": len(per_vm), "provium_peak_rss_mib": (own or 0) / 1024,
            "guest_memory_mib": 256}


def main():
    binary, out_path = os.path.abspath(sys.argv[1]), sys.argv[2]
    hundred = "\n".join('test("t%d", function(t) t:assert_eq(%d, %d) end)' % (i, i, i)
                        for i in range(100)) + "\n"
    d1 = project({"hundred.test.lua": hundred})
    d2 = project({"f%02d.test.lua" % i: VM_FILE for i in range(FILES)})
    plain, events = [], []
    try:
        timed(binary, d1)
        h, he = [], []
        for _ in range(TRIVIAL_REPS):  # alternate, as below
            h.append(timed(binary, d1))
            he.append(timed(binary, d1, ("--save-events", os.path.join(d1, "ev.bin"))))
        for _ in range(REPS):  # alternate, so a slower minute of the machine hits both
            plain.append(timed(binary, d2))
            events.append(timed(binary, d2, ("--save-events", os.path.join(d2, "ev.bin"))))
    finally:
        shutil.rmtree(d1, ignore_errors=True)
        shutil.rmtree(d2, ignore_errors=True)
    scaling = file_scaling(binary)
    mem = idle_vm_memory(binary)
    hs, hes, ps, es = summary(h), summary(he), summary(plain), summary(events)
    res = {"reps": REPS, "files": FILES,
           "hundred_tests_s": hs,
           "hundred_tests_with_events_s": hes,
           "hundred_tests_events_ratio": hes["median"] / hs["median"],
           "suite_s": ps,
           "suite_files_per_minute": FILES / ps["median"] * 60,
           "suite_with_events_s": es,
           "events_overhead_ratio": es["median"] / ps["median"],
           "file_scaling": scaling,
           "idle_vm_memory": mem}
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    print("== suites (whole processes; median / p95 over n runs) ==")
    print("one file of 100 trivial tests: %.3f / %.3f s (n=%d); with --save-events %.3f / %.3f s "
          "(%.3fx)" % (hs["median"], hs["p95"], hs["n"], hes["median"], hes["p95"],
                       res["hundred_tests_events_ratio"]))
    print("%d files, one guest + one command each: %.2f / %.2f s (n=%d; %.1f files/min)"
          % (FILES, ps["median"], ps["p95"], ps["n"], res["suite_files_per_minute"]))
    print("same with --save-events: %.2f / %.2f s (%.3fx)"
          % (es["median"], es["p95"], res["events_overhead_ratio"]))
    print("files restoring a fixture + one command each:")
    for n, s in scaling.items():
        print("  %3s files: %.2f / %.2f s (n=%d; %.0f files/min)"
              % (n, s["median"], s["p95"], s["n"], s["files_per_minute"]))
    if mem:
        print("idle 256 MiB guest: QEMU RSS %.0f MiB per VM, peak %.0f MiB (%d VMs); provium "
              "itself peak %.0f MiB" % (mem["qemu_rss_mib_per_idle_vm"],
                                        mem["qemu_peak_rss_mib_per_vm"] or 0, mem["vms"],
                                        mem["provium_peak_rss_mib"]))
    print("written: %s" % out_path)


if __name__ == "__main__":
    main()
