// models/weights.h — named, shape-checked tensors out of a packed safetensors file.
//
// Models fetch every parameter through here so that a wrong checkpoint fails at load time
// with a message naming the file, the tensor and both shapes, e.g.
//   "sam.safetensors: tensor image_encoder.pos_embed has shape [1,64,64,768], expected
//    [1,64,64,1280]".
// Views point into the mapped file (weights keep their packed dtype: GEMM widens BF16/F16
// itself). Small parameters that a kernel needs in F32 (norm weights, biases, embeddings)
// are widened once into copies owned by the ug_weights.
#ifndef UG_MODELS_WEIGHTS_H
#define UG_MODELS_WEIGHTS_H

#include "engine/safetensors.h"
#include "engine/tensor.h"

typedef struct ug_weights_copy ug_weights_copy;

typedef struct ug_weights {
    const ug_st_file *st;
    const char *name;       // file name used in messages
    ug_weights_copy *owned; // widened copies, freed by ug_weights_release
} ug_weights;

void ug_weights_init(ug_weights *w, const ug_st_file *st, const char *name);
// Frees the widened copies (views into the file stay valid while the file is open).
void ug_weights_release(ug_weights *w);

// View of tensor `key` in its stored dtype; fails unless it has exactly this shape.
ug_status ug_weights_get(ug_weights *w, ug_tensor *out, const char *key, int ndim, const int64_t *shape,
                         ug_err *err);
// The same, but F32: an F32 tensor is returned as a view, BF16/F16 are widened into a copy.
ug_status ug_weights_get_f32(ug_weights *w, ug_tensor *out, const char *key, int ndim, const int64_t *shape,
                             ug_err *err);
// true when the file holds `key` (optional parameters such as biases).
bool ug_weights_has(const ug_weights *w, const char *key);
// The packed file's config JSON text, after checking that its metadata arch is `arch`:
// "<name>: not <what> (metadata arch is ...)" otherwise, or "metadata has no config".
ug_status ug_weights_config(const ug_weights *w, const char *arch, const char *what, const char **config,
                            ug_err *err);

#endif
