// weights-tools/synthetic.h — a checkpoint with official names and shapes and made-up values,
// for benchmarks at full size (no real weights needed) and for tests of the pack -> load path.
//
// Values are deterministic (a hash of tensor index and element) and of a scale that keeps a
// forward pass finite and in a realistic range through deep stacks:
//   1-D *.weight (LayerNorm / GroupNorm scales)      1
//   1-D *.bias                                       0
//   *sampling_offsets.bias                           uniform in [-2, 2] (deformable attention
//                                                    points spread over a few cells, as the
//                                                    official grid initialisation does)
//   *query_feat*, *query_embed*, *level_embed*       std 1 (nn.Embedding / normal_ init)
//   criterion.empty_weight                           1, the last ("no object") 0.1
//   *relative_position_index (integer)               Swin's (dy + w-1)(2w-1) + (dx + w-1)
//   other integer tensors                            0
//   everything else (linear, conv, bias tables)      uniform with std 0.02
// Uniform rather than normal: the same standard deviation, and bounded.
#ifndef UG_SYNTHETIC_H
#define UG_SYNTHETIC_H

#include <stdint.h>

#include "engine/tensor.h"
#include "weights-tools/arch.h"

// Writes list's tensors (items in order; F32, integers as I64) as a torch zip checkpoint:
// the state dict is a flat OrderedDict, or {wrapper: OrderedDict} when wrapper is not NULL
// ("model" is detectron2's layout). Streamed: no tensor is held whole. *bytes (may be NULL)
// gets the tensor data size.
ug_status ug_synthetic_write(const char *path, const ug_arch_plan *list, const char *wrapper, uint64_t *bytes,
                             ug_err *err);

#endif
