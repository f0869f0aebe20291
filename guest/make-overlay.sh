#!/bin/sh
# The agent overlay: a gzip'd newc cpio holding /sbin/provium-agent (stripped), appended by
# provium to a profile's initramfs at boot (REFERENCE §7.4).
#
#   sh guest/make-overlay.sh AGENT_BINARY OUT.cpio.gz
set -eu
AGENT=${1:?usage: make-overlay.sh AGENT OUT}
OUT=${2:?usage: make-overlay.sh AGENT OUT}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$WORK/sbin"
cp "$AGENT" "$WORK/sbin/provium-agent"
strip --strip-unneeded "$WORK/sbin/provium-agent" 2>/dev/null || true
chmod 0755 "$WORK/sbin/provium-agent"
mkdir -p "$(dirname "$OUT")"
(cd "$WORK" && printf 'sbin\nsbin/provium-agent\n' | cpio -o -H newc --quiet -R 0:0) | gzip -6 -n >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
