// tests/poison_backend.h — the device-boundary check (issue: "a real device boundary").
//
// The poison device (UG_POISON) keeps its tensors in host memory but hands out their
// addresses with bit 62 flipped: a non-canonical x86-64 address, so any host code that
// dereferences one (a loop in models/, a memcpy, a printf of a value) faults at once. Its
// op table untags the tensors of each call and runs the CPU kernel on them, so a model that
// reaches activations only through ops (ops/ops.h) and moves data only with ug_to_device /
// ug_to_host runs on it exactly as on the CPU, to the bit.
#ifndef UG_TEST_POISON_BACKEND_H
#define UG_TEST_POISON_BACKEND_H

#include "ops/backend.h"

extern const ug_backend ug_backend_poison;
extern const ug_memory ug_poison_memory;

// The host address behind a poison address (for the planted-dereference test).
void *poison_untag(const void *p);
// Poison memory that outlives the forked tests using it (weights placed once in the parent):
// LeakSanitizer cannot follow a tagged pointer, so without this every child would report the
// blocks as leaked. No-op outside AddressSanitizer builds.
void poison_long_lived(const void *p);

#endif
