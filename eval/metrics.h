// eval/metrics.h — the anomaly segmentation metrics of `ugains eval` (DESIGN §7), computed
// exactly as the official UGainS evaluation does (golden/eval_tiny/README.md spells out every
// definition; kumuji/ugains ugains/metrics/ood.py and instance.py, cityscapesScripts
// evaluation/evalInstanceLevelSemanticLabeling.py).
//
// Nothing here touches files: the caller (apps/cmd_eval.c) reads the images and feeds them in.
//
// Pixel level (pAP, AUROC, FPR95) over every non-ignored pixel of a data set
// ---------------------------------------------------------------------------
// Exactness needs every distinct score value as its own threshold (pixels with equal scores
// enter together), so scores cannot be binned. Holding all scores is what the Python code
// does (N x (4 + 1) bytes, plus an argsort of N x 8); we bound the memory instead and pay with
// extra passes over the data:
//   pass 0   a histogram of the top 16 bits of each score's order-preserving 32-bit key
//            (65536 buckets x 2 counts); at the same time the keys are collected
//            speculatively while they fit the budget (the common case finishes here).
//   pass 1+  bands of adjacent buckets, highest scores first, holding at most
//            budget / 8 pixels each: the keys of the band's pixels (4 bytes) are collected,
//            radix-sorted (4 bytes of scratch) and walked from the top. A single bucket with
//            more pixels than that is counted densely over its low 16 bits instead (1 MiB).
// Peak memory: max(budget, 1 MiB) + 1 MiB whatever the number of pixels; passes:
// 1 if all pixels fit in budget / 8, else 1 + about ceil(8 * pixels / budget).
// With the CLI's default budget (1 GiB) 100 images of 2 MPixel take 1 + 2 passes.
//
// Usage (the same images in the same order in every pass):
//   ug_pixel_eval *pe; ug_pixel_eval_new(&pe, budget, err);
//   for (;;) {
//       bool more; ug_pixel_eval_begin_pass(pe, &more, err); if (!more) break;
//       for each image: ug_pixel_eval_add(pe, scores, labels, n, name, err);
//   }
//   ug_pixel_eval_result(pe, &m); ug_pixel_eval_free(pe);
//
// Labels: 0 inlier, 1 anomaly, UG_LABEL_IGNORE skipped; scores must not be NaN (sklearn
// refuses NaN too). -0.0 equals +0.0 (as in numpy). Undefined metrics (no anomaly pixel or
// no inlier pixel — roc_curve's TPR or FPR is then 0/0) are NaN; the CLI writes them as null.
//
// Instance level (iAP, iAP50): the Cityscapes instance protocol for the one class 26
// -------------------------------------------------------------------------------
// Per image the caller passes the 16-bit instanceIds values and the predicted masks with their
// scores; the per-image summary kept (region sizes, per-prediction pixel/void/overlap counts)
// is small, so any number of images fits.
#ifndef UG_EVAL_METRICS_H
#define UG_EVAL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

enum { UG_LABEL_INLIER = 0, UG_LABEL_ANOMALY = 1, UG_LABEL_IGNORE = 255 };

typedef struct ug_pixel_metrics {
    int64_t num_pixels;      // scored (non-ignored) pixels
    int64_t positives;       // anomaly pixels (P)
    int64_t negatives;       // inlier pixels (N)
    int64_t distinct_scores; // thresholds of the curves
    int64_t roc_points;      // ROC points after drop_intermediate, (0, 0) included
    double ap;               // average precision in [0, 1] (sklearn average_precision_score)
    double auroc;            // area under the ROC curve (roc_curve + auc), [0, 1]
    double fpr95;            // FPR of the first ROC point with TPR > 0.95, [0, 1]
    double fpr95_threshold;  // the score of that point
} ug_pixel_metrics;

// Memory budget of the default CLI run (bytes).
#define UG_PIXEL_EVAL_DEFAULT_BUDGET ((size_t)1 << 30)

typedef struct ug_pixel_eval ug_pixel_eval;

