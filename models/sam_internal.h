// models/sam_internal.h — what the three SAM blocks share beyond models/nn.h (not a public API).
//
// The blocks are written in the layer of models/nn.h: parameters as nn_linear / nn_norm /
// nn_conv, activations from nn_tensor on ctx->device, every computation an op of ops/ops.h,
// so that another backend runs SAM without a change here.
#ifndef UG_MODELS_SAM_INTERNAL_H
#define UG_MODELS_SAM_INTERNAL_H

#include "models/nn.h"
#include "models/sam.h"

// get_dense_pe into pe [C, h, w] on the host (done once at load; sam_dense_pe hands out
// device copies).
void sam_dense_pe_fill(const sam_model *m, float *pe);

#endif
