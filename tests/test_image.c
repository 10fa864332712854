// tests/test_image.c — PNG/JPEG reading and PNG writing: round trips of every layout we write,
// PNGs and JPEGs made here with libpng/libjpeg in the forms we do not write (16-bit, palette,
// 1-bit, interlaced, gray+alpha, progressive, CMYK), the golden images, and hostile inputs
// (every truncation, byte flips, bad signatures, huge declared sizes): an error naming the file,
// never a crash or a leak (the sanitizer build of this suite checks the latter two).
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "engine/image.h"
#include "engine/npy.h"
#include "tests/helpers.h"

// ---------------------------------------------------------------------------------------------
// Making test files in memory

typedef struct membuf {
    unsigned char *p;
    size_t n, cap;
} membuf;

static void mem_write(png_structp png, png_bytep data, size_t n) {
    membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
        ck_assert_ptr_nonnull(m->p);
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
}

static void mem_flush(png_structp png) {
    (void)png;
}

typedef struct png_spec {
    int w, h, depth, color, interlace;
    const png_color *palette;
    int npalette;
    const png_byte *trns;
    int ntrns;
} png_spec;

// A PNG of any libpng layout from packed big-endian rows (`rowbytes` each).
static membuf make_png(const png_spec *s, const unsigned char *rows, size_t rowbytes) {
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    if (setjmp(png_jmpbuf(png))) ck_abort_msg("libpng failed writing a test PNG");
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color, s->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trns) png_set_tRNS(png, info, s->trns, s->ntrns, NULL);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < s->h; y++)
            png_write_row(png, rows + (size_t)y * rowbytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return m;
}

// A JPEG from interleaved samples; `cs` is the input colour space (RGB, GRAYSCALE or CMYK).
static membuf make_jpeg(const unsigned char *px, int w, int h, J_COLOR_SPACE cs, int comps, int quality,
                        bool progressive) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &out, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    membuf m = {out, n, n};
    return m;
}

static void fill_random(ug_tensor *t, uint64_t seed) {
    test_rng r = test_rng_seed(seed);
    unsigned char *b = t->data;
    for (size_t i = 0; i < ug_tensor_nbytes(t); i++)
        b[i] = (unsigned char)test_rng_u64(&r);
}

static void assert_shape(const ug_tensor *t, int64_t h, int64_t w, int64_t c) {
    ck_assert_int_eq(t->ndim, 3);
    ck_assert_int_eq(t->shape[0], h);
    ck_assert_int_eq(t->shape[1], w);
    ck_assert_int_eq(t->shape[2], c);
}

// An error that names `name`, fits on one line, and left no tensor behind.
static void assert_error(ug_status st, const ug_err *err, const ug_tensor *t, const char *name) {
    ck_assert_msg(st != UG_OK, "%s: decoded without an error", name);
    ck_assert_msg(strncmp(err->msg, name, strlen(name)) == 0 && !strchr(err->msg, '\n'),
                  "message '%s' does not start with '%s'", err->msg, name);
    ck_assert_ptr_null(t->data);
    ck_assert_ptr_null(t->alloc);
}

// ---------------------------------------------------------------------------------------------
// Round trips of what we write

