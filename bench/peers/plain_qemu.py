#!/usr/bin/env python3
"""The plain-QEMU peer: the same kernel and busybox image provium boots, started by hand with an
/init that prints one line and powers off (what a shell script around qemu-system-x86_64, or a
virtme-style runner, does). No agent, no QMP, no snapshots: the floor for "boot and run one
command", measured from nothing to the command's output on the serial console.

usage: plain_qemu.py IMAGE_DIR WORKDIR OUTPUT_JSON [--quick]
  IMAGE_DIR holds kernel and initrd.cpio from guest/build-linux.sh
"""
import json
import os
import select
import statistics
import subprocess
import sys
import time

QUICK = "--quick" in sys.argv
REPS = int(os.environ.get("PROVIUM_BENCH_PEER_REPS", "3" if QUICK else "5"))
INIT = b"""#!/bin/sh
mount -t proc proc /proc 2>/dev/null
echo PEER-OUTPUT-hi
poweroff -f
"""


def newc(name, data, mode):
    """One cpio `newc` record (the initramfs format)."""
    name_b = name.encode() + b"\0"
    hdr = b"070701" + b"".join(b"%08X" % v for v in (
        0, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
    pad = lambda n: b"\0" * ((4 - n % 4) % 4)
    return hdr + name_b + pad(len(hdr) + len(name_b)) + data + pad(len(data))


def build_initrd(image_dir, workdir):
    out = os.path.join(workdir, "plain-initrd.cpio")
    with open(os.path.join(image_dir, "initrd.cpio"), "rb") as f:
        base = f.read()
    extra = newc("init", INIT, 0o100755) + newc("TRAILER!!!", b"", 0)
    with open(out, "wb") as f:
        f.write(base)  # concatenated initramfs archives are unpacked in order
        f.write(extra)  # uncompressed, like the base image
    return out


def boot_once(kernel, initrd, accel):
    args = ["qemu-system-x86_64", "-M", "q35,accel=" + accel, "-cpu", "max" if accel == "tcg" else "host",
            "-m", "256M", "-smp", "1", "-nodefaults", "-no-reboot", "-nographic", "-serial", "stdio",
            "-kernel", kernel, "-initrd", initrd,
            "-append", "console=ttyS0 quiet loglevel=3 panic=-1 cryptomgr.notests rdinit=/init"]
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    seen = b""
    found = None
    while time.monotonic() - t0 < 120:
        r, _, _ = select.select([p.stdout], [], [], 1)
        if not r:
            continue
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
        if b"PEER-OUTPUT-hi" in seen:
            found = time.monotonic() - t0
            break
    p.kill()
    p.wait()
    if found is None:
        sys.exit("plain QEMU peer: no output from the guest:\n" + seen.decode(errors="replace")[-2000:])
    return found


def main():
    image_dir, workdir, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(workdir, exist_ok=True)
    accel = "kvm" if os.environ.get("PROVIUM_BENCH_ACCEL", "") == "KVM" else "tcg"
    initrd = build_initrd(image_dir, workdir)
    kernel = os.path.join(image_dir, "kernel")
    boot_once(kernel, initrd, accel)  # warm the page cache
    samples = [boot_once(kernel, initrd, accel) for _ in range(REPS)]
    res = {"peer": "plain QEMU + /init script", "accel": accel.upper(),
           "first_command_s": {"median": statistics.median(samples), "p95": max(samples),
                               "samples": samples}}  # p95: nearest rank of few = max
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    print("plain QEMU (%s): first command %.2f s" % (accel.upper(), res["first_command_s"]["median"]))


if __name__ == "__main__":
    main()
