// tests/poison_backend.c — see poison_backend.h. Every entry has the same shape: untag the
// tensors of the call (host views of the same memory), run the CPU kernel of that slot.
#include "tests/poison_backend.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#define POISON_BIT ((uintptr_t)1 << 62)

void *poison_untag(const void *p) {
    return p ? (void *)((uintptr_t)p & ~POISON_BIT) : NULL;
}
void poison_long_lived(const void *p) {
#if defined(__SANITIZE_ADDRESS__)
    if (p) __lsan_ignore_object(poison_untag(p));
#else
    (void)p;
#endif
}

static void *tag(void *p) {
    return p ? (void *)((uintptr_t)p | POISON_BIT) : NULL;
}

// ---- memory ----

static void *poison_alloc(size_t bytes) {
    return tag(aligned_alloc(64, (bytes + 63) & ~(size_t)63));
}
static void poison_free(void *p) {
    free(poison_untag(p));
}

static ug_status poison_zero(void *dst, size_t bytes, ug_err *err) {
    (void)err;
    memset(poison_untag(dst), 0, bytes);
    return UG_OK;
}

static ug_status poison_to_device(void *dst, const void *src, size_t bytes, ug_err *err) {
    (void)err;
    if (bytes) memcpy(poison_untag(dst), src, bytes);
    return UG_OK;
}

static ug_status poison_to_host(void *dst, const void *src, size_t bytes, ug_err *err) {
    (void)err;
    if (bytes) memcpy(dst, poison_untag(src), bytes);
    return UG_OK;
}

const ug_memory ug_poison_memory = {.device = UG_POISON,
                                    .alloc = poison_alloc,
                                    .free = poison_free,
                                    .zero = poison_zero,
                                    .to_device = poison_to_device,
                                    .to_host = poison_to_host};

// ---- host views of a call's tensors ----

// A poison tensor seen as the CPU tensor of the same memory; CPU tensors (weights) pass as
// they are. Any other device here is a tensor that should never reach this table.
static ug_tensor host(const ug_tensor *t) {
    ug_tensor h = *t;
    assert(t->device == UG_POISON || t->device == UG_CPU);
    if (t->device == UG_POISON) {
        h.data = poison_untag(t->data);
        h.device = UG_CPU;
    }
    h.alloc = NULL;
    h.mem = NULL;
    return h;
}

// host() of an optional tensor: NULL stays NULL, else *slot holds the view.
static const ug_tensor *host_opt(const ug_tensor *t, ug_tensor *slot) {
    if (!t) return NULL;
    *slot = host(t);
    return slot;
}

// P(t): a host view of t for the CPU kernel, as a pointer valid for the enclosing call;
// PO(t): the same for an optional tensor (NULL stays NULL).
#define P(t)  ((ug_tensor[]){host(t)})
#define PO(t) ((t) ? P(t) : NULL)

// The entries of shape (ctx, y, x).
#define UNARY(op)                                                                                            \
    static void p_##op(ug_ctx *c, ug_tensor *y, const ug_tensor *x) {                                        \
        ug_backend_cpu.op(c, P(y), P(x));                                                                    \
    }
UNARY(gelu)
UNARY(relu)
UNARY(sigmoid)
UNARY(softmax)
UNARY(resize_pillow)
UNARY(rba_normalize)
UNARY(copy)
UNARY(argmax)
UNARY(attn_mask_threshold)
#undef UNARY

