// ops/attention.c — fused multi-head attention (see attention.h): the reference, argument
// checks, and the AVX2 instance of the tiled kernel in ops/attention_tile.h (the AVX-512
// instance is ops/attention_avx512.c).
#include "ops/attention.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

#include "engine/cpu.h"
#include "ops/gemm.h"

#define UG_ATTENTION_TILE_IMPL
#include "ops/attention_tile.h"

void attention_ref(float *out, int64_t ldo, const float *q, int64_t ldq, const float *k, int64_t ldk,
                   const float *v, int64_t ldv, const float *bias, int64_t ldb, const uint8_t *mask,
                   int64_t ldm, int64_t Nq, int64_t Nk, int64_t D, int64_t Dv, float scale) {
    double *logit = malloc((size_t)(Nk > 0 ? Nk : 1) * sizeof *logit); // [Nk]
    double *acc = malloc((size_t)(Dv > 0 ? Dv : 1) * sizeof *acc);     // [Dv]
    if (!logit || !acc) abort();                                       // test-only code
    for (int64_t i = 0; i < Nq; i++) {
        double m = -INFINITY;
        for (int64_t j = 0; j < Nk; j++) {
            double s = 0;
            for (int64_t d = 0; d < D; d++)
                s += (double)q[i * ldq + d] * (double)k[j * ldk + d];
            s *= scale;
            if (bias) s += bias[i * ldb + j];
            if (mask && mask[i * ldm + j]) s = -INFINITY;
            logit[j] = s;
            m = fmax(m, s);
        }
        for (int64_t d = 0; d < Dv; d++)
            acc[d] = 0;
        double sum = 0;
        if (m > -INFINITY) { // otherwise every key is masked: zeros
            for (int64_t j = 0; j < Nk; j++) {
                double p = exp(logit[j] - m);
                sum += p;
                for (int64_t d = 0; d < Dv; d++)
                    acc[d] += p * v[j * ldv + d];
            }
        }
        for (int64_t d = 0; d < Dv; d++)
            out[i * ldo + d] = sum > 0 ? (float)(acc[d] / sum) : 0.0f;
    }
    free(logit);
    free(acc);
}

static ug_status check_qkv(const ug_tensor *t, const char *what, ug_err *err) {
    if (t->dtype != UG_F32 || t->device != UG_CPU)
        return ug_errf(err, UG_ERR_ARG, "attention: %s must be an F32 CPU tensor, got %s", what,
                       ug_dtype_name(t->dtype));
    if (t->ndim != 4)
        return ug_errf(err, UG_ERR_ARG, "attention: %s must have 4 dims, got %d", what, t->ndim);
    if (t->shape[3] > 1 && t->stride[3] != 1)
        return ug_errf(err, UG_ERR_ARG, "attention: %s must have a unit last stride, got %lld", what,
                       (long long)t->stride[3]);
    return UG_OK;
}

// Strides of t broadcast (numpy rules) to `full` [4]; size-1 dims get stride 0.
static ug_status broadcast_term(const ug_tensor *t, ug_dtype want, ug_dtype alt, const int64_t *full,
                                const char *what, attn_term *term, ug_err *err) {
    if ((t->dtype != want && t->dtype != alt) || t->device != UG_CPU)
        return ug_errf(err, UG_ERR_ARG, "attention: %s has dtype %s, expected %s", what,
                       ug_dtype_name(t->dtype), ug_dtype_name(want));
    if (t->ndim < 1 || t->ndim > 4)
        return ug_errf(err, UG_ERR_ARG, "attention: %s must have 1 to 4 dims, got %d", what, t->ndim);
    term->p = t->data;
    for (int d = 0; d < 4; d++) {
        int td = d - (4 - t->ndim);
        term->s[d] = 0;
        if (td < 0) continue;
        if (t->shape[td] == full[d])
            term->s[d] = full[d] == 1 ? 0 : t->stride[td];
        else if (t->shape[td] != 1) {
            char buf[96];
            return ug_errf(err, UG_ERR_ARG,
                           "attention: %s has shape %s, not broadcastable to [%lld,%lld,%lld,%lld]", what,
                           ug_shape_str(t, buf, sizeof buf), (long long)full[0], (long long)full[1],
                           (long long)full[2], (long long)full[3]);
        }
    }
    return UG_OK;
}

