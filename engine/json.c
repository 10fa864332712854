// engine/json.c — see json.h.
//
// Parsing is recursive descent (depth bounded by the limits). Children of the containers
// being parsed are collected on one growing stack; when a container closes, its children
// are copied into the document's arena as one contiguous array and popped. All nodes and
// strings live in the arena, so a document is freed in one sweep and never points into the
// source text.
#include "engine/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---------------------------------------------------------------------------------------
// Arena: a list of chunks; the head is the one being filled. Big requests get a chunk of
// their own linked behind the head, so they do not waste the rest of the current chunk.

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk;

struct ug_json_doc {
    chunk *chunks;
    ug_json root;
};

enum { CHUNK_BYTES = 64 * 1024, BIG_ALLOC = 16 * 1024 };

static void *arena_alloc(ug_json_doc *d, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    chunk *h = d->chunks;
    if (h && h->cap - h->used >= n) {
        void *p = h->data + h->used;
        h->used += n;
        return p;
    }
    size_t cap = n > BIG_ALLOC ? n : CHUNK_BYTES;
    chunk *c = malloc(sizeof(chunk) + cap);
    if (!c) return NULL;
    c->cap = cap;
    c->used = n;
    if (n > BIG_ALLOC && h) {
        c->next = h->next;
        h->next = c;
    } else {
        c->next = h;
        d->chunks = c;
    }
    return c->data;
}

void ug_json_free(ug_json_doc *doc) {
    if (!doc) return;
    chunk *c = doc->chunks;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

const ug_json *ug_json_root(const ug_json_doc *doc) {
    return doc ? &doc->root : NULL;
}

// ---------------------------------------------------------------------------------------
// UTF-8

// Length of the well-formed UTF-8 sequence starting at s (n bytes available), or 0.
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf; // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0; // no overlongs
        if (c == 0xed) hi = 0x9f; // no UTF-16 surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90; // no overlongs
        if (c == 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return len;
}

bool ug_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

static size_t utf8_put(unsigned char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

const char *ug_json_excerpt(char *buf, size_t bufsize, const char *s, size_t n) {
    if (bufsize == 0) return buf;
    // Room for the longest escape (4) plus "..." and the terminator.
    size_t limit = bufsize > 8 ? bufsize - 8 : 0, o = 0;
    size_t i = 0;
    for (; i < n && o < limit; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            buf[o++] = (char)c;
        } else {
            o += (size_t)snprintf(buf + o, bufsize - o, "\\x%02x", c);
        }
    }
    if (i < n && o + 4 <= bufsize) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o < bufsize ? o : bufsize - 1] = '\0';
    return buf;
}

// ---------------------------------------------------------------------------------------
// Parser

typedef struct parser {
    const unsigned char *s;
    size_t n, pos;
    const char *what;
    ug_json_limits lim;
    size_t nodes;
    ug_json_doc *doc;
    ug_json *stack; // children of the open containers
    size_t top, cap;
    ug_err *err;
} parser;

__attribute__((format(printf, 4, 5))) static ug_status fail(parser *p, size_t at, ug_status code,
                                                            const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at > p->n) at = p->n;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return ug_errf(p->err, code, "%s: JSON error at byte %zu (line %zu, column %zu): %s", p->what, at, line,
                   col, msg);
}

static ug_status fail_nomem(parser *p) {
    return ug_errf(p->err, UG_ERR_NOMEM, "%s: out of memory while parsing JSON", p->what);
}

