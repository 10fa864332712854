// tests/rba_testutil.h — shared by the RbA and pipeline suites: the golden rba_tiny (and
// sam_tiny) checkpoints packed into safetensors with the packer's API, and golden rba_tiny
// .npy access.
#ifndef UG_TESTS_RBA_TESTUTIL_H
#define UG_TESTS_RBA_TESTUTIL_H

#include "engine/json.h"
#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "models/rba.h"
#include "models/sam.h"

// Packs golden/rba_tiny/<ckpt> into dir/<out> with the tiny head counts set
// (pixel_decoder_transformer_nheads=4, decoder_nheads=4): shapes cannot reveal them.
// Returns the malloc'ed path, or NULL with a message on stderr.
char *rba_test_pack(const char *dir, const char *ckpt, const char *out);
// The same with float tensors stored as `dtype` (UG_F32, UG_BF16 or UG_F16).
char *rba_test_pack_as(const char *dir, const char *ckpt, const char *out, ug_dtype dtype);
// Packs golden/sam_tiny/sam_tiny.pth into dir/<out> (F32) with the tiny decoder head count
// set (decoder_transformer_num_heads=4). Returns the malloc'ed path, or NULL with a message.
char *sam_test_pack(const char *dir, const char *out);
// The same with float tensors stored as `dtype` (UG_F32, UG_F16 or UG_BF16).
char *sam_test_pack_as(const char *dir, const char *out, ug_dtype dtype);

// sam_test_pack / rba_test_pack into dir/<out>, then sam_load / rba_load of that file: the
// loaded model, or NULL with a message on stderr (a load error as "<who>: <message>").
sam_model *sam_test_load(const char *dir, const char *out, const char *who);
rba_model *rba_test_load(const char *dir, const char *ckpt, const char *out, const char *who);

// Packs both tiny models for a `ugains run`: dir/sam.safetensors (sam_test_pack) and
// dir/rba.safetensors (rba_tiny_1dl.d2.pth); their paths go into sam / rba (n bytes each).
// false, with a message on stderr, when either cannot be packed.
bool test_pack_tiny_pair(const char *dir, char *sam, char *rba, size_t n);

// Opens a packed file and parses its metadata config. Both or neither are set.
ug_status rba_test_open(const char *path, ug_st_file **st, ug_json_doc **cfg, ug_err *err);

// golden/rba_tiny/<stem>.npy (leading dims folded beyond 5); aborts the test when missing or
// unreadable.
ug_tensor rba_golden(const char *stem);
// true when golden/rba_tiny/<stem>.npy exists.
bool rba_golden_exists(const char *stem);
// Compares got with golden/rba_tiny/<stem>.npy element by element (same element count).
void rba_check(const ug_tensor *got, const char *stem, double atol, double rtol);

#endif
