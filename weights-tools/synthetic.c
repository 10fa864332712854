// weights-tools/synthetic.c — see synthetic.h.
#include "weights-tools/synthetic.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weights-tools/torch_writer.h"

typedef enum { V_ONE, V_ZERO, V_OFFSET, V_EMBED, V_EMPTY, V_RELIDX, V_WEIGHT } value_kind;

typedef struct synth_tensor {
    value_kind kind;
    int64_t numel;
    int64_t window; // V_RELIDX: the Swin window w (the index is [w*w, w*w])
} synth_tensor;

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static synth_tensor classify(const ug_arch_item *it) {
    synth_tensor t = {V_WEIGHT, 1, 0};
    for (int d = 0; d < it->ndim; d++)
        t.numel *= it->shape[d];
    if (it->is_int) {
        t.kind = V_ZERO;
        if (ends_with(it->name, "relative_position_index") && it->ndim == 2 && it->shape[0] == it->shape[1]) {
            int64_t w = (int64_t)llround(sqrt((double)it->shape[0]));
            if (w * w == it->shape[0]) t.kind = V_RELIDX, t.window = w;
        }
    } else if (!strcmp(it->name, "criterion.empty_weight")) {
        t.kind = V_EMPTY;
    } else if (ends_with(it->name, "sampling_offsets.bias")) {
        t.kind = V_OFFSET;
    } else if (it->ndim == 1 && ends_with(it->name, ".weight")) {
        t.kind = V_ONE;
    } else if (it->ndim == 1 && ends_with(it->name, ".bias")) {
        t.kind = V_ZERO;
    } else if (strstr(it->name, "query_feat") || strstr(it->name, "query_embed") ||
               strstr(it->name, "level_embed")) {
        t.kind = V_EMBED;
    }
    return t;
}

// Uniform in [-1, 1) from (tensor, element): a counter-based hash, so any chunk of any tensor
// can be produced independently.
static float hash_unit(int tensor, uint64_t e) {
    uint64_t z = e * 0x9E3779B97F4A7C15ull ^ ((uint64_t)tensor << 40) ^ 0xD1B54A32D192ED03ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static void fill(void *arg, int storage, void *buf, uint64_t off, size_t n) {
    const synth_tensor *t = (const synth_tensor *)arg + storage;
    if (t->kind == V_RELIDX) {
        int64_t *v = buf, w = t->window, nn = w * w;
        for (size_t i = 0; i < n / 8; i++) {
            int64_t e = (int64_t)(off / 8 + i), q = e / nn, k = e % nn;
            int64_t dy = q / w - k / w, dx = q % w - k % w;
            v[i] = (dy + w - 1) * (2 * w - 1) + (dx + w - 1);
        }
        return;
    }
    float *f = buf;
    uint64_t first = off / 4;
    const float sqrt3 = 1.7320508f;
    for (size_t i = 0; i < n / 4; i++) {
        uint64_t e = first + i;
        switch (t->kind) {
        case V_ONE: f[i] = 1.0f; break;
        case V_ZERO: f[i] = 0.0f; break; // also integer zeros: the same bytes
        case V_OFFSET: f[i] = 2.0f * hash_unit(storage, e); break;
        case V_EMBED: f[i] = sqrt3 * hash_unit(storage, e); break;
        case V_EMPTY: f[i] = (int64_t)e == t->numel - 1 ? 0.1f : 1.0f; break;
        case V_WEIGHT: f[i] = 0.02f * sqrt3 * hash_unit(storage, e); break;
        case V_RELIDX: break;
        }
    }
}

ug_status ug_synthetic_write(const char *path, const ug_arch_plan *list, const char *wrapper, uint64_t *bytes,
                             ug_err *err) {
    int n = list->n;
    synth_tensor *ts = calloc((size_t)(n ? n : 1), sizeof *ts);
    uint64_t *sizes = calloc((size_t)(n ? n : 1), sizeof *sizes), total = 0;
    ug_pkw pk;
    ug_pkw_init(&pk);
    ug_status st = UG_OK;
    if (!ts || !sizes) {
        st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory for %d tensor descriptions", path, n);
        goto done;
    }
    // data.pkl: [{wrapper:] OrderedDict(name -> tensor on storage k) [}], storage k = tensor k.
    if (wrapper) {
        ug_pkw_op(&pk, '}');
        ug_pkw_str(&pk, wrapper);
    }
    ug_pkw_global(&pk, "collections", "OrderedDict");
    ug_pkw_op(&pk, ')');
    ug_pkw_op(&pk, 'R');
    ug_pkw_op(&pk, '(');
    for (int i = 0; i < n; i++) {
        const ug_arch_item *it = &list->items[i];
        ts[i] = classify(it);
        int64_t stride[UG_MAX_DIMS], s = 1;
        for (int d = it->ndim - 1; d >= 0; d--) {
            stride[d] = s;
            s *= it->shape[d];
        }
        char key[32];
        snprintf(key, sizeof key, "%d", i);
        ug_dtype dt = it->is_int ? UG_I64 : UG_F32;
        ug_pkw_str(&pk, it->name);
        ug_pkw_tensor(&pk, dt, key, ts[i].numel, 0, it->ndim, it->shape, stride);
        sizes[i] = (uint64_t)ts[i].numel * (it->is_int ? 8u : 4u);
        total += sizes[i];
    }
    ug_pkw_op(&pk, 'u');
    if (wrapper) ug_pkw_op(&pk, 's');
    ug_pkw_op(&pk, '.');
    if (!ug_pkw_ok(&pk)) {
        st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory for the pickle", path);
        goto done;
    }
    st = ug_torch_write(path, "archive", &pk, n, sizes, fill, ts, false, err);
    if (!st && bytes) *bytes = total;
done:
    ug_pkw_free(&pk);
    free(sizes);
    free(ts);
    return st;
}