static void skip_ws(parser *p) {
    while (p->pos < p->n) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

// Describes the byte at pos for "unexpected ..." messages.
static const char *describe_at(parser *p, char *buf, size_t n) {
    if (p->pos >= p->n) return "end of input";
    unsigned char c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static ug_status count_node(parser *p) {
    if (++p->nodes > p->lim.max_nodes)
        return fail(p, p->pos, UG_ERR_NOMEM, "more than %zu values", p->lim.max_nodes);
    return UG_OK;
}

static ug_status push(parser *p, const ug_json *v) {
    if (p->top == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        ug_json *s = realloc(p->stack, cap * sizeof *s);
        if (!s) return fail_nomem(p);
        p->stack = s;
        p->cap = cap;
    }
    p->stack[p->top++] = *v;
    return UG_OK;
}

// Moves the children stack[base..top) into the arena as the items of v.
static ug_status pop_children(parser *p, size_t base, ug_json *v) {
    v->len = p->top - base;
    v->items = NULL;
    if (v->len) {
        v->items = arena_alloc(p->doc, v->len * sizeof(ug_json));
        if (!v->items) return fail_nomem(p);
        memcpy(v->items, p->stack + base, v->len * sizeof(ug_json));
    }
    p->top = base;
    return UG_OK;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads 4 hex digits at s[at..]; -1 when they are not there.
static int32_t hex4(parser *p, size_t at) {
    if (at + 4 > p->n) return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[at + (size_t)i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

// String at pos (which holds the opening quote) into v->str / v->len.
static ug_status parse_string(parser *p, ug_json *v) {
    size_t start = p->pos + 1, end = start;
    // Find the closing quote first so the output can be sized (unescaping only shrinks).
    while (end < p->n && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n) return fail(p, p->pos, UG_ERR_FORMAT, "unterminated string");
    unsigned char *out = arena_alloc(p->doc, end - start + 1);
    if (!out) return fail_nomem(p);
    size_t o = 0, i = start;
    while (i < end) {
        unsigned char c = p->s[i];
        if (c < 0x20) return fail(p, i, UG_ERR_FORMAT, "raw control character 0x%02x in string", c);
        if (c >= 0x80) {
            size_t k = utf8_seq(p->s + i, end - i);
            if (!k) return fail(p, i, UG_ERR_FORMAT, "invalid UTF-8 in string");
            memcpy(out + o, p->s + i, k);
            o += k;
            i += k;
            continue;
        }
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        unsigned char e = p->s[i + 1]; // i + 1 < end: the scan above skipped escapes in pairs
        switch (e) {
        case '"': out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '/': out[o++] = '/'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            int32_t cp = hex4(p, i + 2);
            if (cp < 0 || i + 6 > end)
                return fail(p, i, UG_ERR_FORMAT, "\\u must be followed by 4 hex digits");
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(p, i, UG_ERR_FORMAT, "unpaired low surrogate \\u%04X", (unsigned)cp);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                int32_t lo = -1;
                if (i + 12 <= end && p->s[i + 6] == '\\' && p->s[i + 7] == 'u') lo = hex4(p, i + 8);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return fail(p, i, UG_ERR_FORMAT, "high surrogate \\u%04X not followed by a low one",
                                (unsigned)cp);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            }
            o += utf8_put(out + o, (uint32_t)cp);
            i += 4;
            break;
        }
        default: return fail(p, i, UG_ERR_FORMAT, "invalid escape \\%c", e >= 0x20 && e < 0x7f ? e : '?');
        }
        i += 2;
    }
    out[o] = '\0';
    v->type = UG_JSON_STRING;
    v->str = (const char *)out;
    v->len = o;
    p->pos = end + 1;
    return UG_OK;
}

static bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static ug_status parse_number(parser *p, ug_json *v) {
    size_t start = p->pos, i = start;
    bool neg = false;
    if (i < p->n && p->s[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= p->n || !is_digit(p->s[i])) return fail(p, i, UG_ERR_FORMAT, "expected a digit");
    if (p->s[i] == '0' && i + 1 < p->n && is_digit(p->s[i + 1]))
        return fail(p, i, UG_ERR_FORMAT, "leading zeros are not allowed");
    // Integer part, exactly while it fits: magnitude up to 2^63 (for -2^63).
    uint64_t mag = 0;
    bool exact = true;
    while (i < p->n && is_digit(p->s[i])) {
        unsigned d = p->s[i] - '0';
        if (mag > (UINT64_MAX - d) / 10)
            exact = false;
        else
            mag = mag * 10 + d;
        i++;
    }
    bool plain = true;
    if (i < p->n && p->s[i] == '.') {
        plain = false;
        i++;
        if (i >= p->n || !is_digit(p->s[i])) return fail(p, i, UG_ERR_FORMAT, "expected a digit after '.'");
        while (i < p->n && is_digit(p->s[i]))
            i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        plain = false;
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (i >= p->n || !is_digit(p->s[i]))
            return fail(p, i, UG_ERR_FORMAT, "expected a digit in the exponent");
        while (i < p->n && is_digit(p->s[i]))
            i++;
    }
    v->type = UG_JSON_NUMBER;
    const uint64_t two63 = (uint64_t)1 << 63;
    if (plain && exact && (neg ? mag <= two63 : mag < two63)) {
        // (double) of an int64 rounds to nearest, as strtod would.
        v->integer = neg ? (mag == two63 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
        v->number = neg && mag == 0 ? -0.0 : (double)v->integer;
        v->is_int = true;
        p->pos = i;
        return UG_OK;
    }
    // strtod needs a terminated copy: the source need not be terminated.
    size_t len = i - start;
    char small[64];
    char *tok = len < sizeof small ? small : malloc(len + 1);
    if (!tok) return fail_nomem(p);
    memcpy(tok, p->s + start, len);
    tok[len] = '\0';
    double d = strtod(tok, NULL);
    if (tok != small) free(tok);
    if (isinf(d)) return fail(p, start, UG_ERR_FORMAT, "number out of range");
    v->number = d;
    // 2^63 is exactly representable; anything below it (in magnitude) converts exactly.
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        v->is_int = true;
        v->integer = (int64_t)d;
    }
    p->pos = i;
    return UG_OK;
}

static ug_status parse_literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->n - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, p->pos, UG_ERR_FORMAT, "invalid literal (expected %s)", word);
    p->pos += n;
    return UG_OK;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool same_key(const ug_json *a, const ug_json *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

static ug_status dup_key(parser *p, const ug_json *m) {
    char ex[96];
    return fail(p, m->offset, UG_ERR_FORMAT, "duplicate key \"%s\"",
                ug_json_excerpt(ex, sizeof ex, m->key, m->key_len));
}

// Duplicate keys among the members stack[base..top): pairwise for small objects, through a
// temporary open-addressing table for big ones (a safetensors header has thousands).
static ug_status check_unique_keys(parser *p, size_t base) {
    size_t n = p->top - base;
    if (n < 2) return UG_OK; // also keeps NULL + 0 off the (possibly unallocated) stack
    const ug_json *m = p->stack + base;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (same_key(&m[i], &m[j])) return dup_key(p, &m[i]);
        return UG_OK;
    }
    size_t size = 32;
    while (size < 2 * n)
        size *= 2;
    size_t *slot = malloc(size * sizeof *slot); // member index + 1, 0 = empty
    if (!slot) return fail_nomem(p);
    memset(slot, 0, size * sizeof *slot);
    ug_status st = UG_OK;
    for (size_t i = 0; i < n && st == UG_OK; i++) {
        size_t h = (size_t)hash_bytes(m[i].key, m[i].key_len) & (size - 1);
        while (slot[h] && !same_key(&m[slot[h] - 1], &m[i]))
            h = (h + 1) & (size - 1);
        if (slot[h])
            st = dup_key(p, &m[i]);
        else
            slot[h] = i + 1;
    }
    free(slot);
    return st;
}

static ug_status parse_value(parser *p, int depth, ug_json *v);

static ug_status parse_array(parser *p, int depth, ug_json *v) {
    if (depth + 1 > p->lim.max_depth)
        return fail(p, p->pos, UG_ERR_FORMAT, "nesting deeper than %d levels", p->lim.max_depth);
    p->pos++; // '['
    size_t base = p->top;
    ug_status st;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ']') {
        p->pos++;
    } else {
        for (;;) {
            ug_json item;
            if ((st = parse_value(p, depth + 1, &item))) return st;
            if ((st = push(p, &item))) return st;
            skip_ws(p);
            char buf[16];
            if (p->pos < p->n && p->s[p->pos] == ',') {
                p->pos++;
                skip_ws(p);
                if (p->pos < p->n && p->s[p->pos] == ']')
                    return fail(p, p->pos, UG_ERR_FORMAT, "trailing comma in array");
                continue;
            }
            if (p->pos < p->n && p->s[p->pos] == ']') {
                p->pos++;
                break;
            }
            return fail(p, p->pos, UG_ERR_FORMAT, "expected ',' or ']' in array, got %s",
                        describe_at(p, buf, sizeof buf));
        }
    }
    v->type = UG_JSON_ARRAY;
    return pop_children(p, base, v);
}

static ug_status parse_object(parser *p, int depth, ug_json *v) {
    if (depth + 1 > p->lim.max_depth)
        return fail(p, p->pos, UG_ERR_FORMAT, "nesting deeper than %d levels", p->lim.max_depth);
    p->pos++; // '{'
    size_t base = p->top;
    ug_status st;
    char buf[16];
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            if (p->pos >= p->n || p->s[p->pos] != '"')
                return fail(p, p->pos, UG_ERR_FORMAT, "expected a string key in object, got %s",
                            describe_at(p, buf, sizeof buf));
            ug_json key = {0};
            if ((st = count_node(p)) || (st = parse_string(p, &key))) return st;
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':')
                return fail(p, p->pos, UG_ERR_FORMAT, "expected ':' after object key, got %s",
                            describe_at(p, buf, sizeof buf));
            p->pos++;
            ug_json member;
            if ((st = parse_value(p, depth + 1, &member))) return st;
            member.key = key.str;
            member.key_len = key.len;
            if ((st = push(p, &member))) return st;
            skip_ws(p);
            if (p->pos < p->n && p->s[p->pos] == ',') {
                p->pos++;
                skip_ws(p);
                if (p->pos < p->n && p->s[p->pos] == '}')
                    return fail(p, p->pos, UG_ERR_FORMAT, "trailing comma in object");
                continue;
            }
            if (p->pos < p->n && p->s[p->pos] == '}') {
                p->pos++;
                break;
            }
            return fail(p, p->pos, UG_ERR_FORMAT, "expected ',' or '}' in object, got %s",
                        describe_at(p, buf, sizeof buf));
        }
    }
    if ((st = check_unique_keys(p, base))) return st;
    v->type = UG_JSON_OBJECT;
    return pop_children(p, base, v);
}

