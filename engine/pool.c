// engine/pool.c — see pool.h. One job at a time: the caller publishes (fn, arg, n, grain),
// bumps a generation counter, wakes the workers, works itself, and waits until every worker
// has finished the generation.
#include "engine/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ug_pool {
    int nthreads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
    uint64_t generation; // guarded by lock
    int active;          // workers still inside the current generation, guarded by lock
    int quit;
    // the current job
    ug_range_fn fn;
    void *arg;
    int64_t n, chunk;
    atomic_int_fast64_t next;
    atomic_int busy; // a job is running: nested calls go serial
};

typedef struct {
    ug_pool *pool;
    int index;
} worker_arg;

// Index of the pool thread running on this OS thread (0 for the caller), so that a nested
// parallel_for, which runs serially, hands fn the right per-thread scratch slot.
static _Thread_local int current_thread;

static void run_chunks(ug_pool *p, int thread) {
    for (;;) {
        int64_t begin = atomic_fetch_add(&p->next, p->chunk);
        if (begin >= p->n) break;
        int64_t end = begin + p->chunk < p->n ? begin + p->chunk : p->n;
        p->fn(p->arg, begin, end, thread);
    }
}

static void *worker_main(void *varg) {
    worker_arg *wa = varg;
    ug_pool *p = wa->pool;
    int index = wa->index;
    free(wa);
    current_thread = index;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_chunks(p, index);
        pthread_mutex_lock(&p->lock);
        if (--p->active == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int ug_default_threads(void) {
    const char *env = getenv("UGAINS_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0) return v > UG_MAX_THREADS ? UG_MAX_THREADS : (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    return n > UG_MAX_THREADS ? UG_MAX_THREADS : (int)n;
}

ug_status ug_pool_create(ug_pool **out, int nthreads, ug_err *err) {
    *out = NULL;
    if (nthreads <= 0) nthreads = ug_default_threads();
    if (nthreads > UG_MAX_THREADS) nthreads = UG_MAX_THREADS;
    ug_pool *p = calloc(1, sizeof *p);
    if (!p) return ug_errf(err, UG_ERR_NOMEM, "thread pool: out of memory");
    p->nthreads = nthreads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = calloc((size_t)nthreads, sizeof *p->workers);
    if (!p->workers) {
        ug_pool_destroy(p);
        return ug_errf(err, UG_ERR_NOMEM, "thread pool: out of memory");
    }
    for (int i = 1; i < nthreads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || pthread_create(&p->workers[i], NULL, worker_main, (wa->pool = p, wa->index = i, wa))) {
            free(wa);
            p->nthreads = i; // workers [1, i) exist
            ug_pool_destroy(p);
            return ug_errf(err, UG_ERR_INTERNAL, "thread pool: cannot start thread %d", i);
        }
    }
    *out = p;
    return UG_OK;
}

void ug_pool_destroy(ug_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->nthreads; i++)
        pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int ug_pool_threads(const ug_pool *p) {
    return p ? p->nthreads : 1;
}

void ug_parallel_for(ug_pool *p, int64_t n, int64_t grain, ug_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int expected = 0;
    if (!p || p->nthreads == 1 || n <= grain || !atomic_compare_exchange_strong(&p->busy, &expected, 1)) {
        fn(arg, 0, n, current_thread);
        return;
    }
    // Chunks: about 4 per thread for balance, never below grain.
    int64_t chunk = (n + 4 * p->nthreads - 1) / (4 * p->nthreads);
    if (chunk < grain) chunk = grain;
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunk = chunk;
    atomic_store(&p->next, 0);
    pthread_mutex_lock(&p->lock);
    p->active = p->nthreads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_chunks(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->active > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    atomic_store(&p->busy, 0);
}
