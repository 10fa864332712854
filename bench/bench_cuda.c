// bench/bench_cuda.c — `ugains bench ops --device cuda`: the CUDA kernels at the shapes of the
// models (SAM ViT-H at 1024x1024, Swin-B RbA and its pixel decoder at 1024x2048), timed with CUDA
// events on the context's stream (one warm-up, then the mean of the repetitions), with TFLOP/s as
// a % of the FMA peak measured in the same run (bench/bench_cuda_peak.cu) or GB/s. Under the
// emulator (make CUDA=emu) every size is divided down so the table is a smoke test of the code
// path; its numbers mean nothing.
#ifdef UG_HAVE_CUDA
#include "bench/bench_cuda.h"

#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "ops/cuda/backend_cuda.h"
#include "ops/ops.h"

#ifdef UG_CUDA_EMU
enum { SHRINK = 16 }; // token and spatial sizes / 16, channels / 8
#define CH(c) ((c) / 8 > 0 ? (c) / 8 : 1)
#else
enum { SHRINK = 1 };
#define CH(c) (c)
#endif
#define TOK(n) ((n) / SHRINK > 0 ? (n) / SHRINK : 1)

typedef struct cuda_case {
    ug_ctx *ctx;
    ug_tensor t[8];
    int nt;
    ug_attn_extra extra;
    int64_t shapes[3][2];
    int stride, pad;
} cuda_case;

typedef void (*cuda_op)(cuda_case *c);

// A device tensor of random values in [-0.5, 0.5) (U8: 30 % ones), appended to c->t.
static ug_tensor *add(cuda_case *c, ug_dtype dt, int ndim, const int64_t *shape, ug_err *err) {
    ug_tensor h, *d = &c->t[c->nt];
    if (ug_tensor_new(&h, dt, ndim, shape, err) != UG_OK) return NULL;
    uint32_t s = 2463534242u + (uint32_t)c->nt;
    int64_t n = ug_tensor_numel(&h);
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float r = (float)(s >> 8) / (float)(1 << 24) - 0.5f;
        if (dt == UG_F32)
            ((float *)h.data)[i] = r;
        else if (dt == UG_BF16)
            ((uint16_t *)h.data)[i] = ug_f32_to_bf16(r);
        else
            ((uint8_t *)h.data)[i] = r > 0.2f;
    }
    ug_status st = ug_to_device(c->ctx, d, &h, err);
    ug_tensor_free(&h);
    if (st != UG_OK) return NULL;
    c->nt++;
    return d;
}

static void free_case(cuda_case *c) {
    for (int i = 0; i < c->nt; i++)
        ug_tensor_free(&c->t[i]);
    memset(c, 0, sizeof *c);
}

// Mean ms of op over the repetitions after one warm-up; < 0 on a device error.
static double time_op(ug_bench *b, cuda_case *c, cuda_op op, ug_err *err) {
    int reps = b->quick ? 3 : 20;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    op(c);
    cudaEventRecord(e0, cu_stream(c->ctx));
    for (int i = 0; i < reps; i++)
        op(c);
    cudaEventRecord(e1, cu_stream(c->ctx));
    cudaEventSynchronize(e1);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, e0, e1);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return ug_ctx_device_status(c->ctx, err) == UG_OK ? ms / reps : -1.0;
}

static void op_linear(cuda_case *c) {
    ug_linear(c->ctx, &c->t[3], &c->t[0], &c->t[1], &c->t[2]);
}
static void op_attention(cuda_case *c) {
    ug_attention(c->ctx, &c->t[3], &c->t[0], &c->t[1], &c->t[2], &c->extra, 0.1f);
}
static void op_layernorm(cuda_case *c) {
    ug_layernorm(c->ctx, &c->t[3], &c->t[0], &c->t[1], &c->t[2], 1e-6f);
}
static void op_gelu(cuda_case *c) {
    ug_gelu(c->ctx, &c->t[1], &c->t[0]);
}
static void op_conv(cuda_case *c) {
    ug_conv2d(c->ctx, &c->t[3], &c->t[0], &c->t[1], &c->t[2], c->stride, c->pad);
}
static void op_msdeform(cuda_case *c) {
    ug_msdeform_attn(c->ctx, &c->t[3], &c->t[0], (const int64_t(*)[2])c->shapes, 3, &c->t[1], &c->t[2]);
}