static ug_status parse_value(parser *p, int depth, ug_json *v) {
    memset(v, 0, sizeof *v);
    skip_ws(p);
    v->offset = p->pos;
    ug_status st = count_node(p);
    if (st) return st;
    char buf[16];
    if (p->pos >= p->n) return fail(p, p->pos, UG_ERR_FORMAT, "unexpected end of input, expected a value");
    switch (p->s[p->pos]) {
    case '{': return parse_object(p, depth, v);
    case '[': return parse_array(p, depth, v);
    case '"': return parse_string(p, v);
    case 't':
        v->type = UG_JSON_BOOL;
        v->boolean = true;
        return parse_literal(p, "true");
    case 'f': v->type = UG_JSON_BOOL; return parse_literal(p, "false");
    case 'n': v->type = UG_JSON_NULL; return parse_literal(p, "null");
    default:
        if (p->s[p->pos] == '-' || is_digit(p->s[p->pos])) return parse_number(p, v);
        return fail(p, p->pos, UG_ERR_FORMAT, "unexpected %s, expected a value",
                    describe_at(p, buf, sizeof buf));
    }
}

ug_status ug_json_parse_ex(ug_json_doc **out, const char *text, size_t len, const char *what,
                           const ug_json_limits *limits, ug_err *err) {
    *out = NULL;
    parser p = {.s = (const unsigned char *)text, .n = len, .what = what ? what : "JSON", .err = err};
    p.lim = limits ? *limits
                   : (ug_json_limits){UG_JSON_DEFAULT_MAX_BYTES, UG_JSON_DEFAULT_MAX_DEPTH,
                                      UG_JSON_DEFAULT_MAX_NODES};
    if (len > p.lim.max_bytes)
        return ug_errf(err, UG_ERR_NOMEM, "%s: JSON text is %zu bytes, more than the limit of %zu", p.what,
                       len, p.lim.max_bytes);
    p.doc = calloc(1, sizeof *p.doc);
    if (!p.doc) return fail_nomem(&p);
    ug_status st = parse_value(&p, 0, &p.doc->root);
    if (st == UG_OK) {
        skip_ws(&p);
        char buf[16];
        if (p.pos < p.n)
            st = fail(&p, p.pos, UG_ERR_FORMAT, "unexpected %s after the JSON value",
                      describe_at(&p, buf, sizeof buf));
    }
    free(p.stack);
    if (st != UG_OK) {
        ug_json_free(p.doc);
        return st;
    }
    *out = p.doc;
    return UG_OK;
}

