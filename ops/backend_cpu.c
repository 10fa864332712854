// ops/backend_cpu.c — the CPU op table: every entry is the fast kernel of ops/<op>.c.
#include <assert.h>
#include <stdlib.h>

#include "ops/activation.h"
#include "ops/argmax.h"
#include "ops/attention.h"
#include "ops/backend.h"
#include "ops/conv2d.h"
#include "ops/conv_transpose.h"
#include "ops/elementwise.h"
#include "ops/gemm.h"
#include "ops/grid_sample.h"
#include "ops/groupnorm.h"
#include "ops/layernorm.h"
#include "ops/movement.h"
#include "ops/msdeform_attn.h"
#include "ops/posembed.h"
#include "ops/rba_score.h"
#include "ops/resize.h"
#include "ops/softmax.h"

const ug_backend ug_backend_cpu = {
    .name = "cpu",
    .device = UG_CPU,
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
};

const ug_backend *ug_backend_for(const ug_ctx *ctx, ug_device device) {
    if (device == UG_CPU) return &ug_backend_cpu;
    assert(ctx->cuda && "tensor on a device whose backend is not loaded");
    if (!ctx->cuda) abort();
    return ctx->cuda;
}

int ug_backend_count(const ug_ctx *ctx) { return ctx->cuda ? 2 : 1; }

const ug_backend *ug_backend_at(const ug_ctx *ctx, int i) { return i == 0 ? &ug_backend_cpu : ctx->cuda; }
