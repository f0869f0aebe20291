#!/usr/bin/env python3
"""Gathers one benchmark run's JSON files (bench/results/*.json, written by the parts of
bench/run.sh) into bench/results/summary.json and a Markdown report: the machine, the
accelerator, the date and the versions, then every figure as median and p95, and the ratios
against the peers. A full run writes bench/RESULTS.md (the figures the project quotes); a
quick run writes bench/results/RESULTS-quick.md, so a first look never replaces them.
Standard library only.

usage: report.py RESULTS_DIR STAGES_FILE WALL_SECONDS [--quick]
  STAGES_FILE: lines "name seconds", one per part of the run, in order
"""
import datetime
import json
import os
import platform
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = "--quick" in sys.argv
TARGETS = {"cold": 0.3, "fixture": 0.05, "per_command": 0.5}  # the issue's, vs libguestfs


def load(results, name):
    p = os.path.join(results, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True).stdout.strip()
        return out.splitlines()[0] if out else None
    except (OSError, IndexError):
        return None


def provium_version():
    """`git describe` of the checkout, "-dirty" only for changes other than this report itself
    (a run rewrites bench/RESULTS.md, which must not mark the next run's code as modified)."""
    rev = first_line(["git", "-C", REPO, "describe", "--always"])
    changed = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", ".",
                              ":!bench/RESULTS.md"], capture_output=True, text=True).stdout.strip()
    return (rev or "unknown") + ("-dirty" if changed else "")


def machine(qemu):
    mc = dict((qemu or {}).get("machine", {}))
    cpu, mem_gib = None, None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
        with open("/proc/meminfo") as f:
            mem_gib = int(next(l for l in f if l.startswith("MemTotal")).split()[1]) / 1048576
    except (OSError, StopIteration):
        pass
    mc.update({
        "cpu": cpu, "memory_gib": round(mem_gib, 1) if mem_gib else None,
        "cores": os.cpu_count(), "host_kernel": platform.release(),
        "provium": provium_version(),
        "cmake": first_line(["cmake", "--version"]),
    })
    return mc


def s(x, scale=1.0, fmt="%.2f"):
    """`median / p95` of a summary (or a bare number)."""
    if x is None:
        return "—"
    if isinstance(x, (int, float)):
        return fmt % (x * scale)
    med = fmt % (x["median"] * scale)
    return med + (" / " + fmt % (x["p95"] * scale) if "p95" in x else "")


def n(x):
    return str(x.get("n", len(x.get("samples", [])))) if isinstance(x, dict) else ""


