// models/sam_common.c — see sam_internal.h.
#include "models/sam_internal.h"

ug_status sam_arena_f32(ug_ctx *ctx, ug_tensor *t, int ndim, const int64_t *shape, ug_err *err) {
    return ug_arena_tensor(&ctx->arena, t, UG_F32, ndim, shape, err);
}
