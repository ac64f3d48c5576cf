/* capture.c - reading and merging the input files through libpcap. */
#include "capture.h"
#include "pcapng_unify.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>

#define ERROR_MAX (PCAP_ERRBUF_SIZE + 64)

/* libpcap reads a savefile through stdio, two fread()s per record. With stdio's default buffer
 * (st_blksize, 4 KiB on ext4) that is one read(2) per 4 KiB: on a multi-gigabyte capture the
 * system calls cost more than everything libpcap does itself. So each input gets a larger buffer,
 * but one that stays in the L2 cache: the kernel copies the file into it and libpcap copies out
 * of it, and a buffer larger than the cache makes both copies go to memory (measured on a 6 GB
 * capture: a bare pcap_next_ex loop spends 0.85 s in the kernel with 4 KiB, 0.37 s with 1 MiB;
 * tcpmortem 0.5 s with 32-128 KiB, 0.8 s with 1 MiB). READ_BUFFER_TOTAL is
 * shared between the inputs, each getting between the two bounds. */
#define READ_BUFFER_MAX (128u << 10)
#define READ_BUFFER_MIN (16u << 10)
#define READ_BUFFER_TOTAL (2u << 20)

struct capture_file {
	const char *path;
	pcap_t *pcap;
	int dlt;
	bool ts_nano;
	bool unreadable;
	bool has_filter;
	struct bpf_program filter;
	uint64_t filtered;
	uint64_t size;      /* 0: unknown (not a regular file) */
	uint64_t consumed;  /* record bytes read, for files without a position */
	bool done;          /* read to its end (or its error) */
	char error[ERROR_MAX];
	char *read_buffer;  /* the stdio buffer of its stream; freed after pcap_close() */
	/* The frame read ahead, for the merge. */
	bool pending;
	struct pcap_pkthdr *hdr;
	const u_char *data;
	int64_t ts_ns;
	uint64_t records;       /* records libpcap returned from this file */
	bool unified;           /* reopened through pcapng_unify.h */
	const struct pcapng_unify *unify; /* its state while open */
};

struct capture_set {
	unsigned n;
	struct capture_file *files;
	unsigned *heap; /* indexes of files with a pending frame, earliest first */
	unsigned heap_len;
	uint64_t frames;
	bool handed_out; /* the heap's top frame was returned and not yet replaced */
};

/* Timestamps are kept within what a classic pcap record can say: unsigned 32-bit seconds,
 * 1970-01-01 to 2106-02-07. pcapng's 64-bit tick counts, its if_tsresol and if_tsoffset, let
 * libpcap hand out any time_t (negative, or so large that the nanoseconds overflow), and a
 * damaged record can hold a sub-second part of a billion or more; such values are clamped into
 * the range. Every later difference of two timestamps, and twice it, then fits in int64_t. */
#define TS_MAX_SEC 0xffffffffLL
#define NS_PER_SEC 1000000000LL