ug_status ug_json_parse(ug_json_doc **doc, const char *text, size_t len, const char *what, ug_err *err) {
    return ug_json_parse_ex(doc, text, len, what, NULL, err);
}

ug_status ug_json_parse_file(ug_json_doc **doc, const char *path, ug_err *err) {
    *doc = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ug_errf(err, UG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ug_status st = UG_OK;
    char *buf = NULL;
    size_t size = 0, got = 0;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = ug_errf(err, UG_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)sb.st_size > UG_JSON_DEFAULT_MAX_BYTES) {
        st = ug_errf(err, UG_ERR_NOMEM, "%s: %lld bytes, more than the JSON limit of %zu", path,
                     (long long)sb.st_size, UG_JSON_DEFAULT_MAX_BYTES);
        goto done;
    }
    size = (size_t)sb.st_size;
    buf = malloc(size ? size : 1);
    if (!buf) {
        st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
        goto done;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            st =
                ug_errf(err, UG_ERR_IO, "%s: read failed: %s", path, r < 0 ? strerror(errno) : "file shrank");
            goto done;
        }
        got += (size_t)r;
    }
    st = ug_json_parse(doc, buf, size, path, err);
done:
    free(buf);
    close(fd);
    return st;
}

// ---------------------------------------------------------------------------------------
// Access

