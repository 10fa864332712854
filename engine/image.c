// engine/image.c — PNG (libpng) and JPEG (libjpeg-turbo) decoding from memory, PNG writing.
//
// Both libraries report errors by calling a function that must not return. Ours longjmp back
// to the decode function, which keeps every resource in a job struct owned by its caller, so
// the caller releases everything on every path. Neither library prints anything: libpng
// warnings are ignored, libjpeg messages are formatted into the job and end up in ug_err.
#include "engine/image.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h> // before jpeglib.h, which uses FILE without including it
#include <stdlib.h>
#include <string.h>

#include <jerror.h> // after jpeglib.h
#include <jpeglib.h>
#include <png.h>

#include "engine/fileio.h"

// Compressed files larger than this are not images we mean to read.
#define IMAGE_MAX_FILE_BYTES ((size_t)1 << 31)
// Progressive JPEGs with absurd scan counts take minutes to decode; real ones have about 10.
#define JPEG_MAX_SCANS 500

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// U8 [H, W, C] output for mode GRAY from an interleaved 3+ channel buffer: only exact grays
// are accepted (see the rule in image.h).
static ug_status collapse_gray(uint8_t *dst, const uint8_t *src, int64_t w, int64_t h, int c,
                               const char *name, const char *what, ug_err *err) {
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            const uint8_t *p = src + (y * w + x) * c;
            if (p[0] != p[1] || p[0] != p[2])
                return ug_errf(err, UG_ERR_UNSUPPORTED,
                               "%s: %s where a gray or palette image is expected (pixel x=%lld "
                               "y=%lld is %u,%u,%u)",
                               name, what, (long long)x, (long long)y, p[0], p[1], p[2]);
            dst[y * w + x] = p[0];
        }
    }
    return UG_OK;
}

static ug_status check_pixels(uint64_t w, uint64_t h, int64_t max_pixels, const char *name, const char *kind,
                              ug_err *err) {
    if (w == 0 || h == 0)
        return ug_errf(err, UG_ERR_FORMAT, "%s: %s has zero size %llux%llu", name, kind,
                       (unsigned long long)w, (unsigned long long)h);
    // w, h < 2^32 each, so the product fits in 64 bits (unsigned: it may not fit in int64_t).
    if (max_pixels < 0 || w * h > (uint64_t)max_pixels)
        return ug_errf(err, UG_ERR_UNSUPPORTED, "%s: %s of %llux%llu pixels is over the %lld-pixel limit",
                       name, kind, (unsigned long long)w, (unsigned long long)h, (long long)max_pixels);
    return UG_OK;
}

// ---------------------------------------------------------------------------------------------
// PNG reading

typedef enum png_want { WANT_RGB8, WANT_GRAY8, WANT_U16 } png_want;

typedef struct png_job {
    jmp_buf jmp;
    char msg[256];
    const unsigned char *data;
    size_t size, pos;
    png_structp png;
    png_infop info;
    unsigned char *buf; // decoded rows when they cannot go straight into `out`
    png_bytep *rows;
    ug_tensor out;
    bool nomem; // the error was an allocation failure
} png_job;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    // libpng's and zlib's allocation failures ("Out of memory", "insufficient memory") are not a
    // bad file: they get UG_ERR_NOMEM, which stops a directory run instead of failing every image.
    j->nomem = strstr(msg, "memory") || strstr(msg, "Memory");
    longjmp(j->jmp, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n) {
    png_job *j = png_get_io_ptr(png);
    if (n > j->size - j->pos) png_error(png, "truncated file");
    memcpy(dst, j->data + j->pos, n);
    j->pos += n;
}

