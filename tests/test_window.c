// tests/test_window.c — Swin's window gather / zero pads / scatter-add and PatchMerging's
// gather (ops/window.h): the references against the official recipe written with the
// movement references (F.pad, torch.roll, window_partition, x[0::2, 0::2] ...), the window
// order against its definition, and the fast kernels against the references on odd sizes,
// every shift and chunk edge. Data movement and one float add per element: bit for bit.
#include <stdlib.h>
#include <string.h>

#include "engine/tensor.h"
#include "ops/movement.h"
#include "ops/window.h"
#include "tests/helpers.h"

static ug_tensor new_f32(int nd, const int64_t *shape) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, nd, shape, &err), UG_OK);
    return t;
}

static ug_tensor rand_f32(int nd, const int64_t *shape, uint64_t seed) {
    ug_tensor t = new_f32(nd, shape);
    test_fill_normal(t.data, (size_t)ug_tensor_numel(&t), 1.0f, seed);
    return t;
}

static float at3(const ug_tensor *t, int64_t a, int64_t b, int64_t c) {
    return *(const float *)ug_tensor_ptr(t, (const int64_t[]){a, b, c});
}

// The shifts tried for window size ws: 0, ws / 2 (Swin's), and on for the odd cases.
static int64_t shift_step(int64_t ws) {
    return ws > 1 ? ws / 2 : 1;
}

// The kind of window w (window.h), straight from its position.
static int kind_of(int64_t nwy, int64_t nwx, int64_t shift, int64_t w) {
    return shift ? (w / nwx == nwy - 1) | (w % nwx == nwx - 1) << 1 : 0;
}

// window_at is a permutation of the windows that visits kinds 0..3 in the ranges of
// window_kind_starts, row-major within a kind.
START_TEST(window_order_is_kind_order) {
    for (int64_t nwy = 1; nwy <= 5; nwy++)
        for (int64_t nwx = 1; nwx <= 5; nwx++)
            for (int64_t shift = 0; shift <= 1; shift++) {
                int64_t nW = nwy * nwx, start[5];
                window_kind_starts(nwy, nwx, shift, start);
                ck_assert_int_eq(start[0], 0);
                ck_assert_int_eq(start[4], nW);
                char *seen = calloc((size_t)nW, 1);
                int64_t prev = -1;
                for (int kind = 0; kind < 4; kind++, prev = -1)
                    for (int64_t i = start[kind]; i < start[kind + 1]; i++) {
                        int64_t w = window_at(nwy, nwx, shift, i);
                        ck_assert(w >= 0 && w < nW && !seen[w]);
                        ck_assert_int_eq(kind_of(nwy, nwx, shift, w), kind);
                        ck_assert(w > prev);
                        seen[w] = 1;
                        prev = w;
                    }
                for (int64_t w = 0; w < nW; w++)
                    ck_assert(seen[w]);
                free(seen);
            }
}
END_TEST