/* pcap gives timestamps as (seconds, nanoseconds) because we open with nanosecond precision. */
static int64_t frame_ts(const struct pcap_pkthdr *h)
{
	int64_t sec = (int64_t)h->ts.tv_sec;
	int64_t frac = (int64_t)h->ts.tv_usec;

	if (sec < 0)
		return 0;
	if (sec > TS_MAX_SEC)
		return TS_MAX_SEC * NS_PER_SEC + (NS_PER_SEC - 1);
	if (frac < 0)
		frac = 0;
	else if (frac >= NS_PER_SEC)
		frac = NS_PER_SEC - 1;
	return sec * NS_PER_SEC + frac;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* libpcap converts every file to the precision asked for and does not say what the file had, so
 * the file's own header is read: the pcap magic (0xa1b23c4d is nanosecond) or, for pcapng, the
 * first interface's if_tsresol option (code 9; 10^-9 or finer is nanosecond). `buf` holds the
 * first `n` bytes of the file; every read is checked against `n`. */
static bool header_is_nano(const uint8_t *buf, size_t n)
{
	bool nano = false;

	if (n < 4)
		return false;
	if (be32(buf) == 0xa1b23c4d || le32(buf) == 0xa1b23c4d)
		return true;
	if (be32(buf) != 0x0a0d0d0a || n < 12)
		return false;

	bool le = le32(buf + 8) == 0x1a2b3c4d;
	size_t off = 0;

	/* Walk blocks to the first Interface Description Block (type 1). */
	while (off + 12 <= n) {
		uint32_t type = le ? le32(buf + off) : be32(buf + off);
		uint32_t len = le ? le32(buf + off + 4) : be32(buf + off + 4);

		if (len < 12 || len % 4 || len > n - off)
			break;
		if (type == 1) {
			size_t o = off + 16; /* type, length, linktype+reserved, snaplen */

			while (o + 4 <= off + len - 4) {
				uint16_t code = le ? le16(buf + o) : be16(buf + o);
				uint16_t olen = le ? le16(buf + o + 2) : be16(buf + o + 2);

				if (code == 0 || o + 4 + olen > off + len - 4)
					break;
				if (code == 9 && olen >= 1) {
					uint8_t r = buf[o + 4];

					/* MSB clear: 10^-r seconds; set: 2^-r. */
					nano = (r & 0x80) ? (r & 0x7f) > 20 : r > 6;
				}
				o += 4 + ((olen + 3u) & ~3u);
			}
			break;
		}
		off += len;
	}
	return nano;
}

#define HEADER_PEEK 4096

static bool file_is_nano(const char *path)
{
	uint8_t buf[HEADER_PEEK];
	size_t n;
	FILE *fp = fopen(path, "rb");

	if (!fp)
		return false;
	n = fread(buf, 1, sizeof buf, fp);
	fclose(fp);
	return header_is_nano(buf, n);
}

/* The same for a stream that can seek (a regular file, or memory from fmemopen): peeks at the
 * header and puts the position back. A stream that cannot seek (a pipe) is left untouched, and
 * the caller learns the precision from the timestamps themselves. */
static bool stream_is_nano(FILE *fp)
{
	uint8_t buf[HEADER_PEEK];
	long pos = ftell(fp);
	size_t n;

	if (pos < 0)
		return false;
	n = fread(buf, 1, sizeof buf, fp);
	if (fseek(fp, pos, SEEK_SET) != 0) {
		clearerr(fp);
		return false;
	}
	return header_is_nano(buf, n);
}

/* Gives `fp` (not yet read from) a buffer of `size` bytes, kept in cf->read_buffer. Without
 * memory it keeps stdio's own. */
static void give_read_buffer(struct capture_file *cf, FILE *fp, size_t size)
{
	cf->read_buffer = malloc(size);
	if (cf->read_buffer && setvbuf(fp, cf->read_buffer, _IOFBF, size) != 0) {
		free(cf->read_buffer);
		cf->read_buffer = NULL;
	}
}

/* Closes the file's libpcap handle (and with it its stream), then the stream's buffer. */
static void close_pcap(struct capture_file *cf)
{
	if (cf->pcap)
		pcap_close(cf->pcap);
	cf->pcap = NULL;
	free(cf->read_buffer);
	cf->read_buffer = NULL;
}

/* Opens a named file for libpcap as pcap_open_offline() would (same message when it cannot),
 * with a read buffer of `buffer_size` bytes and the kernel told it will be read sequentially. */
static FILE *open_path(struct capture_file *cf, size_t buffer_size, char *errbuf)
{
	FILE *fp = fopen(cf->path, "rb");

	if (!fp) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", cf->path, strerror(errno));
		return NULL;
	}
	(void)posix_fadvise(fileno(fp), 0, 0, POSIX_FADV_SEQUENTIAL);
	/* Only the reading thread touches the stream: no lock per fread (with --threads, glibc
	 * would otherwise take and release one twice per record). */
	(void)__fsetlocking(fp, FSETLOCKING_BYCALLER);
	give_read_buffer(cf, fp, buffer_size);
	return fp;
}

