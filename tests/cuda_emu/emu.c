// tests/cuda_emu/emu.c — an emulation of the CUDA execution model on the CPU, for proving the
// kernels of ops/cuda/ without a GPU (make CUDA=emu). The device surface kernels see is
// emu_kernel.h; the runtime API subset the host side uses is emu_runtime.h.
//
// A launch runs its blocks one after another, in the order of the schedule. The threads of a
// block are fibers (each with its own stack, switched by emu_switch below) that run one at a
// time, each until it reaches a barrier, a warp collective or its end. When no thread can run,
// the block is at a rendezvous: either every live thread waits at the same __syncthreads (all
// go on), or something is wrong and the launch fails with a report naming the kernel, the
// block, a thread and the source line:
//   * a barrier that some thread will never reach (it exited: "barrier after an early return"),
//   * threads waiting at different barriers,
//   * a warp collective whose mask names lanes that never arrive (exited, at a barrier, at
//     another collective), a mask without the calling lane, lanes passing different masks,
//     a shuffle reading a lane outside the mask;
//   * launch sizes beyond the hardware's (1024 threads, 64 in z, 65535 blocks in y / z,
//     227 KiB of dynamic shared memory).
// The schedule (fwd, rev or rand:SEED) orders the blocks and, at every pass over a block's
// threads, the threads: a kernel whose result depends on either order shows it as output that
// differs between schedules. What cannot be seen: races between two switch points (nothing runs
// in between) and races between blocks (blocks never overlap). docs/ARCHITECTURE.md.
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tests/cuda_emu/emu_runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
void __asan_unpoison_memory_region(const volatile void *addr, size_t size);
enum { STACK_BYTES = 512 << 10 };
#else
#define EMU_ASAN 0
enum { STACK_BYTES = 128 << 10 };
#endif

// ---- what a kernel sees (emu_kernel.h declares the same) ----

struct emu_thread_view {
    uint3 threadIdx, blockIdx;
    dim3 blockDim, gridDim;
    void *dyn_shared;
};
__thread const struct emu_thread_view *emu_cur;

typedef void (*emu_body_fn)(void *arg);
enum { EMU_SHFL, EMU_SHFL_UP, EMU_SHFL_DOWN, EMU_SHFL_XOR, EMU_BALLOT, EMU_ANY, EMU_ALL, EMU_SYNCWARP };
static const char *const warp_op_name[] = {"__shfl_sync",     "__shfl_up_sync", "__shfl_down_sync",
                                           "__shfl_xor_sync", "__ballot_sync",  "__any_sync",
                                           "__all_sync",      "__syncwarp"};

// Static __shared__ variables of every kernel (emu_kernel.h puts them in this section).
extern char __start_ugemushm[] __attribute__((weak));
extern char __stop_ugemushm[] __attribute__((weak));

// ---- fibers ----

// Saves the callee-saved registers on the current stack, stores the stack pointer in *save,
// switches to the stack `to` and restores the registers saved there (System V x86-64).
void emu_switch(void **save, void *to);
__asm__(".text\n"
        ".globl emu_switch\n"
        ".hidden emu_switch\n"
        ".type emu_switch, @function\n"
        "emu_switch:\n"
        "    endbr64\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size emu_switch, .-emu_switch\n");

enum fiber_state { F_RUN, F_BARRIER, F_WARP, F_DONE };

typedef struct fiber {
    struct emu_thread_view view;
    void *sp;      // saved stack pointer while switched out
    char *stack;   // STACK_BYTES, lowest page a guard
    int state;     // enum fiber_state
    unsigned lane; // in its warp
    unsigned index;
    const char *file; // where it waits
    int line;
    // the warp collective it waits in
    int kind, arg, width;
    unsigned mask;
    uint64_t value, result;
    void *fake_stack; // ASan's
} fiber;

// One launch at a time (launches from several host threads take turns).
static pthread_mutex_t launch_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    fiber *f;
    unsigned cap, n;
    void *sched_sp;
    fiber *cur;
    emu_body_fn body;
    void *arg;
    const char *kernel, *file;
    int line;
    uint3 block;
    bool failed, dirty_stacks;
    const void *sched_stack_bottom;
    size_t sched_stack_size;
    void *sched_fake_stack;
} L;

