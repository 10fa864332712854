// bench/bench_pack.c — `ugains bench pack DIR`: streaming check of the packer at full size.
//
// Writes a synthetic SAM checkpoint with the official key names and shapes (default ViT-H,
// 2.5 GB, torch zip layout, one storage per tensor) into DIR with our own torch writer —
// streamed in 4 MiB chunks, never whole — then packs it to safetensors and reports the
// seconds of each phase and the peak resident set. Packing holds one tensor buffer (the
// largest tensor) plus small buffers, so peak RSS stays near that size, not the file size.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/bench.h"
#include "engine/timer.h"
#include "weights-tools/arch.h"
#include "weights-tools/packer.h"
#include "weights-tools/torch_writer.h"

// Deterministic small values: a hash of (storage, element) mapped to [-0.5, 0.5).
static void fill(void *arg, int storage, void *buf, uint64_t off, size_t n) {
    (void)arg;
    float *f = buf;
    uint64_t first = off / 4;
    for (size_t i = 0; i < n / 4; i++) {
        uint64_t z = (first + i) * 0x9E3779B97F4A7C15ull ^ (uint64_t)storage << 40;
        z = (z ^ (z >> 29)) * 0xBF58476D1CE4E5B9ull;
        f[i] = (float)(z >> 40) * (1.0f / 16777216.0f) - 0.5f;
    }
}

static void usage(FILE *f) {
    fprintf(f, "usage: ugains bench pack DIR [--variant vit_b|vit_l|vit_h] [--dtype f32|bf16|f16] [--keep]\n"
               "\n"
               "Writes a synthetic SAM checkpoint (official names and shapes; default vit_h, 2.5 GB) into\n"
               "DIR, packs it to safetensors and prints seconds and peak RSS. The files are removed\n"
               "afterwards unless --keep.\n");
}

int bench_pack_main(int argc, char **argv) {
    static const struct option opts[] = {
        {"variant", required_argument, 0, 'v'},
        {"dtype", required_argument, 0, 'd'},
        {"keep", no_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *variant = "vit_h";
    ug_dtype dtype = UG_F32;
    int keep = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'v': variant = optarg; break;
        case 'd':
            if (!bench_parse_dtype("pack", optarg, &dtype)) return 2;
            break;
        case 'k': keep = 1; break;
        case 'h': usage(stdout); return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *dir = argv[optind];
    ug_err err;
    ug_arch_plan list;
    if (ug_arch_sam_official(variant, &list, &err)) {
        fprintf(stderr, "ugains: bench pack: %s\n", err.msg);
        return 2;
    }
    char ckpt[4096], out[4096];
    snprintf(ckpt, sizeof ckpt, "%s/sam_%s_synthetic.pth", dir, variant);
    snprintf(out, sizeof out, "%s/sam_%s_synthetic.safetensors", dir, variant);

    // data.pkl: a flat OrderedDict of tensors, storage k = tensor k, as torch.save writes it.
    ug_pkw pk;
    ug_pkw_init(&pk);
    ug_pkw_global(&pk, "collections", "OrderedDict");
    ug_pkw_op(&pk, ')');
    ug_pkw_op(&pk, 'R');
    ug_pkw_op(&pk, '(');
    uint64_t *sizes = calloc((size_t)list.n, sizeof *sizes), total = 0;
    size_t largest = 0;
    for (int i = 0; i < list.n && sizes; i++) {
        const ug_arch_item *it = &list.items[i];
        int64_t numel = 1, stride[UG_MAX_DIMS];
        for (int d = it->ndim - 1; d >= 0; d--) {
            stride[d] = numel;
            numel *= it->shape[d];
        }
        char key[32];
        snprintf(key, sizeof key, "%d", i);
        ug_pkw_str(&pk, it->name);
        ug_pkw_tensor(&pk, UG_F32, key, numel, 0, it->ndim, it->shape, stride);
        sizes[i] = (uint64_t)numel * 4;
        total += sizes[i];
        if (sizes[i] > largest) largest = (size_t)sizes[i];
    }
    ug_pkw_op(&pk, 'u');
    ug_pkw_op(&pk, '.');
    int rc = 0;
    double t0 = ug_now_ms();
    if (!sizes || ug_torch_write(ckpt, "archive", &pk, list.n, sizes, fill, NULL, false, &err)) {
        fprintf(stderr, "ugains: bench pack: %s\n", sizes ? err.msg : "out of memory");
        rc = 1;
    }
    double t1 = ug_now_ms();
    size_t rss_write = ug_peak_rss_bytes();
    ug_pack_stats stats;
    if (!rc) {
        ug_pack_opts o = {.arch = "sam", .dtype = dtype};
        if (ug_pack(ckpt, out, &o, &stats, &err)) {
            fprintf(stderr, "ugains: bench pack: %s\n", err.msg);
            rc = 1;
        }
    }
    double t2 = ug_now_ms();
    if (!rc) {
        printf("# ugains bench pack: synthetic SAM %s, %d tensors, %.2f GB f32 checkpoint in %s\n", variant,
               list.n, (double)total / 1e9, dir);
        printf("%-28s %10s %12s\n", "phase", "seconds", "GB/s");
        printf("%-28s %10.2f %12.2f\n", "write checkpoint (torch zip)", (t1 - t0) / 1e3,
               (double)total / 1e6 / (t1 - t0));
        printf("%-28s %10.2f %12.2f\n", "pack -> safetensors", (t2 - t1) / 1e3,
               (double)total / 1e6 / (t2 - t1));
        printf("# largest tensor %.1f MiB, pack buffer %.1f MiB, output %.2f GB (%s)\n",
               (double)largest / 1048576.0, (double)stats.buffer_bytes / 1048576.0, (double)stats.bytes / 1e9,
               ug_dtype_name(dtype));
        printf("# peak RSS after writing %.1f MiB, after packing %.1f MiB\n", (double)rss_write / 1048576.0,
               (double)ug_peak_rss_bytes() / 1048576.0);
    }
    if (!keep) {
        remove(ckpt);
        remove(out);
    }
    free(sizes);
    ug_pkw_free(&pk);
    ug_arch_plan_free(&list);
    return rc;
}