// Fills j->out; all resources stay in j for the caller to release.
static ug_status png_decode_job(png_job *j, const char *name, png_want want, int64_t max_pixels,
                                ug_err *err) {
    // The size check comes first, from IHDR's raw bytes: png_read_info goes on to read every
    // chunk up to the pixel data, which a refused image should not cost.
    if (j->size >= 24 && memcmp(j->data + 12, "IHDR", 4) == 0) {
        const unsigned char *d = j->data + 16;
        uint32_t w = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
        uint32_t h = (uint32_t)d[4] << 24 | (uint32_t)d[5] << 16 | (uint32_t)d[6] << 8 | d[7];
        if (w > 0 && h > 0) {
            ug_status st = check_pixels(w, h, max_pixels, name, "PNG", err);
            if (st != UG_OK) return st;
        }
    }
    if (setjmp(j->jmp))
        return j->nomem ? ug_errf(err, UG_ERR_NOMEM, "%s: out of memory decoding the PNG (%s)", name, j->msg)
                        : ug_errf(err, UG_ERR_FORMAT, "%s: bad PNG: %s", name, j->msg);
    j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, png_on_error, png_on_warning);
    if (!j->png) return ug_errf(err, UG_ERR_NOMEM, "%s: cannot create a PNG reader", name);
    j->info = png_create_info_struct(j->png);
    if (!j->info) return ug_errf(err, UG_ERR_NOMEM, "%s: cannot create a PNG reader", name);
    // libpng's own 1e6 width/height cap would refuse valid 1 x 2M images; our pixel limit is
    // the one that matters.
    png_set_user_limits(j->png, 0x7fffffff, 0x7fffffff);
    png_set_read_fn(j->png, j, png_read_mem);
    png_read_info(j->png, j->info);

    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    ug_status st = check_pixels(w, h, max_pixels, name, "PNG", err);
    if (st != UG_OK) return st;

    if (color == PNG_COLOR_TYPE_PALETTE) {
        if (want == WANT_RGB8)
            png_set_palette_to_rgb(j->png); // adds alpha when there is a tRNS chunk
        else
            png_set_packing(j->png); // 1/2/4-bit indices -> one byte each, values unchanged
    } else if (depth < 8) {
        png_set_expand_gray_1_2_4_to_8(j->png);
    }
    if (depth == 16 && want != WANT_U16) png_set_strip_16(j->png);
    png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);

    int c = png_get_channels(j->png, j->info);
    int obytes = png_get_bit_depth(j->png, j->info) / 8;
    size_t rowbytes = png_get_rowbytes(j->png, j->info);
    if (c < 1 || c > 4 || obytes < 1 || obytes > 2 || rowbytes != (size_t)w * c * obytes)
        return ug_errf(err, UG_ERR_INTERNAL, "%s: unexpected PNG row layout (%d channels, %d bytes)", name, c,
                       obytes);

    int oc = want == WANT_RGB8 ? 3 : 1;
    ug_dtype odt = want == WANT_U16 ? UG_I32 : UG_U8;
    st = want == WANT_U16 ? ug_tensor_new(&j->out, odt, UG_DIMS((int64_t)h, (int64_t)w), err)
                          : ug_tensor_new(&j->out, odt, UG_DIMS((int64_t)h, (int64_t)w, oc), err);
    if (st != UG_OK) {
        ug_err_prefix(err, "%s: ", name);
        return st;
    }
    // Rows go straight into the output when libpng already produces its layout.
    bool direct = want != WANT_U16 && c == oc && obytes == 1;
    j->rows = malloc(sizeof *j->rows * h);
    if (!direct) j->buf = malloc(rowbytes * h);
    if (!j->rows || (!direct && !j->buf))
        return ug_errf(err, UG_ERR_NOMEM, "%s: cannot allocate %zu bytes for the PNG rows", name,
                       rowbytes * h);
    unsigned char *base = direct ? j->out.data : j->buf;
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = base + (size_t)y * rowbytes;
    png_read_image(j->png, j->rows);
    png_read_end(j->png, NULL); // reads up to IEND: a file cut after the pixels is an error too

    if (direct) return UG_OK;
    size_t npx = (size_t)w * h;
    const uint8_t *src = j->buf;
    if (want == WANT_U16) {
        int32_t *dst = j->out.data;
        for (size_t i = 0; i < npx; i++)
            dst[i] = obytes == 2 ? (src[i * c * 2] << 8 | src[i * c * 2 + 1]) : src[i * c];
        return UG_OK;
    }
    uint8_t *dst = j->out.data;
    if (want == WANT_GRAY8) {
        if (c >= 3) return collapse_gray(dst, src, w, h, c, name, "colour PNG", err);
        for (size_t i = 0; i < npx; i++)
            dst[i] = src[i * c]; // gray + alpha: drop alpha
        return UG_OK;
    }
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *p = src + i * c;
        if (c >= 3) {
            dst[3 * i] = p[0], dst[3 * i + 1] = p[1], dst[3 * i + 2] = p[2];
        } else {
            dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = p[0];
        }
    }
    return UG_OK;
}

