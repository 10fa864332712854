// tests/test_pack.c — packing checkpoints to safetensors.
//
// Golden: sam_tiny.pth and the three RbA layouts pack bit for bit (compared with the
// original tensors read through the checkpoint reader, and — independently of the pickle
// machine — with the CRC-32 of the zip's storage entries); the detectron2 .pth and the
// Lightning .ckpt pack to identical files, the 3-layer .pkl to a superset with equal bytes;
// configs equal golden config.json. BF16/F16 round to nearest even. Hostile checkpoints
// written with our torch writer: os.system standing in for a needed tensor (fails naming the
// global, nothing runs), in an ignored top-level entry (succeeds), storage offsets out of
// bounds, huge declared sizes, missing and mis-shaped tensors, truncation, a bad CRC; strided
// and shared storages, zip64, Fortran-order numpy arrays; the CLI's exit codes.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/json.h"
#include "engine/safetensors.h"
#include "tests/cli.h"
#include "tests/helpers.h"
#include "weights-tools/packer.h"
#include "weights-tools/torch_ckpt.h"
#include "weights-tools/torch_writer.h"
#include "weights-tools/zip.h"

static const char *const SAM_SET[] = {"decoder_transformer_num_heads=4"};
static const char *const RBA_SET[] = {"pixel_decoder_transformer_nheads=4", "decoder_nheads=4"};

typedef struct notes {
    char text[8192];
} notes;

static void collect(void *user, const char *msg) {
    notes *n = user;
    size_t k = strlen(n->text);
    snprintf(n->text + k, sizeof n->text - k, "%s\n", msg);
}

static ug_status pack(const char *in, const char *out, ug_dtype dt, const char *const *set, int nset,
                      notes *n, ug_err *err) {
    ug_pack_opts o = {
        .arch = "auto", .dtype = dt, .set = set, .nset = nset, .note = n ? collect : NULL, .user = n};
    ug_pack_stats stats;
    if (n) n->text[0] = '\0';
    return ug_pack(in, out, &o, &stats, err);
}

static bool exists(const char *path) {
    return access(path, F_OK) == 0;
}

// Number of entries in dir (a failed pack must leave nothing behind, not even a temp file).
static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

// Every packed tensor's CRC-32 is the CRC of some storage entry of the original zip: a check
// that does not go through the pickle machine.
static void check_crcs_against_zip(const char *ckpt, ug_st_file *f) {
    ug_zip *z;
    ug_err err;
    ck_assert_int_eq(ug_zip_open(&z, ckpt, &err), UG_OK);
    uint32_t *crcs = malloc((size_t)ug_zip_count(z) * sizeof *crcs);
    int n = 0;
    for (int i = 0; i < ug_zip_count(z); i++)
        if (strstr(ug_zip_at(z, i)->name, "/data/")) crcs[n++] = ug_zip_at(z, i)->crc;
    qsort(crcs, (size_t)n, sizeof *crcs, cmp_u32);
    for (int i = 0; i < ug_st_count(f); i++) {
        const ug_st_entry *e = ug_st_at(f, i);
        uint32_t c = (uint32_t)crc32(0, e->data, (uInt)e->nbytes);
        ck_assert_msg(bsearch(&c, crcs, (size_t)n, sizeof *crcs, cmp_u32), "%s: CRC %08x is no storage of %s",
                      e->name, c, ckpt);
    }
    free(crcs);
    ug_zip_close(z);
}

// Packed tensor == original (read by its checkpoint key) byte for byte.
static void check_against_ckpt(ug_st_file *f, const char *ckpt, const char *const (*rename)[2], int nrename) {
    ug_ckpt *c;
    ug_err err;
    ck_assert_msg(ug_ckpt_open(&c, ckpt, &err) == UG_OK, "%s", err.msg);
    for (int i = 0; i < ug_st_count(f); i++) {
        const ug_st_entry *e = ug_st_at(f, i);
        char src[512];
        snprintf(src, sizeof src, "%s", e->name);
        for (int r = 0; r < nrename; r++) {
            size_t k = strlen(rename[r][0]);
            if (!strncmp(e->name, rename[r][0], k)) {
                snprintf(src, sizeof src, "%s%s", rename[r][1], e->name + k);
                break;
            }
        }
        const ug_ckpt_tensor *t = ug_ckpt_find(c, src);
        ck_assert_msg(t != NULL, "%s: no %s in %s", e->name, src, ckpt);
        ck_assert_int_eq(t->nbytes, e->nbytes);
        ck_assert_int_eq(t->ndim, e->ndim);
        void *buf = malloc(t->nbytes + 1);
        ck_assert_int_eq(ug_ckpt_read(c, t, buf, &err), UG_OK);
        ck_assert_msg(!memcmp(buf, e->data, e->nbytes), "%s differs from %s:%s", e->name, ckpt, src);
        free(buf);
    }
    ug_ckpt_close(c);
}