static void p_matmul(ug_ctx *c, ug_tensor *C, const ug_tensor *A, const ug_tensor *B, const ug_tensor *bias,
                     float alpha, float beta) {
    ug_backend_cpu.matmul(c, P(C), P(A), P(B), PO(bias), alpha, beta);
}
static void p_linear(ug_ctx *c, ug_tensor *y, const ug_tensor *x, const ug_tensor *W, const ug_tensor *b) {
    ug_backend_cpu.linear(c, P(y), P(x), P(W), PO(b));
}
static void p_conv2d(ug_ctx *c, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                     int stride, int pad) {
    ug_backend_cpu.conv2d(c, P(y), P(x), P(w), PO(b), stride, pad);
}
static void p_conv_transpose2x2(ug_ctx *c, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                const ug_tensor *b) {
    ug_backend_cpu.conv_transpose2x2(c, P(y), P(x), P(w), PO(b));
}
static void p_layernorm(ug_ctx *c, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                        float eps) {
    ug_backend_cpu.layernorm(c, P(y), P(x), PO(w), PO(b), eps);
}
static void p_layernorm2d(ug_ctx *c, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                          float eps) {
    ug_backend_cpu.layernorm2d(c, P(y), P(x), PO(w), PO(b), eps);
}
static void p_groupnorm(ug_ctx *c, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                        int groups, float eps) {
    ug_backend_cpu.groupnorm(c, P(y), P(x), PO(w), PO(b), groups, eps);
}
static void p_add(ug_ctx *c, ug_tensor *y, const ug_tensor *a, const ug_tensor *b) {
    ug_backend_cpu.add(c, P(y), P(a), P(b));
}
static void p_mul(ug_ctx *c, ug_tensor *y, const ug_tensor *a, const ug_tensor *b) {
    ug_backend_cpu.mul(c, P(y), P(a), P(b));
}
static void p_scale_add(ug_ctx *c, ug_tensor *y, const ug_tensor *x, float alpha, float beta) {
    ug_backend_cpu.scale_add(c, P(y), P(x), alpha, beta);
}
static void p_attention(ug_ctx *c, ug_tensor *out, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
                        const ug_attn_extra *extra, float scale) {
    ug_attn_extra ex = {0};
    ug_tensor slots[5];
    if (extra) {
        ex.bias[0] = host_opt(extra->bias[0], &slots[0]);
        ex.bias[1] = host_opt(extra->bias[1], &slots[1]);
        ex.mask = host_opt(extra->mask, &slots[2]);
        ex.rel_h = host_opt(extra->rel_h, &slots[3]);
        ex.rel_w = host_opt(extra->rel_w, &slots[4]);
    }
    ug_backend_cpu.attention(c, P(out), P(q), P(k), P(v), extra ? &ex : NULL, scale);
}
static void p_msdeform_attn(ug_ctx *c, ug_tensor *out, const ug_tensor *value, const int64_t (*shapes)[2],
                            int64_t levels, const ug_tensor *loc, const ug_tensor *aw) {
    ug_backend_cpu.msdeform_attn(c, P(out), P(value), shapes, levels, P(loc), P(aw));
}
static void p_resize_bilinear(ug_ctx *c, ug_tensor *y, const ug_tensor *x, bool align_corners) {
    ug_backend_cpu.resize_bilinear(c, P(y), P(x), align_corners);
}
static void p_grid_sample(ug_ctx *c, ug_tensor *y, const ug_tensor *x, const ug_tensor *grid) {
    ug_backend_cpu.grid_sample(c, P(y), P(x), P(grid));
}
static void p_sam_normalize_pad(ug_ctx *c, ug_tensor *y, const ug_tensor *img, const float *mean,
                                const float *std) {
    ug_backend_cpu.sam_normalize_pad(c, P(y), P(img), mean, std);
}
static void p_fill(ug_ctx *c, ug_tensor *y, float value) {
    ug_backend_cpu.fill(c, P(y), value);
}
static void p_pad(ug_ctx *c, ug_tensor *y, const ug_tensor *x, const int64_t *before, float value) {
    ug_backend_cpu.pad(c, P(y), P(x), before, value);
}
static void p_concat(ug_ctx *c, ug_tensor *y, const ug_tensor *xs, int n, int dim) {
    ug_tensor *hs = malloc((size_t)(n > 0 ? n : 1) * sizeof *hs);
    if (!hs) abort();
    for (int i = 0; i < n; i++)
        hs[i] = host(&xs[i]);
    ug_backend_cpu.concat(c, P(y), hs, n, dim);
    free(hs);
}
static void p_roll(ug_ctx *c, ug_tensor *y, const ug_tensor *x, int n, const int *dims,
                   const int64_t *shifts) {
    ug_backend_cpu.roll(c, P(y), P(x), n, dims, shifts);
}
static void p_posembed_sine(ug_ctx *c, ug_tensor *y) {
    ug_backend_cpu.posembed_sine(c, P(y));
}
static ug_status p_rba_score(ug_ctx *c, ug_tensor *score, ug_tensor *semantic, const ug_tensor *logits,
                             const ug_tensor *masks, int64_t Ht, int64_t Wt, ug_err *err) {
    return ug_backend_cpu.rba_score(c, P(score), P(semantic), P(logits), P(masks), Ht, Wt, err);
}
// ---- ops moved out of models/ (one block per room, in the order of ops/backend.h) ----
// swin
static void p_window_gather(ug_ctx *c, ug_tensor *y, const ug_tensor *x, int64_t ws, int64_t shift,
                            int64_t w0) {
    ug_backend_cpu.window_gather(c, P(y), P(x), ws, shift, w0);
}
static void p_window_zero_pads(ug_ctx *c, ug_tensor *y, int64_t Hm, int64_t Wm, int64_t ws, int64_t shift,
                               int64_t w0) {
    ug_backend_cpu.window_zero_pads(c, P(y), Hm, Wm, ws, shift, w0);
}
static void p_window_scatter_add(ug_ctx *c, ug_tensor *x, const ug_tensor *y, int64_t ws, int64_t shift,
                                 int64_t w0) {
    ug_backend_cpu.window_scatter_add(c, P(x), P(y), ws, shift, w0);
}
static void p_patch_merge_gather(ug_ctx *c, ug_tensor *y, const ug_tensor *x, int64_t t0) {
    ug_backend_cpu.patch_merge_gather(c, P(y), P(x), t0);
}
// msdeform pixel decoder / mask2former decoder / rba
static void p_msdeform_sampling_locations(ug_ctx *c, ug_tensor *loc, const ug_tensor *off,
                                          const int64_t (*shapes)[2], int64_t levels) {
    ug_backend_cpu.msdeform_sampling_locations(c, P(loc), P(off), shapes, levels);
}
// sam
static void p_prompt_pe(ug_ctx *c, ug_tensor *y, const ug_tensor *xy, const ug_tensor *labels,
                        const ug_tensor *gauss, const ug_tensor *embed, const ug_tensor *not_a_point,
                        float size) {
    ug_backend_cpu.prompt_pe(c, P(y), P(xy), P(labels), P(gauss), P(embed), P(not_a_point), size);
}
// pipeline
static void p_proposals_candidates(ug_ctx *c, ug_tensor *xy, ug_tensor *count, const ug_tensor *u,
                                   const ug_tensor *ignore, float thr, float fallback) {
    ug_backend_cpu.proposals_candidates(c, P(xy), P(count), P(u), PO(ignore), thr, fallback);
}
static ug_status p_proposals_fps(ug_ctx *c, ug_tensor *idx, ug_tensor *pts, const ug_tensor *xy, int ties,
                                 ug_err *err) {
    return ug_backend_cpu.proposals_fps(c, P(idx), PO(pts), P(xy), ties, err);
}
static void p_masks_binarize(ug_ctx *c, ug_tensor *bits, ug_tensor *area, const ug_tensor *x, float thr) {
    ug_backend_cpu.masks_binarize(c, P(bits), PO(area), P(x), thr);
}
static void p_masks_scores(ug_ctx *c, ug_tensor *scores, const ug_tensor *bits, const ug_tensor *area,
                           const ug_tensor *u) {
    ug_backend_cpu.masks_scores(c, P(scores), P(bits), P(area), P(u));
}
static void p_masks_nms(ug_ctx *c, ug_tensor *keep, ug_tensor *count, const ug_tensor *bits,
                        const ug_tensor *area, const ug_tensor *scores, float iou_thr) {
    ug_backend_cpu.masks_nms(c, P(keep), P(count), P(bits), P(area), P(scores), iou_thr);
}
static void p_masks_overlap(ug_ctx *c, ug_tensor *inter, const ug_tensor *bits, const ug_tensor *idx,
                            const ug_tensor *other) {
    ug_backend_cpu.masks_overlap(c, P(inter), P(bits), P(idx), P(other));
}
static void p_masks_refined(ug_ctx *c, ug_tensor *out, const ug_tensor *bits, const ug_tensor *scores,
                            const ug_tensor *keep, const ug_tensor *u) {
    ug_backend_cpu.masks_refined(c, P(out), P(bits), P(scores), P(keep), P(u));
}

