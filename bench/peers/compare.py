#!/usr/bin/env python3
"""Provium side by side with its peers, in one run on one machine: every figure is a median and
every comparison a ratio (provium / peer), so they carry across machines.

  cold: a provium process that boots the `linux` guest and runs one command, vs the peer's
        process from nothing to one command's output;
  fixture: a provium process that restores a cached fixture and runs one command, vs the same
        peer figure (the peer has no snapshots: it always boots);
  per command: provium's vm:run("true") round trip vs libguestfs's per-command time on a
        running appliance.

Reads bench/results/qemu.json (bench/qemu) and the peers' JSON; measures the fixture process
itself. Writes bench/results/peers.json and prints the table.

usage: compare.py PROVIUM_BINARY RESULTS_DIR [--quick]
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from projects import FIXTURE, FIXTURE_USER, make_project  # noqa: E402
from stats import summary  # noqa: E402

QUICK = "--quick" in sys.argv
# A fixture process takes ~0.3 s and its time is bimodal on a 2-vCPU VM (see HISTORY.md): enough
# samples that the median is the typical run.
FIXTURE_REPS = int(os.environ.get("PROVIUM_BENCH_FIXTURE_REPS", "7" if QUICK else "15"))
TARGETS = {"cold": 0.3, "fixture": 0.05, "per_command": 0.5}  # from the issue; reported, not asserted


def fixture_process_s(binary):
    d = make_project({"fixtures/base.fixture.lua": FIXTURE, "one.test.lua": FIXTURE_USER},
                     prefix="provium-bench-peer-")
    try:
        env = dict(os.environ, HOME=d, XDG_CACHE_HOME=os.path.join(d, ".cache"))
        args = [binary, "--no-progress", "-q", "one.test.lua"]
        warm = subprocess.run(args, cwd=d, env=env, capture_output=True, text=True)  # builds it
        if warm.returncode != 0:
            sys.exit("bench: fixture warm-up failed:\n" + warm.stdout + warm.stderr)
        out = []
        for _ in range(FIXTURE_REPS):
            t0 = time.monotonic()
            r = subprocess.run(args, cwd=d, env=env, capture_output=True, text=True)
            out.append(time.monotonic() - t0)
            if r.returncode != 0:
                sys.exit("bench: fixture run failed:\n" + r.stdout + r.stderr)
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    binary, results = os.path.abspath(sys.argv[1]), sys.argv[2]
    q = load(os.path.join(results, "qemu.json"))
    peers = [load(os.path.join(results, n)) for n in ("libguestfs.json", "plain-qemu.json")
             if os.path.exists(os.path.join(results, n))]
    cold = q["process_one_command_s"]["median"]
    run = q["run_true_s"]["median"]
    fx = summary(fixture_process_s(binary))
    fixture = fx["median"]
    rows, out = [], {"provium": {"cold_process_one_command_s": q["process_one_command_s"],
                                 "fixture_process_one_command_s": fx,
                                 "run_true_s": q["run_true_s"]},
                     "peers": peers, "ratios": {}}
    for p in peers:
        first = p["first_command_s"]["median"]
        r = {"cold": cold / first, "fixture": fixture / first}
        if "per_command_s" in p:
            r["per_command"] = run / p["per_command_s"]["median"]
        out["ratios"][p["peer"]] = r
        rows.append((p["peer"], first, p.get("per_command_s", {}).get("median"), r))
    with open(os.path.join(results, "peers.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("== provium vs peers (medians; ratio = provium / peer, lower is better) ==")
    print("provium: boot + 1 command %.2f s (p95 %.2f; process), fixture restore + 1 command "
          "%.2f s (p95 %.2f; process), vm:run %.2f ms (p95 %.2f)"
          % (cold, q["process_one_command_s"]["p95"], fixture, fx["p95"], run * 1000,
             q["run_true_s"]["p95"] * 1000))
    for name, first, per, r in rows:
        # The targets are stated against libguestfs; other peers are context.
        tgt = (lambda k: " (target <= %.2fx)" % TARGETS[k]) if name == "libguestfs" else (lambda k: "")
        line = "%-26s first command %.2f s -> cold %.2fx%s, fixture %.3fx%s" % (
            name, first, r["cold"], tgt("cold"), r["fixture"], tgt("fixture"))
        if per is not None:
            line += ", per command %.1f ms -> %.2fx%s" % (per * 1000, r["per_command"], tgt("per_command"))
        print(line)


if __name__ == "__main__":
    main()
