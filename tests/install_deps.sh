#!/bin/sh
# Installs the Debian packages ugains builds and tests with, if any is missing.
# Runs as root, or through sudo when available.
set -e
pkgs="build-essential pkg-config check libpng-dev libjpeg62-turbo-dev zlib1g-dev clang-format"
# `install_deps.sh fuzz` adds what `make fuzz` needs (clang and its libFuzzer runtime).
[ "${1:-}" = fuzz ] && pkgs="$pkgs clang libclang-rt-14-dev"
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && { echo "deps: all installed"; exit 0; }
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