// The packed config equals golden config.json on every key they share.
static void check_config(ug_st_file *f, const char *golden_rel, const char *skip) {
    char *gp = test_golden_path(golden_rel);
    ug_json_doc *g, *p;
    ug_err err;
    ck_assert_int_eq(ug_json_parse_file(&g, gp, &err), UG_OK);
    const char *cfg = ug_st_meta(f, "config");
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(ug_json_parse(&p, cfg, strlen(cfg), "config", &err), UG_OK);
    const ug_json *pr = ug_json_root(p), *gr = ug_json_root(g);
    int shared = 0;
    for (size_t i = 0; i < pr->len; i++) {
        const ug_json *pv = &pr->items[i], *gv = ug_json_get(gr, pv->key);
        if (skip && !strcmp(pv->key, skip)) continue;
        ck_assert_msg(gv != NULL, "config key %s is not in %s", pv->key, golden_rel);
        shared++;
        ck_assert_msg(pv->type == gv->type, "config %s: type differs", pv->key);
        if (pv->type == UG_JSON_NUMBER)
            ck_assert_msg(pv->number == gv->number, "config %s: %g vs %g", pv->key, pv->number, gv->number);
        if (pv->type == UG_JSON_BOOL) ck_assert_int_eq(pv->boolean, gv->boolean);
        if (pv->type == UG_JSON_STRING) ck_assert_str_eq(pv->str, gv->str);
        if (pv->type == UG_JSON_ARRAY) {
            ck_assert_int_eq(pv->len, gv->len);
            for (size_t k = 0; k < pv->len; k++)
                if (pv->items[k].type == UG_JSON_NUMBER)
                    ck_assert(pv->items[k].number == gv->items[k].number);
                else
                    ck_assert_str_eq(pv->items[k].str, gv->items[k].str);
        }
    }
    ck_assert_int_ge(shared, 25);
    ug_json_free(g);
    ug_json_free(p);
    free(gp);
}

START_TEST(golden_sam_bit_exact) {
    test_require_golden();
    char *dir = test_tmpdir(), *out = test_path_join(dir, "sam.safetensors"),
         *in = test_golden_path("sam_tiny/sam_tiny.pth");
    ug_err err;
    ck_assert_msg(pack(in, out, UG_F32, SAM_SET, 1, NULL, &err) == UG_OK, "%s", err.msg);
    ug_st_file *f;
    ck_assert_int_eq(ug_st_open(&f, out, &err), UG_OK);
    ck_assert_str_eq(ug_st_meta(f, "arch"), "sam");
    ck_assert_int_eq(ug_st_count(f), 202);
    check_crcs_against_zip(in, f);
    check_against_ckpt(f, in, NULL, 0);
    check_config(f, "sam_tiny/config.json", NULL);
    ug_st_close(f);
    // Without the head count the config says 8 heads (the preset) and differs from golden.
    notes n;
    ck_assert_int_eq(pack(in, out, UG_F32, NULL, 0, &n, &err), UG_OK);
    ck_assert_int_eq(ug_st_open(&f, out, &err), UG_OK);
    ck_assert_ptr_nonnull(strstr(ug_st_meta(f, "config"), "\"decoder_transformer_num_heads\":8"));
    ug_st_close(f);
    free(in);
    free(out);
    test_rmtree(dir);
    free(dir);
}
END_TEST

static bool is_extra_decoder_layer(const char *name) {
    const char *const pre[] = {"predictor.transformer_self_attention_layers.",
                               "predictor.transformer_cross_attention_layers.",
                               "predictor.transformer_ffn_layers."};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(pre[i]);
        if (!strncmp(name, pre[i], k) && (name[k] == '1' || name[k] == '2') && name[k + 1] == '.')
            return true;
    }
    return false;
}

