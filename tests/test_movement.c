// tests/test_movement.c — strided copy (permute, slice, widening), fill, pad, concat, roll.
// Data movement is exact: every comparison is bit for bit.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/movement.h"
#include "tests/helpers.h"

static ug_tensor new_tensor(ug_dtype dt, int nd, const int64_t *shape) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, dt, nd, shape, &err), UG_OK);
    return t;
}

// Random bits in every byte (F32 gets finite values so NaN payloads play no part).
static void fill_random(ug_tensor *t, uint64_t seed) {
    if (t->dtype == UG_F32) {
        test_fill_normal(t->data, (size_t)ug_tensor_numel(t), 1.0f, seed);
        return;
    }
    test_rng r = test_rng_seed(seed);
    uint8_t *p = t->data;
    for (size_t i = 0; i < ug_tensor_nbytes(t); i++)
        p[i] = (uint8_t)(test_rng_u64(&r) >> 56);
    if (t->dtype == UG_F16 || t->dtype == UG_BF16) // clear the exponent's top bit: no NaN/Inf
        for (size_t i = 0; i < ug_tensor_nbytes(t); i += 2)
            p[i + 1] &= 0xbf;
}

// copy_cpu into a fresh contiguous tensor must equal copy_ref of the same view.
static void check_copy(const ug_tensor *x, ug_dtype ydt, const char *what) {
    ug_tensor a = new_tensor(ydt, x->ndim, x->shape), b = new_tensor(ydt, x->ndim, x->shape);
    copy_ref(&a, x);
    copy_cpu(&test_ctx, &b, x);
    ck_assert_msg(memcmp(a.data, b.data, ug_tensor_nbytes(&a)) == 0, "%s: copy_cpu differs from copy_ref",
                  what);
    ug_tensor_free(&a);
    ug_tensor_free(&b);
}

// copy_ref itself against the index formula of a permutation.
START_TEST(copy_ref_permute_formula) {
    ug_tensor x = new_tensor(UG_F32, UG_DIMS(2, 3, 4));
    float *px = x.data;
    for (int i = 0; i < 24; i++)
        px[i] = (float)i;
    ug_tensor v = ug_view_permute(&x, (int[]){2, 0, 1}); // [4, 2, 3]
    ug_tensor y = new_tensor(UG_F32, UG_DIMS(4, 2, 3));
    copy_ref(&y, &v);
    const float *py = y.data;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 3; c++)
                ck_assert_float_eq(py[(a * 2 + b) * 3 + c], (float)(b * 12 + c * 4 + a));
    ug_tensor_free(&x);
    ug_tensor_free(&y);
}
END_TEST

// Every permutation of 4-D tensors with odd sizes, F32 and 1/2/8-byte dtypes.
START_TEST(copy_permutations) {
    static const int perms[][4] = {{0, 1, 2, 3}, {0, 3, 1, 2}, {0, 2, 3, 1},
                                   {3, 2, 1, 0}, {1, 0, 3, 2}, {2, 0, 3, 1}};
    static const int64_t shapes[][4] = {{1, 17, 33, 3}, {2, 3, 17, 127}, {3, 1, 5, 33}, {1, 64, 9, 40}};
    static const ug_dtype dts[] = {UG_F32, UG_U8, UG_BF16, UG_I64};
    for (int s = 0; s < 4; s++)
        for (int d = 0; d < 4; d++) {
            ug_tensor x = new_tensor(dts[d], 4, shapes[s]);
            fill_random(&x, (uint64_t)(s * 4 + d));
            for (int p = 0; p < 6; p++) {
                ug_tensor v = ug_view_permute(&x, perms[p]);
                char what[64];
                snprintf(what, sizeof what, "shape %d dtype %s perm %d", s, ug_dtype_name(dts[d]), p);
                check_copy(&v, dts[d], what);
            }
            ug_tensor_free(&x);
        }
}
END_TEST

