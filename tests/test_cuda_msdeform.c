// tests/test_cuda_msdeform.c — the CUDA MSDeformAttn core and its sampling locations
// (ops/cuda/msdeform_attn.cu) against ops/msdeform_attn.h and ops/msdeform_sampling.h, under
// every emulator schedule, outputs bit-identical across schedules.
//   msdeform_attn: levels 1x1, 3x5, 17x9 alone and together (plus 4 and 9 levels: 36 points,
//                  more than one 32-point chunk), P = 1..4, M = 1, 3, 8, D = 1, 3, 32, 33, 40
//                  (a second, partial 32-channel slice), odd Nq, B = 1, 2, one model-like shape
//                  (3 levels, 8 heads, 4 points, D 32, every token a query); locations uniform
//                  in [-0.3, 1.3] with NaN, far-away (7, -1) and edge (0, 1) values mixed in;
//                  strided value (a channel slice), permuted loc and aw, out a slice of a wider
//                  buffer whose other elements must stay untouched.
//   sampling:      1, 2, 3 and 16 levels of odd sizes (1x1 .. 33x1), B 1..3, M 1..17, P 1..17,
//                  in place, strided off (permuted) into a strided loc (a slice), NaN / inf
//                  offsets.
// Tolerances. msdeform_attn: 2e-6 abs + 1e-5 rel against the double reference, as the CPU suite
// (tests/test_msdeform_attn.c): the source coordinates are the reference's own float32 steps,
// then per output a chain of at most 4 L P float fmas of terms |w a v| <= 1 / (L P) — the same
// arithmetic as the CPU's AVX2 kernel. And bit-identical (tolerance 0) to msdeform_attn_cpu when
// D % 8 == 0: the same taps, weights and fma order (its scalar tail for D % 8 channels rounds
// products separately, so D = 1, 3, 33 are checked against the reference only).
// Sampling: exact against the reference (the same float32 division and addition).
// Error paths: an operand on the host, level sizes that do not sum to S, too many levels.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/movement.h"
#include "ops/msdeform_attn.h"
#include "ops/msdeform_sampling.h"
#include "ops/ops.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static const double ATOL = 2e-6, RTOL = 1e-5;

// A host parent of `shape` holding `dense` (contiguous, the view's shape) at the elements of the
// view perm/slice describes, 0xFF bytes (NaN) elsewhere; *view gets the host view.
static ug_tensor parent_with(const float *dense, int ndim, const int64_t *shape, ug_tensor *view,
                             ug_tensor (*make_view)(const ug_tensor *parent)) {
    ug_tensor p = cut_host_new(UG_F32, ndim, shape);
    memset(p.data, 0xff, ug_tensor_nbytes(&p));
    *view = make_view(&p);
    ug_tensor src = ug_tensor_wrap((void *)dense, UG_F32, view->ndim, view->shape);
    copy_ref(view, &src);
    return p;
}

static int64_t tokens(const int64_t (*shapes)[2], int64_t L) {
    int64_t S = 0;
    for (int64_t l = 0; l < L; l++)
        S += shapes[l][0] * shapes[l][1];
    return S;
}

// Locations: uniform [-0.3, 1.3], every 37th NaN, 41st 7 (far away), 43rd -1 (all corners
// outside, within the far test), 47th exactly 0, 53rd exactly 1.
static void fill_locations(float *loc, int64_t n, uint64_t seed) {
    test_fill_uniform(loc, (size_t)n, -0.3f, 1.3f, seed);
    for (int64_t i = 0; i < n; i++) {
        if (i % 37 == 5) loc[i] = NAN;
        if (i % 41 == 7) loc[i] = 7.0f;
        if (i % 43 == 9) loc[i] = -1.0f;
        if (i % 47 == 11) loc[i] = 0.0f;
        if (i % 53 == 13) loc[i] = 1.0f;
    }
}

// ---- msdeform_attn ----

static int64_t g_M, g_D; // sizes for the view makers below