def build(results, stages, wall):
    q = load(results, "qemu.json")
    ms = load(results, "memory-scaling.json")
    su = load(results, "suite.json")
    sc = load(results, "scheduler.json")
    ag = load(results, "agent-local.json")
    pe = load(results, "peers.json")
    mc = machine(q)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = {"date": now, "quick": QUICK, "wall_s": wall, "stages_s": stages, "machine": mc,
               "qemu": q, "memory_scaling": ms, "suite": su, "scheduler": sc, "agent_local": ag,
               "peers": pe}
    L = []
    w = L.append

    def table(title, columns):
        """A `## title` section (when given) opening a Markdown table with these columns."""
        if title:
            w("## " + title)
            w("")
        w("| " + " | ".join(columns) + " |")
        w("|" + "---|" * len(columns))
    w("# Benchmark results%s" % (" (quick run)" if QUICK else ""))
    w("")
    w("Written by `%s` on %s in %d min %d s; every figure is **median / p95** over n runs of one "
      "run on one machine (p95 is nearest rank: with few runs it is the slowest). Ratios are "
      "provium / peer, lower is better. Analyses and earlier figures: `bench/HISTORY.md`."
      % ("sh bench/run.sh --quick" if QUICK else "sh bench/run.sh", now, wall // 60, wall % 60))
    w("")
    w("| Machine | |")
    w("|---|---|")
    for k, label in (("accel", "accelerator"), ("cpu", "CPU"), ("cores", "cores"),
                     ("memory_gib", "memory (GiB)"), ("os", "OS"), ("host_kernel", "host kernel"),
                     ("qemu", "QEMU"), ("guest_kernel", "guest kernel"), ("provium", "provium"),
                     ("cmake", "build")):
        w("| %s | %s |" % (label, mc.get(k, "—")))
    lg = next((p for p in (pe or {}).get("peers", []) if p["peer"] == "libguestfs"), None)
    if lg:
        w("| libguestfs | %s (direct backend, %s) |" % (lg.get("version"), lg.get("accel")))
    w("")
    if pe:
        w("## Side by side with the peers")
        w("")
        prov = pe["provium"]
        w("| Figure | provium | n | peer | peer figure | ratio | target |")
        w("|---|---|---|---|---|---|---|")
        for p in pe["peers"]:
            r = pe["ratios"][p["peer"]]
            tgt = (lambda k: "≤ %.2fx: %s" % (TARGETS[k], "met" if r[k] <= TARGETS[k] else "**missed**")) \
                if p["peer"] == "libguestfs" else (lambda k: "—")
            w("| nothing → output of one command (whole process) | %s s | %s | %s | %s s | **%.3fx** | %s |"
              % (s(prov["cold_process_one_command_s"]), n(prov["cold_process_one_command_s"]),
                 p["peer"], s(p["first_command_s"]), r["cold"], tgt("cold")))
            w("| fixture restore + one command (whole process; the peer boots) | %s s | %s | %s | %s s | **%.3fx** | %s |"
              % (s(prov["fixture_process_one_command_s"]), n(prov["fixture_process_one_command_s"]),
                 p["peer"], s(p["first_command_s"]), r["fixture"], tgt("fixture")))
            if "per_command" in r:
                w("| one more command on a running guest | %s ms | %s | %s | %s ms (n=%s) | **%.3fx** | %s |"
                  % (s(prov["run_true_s"], 1e3), n(prov["run_true_s"]), p["peer"],
                     s(p["per_command_s"], 1e3), n(p["per_command_s"]), r["per_command"],
                     tgt("per_command")))
        w("")
    if q:
        table("The `linux` guest (256 MiB, in one provium process)", ['Figure', 'median / p95', 'n'])
        rows = [("cold boot to agent ready (`vm:boot`)", "cold_boot_s", 1, "s"),
                ("snapshot (`vm:snapshot`)", "snapshot_s", 1, "s"),
                ("restore to agent ready (`vm:restore`)", "restore_s", 1, "s"),
                ("first `vm:run` after restore", "first_run_after_restore_s", 1e3, "ms"),
                ('`vm:run("true")` round trip', "run_true_s", 1e3, "ms"),
                ('`vm:run({"/bin/true"})` (no shell)', "run_argv_true_s", 1e3, "ms"),
                ("`read_file` of 4 bytes", "read_file_4b_s", 1e3, "ms"),
                ("`read_file` of 64 MiB", "read_file_64m_s", 1e3, "ms"),
                ("whole process: boot + one command", "process_one_command_s", 1, "s")]
        for label, key, scale, unit in rows:
            if q.get(key):
                w("| %s | %s %s | %s |" % (label, s(q[key], scale), unit, n(q[key])))
        sb = q.get("snapshot_bytes")
        if sb:
            w("| snapshot file (zstd) of the booted guest | %.1f MB | %s |" % (sb["median"] / 1e6, n(sb)))
        tp = q.get("read_file_64m_mib_per_s")
        if tp:
            w("| `read_file` 64 MiB throughput | %.0f / %.0f MiB/s | %s |"
              % (tp["median"], tp["p95"], n(q["read_file_64m_s"])))
        w("")
    if ms:
        table("Scaling with guest memory", ['Memory', 'cold boot s', '×256M', 'restore s', '×256M', '`vm:run` ms', '×256M', 'snapshot file'])
        for mem, v in ms["sizes"].items():
            r = v["ratio_to_smallest"]
            w("| %s | %s | %.2fx | %s | %.2fx | %s | %.2fx | %.1f MB |" % (
                mem, s(v["cold_boot_s"]), r["cold_boot_s"], s(v["restore_s"]), r["restore_s"],
                s(v["run_true_s"], 1e3), r["run_true_s"], v["snapshot_bytes"] / 1e6))
        w("")
        w("n = %d boots and restores, %d `vm:run`s per size." % (ms["reps"], ms["runs"]))
        w("")
    if su:
        table("Suites (whole provium processes)", ['Figure', 'median / p95', 'n'])
        w("| one file of 100 trivial tests (no VM) | %s s | %s |"
          % (s(su["hundred_tests_s"], fmt="%.3f"), n(su["hundred_tests_s"])))
        w("| %d files, each booting one 256 MiB guest + one command | %s s (%.1f files/min) | %s |"
          % (su["files"], s(su["suite_s"]), su["suite_files_per_minute"], n(su["suite_s"])))
        w("| the same with `--save-events` | %s s: **%.3fx** | %s |"
          % (s(su["suite_with_events_s"]), su["events_overhead_ratio"], n(su["suite_with_events_s"])))
        if su.get("hundred_tests_with_events_s"):
            w("| the 100-test file with `--save-events` (the stream's own cost) | %s s: **%.3fx** | %s |"
              % (s(su["hundred_tests_with_events_s"], fmt="%.3f"), su["hundred_tests_events_ratio"],
                 n(su["hundred_tests_with_events_s"])))
        m = su.get("idle_vm_memory")
        if m:
            w("| host memory per idle 256 MiB guest (QEMU RSS / peak RSS, `--no-ksm`) | %.0f / %.0f MiB | %d VMs |"
              % (m["qemu_rss_mib_per_idle_vm"], m.get("qemu_peak_rss_mib_per_vm") or 0, m["vms"]))
            w("| provium itself, peak RSS with 2 guests | %.0f MiB | 1 |" % m["provium_peak_rss_mib"])
        w("")
        fs = su.get("file_scaling")
        if fs:
            w("Suite wall time against the number of files (each restores a cached fixture and "
              "runs one command; default pool):")
            w("")
            w("| Files | wall s | n | files/min | ×1 file |")
            w("|---|---|---|---|---|")
            one = fs[next(iter(fs))]["median"]
            for k, v in fs.items():
                w("| %s | %s | %s | %.0f | %.2fx |" % (k, s(v), n(v), v["files_per_minute"], v["median"] / one))
            w("")
    if sc:
        table("Scheduler: one file at a time vs the default pool", ['Suite', 'files', '`--cpus 1` s', 'default s', 'speedup', 'default, calm PSI s', 'speedup'])
        for kind, v in sc["suites"].items():
            w("| %s | %d | %.2f | %.2f | **%.2fx** | %.2f | %.2fx |" % (
                kind, v["files"], v["serial_median_s"], v["default_median_s"], v["speedup"],
                v["default_calm_median_s"], v["speedup_calm_psi"]))
        w("")
        w("Medians of %d runs each." % sc["reps"])
        w("")
    if ag:
        table("Agent round trips over `--vmm local` (no kernel booted)", ['Figure', 'median / p95'])
        lb = ag.get("local_boot")
        if lb:
            w("| sandbox boot to agent ready | %.1f / %.1f ms (n=%d) |" % (lb["median_ms"], lb["p95_ms"], lb["n"]))
        else:
            w("| sandbox boot to agent ready | %.1f ms |" % ag["local_boot_ms"])
        for label, key in (("`read_file` 4 bytes", "read_file_4b_ms"), ("exec `/bin/true`", "exec_true_ms")):
            v = ag[key]
            w("| %s | %.3f / %.3f ms (n=%d) |" % (label, v["median"], v.get("p95", v.get("p99")), v["n"]))
        b = ag["read_file_64mib"]
        w("| `read_file` 64 MiB | %.1f ms, %.0f MiB/s (n=%d) |" % (b["median_ms"], b["mib_per_s"], b["n"]))
        w("")
    w("## Time per part of this run")
    w("")
    w("| Part | seconds |")
    w("|---|---|")
    for name, sec in stages:
        w("| %s | %d |" % (name, sec))
    w("| **total** | **%d** |" % wall)
    w("")
    return summary, "\n".join(L)


def main():
    results, stages_file, wall = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stages = []
    with open(stages_file) as f:
        for line in f:
            name, sec = line.rsplit(" ", 1)
            stages.append((name, int(sec)))
    summary, md = build(results, stages, wall)
    with open(os.path.join(results, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    out = os.path.join(results, "RESULTS-quick.md") if QUICK else os.path.join(REPO, "bench", "RESULTS.md")
    with open(out, "w") as f:
        f.write(md)
    print(md)
    print("written: %s and %s" % (out, os.path.join(results, "summary.json")))


if __name__ == "__main__":
    main()
