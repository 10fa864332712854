// pipeline/inputs.h — the user inputs of `ugains sam` and `ugains run` besides images and
// weights: SAM prompts (a --prompts JSON file, or --point/--box options) and the ignore mask.
// The CLI and the fuzz target tests/fuzz/fuzz_inputs.c share these readers.
//
// Prompt file: a non-empty JSON array (at most SAM_PROMPTS_MAX) of objects with the keys
//   "points": [[x, y], ...]   at most SAM_PROMPT_MAX_POINTS, (x, y) in original pixels
//   "labels": [1|0, ...]       one per point (default 1, foreground); needs "points"
//   "box":    [x0, y0, x1, y1]
// and nothing else; a prompt has points, a box or both. Every coordinate is a finite number
// within +-SAM_PROMPT_MAX_COORD. Errors name the file and the prompt:
//   "p.json: prompt 2: points[0][1] must be a number, got a string"
#ifndef UG_PIPELINE_INPUTS_H
#define UG_PIPELINE_INPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/error.h"
#include "engine/json.h"
#include "engine/tensor.h"

// Limits on what a prompt file can ask for. Every prompt is one decoder run and one or more
// PNGs; a point is a token in the decoder's token self-attention (cost grows with its square).
// SamPredictor is used with a handful of points; the limits only refuse nonsense early.
enum { SAM_PROMPTS_MAX = 1 << 16, SAM_PROMPT_MAX_POINTS = 1024 };
// |coordinate| bound: far outside any image, yet small enough that the model frame's
// x * (input / original) stays a finite float (1e38 would overflow to inf and give NaN masks).
#define SAM_PROMPT_MAX_COORD 1e9

// One prompt = one output mask set.
typedef struct sam_prompt {
    int n_points;
    float *xy;   // [n_points, 2] (x, y) in original pixels
    int *labels; // [n_points]
    bool has_box;
    float box[4]; // x0, y0, x1, y1
} sam_prompt;

typedef struct sam_prompt_list {
    sam_prompt *p;
    int n, cap;
} sam_prompt_list;

void sam_prompts_free(sam_prompt_list *l);
// A new zeroed prompt at the end of l, or NULL when out of memory.
sam_prompt *sam_prompts_add(sam_prompt_list *l);
// Appends one point; false when out of memory.
bool sam_prompt_add_point(sam_prompt *p, float x, float y, int label);
// A coordinate must be a finite number that a float can hold (the model computes in f32).
bool sam_prompt_coord_ok(double v);

// Appends the prompts of a parsed prompt file (root: its top-level value) to l; `name` (the
// file) starts every error. On error l keeps what was added (sam_prompts_free releases it).
ug_status sam_prompts_from_json(const ug_json *root, const char *name, sam_prompt_list *l, ug_err *err);
// The same from a file (--prompts) or from bytes.
ug_status sam_prompts_read(const char *path, sam_prompt_list *l, ug_err *err);
ug_status sam_prompts_parse(const char *text, size_t len, const char *name, sam_prompt_list *l, ug_err *err);

// --ignore-mask: the mask (U8 [H, W, 1] as ug_image_read's UG_IMAGE_GRAY gives it, non-zero =
// ignored) must have the size of the image (U8 [H, W, C]); UG_ERR_ARG otherwise:
//   "ign.png: ignore mask is 64x32, image a.png is 128x64"
ug_status ugains_ignore_mask_check(const ug_tensor *mask, const char *mask_name, const ug_tensor *img,
                                   const char *img_name, ug_err *err);

#endif