static ug_status png_decode(const void *data, size_t size, const char *name, png_want want,
                            int64_t max_pixels, ug_tensor *out, ug_err *err) {
    png_job *j = calloc(1, sizeof *j);
    if (!j) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
    j->data = data;
    j->size = size;
    ug_status st = png_decode_job(j, name, want, max_pixels, err);
    if (j->png) png_destroy_read_struct(&j->png, j->info ? &j->info : NULL, NULL);
    free(j->rows);
    free(j->buf);
    if (st == UG_OK)
        *out = j->out;
    else
        ug_tensor_free(&j->out);
    free(j);
    return st;
}

// ---------------------------------------------------------------------------------------------
// JPEG reading

typedef struct jpeg_job {
    struct jpeg_error_mgr pub; // first member: libjpeg hands us &pub, we cast back
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    uint8_t *buf; // RGB rows when mode GRAY must check a colour JPEG
    ug_tensor out;
    bool nomem; // the error was an allocation failure
} jpeg_job;

static void jpeg_on_error(j_common_ptr c) {
    jpeg_job *j = (jpeg_job *)c->err;
    c->err->format_message(c, j->msg);
    j->nomem = c->err->msg_code == JERR_OUT_OF_MEMORY; // not a bad file (see png_on_error)
    longjmp(j->jmp, 1);
}

static void jpeg_on_output(j_common_ptr c) {
    (void)c;
}

// Warnings (level -1) are ignored — many real JPEGs have extraneous bytes between markers —
// except the two that mean pixels are missing, which libjpeg papers over with grey rows: the
// file ends early (JWRN_JPEG_EOF) or a scan's data stops before its last block
// (JWRN_HIT_MARKER, a cut file that still ends in an EOI marker).
static void jpeg_on_emit(j_common_ptr c, int level) {
    if (level == -1) {
        c->err->num_warnings++;
        if (c->err->msg_code == JWRN_JPEG_EOF || c->err->msg_code == JWRN_HIT_MARKER) jpeg_on_error(c);
    }
}

