#!/bin/sh
# tests/gpu_check.sh — the CUDA backend on a real GPU, in one call of the device tool (prepare
# first with tests/gpu_prepare.sh; carry .gpu). Under 8 minutes on an H100:
#   1. unpack the carried -dev packages into /tmp/sysroot (no network there);
#   2. make CUDA=1 (nvcc, sm_80 + sm_90 + PTX) and the CUDA suites;
#   3. the CUDA suites on the device, golden model tests included (UGAINS_GOLDEN=.gpu/golden);
#   4. compute-sanitizer memcheck and racecheck over the kernel suites;
#   5. ugains bench ops --device cuda.
# Everything it prints is also written under $OUT (or /tmp/gpu_check) for the record.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
log="$out/gpu_check.log"
say() { echo "== $*" | tee -a "$log"; }
step() { # step NAME TIMEOUT CMD...: runs CMD, records its exit status, never stops the script
    name=$1; t=$2; shift 2
    say "$name: $*"
    start=$(date +%s)
    timeout "$t" "$@" >> "$log" 2>&1
    rc=$?
    say "$name: exit $rc in $(( $(date +%s) - start )) s"
    return 0
}

say "device: $(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader 2>&1)"
root=/tmp/sysroot
mkdir -p "$root"
for d in .gpu/debs/*.deb; do dpkg -x "$d" "$root"; done
inc="$root/usr/include"
lib="$root/usr/lib/x86_64-linux-gnu"
export CPATH="$inc${CPATH:+:$CPATH}" LIBRARY_PATH="$lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PKG_CONFIG_PATH="$lib/pkgconfig"
export UGAINS_GOLDEN="$PWD/.gpu/golden"
j=$(nproc)

step build 300 make -j"$j" CUDA=1 BUILD=build/gpu tests build/gpu/bin/ugains
step suites 240 sh tests/run_all.sh build/gpu/tests/test_cuda_*
kernels=$(ls build/gpu/tests/test_cuda_* | grep -v -e models -e emu)
for k in $kernels; do
    step "memcheck $(basename "$k")" 45 env CK_FORK=no compute-sanitizer --tool memcheck --error-exitcode 9 "$k"
    step "racecheck $(basename "$k")" 45 env CK_FORK=no compute-sanitizer --tool racecheck --error-exitcode 9 "$k"
done
step bench 120 build/gpu/bin/ugains bench ops --device cuda --quick
tail -n 40 "$log"
