/* instream.h - an input read from a file descriptor, decompressed when it is compressed.
 *
 * Captures are often stored compressed (.pcap.gz, .pcapng.zst, ...). The format is recognised by
 * the first bytes of the content, never by the file name: gzip, zstd, lz4 (frame format) and xz.
 * The decompressed bytes are handed to libpcap as a stdio stream (fopencookie), so libpcap reads
 * a compressed capture exactly as a plain one: the decompressor writes straight into the stream's
 * buffer, no copy in between. Concatenated members or frames (gzip -c a >> b, pzstd, xz -T) are
 * read one after the other, as zcat does.
 *
 * A stream that ends before its end marker (cut off) or does not decode (corrupt) makes the read
 * fail with EIO; instream_error() then says what is wrong, in one line.
 */
#ifndef TM_INSTREAM_H
#define TM_INSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum compression {
	COMPRESSION_NONE = 0,
	COMPRESSION_GZIP,
	COMPRESSION_ZSTD,
	COMPRESSION_LZ4,
	COMPRESSION_XZ,
};

/* Bytes enough to recognise every format. */
#define COMPRESSION_MAGIC_MAX 6

/* The compression of content beginning with `p` (n bytes); NONE when none is recognised. */
enum compression compression_detect(const uint8_t *p, size_t n);
/* "gzip", "zstd", "lz4", "xz"; NULL for NONE. */
const char *compression_name(enum compression c);

/* The first bytes of the decompressed content that are kept for a look at the capture's header. */
#define INSTREAM_HEAD 4096

struct instream;

/* A stream of the content read from `fd` (closed with the stream), `prefix` being the first
 * `prefix_len` bytes already read from it (at most INSTREAM_HEAD). The compression is detected
 * from the first bytes. `buffer_size` is the stream's buffer and the compressed input's. *state
 * (may be NULL) gets the state behind the stream, valid until the stream is closed. NULL when
 * out of memory or the decoder cannot start (`fd` is then closed). The stream is locked by the
 * caller (one reading thread). */
FILE *instream_open(int fd, const uint8_t *prefix, size_t prefix_len, size_t buffer_size,
                    struct instream **state);

enum compression instream_compression(const struct instream *in);
/* NULL, or what is wrong with the compressed stream ("truncated: ..."). */
const char *instream_error(const struct instream *in);
/* Bytes of the file read so far, the prefix included (compressed bytes, for progress). */
uint64_t instream_consumed(const struct instream *in);
/* The first bytes of the content handed out (at most INSTREAM_HEAD). */
const uint8_t *instream_head(const struct instream *in, size_t *n);

#endif
