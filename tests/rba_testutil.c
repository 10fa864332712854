// tests/rba_testutil.c — see rba_testutil.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/npy.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"
#include "weights-tools/packer.h"

// Packs golden/<rel> into dir/<out> as `arch` with the given --set entries; the malloc'ed
// output path, or NULL with a message on stderr.
static char *pack_golden(const char *dir, const char *rel, const char *out, const char *arch,
                         const char *const *sets, int nset, ug_dtype dtype) {
    char *in = test_golden_path(rel);
    size_t n = strlen(dir) + strlen(out) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, out);
    ug_pack_opts opts = {.arch = arch, .dtype = dtype, .set = sets, .nset = nset};
    ug_pack_stats stats;
    ug_err err;
    ug_status st = ug_pack(in, path, &opts, &stats, &err);
    free(in);
    if (st != UG_OK) {
        fprintf(stderr, "packing %s: %s\n", rel, err.msg);
        free(path);
        return NULL;
    }
    return path;
}

char *rba_test_pack(const char *dir, const char *ckpt, const char *out) {
    return rba_test_pack_as(dir, ckpt, out, UG_F32);
}

char *rba_test_pack_as(const char *dir, const char *ckpt, const char *out, ug_dtype dtype) {
    char rel[256];
    snprintf(rel, sizeof rel, "rba_tiny/%s", ckpt);
    static const char *const sets[] = {"pixel_decoder_transformer_nheads=4", "decoder_nheads=4"};
    return pack_golden(dir, rel, out, "rba", sets, 2, dtype);
}

char *sam_test_pack(const char *dir, const char *out) {
    return sam_test_pack_as(dir, out, UG_F32);
}

char *sam_test_pack_as(const char *dir, const char *out, ug_dtype dtype) {
    static const char *const sets[] = {"decoder_transformer_num_heads=4"};
    return pack_golden(dir, "sam_tiny/sam_tiny.pth", out, "sam", sets, 1, dtype);
}

// Packs golden sam_tiny (ckpt NULL) or rba_tiny/<ckpt> into dir/<out> and loads it into *sam
// or *rba; false with a message on stderr (a load error as "<who>: <message>").
static bool pack_and_load(const char *dir, const char *ckpt, const char *out, const char *who,
                          sam_model **sam, rba_model **rba) {
    char *path = ckpt ? rba_test_pack(dir, ckpt, out) : sam_test_pack(dir, out);
    ug_err err;
    ug_status st = !path ? UG_ERR_IO : ckpt ? rba_load(rba, path, &err) : sam_load(sam, path, &err);
    if (path && st != UG_OK) fprintf(stderr, "%s: %s\n", who, err.msg);
    free(path);
    return st == UG_OK;
}

sam_model *sam_test_load(const char *dir, const char *out, const char *who) {
    sam_model *m = NULL;
    return pack_and_load(dir, NULL, out, who, &m, NULL) ? m : NULL;
}

rba_model *rba_test_load(const char *dir, const char *ckpt, const char *out, const char *who) {
    rba_model *m = NULL;
    return pack_and_load(dir, ckpt, out, who, NULL, &m) ? m : NULL;
}

ug_status rba_test_open(const char *path, ug_st_file **st, ug_json_doc **cfg, ug_err *err) {
    *cfg = NULL;
    ug_status s = ug_st_open(st, path, err);
    if (s != UG_OK) return s;
    const char *json = ug_st_meta(*st, "config");
    s = json ? ug_json_parse(cfg, json, strlen(json), "config", err)
             : ug_errf(err, UG_ERR_FORMAT, "no config");
    if (s != UG_OK) {
        ug_st_close(*st);
        *st = NULL;
    }
    return s;
}

static char *stem_path(const char *stem) {
    char rel[256];
    snprintf(rel, sizeof rel, "rba_tiny/%s.npy", stem);
    return test_golden_path(rel);
}

bool rba_golden_exists(const char *stem) {
    char *p = stem_path(stem);
    bool ok = access(p, R_OK) == 0;
    free(p);
    return ok;
}

ug_tensor rba_golden(const char *stem) {
    char *p = stem_path(stem);
    ug_tensor t;
    ug_err err;
    ug_status st = ug_npy_read_folded(p, &t, NULL, &err); // some golden arrays have 6 dims
    free(p);
    ck_assert_msg(st == UG_OK, "%s: %s", stem, err.msg);
    return t;
}

void rba_check(const ug_tensor *got, const char *stem, double atol, double rtol) {
    ug_tensor want = rba_golden(stem);
    ck_assert_msg(ug_tensor_numel(got) == ug_tensor_numel(&want), "%s: %lld elements, golden has %lld", stem,
                  (long long)ug_tensor_numel(got), (long long)ug_tensor_numel(&want));
    ck_assert(got->dtype == UG_F32 && ug_tensor_is_contiguous(got));
    test_assert_close(got->data, want.data, (size_t)ug_tensor_numel(&want), atol, rtol, stem);
    ug_tensor_free(&want);
}

bool test_pack_tiny_pair(const char *dir, char *sam, char *rba, size_t n) {
    char *sp = sam_test_pack(dir, "sam.safetensors");
    char *rp = sp ? rba_test_pack(dir, "rba_tiny_1dl.d2.pth", "rba.safetensors") : NULL;
    if (rp) {
        snprintf(sam, n, "%s", sp);
        snprintf(rba, n, "%s", rp);
    }
    free(sp);
    free(rp);
    return rp != NULL;
}
