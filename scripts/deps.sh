#!/bin/sh
# Installs everything provium needs to build and test on Debian 12, from Debian's own archive.
set -eu
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PACKAGES="build-essential cmake ninja-build pkg-config git
  liblua5.4-dev libfmt-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libmsgpack-cxx-dev
  libgtest-dev libgmock-dev libedit-dev libzstd-dev libxxhash-dev libssl-dev libarchive-dev libseccomp-dev
  clang-format python3 python3-msgpack
  qemu-system-x86 qemu-utils cpio kmod gzip lz4 binutils iproute2 nftables tcpdump"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
