/* instream.c - decompressing input streams (instream.h). Built with _GNU_SOURCE (CMakeLists.txt)
 * for fopencookie. */
#include "instream.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4frame.h>
#include <lzma.h>
#define ZLIB_CONST /* z_stream.next_in is const */
#include <zlib.h>
#include <zstd.h>

/* xz can be asked for a dictionary of up to 1.5 GiB by its header; a capture compressed with
 * `xz -9` needs 65 MiB. More than this is refused rather than allocated for a crafted file. */
#define XZ_MEMLIMIT (256u << 20)

/* Compressed input is decoded in a thread of its own, a few chunks ahead of the reader: the
 * decompression (a third of the time on a zstd capture, more than the analysis itself on gzip)
 * then overlaps the reading and the analysis, as `zstdcat | tcpmortem -` would on two cores,
 * without the pipe. The reader copies a chunk into stdio's buffer (a memcpy per 128 KiB). */
#define CHUNKS 4
#define CHUNK_BYTES (128u << 10)

struct chunk {
	uint8_t *data;
	size_t len;
	size_t pos;  /* the reader's: bytes already handed out */
	bool end;    /* no data: the stream ended here (cleanly, or with s->error) */
};

struct decoder_thread {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t filled, emptied;
	struct chunk ring[CHUNKS];
	unsigned head, count;  /* the chunk the reader is on; chunks decoded and not yet read */
	bool stop;
};

struct instream {
	int fd;
	bool threaded;        /* decoded by `t` (compressed content, the thread started) */
	bool end_seen;        /* threaded: the reader reached the end chunk: s->error is settled */
	struct decoder_thread t;
	enum compression c;
	uint8_t *in;          /* compressed input: in[in_pos..in_len) not yet decoded */
	size_t in_cap, in_pos, in_len;
	bool in_eof;          /* read(2) returned 0 */
	bool clean;           /* the last member or frame was complete, nothing of a next one read */
	bool reset;           /* gzip: a member ended; the next bytes start another */
	_Atomic uint64_t consumed; /* read by the progress display while the decoder adds to it */
	char error[192];
	uint8_t head[INSTREAM_HEAD];
	size_t head_len;
	char *stdio_buffer;   /* the stream's buffer, freed when the stream is closed */
	union {
		z_stream z;
		ZSTD_DStream *zs;
		LZ4F_dctx *lz;
		lzma_stream xz;
	} u;
};

enum compression compression_detect(const uint8_t *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) /* RFC 1952 2.3.1 */
		return COMPRESSION_GZIP;
	/* RFC 8878 3.1.1 (frame) and 3.1.2 (skippable frame, as pzstd writes first): little-endian
	 * 0xFD2FB528, 0x184D2A5?. */
	if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return COMPRESSION_ZSTD;
	if (n >= 4 && (p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18)
		return COMPRESSION_ZSTD;
	if (n >= 4 && p[0] == 0x04 && p[1] == 0x22 && p[2] == 0x4d && p[3] == 0x18) /* LZ4 frame */
		return COMPRESSION_LZ4;
	if (n >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0) /* .xz file format 2.1.1.1 */
		return COMPRESSION_XZ;
	return COMPRESSION_NONE;
}

const char *compression_name(enum compression c)
{
	switch (c) {
	case COMPRESSION_GZIP: return "gzip";
	case COMPRESSION_ZSTD: return "zstd";
	case COMPRESSION_LZ4: return "lz4";
	case COMPRESSION_XZ: return "xz";
	case COMPRESSION_NONE: break;
	}
	return NULL;
}

enum compression instream_compression(const struct instream *in) { return in->c; }
const char *instream_error(const struct instream *in)
{
	/* Threaded, the decoder may be ahead of the reader: its error counts once the reader has
	 * got there (and the decoder has stopped). */
	if (in->threaded && !in->end_seen)
		return NULL;
	return in->error[0] ? in->error : NULL;
}

uint64_t instream_consumed(const struct instream *in) { return atomic_load(&in->consumed); }

const uint8_t *instream_head(const struct instream *in, size_t *n)
{
	*n = in->head_len;
	return in->head;
}

static void fail(struct instream *s, const char *what, const char *detail)
{
	if (s->error[0])
		return;
	snprintf(s->error, sizeof s->error, "damaged %s stream: %s%s%s (at compressed byte %llu)",
	         compression_name(s->c), what, detail ? ": " : "", detail ? detail : "",
	         (unsigned long long)(atomic_load(&s->consumed) - (s->in_len - s->in_pos)));
}

