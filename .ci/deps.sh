#!/bin/sh
# deps.sh — make sure the build dependencies are installed.
#
# Checks for the headers and tools rill needs (gcc, make, pkg-config,
# libzstd-dev, libxxhash-dev, check). When something is missing: as root,
# installs it with apt-get; otherwise prints the exact command and fails.
# Usage: .ci/deps.sh [extra Debian packages...]
set -e
missing=""
have_header() { printf '#include <%s>\n' "$1" | ${CC:-cc} -E -x c - >/dev/null 2>&1; }
command -v ${CC:-cc} >/dev/null 2>&1 || missing="$missing gcc"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
have_header zstd.h || missing="$missing libzstd-dev"
have_header xxhash.h || missing="$missing libxxhash-dev"
have_header check.h || missing="$missing check"
for pkg in "$@"; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq $missing >/dev/null
	exit 0
fi
echo "rill needs:$missing" >&2
echo "install them with:  sudo apt-get install -y$missing" >&2
exit 1