// window_gather_ref = window_partition(torch.roll(F.pad(x), -shift)) taken in window order,
// and the zero pads / scatter-add references agree with it.
START_TEST(window_refs_follow_the_official_recipe) {
    const int64_t sizes[][4] = {{5, 7, 3, 1}, {3, 3, 2, 3}, {7, 2, 4, 3}, {1, 9, 3, 4}, {13, 11, 1, 5}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t H = sizes[k][0], W = sizes[k][1], C = sizes[k][2], ws = sizes[k][3], N = ws * ws;
        int64_t nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws, Hp = nwy * ws, Wp = nwx * ws,
                nW = nwy * nwx;
        ug_tensor x = rand_f32(UG_DIMS(H, W, C), 1 + k), padded = new_f32(UG_DIMS(Hp, Wp, C)),
                  rolled = new_f32(UG_DIMS(Hp, Wp, C)), y = new_f32(UG_DIMS(nW, N, C));
        pad_ref(&padded, &x, (const int64_t[]){0, 0, 0}, 0.0f);
        for (int64_t shift = 0; shift < ws; shift += shift_step(ws)) {
            roll_ref(&rolled, &padded, 2, (const int[]){0, 1}, (const int64_t[]){-shift, -shift});
            window_gather_ref(y.data, x.data, H, W, C, ws, shift, 0, nW);
            for (int64_t i = 0; i < nW; i++) {
                int64_t w = window_at(nwy, nwx, shift, i);
                for (int64_t t = 0; t < N; t++)
                    for (int64_t c = 0; c < C; c++)
                        ck_assert_float_eq(at3(&y, i, t, c),
                                           at3(&rolled, w / nwx * ws + t / ws, w % nwx * ws + t % ws, c));
            }
            // A pad of the padded map is a zero of y; zero_pads clears exactly those rows.
            ug_tensor ones = new_f32(UG_DIMS(nW, N, C));
            for (int64_t e = 0; e < nW * N * C; e++)
                ((float *)ones.data)[e] = 1.0f;
            window_zero_pads_ref(ones.data, H, W, C, ws, shift, 0, nW);
            ug_tensor map_ones = new_f32(UG_DIMS(H, W, C)), back = new_f32(UG_DIMS(H, W, C));
            for (int64_t e = 0; e < H * W * C; e++)
                ((float *)map_ones.data)[e] = 1.0f;
            window_gather_ref(y.data, map_ones.data, H, W, C, ws, shift, 0, nW);
            ck_assert_mem_eq(ones.data, y.data, ug_tensor_nbytes(&y));
            // Every real token comes back once: scatter-adding the gathered ones counts 1 each.
            window_scatter_add_ref(back.data, y.data, H, W, C, ws, shift, 0, nW);
            for (int64_t e = 0; e < H * W * C; e++)
                ck_assert_float_eq(((float *)back.data)[e], 1.0f);
            ug_tensor ts[] = {ones, map_ones, back};
            for (int i = 0; i < 3; i++)
                ug_tensor_free(&ts[i]);
        }
        ug_tensor ts[] = {x, padded, rolled, y};
        for (int i = 0; i < 4; i++)
            ug_tensor_free(&ts[i]);
    }
}
END_TEST

// patch_merge_gather_ref = torch.cat([x0, x1, x2, x3], -1) of F.pad(x) to even sizes, with
// x0 = x[0::2, 0::2], x1 = x[1::2, 0::2], x2 = x[0::2, 1::2], x3 = x[1::2, 1::2].
START_TEST(merge_ref_follows_the_official_recipe) {
    const int64_t sizes[][3] = {{5, 7, 3}, {1, 1, 2}, {4, 6, 1}, {3, 8, 5}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t H = sizes[k][0], W = sizes[k][1], C = sizes[k][2], H2 = (H + 1) / 2, W2 = (W + 1) / 2;
        ug_tensor x = rand_f32(UG_DIMS(H, W, C), 10 + k), padded = new_f32(UG_DIMS(2 * H2, 2 * W2, C)),
                  y = new_f32(UG_DIMS(H2 * W2, 4, C));
        pad_ref(&padded, &x, (const int64_t[]){0, 0, 0}, 0.0f);
        patch_merge_gather_ref(y.data, x.data, H, W, C, 0, H2 * W2);
        static const int dy[4] = {0, 1, 0, 1}, dx[4] = {0, 0, 1, 1};
        for (int64_t t = 0; t < H2 * W2; t++)
            for (int q = 0; q < 4; q++)
                for (int64_t c = 0; c < C; c++)
                    ck_assert_float_eq(at3(&y, t, q, c),
                                       at3(&padded, 2 * (t / W2) + dy[q], 2 * (t % W2) + dx[q], c));
        ug_tensor ts[] = {x, padded, y};
        for (int i = 0; i < 3; i++)
            ug_tensor_free(&ts[i]);
    }
}
END_TEST