static bool row(ug_bench *b, cuda_case *c, cuda_op op, const char *name, const char *shape, double flops,
                double bytes, ug_err *err) {
    bool ok = true;
    if (!b->filter || strstr(name, b->filter)) {
        double ms = time_op(b, c, op, err);
        ok = ms >= 0;
        if (ok) bench_row(b, name, shape, ms, flops, bytes);
    }
    free_case(c);
    return ok;
}

// y [M, N] = x [M, K] W^T, W [N, K] in the packed dtype (SAM ViT-H's qkv and MLP at 64x64 tokens).
static bool gemm_rows(ug_bench *b, ug_err *err) {
    static const struct {
        const char *name;
        int64_t M, N, K;
    } g[] = {{"linear sam.qkv", 4096, 3840, 1280},
             {"linear sam.mlp.lin1", 4096, 5120, 1280},
             {"linear sam.mlp.lin2", 4096, 1280, 5120},
             {"linear swin.s0.qkv", 131072, 384, 128}};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        for (int bf = 0; bf < 2; bf++) {
            int64_t M = TOK(g[i].M), N = CH(g[i].N), K = CH(g[i].K);
            cuda_case c = {.ctx = b->ctx};
            if (!add(&c, UG_F32, UG_DIMS(M, K), err) || !add(&c, bf ? UG_BF16 : UG_F32, UG_DIMS(N, K), err) ||
                !add(&c, UG_F32, UG_DIMS(N), err) || !add(&c, UG_F32, UG_DIMS(M, N), err))
                return free_case(&c), false;
            char name[64], shape[128];
            snprintf(name, sizeof name, "%s %s", g[i].name, bf ? "bf16 w" : "f32");
            snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
            if (!row(b, &c, op_linear, name, shape, 2.0 * M * N * K, 0, err)) return false;
        }
    return true;
}

// SAM's attention: global over 64x64 tokens and windows of 14x14, both with the decomposed
// rel-pos terms; Swin-B stage 0 windows of 7x7 with bias and shift mask.
static bool attention_rows(ug_bench *b, ug_err *err) {
    static const struct {
        const char *name;
        int64_t B, H, side, D;
        bool relpos;
    } a[] = {{"attention sam.global", 1, 16, 64, 80, true},
             {"attention sam.window", 25, 16, 14, 80, true},
             {"attention swin.s0.window", 2 * 1024, 4, 7, 32, false}};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        int64_t side = a[i].side / (SHRINK > 1 ? 4 : 1), B = TOK(a[i].B), H = a[i].H, D = CH(a[i].D),
                N = side * side;
        if (side < 1) side = 1;
        cuda_case c = {.ctx = b->ctx};
        if (!add(&c, UG_F32, UG_DIMS(B, H, N, D), err) || !add(&c, UG_F32, UG_DIMS(B, H, N, D), err) ||
            !add(&c, UG_F32, UG_DIMS(B, H, N, D), err) || !add(&c, UG_F32, UG_DIMS(B, H, N, D), err))
            return free_case(&c), false;
        if (a[i].relpos) {
            if (!add(&c, UG_F32, UG_DIMS(B, H, N, side), err) ||
                !add(&c, UG_F32, UG_DIMS(B, H, N, side), err))
                return free_case(&c), false;
            c.extra.rel_h = &c.t[4];
            c.extra.rel_w = &c.t[5];
        } else {
            if (!add(&c, UG_F32, UG_DIMS(H, N, N), err) || !add(&c, UG_F32, UG_DIMS(B, 1, N, N), err))
                return free_case(&c), false;
            c.extra.bias[0] = &c.t[4];
            c.extra.bias[1] = &c.t[5];
        }
        char shape[128];
        snprintf(shape, sizeof shape, "B%lld H%lld N%lld D%lld", (long long)B, (long long)H, (long long)N,
                 (long long)D);
        if (!row(b, &c, op_attention, a[i].name, shape, 4.0 * B * H * N * N * D, 0, err)) return false;
    }
    return true;
}