static ug_tensor value_view(const ug_tensor *p) { // [B, S, M, D] of [B, S, M, D + 3]
    return ug_view_slice(p, 3, 2, g_D);
}
static ug_tensor loc_view(const ug_tensor *p) { // [B, Nq, M, LP, 2] of [B, M, Nq, LP, 2]
    return ug_view_permute(p, (const int[]){0, 2, 1, 3, 4});
}
static ug_tensor aw_view(const ug_tensor *p) { // [B, Nq, M, LP] of [B, Nq, LP, M]
    return ug_view_permute(p, (const int[]){0, 1, 3, 2});
}
static ug_tensor out_view(const ug_tensor *p) { // [B, Nq, M * D] of [B, Nq, M * D + 5]
    return ug_view_slice(p, 2, 1, g_M * g_D);
}

static void msda_case(const int64_t (*shapes)[2], int64_t L, int64_t B, int64_t Nq, int64_t M, int64_t D,
                      int64_t P, bool strided, uint64_t seed) {
    int64_t S = tokens(shapes, L), LP = L * P;
    g_M = M, g_D = D;
    ug_tensor hv = cut_host_new(UG_F32, UG_DIMS(B, S, M, D)),
              hl = cut_host_new(UG_F32, UG_DIMS(B, Nq, M, LP, 2));
    ug_tensor ha = cut_host_new(UG_F32, UG_DIMS(B, Nq, M, LP)),
              hcpu = cut_host_new(UG_F32, UG_DIMS(B, Nq, M * D));
    test_fill_uniform(hv.data, (size_t)ug_tensor_numel(&hv), -1, 1, seed);
    fill_locations(hl.data, ug_tensor_numel(&hl), seed + 1);
    test_fill_uniform(ha.data, (size_t)ug_tensor_numel(&ha), 0, 1.0f / (float)LP, seed + 2);
    int64_t nout = B * Nq * M * D;
    float *want = malloc((size_t)nout * sizeof(float));
    msdeform_attn_ref(want, hv.data, shapes, L, P, hl.data, ha.data, B, Nq, M, D);
    ug_ctx cpu;
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&cpu, 2, &err), UG_OK);
    msdeform_attn_cpu(&cpu, &hcpu, &hv, shapes, L, &hl, &ha);
    ug_ctx_free(&cpu);
    // Device operands: the tensors themselves, or views into parents laid out otherwise.
    // Strided: the wanted results sit inside NaN-filled parents of out's parent shape.
    ug_tensor pv = {0}, pl = {0}, pa = {0}, pw = {0}, pc = {0}, vv, vl, va, vo, vc;
    float *want_out = want, *cpu_out = hcpu.data;
    if (strided) {
        pv = parent_with(hv.data, UG_DIMS(B, S, M, D + 3), &vv, value_view);
        pl = parent_with(hl.data, UG_DIMS(B, M, Nq, LP, 2), &vl, loc_view);
        pa = parent_with(ha.data, UG_DIMS(B, Nq, LP, M), &va, aw_view);
        pw = parent_with(want, UG_DIMS(B, Nq, M * D + 5), &vo, out_view);
        pc = parent_with(hcpu.data, UG_DIMS(B, Nq, M * D + 5), &vc, out_view);
        want_out = pw.data;
        cpu_out = pc.data;
    }
    char what[160];
    snprintf(what, sizeof what, "msdeform_attn L %lld P %lld B %lld Nq %lld M %lld D %lld%s", (long long)L,
             (long long)P, (long long)B, (long long)Nq, (long long)M, (long long)D,
             strided ? " strided" : "");
    ug_tensor first = {0}, first_cpu = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[200];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor dv, dl, da, dout, base[4];
        if (strided) {
            base[0] = cut_upload(&pv), base[1] = cut_upload(&pl), base[2] = cut_upload(&pa);
            base[3] = cut_empty(UG_F32, pw.ndim, pw.shape);
            dv = cut_dev_view(&base[0], &pv, &vv), dl = cut_dev_view(&base[1], &pl, &vl);
            da = cut_dev_view(&base[2], &pa, &va), dout = cut_dev_view(&base[3], &pw, &vo);
        } else {
            base[0] = dv = cut_upload(&hv), base[1] = dl = cut_upload(&hl), base[2] = da = cut_upload(&ha);
            base[3] = dout = cut_empty(UG_F32, UG_DIMS(B, Nq, M * D));
        }
        msdeform_attn_cuda(&cut_ctx, &dout, &dv, shapes, L, &dl, &da);
        cut_check(&base[3], want_out, ATOL, RTOL, &first, w2);
        if (D % 8 == 0) {
            snprintf(w2, sizeof w2, "%s [%s] vs cpu", what, cut_use_schedule(s));
            cut_check(&base[3], cpu_out, 0, 0, &first_cpu, w2);
        }
        for (int k = 0; k < 4; k++)
            ug_tensor_free(&base[k]);
    }
    ck_assert_uint_eq(cut_ctx.dev_arena.used, 0);
    ug_tensor_free(&first), ug_tensor_free(&first_cpu);
    ug_tensor_free(&pv), ug_tensor_free(&pl), ug_tensor_free(&pa), ug_tensor_free(&pw), ug_tensor_free(&pc);
    ug_tensor_free(&hv), ug_tensor_free(&hl), ug_tensor_free(&ha), ug_tensor_free(&hcpu);
    free(want);
}

