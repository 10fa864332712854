#!/bin/sh
# bench/cuda_report.sh — `make cuda-report`: every CUDA kernel's resources for sm_90 from the
# ptxas logs of `make cuda-check` (build/cuda-check/<file>.log): registers, stack frame, spill
# bytes, static shared memory, barriers; and whether its file's PTX has tensor-core
# instructions (mma / wmma / wgmma), from `nvcc -ptx` (this machine has no cuobjdump to read
# the SASS, so PTX is what is checked). Kernels of the hot files (GEMM, convolution, attention,
# MSDeformAttn) must not spill: the exit status is 1 when one does.
set -eu
cd "$(dirname "$0")/.."
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
hot="gemm conv attention msdeform_attn"
fail=0
printf '%-16s %-44s %5s %6s %6s %6s %4s %s\n' file kernel regs stack spill smem bar tensor-cores
for log in $(find build/cuda-check -name '*.log' | sort); do
    f=${log#build/cuda-check/}
    f=${f%.log}
    src=$f.cu
    [ -f "$src" ] || continue
    ptx=build/cuda-check/$f.ptx
    $NVCC -std=c++17 -O3 -I. -D_GNU_SOURCE -DUG_HAVE_CUDA -arch=compute_90 -ptx "$src" -o "$ptx"
    if grep -qE '^[[:space:]]*(mma|wmma|wgmma)\.' "$ptx"; then tc=yes; else tc=no; fi
    name=$(basename "$f")
    is_hot=no
    for h in $hot; do [ "$name" = "$h" ] && is_hot=yes; done
    # One record per sm_90 entry: the name line, then its stack / spill line, then its usage line.
    awk -v file="$name" -v tc="$tc" -v hot="$is_hot" '
        /Compiling entry function/ { on = ($0 ~ /for .sm_90./); k = $0; sub(/.*function ./, "", k); sub(/. for .*/, "", k); next }
        on && /bytes stack frame/ { stack = $1; spill = $5 + $9; next }
        on && /Used [0-9]+ registers/ {
            regs = $5; smem = 0; bar = 0
            for (i = 1; i <= NF; i++) { if ($(i+1) == "barriers,") bar = $i; if ($(i+1) == "bytes" && $(i+2) == "smem") smem = $i }
            print file "\t" k "\t" regs "\t" stack "\t" spill "\t" smem "\t" bar "\t" tc "\t" hot
            on = 0
        }' "$log"
done | while IFS='	' read -r file k regs stack spill smem bar tc hot; do
    short=$(echo "$k" | c++filt | sed 's/(.*//' | cut -c1-44)
    printf '%-16s %-44s %5s %6s %6s %6s %4s %s\n' "$file" "$short" "$regs" "$stack" "$spill" "$smem" "$bar" "$tc"
    if [ "$hot" = yes ] && [ "$spill" -gt 0 ]; then echo "cuda-report: $file: $short spills $spill bytes (a hot kernel)" >&2; echo fail; fi
done > build/cuda-check/report.txt
grep -v '^fail$' build/cuda-check/report.txt
if grep -qx fail build/cuda-check/report.txt; then exit 1; fi
