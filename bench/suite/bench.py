#!/usr/bin/env python3
"""Suite-level figures users feel (issue: benchmarks), whole provium processes, medians:

  hundred_tests_s      one file of 100 trivial tests (no VM): the framework's own cost;
  twenty_files_s       a suite of 20 small files, each booting one `linux` guest and running
                       one command; also as files per minute;
  events_overhead      the same 20-file suite with --save-events, as a ratio to without;
  idle_vm_memory       RSS of each QEMU process while two booted 256 MiB guests idle.

Standard library only; called by bench/suite/run.sh.

usage: bench.py PROVIUM_BINARY OUTPUT_JSON [--quick]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

QUICK = "--quick" in sys.argv
REPS = int(os.environ.get("PROVIUM_BENCH_REPS", "2" if QUICK else "3"))
FILES = int(os.environ.get("PROVIUM_BENCH_SUITE_FILES", "6" if QUICK else "20"))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VM_FILE = """local vm = provium:vm("v", "linux", { memory = "256M" })
vm:boot()
test("one command", function(t) vm:run("true"):assert_ok() end)
"""


def project(files):
    d = tempfile.mkdtemp(prefix="provium-bench-suite-")
    with open(os.path.join(REPO, "provium.toml")) as f:
        toml = f.read().replace('roots = ["examples"]', 'roots = ["."]')
    with open(os.path.join(d, "provium.toml"), "w") as f:
        f.write(toml.replace("sh guest/build-linux.sh", "sh %s/guest/build-linux.sh" % REPO))
    for name, body in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(body)
    return d


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


IDLE_FILE = """local a = provium:vm("a", "linux", { memory = "256M" })
local b = provium:vm("b", "linux", { memory = "256M" })
provium:boot()
test("idle", function(t)
  a:run("true"); b:run("true")
  io.open(os.getenv("PROVIUM_BENCH_MARK"), "w"):close()
  _provium_sleep(4)
end)
"""


def rss_kib(pid, field="VmRSS"):
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
        per_vm = [rss_kib(q) for q in qemu]
        own = rss_kib(p.pid)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)
    per_vm = [v for v in per_vm if v]
    if not per_vm:
        return None
    return {"qemu_rss_mib_per_idle_vm": statistics.median(per_vm) / 1024, "vms": len(per_vm),
            "provium_rss_mib": (own or 0) / 1024, "guest_memory_mib": 256}


def main():
    binary, out_path = os.path.abspath(sys.argv[1]), sys.argv[2]
    hundred = "\n".join('test("t%d", function(t) t:assert_eq(%d, %d) end)' % (i, i, i)
                        for i in range(100)) + "\n"
    d1 = project({"hundred.test.lua": hundred})
    d2 = project({"f%02d.test.lua" % i: VM_FILE for i in range(FILES)})
    try:
        timed(binary, d1)
        h = [timed(binary, d1) for _ in range(REPS)]
        timed(binary, d2)  # warm-up: profile build check, page cache
        plain = [timed(binary, d2) for _ in range(REPS)]
        events = [timed(binary, d2, ("--save-events", os.path.join(d2, "ev.bin"))) for _ in range(REPS)]
    finally:
        shutil.rmtree(d1, ignore_errors=True)
        shutil.rmtree(d2, ignore_errors=True)
    mem = idle_vm_memory(binary)
    hm, pm, em = statistics.median(h), statistics.median(plain), statistics.median(events)
    res = {"reps": REPS, "files": FILES,
           "hundred_tests_s": {"median": hm, "samples": h},
           "suite_s": {"median": pm, "samples": plain},
           "suite_files_per_minute": FILES / pm * 60,
           "suite_with_events_s": {"median": em, "samples": events},
           "events_overhead_ratio": em / pm,
           "idle_vm_memory": mem}
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    print("== suites (whole processes, medians of %d) ==" % REPS)
    print("one file of 100 trivial tests: %.3f s" % hm)
    print("%d files, one guest + one command each: %.2f s (%.1f files/min)" % (FILES, pm, FILES / pm * 60))
    print("same with --save-events: %.2f s (%.3fx)" % (em, em / pm))
    if mem:
        print("idle 256 MiB guest: QEMU RSS %.0f MiB per VM (%d VMs), provium itself %.0f MiB"
              % (mem["qemu_rss_mib_per_idle_vm"], mem["vms"], mem["provium_rss_mib"]))
    print("written: %s" % out_path)


if __name__ == "__main__":
    main()