static const int64_t lv_1x1[1][2] = {{1, 1}}, lv_3x5[1][2] = {{3, 5}}, lv_17x9[1][2] = {{17, 9}};
static const int64_t lv_three[3][2] = {{1, 1}, {3, 5}, {17, 9}};
static const int64_t lv_four[4][2] = {{17, 9}, {3, 5}, {1, 1}, {2, 7}};
static const int64_t lv_nine[9][2] = {{1, 1}, {3, 5}, {2, 2}, {1, 4}, {5, 1}, {3, 3}, {1, 1}, {2, 3}, {4, 1}};

START_TEST(msda_one_level) {
    msda_case(lv_1x1, 1, 1, 1, 1, 1, 1, false, 1);
    msda_case(lv_1x1, 1, 2, 3, 3, 32, 4, false, 2);
    msda_case(lv_3x5, 1, 1, 17, 8, 3, 2, false, 3);
    msda_case(lv_3x5, 1, 2, 33, 1, 32, 3, true, 4);
    msda_case(lv_17x9, 1, 1, 17, 3, 32, 1, false, 5);
    msda_case(lv_17x9, 1, 2, 3, 8, 1, 4, true, 6);
}
END_TEST

START_TEST(msda_several_levels) {
    msda_case(lv_three, 3, 2, 33, 3, 3, 2, false, 10);
    msda_case(lv_three, 3, 1, 17, 1, 40, 3, true, 11);
    msda_case(lv_four, 4, 1, 17, 3, 32, 4, false, 12);
    msda_case(lv_four, 4, 2, 5, 2, 64, 1, true, 13);
    msda_case(lv_nine, 9, 1, 7, 2, 33, 4, false, 14); // 36 points: two chunks
    msda_case(lv_nine, 9, 1, 3, 3, 8, 4, true, 15);
}
END_TEST

// The RbA pixel decoder's encoder shape, scaled down: 3 levels, 8 heads, 4 points, D = 32, the
// tokens of every level as queries; plain and strided, B = 1 and 2.
START_TEST(msda_model_like) {
    static const int64_t lv[3][2] = {{9, 17}, {5, 9}, {3, 5}};
    msda_case(lv, 3, 1, tokens(lv, 3), 8, 32, 4, false, 20);
    msda_case(lv, 3, 2, tokens(lv, 3), 8, 32, 4, true, 21);
}
END_TEST

// ---- sampling locations ----

