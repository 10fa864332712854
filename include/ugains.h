// ugains.h — the public C API of libugains: UGainS anomaly instance segmentation (RbA scores,
// SAM point prompts, mask NMS, refined anomaly score) on one RGB image at a time.
//
// This is the one installed header; it includes only standard headers. Every other object is
// opaque and reached through a handle:
//
//   ugains_model *m;  ugains_output *o;  ugains_error err;
//   if (ugains_open("rba.safetensors", "sam.safetensors", NULL, &m, &err)) { ...err.message... }
//   ugains_run(m, rgb, height, width, NULL, &o, &err);     // rgb: height * width * 3 bytes
//   for (int i = 0; i < ugains_output_count(o); i++) { ugains_instance in;
//       ugains_output_instance(o, i, &in); ... in.score, in.bbox, in.area ... }
//   ugains_output_free(o);  ugains_close(m);
//
// Errors: every call that can fail returns a ugains_status (0 = UGAINS_OK) and, when `err` is
// not NULL, fills it with the same code and one line naming the file or argument and the
// problem. The library never exits and never prints; its notes and warnings are dropped
// unless ugains_set_log installs a callback. (The one exception: a few MB of kernel working
// memory that cannot be allocated mid-run abort the process, see docs/LIBRARY.md.)
//
// Threads: a model owns a thread pool (ugains_options.threads). One ugains_run at a time per
// model; different models may run concurrently. Outputs are independent of their model.
#ifndef UGAINS_H
#define UGAINS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The version: `ugains --version`, the shared library's file name libugains.so.MAJOR.MINOR.PATCH
// and its soname libugains.so.MAJOR are all read from these three lines (the Makefile too).
#define UGAINS_VERSION_MAJOR 0
#define UGAINS_VERSION_MINOR 1
#define UGAINS_VERSION_PATCH 0

#define UGAINS_STR2_(x) #x
#define UGAINS_STR_(x)  UGAINS_STR2_(x)
#define UGAINS_VERSION                                                                                       \
    UGAINS_STR_(UGAINS_VERSION_MAJOR)                                                                        \
    "." UGAINS_STR_(UGAINS_VERSION_MINOR) "." UGAINS_STR_(UGAINS_VERSION_PATCH)

// What the shared library exports (it is built with -fvisibility=hidden).
#if defined(__GNUC__) || defined(__clang__)
#define UGAINS_API __attribute__((visibility("default")))
#else
#define UGAINS_API
#endif

// The library's version string, "MAJOR.MINOR.PATCH" (UGAINS_VERSION of the build).
UGAINS_API const char *ugains_version(void);

// ---- errors ----

typedef enum ugains_status {
    UGAINS_OK = 0,
    UGAINS_ERR_IO,          // a file cannot be opened or read
    UGAINS_ERR_FORMAT,      // a file's content is malformed or truncated
    UGAINS_ERR_UNSUPPORTED, // well-formed but outside what ugains handles
    UGAINS_ERR_ARG,         // an invalid argument (NULL, a size, an option, an index)
    UGAINS_ERR_NOMEM,       // out of memory, or a size too large to allocate
    UGAINS_ERR_INTERNAL,
} ugains_status;

enum { UGAINS_ERROR_MAX = 1024 };

typedef struct ugains_error {
    ugains_status code;
    char message[UGAINS_ERROR_MAX]; // one line, NUL-terminated; "" on success
} ugains_error;

// A short name of a status: "ok", "I/O error", ...
UGAINS_API const char *ugains_status_name(ugains_status status);

// ---- log messages ----

typedef enum ugains_log_level {
    UGAINS_LOG_WARN = 1,
    UGAINS_LOG_INFO = 2,
    UGAINS_LOG_DEBUG = 3
} ugains_log_level;
typedef void (*ugains_log_fn)(void *user, ugains_log_level level, const char *message);

// Sends the library's messages up to max_level to fn (process-wide; call it before other calls,
// not while a run is in progress). fn NULL: messages are dropped (the default).
UGAINS_API void ugains_set_log(ugains_log_fn fn, void *user, ugains_log_level max_level);

// ---- models ----

typedef enum ugains_sampler {
    UGAINS_SAMPLER_FPS = 0, // farthest point sampling (the release)
    UGAINS_SAMPLER_KMEANS,
    UGAINS_SAMPLER_RANDOM,
    UGAINS_SAMPLER_GRID, // SAM's automatic grid, round(sqrt(points))^2 points (1024 = 32x32)
} ugains_sampler;