// budget: bytes for collected keys (at least 1 MiB is used whatever is asked).
ug_status ug_pixel_eval_new(ug_pixel_eval **pe, size_t budget, ug_err *err);
void ug_pixel_eval_free(ug_pixel_eval *pe);
// Closes the previous pass (sorting and walking what it collected) and opens the next one;
// *more = false when the metrics are complete. Fails on allocation, or when a pass did not see
// the pixels of pass 0 (the caller fed different data).
ug_status ug_pixel_eval_begin_pass(ug_pixel_eval *pe, bool *more, ug_err *err);
// The number of the pass that is open (0 = the first, which the instance level can share).
int ug_pixel_eval_pass(const ug_pixel_eval *pe);
// n scores and labels of one image; `name` names it in errors (a NaN score, a bad label).
ug_status ug_pixel_eval_add(ug_pixel_eval *pe, const float *scores, const uint8_t *labels, int64_t n,
                            const char *name, ug_err *err);
// Valid once begin_pass returned *more = false.
void ug_pixel_eval_result(const ug_pixel_eval *pe, ug_pixel_metrics *out);

// One-shot over arrays in memory (all passes run here); budget as above.
ug_status ug_pixel_metrics_compute(const float *scores, const uint8_t *labels, int64_t n, size_t budget,
                                   ug_pixel_metrics *out, ug_err *err);

// Reference: the sklearn definitions literally (sort all pairs, group ties, build the whole
// curve, drop_intermediate on the arrays, trapezoids). O(n) memory; used by tests.
ug_status ug_pixel_metrics_ref(const float *scores, const uint8_t *labels, int64_t n, ug_pixel_metrics *out,
                               ug_err *err);

// Order-preserving key of a float (a < b <=> key(a) < key(b); -0.0 maps like +0.0).
static inline uint32_t ug_score_key(float f) {
    union {
        float f;
        uint32_t u;
    } v = {.f = f == 0.0f ? 0.0f : f};
    return (v.u & 0x80000000u) ? ~v.u : v.u | 0x80000000u;
}
static inline float ug_score_from_key(uint32_t k) {
    union {
        float f;
        uint32_t u;
    } v = {.u = (k & 0x80000000u) ? k & 0x7fffffffu : ~k};
    return v.f;
}

// ---------------------------------------------------------------------------------------------
// Instance level.

enum { UG_IAP_THRESHOLDS = 10 }; // overlaps 0.50, 0.55, ..., 0.95
enum { UG_IAP_MIN_REGION = 10 }; // minRegionSizes[0] of the UGainS evaluator
enum { UG_IAP_CLASS = 26 };      // the Cityscapes label UGainS writes its instances as

typedef struct ug_inst_metrics {
    double ap[UG_IAP_THRESHOLDS]; // AP per overlap threshold in [0, 1]; NaN without GT
    double iap, iap50;            // mean of ap[], ap[0]
    int64_t num_images;
    int64_t num_instances;     // evaluated GT instances (>= UG_IAP_MIN_REGION pixels)
    int64_t num_gt_any_size;   // GT instances of class 26 of any size (groups excluded)
    int64_t num_pred;          // predictions passed in
    int64_t num_pred_nonempty; // those with at least one pixel (the others are skipped)
} ug_inst_metrics;

typedef struct ug_inst_eval ug_inst_eval;

ug_status ug_inst_eval_new(ug_inst_eval **ev, ug_err *err);
void ug_inst_eval_free(ug_inst_eval *ev);
// Opens the next image: ids [HW] its instanceIds values (0..65535; v >= 1000 an instance of
// class v / 1000, v < 1000 a Cityscapes label id; values that are not label ids are refused,
// as cityscapesScripts fails on them). `name` names it in errors. ids may be freed afterwards.
ug_status ug_inst_eval_image(ug_inst_eval *ev, const int32_t *ids, int64_t HW, const char *name, ug_err *err);
// One prediction of the open image: mask [HW] (non-zero = in) and its confidence. An empty
// mask is counted in num_pred and otherwise skipped.
ug_status ug_inst_eval_pred(ug_inst_eval *ev, const uint8_t *mask, double score, ug_err *err);
void ug_inst_eval_result(const ug_inst_eval *ev, ug_inst_metrics *out);

// The overlap thresholds as numpy's arange(0.5, 1.0, 0.05) makes them (0.5 + i * delta with
// delta = (0.5 + 0.05) - 0.5 in double).
double ug_iap_threshold(int i);

// The AP of one overlap threshold from (y, score) pairs and the hard false negatives, with
// cityscapesScripts' centred-difference integration. NaN when have_gt is false, 0 when
// have_pred is false or no pair exists. Exposed for tests.
double ug_iap_curve(const uint8_t *y, const double *score, int64_t n, int64_t hard_fn, bool have_gt,
                    bool have_pred);

#endif