static ug_tensor off_view(const ug_tensor *p) { // [B, S, M, LP, 2] of [B, M, S, LP, 2]
    return ug_view_permute(p, (const int[]){0, 2, 1, 3, 4});
}
static ug_tensor locs_view(const ug_tensor *p) { // [B, S, M, LP, 2] of [B, S, M, LP, 3]
    return ug_view_slice(p, 4, 1, 2);
}

static void sampling_case(const int64_t (*shapes)[2], int64_t L, int64_t B, int64_t M, int64_t P, int mode,
                          uint64_t seed) { // mode 0: plain, 1: in place, 2: strided
    int64_t S = tokens(shapes, L), LP = L * P, n = B * S * M * LP * 2;
    ug_tensor ho = cut_host_new(UG_F32, UG_DIMS(B, S, M, LP, 2));
    float *o = ho.data;
    test_fill_uniform(o, (size_t)n, -8.0f, 8.0f, seed);
    for (int64_t i = 0; i < n; i++) {
        if (i % 31 == 3) o[i] = NAN;
        if (i % 37 == 4) o[i] = -INFINITY;
        if (i % 41 == 5) o[i] = 0.0f;
    }
    float *want = malloc((size_t)n * sizeof(float));
    msdeform_sampling_locations_ref(want, o, shapes, L, B, M, P);
    ug_tensor po = {0}, pl = {0}, vo, vl;
    const void *want_bytes = want;
    if (mode == 2) {
        po = parent_with(o, UG_DIMS(B, M, S, LP, 2), &vo, off_view);
        pl = parent_with(want, UG_DIMS(B, S, M, LP, 3), &vl, locs_view);
        want_bytes = pl.data;
    }
    char what[160];
    snprintf(what, sizeof what, "sampling L %lld B %lld M %lld P %lld mode %d", (long long)L, (long long)B,
             (long long)M, (long long)P, mode);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[200];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        if (mode == 2) {
            ug_tensor bo = cut_upload(&po), bl = cut_empty(UG_F32, pl.ndim, pl.shape);
            ug_tensor dof = cut_dev_view(&bo, &po, &vo), dlo = cut_dev_view(&bl, &pl, &vl);
            msdeform_sampling_locations_cuda(&cut_ctx, &dlo, &dof, shapes, L);
            cut_check_exact(&bl, want_bytes, &first, w2);
            ug_tensor_free(&bo), ug_tensor_free(&bl);
        } else {
            ug_tensor dof = cut_upload(&ho);
            ug_tensor dlo = mode == 1 ? dof : cut_empty(UG_F32, UG_DIMS(B, S, M, LP, 2));
            msdeform_sampling_locations_cuda(&cut_ctx, &dlo, &dof, shapes, L);
            cut_check_exact(&dlo, want_bytes, &first, w2);
            if (mode == 0) ug_tensor_free(&dlo);
            ug_tensor_free(&dof);
        }
    }
    ug_tensor_free(&first), ug_tensor_free(&po), ug_tensor_free(&pl), ug_tensor_free(&ho);
    free(want);
}

START_TEST(sampling_vs_reference) {
    static const int64_t one[1][2] = {{17, 33}};
    static const int64_t three[3][2] = {{1, 3}, {3, 17}, {33, 1}};
    static const int64_t tiny[2][2] = {{1, 1}, {3, 5}};
    static const int64_t sixteen[16][2] = {{1, 1}, {2, 1}, {1, 2}, {3, 1}, {1, 3}, {2, 2}, {1, 1}, {3, 2},
                                           {2, 3}, {1, 5}, {5, 1}, {1, 1}, {2, 1}, {1, 2}, {3, 3}, {1, 1}};
    sampling_case(one, 1, 1, 1, 1, 0, 1);
    sampling_case(one, 1, 2, 3, 4, 2, 2);
    sampling_case(three, 3, 1, 8, 4, 0, 3);
    sampling_case(three, 3, 3, 1, 3, 1, 4);
    sampling_case(tiny, 2, 1, 17, 1, 2, 5);
    sampling_case(tiny, 2, 2, 3, 17, 1, 6);
    sampling_case(sixteen, 16, 1, 2, 2, 0, 7);
    sampling_case(lv_three, 3, 1, 8, 4, 2, 8);
}
END_TEST