// NHWC -> NCHW as the SAM neck needs it ([1, 64, 64, C] viewed as [1, C, 64, 64]), against the
// index formula, and the same into a strided destination.
START_TEST(copy_nhwc_to_nchw) {
    int64_t H = 17, W = 33, C = 127;
    ug_tensor x = new_tensor(UG_F32, UG_DIMS(1, H, W, C));
    fill_random(&x, 9);
    ug_tensor v = ug_view_permute(&x, (int[]){0, 3, 1, 2});
    ug_tensor y = new_tensor(UG_F32, UG_DIMS(1, C, H, W));
    copy_cpu(&test_ctx, &y, &v);
    const float *px = x.data, *py = y.data;
    for (int64_t c = 0; c < C; c++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                ck_assert(py[(c * H + h) * W + w] == px[(h * W + w) * C + c]);
    // Destination is itself a window of a bigger map.
    ug_tensor big = new_tensor(UG_F32, UG_DIMS(2, C + 2, H + 3, W + 1));
    ug_tensor win = ug_view_slice(&big, 0, 1, 1);
    win = ug_view_slice(&win, 1, 2, C);
    win = ug_view_slice(&win, 2, 3, H);
    win = ug_view_slice(&win, 3, 0, W);
    copy_cpu(&test_ctx, &win, &v);
    ug_tensor back = new_tensor(UG_F32, UG_DIMS(1, C, H, W));
    copy_ref(&back, &win);
    ck_assert_mem_eq(back.data, y.data, ug_tensor_nbytes(&y));
    ck_assert_float_eq(((float *)big.data)[0], 0.0f); // outside the window: untouched
    ug_tensor_free(&x);
    ug_tensor_free(&y);
    ug_tensor_free(&big);
    ug_tensor_free(&back);
}
END_TEST

// Widening BF16 / F16 / U8 -> F32 and U8 -> I32 on contiguous, sliced and transposed views.
START_TEST(copy_widening) {
    static const ug_dtype dts[] = {UG_BF16, UG_F16, UG_U8};
    for (int d = 0; d < 3; d++) {
        ug_tensor x = new_tensor(dts[d], UG_DIMS(3, 33, 127));
        fill_random(&x, (uint64_t)(40 + d));
        check_copy(&x, UG_F32, "widen contiguous");
        ug_tensor s = ug_view_slice(&x, 2, 5, 100);
        s = ug_view_slice(&s, 1, 1, 17);
        check_copy(&s, UG_F32, "widen sliced");
        ug_tensor t = ug_view_transpose(&x, 1, 2);
        check_copy(&t, UG_F32, "widen transposed");
        // Values: copy_ref against the scalar conversions.
        ug_tensor y = new_tensor(UG_F32, UG_DIMS(3, 33, 127));
        copy_cpu(&test_ctx, &y, &x);
        const float *py = y.data;
        for (int64_t i = 0; i < ug_tensor_numel(&x); i++) {
            float want = dts[d] == UG_U8    ? (float)((const uint8_t *)x.data)[i]
                         : dts[d] == UG_F16 ? ug_f16_to_f32(((const uint16_t *)x.data)[i])
                                            : ug_bf16_to_f32(((const uint16_t *)x.data)[i]);
            ck_assert_msg(py[i] == want, "widen %s at %ld", ug_dtype_name(dts[d]), (long)i);
        }
        ug_tensor_free(&x);
        ug_tensor_free(&y);
    }
    // U8 -> I32 (class maps dumped as indices), the same views.
    ug_tensor x = new_tensor(UG_U8, UG_DIMS(3, 33, 127));
    fill_random(&x, 43);
    check_copy(&x, UG_I32, "U8 -> I32 contiguous");
    ug_tensor s = ug_view_slice(&x, 2, 5, 100);
    check_copy(&s, UG_I32, "U8 -> I32 sliced");
    ug_tensor t = ug_view_transpose(&x, 1, 2);
    check_copy(&t, UG_I32, "U8 -> I32 transposed");
    ug_tensor y = new_tensor(UG_I32, UG_DIMS(3, 33, 127));
    copy_cpu(&test_ctx, &y, &x);
    for (int64_t i = 0; i < ug_tensor_numel(&x); i++)
        ck_assert_int_eq(((const int32_t *)y.data)[i], ((const uint8_t *)x.data)[i]);
    ug_tensor_free(&x);
    ug_tensor_free(&y);
}
END_TEST

// Single elements, size-1 dims, empty tensors, and a large contiguous copy split in chunks.
START_TEST(copy_edge_shapes) {
    ug_tensor a = new_tensor(UG_F32, UG_DIMS(1, 1, 1)), b = new_tensor(UG_F32, UG_DIMS(1, 1, 1));
    *(float *)a.data = 3.5f;
    copy_cpu(&test_ctx, &b, &a);
    ck_assert_float_eq(*(float *)b.data, 3.5f);
    ug_tensor_free(&a);
    ug_tensor_free(&b);
    ug_tensor e = new_tensor(UG_F32, UG_DIMS(3, 0, 2)), f = new_tensor(UG_F32, UG_DIMS(3, 0, 2));
    copy_cpu(&test_ctx, &f, &e);
    ug_tensor_free(&e);
    ug_tensor_free(&f);
    ug_tensor big = new_tensor(UG_F32, UG_DIMS(3, 100003));
    fill_random(&big, 5);
    check_copy(&big, UG_F32, "large contiguous");
    ug_tensor col = ug_view_slice(&big, 1, 7, 1); // [3, 1]: a strided column
    check_copy(&col, UG_F32, "column");
    ug_tensor_free(&big);
}
END_TEST

START_TEST(fill_values) {
    ug_tensor x = new_tensor(UG_F32, UG_DIMS(5, 7));
    ug_tensor v = ug_view_slice(&x, 1, 2, 3);
    fill_cpu(&test_ctx, &v, -2.5f);
    const float *p = x.data;
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 7; c++)
            ck_assert_float_eq(p[r * 7 + c], c >= 2 && c < 5 ? -2.5f : 0.0f);
    ug_tensor u = new_tensor(UG_I32, UG_DIMS(33));
    fill_cpu(&test_ctx, &u, 7.0f);
    for (int i = 0; i < 33; i++)
        ck_assert_int_eq(((int32_t *)u.data)[i], 7);
    ug_tensor_free(&x);
    ug_tensor_free(&u);
}
END_TEST