static char report[2048];
static long launches;

static void fiber_entry(void);

static void *reset_stack(fiber *f) {
    void **top = (void **)(f->stack + STACK_BYTES);
    top[-1] = NULL; // the slot of fiber_entry's return address: never used
    top[-2] = (void *)fiber_entry;
    for (int i = 3; i <= 8; i++)
        top[-i] = NULL; // rbp rbx r12 r13 r14 r15
    return &top[-8];
}

static bool ensure_fibers(unsigned n) {
    if (n <= L.cap) return true;
    fiber *f = realloc(L.f, n * sizeof *f);
    if (!f) return false;
    for (unsigned i = L.cap; i < n; i++) {
        memset(&f[i], 0, sizeof f[i]);
        void *m = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (m == MAP_FAILED) {
            L.f = f;
            L.cap = i;
            return false;
        }
        mprotect(m, 4096, PROT_NONE); // a stack overflow faults instead of corrupting a neighbour
        f[i].stack = m;
    }
    L.f = f;
    L.cap = n;
    return true;
}

static void resume(fiber *f) {
    L.cur = f;
    emu_cur = &f->view;
#if EMU_ASAN
    __sanitizer_start_switch_fiber(&L.sched_fake_stack, f->stack, STACK_BYTES);
#endif
    emu_switch(&L.sched_sp, f->sp);
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(L.sched_fake_stack, NULL, NULL);
#endif
    emu_cur = NULL;
    L.cur = NULL;
}

// From a fiber back to the scheduler; returns when the scheduler resumes this fiber.
static void yield(fiber *f) {
#if EMU_ASAN
    __sanitizer_start_switch_fiber(f->state == F_DONE ? NULL : &f->fake_stack, L.sched_stack_bottom,
                                   L.sched_stack_size);
#endif
    emu_switch(&f->sp, L.sched_sp);
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(f->fake_stack, &L.sched_stack_bottom, &L.sched_stack_size);
#endif
}

static void fiber_entry(void) {
    fiber *f = L.cur;
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(NULL, &L.sched_stack_bottom, &L.sched_stack_size);
#endif
    L.body(L.arg);
    f->state = F_DONE;
    yield(f);
    abort(); // a finished fiber is never resumed
}

// ---- reports ----

