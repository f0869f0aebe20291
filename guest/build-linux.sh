#!/bin/sh
# Builds the default `linux` guest: the Debian cloud kernel, the virtio modules it needs (with
# a modules.dep of their own) and a static busybox, as an initramfs. The agent is not in here:
# provium appends its overlay (dist/agent-overlay.cpio.gz) at boot.
#
# OUT/kernel is the kernel as an uncompressed ELF with a PVH entry note, taken out of Debian's
# bzImage: QEMU then loads it straight into guest memory, and an emulated guest skips the
# linuxboot ROM and decompressing 50 MB (~0.2 s of every TCG boot). When the bzImage cannot be
# unpacked or has no PVH note, OUT/kernel is the bzImage itself (it boots the old way).
# OUT/initrd.cpio is not compressed: inflating it in an emulated guest costs more than QEMU
# copying the larger file over fw_cfg.
#
#   sh guest/build-linux.sh OUT
#
# Everything comes from Debian's archive through apt (`apt-get download` + `dpkg -x`, so the
# host's own /boot and /lib/modules are never touched). OUT/stamp records the inputs; when
# they are unchanged the build is a no-op, so provium can call it on every run.
set -eu

OUT=${1:?usage: build-linux.sh OUT}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)

# One build at a time per OUT (parallel test runs share the image).
exec 9>"$OUT/.lock"
flock 9

# Fast path: nothing changed since the last build if this script, the module list and apt's
# package lists are all older than the stamp (apt-cache itself takes a second or two).
SUMS="script=$(cksum <"$0" | cut -d' ' -f1) modules=$(cksum <"$HERE/modules.list" | cut -d' ' -f1)"
if [ -f "$OUT/stamp" ] && [ -f "$OUT/kernel" ] && [ -f "$OUT/initrd.cpio" ] &&
  [ "$OUT/stamp" -nt /var/lib/apt/lists ] && [ "$(sed -n 's/.* \(script=.*\)$/\1/p' "$OUT/stamp")" = "$SUMS" ]; then
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb depmod cpio gzip flock; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "build-linux: \`$tool\` not found; install it (apt-get install apt dpkg kmod cpio gzip)" >&2
    exit 1
  }
done

# The versioned kernel package the cloud meta package points at, e.g. linux-image-6.1.0-57-cloud-amd64.
kernel_pkg() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n 1
}
KPKG=$(kernel_pkg)
if [ -z "$KPKG" ]; then
  echo "build-linux: refreshing apt's package lists" >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
  KPKG=$(kernel_pkg)
fi
[ -n "$KPKG" ] || { echo "build-linux: apt knows no linux-image-cloud-amd64; check /etc/apt/sources.list" >&2; exit 1; }
KVER=$(apt-cache policy "$KPKG" | sed -n 's/^ *Candidate: //p')
BVER=$(apt-cache policy busybox-static | sed -n 's/^ *Candidate: //p')

STAMP="kernel=$KPKG $KVER busybox=$BVER $SUMS"
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -f "$OUT/kernel" ] && [ -f "$OUT/initrd.cpio" ]; then
  touch "$OUT/stamp"
  exit 0
fi
echo "build-linux: building $KPKG ($KVER) + busybox-static ($BVER) into $OUT" >&2

WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$WORK/debs" "$WORK/x" "$WORK/root"
# apt-get download writes into the current directory; as root it warns about the sandbox.
(cd "$WORK/debs" && apt-get download -q "$KPKG" busybox-static 2>&1 | grep -v 'unsandboxed' >&2 || true)
for deb in "$WORK"/debs/*.deb; do
  [ -f "$deb" ] || { echo "build-linux: apt-get download fetched nothing (offline? try apt-get update)" >&2; exit 1; }
  dpkg-deb -x "$deb" "$WORK/x"
done

KREL=${KPKG#linux-image-}
[ -f "$WORK/x/boot/vmlinuz-$KREL" ] || { echo "build-linux: $KPKG has no /boot/vmlinuz-$KREL" >&2; exit 1; }

# The initramfs tree: busybox and its applets, the listed modules, mount points.
R="$WORK/root"
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/usr/sbin" "$R/etc/provium" "$R/proc" "$R/sys" "$R/dev" \
  "$R/tmp" "$R/run" "$R/root" "$R/var/tmp" "$R/mnt"
cp "$WORK/x/bin/busybox" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list-full); do
  [ -e "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
done
MODSRC="$WORK/x/lib/modules/$KREL"
MODDST="$R/lib/modules/$KREL"
: >"$R/etc/provium/modules"
grep -v '^#' "$HERE/modules.list" | while read -r rel; do
  [ -n "$rel" ] || continue
  for ko in "$MODSRC"/kernel/$rel; do
    [ -f "$ko" ] || continue
    mkdir -p "$MODDST/$(dirname "${ko#$MODSRC/}")"
    cp "$ko" "$MODDST/${ko#$MODSRC/}"
    name=$(basename "$ko"); name=${name%%.ko*}
    echo "$name" | tr - _ >>"$R/etc/provium/modules"
  done
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
  if [ -f "$MODSRC/$f" ]; then cp "$MODSRC/$f" "$MODDST/"; fi
done
depmod -b "$R" "$KREL"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
echo provium >"$R/etc/hostname"

(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$WORK/initrd.cpio"

# The PVH kernel: the bzImage's payload (boot protocol: setup_sects at 0x1f1, payload_offset
# and payload_length at 0x248, relative to the protected-mode code after the setup sectors),
# decompressed by the tool its magic names, kept only if it is an ELF with XEN_ELFNOTE_PHYS32_ENTRY.
BZ="$WORK/x/boot/vmlinuz-$KREL"
u8() { od -An -tu1 -j "$1" -N1 "$BZ" | tr -d ' '; }
u32() { od -An -tu4 -j "$1" -N4 "$BZ" | tr -d ' '; }
pvh_kernel() {
  sects=$(u8 497); [ "$sects" -eq 0 ] && sects=4
  start=$(( (sects + 1) * 512 + $(u32 584) ))
  len=$(u32 588)
  magic=$(od -An -tx1 -j "$start" -N4 "$BZ" | tr -d ' ')
  case $magic in
    02214c18) unpack="lz4 -dc" ;;
    1f8b*) unpack="gzip -dc" ;;
    fd377a58) unpack="xz -dc" ;;
    28b52ffd) unpack="zstd -dcq" ;;
    *) echo "build-linux: unknown kernel payload compression ($magic)" >&2; return 1 ;;
  esac
  command -v "${unpack%% *}" >/dev/null 2>&1 || { echo "build-linux: \`${unpack%% *}\` not found" >&2; return 1; }
  tail -c +"$((start + 1))" "$BZ" | head -c "$len" | $unpack >"$WORK/kernel" 2>/dev/null || true
  [ "$(od -An -c -N4 "$WORK/kernel" 2>/dev/null | tr -d ' ')" = '177ELF' ] || return 1
  command -v readelf >/dev/null 2>&1 && readelf -n "$WORK/kernel" 2>/dev/null | grep -q '0x00000012'
}
if ! pvh_kernel; then
  echo "build-linux: warning: no PVH kernel could be unpacked from $KPKG; booting its bzImage (slower)" >&2
  cp "$BZ" "$WORK/kernel"
fi
mv "$WORK/kernel" "$OUT/kernel"
mv "$WORK/initrd.cpio" "$OUT/initrd.cpio"
rm -f "$OUT/vmlinuz" "$OUT/initrd.cpio.gz"  # the names of earlier builds
echo "$KREL" >"$OUT/kernel-release"
echo "$STAMP" >"$OUT/stamp"
echo "build-linux: done ($(du -h "$OUT/kernel" | cut -f1) kernel, $(du -h "$OUT/initrd.cpio" | cut -f1) initramfs)" >&2