START_TEST(png_roundtrip_gray_rgb_rgba) {
    char *dir = test_tmpdir();
    char *path = test_path_join(dir, "r.png");
    static const int sizes[][2] = {{1, 1}, {3, 17}, {33, 127}, {127, 3}};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t h = sizes[si][0], w = sizes[si][1];
        for (int c = 1; c <= 4; c++) {
            if (c == 2) continue;
            ug_tensor img, rgb, gray;
            ug_err err;
            ck_assert_int_eq(ug_tensor_new(&img, UG_U8, UG_DIMS(h, w, c), &err), UG_OK);
            fill_random(&img, (uint64_t)(si * 10 + c));
            ug_tensor src = c == 1 ? ug_view_reshape(&img, UG_DIMS(h, w)) : img; // [H, W] for gray
            ck_assert_msg(ug_png_write(path, &src, &err) == UG_OK, "%s", err.msg);
            ck_assert_msg(ug_image_read(path, UG_IMAGE_RGB, &rgb, &err) == UG_OK, "%s", err.msg);
            assert_shape(&rgb, h, w, 3);
            const uint8_t *a = img.data, *b = rgb.data;
            for (int64_t i = 0; i < h * w; i++)
                for (int k = 0; k < 3; k++)
                    ck_assert_int_eq(b[i * 3 + k], a[i * c + (c == 1 ? 0 : k)]); // alpha dropped
            ug_status st = ug_image_read(path, UG_IMAGE_GRAY, &gray, &err);
            if (c == 1 || h * w == 0) {
                ck_assert_msg(st == UG_OK, "%s", err.msg);
                assert_shape(&gray, h, w, 1);
                ck_assert_int_eq(memcmp(gray.data, img.data, (size_t)(h * w)), 0);
            } else {
                // Random colours are not gray: mode GRAY refuses them and says where.
                assert_error(st, &err, &gray, path);
                ck_assert_int_eq(st, UG_ERR_UNSUPPORTED);
                ck_assert_ptr_nonnull(strstr(err.msg, "pixel x="));
            }
            ug_tensor_free(&img);
            ug_tensor_free(&rgb);
            ug_tensor_free(&gray);
        }
    }
    // Only the output remains in the directory: no temporary files.
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(entries, 1);
    free(path);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(png_write_strided_and_gray_rgb) {
    char *dir = test_tmpdir();
    char *path = test_path_join(dir, "s.png");
    ug_tensor chw, back;
    ug_err err;
    // A [3, H, W] planar tensor written through its [H, W, 3] permuted view.
    ck_assert_int_eq(ug_tensor_new(&chw, UG_U8, UG_DIMS(3, 17, 33), &err), UG_OK);
    fill_random(&chw, 5);
    ug_tensor hwc = ug_view_permute(&chw, (int[]){1, 2, 0});
    ck_assert_int_eq(ug_png_write(path, &hwc, &err), UG_OK);
    ck_assert_int_eq(ug_image_read(path, UG_IMAGE_RGB, &back, &err), UG_OK);
    for (int64_t y = 0; y < 17; y++)
        for (int64_t x = 0; x < 33; x++)
            for (int64_t k = 0; k < 3; k++)
                ck_assert_int_eq(((uint8_t *)back.data)[(y * 33 + x) * 3 + k],
                                 *(uint8_t *)ug_tensor_ptr(&hwc, (int64_t[]){y, x, k}));
    ug_tensor_free(&back);
    // A gray image stored as RGB (R == G == B) reads in mode GRAY: the broadcast view
    // [H, W] -> [H, W, 3] (stride 0) writes such a file.
    ug_tensor plane = ug_view_slice(&chw, 0, 0, 1);
    plane = ug_view_reshape(&plane, UG_DIMS(17, 33));
    ug_tensor gray3 = ug_view_expand_dim(&plane, 2, 3);
    ck_assert_int_eq(ug_png_write(path, &gray3, &err), UG_OK);
    ck_assert_msg(ug_image_read(path, UG_IMAGE_GRAY, &back, &err) == UG_OK, "%s", err.msg);
    assert_shape(&back, 17, 33, 1);
    ck_assert_int_eq(memcmp(back.data, chw.data, 17 * 33), 0);
    ug_tensor_free(&back);

    // Bad arguments are refused without creating anything.
    ug_tensor f;
    ck_assert_int_eq(ug_tensor_new(&f, UG_F32, UG_DIMS(2, 2), &err), UG_OK);
    ck_assert_int_eq(ug_png_write(path, &f, &err), UG_ERR_ARG);
    ug_tensor_free(&f);
    ug_tensor two = ug_view_slice(&hwc, 2, 0, 2); // 2 channels
    ck_assert_int_eq(ug_png_write(path, &two, &err), UG_ERR_ARG);
    ck_assert_int_eq(ug_png_write("/nonexistent/dir/x.png", &hwc, &err), UG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/dir/x.png"));
    ug_tensor_free(&chw);
    free(path);
    test_rmtree(dir);
    free(dir);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// PNG layouts made with libpng

START_TEST(png_16bit) {
    enum { H = 3, W = 17 };
    uint16_t v[H * W * 3];
    test_rng r = test_rng_seed(3);
    for (int i = 0; i < H * W * 3; i++)
        v[i] = (uint16_t)test_rng_u64(&r);
    v[0] = 26004; // a Cityscapes anomaly instance id
    v[1] = 65535;
    unsigned char rows[H * W * 3 * 2];
    for (int i = 0; i < H * W * 3; i++)
        rows[2 * i] = v[i] >> 8, rows[2 * i + 1] = v[i] & 0xff;
    for (int c = 1; c <= 3; c += 2) {
        png_spec s = {
            W, H,    16, c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, NULL,
            0, NULL, 0};
        // Gray reads the first H*W values; RGB interleaves all of them.
        membuf m = make_png(&s, rows, (size_t)W * c * 2);
        ug_tensor t;
        ug_err err;
        ck_assert_msg(ug_png_decode_u16(m.p, m.n, "u16.png", &t, &err) == UG_OK, "%s", err.msg);
        ck_assert_int_eq(t.dtype, UG_I32);
        ck_assert_int_eq(t.ndim, 2);
        const int32_t *x = t.data;
        for (int i = 0; i < H * W; i++)
            ck_assert_int_eq(x[i], v[i * c]); // first channel, exact
        ug_tensor_free(&t);
        // 8-bit readers keep the high byte.
        ck_assert_int_eq(ug_image_decode(m.p, m.n, "u16.png", UG_IMAGE_RGB, &t, &err), UG_OK);
        const uint8_t *b = t.data;
        for (int i = 0; i < H * W; i++)
            for (int k = 0; k < 3; k++)
                ck_assert_int_eq(b[3 * i + k], v[i * c + (c == 1 ? 0 : k)] >> 8);
        ug_tensor_free(&t);
        if (c == 1) {
            ck_assert_int_eq(ug_image_decode(m.p, m.n, "u16.png", UG_IMAGE_GRAY, &t, &err), UG_OK);
            for (int i = 0; i < H * W; i++)
                ck_assert_int_eq(((uint8_t *)t.data)[i], v[i] >> 8);
            ug_tensor_free(&t);
        }
        free(m.p);
    }
}
END_TEST

START_TEST(png_palette_is_index_in_gray_mode) {
    enum { H = 5, W = 33 };
    png_color pal[20];
    for (int i = 0; i < 20; i++)
        pal[i] = (png_color){(png_byte)(i * 10), (png_byte)(200 - i), (png_byte)(i * 3)};
    png_byte trns[3] = {0, 128, 255}; // a tRNS chunk adds alpha to the palette: dropped in RGB
    unsigned char idx[H * W];
    for (int i = 0; i < H * W; i++)
        idx[i] = (unsigned char)((i * 7) % 20);
    for (int depth = 8; depth >= 4; depth -= 4) {
        // 4-bit: two indices per byte, high nibble first; only indices < 16 fit.
        unsigned char rows[H * W];
        size_t rowbytes = depth == 8 ? W : (W + 1) / 2;
        memset(rows, 0, sizeof rows);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int v = depth == 8 ? idx[y * W + x] : idx[y * W + x] % 16;
                if (depth == 8)
                    rows[y * rowbytes + x] = (unsigned char)v;
                else
                    rows[y * rowbytes + x / 2] |= (unsigned char)(v << (x % 2 ? 0 : 4));
            }
        png_spec s = {W,    H, depth, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, pal, depth == 8 ? 20 : 16,
                      trns, 3};
        membuf m = make_png(&s, rows, rowbytes);
        ug_tensor t;
        ug_err err;
        ck_assert_msg(ug_image_decode(m.p, m.n, "pal.png", UG_IMAGE_GRAY, &t, &err) == UG_OK, "%s", err.msg);
        assert_shape(&t, H, W, 1);
        for (int i = 0; i < H * W; i++)
            ck_assert_int_eq(((uint8_t *)t.data)[i], depth == 8 ? idx[i] : idx[i] % 16);
        ug_tensor_free(&t);
        ck_assert_msg(ug_image_decode(m.p, m.n, "pal.png", UG_IMAGE_RGB, &t, &err) == UG_OK, "%s", err.msg);
        assert_shape(&t, H, W, 3);
        for (int i = 0; i < H * W; i++) {
            png_color p = pal[depth == 8 ? idx[i] : idx[i] % 16];
            const uint8_t *q = (uint8_t *)t.data + 3 * i;
            ck_assert(q[0] == p.red && q[1] == p.green && q[2] == p.blue);
        }
        ug_tensor_free(&t);
        ck_assert_int_eq(ug_png_decode_u16(m.p, m.n, "pal.png", &t, &err), UG_OK);
        ck_assert_int_eq(((int32_t *)t.data)[1], depth == 8 ? idx[1] : idx[1] % 16);
        ug_tensor_free(&t);
        free(m.p);
    }
}
END_TEST

START_TEST(png_1bit_interlaced_and_gray_alpha) {
    enum { H = 17, W = 33 };
    // 1-bit gray, Adam7 interlaced: 0/1 scale to 0/255.
    unsigned char bits[H * ((W + 7) / 8)];
    test_rng r = test_rng_seed(9);
    for (size_t i = 0; i < sizeof bits; i++)
        bits[i] = (unsigned char)test_rng_u64(&r);
    png_spec s = {W, H, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0};
    membuf m = make_png(&s, bits, (W + 7) / 8);
    ug_tensor t;
    ug_err err;
    ck_assert_msg(ug_image_decode(m.p, m.n, "bits.png", UG_IMAGE_GRAY, &t, &err) == UG_OK, "%s", err.msg);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int bit = bits[y * ((W + 7) / 8) + x / 8] >> (7 - x % 8) & 1;
            ck_assert_int_eq(((uint8_t *)t.data)[y * W + x], bit ? 255 : 0);
        }
    ug_tensor_free(&t);
    free(m.p);
    // Gray + alpha, 8-bit, interlaced: the gray value, alpha ignored.
    unsigned char ga[H * W * 2];
    for (size_t i = 0; i < sizeof ga; i++)
        ga[i] = (unsigned char)test_rng_u64(&r);
    png_spec s2 = {W, H, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0};
    m = make_png(&s2, ga, W * 2);
    ck_assert_int_eq(ug_image_decode(m.p, m.n, "ga.png", UG_IMAGE_GRAY, &t, &err), UG_OK);
    for (int i = 0; i < H * W; i++)
        ck_assert_int_eq(((uint8_t *)t.data)[i], ga[2 * i]);
    ug_tensor_free(&t);
    ck_assert_int_eq(ug_image_decode(m.p, m.n, "ga.png", UG_IMAGE_RGB, &t, &err), UG_OK);
    for (int i = 0; i < H * W; i++)
        ck_assert_int_eq(((uint8_t *)t.data)[3 * i + 2], ga[2 * i]);
    ug_tensor_free(&t);
    free(m.p);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// JPEG

static void smooth_rgb(unsigned char *px, int w, int h) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + (y * w + x) * 3;
            p[0] = (unsigned char)(x * 255 / (w - 1));
            p[1] = (unsigned char)(y * 255 / (h - 1));
            p[2] = (unsigned char)((x + y) * 255 / (w + h - 2));
        }
}

