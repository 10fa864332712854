// weights-tools/zip.h — a read-only ZIP reader for PyTorch checkpoints (torch.save >= 1.6).
//
// Entries may be stored or deflated (zlib raw inflate); zip64 sizes and offsets are read
// from the zip64 end-of-central-directory record and the 0x0001 extra fields. Everything is
// validated at open before any entry is used: the end record and the central directory lie
// inside the file, every central header is well-formed, names are unique and free of NUL,
// every local header matches its central entry (signature, name), data ranges end before the
// central directory and do not overlap. Encrypted entries, multi-disk archives and methods
// other than 0/8 are refused when such an entry is read (unknown records elsewhere in a
// checkpoint must not block it). CRC-32 is checked whenever an entry is read whole
// (ug_zip_read_entry, ug_zip_check_crc).
//
// The archive is read with pread (or from caller memory), never mapped, so reading a
// 2.5 GB checkpoint does not grow the resident set beyond the caller's buffers.
#ifndef UG_ZIP_H
#define UG_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

typedef struct ug_zip_entry {
    const char *name;
    uint64_t size;        // uncompressed bytes
    uint64_t comp_size;   // bytes in the archive
    uint64_t data_offset; // file offset of the (compressed) data
    uint32_t crc;
    uint16_t method; // 0 stored, 8 deflated
    uint16_t flags;
} ug_zip_entry;

typedef struct ug_zip ug_zip;

ug_status ug_zip_open(ug_zip **z, const char *path, ug_err *err);
// The same over caller memory (not copied; must outlive z): fuzz target and tests.
ug_status ug_zip_open_memory(ug_zip **z, const void *data, size_t size, const char *name, ug_err *err);
void ug_zip_close(ug_zip *z);

const char *ug_zip_name(const ug_zip *z); // path or name given at open, for messages
int ug_zip_count(const ug_zip *z);
const ug_zip_entry *ug_zip_at(const ug_zip *z, int i); // central directory order
const ug_zip_entry *ug_zip_find(const ug_zip *z, const char *name);

// Whole entry into a new malloc'ed buffer (NUL-terminated for convenience; *size without
// the NUL), CRC checked. Entries larger than max_size are refused before any allocation.
ug_status ug_zip_read_entry(ug_zip *z, const ug_zip_entry *e, size_t max_size, void **data, size_t *size,
                            ug_err *err);
// Bytes [off, off + n) of a stored entry, straight from the archive (no CRC: see below).
ug_status ug_zip_read_at(ug_zip *z, const ug_zip_entry *e, uint64_t off, void *buf, size_t n, ug_err *err);
// Streams the entry once (bounded buffer) and compares its CRC-32.
ug_status ug_zip_check_crc(ug_zip *z, const ug_zip_entry *e, ug_err *err);

#endif