// pad_ref against the definition, then pad_cpu against pad_ref (also from a permuted U8 view).
START_TEST(pad_matches_ref) {
    ug_tensor x = new_tensor(UG_F32, UG_DIMS(2, 3, 4));
    fill_random(&x, 11);
    ug_tensor y = new_tensor(UG_F32, UG_DIMS(3, 7, 5));
    int64_t before[3] = {1, 2, 0};
    pad_ref(&y, &x, before, -1.0f);
    const float *px = x.data, *py = y.data;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 7; b++)
            for (int c = 0; c < 5; c++) {
                bool in = a >= 1 && b >= 2 && b < 5 && c < 4;
                float want = in ? px[((a - 1) * 3 + (b - 2)) * 4 + c] : -1.0f;
                ck_assert_float_eq(py[(a * 7 + b) * 5 + c], want);
            }
    ug_tensor z = new_tensor(UG_F32, UG_DIMS(3, 7, 5));
    fill_cpu(&test_ctx, &z, 123.0f); // every element must be overwritten
    pad_cpu(&test_ctx, &z, &x, before, -1.0f);
    ck_assert_mem_eq(z.data, y.data, ug_tensor_nbytes(&y));

    ug_tensor img = new_tensor(UG_U8, UG_DIMS(17, 33, 3));
    fill_random(&img, 12);
    ug_tensor chw = ug_view_permute(&img, (int[]){2, 0, 1}); // [3, 17, 33]
    ug_tensor p1 = new_tensor(UG_F32, UG_DIMS(3, 32, 64)), p2 = new_tensor(UG_F32, UG_DIMS(3, 32, 64));
    int64_t b2[3] = {0, 0, 31};
    pad_ref(&p1, &chw, b2, 0.0f);
    pad_cpu(&test_ctx, &p2, &chw, b2, 0.0f);
    ck_assert_mem_eq(p1.data, p2.data, ug_tensor_nbytes(&p1));
    ug_tensor_free(&x);
    ug_tensor_free(&y);
    ug_tensor_free(&z);
    ug_tensor_free(&img);
    ug_tensor_free(&p1);
    ug_tensor_free(&p2);
}
END_TEST

START_TEST(concat_dims) {
    ug_tensor a = new_tensor(UG_F32, UG_DIMS(2, 3, 5)), b = new_tensor(UG_F32, UG_DIMS(2, 1, 5)),
              c = new_tensor(UG_F32, UG_DIMS(2, 17, 5));
    fill_random(&a, 1);
    fill_random(&b, 2);
    fill_random(&c, 3);
    ug_tensor y = new_tensor(UG_F32, UG_DIMS(2, 21, 5));
    concat_cpu(&test_ctx, &y, (ug_tensor[]){a, b, c}, 3, 1);
    const float *py = y.data;
    for (int n = 0; n < 2; n++)
        for (int r = 0; r < 21; r++)
            for (int q = 0; q < 5; q++) {
                float want = r < 3   ? ((float *)a.data)[(n * 3 + r) * 5 + q]
                             : r < 4 ? ((float *)b.data)[n * 5 + q]
                                     : ((float *)c.data)[(n * 17 + r - 4) * 5 + q];
                ck_assert(py[(n * 21 + r) * 5 + q] == want);
            }
    // Along the last dim, from transposed views.
    ug_tensor at = ug_view_transpose(&a, 1, 2), ct = ug_view_transpose(&c, 1, 2); // [2, 5, 3], [2, 5, 17]
    ug_tensor z = new_tensor(UG_F32, UG_DIMS(2, 5, 20));
    concat_cpu(&test_ctx, &z, (ug_tensor[]){at, ct}, 2, 2);
    for (int n = 0; n < 2; n++)
        for (int q = 0; q < 5; q++)
            for (int k = 0; k < 20; k++) {
                float want = k < 3 ? ((float *)a.data)[(n * 3 + k) * 5 + q]
                                   : ((float *)c.data)[(n * 17 + k - 3) * 5 + q];
                ck_assert(((float *)z.data)[(n * 5 + q) * 20 + k] == want);
            }
    ug_tensor_free(&a);
    ug_tensor_free(&b);
    ug_tensor_free(&c);
    ug_tensor_free(&y);
    ug_tensor_free(&z);
}
END_TEST