// The fast kernels against the references, chunk by chunk over every window.
START_TEST(window_cpu_matches_ref) {
    const int64_t sizes[][4] = {
        {1, 1, 1, 1}, {3, 17, 3, 3}, {17, 33, 17, 7}, {33, 3, 33, 5}, {12, 24, 8, 12}};
    const int64_t chunks[] = {1, 3, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t H = sizes[k][0], W = sizes[k][1], C = sizes[k][2], ws = sizes[k][3], N = ws * ws;
        int64_t nW = ((H + ws - 1) / ws) * ((W + ws - 1) / ws);
        for (int64_t shift = 0; shift < ws; shift += shift_step(ws))
            for (size_t ci = 0; ci < sizeof chunks / sizeof *chunks; ci++) {
                int64_t chunk = chunks[ci] < nW ? chunks[ci] : nW;
                ug_tensor x = rand_f32(UG_DIMS(H, W, C), 20 + k), y = new_f32(UG_DIMS(chunk, N, C));
                size_t xb = ug_tensor_nbytes(&x), yb = ug_tensor_nbytes(&y);
                float *want = malloc(yb), *xwant = malloc(xb);
                memcpy(xwant, x.data, xb);
                for (int64_t w0 = 0; w0 < nW; w0 += chunk) {
                    int64_t nb = nW - w0 < chunk ? nW - w0 : chunk;
                    ug_tensor yc = ug_view_slice(&y, 0, 0, nb);
                    window_gather_ref(want, x.data, H, W, C, ws, shift, w0, nb);
                    window_gather_cpu(&test_ctx, &yc, &x, ws, shift, w0);
                    ck_assert_mem_eq(yc.data, want, (size_t)(nb * N * C) * sizeof(float));
                    test_fill_normal(yc.data, (size_t)(nb * N * C), 1.0f, 30 + (uint64_t)w0);
                    memcpy(want, yc.data, (size_t)(nb * N * C) * sizeof(float));
                    window_zero_pads_ref(want, H, W, C, ws, shift, w0, nb);
                    window_zero_pads_cpu(&test_ctx, &yc, H, W, ws, shift, w0);
                    ck_assert_mem_eq(yc.data, want, (size_t)(nb * N * C) * sizeof(float));
                    window_scatter_add_ref(xwant, yc.data, H, W, C, ws, shift, w0, nb);
                    window_scatter_add_cpu(&test_ctx, &x, &yc, ws, shift, w0);
                    ck_assert_mem_eq(x.data, xwant, xb);
                }
                free(want);
                free(xwant);
                ug_tensor_free(&x);
                ug_tensor_free(&y);
            }
    }
}
END_TEST

START_TEST(merge_cpu_matches_ref) {
    const int64_t sizes[][3] = {{1, 1, 1}, {3, 17, 3}, {17, 33, 17}, {33, 2, 33}, {16, 16, 8}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t H = sizes[k][0], W = sizes[k][1], C = sizes[k][2], N2 = ((H + 1) / 2) * ((W + 1) / 2);
        ug_tensor x = rand_f32(UG_DIMS(H, W, C), 40 + k);
        for (int64_t chunk = 1; chunk <= N2; chunk = chunk * 3 + 4) {
            ug_tensor y = new_f32(UG_DIMS(chunk, 4 * C));
            float *want = malloc(ug_tensor_nbytes(&y));
            for (int64_t t0 = 0; t0 < N2; t0 += chunk) {
                int64_t n = N2 - t0 < chunk ? N2 - t0 : chunk;
                ug_tensor yc = ug_view_slice(&y, 0, 0, n);
                patch_merge_gather_ref(want, x.data, H, W, C, t0, n);
                patch_merge_gather_cpu(&test_ctx, &yc, &x, t0);
                ck_assert_mem_eq(yc.data, want, (size_t)(n * 4 * C) * sizeof(float));
            }
            free(want);
            ug_tensor_free(&y);
        }
        ug_tensor_free(&x);
    }
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "window", .setup = test_ctx_setup_odd, .teardown = test_ctx_teardown}, &s);
    test_add(tc, window_order_is_kind_order, window_refs_follow_the_official_recipe,
             merge_ref_follows_the_official_recipe, window_cpu_matches_ref, merge_cpu_matches_ref);
    return test_run_suite(s);
}
