// weights-tools/packer.c — see packer.h.
#include "weights-tools/packer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/safetensors.h"
#include "weights-tools/arch.h"
#include "weights-tools/torch_ckpt.h"

static bool is_float(ug_dtype dt) {
    return dt == UG_F32 || dt == UG_F16 || dt == UG_BF16 || dt == UG_F64;
}

static float load(ug_dtype dt, const void *p, size_t i) {
    switch (dt) {
    case UG_F32: return ((const float *)p)[i];
    case UG_F16: return ug_f16_to_f32(((const uint16_t *)p)[i]);
    case UG_BF16: return ug_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return (float)((const double *)p)[i]; // UG_F64
    }
}

static void store(ug_dtype dt, void *p, size_t i, float v) {
    switch (dt) {
    case UG_F32: ((float *)p)[i] = v; break;
    case UG_F16: ((uint16_t *)p)[i] = ug_f32_to_f16(v); break;
    default: ((uint16_t *)p)[i] = ug_f32_to_bf16(v); break; // UG_BF16
    }
}

// Converts n elements in place. Narrowing runs forward, widening backward, so no element is
// overwritten before it is read.
static void convert(void *buf, size_t n, ug_dtype from, ug_dtype to) {
    if (from == to) return;
    if (ug_dtype_size(to) <= ug_dtype_size(from)) {
        for (size_t i = 0; i < n; i++)
            store(to, buf, i, load(from, buf, i));
    } else {
        for (size_t i = n; i-- > 0;)
            store(to, buf, i, load(from, buf, i));
    }
}

static void emit(const ug_pack_opts *o, const char *msg) {
    if (o->note) o->note(o->user, msg);
}

ug_status ug_pack(const char *in, const char *out, const ug_pack_opts *o, ug_pack_stats *stats_out,
                  ug_err *err) {
    ug_pack_stats local, *stats = stats_out ? stats_out : &local; // stats are optional
    memset(stats, 0, sizeof *stats);
    if (o->dtype != UG_F32 && o->dtype != UG_BF16 && o->dtype != UG_F16)
        return ug_errf(err, UG_ERR_ARG, "output dtype %s is not one of F32, BF16, F16",
                       ug_dtype_name(o->dtype));
    struct stat si, so;
    if (stat(in, &si) == 0 && stat(out, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        return ug_errf(err, UG_ERR_ARG, "%s: --out is the input file", out);
    ug_ckpt *ck = NULL;
    ug_arch_plan plan = {0};
    ug_st_writer *w = NULL;
    uint8_t *buf = NULL;
    ug_status st = ug_ckpt_open(&ck, in, err);
    if (st) return st;
    for (int i = 0; i < ug_ckpt_note_count(ck); i++)
        emit(o, ug_ckpt_note(ck, i));
    if ((st = ug_arch_plan_make(ck, o->arch, o->set, o->nset, &plan, err))) goto done;
    for (int i = 0; i < plan.nnotes; i++)
        emit(o, plan.notes[i]);
    for (int i = 0; i < plan.nwarnings; i++) {
        if (o->warn)
            o->warn(o->user, plan.warnings[i]);
        else
            emit(o, plan.warnings[i]);
    }

    size_t max_bytes = 1;
    for (int i = 0; i < plan.n; i++) {
        const ug_ckpt_tensor *t = plan.items[i].src;
        size_t n = t->nbytes / ug_dtype_size(t->dtype), need = t->nbytes;
        if (is_float(t->dtype) && n * ug_dtype_size(o->dtype) > need) need = n * ug_dtype_size(o->dtype);
        if (need > max_bytes) max_bytes = need;
    }
    if (!(buf = malloc(max_bytes))) {
        st = ug_errf(err, UG_ERR_NOMEM, "%s: cannot allocate a %zu-byte tensor buffer", in, max_bytes);
        goto done;
    }
    stats->buffer_bytes = max_bytes;
    if ((st = ug_st_writer_create(&w, out, err)) || (st = ug_st_writer_meta(w, "arch", plan.arch, err)) ||
        (st = ug_st_writer_meta(w, "config", plan.config_json, err)))
        goto done;
    for (int i = 0; i < plan.n && !st; i++) {
        const ug_ckpt_tensor *t = plan.items[i].src;
        st = ug_st_writer_declare(w, plan.items[i].name, is_float(t->dtype) ? o->dtype : t->dtype, t->ndim,
                                  t->shape, err);
    }
    if (st || (st = ug_st_writer_begin(w, err))) goto done;
    for (int i = 0; i < plan.n && !st; i++) {
        const ug_ckpt_tensor *t = plan.items[i].src;
        size_t n = t->nbytes / ug_dtype_size(t->dtype);
        ug_dtype to = is_float(t->dtype) ? o->dtype : t->dtype;
        if ((st = ug_ckpt_read(ck, t, buf, err))) break;
        convert(buf, n, t->dtype, to);
        st = ug_st_writer_write(w, buf, n * ug_dtype_size(to), err);
        stats->bytes += n * ug_dtype_size(to);
    }
    if (!st) {
        st = ug_st_writer_finish(w, err);
        w = NULL;
    }
    if (!st) {
        snprintf(stats->arch, sizeof stats->arch, "%s", plan.arch);
        stats->ntensors = plan.n;
    }
done:
    if (w) ug_st_writer_abort(w);
    free(buf);
    ug_arch_plan_free(&plan);
    ug_ckpt_close(ck);
    return st;
}