/* Opens cf->path, or reads `stream` (named cf->path) when it is not NULL. A stream is handed to
 * libpcap, which closes it with the pcap handle; if libpcap refuses it, it is closed here.
 * `buffer_size`: the read buffer for a named file. */
static void open_one(struct capture_file *cf, FILE *stream, const char *bpf_filter,
                     size_t buffer_size)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	bool is_stdin = !stream && strcmp(cf->path, "-") == 0;
	bool nano = false;

	cf->dlt = -1; /* no link type until the file is open: dissect_link_name(-1) is NULL */

	if (stream) {
		nano = stream_is_nano(stream);
		cf->pcap = pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_NANO,
		                                                    errbuf);
		if (!cf->pcap)
			fclose(stream);
	} else if (is_stdin) {
		/* libpcap never closes stdin, so its buffer must live as long as the process. */
		static char stdin_buffer[READ_BUFFER_MAX];
		static bool stdin_buffered;

		if (!stdin_buffered)
			stdin_buffered = setvbuf(stdin, stdin_buffer, _IOFBF, sizeof stdin_buffer) == 0;
		(void)__fsetlocking(stdin, FSETLOCKING_BYCALLER);
		cf->pcap = pcap_fopen_offline_with_tstamp_precision(stdin, PCAP_TSTAMP_PRECISION_NANO,
		                                                    errbuf);
	} else {
		FILE *fp = open_path(cf, buffer_size, errbuf);

		if (fp) {
			cf->pcap = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO,
			                                                    errbuf);
			if (cf->pcap)
				nano = file_is_nano(cf->path);
			else
				fclose(fp);
		}
	}
	if (!cf->pcap) {
		close_pcap(cf); /* its stream is closed: only the buffer is left */
		/* libpcap's wording for an empty or foreign file is about header bytes; say it plainly. */
		if (strstr(errbuf, "only got 0"))
			snprintf(cf->error, sizeof cf->error, "empty file, not a capture");
		else if (strstr(errbuf, "unknown file format"))
			snprintf(cf->error, sizeof cf->error, "not a pcap or pcapng capture");
		else
			snprintf(cf->error, sizeof cf->error, "cannot open: %s", errbuf);
		cf->unreadable = true;
		return;
	}
	cf->dlt = pcap_datalink(cf->pcap);
	if (!dissect_link_supported(cf->dlt)) {
		const char *name = pcap_datalink_val_to_name(cf->dlt);

		snprintf(cf->error, sizeof cf->error, "unsupported link type %d (%s)", cf->dlt,
		         name ? name : "unknown");
		cf->unreadable = true;
		return;
	}
	cf->ts_nano = nano;
	{
		struct stat st;
		FILE *fp = pcap_file(cf->pcap);

		if (fp && fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode))
			cf->size = (uint64_t)st.st_size;
	}
	if (bpf_filter) {
		if (pcap_compile(cf->pcap, &cf->filter, bpf_filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
			snprintf(cf->error, sizeof cf->error, "filter '%s': %s", bpf_filter,
			         pcap_geterr(cf->pcap));
			cf->unreadable = true;
			return;
		}
		cf->has_filter = true;
	}
}

/* libpcap stopped at a pcapng interface whose snapshot length or link type differs from the
 * first one's: reopens the named file with its interfaces unified (pcapng_unify.h) and skips the
 * records already read. 1: reopened; 0: not that, nothing changed; -1: failed after
 * closing the first handle. */
static int reopen_unified(struct capture_file *cf)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	const char *msg = cf->pcap ? pcap_geterr(cf->pcap) : "";
	uint64_t skip = cf->records;
	FILE *fp;

	if (cf->unified || !strstr(msg, "of the first interface") ||
	    strcmp(cf->path, "-") == 0 || cf->size == 0)
		return 0;
	fp = pcapng_unify_open(cf->path, &cf->unify);
	if (!fp)
		return 0;
	close_pcap(cf);
	cf->unified = true;
	cf->pcap = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!cf->pcap) {
		fclose(fp);
		return -1;
	}
	for (cf->records = 0; cf->records < skip; cf->records++)
		if (pcap_next_ex(cf->pcap, &cf->hdr, &cf->data) != 1)
			return -1;
	return 1;
}

