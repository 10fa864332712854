// bench/bench.c — see bench.h.
#include "bench/bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/timer.h"
#include "ops/gemm.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_time_ms(const ug_bench *b, bench_fn fn, void *arg, double min_ms) {
    fn(arg); // warm-up: page faults, scratch growth, caches
    enum { MAX_RUNS = 100 };
    double t[MAX_RUNS];
    int n = 0;
    double total = 0;
    int min_runs = b->quick ? 1 : 3;
    while (n < MAX_RUNS && (n < min_runs || (!b->quick && total < min_ms))) {
        double t0 = ug_now_ms();
        fn(arg);
        t[n] = ug_now_ms() - t0;
        total += t[n++];
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return t[n / 2];
}

void bench_header(ug_bench *b) {
    fprintf(b->out, "%-28s %-34s %10s %10s %8s %9s\n", "op", "shape", "ms", "GFLOP/s", "%peak", "GB/s");
}

void bench_row(ug_bench *b, const char *op, const char *shape, double ms, double flops, double bytes) {
    double gflops = flops > 0 ? flops / (ms * 1e6) : 0;
    double gbs = bytes > 0 ? bytes / (ms * 1e6) : 0;
    char gf[16] = "-", pk[16] = "-", bw[16] = "-";
    if (flops > 0) {
        snprintf(gf, sizeof gf, "%.1f", gflops);
        double peak =
            b->peak_bf16_gflops > 0 && gemm_uses_bf16(b->ctx) ? b->peak_bf16_gflops : b->peak_gflops;
        snprintf(pk, sizeof pk, "%.1f", 100.0 * gflops / peak);
    }
    if (bytes > 0) snprintf(bw, sizeof bw, "%.2f", gbs);
    fprintf(b->out, "%-28s %-34s %10.3f %10s %8s %9s\n", op, shape, ms, gf, pk, bw);
    fflush(b->out);
}

bool bench_parse_image(const char *what, const char *arg, int max, int *H, int *W) {
    bool ok = sscanf(arg, "%dx%d", H, W) == 2 && *H >= 1 && *W >= 1;
    if (max > 0) {
        ok = ok && *H <= max && *W <= max;
        if (!ok)
            fprintf(stderr, "ugains: bench %s: --image wants HxW (1..%d each), got '%s'\n", what, max, arg);
    } else if (!ok) {
        fprintf(stderr, "ugains: bench %s: --image wants HxW, got '%s'\n", what, arg);
    }
    return ok;
}

bool bench_parse_dtype(const char *what, const char *arg, ug_dtype *dt) {
    if (!strcmp(arg, "f32"))
        *dt = UG_F32;
    else if (!strcmp(arg, "bf16"))
        *dt = UG_BF16;
    else if (!strcmp(arg, "f16"))
        *dt = UG_F16;
    else {
        fprintf(stderr, "ugains: bench %s: --dtype wants f32, bf16 or f16\n", what);
        return false;
    }
    return true;
}

bool bench_parse_precision(const char *what, const char *arg, ug_precision *p) {
    if (ug_precision_parse(arg, p)) return true;
    fprintf(stderr, "ugains: bench %s: --precision wants f32 or bf16, got '%s'\n", what, arg);
    return false;
}

void bench_use_precision(const char *what, ug_ctx *ctx, ug_precision p) {
    const char *note = NULL;
    ug_ctx_set_precision(ctx, p, &note);
    if (note) fprintf(stderr, "ugains: bench %s: --precision bf16: %s\n", what, note);
}

void bench_params_add(bench_params *l, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, const char *fmt,
                      ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->name = realloc(l->name, (size_t)l->cap * sizeof *l->name);
        l->shape = realloc(l->shape, (size_t)l->cap * sizeof *l->shape);
        l->ndim = realloc(l->ndim, (size_t)l->cap * sizeof *l->ndim);
        if (!l->name || !l->shape || !l->ndim) abort();
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->name[l->n], sizeof l->name[0], fmt, ap);
    va_end(ap);
    int64_t s[4] = {a, b, c, d};
    memcpy(l->shape[l->n], s, sizeof s);
    l->ndim[l->n++] = ndim;
}

void bench_params_free(bench_params *l) {
    free(l->name);
    free(l->shape);
    free(l->ndim);
    memset(l, 0, sizeof *l);
}

unsigned char *bench_random_safetensors(const bench_params *l, const char *arch, const char *config,
                                        size_t *size) {
    size_t cap = 4096 + (size_t)l->n * 200 + (config ? strlen(config) * 2 : 0), k = 0;
    char *hdr = malloc(cap);
    if (!hdr) return NULL;
    k += (size_t)snprintf(hdr + k, cap - k, "{\"__metadata__\": {\"arch\": \"%s\"", arch);
    if (config) {
        k += (size_t)snprintf(hdr + k, cap - k, ", \"config\": \"");
        for (const char *p = config; *p; p++) {
            if (*p == '"' || *p == '\\') hdr[k++] = '\\';
            hdr[k++] = *p;
        }
        hdr[k++] = '"';
    }
    k += (size_t)snprintf(hdr + k, cap - k, "}");
    size_t off = 0;
    for (int i = 0; i < l->n; i++) {
        int64_t numel = 1;
        k += (size_t)snprintf(hdr + k, cap - k, ", \"%s\": {\"dtype\": \"F32\", \"shape\": [", l->name[i]);
        for (int d = 0; d < l->ndim[i]; d++) {
            k += (size_t)snprintf(hdr + k, cap - k, "%s%lld", d ? ", " : "", (long long)l->shape[i][d]);
            numel *= l->shape[i][d];
        }
        k += (size_t)snprintf(hdr + k, cap - k, "], \"data_offsets\": [%zu, %zu]}", off,
                              off + (size_t)numel * 4);
        off += (size_t)numel * 4;
    }
    k += (size_t)snprintf(hdr + k, cap - k, "}");
    size_t hlen = ((8 + k + 63) & ~(size_t)63) - 8; // data starts 64-byte aligned
    *size = 8 + hlen + off;
    unsigned char *buf = aligned_alloc(64, (*size + 63) & ~(size_t)63);
    if (!buf) {
        free(hdr);
        return NULL;
    }
    for (int b = 0; b < 8; b++)
        buf[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
    memcpy(buf + 8, hdr, k);
    memset(buf + 8 + k, ' ', hlen - k);
    free(hdr);
    float *data = (float *)(buf + 8 + hlen);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < l->n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < l->ndim[i]; d++)
            numel *= l->shape[i][d];
        int64_t fan_in = l->ndim[i] >= 2 ? numel / l->shape[i][0] : 1;
        bool norm_w = l->ndim[i] == 1 && strstr(l->name[i], "norm") && strstr(l->name[i], ".weight");
        float a = l->ndim[i] == 1                                       ? 0.02f
                  : l->ndim[i] == 2 && strstr(l->name[i], "bias_table") ? 1.0f
                                                                        : 1.0f / sqrtf((float)fan_in);
        for (int64_t j = 0; j < numel; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float u = (float)((s >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
            data[j] = norm_w ? 1.0f + 0.02f * u : a * u;
        }
        data += numel;
    }
    return buf;
}
