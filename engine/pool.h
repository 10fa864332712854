// engine/pool.h — a fixed pthread pool running parallel-for loops.
//
// The calling thread takes part as thread 0, so a pool of n threads starts n-1 workers.
// Work is handed out in chunks of `grain` iterations through an atomic counter; each call
// of fn gets a half-open range [begin, end) and the index of the thread running it (for
// per-thread scratch). Calls do not nest: a parallel region must not start another one
// (ug_parallel_for from inside fn runs the loop serially on the calling thread).
#ifndef UG_POOL_H
#define UG_POOL_H

#include <stdint.h>

#include "engine/error.h"

enum { UG_MAX_THREADS = 256 };

typedef struct ug_pool ug_pool;
typedef void (*ug_range_fn)(void *arg, int64_t begin, int64_t end, int thread);

ug_status ug_pool_create(ug_pool **pool, int nthreads, ug_err *err);
void ug_pool_destroy(ug_pool *pool);
int ug_pool_threads(const ug_pool *pool);

// Runs fn over [0, n) in chunks of at least `grain` (>= 1). pool may be NULL (serial).
void ug_parallel_for(ug_pool *pool, int64_t n, int64_t grain, ug_range_fn fn, void *arg);

// Number of online CPUs; UGAINS_THREADS overrides when set to a positive integer.
int ug_default_threads(void);

#endif