START_TEST(jpeg_read_approx) {
    enum { H = 33, W = 127 };
    static unsigned char px[H * W * 4];
    smooth_rgb(px, W, H);
    for (int prog = 0; prog <= 1; prog++) {
        membuf m = make_jpeg(px, W, H, JCS_RGB, 3, 95, prog);
        ug_tensor t;
        ug_err err;
        ck_assert_msg(ug_image_decode(m.p, m.n, "a.jpg", UG_IMAGE_RGB, &t, &err) == UG_OK, "%s", err.msg);
        assert_shape(&t, H, W, 3);
        // JPEG is lossy: quality 95 on a smooth gradient lands within a few levels (chroma
        // subsampling and the DCT quantiser), so mean |error| <= 2 and max <= 16 of 255.
        double sum = 0;
        int maxe = 0;
        for (int i = 0; i < H * W * 3; i++) {
            int e = abs((int)((uint8_t *)t.data)[i] - px[i]);
            sum += e;
            if (e > maxe) maxe = e;
        }
        ck_assert_msg(sum / (H * W * 3) <= 2.0 && maxe <= 16, "mean %g max %d", sum / (H * W * 3), maxe);
        ug_tensor_free(&t);
        // A colour JPEG is not a gray image.
        ck_assert_int_eq(ug_image_decode(m.p, m.n, "a.jpg", UG_IMAGE_GRAY, &t, &err), UG_ERR_UNSUPPORTED);
        free(m.p);
    }
    // A gray JPEG: the value in mode GRAY, expanded to R = G = B in mode RGB.
    for (int i = 0; i < H * W; i++)
        px[i] = (unsigned char)(i % W * 2);
    membuf m = make_jpeg(px, W, H, JCS_GRAYSCALE, 1, 95, false);
    ug_tensor g, c;
    ug_err err;
    ck_assert_int_eq(ug_image_decode(m.p, m.n, "g.jpg", UG_IMAGE_GRAY, &g, &err), UG_OK);
    ck_assert_int_eq(ug_image_decode(m.p, m.n, "g.jpg", UG_IMAGE_RGB, &c, &err), UG_OK);
    assert_shape(&g, H, W, 1);
    assert_shape(&c, H, W, 3);
    for (int i = 0; i < H * W; i++) {
        const uint8_t *q = (uint8_t *)c.data + 3 * i;
        ck_assert(q[0] == q[1] && q[1] == q[2] && q[0] == ((uint8_t *)g.data)[i]);
        ck_assert_int_le(abs((int)q[0] - px[i]), 8); // same lossy-coding bound, luma only
    }
    ug_tensor_free(&g);
    ug_tensor_free(&c);
    free(m.p);
    // CMYK is refused by name.
    memset(px, 100, sizeof px);
    m = make_jpeg(px, W, H, JCS_CMYK, 4, 90, false);
    ug_status st = ug_image_decode(m.p, m.n, "cmyk.jpg", UG_IMAGE_RGB, &c, &err);
    ck_assert_int_eq(st, UG_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "cmyk.jpg: CMYK"));
    free(m.p);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Golden images

