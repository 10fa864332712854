// models/sam_preprocess.c — the two ways an image becomes the SAM encoder input
// (segment_anything/utils/transforms.py ResizeLongestSide, sam.py Sam.preprocess; UGainS
// ugains/models/sam_sampling.py for the float path). Images are tensors on ctx->device; the
// coordinates of sam_apply_coords are the user's host arrays.
#include <string.h>

#include "models/nn.h"
#include "models/sam.h"
#include "ops/ops.h"
#include "ops/resize.h" // resize_longest_side_shape (size arithmetic, not an op)

void sam_preprocess_shape(int h, int w, int long_side, int *out_h, int *out_w) {
    int64_t ho, wo;
    resize_longest_side_shape(h, w, long_side, &ho, &wo);
    *out_h = (int)ho;
    *out_w = (int)wo;
}

void sam_apply_coords(const int orig_hw[2], const int input_hw[2], float *xy, int n) {
    // numpy: coords.astype(float) * (new_w / old_w) in float64, then torch float32.
    double sx = (double)input_hw[1] / (double)orig_hw[1], sy = (double)input_hw[0] / (double)orig_hw[0];
    for (int i = 0; i < n; i++) {
        xy[2 * i] = (float)((double)xy[2 * i] * sx);
        xy[2 * i + 1] = (float)((double)xy[2 * i + 1] * sy);
    }
}

static ug_status check_image(ug_ctx *ctx, const ug_tensor *img, ug_dtype dt, int64_t *H, int64_t *W,
                             ug_err *err) {
    char buf[96];
    ug_status st = nn_check_device(ctx, img, "sam preprocess", err);
    if (st != UG_OK) return st;
    if (dt == UG_U8) {
        if (img->dtype != UG_U8 || img->ndim != 3 || img->shape[2] != 3 || img->stride[2] != 1 ||
            img->stride[1] != 3)
            return ug_errf(err, UG_ERR_ARG,
                           "sam preprocess: image %s %s, expected U8 [H, W, 3] with packed pixels",
                           ug_dtype_name(img->dtype), ug_shape_str(img, buf, sizeof buf));
        *H = img->shape[0];
        *W = img->shape[1];
    } else {
        bool ok = img->dtype == UG_F32 && (img->ndim == 3 || (img->ndim == 4 && img->shape[0] == 1)) &&
                  img->shape[img->ndim - 3] == 3;
        if (!ok)
            return ug_errf(err, UG_ERR_ARG, "sam preprocess: image %s %s, expected F32 [1, 3, H, W]",
                           ug_dtype_name(img->dtype), ug_shape_str(img, buf, sizeof buf));
        *H = img->shape[img->ndim - 2];
        *W = img->shape[img->ndim - 1];
    }
    if (*H < 1 || *W < 1) return ug_errf(err, UG_ERR_ARG, "sam preprocess: empty image");
    return UG_OK;
}

ug_status sam_preprocess_u8(ug_ctx *ctx, const sam_model *m, const ug_tensor *img, ug_tensor *input,
                            int input_hw[2], ug_err *err) {
    int64_t H = 0, W = 0, S = m->cfg.img_size;
    memset(input, 0, sizeof *input);
    ug_status st = check_image(ctx, img, UG_U8, &H, &W, err);
    if (st != UG_OK) return st;
    sam_preprocess_shape((int)H, (int)W, (int)S, &input_hw[0], &input_hw[1]);
    nn_mark mark = nn_get_mark(ctx);
    ug_tensor resized; // [nh, nw, 3] U8
    if ((st = nn_tensor(ctx, &resized, UG_U8, UG_DIMS(input_hw[0], input_hw[1], 3), err)) == UG_OK &&
        (st = nn_output(ctx, input, UG_F32, UG_DIMS(1, 3, S, S), err)) == UG_OK) {
        ug_resize_pillow(ctx, &resized, img);
        ug_sam_normalize_pad(ctx, input, &resized, m->cfg.pixel_mean, m->cfg.pixel_std);
    }
    nn_release(ctx, mark);
    return st;
}

ug_status sam_preprocess_f32(ug_ctx *ctx, const sam_model *m, const ug_tensor *img, ug_tensor *input,
                             int input_hw[2], ug_err *err) {
    int64_t H = 0, W = 0, S = m->cfg.img_size;
    memset(input, 0, sizeof *input);
    ug_status st = check_image(ctx, img, UG_F32, &H, &W, err);
    if (st != UG_OK) return st;
    sam_preprocess_shape((int)H, (int)W, (int)S, &input_hw[0], &input_hw[1]);
    if ((st = nn_output(ctx, input, UG_F32, UG_DIMS(1, 3, S, S), err)) != UG_OK) return st; // zero padded
    ug_tensor src = img->ndim == 4 ? ug_view_slice(img, 0, 0, 1) : ug_view_expand_dim(img, 0, 1);
    ug_tensor dst = ug_view_slice(input, 2, 0, input_hw[0]);
    dst = ug_view_slice(&dst, 3, 0, input_hw[1]);
    ug_resize_bilinear(ctx, &dst, &src, false);
    return UG_OK;
}