/* Reads the file's next frame that passes the filter into its pending slot. */
static void read_ahead(struct capture_file *cf)
{
	cf->pending = false;
	if (!cf->pcap || cf->unreadable)
		return;
	for (;;) {
		int rc = pcap_next_ex(cf->pcap, &cf->hdr, &cf->data);

		if (rc == PCAP_ERROR) {
			int again = reopen_unified(cf);

			if (again > 0)
				continue;
			if (again < 0) {
				snprintf(cf->error, sizeof cf->error, "damaged capture: cannot be read again "
				         "with its interfaces' snapshot lengths unified");
				close_pcap(cf);
				cf->done = true;
				return;
			}
		}
		if (rc == 1) {
			cf->records++;
			cf->pending = true;
			cf->consumed += 16 + cf->hdr->caplen; /* pcap record header + data */
			cf->ts_ns = frame_ts(cf->hdr);
			if (!cf->ts_nano && cf->ts_ns % 1000 != 0)
				cf->ts_nano = true; /* standard input: sub-microsecond digits prove it */
			return;
		}
		if (rc == PCAP_ERROR) {
			snprintf(cf->error, sizeof cf->error, "damaged capture: %s", pcap_geterr(cf->pcap));
		} else if (cf->unified && pcapng_unify_skipped(cf->unify)) {
			snprintf(cf->error, sizeof cf->error,
			         "%llu frame%s not read: of interfaces with link type %d, not the first "
			         "interface's",
			         (unsigned long long)pcapng_unify_skipped(cf->unify),
			         pcapng_unify_skipped(cf->unify) == 1 ? "" : "s",
			         pcapng_unify_skipped_type(cf->unify));
		}
		close_pcap(cf);
		cf->done = true;
		return;
	}
}

static bool earlier(const struct capture_set *cs, unsigned a, unsigned b)
{
	int64_t ta = cs->files[a].ts_ns, tb = cs->files[b].ts_ns;

	return ta < tb || (ta == tb && a < b);
}

static void heap_sift_down(struct capture_set *cs, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;

		if (l < cs->heap_len && earlier(cs, cs->heap[l], cs->heap[m]))
			m = l;
		if (r < cs->heap_len && earlier(cs, cs->heap[r], cs->heap[m]))
			m = r;
		if (m == i)
			return;
		unsigned t = cs->heap[i];
		cs->heap[i] = cs->heap[m];
		cs->heap[m] = t;
		i = m;
	}
}

/* Opens n inputs: paths[i], read from streams[i] when `streams` is not NULL. */
static struct capture_set *set_open(const char *const *paths, FILE **streams, unsigned n,
                                    const char *bpf_filter)
{
	struct capture_set *cs = calloc(1, sizeof *cs);

	if (cs) {
		cs->files = calloc(n ? n : 1, sizeof *cs->files);
		cs->heap = calloc(n ? n : 1, sizeof *cs->heap);
	}
	if (!cs || !cs->files || !cs->heap) {
		for (unsigned i = 0; streams && i < n; i++)
			fclose(streams[i]);
		if (cs) {
			free(cs->files);
			free(cs->heap);
		}
		free(cs);
		return NULL;
	}
	cs->n = n;
	size_t buffer_size = READ_BUFFER_TOTAL / (n ? n : 1);

	if (buffer_size > READ_BUFFER_MAX)
		buffer_size = READ_BUFFER_MAX;
	if (buffer_size < READ_BUFFER_MIN)
		buffer_size = READ_BUFFER_MIN;
	for (unsigned i = 0; i < n; i++) {
		cs->files[i].path = paths[i];
		open_one(&cs->files[i], streams ? streams[i] : NULL, bpf_filter, buffer_size);
		read_ahead(&cs->files[i]);
		if (cs->files[i].pending)
			cs->heap[cs->heap_len++] = i;
	}
	for (unsigned i = cs->heap_len / 2; i-- > 0;)
		heap_sift_down(cs, i);
	return cs;
}