// Fills the plan (everything but ctx) from the tensors; the single place arguments are checked.
static ug_status make_plan(attn_plan *p, const ug_tensor *out, const ug_tensor *q, const ug_tensor *k,
                           const ug_tensor *v, const ug_attn_extra *extra, ug_err *err) {
    ug_status st;
    if ((st = check_qkv(q, "q", err)) || (st = check_qkv(k, "k", err)) || (st = check_qkv(v, "v", err)) ||
        (st = check_qkv(out, "out", err)))
        return st;
    *p = (attn_plan){.B = q->shape[0],
                     .H = q->shape[1],
                     .Nq = q->shape[2],
                     .Nk = k->shape[2],
                     .D = q->shape[3],
                     .Dv = v->shape[3],
                     .q = q->data,
                     .k = k->data,
                     .v = v->data,
                     .out = out->data};
    char buf[96];
    if (ug_tensor_check_shape(k, UG_DIMS(p->B, p->H, p->Nk, p->D), "attention: k", err) ||
        ug_tensor_check_shape(v, UG_DIMS(p->B, p->H, p->Nk, p->Dv), "attention: v", err) ||
        ug_tensor_check_shape(out, UG_DIMS(p->B, p->H, p->Nq, p->Dv), "attention: out", err)) {
        ug_err_prefix(err, "q %s: ", ug_shape_str(q, buf, sizeof buf));
        return UG_ERR_ARG;
    }
    for (int d = 0; d < 3; d++) {
        p->sq[d] = q->stride[d];
        p->sk[d] = k->stride[d];
        p->sv[d] = v->stride[d];
        p->so[d] = out->stride[d];
    }
    if (!extra) return UG_OK;
    const int64_t full[4] = {p->B, p->H, p->Nq, p->Nk};
    for (int t = 0; t < 2; t++) {
        if (!extra->bias[t]) continue;
        if ((st = broadcast_term(extra->bias[t], UG_F32, UG_F32, full, t ? "bias[1]" : "bias[0]",
                                 &p->bias[p->nbias], err)))
            return st;
        p->nbias++;
    }
    if (extra->mask && (st = broadcast_term(extra->mask, UG_U8, UG_BOOL, full, "mask", &p->mask, err)))
        return st;
    if (!extra->rel_h != !extra->rel_w)
        return ug_errf(err, UG_ERR_ARG, "attention: rel_h and rel_w must be given together");
    if (extra->rel_h) {
        const ug_tensor *rh = extra->rel_h, *rw = extra->rel_w;
        if (rh->ndim < 1 || rw->ndim < 1)
            return ug_errf(err, UG_ERR_ARG, "attention: rel_h and rel_w need at least one dim");
        p->kh = rh->shape[rh->ndim - 1];
        p->kw = rw->shape[rw->ndim - 1];
        if (p->kh * p->kw != p->Nk)
            return ug_errf(err, UG_ERR_ARG,
                           "attention: rel_h/rel_w grid %lld x %lld does not match %lld keys",
                           (long long)p->kh, (long long)p->kw, (long long)p->Nk);
        const int64_t fh[4] = {p->B, p->H, p->Nq, p->kh}, fw[4] = {p->B, p->H, p->Nq, p->kw};
        if ((st = broadcast_term(rh, UG_F32, UG_F32, fh, "rel_h", &p->rel_h, err)) ||
            (st = broadcast_term(rw, UG_F32, UG_F32, fw, "rel_w", &p->rel_w, err)))
            return st;
        if ((p->kh > 1 && p->rel_h.s[3] != 1) || (p->kw > 1 && p->rel_w.s[3] != 1))
            return ug_errf(err, UG_ERR_ARG, "attention: rel_h and rel_w must have a unit last stride");
    }
    return UG_OK;
}

ug_status attention_check(const ug_tensor *out, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
                          const ug_attn_extra *extra, ug_err *err) {
    attn_plan p;
    return make_plan(&p, out, q, k, v, extra, err);
}

void attention_cpu(ug_ctx *ctx, ug_tensor *out, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
                   const ug_attn_extra *extra, float scale) {
    attn_plan p;
    ug_err err;
    ug_status st = make_plan(&p, out, q, k, v, extra, &err);
    assert(st == UG_OK && "attention_cpu: invalid arguments (attention_check tells which)");
    if (st != UG_OK) return;
    p.ctx = ctx;
    p.scale = scale;
    if (p.B * p.H * p.Nq == 0 || p.Dv == 0) return;
    if (gemm_uses_bf16(ctx))
        attention_run_avx512bf16(&p);
    else if (ug_cpu_use_avx512())
        attention_run_avx512(&p);
    else
        attention_run_avx2(&p);
}
