// engine/cpu.h — CPU features for runtime kernel dispatch. The build targets x86-64-v3
// (AVX2 + FMA); AVX-512 kernels are compiled separately and chosen at run time.
#ifndef UG_CPU_H
#define UG_CPU_H

#include <stdbool.h>

bool ug_cpu_has_avx2_fma(void);
bool ug_cpu_has_avx512(void); // AVX-512 F + BW + DQ + VL
// UGAINS_NO_AVX512=1 forces the AVX2 kernels (to test and time them on an AVX-512 machine).
bool ug_cpu_use_avx512(void);
const char *ug_cpu_name(void); // "avx512" or "avx2"

bool ug_cpu_has_avx512_bf16(void); // AVX-512 as above + AVX512-BF16 (vdpbf16ps, vcvtneps2bf16)
// The bf16 kernels may run: ug_cpu_use_avx512() and the CPU has AVX512-BF16, and
// UGAINS_NO_AVX512BF16 is not set (it forces the f32 fallback, to test it on such a machine).
bool ug_cpu_use_avx512_bf16(void);

#endif
