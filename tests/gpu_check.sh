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

t0=$(date +%s)
left() { echo $(( 440 - ($(date +%s) - t0) )); } # seconds of the 8 minutes still free, less a margin

step build 240 make -j"$j" CUDA=1 BUILD=build/gpu tests build/gpu/bin/ugains
step suites 150 env UGAINS_BIN=build/gpu/bin/ugains sh tests/run_all.sh build/gpu/tests/test_cuda_*
# compute-sanitizer on the kernel suites, the shared-memory ones first, while time is left; a
# suite not reached is named in the log, not silently skipped.
kernels="gemm conv attention softmax norm masks proposals rba_score msdeform window movement resize pointwise misc"
for tool in racecheck memcheck; do
    for k in $kernels; do
        b=build/gpu/tests/test_cuda_$k
        if [ "$(left)" -lt 60 ]; then say "$tool $k: not run, out of time"; continue; fi
        step "$tool $k" 40 env CK_FORK=no compute-sanitizer --tool "$tool" --error-exitcode 9 "$b"
    done
done
step bench 60 build/gpu/bin/ugains bench ops --device cuda --quick
say "total $(( $(date +%s) - t0 )) s"
tail -n 60 "$log"