// torch.roll(arange(10), 2) = [8, 9, 0, ..., 7]; roll by -1 = [1, ..., 9, 0]; by 23 = by 3.
START_TEST(roll_hand_cases) {
    ug_tensor x = new_tensor(UG_I32, UG_DIMS(10)), y = new_tensor(UG_I32, UG_DIMS(10));
    for (int i = 0; i < 10; i++)
        ((int32_t *)x.data)[i] = i;
    const int64_t shifts[] = {2, -1, 23, -10};
    const int32_t first[] = {8, 1, 7, 0};
    for (int s = 0; s < 4; s++) {
        roll_cpu(&test_ctx, &y, &x, 1, (int[]){0}, &shifts[s]);
        for (int i = 0; i < 10; i++) {
            int32_t want = (int32_t)(((i - shifts[s]) % 10 + 10) % 10);
            ck_assert_int_eq(((int32_t *)y.data)[i], want);
        }
        ck_assert_int_eq(((int32_t *)y.data)[0], first[s]);
    }
    ug_tensor_free(&x);
    ug_tensor_free(&y);
}
END_TEST

// Swin's cyclic shift: roll (-6, -6) then (+6, +6) over H, W of an NHWC map, on odd sizes and
// permuted views; fast vs reference, and the round trip is the identity.
START_TEST(roll_matches_ref) {
    static const int64_t shapes[][4] = {{1, 17, 33, 3}, {2, 13, 7, 8}, {1, 1, 127, 2}};
    for (int s = 0; s < 3; s++) {
        ug_tensor x = new_tensor(UG_F32, 4, shapes[s]);
        fill_random(&x, (uint64_t)(60 + s));
        ug_tensor a = new_tensor(UG_F32, 4, shapes[s]), b = new_tensor(UG_F32, 4, shapes[s]),
                  c = new_tensor(UG_F32, 4, shapes[s]);
        int dims[2] = {1, 2};
        int64_t neg[2] = {-6, -6}, pos[2] = {6, 6};
        roll_ref(&a, &x, 2, dims, neg);
        roll_cpu(&test_ctx, &b, &x, 2, dims, neg);
        ck_assert_mem_eq(a.data, b.data, ug_tensor_nbytes(&a));
        roll_cpu(&test_ctx, &c, &b, 2, dims, pos);
        ck_assert_mem_eq(c.data, x.data, ug_tensor_nbytes(&x));
        // Same dim twice adds up; a permuted source view.
        ug_tensor v = ug_view_permute(&x, (int[]){0, 3, 1, 2});
        ug_tensor d = new_tensor(UG_F32, 4, v.shape), e = new_tensor(UG_F32, 4, v.shape);
        int dims3[3] = {3, 1, 3};
        int64_t sh3[3] = {-5, 2, -40};
        roll_ref(&d, &v, 3, dims3, sh3);
        roll_cpu(&test_ctx, &e, &v, 3, dims3, sh3);
        ck_assert_mem_eq(d.data, e.data, ug_tensor_nbytes(&d));
        ug_tensor_free(&x);
        ug_tensor_free(&a);
        ug_tensor_free(&b);
        ug_tensor_free(&c);
        ug_tensor_free(&d);
        ug_tensor_free(&e);
    }
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "movement", .setup = test_ctx_setup_odd, .teardown = test_ctx_teardown, .timeout = 60},
        &s);
    test_add(tc, copy_ref_permute_formula, copy_permutations, copy_nhwc_to_nchw, copy_widening,
             copy_edge_shapes, fill_values, pad_matches_ref, concat_dims, roll_hand_cases, roll_matches_ref);
    return test_run_suite(s);
}