static void fail(const fiber *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const fiber *f, const char *fmt, ...) {
    if (L.failed) return;
    L.failed = true;
    int n = snprintf(report, sizeof report, "kernel %s (launched at %s:%d), block (%u,%u,%u)", L.kernel,
                     L.file, L.line, L.block.x, L.block.y, L.block.z);
    if (f && n >= 0 && (size_t)n < sizeof report)
        n += snprintf(report + n, sizeof report - (size_t)n, ", thread (%u,%u,%u)", f->view.threadIdx.x,
                      f->view.threadIdx.y, f->view.threadIdx.z);
    if (n >= 0 && (size_t)n < sizeof report) {
        n += snprintf(report + n, sizeof report - (size_t)n, ": ");
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < sizeof report) vsnprintf(report + n, sizeof report - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

static const char *where(const fiber *g, char *buf, size_t n) {
    switch (g->state) {
    case F_DONE: snprintf(buf, n, "has exited"); break;
    case F_BARRIER: snprintf(buf, n, "waits at __syncthreads at %s:%d", g->file, g->line); break;
    case F_WARP: snprintf(buf, n, "waits at %s at %s:%d", warp_op_name[g->kind], g->file, g->line); break;
    default: snprintf(buf, n, "is running"); break;
    }
    return buf;
}

static bool same_site(const fiber *a, const fiber *b) {
    return a->line == b->line && (a->file == b->file || strcmp(a->file, b->file) == 0);
}

// ---- what kernels call ----

void emu_syncthreads(const char *file, int line) {
    fiber *f = L.cur;
    f->state = F_BARRIER;
    f->file = file;
    f->line = line;
    yield(f);
}

void emu_trap(const char *what, const char *file, int line) {
    fiber *f = L.cur;
    fail(f, "%s at %s:%d", what, file, line);
    f->state = F_DONE;
    yield(f);
    abort();
}

uint64_t emu_warp_op(int kind, unsigned mask, uint64_t value, int arg, int width, const char *file,
                     int line) {
    fiber *f = L.cur;
    f->kind = kind;
    f->mask = mask;
    f->value = value;
    f->arg = arg;
    f->width = width;
    f->file = file;
    f->line = line;
    if (!(mask >> f->lane & 1u))
        fail(f, "%s at %s:%d with mask 0x%08x, which does not hold the calling lane %u", warp_op_name[kind],
             file, line, mask, f->lane);
    else if (width < 1 || width > 32 || (width & (width - 1)))
        fail(f, "%s at %s:%d with width %d (a power of two <= 32)", warp_op_name[kind], file, line, width);
    f->state = F_WARP;
    yield(f);
    return f->result;
}

// The source lane of lane l in a shuffle, or -1 for "keeps its own value".
static int shuffle_source(const fiber *f, unsigned l) {
    unsigned w = (unsigned)f->width, seg = l & ~(w - 1);
    switch (f->kind) {
    case EMU_SHFL: return (int)(seg + ((unsigned)f->arg & (w - 1)));
    case EMU_SHFL_UP: return (int)l - f->arg < (int)seg ? -1 : (int)l - f->arg;
    case EMU_SHFL_DOWN: return l + (unsigned)f->arg >= seg + w ? -1 : (int)(l + (unsigned)f->arg);
    default: {
        unsigned s = l ^ (unsigned)f->arg;
        return s >= seg + w ? -1 : (int)s;
    }
    }
}

// Completes the collective f waits in when every lane of its mask has arrived there.
static void try_complete(fiber *f) {
    unsigned base = f->index - f->lane;
    fiber *g[32] = {0};
    for (unsigned l = 0; l < 32; l++) {
        if (!(f->mask >> l & 1u)) continue;
        if (base + l >= L.n) {
            fail(f, "%s at %s:%d: mask 0x%08x names lane %u, which does not exist in a block of %u threads",
                 warp_op_name[f->kind], f->file, f->line, f->mask, l, L.n);
            return;
        }
        g[l] = &L.f[base + l];
        if (g[l]->state != F_WARP || !same_site(g[l], f)) return; // not yet (or never: seen at deadlock)
        if (g[l]->mask != f->mask || g[l]->kind != f->kind) {
            fail(f, "%s at %s:%d: lane %u passed mask 0x%08x, lane %u passed 0x%08x", warp_op_name[f->kind],
                 f->file, f->line, f->lane, f->mask, l, g[l]->mask);
            return;
        }
    }
    uint64_t ballot = 0;
    for (unsigned l = 0; l < 32; l++)
        if (g[l] && g[l]->value) ballot |= 1u << l;
    for (unsigned l = 0; l < 32; l++) {
        if (!g[l]) continue;
        switch (f->kind) {
        case EMU_BALLOT: g[l]->result = ballot; break;
        case EMU_ANY: g[l]->result = ballot != 0; break;
        case EMU_ALL: g[l]->result = ballot == f->mask; break;
        case EMU_SYNCWARP: g[l]->result = 0; break;
        default: {
            int s = shuffle_source(g[l], l);
            if (s >= 0 && !g[s]) {
                fail(g[l], "%s at %s:%d: lane %u reads lane %d, which is not in mask 0x%08x",
                     warp_op_name[f->kind], f->file, f->line, l, s, f->mask);
                return;
            }
            g[l]->result = s < 0 ? g[l]->value : g[s]->value;
        }
        }
    }
    for (unsigned l = 0; l < 32; l++)
        if (g[l]) g[l]->state = F_RUN;
}

// ---- schedules ----

enum { SCHED_FWD, SCHED_REV, SCHED_RAND };
static int sched_kind = -1;
static uint64_t sched_seed;
static char sched_name[64] = "fwd";

static bool parse_schedule(const char *s, int *kind, uint64_t *seed) {
    if (strcmp(s, "fwd") == 0) return *kind = SCHED_FWD, true;
    if (strcmp(s, "rev") == 0) return *kind = SCHED_REV, true;
    if (strncmp(s, "rand:", 5) == 0 && s[5]) {
        char *end;
        unsigned long long v = strtoull(s + 5, &end, 10);
        if (*end) return false;
        *kind = SCHED_RAND;
        *seed = v;
        return true;
    }
    return false;
}

int emu_set_schedule(const char *spec) {
    if (!spec) {
        spec = getenv("UGAINS_EMU_SCHEDULE");
        if (!spec || !*spec) spec = "fwd";
    }
    int kind;
    uint64_t seed = 0;
    if (!parse_schedule(spec, &kind, &seed)) return 0;
    sched_kind = kind;
    sched_seed = seed;
    snprintf(sched_name, sizeof sched_name, "%s", spec);
    return 1;
}

const char *emu_schedule(void) {
    if (sched_kind < 0 && !emu_set_schedule(NULL)) emu_set_schedule("fwd");
    return sched_name;
}

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// order[0..n) = a permutation of 0..n-1 for this schedule; `salt` varies it per block and pass.
static void make_order(unsigned *order, unsigned n, uint64_t salt) {
    for (unsigned i = 0; i < n; i++)
        order[i] = sched_kind == SCHED_REV ? n - 1 - i : i;
    if (sched_kind != SCHED_RAND) return;
    uint64_t s = mix(sched_seed ^ mix(salt));
    for (unsigned i = n; i > 1; i--) {
        s = mix(s);
        unsigned j = (unsigned)(s % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

// ---- running one block ----

static void start_block(uint3 b, dim3 grid, dim3 block, void *dyn, size_t smem) {
    for (unsigned i = 0; i < L.n; i++) {
        fiber *f = &L.f[i];
        f->view.threadIdx = (uint3){i % block.x, i / block.x % block.y, i / (block.x * block.y)};
        f->view.blockIdx = b;
        f->view.blockDim = block;
        f->view.gridDim = grid;
        f->view.dyn_shared = dyn;
        f->index = i;
        f->lane = i % 32;
        f->state = F_RUN;
        f->fake_stack = NULL;
        if (L.dirty_stacks) {
#if EMU_ASAN
            __asan_unpoison_memory_region(f->stack + 4096, STACK_BYTES - 4096);
#endif
        }
        f->sp = reset_stack(f);
    }
    L.dirty_stacks = false;
    uintptr_t shm0 = (uintptr_t)__start_ugemushm, shm1 = (uintptr_t)__stop_ugemushm;
    if (shm0 && shm1 > shm0) memset(__start_ugemushm, 0xff, shm1 - shm0);
    if (smem) memset(dyn, 0xff, smem);
}

// At a rendezvous with nobody runnable: releases a barrier (true) or reports what is wrong.
static bool release_barrier(void) {
    char buf[256];
    const fiber *waiting = NULL, *exited = NULL;
    for (unsigned i = 0; i < L.n; i++) {
        const fiber *f = &L.f[i];
        if (f->state == F_WARP) {
            for (unsigned l = 0; l < 32; l++) {
                unsigned j = f->index - f->lane + l;
                if (!(f->mask >> l & 1u) || j >= L.n) continue;
                const fiber *g = &L.f[j];
                if (g->state != F_WARP || !same_site(g, f)) {
                    fail(f, "%s at %s:%d waits for lane %u (mask 0x%08x), which %s", warp_op_name[f->kind],
                         f->file, f->line, l, f->mask, where(g, buf, sizeof buf));
                    return false;
                }
            }
        }
        if (f->state == F_BARRIER && !waiting) waiting = f;
        if (f->state == F_DONE && !exited) exited = f;
    }
    if (!waiting) return false; // every thread has finished
    if (exited) {
        fail(waiting, "__syncthreads at %s:%d is never reached by thread (%u,%u,%u), which has exited",
             waiting->file, waiting->line, exited->view.threadIdx.x, exited->view.threadIdx.y,
             exited->view.threadIdx.z);
        return false;
    }
    for (unsigned i = 0; i < L.n; i++)
        if (!same_site(&L.f[i], waiting)) {
            fail(waiting, "__syncthreads at %s:%d while thread (%u,%u,%u) %s", waiting->file, waiting->line,
                 L.f[i].view.threadIdx.x, L.f[i].view.threadIdx.y, L.f[i].view.threadIdx.z,
                 where(&L.f[i], buf, sizeof buf));
            return false;
        }
    for (unsigned i = 0; i < L.n; i++)
        L.f[i].state = F_RUN;
    return true;
}

static bool run_block(unsigned *order, uint64_t block_salt) {
    for (uint64_t pass = 0;; pass++) {
        make_order(order, L.n, block_salt * 0x100000001b3ull + pass);
        bool ran = false;
        for (unsigned k = 0; k < L.n; k++) {
            fiber *f = &L.f[order[k]];
            if (f->state != F_RUN) continue;
            ran = true;
            resume(f);
            if (!L.failed && f->state == F_WARP) try_complete(f);
            if (L.failed) return false;
        }
        if (ran) continue;
        if (!release_barrier()) return !L.failed;
    }
}

static cudaError_t last_error;
static cudaError_t set_error(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}

cudaError_t emu_launch(const char *kernel, const char *file, int line, dim3 grid, dim3 block, size_t smem,
                       cudaStream_t s, emu_body_fn body, void *arg) {
    (void)s;
    pthread_mutex_lock(&launch_lock);
    emu_schedule();
    launches++;
    memset(&L.block, 0, sizeof L.block);
    L.kernel = kernel;
    L.file = file;
    L.line = line;
    L.body = body;
    L.arg = arg;
    L.failed = false;
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    unsigned long long blocks = (unsigned long long)grid.x * grid.y * grid.z;
    cudaError_t e = cudaSuccess;
    if (!threads || !blocks || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
        grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 || smem > 227 * 1024) {
        fail(NULL,
             "launch of grid (%u,%u,%u) x block (%u,%u,%u) with %zu bytes of dynamic shared memory is beyond "
             "the hardware (at most 1024 threads, 64 in z, 65535 blocks in y and z, 227 KiB)",
             grid.x, grid.y, grid.z, block.x, block.y, block.z, smem);
        e = cudaErrorInvalidConfiguration;
        goto done;
    }
    L.n = (unsigned)threads;
    void *dyn = smem ? malloc(smem) : NULL;
    unsigned *order = malloc(sizeof *order * 1024);
    if (!ensure_fibers(L.n) || (smem && !dyn) || !order) {
        free(dyn);
        free(order);
        fail(NULL, "the emulator is out of memory");
        e = cudaErrorMemoryAllocation;
        goto done;
    }
    // Blocks in schedule order: a permutation of the linear block index, made in chunks so a
    // grid of millions of blocks needs no table of that size.
    for (unsigned long long k = 0; k < blocks && !L.failed; k++) {
        unsigned long long b = k;
        if (sched_kind == SCHED_REV) b = blocks - 1 - k;
        if (sched_kind == SCHED_RAND) {
            // A random bijection of [0, blocks): an affine map with an odd multiplier on the next
            // power of two, skipping values past the end (cycle walking).
            unsigned long long m = 1;
            while (m < blocks)
                m <<= 1;
            unsigned long long a = (mix(sched_seed) | 1) & (m - 1), c = mix(sched_seed + 1) & (m - 1);
            b = k;
            do
                b = (a * b + c) & (m - 1);
            while (b >= blocks);
        }
        L.block = (uint3){(unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y),
                          (unsigned)(b / ((unsigned long long)grid.x * grid.y))};
        start_block(L.block, grid, block, dyn, smem);
        if (!run_block(order, b)) break;
    }
    if (L.failed) {
        L.dirty_stacks = true;
        e = cudaErrorLaunchFailure;
    }
    free(dyn);
    free(order);
done:
    set_error(e);
    pthread_mutex_unlock(&launch_lock);
    return e;
}

// ---- runtime API ----

typedef struct alloc {
    struct alloc *next;
    char *base; // what malloc returned
    char *data;
    size_t bytes;
} alloc;

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static alloc *allocs;
static long live_count, fail_after;
static size_t live_bytes;

// The allocation holding [p, p + n), or NULL when that is not device memory.
static alloc *find(const void *p, size_t n) {
    for (alloc *a = allocs; a; a = a->next)
        if ((const char *)p >= a->data && (const char *)p + n <= a->data + a->bytes) return a;
    return NULL;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = NULL;
    pthread_mutex_lock(&mem_lock);
    bool fail_now = fail_after == 1; // stays armed: every later allocation fails too
    if (fail_after > 1) fail_after--;
    pthread_mutex_unlock(&mem_lock);
    alloc *a = fail_now ? NULL : malloc(sizeof *a);
    void *base = NULL;
    if (a && posix_memalign(&base, 256, bytes ? bytes : 1) != 0) base = NULL;
    if (!a || !base) {
        free(a);
        return set_error(cudaErrorMemoryAllocation);
    }
    memset(base, 0xff, bytes); // fresh device memory is poison
    a->base = base;
    a->data = base;
    a->bytes = bytes;
    pthread_mutex_lock(&mem_lock);
    a->next = allocs;
    allocs = a;
    live_count++;
    live_bytes += bytes;
    pthread_mutex_unlock(&mem_lock);
    *p = a->data;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    pthread_mutex_lock(&mem_lock);
    alloc **pp = &allocs;
    while (*pp && (*pp)->data != p)
        pp = &(*pp)->next;
    alloc *a = *pp;
    if (a) {
        *pp = a->next;
        live_count--;
        live_bytes -= a->bytes;
    }
    pthread_mutex_unlock(&mem_lock);
    if (!a) return set_error(cudaErrorInvalidDevicePointer);
    free(a->base);
    free(a);
    return cudaSuccess;
}

static bool is_device(const void *p, size_t n) {
    pthread_mutex_lock(&mem_lock);
    bool ok = find(p, n ? n : 1) != NULL;
    pthread_mutex_unlock(&mem_lock);
    return ok;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind) {
    if (!bytes) return cudaSuccess;
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind == cudaMemcpyDefault) {
        dst_dev = is_device(dst, bytes);
        src_dev = is_device(src, bytes);
    } else if (kind > cudaMemcpyDefault)
        return set_error(cudaErrorInvalidMemcpyDirection);
    if ((dst_dev && !is_device(dst, bytes)) || (src_dev && !is_device(src, bytes)))
        return set_error(cudaErrorInvalidValue);
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t s) {
    (void)s;
    return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void *p, int value, size_t bytes) {
    if (!bytes) return cudaSuccess;
    if (!is_device(p, bytes)) return set_error(cudaErrorInvalidValue);
    memset(p, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s) {
    (void)s;
    return cudaMemset(p, value, bytes);
}

struct emu_stream {
    int unused;
};
struct emu_event {
    double ms;
};

cudaError_t cudaStreamCreate(cudaStream_t *s) {
    *s = calloc(1, sizeof **s);
    return *s ? cudaSuccess : set_error(cudaErrorMemoryAllocation);
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    free(s);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    (void)s;
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
    return cudaSuccess;
}

#include <time.h>
static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = calloc(1, sizeof **e);
    return *e ? cudaSuccess : set_error(cudaErrorMemoryAllocation);
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    free(e);
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    (void)s;
    e->ms = now_ms();
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    (void)e;
    return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    *ms = (float)(end->ms - start->ms);
    return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int dev) {
    return dev == 0 ? cudaSuccess : set_error(cudaErrorInvalidDevice);
}
cudaError_t cudaGetDevice(int *dev) {
    *dev = 0;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int dev) {
    if (dev != 0) return set_error(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "ugains CUDA emulator (CPU)");
    p->totalGlobalMem = (size_t)16 << 30;
    p->sharedMemPerBlock = 48 << 10;
    p->sharedMemPerBlockOptin = 227 << 10;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->multiProcessorCount = 1;
    p->major = 9;
    p->minor = 0;
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int *v) {
    *v = 13000;
    return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int *v) {
    *v = 13000;
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    *total_bytes = (size_t)16 << 30;
    *free_bytes = *total_bytes - live_bytes;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) {
    return last_error;
}

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return report[0] ? report : "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorLaunchFailure: return report[0] ? report : "unspecified launch failure";
    }
    return "unknown error";
}

// ---- the emulator's own controls ----

const char *emu_last_report(void) {
    return report;
}
void emu_clear_report(void) {
    report[0] = 0;
}
void emu_fail_malloc_after(long n) {
    pthread_mutex_lock(&mem_lock);
    fail_after = n;
    pthread_mutex_unlock(&mem_lock);
}
long emu_live_allocations(void) {
    return live_count;
}
size_t emu_live_bytes(void) {
    return live_bytes;
}
long emu_launch_count(void) {
    return launches;
}
