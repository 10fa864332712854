// pipeline/inputs.c — prompt files and the ignore mask check (pipeline/inputs.h).
#include "pipeline/inputs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sam_prompts_free(sam_prompt_list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->p[i].xy);
        free(l->p[i].labels);
    }
    free(l->p);
    memset(l, 0, sizeof *l);
}

sam_prompt *sam_prompts_add(sam_prompt_list *l) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        sam_prompt *p = realloc(l->p, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        l->p = p;
        l->cap = cap;
    }
    sam_prompt *p = &l->p[l->n++];
    memset(p, 0, sizeof *p);
    return p;
}

bool sam_prompt_add_point(sam_prompt *p, float x, float y, int label) {
    float *xy = realloc(p->xy, (size_t)(p->n_points + 1) * 2 * sizeof *xy);
    if (!xy) return false;
    p->xy = xy;
    int *lb = realloc(p->labels, (size_t)(p->n_points + 1) * sizeof *lb);
    if (!lb) return false;
    p->labels = lb;
    xy[2 * p->n_points] = x;
    xy[2 * p->n_points + 1] = y;
    lb[p->n_points++] = label;
    return true;
}

bool sam_prompt_coord_ok(double v) {
    return isfinite(v) && fabs(v) <= SAM_PROMPT_MAX_COORD;
}

// A JSON value that must be an array of n finite numbers; `what` names it in the error.
static ug_status json_coords(const ug_json *v, int n, float *out, const char *what, ug_err *err) {
    if (!v || v->type != UG_JSON_ARRAY || (int)v->len != n)
        return ug_errf(err, UG_ERR_FORMAT, "%s must be an array of %d numbers", what, n);
    for (int k = 0; k < n; k++) {
        const ug_json *e = ug_json_at(v, (size_t)k);
        if (e->type != UG_JSON_NUMBER)
            return ug_errf(err, UG_ERR_FORMAT, "%s[%d] must be a number, got a %s", what, k,
                           ug_json_type_name(e->type));
        if (!sam_prompt_coord_ok(e->number))
            return ug_errf(err, UG_ERR_FORMAT, "%s[%d] = %g is out of range (+-1e9)", what, k, e->number);
        out[k] = (float)e->number;
    }
    return UG_OK;
}

static ug_status parse_entry(const ug_json *e, sam_prompt *p, ug_err *err) {
    if (e->type != UG_JSON_OBJECT)
        return ug_errf(err, UG_ERR_FORMAT, "expected an object, got a %s", ug_json_type_name(e->type));
    for (size_t k = 0; k < e->len; k++) {
        const char *key = e->items[k].key;
        if (strcmp(key, "points") && strcmp(key, "labels") && strcmp(key, "box"))
            return ug_errf(err, UG_ERR_FORMAT, "unknown key \"%s\" (expected points, labels, box)", key);
    }
    const ug_json *pts = ug_json_get(e, "points"), *lbs = ug_json_get(e, "labels"),
                  *box = ug_json_get(e, "box");
    if (pts) {
        if (pts->type != UG_JSON_ARRAY)
            return ug_errf(err, UG_ERR_FORMAT, "points must be an array of [x, y]");
        if (pts->len > SAM_PROMPT_MAX_POINTS)
            return ug_errf(err, UG_ERR_FORMAT, "%zu points is more than the %d a prompt may have", pts->len,
                           SAM_PROMPT_MAX_POINTS);
        for (size_t i = 0; i < pts->len; i++) {
            char what[64];
            float xy[2];
            snprintf(what, sizeof what, "points[%zu]", i);
            ug_status st = json_coords(ug_json_at(pts, i), 2, xy, what, err);
            if (st) return st;
            if (!sam_prompt_add_point(p, xy[0], xy[1], 1)) return ug_errf(err, UG_ERR_NOMEM, "out of memory");
        }
    }
    if (lbs) {
        if (!pts) return ug_errf(err, UG_ERR_FORMAT, "labels without points");
        if (lbs->type != UG_JSON_ARRAY || (int)lbs->len != p->n_points)
            return ug_errf(err, UG_ERR_FORMAT, "labels must be an array of %d integers (one per point)",
                           p->n_points);
        for (int i = 0; i < p->n_points; i++) {
            const ug_json *l = ug_json_at(lbs, (size_t)i);
            if (l->type != UG_JSON_NUMBER || !l->is_int || (l->integer != 0 && l->integer != 1))
                return ug_errf(err, UG_ERR_FORMAT, "labels[%d] must be 1 (foreground) or 0 (background)", i);
            p->labels[i] = (int)l->integer;
        }
    }
    if (box) {
        ug_status st = json_coords(box, 4, p->box, "box", err);
        if (st) return st;
        p->has_box = true;
    }
    if (p->n_points == 0 && !p->has_box) return ug_errf(err, UG_ERR_FORMAT, "has neither points nor a box");
    return UG_OK;
}

ug_status sam_prompts_from_json(const ug_json *root, const char *name, sam_prompt_list *l, ug_err *err) {
    ug_status st = UG_OK;
    if (root->type != UG_JSON_ARRAY) {
        st = ug_errf(err, UG_ERR_FORMAT, "%s: expected an array of prompts, got a %s", name,
                     ug_json_type_name(root->type));
    } else if (root->len == 0) {
        st = ug_errf(err, UG_ERR_FORMAT, "%s: the prompt list is empty", name);
    } else if (root->len > SAM_PROMPTS_MAX) {
        st = ug_errf(err, UG_ERR_FORMAT, "%s: %zu prompts is more than the %d one run takes; split the file",
                     name, root->len, SAM_PROMPTS_MAX);
    } else {
        for (size_t i = 0; i < root->len && !st; i++) {
            sam_prompt *p = sam_prompts_add(l);
            if (!p)
                st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
            else if ((st = parse_entry(ug_json_at(root, i), p, err)) != UG_OK)
                ug_err_prefix(err, "%s: prompt %zu: ", name, i);
        }
    }
    return st;
}

ug_status sam_prompts_read(const char *path, sam_prompt_list *l, ug_err *err) {
    ug_json_doc *doc;
    ug_status st = ug_json_parse_file(&doc, path, err);
    if (st) return st;
    st = sam_prompts_from_json(ug_json_root(doc), path, l, err);
    ug_json_free(doc);
    return st;
}

ug_status sam_prompts_parse(const char *text, size_t len, const char *name, sam_prompt_list *l, ug_err *err) {
    ug_json_doc *doc;
    ug_status st = ug_json_parse(&doc, text, len, name, err);
    if (st) return st;
    st = sam_prompts_from_json(ug_json_root(doc), name, l, err);
    ug_json_free(doc);
    return st;
}

ug_status ugains_ignore_mask_check(const ug_tensor *mask, const char *mask_name, const ug_tensor *img,
                                   const char *img_name, ug_err *err) {
    if (mask->shape[0] != img->shape[0] || mask->shape[1] != img->shape[1])
        return ug_errf(err, UG_ERR_ARG, "%s: ignore mask is %lldx%lld, image %s is %lldx%lld", mask_name,
                       (long long)mask->shape[1], (long long)mask->shape[0], img_name,
                       (long long)img->shape[1], (long long)img->shape[0]);
    return UG_OK;
}
