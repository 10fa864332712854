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

// An environment switch that is set to anything but "" or "0".
static bool env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

bool ug_cpu_use_avx512(void) {
    return !env_on("UGAINS_NO_AVX512") && ug_cpu_has_avx512();
}

bool ug_cpu_has_avx512_bf16(void) {
    __builtin_cpu_init();
    return ug_cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
}

bool ug_cpu_use_avx512_bf16(void) {
    return !env_on("UGAINS_NO_AVX512BF16") && ug_cpu_use_avx512() && ug_cpu_has_avx512_bf16();
}

const char *ug_cpu_name(void) {
    return ug_cpu_use_avx512() ? "avx512" : "avx2";
}