START_TEST(golden_rba_three_layouts) {
    test_require_golden();
    const char *files[] = {"rba_tiny/rba_tiny_1dl.d2.pth", "rba_tiny/rba_tiny_1dl.ugains.ckpt",
                           "rba_tiny/rba_tiny_3dl.d2.pkl"};
    char *dir = test_tmpdir(), *in[3], *out[3];
    ug_st_file *f[3];
    ug_err err;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "rba%d.safetensors", i);
        in[i] = test_golden_path(files[i]);
        out[i] = test_path_join(dir, name);
        notes n;
        ck_assert_msg(pack(in[i], out[i], UG_F32, RBA_SET, 2, &n, &err) == UG_OK, "%s", err.msg);
        ck_assert_ptr_nonnull(strstr(n.text, "dropped 8 relative_position_index"));
        if (i != 1) ck_assert_ptr_nonnull(strstr(n.text, "criterion.empty_weight"));
        ck_assert_int_eq(ug_st_open(&f[i], out[i], &err), UG_OK);
        ck_assert_str_eq(ug_st_meta(f[i], "arch"), "rba");
        check_config(f[i], "rba_tiny/config.json", "decoder_dec_layers");
    }
    // detectron2 .pth and Lightning .ckpt: the same file.
    size_t n0, n1;
    void *b0 = test_read_file(out[0], &n0), *b1 = test_read_file(out[1], &n1);
    ck_assert_int_eq(n0, n1);
    ck_assert(!memcmp(b0, b1, n0));
    free(b0);
    free(b1);
    ck_assert_int_eq(ug_st_count(f[0]), 213);
    // The 3-layer pickle: every 1-layer tensor with equal bytes, extras only decoder layers 1-2.
    ck_assert_int_eq(ug_st_count(f[2]), 213 + 2 * 18);
    for (int i = 0; i < ug_st_count(f[0]); i++) {
        const ug_st_entry *a = ug_st_at(f[0], i), *b = ug_st_find(f[2], a->name);
        ck_assert_msg(b != NULL, "%s missing from the .pkl pack", a->name);
        ck_assert_int_eq(a->nbytes, b->nbytes);
        ck_assert_msg(!memcmp(a->data, b->data, a->nbytes), "%s differs between .pth and .pkl", a->name);
    }
    for (int i = 0; i < ug_st_count(f[2]); i++) {
        const char *name = ug_st_at(f[2], i)->name;
        ck_assert_msg(ug_st_find(f[0], name) || is_extra_decoder_layer(name), "unexpected %s", name);
    }
    ck_assert_ptr_nonnull(strstr(ug_st_meta(f[2], "config"), "\"decoder_dec_layers\":3"));
    const char *const d2[][2] = {{"pixel_decoder.", "sem_seg_head.pixel_decoder."},
                                 {"predictor.", "sem_seg_head.predictor."}};
    const char *const ugn[][2] = {{"predictor.", "sem_seg_head."}};
    check_against_ckpt(f[0], in[0], d2, 2);
    check_against_ckpt(f[1], in[1], ugn, 1);
    check_against_ckpt(f[2], in[2], d2, 2);
    check_crcs_against_zip(in[0], f[0]);
    for (int i = 0; i < 3; i++) {
        ug_st_close(f[i]);
        free(in[i]);
        free(out[i]);
    }
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(half_precision_rounding) {
    test_require_golden();
    char *dir = test_tmpdir(), *out = test_path_join(dir, "h.safetensors"),
         *in = test_golden_path("sam_tiny/sam_tiny.pth");
    ug_err err;
    ug_st_file *ref, *f;
    char *ref_path = test_path_join(dir, "f.safetensors");
    ck_assert_int_eq(pack(in, ref_path, UG_F32, SAM_SET, 1, NULL, &err), UG_OK);
    ck_assert_int_eq(ug_st_open(&ref, ref_path, &err), UG_OK);
    for (int k = 0; k < 2; k++) {
        ug_dtype dt = k ? UG_F16 : UG_BF16;
        ck_assert_int_eq(pack(in, out, dt, SAM_SET, 1, NULL, &err), UG_OK);
        ck_assert_int_eq(ug_st_open(&f, out, &err), UG_OK);
        ck_assert_int_eq(ug_st_count(f), ug_st_count(ref));
        for (int i = 0; i < ug_st_count(f); i++) {
            const ug_st_entry *e = ug_st_at(f, i), *r = ug_st_find(ref, e->name);
            ck_assert_int_eq(e->dtype, dt);
            ck_assert_int_eq(e->nbytes * 2, r->nbytes);
            const float *x = r->data;
            const uint16_t *h = e->data;
            for (size_t j = 0; j < e->nbytes / 2; j++)
                ck_assert_int_eq(h[j], dt == UG_BF16 ? ug_f32_to_bf16(x[j]) : ug_f32_to_f16(x[j]));
        }
        ug_st_close(f);
    }
    ug_st_close(ref);
    free(ref_path);
    free(in);
    free(out);
    test_rmtree(dir);
    free(dir);
}
END_TEST