const char *ug_json_type_name(ug_json_type t) {
    switch (t) {
    case UG_JSON_NULL: return "null";
    case UG_JSON_BOOL: return "bool";
    case UG_JSON_NUMBER: return "number";
    case UG_JSON_STRING: return "string";
    case UG_JSON_ARRAY: return "array";
    case UG_JSON_OBJECT: return "object";
    }
    return "?";
}

static const char *a_type(ug_json_type t) {
    switch (t) {
    case UG_JSON_NULL: return "null";
    case UG_JSON_BOOL: return "a bool";
    case UG_JSON_NUMBER: return "a number";
    case UG_JSON_STRING: return "a string";
    case UG_JSON_ARRAY: return "an array";
    case UG_JSON_OBJECT: return "an object";
    }
    return "?";
}

const char *ug_json_a_type(ug_json_type t) {
    return a_type(t);
}

const ug_json *ug_json_get(const ug_json *obj, const char *key) {
    if (!obj || obj->type != UG_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->len; i++)
        if (obj->items[i].key_len == n && memcmp(obj->items[i].key, key, n) == 0) return &obj->items[i];
    return NULL;
}

const ug_json *ug_json_at(const ug_json *v, size_t i) {
    if (!v || (v->type != UG_JSON_ARRAY && v->type != UG_JSON_OBJECT) || i >= v->len) return NULL;
    return &v->items[i];
}

ug_status ug_json_get_typed(const ug_json *obj, const char *key, ug_json_type type, const ug_json **out,
                            ug_err *err) {
    *out = NULL;
    if (!obj || obj->type != UG_JSON_OBJECT)
        return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": looked up in %s, not an object", key,
                       obj ? a_type(obj->type) : "nothing");
    const ug_json *m = ug_json_get(obj, key);
    if (!m) return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": missing", key);
    if (m->type != type)
        return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": expected %s, got %s", key, a_type(type),
                       a_type(m->type));
    *out = m;
    return UG_OK;
}

