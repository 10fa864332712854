#!/bin/sh
# tests/gpu_prepare.sh — run HERE (the build machine) before tests/gpu_check.sh goes to a lent GPU
# machine: that machine has nvcc and compute-sanitizer but none of our Debian libraries and no
# network, and the golden set lives outside the repo. This fills .gpu/ (ignored by git) with the
# -dev packages' files and a copy of the golden set; name `.gpu` in the device call's carry.
set -eu
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/debs .gpu/golden
golden=${UGAINS_GOLDEN:-../shared/golden}
cp -r "$golden"/. .gpu/golden/
# A fresh machine has no package lists yet: apt-get download needs them.
[ -n "$(ls /var/lib/apt/lists/*_Packages 2>/dev/null)" ] || apt-get update -qq
(cd .gpu/debs && apt-get download check libsubunit0 libsubunit-dev libpng-dev libpng16-16 \
    libjpeg62-turbo-dev libjpeg62-turbo zlib1g-dev >/dev/null)
du -sh .gpu
