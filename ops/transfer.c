// ops/transfer.c — tensors across the host/device boundary (ops/ops.h: ug_to_device, ug_to_host).
// A strided source is first made contiguous on its own device by that device's copy kernel,
// so the bytes that cross are always one contiguous block.
#include <string.h>

#include "ops/ops.h"

static const ug_memory *memory_for(const ug_ctx *ctx, ug_device d) {
    return ug_backend_for(ctx, d)->mem;
}

ug_status ug_tensor_new_dev(ug_ctx *ctx, ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape,
                            ug_err *err) {
    return ug_tensor_new_on(t, memory_for(ctx, ctx->device), dt, ndim, shape, err);
}

// *dense = x when x is contiguous (a view), else a contiguous copy on x's device (owned).
static ug_status contiguous_on_own_device(ug_ctx *ctx, ug_tensor *dense, const ug_tensor *x, ug_err *err) {
    if (ug_tensor_is_contiguous(x)) {
        *dense = *x;
        dense->alloc = NULL;
        dense->mem = NULL;
        return UG_OK;
    }
    ug_status st = ug_tensor_new_on(dense, memory_for(ctx, x->device), x->dtype, x->ndim, x->shape, err);
    if (st == UG_OK) ug_copy(ctx, dense, x);
    return st;
}

static ug_status transfer(ug_ctx *ctx, ug_tensor *out, const ug_tensor *x, ug_device to, ug_err *err) {
    memset(out, 0, sizeof *out);
    // A device op that failed earlier is reported here, before its output is copied.
    ug_status st = ug_ctx_device_status(ctx, err);
    if (st != UG_OK) return st;
    ug_tensor src;
    st = contiguous_on_own_device(ctx, &src, x, err);
    if (st != UG_OK) return st;
    if ((st = ug_tensor_new_on(out, memory_for(ctx, to), x->dtype, x->ndim, x->shape, err)) != UG_OK)
        goto done;
    size_t bytes = ug_tensor_nbytes(x);
    if (x->device == to)
        ug_copy(ctx, out, &src);
    else if (to == UG_CPU)
        st = memory_for(ctx, x->device)->to_host(out->data, src.data, bytes, err);
    else if (x->device == UG_CPU)
        st = memory_for(ctx, to)->to_device(out->data, src.data, bytes, err);
    else
        st = ug_errf(err, UG_ERR_UNSUPPORTED, "transfer: %s to %s goes through the host",
                     ug_device_name(x->device), ug_device_name(to));
    if (st == UG_OK) st = ug_ctx_device_status(ctx, err);
    if (st != UG_OK) ug_tensor_free(out);
done:
    ug_tensor_free(&src);
    return st;
}

ug_status ug_to_device(ug_ctx *ctx, ug_tensor *out, const ug_tensor *x, ug_err *err) {
    return transfer(ctx, out, x, ctx->device, err);
}

ug_status ug_to_host(ug_ctx *ctx, ug_tensor *out, const ug_tensor *x, ug_err *err) {
    return transfer(ctx, out, x, UG_CPU, err);
}