typedef enum ugains_fps_ties {
    UGAINS_FPS_TIES_OFFICIAL = 0, // the official pointnet2 CUDA kernel's rule
    UGAINS_FPS_TIES_LOWEST,       // the lowest index
} ugains_fps_ties;

// Start from ugains_options_default and change fields; NULL options mean the defaults.
typedef struct ugains_options {
    int threads;            // worker threads, 1..256; <= 0: $UGAINS_THREADS or all cores (0)
    int points;             // point prompts per image, 1..1048576 (50)
    float threshold;        // candidate pixels have RbA score >= threshold (-0.15)
    float nms;              // mask NMS IoU threshold in [0, 1] (0.7)
    int64_t ignore_overlap; // drop masks with >= this many pixels in the ignore mask (100)
    ugains_sampler sampler; // (UGAINS_SAMPLER_FPS)
    ugains_fps_ties ties;   // (UGAINS_FPS_TIES_OFFICIAL)
    uint64_t seed;          // of the kmeans and random samplers (0)
    int pad32;              // non-zero: RbA with detectron2's padding to a multiple of 32 (0)
} ugains_options;

// The released configuration (the values in parentheses above).
UGAINS_API void ugains_options_default(ugains_options *opt);

typedef struct ugains_model ugains_model;

// Loads packed RbA and SAM weights (`ugains pack` output, safetensors) and starts the thread
// pool. On success *out is a model for ugains_close; on failure *out is NULL.
UGAINS_API ugains_status ugains_open(const char *rba_path, const char *sam_path, const ugains_options *opt,
                                     ugains_model **out, ugains_error *err);
// Frees a model (NULL is a no-op). Outputs it made stay valid.
UGAINS_API void ugains_close(ugains_model *model);

// ---- running one image ----

typedef struct ugains_output ugains_output;

// rgb: height * width * 3 bytes, row-major, R G B per pixel. ignore: height * width bytes
// (non-zero = ignore: no prompt there, masks overlapping it by >= ignore_overlap pixels are
// dropped) or NULL. On success *out holds the results (ugains_output_free); on failure NULL.
UGAINS_API ugains_status ugains_run(ugains_model *model, const uint8_t *rgb, int height, int width,
                                    const uint8_t *ignore, ugains_output **out, ugains_error *err);
UGAINS_API void ugains_output_free(ugains_output *out);

// The image size of the output.
UGAINS_API void ugains_output_size(const ugains_output *out, int *height, int *width);
// Per-pixel maps, height * width values row-major, owned by the output:
UGAINS_API const float *ugains_output_rba_score(const ugains_output *out);  // RbA score U, in [-Q, 0]
UGAINS_API const float *ugains_output_refined(const ugains_output *out);    // refined anomaly score
UGAINS_API const uint8_t *ugains_output_semantic(const ugains_output *out); // Cityscapes trainIds
// Point prompts that were sampled (at most options.points).
UGAINS_API int ugains_output_num_points(const ugains_output *out);

// Anomaly instances after NMS and the ignore filter, highest score first.
UGAINS_API int ugains_output_count(const ugains_output *out);

typedef struct ugains_instance {
    float score;         // mean RbA score U over the mask
    float point[2];      // (x, y) of the prompt, in pixels
    float predicted_iou; // SAM's IoU prediction of the mask
    int bbox[4];         // COCO [x, y, width, height]
    int64_t area;        // pixels in the mask
} ugains_instance;

// Instance i (0 <= i < ugains_output_count): UGAINS_ERR_ARG for another i.
UGAINS_API ugains_status ugains_output_instance(const ugains_output *out, int i, ugains_instance *inst);
// Its mask as height * width bytes (1 inside, 0 outside) into mask: UGAINS_ERR_ARG for a bad i.
UGAINS_API ugains_status ugains_output_mask(const ugains_output *out, int i, uint8_t *mask);

// ---- images ----

typedef enum ugains_image_mode {
    UGAINS_IMAGE_RGB = 3,  // 3 bytes per pixel (gray and palette images converted, alpha dropped)
    UGAINS_IMAGE_GRAY = 1, // 1 byte per pixel: label and mask files (a palette PNG gives its index)
} ugains_image_mode;

// Reads a PNG or JPEG file: *pixels = height * width * mode bytes, row-major, to be freed with
// ugains_image_free. On failure *pixels is NULL.
UGAINS_API ugains_status ugains_image_read(const char *path, ugains_image_mode mode, uint8_t **pixels,
                                           int *height, int *width, ugains_error *err);
UGAINS_API void ugains_image_free(uint8_t *pixels);

#ifdef __cplusplus
}
#endif

#endif
