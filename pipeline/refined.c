// pipeline/refined.c — the refined score map (see refined.h).
#include "pipeline/refined.h"

#include "ops/ops.h"

ug_status refined_score(ug_ctx *ctx, ug_tensor *out, const ug_tensor *bits, const ug_tensor *scores,
                        const int *keep, int nkeep, const ug_tensor *u, ug_err *err) {
    ug_tensor kept, keep_h = ug_tensor_wrap((void *)keep, UG_I32, UG_DIMS(nkeep)); // [nkeep]
    ug_status st = ug_to_device(ctx, &kept, &keep_h, err);
    if (st != UG_OK) return st;
    ug_masks_refined(ctx, out, bits, scores, &kept, u);
    ug_tensor_free(&kept);
    return UG_OK;
}
