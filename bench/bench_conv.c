// bench/bench_conv.c — timings of ops/conv2d and ops/conv_transpose for `ugains bench ops`
// at the shapes of the models. GFLOP/s = 2 * Cout * Cin * kh * kw * Ho * Wo / time (the
// GEMM flops; im2col and bias are overhead inside that time).
#include <stdio.h>

#include "bench/bench.h"
#include "ops/conv2d.h"
#include "ops/conv_transpose.h"

typedef struct conv_case {
    ug_ctx *ctx;
    ug_tensor x, w, b, y, yv; // yv: the view conv writes (y itself, or channels-last)
    ug_tensor xv;             // the view conv reads (x itself, or channels-last)
    int stride, pad;
    bool transpose;
} conv_case;

static void run_conv(void *arg) {
    conv_case *c = arg;
    if (c->transpose)
        conv_transpose2x2_cpu(c->ctx, &c->yv, &c->x, &c->w, &c->b);
    else
        conv2d_cpu(c->ctx, &c->yv, &c->xv, &c->w, &c->b, c->stride, c->pad);
}

static void fill(ug_tensor *t, float scale) {
    int64_t n = ug_tensor_numel(t);
    uint32_t s = 2024;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float v = ((float)(s >> 8) / (float)(1 << 24) - 0.5f) * scale;
        if (t->dtype == UG_F32)
            ((float *)t->data)[i] = v;
        else
            ((uint16_t *)t->data)[i] = ug_f32_to_bf16(v);
    }
}

// channels_last: y is an NHWC buffer seen as NCHW (the tokens Swin / SAM blocks read next);
// in_channels_last: the same for x (SAM's neck reads the ViT's NHWC tokens).
static void bench_one_ex(ug_bench *b, const char *name, int64_t Cin, int64_t H, int64_t W, int64_t Cout,
                         int k, int stride, int pad, bool transpose, bool channels_last,
                         bool in_channels_last, ug_dtype wdt) {
    conv_case c = {.ctx = b->ctx, .stride = stride, .pad = pad, .transpose = transpose};
    int64_t Ho = transpose ? 2 * H : conv2d_out_size(H, k, stride, pad);
    int64_t Wo = transpose ? 2 * W : conv2d_out_size(W, k, stride, pad);
    ug_err err;
    ug_status st = in_channels_last ? ug_tensor_new(&c.x, UG_F32, UG_DIMS(1, H, W, Cin), &err)
                                    : ug_tensor_new(&c.x, UG_F32, UG_DIMS(1, Cin, H, W), &err);
    if (!st)
        st = transpose ? ug_tensor_new(&c.w, wdt, UG_DIMS(Cin, Cout, 2, 2), &err)
                       : ug_tensor_new(&c.w, wdt, UG_DIMS(Cout, Cin, k, k), &err);
    if (!st) st = ug_tensor_new(&c.b, UG_F32, UG_DIMS(Cout), &err);
    if (!st)
        st = channels_last ? ug_tensor_new(&c.y, UG_F32, UG_DIMS(1, Ho, Wo, Cout), &err)
                           : ug_tensor_new(&c.y, UG_F32, UG_DIMS(1, Cout, Ho, Wo), &err);
    if (st) {
        fprintf(b->out, "%-28s skipped: %s\n", name, err.msg);
        goto done;
    }
    c.yv = channels_last ? ug_view_permute(&c.y, (int[]){0, 3, 1, 2}) : c.y;
    c.xv = in_channels_last ? ug_view_permute(&c.x, (int[]){0, 3, 1, 2}) : c.x;
    fill(&c.x, 2.0f);
    fill(&c.w, 0.1f);
    fill(&c.b, 1.0f);
    char shape[80];
    snprintf(shape, sizeof shape, "%lldx%lldx%lld>%lld k%d/%d%s%s%s", (long long)Cin, (long long)H,
             (long long)W, (long long)Cout, k, stride, in_channels_last ? " nhwc-in" : "",
             channels_last ? " nhwc" : "", wdt == UG_BF16 ? " bf16" : "");
    double ms = bench_time_ms(b, run_conv, &c, 300.0);
    double flops = 2.0 * (double)Cout * (double)Cin * k * k * (double)(transpose ? H * W : Ho * Wo);
    bench_row(b, name, shape, ms, flops, 0);
done:
    ug_tensor_free(&c.x);
    ug_tensor_free(&c.w);
    ug_tensor_free(&c.b);
    ug_tensor_free(&c.y);
}

static void bench_one(ug_bench *b, const char *name, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int k,
                      int stride, int pad, bool transpose, bool channels_last, ug_dtype wdt) {
    bench_one_ex(b, name, Cin, H, W, Cout, k, stride, pad, transpose, channels_last, false, wdt);
}

void bench_conv(ug_bench *b) {
    // Pixel-decoder output conv at 1024x2048 input (stride-4 map 256x512).
    bench_one(b, "conv3x3 pixdec_out", 256, 256, 512, 256, 3, 1, 1, false, false, UG_F32);
    bench_one(b, "conv3x3 sam_neck", 256, 64, 64, 256, 3, 1, 1, false, false, UG_F32);
    // The same as SAM's neck runs it: on the channels-last output of its 1x1 conv.
    bench_one_ex(b, "conv3x3 sam_neck_nhwc_in", 256, 64, 64, 256, 3, 1, 1, false, false, true, UG_F32);
    // SAM ViT-H patch embed 16x16/s16 (tokens channels-last) and Swin-B 4x4/s4 at 1024x2048.
    bench_one(b, "conv16x16 sam_patch", 3, 1024, 1024, 1280, 16, 16, 0, false, true, UG_F32);
    bench_one(b, "conv4x4 swin_patch", 3, 1024, 2048, 128, 4, 4, 0, false, true, UG_F32);
    bench_one(b, "conv4x4 swin_patch_nchw", 3, 1024, 2048, 128, 4, 4, 0, false, false, UG_F32);
    // SAM neck 1x1 1280 -> 256 on the 64x64 grid; BF16 weights as packed.
    bench_one(b, "conv1x1 sam_neck", 1280, 64, 64, 256, 1, 1, 0, false, false, UG_F32);
    bench_one(b, "conv1x1 sam_neck_bf16", 1280, 64, 64, 256, 1, 1, 0, false, false, UG_BF16);
    // SAM mask decoder output upscaling, first transposed conv.
    bench_one(b, "convT2x2 sam_upscale", 256, 64, 64, 64, 2, 2, 0, true, false, UG_F32);
}