// ---- hostile copies of sam_tiny -------------------------------------------------------------

typedef enum { V_NONE, V_OS_SYSTEM, V_OOB, V_HUGE, V_MISSING, V_RESHAPE } victim_kind;

typedef struct copy_spec {
    const char *wrapper; // NULL: flat state dict
    const char *victim;
    victim_kind kind;
    bool hostile_extras; // hyper_parameters = os.system(...), optimizer_states = a placeholder
    const char *cmd;     // the command handed to os.system
} copy_spec;

typedef struct filler {
    ug_ckpt *c;
    const ug_ckpt_tensor **t;
    int cached;
    uint8_t *cache;
} filler;

static void fill(void *arg, int k, void *buf, uint64_t off, size_t n) {
    filler *f = arg;
    if (f->cached != k) {
        ug_err err;
        free(f->cache);
        f->cache = malloc(f->t[k]->nbytes + 1);
        ck_assert_int_eq(ug_ckpt_read(f->c, f->t[k], f->cache, &err), UG_OK);
        f->cached = k;
    }
    memcpy(buf, f->cache + off, n);
}

static void os_system(ug_pkw *w, const char *cmd) {
    ug_pkw_global(w, "os", "system");
    ug_pkw_str(w, cmd);
    ug_pkw_op(w, 0x85);
    ug_pkw_op(w, 'R');
}