static void jpeg_on_progress(j_common_ptr c) {
    if (c->is_decompressor && ((j_decompress_ptr)c)->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_job *j = (jpeg_job *)c->err;
        snprintf(j->msg, sizeof j->msg, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(j->jmp, 1);
    }
}

static ug_status jpeg_decode_job(jpeg_job *j, const void *data, size_t size, const char *name,
                                 ug_image_mode mode, int64_t max_pixels, ug_err *err) {
    struct jpeg_decompress_struct *ci = &j->cinfo;
    ci->err = jpeg_std_error(&j->pub);
    j->pub.error_exit = jpeg_on_error;
    j->pub.output_message = jpeg_on_output;
    j->pub.emit_message = jpeg_on_emit;
    if (setjmp(j->jmp))
        return j->nomem ? ug_errf(err, UG_ERR_NOMEM, "%s: out of memory decoding the JPEG (%s)", name, j->msg)
                        : ug_errf(err, UG_ERR_FORMAT, "%s: bad JPEG: %s", name, j->msg);
    jpeg_create_decompress(ci);
    j->progress.progress_monitor = jpeg_on_progress;
    ci->progress = &j->progress;
    jpeg_mem_src(ci, data, (unsigned long)size);
    jpeg_read_header(ci, TRUE);
    ug_status st = check_pixels(ci->image_width, ci->image_height, max_pixels, name, "JPEG", err);
    if (st != UG_OK) return st;
    if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK)
        return ug_errf(err, UG_ERR_UNSUPPORTED, "%s: CMYK JPEG is not supported (convert it to RGB)", name);
    bool gray_src = ci->jpeg_color_space == JCS_GRAYSCALE;
    int c = mode == UG_IMAGE_GRAY && gray_src ? 1 : 3;
    ci->out_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    // Bounds libjpeg's whole-image buffers (progressive coefficients: 2 bytes x 3 components
    // per pixel); beyond it libjpeg fails instead of allocating.
    ci->mem->max_memory_to_use = (long)(max_pixels * 8 + (64 << 20));
    jpeg_start_decompress(ci);
    if (ci->output_components != c || ci->output_width != ci->image_width ||
        ci->output_height != ci->image_height)
        return ug_errf(err, UG_ERR_INTERNAL, "%s: unexpected JPEG output layout", name);

    int64_t w = ci->output_width, h = ci->output_height;
    st = ug_tensor_new(&j->out, UG_U8, UG_DIMS(h, w, (int64_t)mode), err);
    if (st != UG_OK) {
        ug_err_prefix(err, "%s: ", name);
        return st;
    }
    uint8_t *base = j->out.data;
    if ((int)mode != c) { // GRAY from a colour JPEG: decode RGB, then insist on R == G == B
        j->buf = malloc((size_t)(w * h * 3));
        if (!j->buf)
            return ug_errf(err, UG_ERR_NOMEM, "%s: cannot allocate %lld bytes", name, (long long)(w * h * 3));
        base = j->buf;
    }
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW row = base + (size_t)ci->output_scanline * w * c;
        jpeg_read_scanlines(ci, &row, 1);
    }
    jpeg_finish_decompress(ci);
    if (j->buf) return collapse_gray(j->out.data, j->buf, w, h, 3, name, "colour JPEG", err);
    return UG_OK;
}

static ug_status jpeg_decode(const void *data, size_t size, const char *name, ug_image_mode mode,
                             int64_t max_pixels, ug_tensor *out, ug_err *err) {
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
    ug_status st = jpeg_decode_job(j, data, size, name, mode, max_pixels, err);
    jpeg_destroy_decompress(&j->cinfo); // no-op when creation never happened (mem == NULL)
    free(j->buf);
    if (st == UG_OK)
        *out = j->out;
    else
        ug_tensor_free(&j->out);
    free(j);
    return st;
}

// ---------------------------------------------------------------------------------------------
// Public reading API

static bool is_png(const void *data, size_t size) {
    return size >= 8 && memcmp(data, png_signature, 8) == 0;
}

static bool is_jpeg(const void *data, size_t size) {
    const unsigned char *p = data;
    return size >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff;
}

ug_status ug_image_decode_max(const void *data, size_t size, const char *name, ug_image_mode mode,
                              int64_t max_pixels, ug_tensor *out, ug_err *err) {
    memset(out, 0, sizeof *out);
    if (mode != UG_IMAGE_RGB && mode != UG_IMAGE_GRAY)
        return ug_errf(err, UG_ERR_ARG, "%s: bad image mode %d", name, (int)mode);
    if (is_png(data, size))
        return png_decode(data, size, name, mode == UG_IMAGE_RGB ? WANT_RGB8 : WANT_GRAY8, max_pixels, out,
                          err);
    if (is_jpeg(data, size)) return jpeg_decode(data, size, name, mode, max_pixels, out, err);
    return ug_errf(err, UG_ERR_FORMAT, "%s: not a PNG or JPEG file", name);
}

ug_status ug_image_decode(const void *data, size_t size, const char *name, ug_image_mode mode, ug_tensor *out,
                          ug_err *err) {
    return ug_image_decode_max(data, size, name, mode, UG_IMAGE_MAX_PIXELS, out, err);
}

ug_status ug_image_read(const char *path, ug_image_mode mode, ug_tensor *out, ug_err *err) {
    memset(out, 0, sizeof *out);
    void *data;
    size_t size;
    ug_status st = ug_file_read_all(path, IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st != UG_OK) return st;
    st = ug_image_decode(data, size, path, mode, out, err);
    free(data);
    return st;
}