// Memory-bound rows: SAM's LayerNorm and GELU at 64x64 tokens (GB/s of bytes read + written).
static bool pointwise_rows(ug_bench *b, ug_err *err) {
    int64_t N = TOK(4096), C = CH(1280), Ch = CH(5120);
    cuda_case c = {.ctx = b->ctx};
    if (!add(&c, UG_F32, UG_DIMS(N, C), err) || !add(&c, UG_F32, UG_DIMS(C), err) ||
        !add(&c, UG_F32, UG_DIMS(C), err) || !add(&c, UG_F32, UG_DIMS(N, C), err))
        return free_case(&c), false;
    char shape[128];
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)N, (long long)C);
    if (!row(b, &c, op_layernorm, "layernorm sam", shape, 0, 8.0 * N * C, err)) return false;
    c.ctx = b->ctx;
    if (!add(&c, UG_F32, UG_DIMS(N, Ch), err) || !add(&c, UG_F32, UG_DIMS(N, Ch), err))
        return free_case(&c), false;
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)N, (long long)Ch);
    return row(b, &c, op_gelu, "gelu sam.mlp", shape, 0, 8.0 * N * Ch, err);
}

// SAM's neck: 3x3 convolution 256 -> 256 over 64x64; Swin-B patch embed 4x4/4, 3 -> 128.
static bool conv_rows(ug_bench *b, ug_err *err) {
    static const struct {
        const char *name;
        int64_t Cin, Cout, H, W, k;
        int stride, pad;
    } v[] = {{"conv2d sam.neck2 3x3", 256, 256, 64, 64, 3, 1, 1},
             {"conv2d swin.patch 4x4/4", 3, 128, 1024, 2048, 4, 4, 0}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int64_t Cin = v[i].Cin > 3 ? CH(v[i].Cin) : v[i].Cin, Cout = CH(v[i].Cout), H = TOK(v[i].H),
                W = TOK(v[i].W), k = v[i].k;
        int64_t Ho = (H + 2 * v[i].pad - k) / v[i].stride + 1, Wo = (W + 2 * v[i].pad - k) / v[i].stride + 1;
        cuda_case c = {.ctx = b->ctx, .stride = v[i].stride, .pad = v[i].pad};
        if (!add(&c, UG_F32, UG_DIMS(1, Cin, H, W), err) || !add(&c, UG_F32, UG_DIMS(Cout, Cin, k, k), err) ||
            !add(&c, UG_F32, UG_DIMS(Cout), err) || !add(&c, UG_F32, UG_DIMS(1, Cout, Ho, Wo), err))
            return free_case(&c), false;
        char shape[128];
        snprintf(shape, sizeof shape, "%lldx%lldx%lld -> %lld", (long long)Cin, (long long)H, (long long)W,
                 (long long)Cout);
        if (!row(b, &c, op_conv, v[i].name, shape, 2.0 * Cout * Ho * Wo * Cin * k * k, 0, err)) return false;
    }
    return true;
}

// The pixel decoder's deformable attention at 1024x2048: queries over the three levels (1/8,
// 1/16, 1/32), 8 heads, 4 points, C 256.
static bool msdeform_rows(ug_bench *b, ug_err *err) {
    cuda_case c = {.ctx = b->ctx};
    int64_t Q = 0, Hh = 8, L = 3, P = 4, C = CH(256);
    for (int l = 0; l < 3; l++) {
        c.shapes[l][0] = TOK(128 >> l);
        c.shapes[l][1] = TOK(256 >> l);
        Q += c.shapes[l][0] * c.shapes[l][1];
    }
    int64_t D = C / Hh > 0 ? C / Hh : 1;
    // value [1, S, M, D], loc [1, Q, M, L * P, 2], aw [1, Q, M, L * P] (ops/msdeform_attn.h);
    // random locations in [-0.5, 0.5): the kernel's cost hardly depends on where they fall.
    if (!add(&c, UG_F32, UG_DIMS(1, Q, Hh, D), err) || !add(&c, UG_F32, UG_DIMS(1, Q, Hh, L * P, 2), err) ||
        !add(&c, UG_F32, UG_DIMS(1, Q, Hh, L * P), err) || !add(&c, UG_F32, UG_DIMS(1, Q, Hh * D), err))
        return free_case(&c), false;
    char shape[128];
    snprintf(shape, sizeof shape, "Q%lld H%lld L%lld P%lld C%lld", (long long)Q, (long long)Hh, (long long)L,
             (long long)P, (long long)C);
    return row(b, &c, op_msdeform, "msdeform_attn rba.pd", shape, 0,
               4.0 * Q * (Hh * D + Hh * L * P * 3.0 + 4.0 * Hh * L * P * D), err);
}

bool bench_cuda_ops(ug_bench *b, ug_err *err) {
    bench_header(b);
    return gemm_rows(b, err) && attention_rows(b, err) && pointwise_rows(b, err) && conv_rows(b, err) &&
           msdeform_rows(b, err);
}
#endif
