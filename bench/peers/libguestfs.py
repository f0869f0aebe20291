#!/usr/bin/env python3
"""The libguestfs peer (issue: benchmarks side by side with the tools users would use instead).

libguestfs boots a minimal appliance (a kernel plus its own daemon over virtio-serial, direct
backend, no disks) and runs commands through that daemon: the closest Debian-packaged analogue
of "boot a VM and run a command in it". Measured with guestfish, standard library only:

  first_command_s   nothing -> appliance booted -> output of one command (`debug sh "echo hi"`),
                    a whole guestfish process, like a whole provium process;
  per_command_s     N commands on one running appliance, each timed alone: guestfish reads
                    them from a pipe (line-buffered with stdbuf) and each round trip ends when
                    its output line arrives, so median and p95 are per command. (The earlier
                    estimate, (process with 1+N commands - process with 1) / N, drowned in the
                    seconds of spread between whole TCG boots.)

Setup it needs on a Debian host, done here: libguestfs-tools from apt (when missing and we are
root), a kernel for supermin (the Debian cloud kernel package, fetched with `apt-get download`
into WORKDIR, since hosts like ours have no /boot kernel), and an empty /lib/modules when the
host has none (supermin lstat()s it). TCG is forced when /dev/kvm is not usable by stock kernels.

usage: libguestfs.py WORKDIR OUTPUT_JSON [--quick]
"""
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

QUICK = "--quick" in sys.argv
# Whole one-command processes; the per-command process adds one more first-command sample.
REPS = int(os.environ.get("PROVIUM_BENCH_GUESTFS_REPS", "2" if QUICK else "4"))
COMMANDS = int(os.environ.get("PROVIUM_BENCH_PEER_COMMANDS", "50" if QUICK else "100"))


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def ensure_installed():
    if shutil.which("guestfish"):
        return
    if os.geteuid() != 0:
        sys.exit("libguestfs peer: guestfish missing; install it: apt-get install libguestfs-tools")
    r = sh(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "libguestfs-tools"],
           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if r.returncode != 0:
        sys.exit("libguestfs peer: apt-get install libguestfs-tools failed:\n" + r.stderr)


def kernel_for_supermin(workdir):
    """A kernel + modules tree for the appliance: the host's own when /boot has one."""
    if glob.glob("/boot/vmlinuz-*") and os.path.isdir("/lib/modules"):
        return {}
    kdir = os.path.join(workdir, "peer-kernel")
    found = glob.glob(os.path.join(kdir, "boot", "vmlinuz-*"))
    if not found:
        os.makedirs(kdir, exist_ok=True)
        deps = sh(["apt-cache", "depends", "linux-image-cloud-amd64"]).stdout
        pkg = next((l.split()[1] for l in deps.splitlines()
                    if l.strip().startswith("Depends: linux-image-") and l.split()[1][12:13].isdigit()),
                   None)
        if not pkg:
            sys.exit("libguestfs peer: cannot find the Debian cloud kernel package")
        r = sh(["apt-get", "download", "-q", pkg], cwd=kdir)
        debs = glob.glob(os.path.join(kdir, "*.deb"))
        if not debs:
            sys.exit("libguestfs peer: apt-get download %s failed:\n%s" % (pkg, r.stderr))
        sh(["dpkg-deb", "-x", debs[0], kdir])
        found = glob.glob(os.path.join(kdir, "boot", "vmlinuz-*"))
    version = os.path.basename(found[0])[len("vmlinuz-"):]
    sh(["depmod", "-b", kdir, version])
    if not os.path.isdir("/lib/modules"):
        os.makedirs("/lib/modules", exist_ok=True)  # supermin lstat()s it on the host
    return {
        "SUPERMIN_KERNEL": found[0],
        "SUPERMIN_KERNEL_VERSION": version,
        "SUPERMIN_MODULES": os.path.join(kdir, "lib", "modules", version),
    }


def kvm_usable():
    # Our own probe knows best: provium prints a warning when it falls back to TCG.
    return os.path.exists("/dev/kvm") and os.environ.get("PROVIUM_BENCH_ACCEL", "") == "KVM"


def first_command(env):
    """A whole guestfish process: boot the appliance, run one command, exit."""
    args = ["guestfish", "-a", "/dev/null", "run", ":", "debug", "sh", "echo hi"]
    t0 = time.monotonic()
    r = sh(args, env=env)
    wall = time.monotonic() - t0
    if r.returncode != 0 or "hi" not in r.stdout:
        sys.exit("libguestfs peer: guestfish failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    return wall


def per_command(env, n):
    """Times n `debug sh` commands, one after another, on one running appliance. Returns
    (seconds from start to the first command's output, [seconds per further command])."""
    t_start = time.monotonic()
    p = subprocess.Popen(["stdbuf", "-oL", "guestfish", "-a", "/dev/null"], env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    samples = []
    try:
        def ask(cmd, want):
            p.stdin.write(cmd + "\n")
            p.stdin.flush()
            while True:
                line = p.stdout.readline()
                if not line:
                    sys.exit("libguestfs peer: guestfish ended early:\n" + p.stderr.read())
                if line.strip() == want:
                    return
        p.stdin.write("run\n")
        ask('debug sh "echo warm"', "warm")  # also waits for `run` to finish
        first = time.monotonic() - t_start
        for i in range(n):
            t0 = time.monotonic()
            ask('debug sh "echo c%d"' % i, "c%d" % i)
            samples.append(time.monotonic() - t0)
        p.stdin.write("quit\n")
        p.stdin.close()
        p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    return first, samples


def main():
    workdir, out_path = os.path.abspath(sys.argv[1]), sys.argv[2]  # supermin runs elsewhere
    os.makedirs(workdir, exist_ok=True)
    ensure_installed()
    env = dict(os.environ, LIBGUESTFS_BACKEND="direct",
               LIBGUESTFS_CACHEDIR=os.path.join(workdir, "guestfs-cache"))
    env.update(kernel_for_supermin(workdir))
    if not kvm_usable():
        env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg"
    os.makedirs(env["LIBGUESTFS_CACHEDIR"], exist_ok=True)
    if not glob.glob(os.path.join(env["LIBGUESTFS_CACHEDIR"], ".guestfs-*", "appliance.d")):
        first_command(env)  # warm-up: supermin builds the appliance once (cached afterwards)
    first = [first_command(env) for _ in range(REPS)]
    one_more, each = per_command(env, COMMANDS)
    first.append(one_more)  # the interactive process's boot to its first output: one more sample
    each.sort()
    per = statistics.median(each)
    version = sh(["guestfish", "--version"]).stdout.strip()
    res = {
        "peer": "libguestfs",
        "version": version,
        "accel": "KVM" if kvm_usable() else "TCG",
        "first_command_s": {"median": statistics.median(first), "p95": max(first),
                            "samples": first},  # p95: nearest rank of few samples = max
        "per_command_s": {"median": per, "p95": each[max(0, -(-95 * len(each) // 100) - 1)],
                          "n": len(each), "samples": each},
        "commands": COMMANDS,
    }
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    print("libguestfs (%s, %s): first command %.2f s, then %.1f ms per command" %
          (version, res["accel"], res["first_command_s"]["median"], per * 1000))


if __name__ == "__main__":
    main()
