// tests/test_cuda_emu.c — the CUDA emulator itself (tests/cuda_emu/): correct kernels give the
// results a GPU gives under every schedule, planted bugs are reported (or show as poison), the
// schedules really reorder threads and blocks, device memory starts as poison, and a failure
// inside an op reaches the context's error as "cuda: <op>: ..." instead of aborting.
// Built only with make CUDA=emu.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/backend_cuda.h"
#include "ops/ops.h"
#include "tests/cuda_emu/planted.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static void *dev_alloc(size_t bytes) {
    void *p = NULL;
    ck_assert_int_eq(cudaMalloc(&p, bytes), cudaSuccess);
    return p;
}

static void to_dev(void *d, const void *h, size_t bytes) {
    ck_assert_int_eq(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice), cudaSuccess);
}

static void to_host(void *h, const void *d, size_t bytes) {
    ck_assert_int_eq(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
}

static void expect_report(cudaError_t e, const char *what, const char *const *needles, int n) {
    ck_assert_msg(e != cudaSuccess, "%s: the emulator did not report it", what);
    const char *r = emu_last_report();
    for (int i = 0; i < n; i++)
        ck_assert_msg(strstr(r, needles[i]), "%s: report lacks \"%s\": %s", what, needles[i], r);
    ck_assert_int_eq(cudaGetLastError(), cudaSuccess); // the launch's error was taken by the caller
}

START_TEST(block_reduction_and_shuffles_exact_under_every_schedule) {
    enum { N = 1000 };
    float *x = malloc(sizeof(float) * N), want[4] = {0};
    for (int i = 0; i < N; i++) {
        x[i] = (float)(i % 7) - 3.0f; // small integers: every summation order is exact
        want[i / 256] += x[i];
    }
    float *dx = dev_alloc(sizeof(float) * N), *dout = dev_alloc(sizeof want);
    to_dev(dx, x, sizeof(float) * N);
    for (int s = 0; s < cut_schedule_count(); s++) {
        const char *name = cut_use_schedule(s);
        ck_assert_int_eq(planted_block_sum(dout, dx, N), cudaSuccess);
        float got[4];
        to_host(got, dout, sizeof got);
        for (int b = 0; b < 4; b++)
            ck_assert_msg(got[b] == want[b], "%s: block %d sum %g, want %g", name, b, got[b], want[b]);
    }
    cudaFree(dx);
    cudaFree(dout);
    free(x);
}
END_TEST

START_TEST(warp_collectives_match_their_definitions) {
    enum { W = 2, T = 32 * W };
    int x[T], got[5 * T];
    for (int i = 0; i < T; i++)
        x[i] = i < 32 ? i + 1 : (i * 37) % 11 - 5;
    int *dx = dev_alloc(sizeof x), *dout = dev_alloc(sizeof got);
    to_dev(dx, x, sizeof x);
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ck_assert_int_eq(planted_warp_ops(dout, dx, W), cudaSuccess);
        to_host(got, dout, sizeof got);
        for (int w = 0; w < W; w++) {
            unsigned odd = 0;
            int all = 1, any = 0;
            for (int l = 0; l < 32; l++) {
                odd |= (unsigned)(x[32 * w + l] & 1) << l;
                all &= x[32 * w + l] > 0;
                any |= x[32 * w + l] > 0;
            }
            int scan = 0;
            for (int l = 0; l < 32; l++) {
                const int *g = got + 5 * (32 * w + l);
                scan += x[32 * w + l];
                ck_assert_int_eq(g[0], scan);
                ck_assert_uint_eq((unsigned)g[1], odd);
                ck_assert_int_eq(g[2], x[32 * w + 31 - l]);
                ck_assert_int_eq(g[3], all);
                ck_assert_int_eq(g[4], any);
            }
        }
    }
    cudaFree(dx);
    cudaFree(dout);
}
END_TEST