START_TEST(golden_images) {
    test_require_golden();
    ug_tensor img, ref;
    ug_err err;
    char *p = test_golden_path("sam_tiny/input_image.png");
    char *q = test_golden_path("sam_tiny/input_image_uint8.npy");
    ck_assert_msg(ug_image_read(p, UG_IMAGE_RGB, &img, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(ug_npy_read(q, &ref, &err), UG_OK);
    ck_assert(ug_tensor_same_shape(&img, &ref));
    ck_assert_int_eq(memcmp(img.data, ref.data, ug_tensor_nbytes(&img)), 0); // bit exact
    ug_tensor_free(&img);
    ug_tensor_free(&ref);
    free(p);
    free(q);

    p = test_golden_path("rba_tiny/img0.png");
    ck_assert_int_eq(ug_image_read(p, UG_IMAGE_RGB, &img, &err), UG_OK);
    assert_shape(&img, 128, 256, 3);
    ug_tensor_free(&img);
    free(p);
    p = test_golden_path("rba_tiny/img1.png");
    ck_assert_int_eq(ug_image_read(p, UG_IMAGE_RGB, &img, &err), UG_OK);
    assert_shape(&img, 120, 200, 3);
    ug_tensor_free(&img);
    free(p);

    // Fishyscapes-style ground truth: 16-bit instance ids with anomalies 26000 + k, 8-bit
    // trainIds in {0, 1, 255}.
    const char *base =
        "eval_tiny/gt/gtCoarse/test/04_Maurener_Weg_8/04_Maurener_Weg_8_000000_000030_gtCoarse_";
    char rel[256];
    snprintf(rel, sizeof rel, "%sinstanceIds.png", base);
    p = test_golden_path(rel);
    ck_assert_msg(ug_png_read_u16(p, &img, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(img.ndim, 2);
    ck_assert_int_eq(img.shape[0], 64);
    ck_assert_int_eq(img.shape[1], 128);
    int anomalies = 0, above_255 = 0;
    for (int64_t i = 0; i < 64 * 128; i++) {
        int32_t v = ((int32_t *)img.data)[i];
        ck_assert(v >= 0 && v < 65536);
        anomalies += v >= 26000 && v < 27000;
        above_255 += v > 255;
    }
    ck_assert_int_gt(anomalies, 0);
    ck_assert_int_eq(above_255, anomalies);
    ug_tensor_free(&img);
    free(p);
    snprintf(rel, sizeof rel, "%slabelTrainIds.png", base);
    p = test_golden_path(rel);
    ck_assert_int_eq(ug_image_read(p, UG_IMAGE_GRAY, &img, &err), UG_OK);
    assert_shape(&img, 64, 128, 1);
    int ones = 0;
    for (int64_t i = 0; i < 64 * 128; i++) {
        uint8_t v = ((uint8_t *)img.data)[i];
        ck_assert(v == 0 || v == 1 || v == 255);
        ones += v == 1;
    }
    ck_assert_int_gt(ones, 0);
    ug_tensor_free(&img);
    free(p);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Hostile inputs

// Every strict prefix of a valid file (all of them for small files, ~300 spread over larger
// ones) must be an error: a decoder that pads missing data would pass a cut file as valid.
static void check_truncations(const unsigned char *data, size_t n, ug_image_mode mode, bool u16) {
    size_t step = n > 600 ? n / 300 : 1;
    for (size_t len = 0; len < n; len += (len + 64 < n ? step : 1)) {
        ug_tensor t;
        ug_err err;
        ug_status st = u16 ? ug_png_decode_u16(data, len, "cut", &t, &err)
                           : ug_image_decode(data, len, "cut", mode, &t, &err);
        ck_assert_msg(st != UG_OK, "a %zu-byte prefix of a %zu-byte file decoded", len, n);
        assert_error(st, &err, &t, "cut");
    }
}

// Random byte changes: any outcome but a crash, a leak or a half-filled result.
static void check_flips(const unsigned char *data, size_t n, int iters, uint64_t seed) {
    test_rng r = test_rng_seed(seed);
    unsigned char *m = malloc(n);
    for (int it = 0; it < iters; it++) {
        memcpy(m, data, n);
        int flips = 1 + (int)(test_rng_u64(&r) % 3);
        for (int k = 0; k < flips; k++)
            m[test_rng_u64(&r) % n] = (unsigned char)test_rng_u64(&r);
        ug_tensor t;
        ug_err err;
        ug_image_mode mode = it % 2 ? UG_IMAGE_GRAY : UG_IMAGE_RGB;
        ug_status st = ug_image_decode_max(m, n, "flip", mode, 1 << 20, &t, &err);
        if (st == UG_OK)
            ug_tensor_free(&t);
        else
            assert_error(st, &err, &t, "flip");
        st = ug_png_decode_u16(m, n, "flip", &t, &err);
        if (st == UG_OK)
            ug_tensor_free(&t);
        else
            assert_error(st, &err, &t, "flip");
    }
    free(m);
}

START_TEST(truncated_and_flipped_files) {
    // Small PNGs of several layouts, JPEGs (baseline, progressive), and a golden PNG.
    enum { H = 9, W = 17 };
    unsigned char rows[H * W * 4];
    test_rng r = test_rng_seed(21);
    for (size_t i = 0; i < sizeof rows; i++)
        rows[i] = (unsigned char)(test_rng_u64(&r) % 8 * 30);
    png_color pal[16];
    for (int i = 0; i < 16; i++)
        pal[i] = (png_color){(png_byte)i, (png_byte)(2 * i), (png_byte)(3 * i)};
    png_spec specs[] = {
        {W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, NULL, 0, NULL, 0},
        {W, H, 8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0},
        {W, H, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, NULL, 0, NULL, 0},
        {W, H, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, pal, 16, NULL, 0},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        size_t rb = (size_t)W *
                    (specs[i].color == PNG_COLOR_TYPE_RGB         ? 3
                     : specs[i].color == PNG_COLOR_TYPE_RGB_ALPHA ? 4
                                                                  : 1) *
                    (specs[i].depth == 16 ? 2 : 1);
        if (specs[i].depth == 4) rb = (W + 1) / 2;
        membuf m = make_png(&specs[i], rows, rb);
        check_truncations(m.p, m.n, UG_IMAGE_RGB, false);
        check_truncations(m.p, m.n, UG_IMAGE_GRAY, false);
        check_truncations(m.p, m.n, UG_IMAGE_RGB, true);
        check_flips(m.p, m.n, 300, i);
        free(m.p);
    }
    unsigned char px[33 * 47 * 3];
    smooth_rgb(px, 47, 33);
    for (int prog = 0; prog <= 1; prog++) {
        membuf m = make_jpeg(px, 47, 33, JCS_RGB, 3, 80, prog);
        check_truncations(m.p, m.n, UG_IMAGE_RGB, false);
        check_flips(m.p, m.n, 400, 100 + (uint64_t)prog);
        free(m.p);
    }
    if (test_golden_available()) {
        char *p = test_golden_path("sam_tiny/input_image.png");
        size_t n;
        unsigned char *g = test_read_file(p, &n);
        ck_assert_ptr_nonnull(g);
        check_truncations(g, n, UG_IMAGE_RGB, false);
        check_flips(g, n, 100, 7);
        free(g);
        free(p);
    }
}
END_TEST

// Writes a big-endian u32.
static void be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

// A PNG signature + IHDR chunk (with a correct CRC) declaring w x h, and an IEND.
static size_t png_header_only(unsigned char *b, uint32_t w, uint32_t h) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(b, sig, 8);
    be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    be32(b + 16, w);
    be32(b + 20, h);
    b[24] = 8, b[25] = 2, b[26] = 0, b[27] = 0, b[28] = 0; // 8-bit RGB
    be32(b + 29, (uint32_t)crc32(0, b + 12, 17));
    be32(b + 33, 0);
    memcpy(b + 37, "IEND", 4);
    be32(b + 41, (uint32_t)crc32(0, b + 37, 4));
    return 45;
}

START_TEST(bad_signatures_and_huge_sizes) {
    ug_tensor t;
    ug_err err;
    ug_status st = ug_image_decode("hello, world", 12, "text.png", UG_IMAGE_RGB, &t, &err);
    assert_error(st, &err, &t, "text.png");
    ck_assert_ptr_nonnull(strstr(err.msg, "not a PNG or JPEG"));
    st = ug_image_decode("", 0, "empty.png", UG_IMAGE_RGB, &t, &err);
    assert_error(st, &err, &t, "empty.png");
    st = ug_png_decode_u16("\xff\xd8\xff\xe0", 4, "j.jpg", &t, &err);
    assert_error(st, &err, &t, "j.jpg");
    st = ug_image_read("/nonexistent/x.png", UG_IMAGE_RGB, &t, &err);
    ck_assert_int_eq(st, UG_ERR_IO);
    assert_error(st, &err, &t, "/nonexistent/x.png");
    st = ug_png_read_u16("/nonexistent/x.png", &t, &err);
    ck_assert_int_eq(st, UG_ERR_IO);

    // Declared sizes over the limit are refused from the header alone.
    unsigned char b[64];
    size_t n = png_header_only(b, 100000, 100000);
    st = ug_image_decode(b, n, "huge.png", UG_IMAGE_RGB, &t, &err);
    ck_assert_int_eq(st, UG_ERR_UNSUPPORTED);
    assert_error(st, &err, &t, "huge.png");
    ck_assert_ptr_nonnull(strstr(err.msg, "limit"));
    // 2^32 - 1 squared does not fit in int64_t: still refused by the size check.
    n = png_header_only(b, 0xffffffff, 0xffffffff);
    st = ug_image_decode(b, n, "overflow.png", UG_IMAGE_GRAY, &t, &err);
    ck_assert_int_eq(st, UG_ERR_UNSUPPORTED);
    assert_error(st, &err, &t, "overflow.png");
    n = png_header_only(b, 0x7fffffff, 1);
    st = ug_png_decode_u16(b, n, "wide.png", &t, &err);
    assert_error(st, &err, &t, "wide.png");
    // Under the limit but with no pixel data: an error after the allocation, freed.
    n = png_header_only(b, 2000, 1000);
    st = ug_image_decode(b, n, "empty_idat.png", UG_IMAGE_RGB, &t, &err);
    assert_error(st, &err, &t, "empty_idat.png");
    ck_assert_int_eq(st, UG_ERR_FORMAT);

    // A JPEG whose SOF says 60000 x 60000: patch a real small JPEG's frame header.
    unsigned char px[16 * 16 * 3] = {0};
    membuf m = make_jpeg(px, 16, 16, JCS_RGB, 3, 90, false);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < m.n; i++)
        if (m.p[i] == 0xff && m.p[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    ck_assert_uint_gt(sof, 0);
    m.p[sof + 5] = 0xea, m.p[sof + 6] = 0x60; // height 60000
    m.p[sof + 7] = 0xea, m.p[sof + 8] = 0x60; // width 60000
    st = ug_image_decode(m.p, m.n, "huge.jpg", UG_IMAGE_RGB, &t, &err);
    ck_assert_msg(st == UG_ERR_UNSUPPORTED, "%s", err.msg);
    assert_error(st, &err, &t, "huge.jpg");
    // And 4000 x 4000 (under the limit): decoding runs out of data -> error, memory freed.
    m.p[sof + 5] = 0x0f, m.p[sof + 6] = 0xa0;
    m.p[sof + 7] = 0x0f, m.p[sof + 8] = 0xa0;
    st = ug_image_decode(m.p, m.n, "short.jpg", UG_IMAGE_RGB, &t, &err);
    assert_error(st, &err, &t, "short.jpg");
    free(m.p);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "image", .timeout = 120}, &s);
    test_add(tc, png_roundtrip_gray_rgb_rgba, png_write_strided_and_gray_rgb, png_16bit,
             png_palette_is_index_in_gray_mode, png_1bit_interlaced_and_gray_alpha, jpeg_read_approx,
             golden_images, truncated_and_flipped_files, bad_signatures_and_huge_sizes);
    return test_run_suite(s);
}