// ---- error paths ----

// The context's recorded error contains `text`; then a fresh context for what follows.
static void expect_error(const char *text) {
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, text), "error \"%s\" lacks \"%s\"", err.msg, text);
    cut_teardown_keep_error();
    cut_setup();
}

START_TEST(errors_are_recorded) {
    static const int64_t two[2][2] = {{3, 5}, {1, 1}}, wrong[2][2] = {{3, 5}, {2, 1}};
    int64_t S = 16, M = 2, D = 4, Nq = 3, LP = 4;
    ug_tensor hv = cut_rand(UG_DIMS(1, S, M, D), -1, 1, 1), hl = cut_rand(UG_DIMS(1, Nq, M, LP, 2), 0, 1, 2);
    ug_tensor ha = cut_rand(UG_DIMS(1, Nq, M, LP), 0, 1, 3);
    ug_tensor dv = cut_upload(&hv), dl = cut_upload(&hl), da = cut_upload(&ha);
    ug_tensor dout = cut_empty(UG_F32, UG_DIMS(1, Nq, M * D));
    msdeform_attn_cuda(&cut_ctx, &dout, &hv, two, 2, &dl, &da); // value on the host
    expect_error("cuda: msdeform_attn: operand 1 is on the");
    msdeform_attn_cuda(&cut_ctx, &dout, &dv, wrong, 2, &dl, &da);
    expect_error("cuda: msdeform_attn: sum of the level sizes");
    ug_tensor dbad = cut_empty(UG_F32, UG_DIMS(1, Nq, M * D + 1));
    msdeform_attn_cuda(&cut_ctx, &dbad, &dv, two, 2, &dl, &da);
    expect_error("cuda: msdeform_attn: inconsistent shapes");
    // A failed entry leaves later ones inert: the valid call after it writes nothing.
    msdeform_attn_cuda(&cut_ctx, &dout, &hv, two, 2, &dl, &da);
    msdeform_attn_cuda(&cut_ctx, &dout, &dv, two, 2, &dl, &da);
    expect_error("operand 1");
    ug_tensor back;
    ug_err err;
    ck_assert_int_eq(ug_to_host(&cut_ctx, &back, &dout, &err), UG_OK);
    for (int64_t i = 0; i < Nq * M * D; i++)
        ck_assert(isnan(((float *)back.data)[i]));
    ug_tensor_free(&back);
    // Sampling: 17 levels (the CPU kernel's limit is 16), shapes not matching S.
    static const int64_t many[17][2] = {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1},
                                        {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1},
                                        {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}};
    ug_tensor ho = cut_rand(UG_DIMS(1, 17, 1, 17, 2), -1, 1, 4), dof = cut_upload(&ho);
    ug_tensor dlo = cut_empty(UG_F32, UG_DIMS(1, 17, 1, 17, 2));
    msdeform_sampling_locations_cuda(&cut_ctx, &dlo, &dof, many, 17);
    expect_error("cuda: msdeform_sampling_locations: levels must be");
    msdeform_sampling_locations_cuda(&cut_ctx, &dlo, &dof, many, 1);
    expect_error("cuda: msdeform_sampling_locations: sum of the level sizes");
    ug_tensor ts[] = {hv, hl, ha, dv, dl, da, dout, dbad, ho, dof, dlo};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        ug_tensor_free(&ts[i]);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cuda_msdeform", .setup = cut_setup, .teardown = cut_teardown, .timeout = 300},
        &s);
    test_add(tc, msda_one_level, msda_several_levels, msda_model_like, sampling_vs_reference);
    TCase *te = tcase_create("cuda_msdeform_errors");
    tcase_add_checked_fixture(te, cut_setup, cut_teardown_keep_error);
    tcase_add_test(te, errors_are_recorded);
    suite_add_tcase(s, te);
    return test_run_suite(s);
}
