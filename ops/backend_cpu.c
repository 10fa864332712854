// ops/backend_cpu.c — the CPU op table: every entry is the fast kernel of ops/<op>.c.
#include <assert.h>
#include <stdlib.h>

#include "ops/activation.h"
#include "ops/argmax.h"
#include "ops/attention.h"
#include "ops/attn_mask.h"
#include "ops/backend.h"
#include "ops/conv2d.h"
#include "ops/conv_transpose.h"
#include "ops/elementwise.h"
#include "ops/gemm.h"
#include "ops/grid_sample.h"
#include "ops/groupnorm.h"
#include "ops/layernorm.h"
#include "ops/masks.h"
#include "ops/movement.h"
#include "ops/msdeform_attn.h"
#include "ops/msdeform_sampling.h"
#include "ops/posembed.h"
#include "ops/prompt_pe.h"
#include "ops/proposals.h"
#include "ops/rba_score.h"
#include "ops/resize.h"
#include "ops/softmax.h"
#include "ops/window.h"

const ug_backend ug_backend_cpu = {
    .name = "cpu",
    .device = UG_CPU,
    .mem = &ug_host_memory,
    .matmul = matmul_cpu,
    .linear = linear_cpu,
    .conv2d = conv2d_cpu,
    .conv_transpose2x2 = conv_transpose2x2_cpu,
    .layernorm = layernorm_cpu,
    .layernorm2d = layernorm2d_cpu,
    .groupnorm = groupnorm_cpu,
    .gelu = gelu_cpu,
    .relu = relu_cpu,
    .sigmoid = sigmoid_cpu,
    .softmax = softmax_cpu,
    .add = add_cpu,
    .mul = mul_cpu,
    .scale_add = scale_add_cpu,
    .attention = attention_cpu,
    .msdeform_attn = msdeform_attn_cpu,
    .resize_bilinear = resize_bilinear_cpu,
    .resize_pillow = resize_pillow_cpu,
    .grid_sample = grid_sample_cpu,
    .rba_normalize = rba_normalize_cpu,
    .sam_normalize_pad = sam_normalize_pad_cpu,
    .copy = copy_cpu,
    .fill = fill_cpu,
    .pad = pad_cpu,
    .concat = concat_cpu,
    .roll = roll_cpu,
    .argmax = argmax_cpu,
    .posembed_sine = posembed_sine_cpu,
    .rba_score = rba_score_cpu,
    // swin
    .window_gather = window_gather_cpu,
    .window_zero_pads = window_zero_pads_cpu,
    .window_scatter_add = window_scatter_add_cpu,
    .patch_merge_gather = patch_merge_gather_cpu,
    // msdeform pixel decoder / mask2former decoder / rba
    .msdeform_sampling_locations = msdeform_sampling_locations_cpu,
    .attn_mask_threshold = attn_mask_threshold_cpu,
    // sam
    .prompt_pe = prompt_pe_cpu,
    // pipeline
    .proposals_candidates = proposals_candidates_cpu,
    .proposals_fps = proposals_fps_cpu,
    .masks_binarize = masks_binarize_cpu,
    .masks_scores = masks_scores_cpu,
    .masks_nms = masks_nms_cpu,
    .masks_overlap = masks_overlap_cpu,
    .masks_refined = masks_refined_cpu,
};

const ug_backend *ug_backend_for(const ug_ctx *ctx, ug_device device) {
    if (device == UG_CPU) return &ug_backend_cpu;
    const ug_backend *b = (unsigned)device < UG_DEVICE_COUNT ? ctx->backends[device] : NULL;
    assert(b && "tensor on a device whose backend is not loaded");
    if (!b) abort();
    return b;
}

static void close_device(ug_ctx *ctx) {
    ug_arena_free(&ctx->dev_arena);
    if (ctx->dev_close) ctx->dev_close(ctx);
    ctx->dev_close = NULL;
    ctx->dev_state = NULL;
    ctx->device = UG_CPU;
}

ug_status ug_ctx_use_device(ug_ctx *ctx, const ug_backend *b, ug_err *err) {
    close_device(ctx);
    if (b->device == UG_CPU) return UG_OK;
    if (b->open) {
        ug_status st = b->open(ctx, err);
        if (st != UG_OK) return st;
        ctx->dev_close = b->close;
    }
    ctx->device = b->device;
    ctx->backends[b->device] = b;
    ug_arena_init_on(&ctx->dev_arena, b->mem, 0);
    return UG_OK;
}

ug_status ug_ctx_device_status(ug_ctx *ctx, ug_err *err) {
    const ug_backend *b = ctx->device == UG_CPU ? NULL : ctx->backends[ctx->device];
    return b && b->sync ? b->sync(ctx, err) : UG_OK;
}

int ug_backend_count(const ug_ctx *ctx) {
    int n = 1;
    for (int d = 1; d < UG_DEVICE_COUNT; d++)
        n += ctx->backends[d] != NULL;
    return n;
}

const ug_backend *ug_backend_at(const ug_ctx *ctx, int i) {
    if (i == 0) return &ug_backend_cpu;
    for (int d = 1; d < UG_DEVICE_COUNT; d++)
        if (ctx->backends[d] && --i == 0) return ctx->backends[d];
    return NULL;
}
