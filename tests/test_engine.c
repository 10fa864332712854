// tests/test_engine.c — tensor views, dtype conversions, thread pool, arena, scratch.
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arena.h"
#include "engine/ctx.h"
#include "engine/pool.h"
#include "engine/tensor.h"
#include "tests/helpers.h"

START_TEST(tensor_new_and_views) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, UG_DIMS(2, 3, 4), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_numel(&t), 24);
    ck_assert(ug_tensor_is_contiguous(&t));
    float *x = t.data;
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;

    ug_tensor tr = ug_view_transpose(&t, 1, 2); // [2, 4, 3]
    ck_assert(!ug_tensor_is_contiguous(&tr));
    ck_assert_float_eq(*(float *)ug_tensor_ptr(&tr, (int64_t[]){1, 3, 2}), 1 * 12 + 2 * 4 + 3);

    ug_tensor sl = ug_view_slice(&t, 2, 1, 2); // [2, 3, 2] starting at column 1
    ck_assert_float_eq(*(float *)ug_tensor_ptr(&sl, (int64_t[]){1, 2, 1}), 12 + 8 + 2);

    ug_tensor pe = ug_view_permute(&t, (int[]){2, 0, 1}); // [4, 2, 3]
    ck_assert_int_eq(pe.shape[0], 4);
    ck_assert_float_eq(*(float *)ug_tensor_ptr(&pe, (int64_t[]){3, 1, 2}), 12 + 2 * 4 + 3);

    ug_tensor ex = ug_view_expand_dim(&t, 0, 5); // [5, 2, 3, 4], stride 0
    ck_assert_int_eq(ex.ndim, 4);
    ck_assert_float_eq(*(float *)ug_tensor_ptr(&ex, (int64_t[]){4, 1, 2, 3}), 23);

    ug_tensor rs = ug_view_reshape(&t, UG_DIMS(6, 4));
    ck_assert_float_eq(*(float *)ug_tensor_ptr(&rs, (int64_t[]){5, 3}), 23);
    ck_assert_ptr_null(rs.alloc);

    char buf[64];
    ck_assert_str_eq(ug_shape_str(&t, buf, sizeof buf), "[2,3,4]");
    ck_assert_int_eq(ug_tensor_check_shape(&t, UG_DIMS(2, 3, 5), "x", &err), UG_ERR_ARG);
    ck_assert_str_eq(err.msg, "x: shape [2,3,4], expected [2,3,5]");
    ug_tensor_free(&t);
    ck_assert_ptr_null(t.data);
}
END_TEST

START_TEST(tensor_rejects_absurd_sizes) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, UG_DIMS(1 << 30, 1 << 30), &err), UG_ERR_NOMEM);
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, UG_DIMS(-1), &err), UG_ERR_NOMEM);
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, &err), UG_ERR_ARG);
}
END_TEST

START_TEST(dtype_names_roundtrip) {
    for (int i = 0; i < UG_DTYPE_COUNT; i++) {
        ug_dtype dt;
        ck_assert(ug_dtype_from_name(ug_dtype_name((ug_dtype)i), &dt));
        ck_assert_int_eq(dt, i);
    }
    ug_dtype dt;
    ck_assert(!ug_dtype_from_name("F8_E4M3", &dt));
}
END_TEST

START_TEST(half_conversions) {
    // Every f16 value converts to f32 and back unchanged (NaNs stay NaN).
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ug_f16_to_f32((uint16_t)h);
        uint16_t back = ug_f32_to_f16(f);
        if (isnan(f))
            ck_assert(isnan(ug_f16_to_f32(back)));
        else
            ck_assert_msg(back == h, "f16 0x%04x -> %g -> 0x%04x", h, (double)f, back);
    }
    ck_assert_float_eq(ug_f16_to_f32(0x3c00), 1.0f);
    ck_assert_float_eq(ug_f16_to_f32(0x0001), ldexpf(1.0f, -24));
    // Round to nearest even at the halfway points.
    ck_assert_uint_eq(ug_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    ck_assert_uint_eq(ug_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
    ck_assert_uint_eq(ug_f32_to_f16(70000.0f), 0x7c00);
    ck_assert_uint_eq(ug_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(ug_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80);     // tie -> even
    ck_assert_uint_eq(ug_f32_to_bf16(1.0f + 3 * ldexpf(1.0f, -8)), 0x3f82); // tie -> even
    ck_assert(isnan(ug_bf16_to_f32(ug_f32_to_bf16(NAN))));
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ug_bf16_to_f32((uint16_t)h);
        if (!isnan(f)) ck_assert_uint_eq(ug_f32_to_bf16(f), h);
    }
}
END_TEST

typedef struct {
    atomic_int *hits;
    atomic_int max_thread;
} pool_arg;

static void mark_range(void *varg, int64_t begin, int64_t end, int thread) {
    pool_arg *a = varg;
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&a->hits[i], 1);
    int m = atomic_load(&a->max_thread);
    while (thread > m && !atomic_compare_exchange_weak(&a->max_thread, &m, thread)) {
    }
}

