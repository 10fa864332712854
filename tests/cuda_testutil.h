// tests/cuda_testutil.h — what the CUDA kernel suites (tests/test_cuda_<op>.c, built only by
// make CUDA=emu / CUDA=1) share: a context on the CUDA device, host <-> device copies of test
// tensors, and running one case under every emulator schedule.
//
// The pattern of a kernel test:
//     host inputs (test_fill_uniform) -> want = <op>_ref(...) on the host
//     for each schedule (cut_schedules): upload, <op>_cuda(&cut_ctx, ...), download, compare
//     to want with the op's tolerance, and to the first schedule's output bit for bit when the
//     kernel is deterministic (cut_check).
// On a real GPU (make CUDA=1) the schedule list is just the hardware's own.
#ifndef UG_TEST_CUDA_TESTUTIL_H
#define UG_TEST_CUDA_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/cuda/backend_cuda.h"
#include "tests/helpers.h"

// A context whose device is CUDA: fixture pair for tcase_add_checked_fixture. The teardown
// fails the test if an entry recorded a device error that the test did not look at.
extern ug_ctx cut_ctx;
void cut_setup(void);
void cut_teardown(void);
// Frees the context without looking at its error (tests that make ops fail on purpose).
void cut_teardown_keep_error(void);

// The schedules a case runs under: "fwd", "rev", "rand:1", "rand:2" in an emulated build,
// "gpu" (one run) on a real device. cut_use_schedule(i) selects the i-th.
int cut_schedule_count(void);
const char *cut_use_schedule(int i);

// A device copy of a host tensor (owning, contiguous); a host copy of a device tensor (owning).
ug_tensor cut_upload(const ug_tensor *host);
ug_tensor cut_download(const ug_tensor *dev);
// A device tensor of this shape whose bytes are all 0xFF (NaN / -1): outputs start as poison.
ug_tensor cut_empty(ug_dtype dt, int ndim, const int64_t *shape);
// n uniform(-1, 1) weights from seed, rounded to dt (F32, BF16 or F16): *q gets them in dt (for
// upload as packed weights), the return value the same values widened to F32 (the reference's
// operand). Both malloc'ed, freed by the caller.
float *cut_rand_weights(int64_t n, ug_dtype dt, uint64_t seed, void **q);
// A new host tensor (zeroed; aborts the test on failure).
ug_tensor cut_host_new(ug_dtype dt, int ndim, const int64_t *shape);
// The view of dparent (a device copy of hparent) that hview is of hparent: the same offset, shape
// and strides, for running a kernel on the device counterpart of a strided host view.
ug_tensor cut_dev_view(const ug_tensor *dparent, const ug_tensor *hparent, const ug_tensor *hview);
// A host F32 tensor of uniform(lo, hi) values from seed.
ug_tensor cut_rand(int ndim, const int64_t *shape, float lo, float hi, uint64_t seed);

// Fails the test when ctx has a recorded device error (message included).
void cut_assert_ok(void);

// Compares the device tensor got (F32) with want (host F32, numel values) within atol + rtol *
// |want|; when *first is NULL it keeps a host copy of got there, else it also demands got be
// bit-identical to *first (deterministic kernels across schedules). `what` names the case and
// the schedule in failure messages. The caller frees *first after the last schedule.
void cut_check(const ug_tensor *got, const float *want, double atol, double rtol, ug_tensor *first,
               const char *what);
// The same for exact (integer, U8, byte-moving) results: got and want compared as bytes.
void cut_check_exact(const ug_tensor *got, const void *want, ug_tensor *first, const char *what);

#endif