ug_status ug_json_as_int(const ug_json *v, const char *what, int64_t *out, ug_err *err) {
    if (!v || v->type != UG_JSON_NUMBER)
        return ug_errf(err, UG_ERR_FORMAT, "%s: expected an integer, got %s", what,
                       v ? a_type(v->type) : "nothing");
    if (!v->is_int) return ug_errf(err, UG_ERR_FORMAT, "%s: expected an integer, got %.17g", what, v->number);
    *out = v->integer;
    return UG_OK;
}

ug_status ug_json_as_number(const ug_json *v, const char *what, double *out, ug_err *err) {
    if (!v || v->type != UG_JSON_NUMBER)
        return ug_errf(err, UG_ERR_FORMAT, "%s: expected a number, got %s", what,
                       v ? a_type(v->type) : "nothing");
    *out = v->number;
    return UG_OK;
}

ug_status ug_json_get_int(const ug_json *obj, const char *key, int64_t *out, ug_err *err) {
    const ug_json *m;
    ug_status st = ug_json_get_typed(obj, key, UG_JSON_NUMBER, &m, err);
    if (st) return st;
    if (!m->is_int)
        return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": expected an integer, got %.17g", key, m->number);
    *out = m->integer;
    return UG_OK;
}

ug_status ug_json_get_number(const ug_json *obj, const char *key, double *out, ug_err *err) {
    const ug_json *m;
    ug_status st = ug_json_get_typed(obj, key, UG_JSON_NUMBER, &m, err);
    if (st) return st;
    *out = m->number;
    return UG_OK;
}

ug_status ug_json_get_bool(const ug_json *obj, const char *key, bool *out, ug_err *err) {
    const ug_json *m;
    ug_status st = ug_json_get_typed(obj, key, UG_JSON_BOOL, &m, err);
    if (st) return st;
    *out = m->boolean;
    return UG_OK;
}

ug_status ug_json_get_string(const ug_json *obj, const char *key, const char **out, ug_err *err) {
    const ug_json *m;
    ug_status st = ug_json_get_typed(obj, key, UG_JSON_STRING, &m, err);
    if (st) return st;
    *out = m->str;
    return UG_OK;
}

// ---------------------------------------------------------------------------------------
// Writer

__attribute__((format(printf, 3, 4))) static void jw_fail(ug_json_writer *w, ug_status code, const char *fmt,
                                                          ...) {
    if (w->status != UG_OK) return;
    w->status = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
}

static void jw_put(ug_json_writer *w, const char *s, size_t n) {
    if (w->status != UG_OK) return;
    if (w->cap - w->len < n + 1) { // keep room for the final terminator
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n + 1) {
            if (cap > SIZE_MAX / 2) {
                jw_fail(w, UG_ERR_NOMEM, "JSON text too large");
                return;
            }
            cap *= 2;
        }
        char *b = realloc(w->buf, cap);
        if (!b) {
            jw_fail(w, UG_ERR_NOMEM, "out of memory building JSON text");
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void jw_newline(ug_json_writer *w) {
    if (w->indent <= 0) return;
    jw_put(w, "\n", 1);
    for (int i = 0; i < w->depth * w->indent; i++)
        jw_put(w, " ", 1);
}

void ug_jw_init(ug_json_writer *w, int indent) {
    memset(w, 0, sizeof *w);
    w->indent = indent;
}

void ug_jw_free(ug_json_writer *w) {
    free(w->buf);
    int indent = w->indent;
    ug_jw_init(w, indent);
}

// Separators before a value; false when the value must not be written.
static bool jw_value_start(ug_json_writer *w) {
    if (w->status != UG_OK) return false;
    if (w->done) {
        jw_fail(w, UG_ERR_ARG, "a second top-level JSON value");
        return false;
    }
    if (w->depth > 0) {
        if (w->in_object[w->depth - 1]) {
            if (!w->key_pending) {
                jw_fail(w, UG_ERR_ARG, "a value in an object without a key");
                return false;
            }
            w->key_pending = false;
        } else {
            if (w->count[w->depth - 1]++ > 0) jw_put(w, ",", 1);
            jw_newline(w);
        }
    }
    return true;
}

static void jw_value_end(ug_json_writer *w) {
    if (w->depth == 0) w->done = true;
}

static void jw_escaped(ug_json_writer *w, const char *s, size_t n) {
    if (!ug_utf8_valid(s, n)) {
        char ex[64];
        jw_fail(w, UG_ERR_ARG, "string \"%s\" is not valid UTF-8", ug_json_excerpt(ex, sizeof ex, s, n));
        return;
    }
    jw_put(w, "\"", 1);
    size_t run = 0; // bytes copied through unchanged, flushed in one go
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char ubuf[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
                esc = ubuf;
            }
        }
        if (esc) {
            jw_put(w, s + i - run, run);
            run = 0;
            jw_put(w, esc, strlen(esc));
        } else {
            run++;
        }
    }
    jw_put(w, s + n - run, run);
    jw_put(w, "\"", 1);
}