struct capture_set *capture_set_open(char *const *paths, unsigned n, const char *bpf_filter)
{
	return set_open((const char *const *)paths, NULL, n, bpf_filter);
}

struct capture_set *capture_set_open_stream(FILE *stream, const char *name, const char *bpf_filter)
{
	return set_open(&name, &stream, 1, bpf_filter);
}

void capture_set_close(struct capture_set *cs)
{
	if (!cs)
		return;
	for (unsigned i = 0; i < cs->n; i++) {
		close_pcap(&cs->files[i]);
		if (cs->files[i].has_filter)
			pcap_freecode(&cs->files[i].filter);
	}
	free(cs->files);
	free(cs->heap);
	free(cs);
}

/* Replaces the heap's top file's frame by that file's next one. */
static void advance_top(struct capture_set *cs)
{
	struct capture_file *cf = &cs->files[cs->heap[0]];

	read_ahead(cf);
	if (!cf->pending)
		cs->heap[0] = cs->heap[--cs->heap_len];
	if (cs->heap_len > 1)
		heap_sift_down(cs, 0);
}

int capture_set_next(struct capture_set *cs, struct capture_frame *frame)
{
	/* The frame handed out last time lives in its file's buffer until that file is read
	 * again, so the read-ahead happens only now. */
	if (cs->handed_out) {
		cs->handed_out = false;
		advance_top(cs);
	}
	while (cs->heap_len > 0) {
		struct capture_file *cf = &cs->files[cs->heap[0]];

		frame->number = ++cs->frames;
		if (!cf->has_filter || pcap_offline_filter(&cf->filter, cf->hdr, cf->data) != 0) {
			frame->ts_ns = cf->ts_ns;
			frame->data = cf->data;
			frame->caplen = cf->hdr->caplen;
			frame->wirelen = cf->hdr->len;
			frame->file = cf;
			frame->file_index = cs->heap[0];
			cs->handed_out = true;
			return 1;
		}
		cf->filtered++;
		advance_top(cs);
	}
	return 0;
}

unsigned capture_set_count(const struct capture_set *cs) { return cs->n; }

uint64_t capture_set_bytes_read(const struct capture_set *cs, uint64_t *total)
{
	uint64_t read = 0, sum = 0;
	bool known = true;

	for (unsigned i = 0; i < cs->n; i++) {
		const struct capture_file *cf = &cs->files[i];
		FILE *fp = cf->pcap ? pcap_file(cf->pcap) : NULL;
		long pos;

		if (cf->unreadable)
			continue;
		if (!cf->size) {
			known = false;
			read += cf->consumed;
			continue;
		}
		sum += cf->size;
		if (cf->done)
			read += cf->size;
		else if (fp && (pos = ftell(fp)) >= 0)
			read += (uint64_t)pos < cf->size ? (uint64_t)pos : cf->size;
		else
			read += cf->consumed < cf->size ? cf->consumed : cf->size;
	}
	*total = known ? sum : 0;
	return read;
}
struct capture_file *capture_set_file(const struct capture_set *cs, unsigned i) { return &cs->files[i]; }
const char *capture_file_path(const struct capture_file *f) { return f->path; }
int capture_file_dlt(const struct capture_file *f) { return f->dlt; }
bool capture_file_ts_nano(const struct capture_file *f) { return f->ts_nano; }
const char *capture_file_error(const struct capture_file *f) { return f->error[0] ? f->error : NULL; }
bool capture_file_unreadable(const struct capture_file *f) { return f->unreadable; }
uint64_t capture_file_filtered(const struct capture_file *f) { return f->filtered; }