/* read(2) that retries when a signal interrupted it. */
static ssize_t read_fd(struct instream *s, void *buf, size_t size)
{
	ssize_t n;
	int old;

	/* The decoder thread may be cancelled while it waits for input, and only then (a pipe whose
	 * writer never ends, when the run stops early). */
	if (s->threaded)
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
	do
		n = read(s->fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (s->threaded)
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	if (n < 0) {
		snprintf(s->error, sizeof s->error, "read error: %s", strerror(errno));
		return -1;
	}
	atomic_fetch_add(&s->consumed, (uint64_t)n);
	return n;
}

/* One decoding step: input from s->in, output into buf[*produced..size). Returns -1 on an
 * error (set in s->error), else 0. `finish`: no input will follow. */
static int step(struct instream *s, uint8_t *buf, size_t size, size_t *produced, bool finish)
{
	uint8_t *out = buf + *produced;
	size_t room = size - *produced;
	const uint8_t *src = s->in + s->in_pos;
	size_t avail = s->in_len - s->in_pos;

	switch (s->c) {
	case COMPRESSION_GZIP: {
		int rc;

		if (s->reset) {
			if (!avail)
				return 0;
			/* Another member follows (gzip -c a b, RFC 1952 2.2); anything else is not gzip
			 * and inflate says so. */
			inflateReset(&s->u.z);
			s->reset = false;
			s->clean = false;
		}
		s->u.z.next_in = src;
		s->u.z.avail_in = (uInt)(avail > UINT32_MAX ? UINT32_MAX : avail);
		s->u.z.next_out = out;
		s->u.z.avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
		rc = inflate(&s->u.z, Z_NO_FLUSH);
		s->in_pos += (size_t)(s->u.z.next_in - src);
		*produced += (size_t)(s->u.z.next_out - out);
		if (rc == Z_STREAM_END) {
			s->clean = true;
			s->reset = true;
		} else if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR) {
			fail(s, "corrupt data", s->u.z.msg ? s->u.z.msg : "invalid");
			return -1;
		} else if (rc == Z_MEM_ERROR) {
			fail(s, "out of memory", NULL);
			return -1;
		}
		return 0;
	}
	case COMPRESSION_ZSTD: {
		ZSTD_inBuffer ib = { src, avail, 0 };
		ZSTD_outBuffer ob = { out, room, 0 };
		size_t rc = ZSTD_decompressStream(s->u.zs, &ob, &ib);

		s->in_pos += ib.pos;
		*produced += ob.pos;
		if (ZSTD_isError(rc)) {
			fail(s, "corrupt data", ZSTD_getErrorName(rc));
			return -1;
		}
		/* 0: a frame is complete and flushed; the next bytes, if any, start another. */
		if (ib.pos || ob.pos)
			s->clean = rc == 0;
		return 0;
	}
	case COMPRESSION_LZ4: {
		size_t dst = room, srcn = avail;
		size_t rc = LZ4F_decompress(s->u.lz, out, &dst, src, &srcn, NULL);

		s->in_pos += srcn;
		*produced += dst;
		if (LZ4F_isError(rc)) {
			fail(s, "corrupt data", LZ4F_getErrorName(rc));
			return -1;
		}
		if (srcn || dst)
			s->clean = rc == 0;
		return 0;
	}
	case COMPRESSION_XZ: {
		lzma_ret rc;

		s->u.xz.next_in = src;
		s->u.xz.avail_in = avail;
		s->u.xz.next_out = out;
		s->u.xz.avail_out = room;
		rc = lzma_code(&s->u.xz, finish ? LZMA_FINISH : LZMA_RUN);
		s->in_pos += (size_t)(s->u.xz.next_in - src);
		*produced += (size_t)(s->u.xz.next_out - out);
		/* On the int: lzma_ret also names liblzma's internal codes, all of them "corrupt" here. */
		switch ((int)rc) {
		case LZMA_OK:
			return 0;
		case LZMA_STREAM_END:
			s->clean = true;
			return 0;
		case LZMA_BUF_ERROR: /* no progress possible: with LZMA_FINISH, the input is cut off */
			return 0;
		case LZMA_MEMLIMIT_ERROR:
			fail(s, "needs more memory than allowed", "over 256 MiB of dictionary");
			return -1;
		case LZMA_MEM_ERROR:
			fail(s, "out of memory", NULL);
			return -1;
		case LZMA_OPTIONS_ERROR:
			fail(s, "unsupported options", NULL);
			return -1;
		case LZMA_FORMAT_ERROR:
			fail(s, "corrupt data", "not in the .xz format");
			return -1;
		default:
			fail(s, "corrupt data", "integrity check failed or invalid data");
			return -1;
		}
	}
	case COMPRESSION_NONE:
		break;
	}
	return -1;
}

/* Copies what is left of the prefix, or reads the file itself, straight into `buf`. */
static ssize_t read_plain(struct instream *s, uint8_t *buf, size_t size)
{
	if (s->in_pos < s->in_len) {
		size_t n = s->in_len - s->in_pos;

		if (n > size)
			n = size;
		memcpy(buf, s->in + s->in_pos, n);
		s->in_pos += n;
		return (ssize_t)n;
	}
	return read_fd(s, buf, size);
}

