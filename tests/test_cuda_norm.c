// tests/test_cuda_norm.c — the CUDA LayerNorm, LayerNorm2d and GroupNorm (ops/cuda/layernorm.cu,
// ops/cuda/groupnorm.cu) against the double references, under every emulator schedule, outputs
// bit-identical across schedules; in place, without affine, and on inputs with an offset
// (cancellation) or a variance the size of eps.
//   layernorm:   rows 1, 3, 17 x C 1, 3, 17, 33, 127, 1001 (not a multiple of 32).
//   layernorm2d: [2, C, H, W] with C 1..127 and H x W 1..33 x 17 (pixel tiles of 32 cut).
//   groupnorm:   [2, C, H, W], C = G * 1..5 channels a group, G 1, 3, 8.
// Tolerance atol 5e-6 + rtol 5e-6, as the CPU suite (tests/test_norm.c): f32 shifted two-pass
// sums land within a few ulp of the double reference; a wrong eps on the low-variance input, or
// an unshifted float mean of 5 + N(0, 0.5), costs ~1e-4.
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/groupnorm.h"
#include "ops/layernorm.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static const double ATOL = 5e-6, RTOL = 5e-6;
static const int64_t odd[] = {1, 3, 17, 33, 127, 1001};

// kind 0: N(0, 1); 1: 5 + N(0, 0.5); 2: 0.3 + N(0, 1e-3) (var ~ eps).
static float *make_input(int64_t n, int kind, uint64_t seed) {
    float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
    test_fill_normal(x, (size_t)n, kind == 0 ? 1.0f : kind == 1 ? 0.5f : 1e-3f, seed);
    float off = kind == 0 ? 0.0f : kind == 1 ? 5.0f : 0.3f;
    for (int64_t i = 0; i < n; i++)
        x[i] += off;
    return x;
}

typedef enum { LN, LN2D, GN } norm_kind;

// One case: x [ndim, shape] through the op (affine or not), out of place and in place, every
// schedule, against want.
static void run_case(norm_kind k, const float *x, const float *want, int ndim, const int64_t *shape,
                     int64_t C, const float *w, const float *b, int groups, float eps, const char *what) {
    ug_tensor hx = ug_tensor_wrap((void *)x, UG_F32, ndim, shape);
    ug_tensor hw = w ? ug_tensor_wrap((void *)w, UG_F32, UG_DIMS(C)) : (ug_tensor){0};
    ug_tensor hb = b ? ug_tensor_wrap((void *)b, UG_F32, UG_DIMS(C)) : (ug_tensor){0};
    ug_tensor first = {0}, first_ip = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, ndim, shape);
        ug_tensor dw = w ? cut_upload(&hw) : (ug_tensor){0}, db = b ? cut_upload(&hb) : (ug_tensor){0};
        for (int ip = 0; ip < 2; ip++) {
            ug_tensor *y = ip ? &dx : &dy;
            const ug_tensor *pw = w ? &dw : NULL, *pb = b ? &db : NULL;
            if (k == LN) layernorm_cuda(&cut_ctx, y, &dx, pw, pb, eps);
            if (k == LN2D) layernorm2d_cuda(&cut_ctx, y, &dx, pw, pb, eps);
            if (k == GN) groupnorm_cuda(&cut_ctx, y, &dx, pw, pb, groups, eps);
            cut_check(y, want, ATOL, RTOL, ip ? &first_ip : &first, what);
        }
        ug_tensor_free(&dx), ug_tensor_free(&dy), ug_tensor_free(&dw), ug_tensor_free(&db);
    }
    ug_tensor_free(&first), ug_tensor_free(&first_ip);
}

START_TEST(cuda_layernorm) {
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 6; c++)
            for (int kind = 0; kind < 3; kind++) {
                int64_t R = odd[r], C = odd[c], n = R * C;
                float *x = make_input(n, kind, (uint64_t)(r * 31 + c * 7 + kind)),
                      *want = malloc((size_t)n * 4);
                float *w = make_input(C, 0, 900 + c), *b = make_input(C, 0, 950 + c);
                float eps = kind == 2 ? 1e-6f : 1e-5f;
                bool affine = (r + c + kind) % 2 == 0;
                layernorm_ref(want, x, affine ? w : NULL, affine ? b : NULL, R, C, eps);
                run_case(LN, x, want, UG_DIMS(R, C), C, affine ? w : NULL, affine ? b : NULL, 0, eps,
                         "layernorm");
                free(x), free(want), free(w), free(b);
            }
}
END_TEST

START_TEST(cuda_layernorm2d) {
    for (int c = 0; c < 5; c++)
        for (int p = 0; p < 4; p++)
            for (int kind = 0; kind < 3; kind++) {
                int64_t B = 2, C = odd[c], H = odd[p], W = odd[(p + 2) % 4], n = B * C * H * W;
                float *x = make_input(n, kind, (uint64_t)(c * 13 + p * 5 + kind)),
                      *want = malloc((size_t)n * 4);
                float *w = make_input(C, 0, 800 + c), *b = make_input(C, 0, 850 + c);
                bool affine = (c + p + kind) % 2 == 0;
                layernorm2d_ref(want, x, affine ? w : NULL, affine ? b : NULL, B, C, H * W, 1e-6f);
                run_case(LN2D, x, want, UG_DIMS(B, C, H, W), C, affine ? w : NULL, affine ? b : NULL, 0,
                         1e-6f, "layernorm2d");
                free(x), free(want), free(w), free(b);
            }
}
END_TEST

START_TEST(cuda_groupnorm) {
    static const int Gs[] = {1, 3, 8};
    for (int g = 0; g < 3; g++)
        for (int cg = 1; cg <= 5; cg += 2)
            for (int p = 0; p < 4; p++)
                for (int kind = 0; kind < 3; kind++) {
                    int G = Gs[g];
                    int64_t B = 2, C = G * cg, H = odd[p], W = odd[(p + 1) % 4], n = B * C * H * W;
                    float *x = make_input(n, kind, (uint64_t)(g * 17 + cg * 3 + p * 5 + kind));
                    float *want = malloc((size_t)n * 4), *w = make_input(C, 0, 700 + cg),
                          *b = make_input(C, 0, 750);
                    bool affine = (g + cg + p + kind) % 2 == 0;
                    float eps = kind == 2 ? 1e-6f : 1e-5f;
                    groupnorm_ref(want, x, affine ? w : NULL, affine ? b : NULL, B, C, H * W, G, eps);
                    run_case(GN, x, want, UG_DIMS(B, C, H, W), C, affine ? w : NULL, affine ? b : NULL, G,
                             eps, "groupnorm");
                    free(x), free(want), free(w), free(b);
                }
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cuda_norm", .setup = cut_setup, .teardown = cut_teardown, .timeout = 600},
        &s);
    test_add(tc, cuda_layernorm, cuda_layernorm2d, cuda_groupnorm);
    return test_run_suite(s);
}