const ug_backend ug_backend_poison = {
    .name = "poison",
    .device = UG_POISON,
    .mem = &ug_poison_memory,
    .matmul = p_matmul,
    .linear = p_linear,
    .conv2d = p_conv2d,
    .conv_transpose2x2 = p_conv_transpose2x2,
    .layernorm = p_layernorm,
    .layernorm2d = p_layernorm2d,
    .groupnorm = p_groupnorm,
    .gelu = p_gelu,
    .relu = p_relu,
    .sigmoid = p_sigmoid,
    .softmax = p_softmax,
    .add = p_add,
    .mul = p_mul,
    .scale_add = p_scale_add,
    .attention = p_attention,
    .msdeform_attn = p_msdeform_attn,
    .resize_bilinear = p_resize_bilinear,
    .resize_pillow = p_resize_pillow,
    .grid_sample = p_grid_sample,
    .rba_normalize = p_rba_normalize,
    .sam_normalize_pad = p_sam_normalize_pad,
    .copy = p_copy,
    .fill = p_fill,
    .pad = p_pad,
    .concat = p_concat,
    .roll = p_roll,
    .argmax = p_argmax,
    .posembed_sine = p_posembed_sine,
    .rba_score = p_rba_score,
    // swin
    .window_gather = p_window_gather,
    .window_zero_pads = p_window_zero_pads,
    .window_scatter_add = p_window_scatter_add,
    .patch_merge_gather = p_patch_merge_gather,
    // msdeform pixel decoder / mask2former decoder / rba
    .msdeform_sampling_locations = p_msdeform_sampling_locations,
    .attn_mask_threshold = p_attn_mask_threshold,
    // sam
    .prompt_pe = p_prompt_pe,
    // pipeline
    .proposals_candidates = p_proposals_candidates,
    .proposals_fps = p_proposals_fps,
    .masks_binarize = p_masks_binarize,
    .masks_scores = p_masks_scores,
    .masks_nms = p_masks_nms,
    .masks_overlap = p_masks_overlap,
    .masks_refined = p_masks_refined,
};
