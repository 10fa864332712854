// weights-tools/arch.h — which model a checkpoint holds, its sizes, and the normalised names.
//
// SAM (image_encoder.* / prompt_encoder.* / mask_decoder.*, official names kept): sizes come
// from shapes — embed dim and grid from pos_embed, patch from the patch conv, depth from the
// block count, head dim from rel_pos width (heads = embed / head dim), windowed vs global
// blocks from the rel_pos length (2S-1 with S the window or the whole grid), decoder sizes
// from its linear layers. The mask decoder's head count cannot be read from shapes: preset 8,
// and a plan warning says so unless --set gave it.
//
// RbA / Mask2Former with a Swin backbone, in the detectron2 layout (`backbone.`,
// `sem_seg_head.pixel_decoder.`, `sem_seg_head.predictor.`) or the UGainS Lightning layout
// (`backbone.`, `pixel_decoder.`, `sem_seg_head.` = the transformer decoder), normalised to
// `backbone.*`, `pixel_decoder.*`, `predictor.*`. Swin depths/dims/heads/window come from the
// blocks and their relative_position_bias_table; decoder layer count, widths, queries and
// classes from shapes. Pixel-decoder and decoder head counts are presets (release: 8 and 8),
// each named in a plan warning unless --set gave it; the deformable-attention point count
// follows from the head count and the attention_weights rows. `criterion.empty_weight` and
// `*.relative_position_index` are dropped (the latter only after checking it equals (dy + w-1) * (2w-1) + (dx
// + w-1)).
//
// Any config key can be overridden with "key=value" (value in JSON: 4, 0.5, true, [2,2,18,2],
// "GN" or a bare word), checked against the same table the model reads the config with
// (models/packed_config.h). Every expected tensor must then be present with the expected
// shape, else one error lists what is missing and what is mis-shaped.
#ifndef UG_ARCH_H
#define UG_ARCH_H

#include <stdbool.h>

#include "engine/tensor.h"
#include "weights-tools/torch_ckpt.h"

typedef struct ug_arch_item {
    char *name;                // normalised output name
    const ug_ckpt_tensor *src; // the checkpoint entry it comes from (NULL in ug_arch_list)
    bool is_int;               // expected integer (kept as is) rather than float
    int ndim;
    int64_t shape[UG_MAX_DIMS];
} ug_arch_item;

typedef struct ug_arch_plan {
    char arch[8];      // "sam" or "rba"
    char *config_json; // compact JSON, keys sorted
    ug_arch_item *items;
    int n, cap;
    char **notes;
    int nnotes;
    char **warnings; // values guessed, not read from the shapes (head counts), and their --set
    int nwarnings;
} ug_arch_plan;

// arch: "auto", "sam" or "rba". set[0..nset): "key=value" overrides. Reads only the small
// tensors it must check (relative_position_index) from the checkpoint.
ug_status ug_arch_plan_make(ug_ckpt *c, const char *arch, const char *const *set, int nset,
                            ug_arch_plan *plan, ug_err *err);
void ug_arch_plan_free(ug_arch_plan *plan);

// The official tensor list (names, shapes, checkpoint order) of a released SAM: variant
// "vit_b", "vit_l" or "vit_h". Used to write synthetic checkpoints. Items have src NULL.
ug_status ug_arch_sam_official(const char *variant, ug_arch_plan *list, ug_err *err);

// The official tensor list of a released RbA (Mask2Former, Swin backbone, res5-only
// deformable encoder) in the detectron2 layout and checkpoint order (`backbone.*`,
// `sem_seg_head.pixel_decoder.*`, `sem_seg_head.predictor.*`, the int64
// `*.attn.relative_position_index` buffers after their bias tables, `criterion.empty_weight`
// last): variant "tiny" (golden/rba_tiny sizes) or "swin_b" (the release: Swin-B embed 128,
// depths 2,2,18,2, heads 4,8,16,32, window 12; pixel decoder 256, 8 heads, 4 points, 6 layers,
// FFN 1024; decoder 256, 100 queries, 8 heads, FFN 2048, 19 classes, mask_dim 256) with
// dec_layers decoder layers (release: 1). Items have src NULL; config_json holds the config a
// packer should infer. Head counts cannot be read from shapes (packers preset 8): pack "tiny"
// with pixel_decoder_transformer_nheads=4 and decoder_nheads=4.
ug_status ug_arch_rba_official(const char *variant, int dec_layers, ug_arch_plan *list, ug_err *err);

#endif
