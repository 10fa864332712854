// engine/device.h — the memory of a device: how tensors on it are allocated, zeroed and moved
// to and from the host. The host's is ug_host_memory; a backend that runs on another device
// brings its own (ops/backend.h: ug_backend.mem), and the engine never looks inside such
// memory: it only hands the pointers to that device's kernels and to these functions.
#ifndef UG_DEVICE_H
#define UG_DEVICE_H

#include <stddef.h>

#include "engine/error.h"

typedef enum ug_device {
    UG_CPU = 0,
    UG_CUDA = 1,
    UG_POISON = 2, // test device: host memory that only its backend may touch (tests/poison_backend.c)
    UG_DEVICE_COUNT
} ug_device;

const char *ug_device_name(ug_device d); // "cpu", "cuda", "poison"

typedef struct ug_memory {
    ug_device device;
    void *(*alloc)(size_t bytes); // 64-byte aligned, contents undefined; NULL when out of memory
    void (*free)(void *p);        // p from alloc (NULL is a no-op)
    // Copies of `bytes` bytes; they fail only for device reasons (the message names them).
    ug_status (*zero)(void *dst, size_t bytes, ug_err *err);
    ug_status (*to_device)(void *dst, const void *host_src, size_t bytes, ug_err *err);
    ug_status (*to_host)(void *host_dst, const void *src, size_t bytes, ug_err *err);
} ug_memory;

extern const ug_memory ug_host_memory;

#endif