// The order threads and blocks ran in, under each schedule.
START_TEST(schedules_reorder_threads_and_blocks) {
    enum { B = 5, T = 64, N = B * T };
    int *order = dev_alloc(sizeof(int) * N), *counter = dev_alloc(sizeof(int));
    int got[4][N];
    for (int s = 0; s < 4; s++) {
        cut_use_schedule(s);
        ck_assert_int_eq(cudaMemset(counter, 0, sizeof(int)), cudaSuccess);
        ck_assert_int_eq(planted_order(order, counter, B, T), cudaSuccess);
        to_host(got[s], order, sizeof got[s]);
        // every schedule runs each thread exactly once
        char seen[N] = {0};
        for (int i = 0; i < N; i++) {
            ck_assert(got[s][i] >= 0 && got[s][i] < N && !seen[got[s][i]]);
            seen[got[s][i]] = 1;
        }
    }
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(got[0][i], i);         // fwd: in index order
        ck_assert_int_eq(got[1][i], N - 1 - i); // rev: blocks and threads reversed
    }
    ck_assert(memcmp(got[2], got[0], sizeof got[0]) != 0);
    ck_assert(memcmp(got[2], got[3], sizeof got[0]) != 0); // two seeds, two orders
    cudaFree(order);
    cudaFree(counter);
}
END_TEST

START_TEST(shared_and_fresh_device_memory_start_as_poison) {
    enum { N = 64 };
    float *d = dev_alloc(sizeof(float) * 2 * N), got[2 * N];
    to_host(got, d, sizeof got); // fresh cudaMalloc
    for (int i = 0; i < 2 * N; i++)
        ck_assert(isnan(got[i]));
    ck_assert_int_eq(cudaMemset(d, 0, sizeof got), cudaSuccess);
    // Block 1 would see block 0's writes if shared memory were not poisoned again.
    ck_assert_int_eq(planted_read_shared(d, N, 2), cudaSuccess);
    to_host(got, d, sizeof got);
    for (int i = 0; i < 2 * N; i++)
        ck_assert_msg(isnan(got[i]), "shared element %d read %g before any write", i, got[i]);
    cudaFree(d);
}
END_TEST

START_TEST(missing_barrier_reads_poison) {
    enum { N = 64 };
    float x[N], got[N];
    for (int i = 0; i < N; i++)
        x[i] = 1.0f;
    float *dx = dev_alloc(sizeof x), *dout = dev_alloc(sizeof got);
    to_dev(dx, x, sizeof x);
    int poisoned_schedules = 0;
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ck_assert_int_eq(planted_missing_barrier(dout, dx, N), cudaSuccess);
        to_host(got, dout, sizeof got);
        int nan = 0;
        for (int i = 0; i < N; i++)
            nan += isnan(got[i]);
        poisoned_schedules += nan > 0;
    }
    ck_assert_int_eq(poisoned_schedules, cut_schedule_count()); // every schedule shows the race
    cudaFree(dx);
    cudaFree(dout);
}
END_TEST

START_TEST(barrier_after_early_return_is_reported) {
    float *d = dev_alloc(64 * sizeof(float));
    const char *needles[] = {"early_return_kernel",
                             "__syncthreads at tests/cuda_emu/planted.cu:", "has exited", "block (0,0,0)"};
    expect_report(planted_early_return(d, 40), "early return", needles, 4);
    cudaFree(d);
}
END_TEST

START_TEST(divergent_shuffle_is_reported) {
    float *d = dev_alloc(32 * sizeof(float));
    const char *needles[] = {"divergent_shuffle_kernel",
                             "__shfl_xor_sync at tests/cuda_emu/planted.cu:", "waits for lane 16",
                             "has exited"};
    expect_report(planted_divergent_shuffle(d), "divergent shuffle", needles, 4);
    cudaFree(d);
}
END_TEST