/* Decodes into `buf` until it is full, or the input read so far is used up and something was
 * produced (a pipe's writer may pause: what is decoded is handed out at once, the reading never
 * waits for more input with output in hand). */
static ssize_t read_decoded(struct instream *s, uint8_t *buf, size_t size)
{
	size_t produced = 0;

	while (produced < size) {
		bool have_input = s->in_pos < s->in_len;
		size_t before_out = produced, before_in = s->in_pos;

		if (!have_input && !s->in_eof) {
			ssize_t n;

			if (produced > 0)
				break;
			n = read_fd(s, s->in, s->in_cap);
			if (n < 0)
				break;
			s->in_pos = 0;
			s->in_len = (size_t)n;
			s->in_eof = n == 0;
			continue;
		}
		if (step(s, buf, size, &produced, !have_input && s->in_eof) != 0)
			break;
		if (produced == before_out && s->in_pos == before_in) {
			/* Nothing moved: at the end of the input that is the end, clean or cut off. */
			if (!have_input && s->in_eof && !s->clean)
				fail(s, "truncated", "the data ends before the stream's end marker");
			break;
		}
	}
	if (produced == 0 && s->error[0]) {
		errno = EIO;
		return -1;
	}
	return (ssize_t)produced; /* an error after output is returned by the next call */
}

static void *decoder_main(void *arg)
{
	struct instream *s = arg;
	struct decoder_thread *t = &s->t;
	int old;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	for (;;) {
		struct chunk *c;
		ssize_t n;

		pthread_mutex_lock(&t->lock);
		while (t->count == CHUNKS && !t->stop)
			pthread_cond_wait(&t->emptied, &t->lock);
		if (t->stop) {
			pthread_mutex_unlock(&t->lock);
			return NULL;
		}
		c = &t->ring[(t->head + t->count) % CHUNKS];
		pthread_mutex_unlock(&t->lock);

		n = read_decoded(s, c->data, CHUNK_BYTES);

		pthread_mutex_lock(&t->lock);
		c->len = n > 0 ? (size_t)n : 0;
		c->pos = 0;
		c->end = n <= 0;
		t->count++;
		pthread_cond_signal(&t->filled);
		pthread_mutex_unlock(&t->lock);
		if (n <= 0)
			return NULL;
	}
}

/* The reader's side: the next decoded bytes from the ring. */
static ssize_t read_threaded(struct instream *s, uint8_t *buf, size_t size)
{
	struct decoder_thread *t = &s->t;
	struct chunk *c;
	size_t n;

	pthread_mutex_lock(&t->lock);
	while (t->count == 0)
		pthread_cond_wait(&t->filled, &t->lock);
	c = &t->ring[t->head];
	pthread_mutex_unlock(&t->lock);
	if (c->end) { /* stays in the ring: every later call ends here too */
		s->end_seen = true;
		if (s->error[0]) {
			errno = EIO;
			return -1;
		}
		return 0;
	}
	n = c->len - c->pos < size ? c->len - c->pos : size;
	memcpy(buf, c->data + c->pos, n);
	c->pos += n;
	if (c->pos == c->len) {
		pthread_mutex_lock(&t->lock);
		t->head = (t->head + 1) % CHUNKS;
		t->count--;
		pthread_cond_signal(&t->emptied);
		pthread_mutex_unlock(&t->lock);
	}
	return (ssize_t)n;
}

static ssize_t cookie_read(void *cookie, char *buf, size_t size)
{
	struct instream *s = cookie;
	ssize_t n;

	if (s->threaded) {
		n = read_threaded(s, (uint8_t *)buf, size);
	} else if (s->c == COMPRESSION_NONE) {
		n = read_plain(s, (uint8_t *)buf, size);
	} else if (s->error[0]) {
		errno = EIO;
		n = -1;
	} else {
		n = read_decoded(s, (uint8_t *)buf, size);
	}
	if (n > 0 && s->head_len < INSTREAM_HEAD) {
		size_t k = INSTREAM_HEAD - s->head_len;

		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(s->head + s->head_len, buf, k);
		s->head_len += k;
	}
	if (n < 0)
		errno = EIO;
	return n;
}

static void decoder_end(struct instream *s)
{
	switch (s->c) {
	case COMPRESSION_GZIP: inflateEnd(&s->u.z); break;
	case COMPRESSION_ZSTD: ZSTD_freeDStream(s->u.zs); break;
	case COMPRESSION_LZ4: LZ4F_freeDecompressionContext(s->u.lz); break;
	case COMPRESSION_XZ: lzma_end(&s->u.xz); break;
	case COMPRESSION_NONE: break;
	}
}