static void jw_begin(ug_json_writer *w, bool object) {
    if (!jw_value_start(w)) return;
    if (w->depth >= UG_JSON_DEFAULT_MAX_DEPTH) {
        jw_fail(w, UG_ERR_ARG, "JSON nesting deeper than %d levels", UG_JSON_DEFAULT_MAX_DEPTH);
        return;
    }
    jw_put(w, object ? "{" : "[", 1);
    w->in_object[w->depth] = object;
    w->count[w->depth] = 0;
    w->depth++;
}

static void jw_end(ug_json_writer *w, bool object) {
    if (w->status != UG_OK) return;
    if (w->depth == 0 || w->in_object[w->depth - 1] != object) {
        jw_fail(w, UG_ERR_ARG, "%s end without a matching begin", object ? "object" : "array");
        return;
    }
    if (w->key_pending) {
        jw_fail(w, UG_ERR_ARG, "object end right after a key");
        return;
    }
    w->depth--;
    if (w->count[w->depth] > 0) jw_newline(w);
    jw_put(w, object ? "}" : "]", 1);
    jw_value_end(w);
}

void ug_jw_object_begin(ug_json_writer *w) {
    jw_begin(w, true);
}
void ug_jw_object_end(ug_json_writer *w) {
    jw_end(w, true);
}
void ug_jw_array_begin(ug_json_writer *w) {
    jw_begin(w, false);
}
void ug_jw_array_end(ug_json_writer *w) {
    jw_end(w, false);
}

void ug_jw_key_n(ug_json_writer *w, const char *key, size_t n) {
    if (w->status != UG_OK) return;
    if (w->depth == 0 || !w->in_object[w->depth - 1] || w->key_pending) {
        char ex[64];
        jw_fail(w, UG_ERR_ARG, "key \"%s\" outside an object or after another key",
                ug_json_excerpt(ex, sizeof ex, key, n));
        return;
    }
    if (w->count[w->depth - 1]++ > 0) jw_put(w, ",", 1);
    jw_newline(w);
    jw_escaped(w, key, n);
    jw_put(w, w->indent > 0 ? ": " : ":", w->indent > 0 ? 2 : 1);
    w->key_pending = true;
}

void ug_jw_key(ug_json_writer *w, const char *key) {
    ug_jw_key_n(w, key, strlen(key));
}

static void jw_scalar(ug_json_writer *w, const char *text, size_t n) {
    if (!jw_value_start(w)) return;
    jw_put(w, text, n);
    jw_value_end(w);
}

void ug_jw_string_n(ug_json_writer *w, const char *s, size_t n) {
    if (!jw_value_start(w)) return;
    jw_escaped(w, s, n);
    jw_value_end(w);
}

void ug_jw_string(ug_json_writer *w, const char *s) {
    ug_jw_string_n(w, s, strlen(s));
}

void ug_jw_int(ug_json_writer *w, int64_t v) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    jw_scalar(w, buf, (size_t)n);
}