START_TEST(two_barriers_and_bad_masks_and_sizes_are_reported) {
    float *d = dev_alloc(64 * sizeof(float));
    const char *two[] = {"two_barriers_kernel", "waits at __syncthreads at tests/cuda_emu/planted.cu:"};
    expect_report(planted_two_barriers(d), "two barriers", two, 2);
    const char *mask[] = {"foreign_mask_kernel", "does not hold the calling lane 16"};
    expect_report(planted_foreign_mask(d), "foreign mask", mask, 2);
    const char *big[] = {"block (2048,1,1)", "beyond the hardware"};
    expect_report(planted_oversized(d), "oversized launch", big, 2);
    // After all of that the emulator still runs good kernels.
    ck_assert_int_eq(planted_read_shared(d, 32, 1), cudaSuccess);
    cudaFree(d);
}
END_TEST

START_TEST(memory_errors_are_cuda_errors) {
    char host[16] = {0};
    ck_assert_int_eq(cudaMemcpy(host, host + 8, 8, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
    ck_assert_int_eq(cudaFree(host), cudaErrorInvalidDevicePointer);
    void *p = NULL;
    emu_fail_malloc_after(1);
    ck_assert_int_eq(cudaMalloc(&p, 64), cudaErrorMemoryAllocation);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(cudaMalloc(&p, 64), cudaErrorMemoryAllocation); // and the ones after it
    emu_fail_malloc_after(0);
    cudaGetLastError();
    long live = emu_live_allocations();
    ck_assert_int_eq(cudaMalloc(&p, 64), cudaSuccess);
    ck_assert_int_eq(emu_live_allocations(), live + 1);
    cudaFree(p);
    ck_assert_int_eq(emu_live_allocations(), live);
}
END_TEST

// Through the backend: a device allocation that fails inside an op, and a failed launch, end
// as the context's first error, returned by the next transfer; nothing aborts.
START_TEST(op_failures_reach_the_context_error) {
    ug_tensor h = cut_rand(UG_DIMS(3, 5), -1, 1, 7);
    ug_tensor d = cut_upload(&h), strided = ug_view_transpose(&d, 0, 1),
              out = cut_empty(UG_F32, UG_DIMS(5, 3));
    ug_arena_mark m = cu_mark(&cut_ctx);
    emu_fail_malloc_after(1);
    ug_tensor c;
    bool ok = cu_contiguous_f32(&cut_ctx, &c, &strided, "planted op");
    emu_fail_malloc_after(0);
    cu_release(&cut_ctx, m);
    ck_assert(!ok && cu_failed(&cut_ctx));
    ug_err err;
    ug_tensor back;
    ck_assert_int_eq(ug_to_host(&cut_ctx, &back, &out, &err), UG_ERR_NOMEM);
    ck_assert_msg(strstr(err.msg, "cuda: planted op: out of device memory"), "%s", err.msg);
    ck_assert_ptr_null(back.data);
    ug_tensor_free(&out);
    ug_tensor_free(&d);
    ug_tensor_free(&h);

    // A fresh context: a failed launch names the op and carries the emulator's report.
    cut_teardown_keep_error();
    cut_setup();
    float *buf = dev_alloc(64 * sizeof(float));
    ck_assert(!cu_check(&cut_ctx, planted_early_return(buf, 3), "planted op"));
    ck_assert_int_eq(ug_ctx_device_status(&cut_ctx, &err), UG_ERR_INTERNAL);
    ck_assert_msg(strstr(err.msg, "cuda: planted op: kernel early_return_kernel"), "%s", err.msg);
    cudaFree(buf);
    cut_teardown_keep_error();
    cut_setup();
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc =
        test_case(&(test_case_def){.name = "cuda_emu", .setup = cut_setup, .teardown = cut_teardown}, &s);
    test_add(tc, block_reduction_and_shuffles_exact_under_every_schedule,
             warp_collectives_match_their_definitions, schedules_reorder_threads_and_blocks,
             shared_and_fresh_device_memory_start_as_poison, missing_barrier_reads_poison,
             barrier_after_early_return_is_reported, divergent_shuffle_is_reported,
             two_barriers_and_bad_masks_and_sizes_are_reported, memory_errors_are_cuda_errors,
             op_failures_reach_the_context_error);
    return test_run_suite(s);
}
