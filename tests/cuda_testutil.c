// tests/cuda_testutil.c — see cuda_testutil.h.
#include "tests/cuda_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

ug_ctx cut_ctx;

void cut_setup(void) {
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&cut_ctx, 2, &err), UG_OK);
    ug_status st = ug_ctx_use_device(&cut_ctx, &ug_backend_cuda, &err);
    ck_assert_msg(st == UG_OK, "CUDA device: %s", err.msg);
}

void cut_teardown(void) {
    ug_err err;
    ug_status st = ug_ctx_device_status(&cut_ctx, &err);
    ug_ctx_free(&cut_ctx);
#ifdef UG_CUDA_EMU
    emu_set_schedule("fwd");
#endif
    ck_assert_msg(st == UG_OK, "device error left over: %s", err.msg);
}

void cut_teardown_keep_error(void) {
    ug_ctx_free(&cut_ctx);
}

#ifdef UG_CUDA_EMU
static const char *const schedules[] = {"fwd", "rev", "rand:1", "rand:2"};
#else
static const char *const schedules[] = {"gpu"};
#endif

int cut_schedule_count(void) {
    return (int)(sizeof schedules / sizeof schedules[0]);
}

const char *cut_use_schedule(int i) {
#ifdef UG_CUDA_EMU
    ck_assert(emu_set_schedule(schedules[i]));
#endif
    return schedules[i];
}

void cut_assert_ok(void) {
    ug_err err;
    ug_status st = ug_ctx_device_status(&cut_ctx, &err);
    ck_assert_msg(st == UG_OK, "device error: %s", err.msg);
}

ug_tensor cut_upload(const ug_tensor *host) {
    ug_tensor d;
    ug_err err;
    ck_assert_msg(ug_to_device(&cut_ctx, &d, host, &err) == UG_OK, "upload: %s", err.msg);
    return d;
}

ug_tensor cut_download(const ug_tensor *dev) {
    ug_tensor h;
    ug_err err;
    ck_assert_msg(ug_to_host(&cut_ctx, &h, dev, &err) == UG_OK, "download: %s", err.msg);
    return h;
}

ug_tensor cut_empty(ug_dtype dt, int ndim, const int64_t *shape) {
    ug_tensor d;
    ug_err err;
    ck_assert_msg(ug_tensor_new_on(&d, &ug_cuda_memory, dt, ndim, shape, &err) == UG_OK, "alloc: %s",
                  err.msg);
    ck_assert(cudaMemset(d.data, 0xff, ug_tensor_nbytes(&d)) == cudaSuccess);
    return d;
}

ug_tensor cut_rand(int ndim, const int64_t *shape, float lo, float hi, uint64_t seed) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, ndim, shape, &err), UG_OK);
    test_fill_uniform(t.data, (size_t)ug_tensor_numel(&t), lo, hi, seed);
    return t;
}

static void keep_or_compare(ug_tensor *h, ug_tensor *first, const char *what) {
    if (!first->data) {
        *first = *h;
        return;
    }
    size_t n = ug_tensor_nbytes(h);
    ck_assert_msg(n == ug_tensor_nbytes(first), "%s: size differs between schedules", what);
    if (memcmp(h->data, first->data, n) != 0) {
        size_t i = 0;
        while (((const unsigned char *)h->data)[i] == ((const unsigned char *)first->data)[i])
            i++;
        ug_tensor_free(h);
        ck_abort_msg("%s: not bit-identical to the first schedule (byte %zu differs)", what, i);
    }
    ug_tensor_free(h);
}

void cut_check(const ug_tensor *got, const float *want, double atol, double rtol, ug_tensor *first,
               const char *what) {
    cut_assert_ok();
    ck_assert_int_eq(got->dtype, UG_F32);
    ug_tensor h = cut_download(got);
    test_assert_close(h.data, want, (size_t)ug_tensor_numel(&h), atol, rtol, what);
    keep_or_compare(&h, first, what);
}

void cut_check_exact(const ug_tensor *got, const void *want, ug_tensor *first, const char *what) {
    cut_assert_ok();
    ug_tensor h = cut_download(got);
    size_t n = ug_tensor_nbytes(&h);
    if (memcmp(h.data, want, n) != 0) {
        size_t i = 0;
        while (((const unsigned char *)h.data)[i] == ((const unsigned char *)want)[i])
            i++;
        ug_tensor_free(&h);
        ck_abort_msg("%s: byte %zu differs from the reference", what, i);
    }
    keep_or_compare(&h, first, what);
}

float *cut_rand_weights(int64_t n, ug_dtype dt, uint64_t seed, void **q) {
    float *w = malloc((size_t)(n ? n : 1) * sizeof(float));
    test_fill_uniform(w, (size_t)n, -1.0f, 1.0f, seed);
    if (dt == UG_F32) {
        *q = malloc((size_t)(n ? n : 1) * sizeof(float));
        memcpy(*q, w, (size_t)n * sizeof(float));
        return w;
    }
    uint16_t *h = malloc((size_t)(n ? n : 1) * sizeof(uint16_t));
    for (int64_t i = 0; i < n; i++) {
        h[i] = dt == UG_BF16 ? ug_f32_to_bf16(w[i]) : ug_f32_to_f16(w[i]);
        w[i] = dt == UG_BF16 ? ug_bf16_to_f32(h[i]) : ug_f16_to_f32(h[i]);
    }
    *q = h;
    return w;
}

ug_tensor cut_host_new(ug_dtype dt, int ndim, const int64_t *shape) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, dt, ndim, shape, &err), UG_OK);
    return t;
}

ug_tensor cut_dev_view(const ug_tensor *dparent, const ug_tensor *hparent, const ug_tensor *hview) {
    int64_t off =
        ((const char *)hview->data - (const char *)hparent->data) / (int64_t)ug_dtype_size(hview->dtype);
    return ug_view_strided(dparent, off, hview->ndim, hview->shape, hview->stride);
}
