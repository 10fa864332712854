// bench/bench_resample.c — timings of the resampling and data-movement ops for `ugains bench
// ops`, at the sizes the models run them (Cityscapes 1024 x 2048 input, SAM ViT-H). All are
// memory bound: GB/s counts the bytes each op must read and write once (input + output, plus
// the grid for grid_sample).
#include <stdbool.h>
#include <stdio.h>

#include "bench/bench.h"
#include "ops/argmax.h"
#include "ops/grid_sample.h"
#include "ops/movement.h"
#include "ops/resize.h"

typedef struct rs_case {
    ug_ctx *ctx;
    ug_tensor x, y, g, view; // view: the strided source some cases read from
} rs_case;

static void fill_f32(ug_tensor *t, float lo, float hi) {
    uint32_t s = 2024;
    float *p = t->data;
    for (int64_t i = 0; i < ug_tensor_numel(t); i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = lo + (hi - lo) * (float)(s >> 8) / (float)(1 << 24);
    }
}

static void run_bilinear(void *arg) {
    rs_case *c = arg;
    resize_bilinear_cpu(c->ctx, &c->y, &c->x, false);
}
static void run_pillow(void *arg) {
    rs_case *c = arg;
    resize_pillow_cpu(c->ctx, &c->y, &c->x);
}
static void run_grid_sample(void *arg) {
    rs_case *c = arg;
    grid_sample_cpu(c->ctx, &c->y, &c->x, &c->g);
}
static void run_copy(void *arg) {
    rs_case *c = arg;
    copy_cpu(c->ctx, &c->y, &c->view);
}
static void run_argmax(void *arg) {
    rs_case *c = arg;
    argmax_cpu(c->ctx, &c->y, &c->x);
}

static void free_case(rs_case *c) {
    ug_tensor_free(&c->x);
    ug_tensor_free(&c->y);
    ug_tensor_free(&c->g);
}

// Allocates x and y (and g when gnd > 0); prints a skip line on failure.
static bool alloc_case(ug_bench *b, rs_case *c, const char *name, ug_dtype xdt, int xnd, const int64_t *xs,
                       ug_dtype ydt, int ynd, const int64_t *ys, int gnd, const int64_t *gs) {
    ug_err err;
    if (ug_tensor_new(&c->x, xdt, xnd, xs, &err) || ug_tensor_new(&c->y, ydt, ynd, ys, &err) ||
        (gnd > 0 && ug_tensor_new(&c->g, UG_F32, gnd, gs, &err))) {
        fprintf(b->out, "%-28s skipped: %s\n", name, err.msg);
        free_case(c);
        return false;
    }
    return true;
}

static void bench_bilinear(ug_bench *b, const char *name, const char *shape, int64_t N, int64_t C, int64_t H,
                           int64_t W, int64_t Ho, int64_t Wo) {
    rs_case c = {.ctx = b->ctx};
    if (!alloc_case(b, &c, name, UG_F32, UG_DIMS(N, C, H, W), UG_F32, UG_DIMS(N, C, Ho, Wo), 0, NULL)) return;
    fill_f32(&c.x, -3, 3);
    double ms = bench_time_ms(b, run_bilinear, &c, 300.0);
    bench_row(b, name, shape, ms, 0, (double)(ug_tensor_nbytes(&c.x) + ug_tensor_nbytes(&c.y)));
    free_case(&c);
}

void bench_resample(ug_bench *b) {
    // UGainS SAM input: the normalised 1024x2048 image to 512x1024.
    bench_bilinear(b, "resize bilinear", "[1,3,1024,2048]->[1,3,512,1024]", 1, 3, 1024, 2048, 512, 1024);
    // SAM postprocess_masks, first step: 256x256 logits to 1024x1024 for 50 prompts.
    bench_bilinear(b, "resize bilinear masks", "[50,1,256,256]->[50,1,1024,1024]", 50, 1, 256, 256, 1024,
                   1024);

    rs_case c = {.ctx = b->ctx};
    if (alloc_case(b, &c, "resize pillow", UG_U8, UG_DIMS(1024, 2048, 3), UG_U8, UG_DIMS(512, 1024, 3), 0,
                   NULL)) {
        uint8_t *p = c.x.data;
        for (int64_t i = 0; i < ug_tensor_numel(&c.x); i++)
            p[i] = (uint8_t)(i * 2654435761u >> 24);
        double ms = bench_time_ms(b, run_pillow, &c, 300.0);
        bench_row(b, "resize pillow", "1024x2048x3->512x1024x3 u8", ms, 0,
                  (double)(ug_tensor_nbytes(&c.x) + ug_tensor_nbytes(&c.y)));
        free_case(&c);
    }

    // MSDeformAttn at res5 of a 1024x2048 image: value [8 heads, 32 ch, 32, 64], 2048 queries x
    // 4 points per head.
    c = (rs_case){.ctx = b->ctx};
    if (alloc_case(b, &c, "grid_sample", UG_F32, UG_DIMS(8, 32, 32, 64), UG_F32, UG_DIMS(8, 32, 2048, 4),
                   UG_DIMS(8, 2048, 4, 2))) {
        fill_f32(&c.x, -1, 1);
        fill_f32(&c.g, -1.05f, 1.05f);
        double ms = bench_time_ms(b, run_grid_sample, &c, 300.0);
        bench_row(b, "grid_sample", "[8,32,32,64]@[8,2048,4,2]", ms, 0,
                  (double)(ug_tensor_nbytes(&c.x) + ug_tensor_nbytes(&c.y) + ug_tensor_nbytes(&c.g)));
        free_case(&c);
    }

    // SAM ViT-H neck input: NHWC [1, 64, 64, 1280] -> NCHW.
    c = (rs_case){.ctx = b->ctx};
    if (alloc_case(b, &c, "copy permute", UG_F32, UG_DIMS(1, 64, 64, 1280), UG_F32, UG_DIMS(1, 1280, 64, 64),
                   0, NULL)) {
        fill_f32(&c.x, -1, 1);
        c.view = ug_view_permute(&c.x, (int[]){0, 3, 1, 2});
        double ms = bench_time_ms(b, run_copy, &c, 300.0);
        bench_row(b, "copy permute", "[1,64,64,1280] NHWC->NCHW", ms, 0,
                  2.0 * (double)ug_tensor_nbytes(&c.x));
        c.view = ug_view_reshape(&c.x, UG_DIMS(1, 1280, 64, 64));
        ms = bench_time_ms(b, run_copy, &c, 300.0);
        bench_row(b, "copy contiguous", "[1,64,64,1280]", ms, 0, 2.0 * (double)ug_tensor_nbytes(&c.x));
        free_case(&c);
    }

    // Semantic map of a 1024x2048 image from 19 class scores.
    c = (rs_case){.ctx = b->ctx};
    if (alloc_case(b, &c, "argmax", UG_F32, UG_DIMS(1, 19, 1024, 2048), UG_I32, UG_DIMS(1, 1024, 2048), 0,
                   NULL)) {
        fill_f32(&c.x, 0, 1);
        double ms = bench_time_ms(b, run_argmax, &c, 300.0);
        bench_row(b, "argmax", "[1,19,1024,2048]->i32", ms, 0,
                  (double)(ug_tensor_nbytes(&c.x) + ug_tensor_nbytes(&c.y)));
        free_case(&c);
    }
}
