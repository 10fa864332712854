// engine/cpu.c — see cpu.h.
#include "engine/cpu.h"

#include <stdlib.h>
#include <string.h>

bool ug_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool ug_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

bool ug_cpu_use_avx512(void) {
    const char *off = getenv("UGAINS_NO_AVX512");
    if (off && *off && strcmp(off, "0") != 0) return false;
    return ug_cpu_has_avx512();
}

const char *ug_cpu_name(void) {
    return ug_cpu_use_avx512() ? "avx512" : "avx2";
}