ug_status ug_png_decode_u16(const void *data, size_t size, const char *name, ug_tensor *out, ug_err *err) {
    memset(out, 0, sizeof *out);
    if (!is_png(data, size)) return ug_errf(err, UG_ERR_FORMAT, "%s: not a PNG file", name);
    return png_decode(data, size, name, WANT_U16, UG_IMAGE_MAX_PIXELS, out, err);
}

ug_status ug_png_read_u16(const char *path, ug_tensor *out, ug_err *err) {
    memset(out, 0, sizeof *out);
    void *data;
    size_t size;
    ug_status st = ug_file_read_all(path, IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st != UG_OK) return st;
    st = ug_png_decode_u16(data, size, path, out, err);
    free(data);
    return st;
}

// ---------------------------------------------------------------------------------------------
// PNG writing

typedef struct png_wjob {
    jmp_buf jmp;
    char msg[256];
    png_structp png;
    png_infop info;
    ug_atomic_file file;
    uint8_t *row; // one packed row when the tensor's rows are not contiguous
} png_wjob;

static void png_on_write_error(png_structp png, png_const_charp msg) {
    png_wjob *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    longjmp(j->jmp, 1);
}

static ug_status png_write_job(png_wjob *j, const char *path, const ug_tensor *img, int64_t h, int64_t w,
                               int c, ug_err *err) {
    if (setjmp(j->jmp)) return ug_errf(err, UG_ERR_IO, "%s: PNG write failed: %s", path, j->msg);
    j->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, j, png_on_write_error, png_on_warning);
    if (!j->png) return ug_errf(err, UG_ERR_NOMEM, "%s: cannot create a PNG writer", path);
    j->info = png_create_info_struct(j->png);
    if (!j->info) return ug_errf(err, UG_ERR_NOMEM, "%s: cannot create a PNG writer", path);
    png_set_user_limits(j->png, 0x7fffffff, 0x7fffffff);
    ug_status st = ug_atomic_open(&j->file, path, err);
    if (st != UG_OK) return st;
    png_init_io(j->png, j->file.f);
    static const int color_of[5] = {0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_IHDR(j->png, j->info, (png_uint_32)w, (png_uint_32)h, 8, color_of[c], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(j->png, j->info);

    int64_t sy = img->stride[0], sx = img->stride[1], sc = img->ndim == 3 ? img->stride[2] : 1;
    bool packed = sc == 1 && (sx == c || w == 1);
    if (!packed && !(j->row = malloc((size_t)(w * c))))
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
    const uint8_t *base = img->data;
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *src = base + y * sy;
        if (!packed) {
            for (int64_t x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    j->row[x * c + k] = src[x * sx + k * sc];
            src = j->row;
        }
        png_write_row(j->png, src);
    }
    png_write_end(j->png, NULL);
    return UG_OK;
}

ug_status ug_png_write(const char *path, const ug_tensor *img, ug_err *err) {
    if (img->device != UG_CPU || img->dtype != UG_U8 || img->ndim < 2 || img->ndim > 3)
        return ug_errf(err, UG_ERR_ARG, "%s: PNG needs a U8 CPU tensor [H, W] or [H, W, C], got %s %dD", path,
                       ug_dtype_name(img->dtype), img->ndim);
    int64_t h = img->shape[0], w = img->shape[1];
    int64_t c = img->ndim == 3 ? img->shape[2] : 1;
    if (c != 1 && c != 3 && c != 4)
        return ug_errf(err, UG_ERR_ARG, "%s: PNG needs 1, 3 or 4 channels, got %lld", path, (long long)c);
    if (h < 1 || w < 1 || h > 0x7fffffff || w > 0x7fffffff)
        return ug_errf(err, UG_ERR_ARG, "%s: cannot write a %lldx%lld PNG", path, (long long)w, (long long)h);
    png_wjob *j = calloc(1, sizeof *j);
    if (!j) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
    ug_status st = png_write_job(j, path, img, h, w, (int)c, err);
    if (j->png) png_destroy_write_struct(&j->png, j->info ? &j->info : NULL);
    free(j->row);
    if (st == UG_OK)
        st = ug_atomic_commit(&j->file, err);
    else
        ug_atomic_abort(&j->file);
    free(j);
    return st;
}