START_TEST(pool_covers_every_index_once) {
    ug_pool *pool;
    ug_err err;
    ck_assert_int_eq(ug_pool_create(&pool, 4, &err), UG_OK);
    ck_assert_int_eq(ug_pool_threads(pool), 4);
    int sizes[] = {1, 3, 17, 1000, 12345};
    for (int s = 0; s < 5; s++) {
        for (int rep = 0; rep < 20; rep++) {
            int n = sizes[s];
            pool_arg a = {calloc((size_t)n, sizeof(atomic_int)), 0};
            ug_parallel_for(pool, n, 1 + rep % 7, mark_range, &a);
            for (int i = 0; i < n; i++)
                ck_assert_int_eq(atomic_load(&a.hits[i]), 1);
            ck_assert_int_lt(atomic_load(&a.max_thread), 4);
            free(a.hits);
        }
    }
    ug_pool_destroy(pool);
    // Serial fallback with no pool.
    pool_arg a = {calloc(10, sizeof(atomic_int)), 0};
    ug_parallel_for(NULL, 10, 1, mark_range, &a);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(atomic_load(&a.hits[i]), 1);
    free(a.hits);
}
END_TEST

START_TEST(arena_peak_and_release) {
    ug_arena a;
    ug_arena_init(&a, 1024);
    ug_arena_mark m0 = ug_arena_get_mark(&a);
    void *p = ug_arena_alloc(&a, 100);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    ug_arena_mark m1 = ug_arena_get_mark(&a);
    ck_assert_ptr_nonnull(ug_arena_alloc(&a, 5000)); // bigger than a chunk
    ck_assert_uint_ge(a.peak, 128 + 5000);
    ug_arena_release(&a, m1);
    ck_assert_uint_eq(a.used, 128);
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_arena_tensor(&a, &t, UG_F32, UG_DIMS(3, 5), &err), UG_OK);
    ck_assert_ptr_null(t.alloc);
    ug_arena_release(&a, m0);
    ck_assert_uint_eq(a.used, 0);
    size_t peak = a.peak;
    ck_assert_uint_ge(peak, 5000);
    // Released chunks are reused: the same allocations again take no new memory.
    size_t total = a.total;
    void *big = ug_arena_alloc(&a, 5000);
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq(a.total, total);
    ck_assert_uint_eq(((unsigned char *)big)[4999], 0); // reused memory is cleared again
    ug_arena_release(&a, m0);
    // Many different sizes keep a bounded number of spare chunks.
    for (int i = 1; i <= 50; i++) {
        ck_assert_ptr_nonnull(ug_arena_alloc(&a, (size_t)i * 3000));
        ug_arena_release(&a, m0);
    }
    ck_assert_uint_le(a.total, (size_t)50 * 3000 + 1024); // spares were freed as sizes grew
    ug_arena_trim(&a);
    ck_assert_uint_eq(a.total, 0);
    ck_assert_ptr_nonnull(ug_arena_alloc(&a, 10));
    ug_arena_free(&a);
}
END_TEST

START_TEST(ctx_scratch_grows) {
    ug_ctx ctx;
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&ctx, 2, &err), UG_OK);
    ck_assert_int_eq(ctx.nthreads, 2);
    char *s = ug_ctx_scratch(&ctx, 1, 10);
    memset(s, 1, 10);
    char *t = ug_ctx_scratch(&ctx, 1, 100000);
    memset(t, 2, 100000);
    ck_assert_uint_eq((uintptr_t)t % 64, 0);
    ug_ctx_free(&ctx);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "engine"}, &s);
    test_add(tc, tensor_new_and_views, tensor_rejects_absurd_sizes, dtype_names_roundtrip, half_conversions,
             pool_covers_every_index_once, arena_peak_and_release, ctx_scratch_grows);
    return test_run_suite(s);
}
