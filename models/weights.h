// models/weights.h — named, shape-checked tensors out of a packed safetensors file.
//
// Models fetch every parameter through here so that a wrong checkpoint fails at load time
// with a message naming the file, the tensor and both shapes, e.g.
//   "sam.safetensors: tensor image_encoder.pos_embed has shape [1,64,64,768], expected
//    [1,64,64,1280]".
// Views point into the mapped file (weights keep their packed dtype: GEMM widens BF16/F16
// itself). Small parameters that a kernel needs in F32 (norm weights, biases, embeddings)
// are widened once into copies owned by the ug_weights.
//
// Weights follow the model to its device. The model's parameter fields are kept in a list
// (ug_weights_keep: every field fetched through models/nn.h, views derived from them, and the
// tables a model computes at load, ug_weights_adopt); ug_weights_place uploads what they look
// at, once, and turns each field into a view of that device copy in its packed dtype. Model
// code never learns where its weights are: the ops see device tensors.
#ifndef UG_MODELS_WEIGHTS_H
#define UG_MODELS_WEIGHTS_H

#include "engine/safetensors.h"
#include "engine/tensor.h"

typedef struct ug_weights_copy ug_weights_copy;

typedef struct ug_weights {
    const ug_st_file *st;
    const char *name;       // file name used in messages
    ug_weights_copy *owned; // widened copies and adopted tables (host), freed by ug_weights_release
    ug_tensor **kept;       // the model's parameter fields (ug_weights_keep)
    int nkept, cap;
    ug_device device;     // where the kept fields live: UG_CPU until ug_weights_place
    const ug_memory *mem; // their device memory (NULL on the host)
    void **blocks;        // device copies of the host memory the fields look at
    int nblocks;
} ug_weights;

void ug_weights_init(ug_weights *w, const ug_st_file *st, const char *name);
// Frees the widened copies, the adopted tables and the device copies (views into the file stay
// valid while the file is open).
void ug_weights_release(ug_weights *w);

// Lists *field (a model parameter: a view of the file, of a widened copy, or of an adopted
// table) as one to move with the model. The field must stay at this address until release.
ug_status ug_weights_keep(ug_weights *w, ug_tensor *field, ug_err *err);
// Takes an owning host tensor that the model computed from its weights at load (a gathered
// bias table, a mask, a positional encoding) into w: *field becomes a kept view, w frees it.
ug_status ug_weights_adopt(ug_weights *w, ug_tensor *field, ug_err *err);
// Moves every kept field to the device of mem: the host memory they look at is uploaded once
// (overlapping views share one copy), then each field becomes a view of the copy with its dtype,
// shape and strides unchanged. Placing on the device the fields are on already does nothing;
// moving them on again is refused. On failure nothing has changed and the fields stay valid.
ug_status ug_weights_place(ug_weights *w, const ug_memory *mem, ug_err *err);

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