static void copy_ckpt(const char *src, const char *dst, const copy_spec *s) {
    ug_ckpt *c;
    ug_err err;
    ck_assert_int_eq(ug_ckpt_open(&c, src, &err), UG_OK);
    int n = ug_ckpt_count(c);
    filler fl = {c, calloc((size_t)n, sizeof *fl.t), -1, NULL};
    uint64_t *sizes = calloc((size_t)n, sizeof *sizes);
    ug_pkw w;
    ug_pkw_init(&w);
    if (s->wrapper) {
        ug_pkw_op(&w, '}');
        ug_pkw_str(&w, s->wrapper);
    }
    ug_pkw_global(&w, "collections", "OrderedDict");
    ug_pkw_op(&w, ')');
    ug_pkw_op(&w, 'R');
    ug_pkw_op(&w, '(');
    for (int i = 0; i < n; i++) {
        const ug_ckpt_tensor *t = ug_ckpt_at(c, i);
        fl.t[i] = t;
        sizes[i] = t->nbytes;
        bool victim = s->victim && !strcmp(t->name, s->victim);
        if (victim && s->kind == V_MISSING) continue;
        int64_t numel = (int64_t)(t->nbytes / ug_dtype_size(t->dtype)), stride[UG_MAX_DIMS], acc = 1,
                shape[UG_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        if (victim && s->kind == V_RESHAPE) shape[0] = t->shape[1], shape[1] = t->shape[0];
        for (int d = t->ndim - 1; d >= 0; d--)
            stride[d] = acc, acc *= shape[d];
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        ug_pkw_str(&w, t->name);
        if (victim && s->kind == V_OS_SYSTEM)
            os_system(&w, s->cmd);
        else if (victim && s->kind == V_OOB)
            ug_pkw_tensor(&w, t->dtype, key, numel, 1, t->ndim, shape, stride);
        else if (victim && s->kind == V_HUGE)
            ug_pkw_tensor(&w, t->dtype, key, (int64_t)1 << 40, 0, t->ndim, shape, stride);
        else
            ug_pkw_tensor(&w, t->dtype, key, numel, 0, t->ndim, shape, stride);
    }
    ug_pkw_op(&w, 'u');
    if (s->wrapper) {
        ug_pkw_op(&w, 's');
        if (s->hostile_extras) {
            ug_pkw_str(&w, "hyper_parameters");
            os_system(&w, s->cmd);
            ug_pkw_op(&w, 's');
            ug_pkw_str(&w, "optimizer_states");
            ug_pkw_global(&w, "torch.optim.adamw", "AdamW");
            ug_pkw_op(&w, ')');
            ug_pkw_op(&w, 0x81); // NEWOBJ
            ug_pkw_op(&w, 's');
        }
    }
    ug_pkw_op(&w, '.');
    ck_assert_int_eq(ug_torch_write(dst, "copy", &w, n, sizes, fill, &fl, false, &err), UG_OK);
    ug_pkw_free(&w);
    free(fl.cache);
    free(fl.t);
    free(sizes);
    ug_ckpt_close(c);
}

START_TEST(hostile_globals) {
    test_require_golden();
    char *dir = test_tmpdir(), *src = test_golden_path("sam_tiny/sam_tiny.pth");
    char *bad = test_path_join(dir, "bad.pth"), *ok = test_path_join(dir, "ok.ckpt"),
         *out = test_path_join(dir, "out.safetensors");
    char *sentinel = test_path_join(dir, "pwned"), cmd[4400];
    snprintf(cmd, sizeof cmd, "touch %s", sentinel);
    ug_err err;
    notes n;
    // os.system in the place of a needed tensor: fails, naming the tensor and the global.
    copy_spec s1 = {.victim = "image_encoder.blocks.0.attn.qkv.weight", .kind = V_OS_SYSTEM, .cmd = cmd};
    copy_ckpt(src, bad, &s1);
    ck_assert_int_eq(pack(bad, out, UG_F32, SAM_SET, 1, &n, &err), UG_ERR_FORMAT);
    ck_assert_ptr_nonnull(
        strstr(err.msg, "image_encoder.blocks.0.attn.qkv.weight is an object made by os.system"));
    ck_assert(!exists(out));
    ck_assert(!exists(sentinel));
    ck_assert_int_eq(count_files(dir), 1);
    // The same global in ignored top-level entries of a Lightning-style checkpoint: packs.
    copy_spec s2 = {.wrapper = "state_dict", .hostile_extras = true, .cmd = cmd};
    copy_ckpt(src, ok, &s2);
    ck_assert_msg(pack(ok, out, UG_F32, SAM_SET, 1, &n, &err) == UG_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(n.text, "ignored top-level entries: hyper_parameters, optimizer_states"));
    ck_assert(!exists(sentinel));
    ug_st_file *f;
    ck_assert_int_eq(ug_st_open(&f, out, &err), UG_OK);
    check_against_ckpt(f, src, NULL, 0);
    ug_st_close(f);
    free(bad);
    free(ok);
    free(out);
    free(sentinel);
    free(src);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(hostile_shapes_and_offsets) {
    test_require_golden();
    char *dir = test_tmpdir(), *src = test_golden_path("sam_tiny/sam_tiny.pth");
    char *bad = test_path_join(dir, "bad.pth"), *out = test_path_join(dir, "out.safetensors");
    const struct {
        victim_kind kind;
        const char *victim, *why;
    } cases[] = {
        {V_OOB, "image_encoder.pos_embed", "reaching element 24576 of storage '0' (24576 elements"},
        {V_HUGE, "image_encoder.neck.0.weight", "less than the 4398046511104 its persistent id declares"},
        {V_MISSING, "mask_decoder.iou_token.weight", "1 tensors missing (mask_decoder.iou_token.weight)"},
        {V_RESHAPE, "image_encoder.blocks.2.attn.qkv.weight",
         "1 mis-shaped (image_encoder.blocks.2.attn.qkv.weight F32 [96,288], expected [288,96]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_spec s = {.victim = cases[i].victim, .kind = cases[i].kind};
        copy_ckpt(src, bad, &s);
        ug_err err;
        ck_assert_msg(pack(bad, out, UG_F32, SAM_SET, 1, NULL, &err) != UG_OK, "case %zu packed", i);
        ck_assert_msg(strstr(err.msg, cases[i].why), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].why);
        ck_assert(strstr(err.msg, bad) == err.msg);
        ck_assert(!exists(out));
        ck_assert_int_eq(count_files(dir), 1);
    }
    free(bad);
    free(out);
    free(src);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(truncated_and_corrupt_files) {
    test_require_golden();
    char *dir = test_tmpdir(), *src = test_golden_path("sam_tiny/sam_tiny.pth"),
         *pkl = test_golden_path("rba_tiny/rba_tiny_3dl.d2.pkl");
    char *bad = test_path_join(dir, "bad.pth"), *out = test_path_join(dir, "out.safetensors");
    size_t n, np;
    uint8_t *data = test_read_file(src, &n), *pdata = test_read_file(pkl, &np);
    ug_err err;
    for (int k = 1; k < 16; k++) {
        test_write_file(bad, data, n * (size_t)k / 16);
        ck_assert_int_ne(pack(bad, out, UG_F32, SAM_SET, 1, NULL, &err), UG_OK);
        test_write_file(bad, pdata, np * (size_t)k / 16);
        ck_assert_int_ne(pack(bad, out, UG_F32, RBA_SET, 2, NULL, &err), UG_OK);
        ck_assert(!exists(out));
    }
    // One flipped bit in a storage: the CRC catches it.
    ug_zip *z;
    ck_assert_int_eq(ug_zip_open(&z, src, &err), UG_OK);
    uint64_t off = ug_zip_find(z, "sam_tiny/data/7")->data_offset;
    ug_zip_close(z);
    data[off + 3] ^= 0x10;
    test_write_file(bad, data, n);
    ck_assert_int_eq(pack(bad, out, UG_F32, SAM_SET, 1, NULL, &err), UG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "CRC-32 mismatch"));
    ck_assert(!exists(out));
    ck_assert_int_eq(count_files(dir), 1);
    // Not a checkpoint at all / a directory / a missing file.
    test_write_file(bad, "hello world", 11);
    ck_assert_int_eq(pack(bad, out, UG_F32, NULL, 0, NULL, &err), UG_ERR_FORMAT);
    ck_assert_int_eq(pack(dir, out, UG_F32, NULL, 0, NULL, &err), UG_ERR_IO);
    ck_assert_int_eq(pack("/nonexistent.pth", out, UG_F32, NULL, 0, NULL, &err), UG_ERR_IO);
    // Writing over the input is refused.
    ck_assert_int_eq(pack(src, src, UG_F32, NULL, 0, NULL, &err), UG_ERR_ARG);
    free(data);
    free(pdata);
    free(bad);
    free(out);
    free(src);
    free(pkl);
    test_rmtree(dir);
    free(dir);
}
END_TEST

static void fill_base(void *arg, int k, void *buf, uint64_t off, size_t n) {
    (void)k;
    memcpy(buf, (const uint8_t *)arg + off, n);
}

static void read_all(ug_ckpt *c, const char *name, float *dst, size_t n) {
    const ug_ckpt_tensor *t = ug_ckpt_find(c, name);
    ug_err err;
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->nbytes, n * sizeof(float));
    ck_assert_msg(ug_ckpt_read(c, t, dst, &err) == UG_OK, "%s", err.msg);
}

// Views: transposed, offset into a shared storage, a gap stride, a 0-dim tensor; zip64.
START_TEST(strided_shared_storages_and_zip64) {
    char *dir = test_tmpdir(), *p = test_path_join(dir, "v.pth");
    ug_pkw w;
    ug_pkw_init(&w);
    ug_pkw_op(&w, '}');
    ug_pkw_op(&w, '(');
    ug_pkw_str(&w, "t");
    ug_pkw_tensor(&w, UG_F32, "0", 12, 0, 2, (int64_t[]){3, 4}, (int64_t[]){1, 3});
    ug_pkw_str(&w, "s");
    ug_pkw_tensor(&w, UG_F32, "0", 12, 5, 1, (int64_t[]){2}, (int64_t[]){1});
    ug_pkw_str(&w, "g");
    ug_pkw_tensor(&w, UG_F32, "0", 12, 1, 2, (int64_t[]){2, 2}, (int64_t[]){6, 2});
    ug_pkw_str(&w, "z");
    ug_pkw_tensor(&w, UG_F32, "0", 12, 11, 0, NULL, NULL);
    ug_pkw_op(&w, 'u');
    ug_pkw_op(&w, '.');
    float base[12];
    for (int i = 0; i < 12; i++)
        base[i] = (float)i * 1.5f - 3.0f;
    for (int z64 = 0; z64 < 2; z64++) {
        ug_err err;
        uint64_t size = sizeof base;
        ck_assert_int_eq(ug_torch_write(p, "v", &w, 1, &size, fill_base, base, z64, &err), UG_OK);
        ug_ckpt *c;
        ck_assert_msg(ug_ckpt_open(&c, p, &err) == UG_OK, "%s", err.msg);
        float t[12], sh[2], g[4], z;
        read_all(c, "t", t, 12);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                ck_assert_float_eq(t[i * 4 + j], base[i + 3 * j]);
        read_all(c, "s", sh, 2);
        ck_assert_float_eq(sh[0], base[5]);
        ck_assert_float_eq(sh[1], base[6]);
        read_all(c, "g", g, 4);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                ck_assert_float_eq(g[i * 2 + j], base[1 + 6 * i + 2 * j]);
        read_all(c, "z", &z, 1);
        ck_assert_float_eq(z, base[11]);
        ck_assert_int_eq(ug_ckpt_at(c, 3)->ndim, 0);
        ug_ckpt_close(c);
    }
    ug_pkw_free(&w);
    free(p);
    test_rmtree(dir);
    free(dir);
}
END_TEST

// A detectron2-style pickle with a Fortran-order array and an int64 array.
START_TEST(numpy_pickle_orders) {
    char *dir = test_tmpdir(), *p = test_path_join(dir, "m.pkl");
    float colmajor[6] = {0, 3, 1, 4, 2, 5}; // [2, 3] array [[0,1,2],[3,4,5]] in Fortran order
    int64_t ints[3] = {-1, 1LL << 40, 7};
    ug_pkw w;
    ug_pkw_init(&w);
    ug_pkw_op(&w, '}');
    ug_pkw_str(&w, "model");
    ug_pkw_op(&w, '}');
    ug_pkw_op(&w, '(');
    ug_pkw_str(&w, "f");
    ug_pkw_ndarray(&w, UG_F32, 2, (int64_t[]){2, 3}, colmajor, sizeof colmajor, true);
    ug_pkw_str(&w, "i");
    ug_pkw_ndarray(&w, UG_I64, 1, (int64_t[]){3}, ints, sizeof ints, false);
    ug_pkw_op(&w, 'u');
    ug_pkw_op(&w, 's');
    ug_pkw_op(&w, '.');
    test_write_file(p, w.buf, w.len);
    ug_ckpt *c;
    ug_err err;
    ck_assert_msg(ug_ckpt_open(&c, p, &err) == UG_OK, "%s", err.msg);
    ck_assert_str_eq(ug_ckpt_layout(c), "pickle, {'model': state_dict}");
    float f[6];
    read_all(c, "f", f, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(f[i], (float)i);
    int64_t back[3];
    ck_assert_int_eq(ug_ckpt_read(c, ug_ckpt_find(c, "i"), back, &err), UG_OK);
    ck_assert_mem_eq(back, ints, sizeof ints);
    ug_ckpt_close(c);
    ug_pkw_free(&w);
    free(p);
    test_rmtree(dir);
    free(dir);
}
END_TEST

// The CLI: exit 0 on success and --help, 2 on usage errors, 1 on a bad file with one line
// "ugains: <file>: <problem>" on stderr.
static int run(const char *args, const char *errfile) {
    return test_cli_run_line(args, errfile);
}

START_TEST(cli_exit_codes) {
    const char *bin = test_cli_bin();
    test_require_golden();
    ck_assert_msg(exists(bin), "%s not found (build it, or set UGAINS_BIN)", bin);
    char *dir = test_tmpdir(), *errf = test_path_join(dir, "stderr.txt"),
         *out = test_path_join(dir, "o.safetensors");
    char *sam = test_golden_path("sam_tiny/sam_tiny.pth"), args[8192];
    ck_assert_int_eq(run("pack --help", errf), 0);
    ck_assert_int_eq(run("inspect --help", errf), 0);
    ck_assert_int_eq(run("pack", errf), 2);
    ck_assert_int_eq(run("pack --in a --out b --dtype f8", errf), 2);
    ck_assert_int_eq(run("pack --in a --out b --bogus", errf), 2);
    snprintf(args, sizeof args, "pack --in %s/none.pth --out %s", dir, out);
    ck_assert_int_eq(run(args, errf), 1);
    size_t n;
    char *msg = test_read_file(errf, &n);
    ck_assert_msg(n > 8 && !strncmp(msg, "ugains: ", 8) && strchr(msg, '\n') == msg + n - 1, "stderr: %s",
                  msg);
    ck_assert_ptr_nonnull(strstr(msg, "none.pth: "));
    free(msg);
    snprintf(args, sizeof args, "pack -q --in %s --out %s --set decoder_transformer_num_heads=4 --dtype bf16",
             sam, out);
    ck_assert_int_eq(run(args, errf), 0);
    snprintf(args, sizeof args, "inspect %s", out);
    ck_assert_int_eq(run(args, errf), 0);
    snprintf(args, sizeof args, "inspect %s", sam);
    ck_assert_int_eq(run(args, errf), 0);
    snprintf(args, sizeof args, "pack --in %s --out %s --set nosuchkey=1", sam, out);
    ck_assert_int_eq(run(args, errf), 2);
    free(sam);
    free(errf);
    free(out);
    test_rmtree(dir);
    free(dir);
}
END_TEST

// Head counts the shapes cannot reveal: `ugains pack` says which preset it used, in one
// warning line naming the --set that overrides it, and says nothing once they are given.
static int count_lines_with(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static char *pack_stderr(const char *args, const char *errf) {
    ck_assert_msg(run(args, errf) == 0, "ugains %s failed", args);
    char *msg = test_read_text(errf);
    ck_assert_ptr_nonnull(msg);
    return msg;
}

START_TEST(cli_warns_about_preset_head_counts) {
    test_require_golden();
    ck_assert_msg(exists(test_cli_bin()), "%s not found (build it, or set UGAINS_BIN)", test_cli_bin());
    char *dir = test_tmpdir(), *errf = test_path_join(dir, "stderr.txt"),
         *out = test_path_join(dir, "o.safetensors");
    char *rba = test_golden_path("rba_tiny/rba_tiny_1dl.d2.pth"),
         *sam = test_golden_path("sam_tiny/sam_tiny.pth");
    char args[8192];
    snprintf(args, sizeof args, "pack --in %s --out %s", rba, out);
    char *msg = pack_stderr(args, errf);
    ck_assert_msg(count_lines_with(msg, "warning") == 1, "stderr: %s", msg);
    ck_assert_msg(strstr(msg,
                         "ugains: pack: warning: inferred pixel_decoder_transformer_nheads=8 (so "
                         "pixel_decoder_deform_n_points=2) and decoder_nheads=8 from the shapes (ambiguous); "
                         "--set pixel_decoder_transformer_nheads=N and --set decoder_nheads=N override\n"),
                  "stderr: %s", msg);
    free(msg);
    snprintf(args, sizeof args, "pack --in %s --out %s --set pixel_decoder_transformer_nheads=4", rba, out);
    msg = pack_stderr(args, errf);
    ck_assert_msg(strstr(msg, "ugains: pack: warning: inferred decoder_nheads=8 from the shapes (ambiguous); "
                              "--set decoder_nheads=N overrides\n"),
                  "stderr: %s", msg);
    ck_assert_msg(count_lines_with(msg, "warning") == 1, "stderr: %s", msg);
    free(msg);
    snprintf(args, sizeof args,
             "pack --in %s --out %s --set pixel_decoder_transformer_nheads=4 --set decoder_nheads=4", rba,
             out);
    msg = pack_stderr(args, errf);
    ck_assert_msg(!strstr(msg, "warning"), "stderr: %s", msg);
    free(msg);
    snprintf(args, sizeof args, "pack --in %s --out %s", sam, out);
    msg = pack_stderr(args, errf);
    ck_assert_msg(
        strstr(msg,
               "ugains: pack: warning: inferred decoder_transformer_num_heads=8 from the shapes (ambiguous); "
               "--set decoder_transformer_num_heads=N overrides\n"),
        "stderr: %s", msg);
    free(msg);
    snprintf(args, sizeof args, "pack --in %s --out %s --set decoder_transformer_num_heads=4", sam, out);
    msg = pack_stderr(args, errf);
    ck_assert_msg(!strstr(msg, "warning"), "stderr: %s", msg);
    free(msg);
    free(rba);
    free(sam);
    free(errf);
    free(out);
    test_rmtree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "pack", .timeout = 120}, &s);
    test_add(tc, golden_sam_bit_exact, golden_rba_three_layouts, half_precision_rounding, hostile_globals,
             hostile_shapes_and_offsets, truncated_and_corrupt_files, strided_shared_storages_and_zip64,
             numpy_pickle_orders, cli_exit_codes, cli_warns_about_preset_head_counts);
    return test_run_suite(s);
}