/* Starts the decoder thread; without memory or a thread, the reader decodes itself. */
static void thread_start(struct instream *s)
{
	struct decoder_thread *t = &s->t;
	uint8_t *mem = malloc((size_t)CHUNKS * CHUNK_BYTES);

	if (!mem)
		return;
	for (unsigned i = 0; i < CHUNKS; i++)
		t->ring[i].data = mem + (size_t)i * CHUNK_BYTES;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->filled, NULL);
	pthread_cond_init(&t->emptied, NULL);
	s->threaded = true; /* before the thread reads it */
	if (pthread_create(&t->thread, NULL, decoder_main, s) != 0) {
		s->threaded = false;
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->filled);
		pthread_cond_destroy(&t->emptied);
		free(mem);
		t->ring[0].data = NULL;
	}
}

static void thread_stop(struct instream *s)
{
	struct decoder_thread *t = &s->t;

	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->emptied);
	pthread_mutex_unlock(&t->lock);
	/* Waiting for input that may never come (a pipe): cancelled there, its only cancellation
	 * point (read_fd). Anywhere else it sees `stop` and returns. */
	pthread_cancel(t->thread);
	pthread_join(t->thread, NULL);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->filled);
	pthread_cond_destroy(&t->emptied);
	free(t->ring[0].data);
}

static int cookie_close(void *cookie)
{
	struct instream *s = cookie;

	if (s->threaded)
		thread_stop(s);
	decoder_end(s);
	close(s->fd);
	free(s->in);
	/* fclose() calls this last, and never touches a buffer given by setvbuf() after it. */
	free(s->stdio_buffer);
	free(s);
	return 0;
}

static bool decoder_start(struct instream *s)
{
	switch (s->c) {
	case COMPRESSION_GZIP:
		memset(&s->u.z, 0, sizeof s->u.z);
		return inflateInit2(&s->u.z, 15 + 16) == Z_OK; /* 15: 32 KiB window, +16: gzip only */
	case COMPRESSION_ZSTD:
		s->u.zs = ZSTD_createDStream();
		return s->u.zs && !ZSTD_isError(ZSTD_initDStream(s->u.zs));
	case COMPRESSION_LZ4:
		return !LZ4F_isError(LZ4F_createDecompressionContext(&s->u.lz, LZ4F_VERSION));
	case COMPRESSION_XZ: {
		lzma_stream init = LZMA_STREAM_INIT;

		s->u.xz = init;
		/* LZMA_CONCATENATED: streams one after the other, as xz -T and cat a.xz b.xz write. */
		return lzma_stream_decoder(&s->u.xz, XZ_MEMLIMIT, LZMA_CONCATENATED) == LZMA_OK;
	}
	case COMPRESSION_NONE:
		return true;
	}
	return false;
}

FILE *instream_open(int fd, const uint8_t *prefix, size_t prefix_len, size_t buffer_size,
                    struct instream **state)
{
	static const cookie_io_functions_t io = { .read = cookie_read, .close = cookie_close };
	struct instream *s = calloc(1, sizeof *s);
	FILE *fp;

	if (prefix_len > INSTREAM_HEAD)
		prefix_len = INSTREAM_HEAD;
	if (!s) {
		close(fd);
		return NULL;
	}
	s->fd = fd;
	s->c = compression_detect(prefix, prefix_len);
	/* Plain content is read straight into the stream's buffer; only the prefix is kept. */
	s->in_cap = s->c == COMPRESSION_NONE ? (prefix_len ? prefix_len : 1) : buffer_size;
	if (s->in_cap < prefix_len)
		s->in_cap = prefix_len;
	s->in = malloc(s->in_cap);
	if (!s->in || !decoder_start(s)) {
		if (s->in)
			decoder_end(s);
		free(s->in);
		free(s);
		close(fd);
		return NULL;
	}
	memcpy(s->in, prefix, prefix_len);
	s->in_len = prefix_len;
	atomic_store(&s->consumed, prefix_len); /* read from the same file, by the caller */
	if (s->c != COMPRESSION_NONE)
		thread_start(s);
	fp = fopencookie(s, "rb", io);
	if (!fp) {
		cookie_close(s);
		return NULL;
	}
	(void)__fsetlocking(fp, FSETLOCKING_BYCALLER);
	/* Without a buffer given, glibc would use BUFSIZ (8 KiB) for a stream without a file:
	 * one decoder call per 8 KiB. */
	s->stdio_buffer = malloc(buffer_size);
	if (s->stdio_buffer && setvbuf(fp, s->stdio_buffer, _IOFBF, buffer_size) != 0) {
		free(s->stdio_buffer);
		s->stdio_buffer = NULL;
	}
	if (state)
		*state = s;
	return fp;
}
