// tests/fuzz/fuzz_inputs.c — libFuzzer target for the small user inputs of `ugains sam` and
// `ugains run` (and `ugains pack --set`): the first byte picks the reader, the rest is its input.
//
//   0  a --prompts file (pipeline/inputs.h sam_prompts_parse); what it returns must obey the
//      documented rules (1..SAM_PROMPTS_MAX prompts, points or a box, coordinates in range)
//   1  an --ignore-mask: bytes 1-4 are the image's width and height (16-bit little-endian
//      each), the rest is decoded as ugains run decodes the mask (UG_IMAGE_GRAY, small pixel
//      limit) and checked against that size (ugains_ignore_mask_check)
//   2  the packed SAM config (sam_config_parse); a config that parses is written back through
//      its schema (ug_cfg_write), parsed again and must come out identical
//   3  the packed RbA config (rba_config_parse), and its schema read/write round trip
//   4  one "key=value" override (ug_cfg_set) on each schema's defaults, then written
//
// Seeds: a selector byte followed by golden sam_tiny/prompts.json, a small PNG, the "config"
// metadata of a packed golden model, or "encoder_depth=2" (see docs/TESTING.md).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "engine/image.h"
#include "engine/json.h"
#include "models/packed_config.h"
#include "models/rba.h"
#include "models/sam.h"
#include "pipeline/inputs.h"

enum { FUZZ_MAX_PIXELS = 1 << 22 };

static void prompts(const uint8_t *d, size_t n) {
    sam_prompt_list l = {0};
    ug_err err;
    if (sam_prompts_parse((const char *)d, n, "fuzz.json", &l, &err) == UG_OK) {
        if (l.n < 1 || l.n > SAM_PROMPTS_MAX) abort();
        for (int i = 0; i < l.n; i++) {
            const sam_prompt *p = &l.p[i];
            if ((p->n_points == 0 && !p->has_box) || p->n_points > SAM_PROMPT_MAX_POINTS) abort();
            for (int k = 0; k < p->n_points; k++)
                if (!sam_prompt_coord_ok(p->xy[2 * k]) || !sam_prompt_coord_ok(p->xy[2 * k + 1]) ||
                    (p->labels[k] != 0 && p->labels[k] != 1))
                    abort();
            for (int k = 0; p->has_box && k < 4; k++)
                if (!sam_prompt_coord_ok(p->box[k])) abort();
        }
    } else if (err.msg[0] == '\0') {
        abort();
    }
    sam_prompts_free(&l);
}

static void ignore_mask(const uint8_t *d, size_t n) {
    if (n < 4) return;
    ug_tensor img = {.dtype = UG_U8, .ndim = 3, .shape = {d[2] | d[3] << 8, d[0] | d[1] << 8, 3}};
    ug_tensor mask;
    ug_err err;
    if (ug_image_decode_max(d + 4, n - 4, "fuzz.png", UG_IMAGE_GRAY, FUZZ_MAX_PIXELS, &mask, &err) != UG_OK)
        return;
    if (mask.ndim != 3 || mask.shape[2] != 1 || mask.dtype != UG_U8) abort();
    if (ugains_ignore_mask_check(&mask, "fuzz.png", &mask, "itself", &err) != UG_OK) abort();
    if (ugains_ignore_mask_check(&mask, "fuzz.png", &img, "fuzz", &err) == UG_OK) {
        // What the pipeline reads: every pixel of an [H, W] byte mask.
        int64_t set = 0;
        for (int64_t i = 0; i < img.shape[0] * img.shape[1]; i++)
            set += ((const uint8_t *)mask.data)[i] != 0;
        if (set < 0) abort();
    } else if (err.msg[0] == '\0') {
        abort();
    }
    ug_tensor_free(&mask);
}

// Writes cfg through the schema, reads it back into a zeroed struct: must be identical.
static void roundtrip(const ug_cfg_schema *s, const void *cfg) {
    char *text;
    ug_err err;
    if (ug_cfg_write(s, cfg, &text, &err) != UG_OK) abort();
    ug_json_doc *doc;
    if (ug_json_parse(&doc, text, strlen(text), "rewritten", &err) != UG_OK) abort();
    void *again = calloc(1, s->size);
    if (!again) abort();
    if (ug_cfg_read(s, again, ug_json_root(doc), NULL, &err) != UG_OK) abort();
    if (memcmp(cfg, again, s->size) != 0) abort();
    free(again);
    ug_json_free(doc);
    free(text);
}

static void sam_cfg(const char *text) {
    sam_config c;
    ug_err err;
    if (sam_config_parse(&c, text, &err) != UG_OK) return;
    roundtrip(&sam_config_schema, &c);
    char *w;
    if (ug_cfg_write(&sam_config_schema, &c, &w, &err) != UG_OK) abort();
    sam_config again;
    if (sam_config_parse(&again, w, &err) != UG_OK || memcmp(&c, &again, sizeof c) != 0) abort();
    free(w);
}

static void rba_cfg(const char *text, size_t n) {
    rba_config c;
    ug_err err;
    rba_config_parse(&c, text, &err);
    ug_json_doc *doc;
    if (ug_json_parse(&doc, text, n, "fuzz", &err) != UG_OK) return;
    rba_packed_config p;
    memset(&p, 0, sizeof p);
    if (ug_cfg_read(&rba_config_schema, &p, ug_json_root(doc), NULL, &err) == UG_OK)
        roundtrip(&rba_config_schema, &p);
    ug_json_free(doc);
}

static void cfg_set(const char *kv) {
    const ug_cfg_schema *schemas[2] = {&sam_config_schema, &rba_config_schema};
    for (int i = 0; i < 2; i++) {
        void *cfg = malloc(schemas[i]->size);
        if (!cfg) abort();
        ug_cfg_defaults(schemas[i], cfg);
        const ug_cfg_field *which;
        ug_err err;
        if (ug_cfg_set(schemas[i], cfg, kv, &which, &err) == UG_OK) {
            if (!which) abort();
            char *w;
            if (ug_cfg_write(schemas[i], cfg, &w, &err) != UG_OK) abort();
            free(w);
        }
        free(cfg);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    int which = data[0] % 5;
    data++, size--;
    if (which == 0) return prompts(data, size), 0;
    if (which == 1) return ignore_mask(data, size), 0;
    // The config readers take a C string (the metadata value), --set one argument.
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (which == 2)
        sam_cfg(text);
    else if (which == 3)
        rba_cfg(text, strlen(text));
    else
        cfg_set(text);
    free(text);
    return 0;
}