// The shortest decimal form of v that reads back exactly (strtod, or strtof for a float):
// "d.ddde+XX" in sci, its significant digits in digits (NUL-terminated), the exponent in *exp10.
static void shortest_digits(double v, bool is_float, char sci[40], char digits[24], int *exp10) {
    int max_prec = is_float ? 9 : 17, prec = 1;
    for (; prec < max_prec; prec++) {
        snprintf(sci, 40, "%.*e", prec - 1, v);
        if (is_float ? strtof(sci, NULL) == (float)v : strtod(sci, NULL) == v) break;
    }
    snprintf(sci, 40, "%.*e", prec - 1, v);
    int nd = 0;
    const char *c = sci;
    for (; *c != 'e'; c++)
        if (*c >= '0' && *c <= '9') digits[nd++] = *c;
    digits[nd] = '\0';
    *exp10 = atoi(c + 1);
}

// The same digits in plain notation; -6 <= exp10 < 21 keeps it within 41 characters.
static size_t plain_notation(char out[48], bool negative, const char *digits, int exp10) {
    size_t k = 0, nd = strlen(digits);
    if (negative) out[k++] = '-';
    if (exp10 < 0) { // 0.000ddd
        out[k++] = '0';
        out[k++] = '.';
        for (int i = -1; i > exp10; i--)
            out[k++] = '0';
        for (size_t i = 0; i < nd; i++)
            out[k++] = digits[i];
    } else { // ddd.ddd or ddd000
        for (size_t i = 0; i < nd || (int)i <= exp10; i++) {
            if ((int)i == exp10 + 1) out[k++] = '.';
            out[k++] = i < nd ? digits[i] : '0';
        }
    }
    out[k] = '\0';
    return k;
}

// Writes v in the shortest form that reads back exactly. Our rule (JavaScript's
// Number.prototype.toString makes the same choice): an integer below 1e21 is written as plain
// digits (30, not 3e+01); any other value in plain notation (0.001) unless the exponent form
// of the same digits is strictly shorter (1e-07, 1.5e+300).
static void jw_shortest(ug_json_writer *w, double v, bool is_float) {
    if (!isfinite(v)) {
        jw_fail(w, UG_ERR_ARG, "non-finite number %g has no JSON form", v);
        return;
    }
    char sci[40], digits[24], plain[48];
    int e;
    shortest_digits(v, is_float, sci, digits, &e);
    size_t nsci = strlen(sci);
    if (e >= 21 || e < -6) { // below 1e-6 the exponent form is always the shorter one
        jw_scalar(w, sci, nsci);
        return;
    }
    size_t nplain = plain_notation(plain, signbit(v), digits, e);
    bool integer = e >= (int)strlen(digits) - 1;
    if (integer || nplain <= nsci)
        jw_scalar(w, plain, nplain);
    else
        jw_scalar(w, sci, nsci);
}

void ug_jw_number(ug_json_writer *w, double v) {
    jw_shortest(w, v, false);
}
void ug_jw_float(ug_json_writer *w, float v) {
    jw_shortest(w, (double)v, true);
}

void ug_jw_bool(ug_json_writer *w, bool v) {
    jw_scalar(w, v ? "true" : "false", v ? 4 : 5);
}
void ug_jw_null(ug_json_writer *w) {
    jw_scalar(w, "null", 4);
}

ug_status ug_jw_finish(ug_json_writer *w, char **text, size_t *len, ug_err *err) {
    *text = NULL;
    if (w->status == UG_OK && !w->done)
        jw_fail(w, UG_ERR_ARG, "incomplete JSON: no value or an unclosed container");
    if (w->status != UG_OK) {
        ug_status st = ug_errf(err, w->status, "JSON writer: %s", w->msg);
        ug_jw_free(w);
        return st;
    }
    w->buf[w->len] = '\0'; // jw_put kept room for it
    *text = w->buf;
    if (len) *len = w->len;
    w->buf = NULL;
    ug_jw_free(w);
    return UG_OK;
}
