/* capture.c - reading and merging the input files through libpcap. */
#include "capture.h"
#include "pcap_map.h"
#include "pcapng_unify.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <unistd.h>

#include "file_heap.h"
#include "instream.h"

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
/* The kernel's ring for a live capture: room for bursts while the analysis catches up (libpcap's
 * default is 2 MiB). */
#define LIVE_BUFFER_BYTES (8 << 20)

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
	struct instream *in; /* compressed, standard input or a pipe: the stream behind the pcap */
	enum compression compression;
	bool live;          /* an interface, not a file */
	uint64_t kernel_dropped;
	/* Parked: a file of a large set, not open until the merge reaches its first frame. */
	bool parked;
	/* The frame read ahead, for the merge. */
	bool pending;
	struct pcap_pkthdr *hdr;
	const u_char *data;
	int64_t ts_ns;
	uint64_t records;       /* records libpcap returned from this file */
	bool unified;           /* reopened through pcapng_unify.h */
	const struct pcapng_unify *unify; /* its state while open */
	bool taken;             /* capture_file_read handed the pending frame out */
	/* A named classic pcap file is read in place (pcap_map.h) up to its end or the first record
	 * libpcap would treat specially; libpcap, open on it all along, reads on from there. */
	struct pcap_map *map;
	uint64_t map_off;       /* the next record's offset */
	uint64_t map_released;  /* pages before this were released (pcap_map_release) */
	struct pcap_pkthdr map_hdr; /* the pending frame's lengths, for pcap_offline_filter */
};

struct capture_set {
	unsigned n;
	struct capture_file *files;
	struct file_heap heap; /* the files with a pending frame */
	unsigned *parked; /* indexes of parked files, by their first frame, earliest first */
	unsigned parked_len, parked_next;
	const char *bpf_filter;
	size_t buffer_size;
	pcap_dumper_t *saver; /* live: -w FILE */
	uint64_t frames;
	bool handed_out; /* the heap's top frame was returned and not yet replaced */
	bool live;
};

/* pcap gives timestamps as (seconds, nanoseconds) because we open with nanosecond precision;
 * pcap_map_ts_ns clamps them into what a classic pcap record can say. */
static int64_t frame_ts(const struct pcap_pkthdr *h)
{
	return pcap_map_ts_ns((int64_t)h->ts.tv_sec, (int64_t)h->ts.tv_usec);
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

/* The same for a stream that can seek (a regular file, or memory from fmemopen): peeks at the
 * header and puts the position back. A stream that cannot seek (a pipe) is left untouched, and
 * the caller learns the precision from the timestamps themselves. */
static bool stream_is_nano(FILE *fp)
{
	uint8_t buf[INSTREAM_HEAD];
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

/* Closes the file's mapping and libpcap handle (and with it its stream), then the stream's
 * buffer. */
static void close_pcap(struct capture_file *cf)
{
	pcap_map_close(cf->map);
	cf->map = NULL;
	if (cf->pcap)
		pcap_close(cf->pcap);
	cf->pcap = NULL;
	cf->in = NULL; /* closed with the pcap's stream */
	free(cf->read_buffer);
	cf->read_buffer = NULL;
}

/* Reads up to `size` bytes from the start of `fd` (a pipe: as many as arrive before its end). */
static size_t read_prefix(int fd, uint8_t *buf, size_t size)
{
	size_t n = 0;

	while (n < size) {
		ssize_t r = read(fd, buf + n, size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	return n;
}

/* Opens a named file for libpcap (with pcap_open_offline()'s message when it cannot), told to
 * the kernel as read sequentially. A plain regular file is a stdio stream with a read buffer of
 * `buffer_size` bytes, as libpcap would open it; compressed content, and a file that is not a
 * regular file (a FIFO, /dev/stdin, a process substitution), go through an instream, which
 * detects the compression. *nano: the precision the header shows (plain files). */
static FILE *open_path(struct capture_file *cf, size_t buffer_size, bool *nano, char *errbuf)
{
	uint8_t head[INSTREAM_HEAD];
	size_t n;
	struct stat st;
	FILE *fp;
	int fd = open(cf->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", cf->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", cf->path, strerror(EISDIR));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		n = read_prefix(fd, head, COMPRESSION_MAGIC_MAX);
		return instream_open(fd, head, n, buffer_size, &cf->in);
	}
	cf->size = (uint64_t)st.st_size;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	{
		ssize_t r = pread(fd, head, sizeof head, 0);

		n = r > 0 ? (size_t)r : 0;
	}
	if (compression_detect(head, n) != COMPRESSION_NONE) {
		/* The bytes peeked at are the instream's first: it reads on after them. */
		if (lseek(fd, (off_t)n, SEEK_SET) < 0) {
			snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", cf->path, strerror(errno));
			close(fd);
			return NULL;
		}
		return instream_open(fd, head, n, buffer_size, &cf->in);
	}
	*nano = header_is_nano(head, n);
	fp = fdopen(fd, "rb");
	if (!fp) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", cf->path, strerror(errno));
		close(fd);
		return NULL;
	}
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
	FILE *fp = NULL;

	cf->dlt = -1; /* no link type until the file is open: dissect_link_name(-1) is NULL */

	if (stream) {
		nano = stream_is_nano(stream);
		fp = stream;
	} else if (is_stdin) {
		/* Standard input may be compressed too: its first bytes are read to know, and handed
		 * back through the instream. A duplicate descriptor is read, so that closing the
		 * stream leaves descriptor 0 to the process. */
		uint8_t head[COMPRESSION_MAGIC_MAX];
		int fd = dup(STDIN_FILENO);

		if (fd < 0)
			snprintf(errbuf, sizeof errbuf, "standard input: %s", strerror(errno));
		else
			fp = instream_open(fd, head, read_prefix(fd, head, sizeof head), READ_BUFFER_MAX,
			                   &cf->in);
	} else {
		fp = open_path(cf, buffer_size, &nano, errbuf);
	}
	if (fp) {
		if (cf->in)
			cf->compression = instream_compression(cf->in);
		cf->pcap = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO,
		                                                    errbuf);
		if (!cf->pcap) {
			const char *damage = cf->in ? instream_error(cf->in) : NULL;

			if (damage)
				snprintf(errbuf, sizeof errbuf, "%s", damage);
			fclose(fp);
			cf->in = NULL;
		} else if (cf->in) {
			/* libpcap has read the header (pcapng: up to the first interface): the bytes
			 * the instream kept show its precision, as a named file's do. */
			size_t n;
			const uint8_t *head = instream_head(cf->in, &n);

			nano = header_is_nano(head, n);
		}
	} else if (!errbuf[0]) {
		snprintf(errbuf, sizeof errbuf, "%s: out of memory", cf->path);
	}
	if (!cf->pcap) {
		const char *compression = compression_name(cf->compression);

		close_pcap(cf); /* its stream is closed: only the buffer is left */
		/* libpcap's wording for an empty or foreign file is about header bytes; say it plainly. */
		if (strstr(errbuf, "only got 0"))
			snprintf(cf->error, sizeof cf->error, "empty file, not a capture");
		else if (strstr(errbuf, "unknown file format") && compression)
			snprintf(cf->error, sizeof cf->error, "not a pcap or pcapng capture (%s-compressed)",
			         compression);
		else if (strstr(errbuf, "unknown file format"))
			snprintf(cf->error, sizeof cf->error, "not a pcap or pcapng capture");
		else if (strncmp(errbuf, "damaged ", 8) == 0)
			snprintf(cf->error, sizeof cf->error, "%s", errbuf);
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
	if (stream) { /* a named file's size is known from open_path() */
		struct stat st;

		if (fileno(stream) >= 0 && fstat(fileno(stream), &st) == 0 && S_ISREG(st.st_mode))
			cf->size = (uint64_t)st.st_size;
	}
	if (bpf_filter && !cf->has_filter) { /* reopened (parked): the program is kept */
		if (pcap_compile(cf->pcap, &cf->filter, bpf_filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
			snprintf(cf->error, sizeof cf->error, "filter '%s': %s", bpf_filter,
			         pcap_geterr(cf->pcap));
			cf->unreadable = true;
			return;
		}
		cf->has_filter = true;
	}
	/* A named, uncompressed regular file: read in place when it is a classic pcap file libpcap
	 * reads plainly (the same link type and snapshot length as libpcap's handle says). */
	if (!stream && !is_stdin && !cf->in && cf->size) {
		cf->map = pcap_map_open(cf->path);
		if (cf->map && (pcap_map_dlt(cf->map) != cf->dlt ||
		                pcap_map_snaplen(cf->map) != (uint32_t)pcap_snapshot(cf->pcap))) {
			pcap_map_close(cf->map); /* changed between the two opens: libpcap reads it */
			cf->map = NULL;
		}
		cf->map_off = cf->map_released = PCAP_MAP_FILE_HEADER;
	}
}

/* libpcap stopped at a pcapng interface whose snapshot length or link type differs from the
 * first one's: reopens the named, uncompressed file with its interfaces unified
 * (pcapng_unify.h) and skips the records already read. 1: reopened; 0: not that, nothing
 * changed; -1: failed after closing the first handle. */
static int reopen_unified(struct capture_file *cf)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	uint64_t skip = cf->records;
	FILE *fp;

	if (cf->unified || cf->in || cf->live || cf->size == 0 ||
	    !strstr(pcap_geterr(cf->pcap), "of the first interface"))
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

/* Pages of a mapped file already read leave the resident set every this many bytes. */
#define MAP_RELEASE_STEP (2u << 20)

/* ns % 1000 == 0 for a time pcap_map_ts_ns() made (never negative), without the division GCC
 * emits for the remainder in a block it does not count as hot: 1000 = 8 x 125, and a multiple
 * of 125 times the inverse of 125 modulo 2^64 is at most (2^64 - 1) / 125 (Hacker's Delight
 * 10-17). */
static inline bool whole_us(int64_t ns)
{
	uint64_t x = (uint64_t)ns;

	return (x & 7) == 0 && x * 0x1cac083126e978d5ULL <= 0x20c49ba5e353f7cULL;
}

/* The record pcap_map_next() just returned, `fr`, into the file's pending slot. */
static inline void map_take(struct capture_file *cf, const struct pcap_map_frame *fr)
{
	cf->records++;
	cf->pending = true;
	cf->consumed += PCAP_MAP_RECORD_HEADER + fr->caplen;
	cf->map_hdr.caplen = fr->caplen;
	cf->map_hdr.len = fr->wirelen;
	cf->hdr = &cf->map_hdr;
	cf->data = fr->data;
	cf->ts_ns = fr->ts_ns;
	if (!cf->ts_nano && !whole_us(cf->ts_ns))
		cf->ts_nano = true; /* the rule of libpcap's path below (a clamped fraction too) */
	if (fr->offset - cf->map_released >= MAP_RELEASE_STEP) {
		pcap_map_release(cf->map, cf->map_released, fr->offset);
		cf->map_released = fr->offset;
	}
}

/* The mapping met its end, or a record it hands over to libpcap: the mapping is closed and
 * libpcap's stream stands at the offset reached, where libpcap reads on (the record the mapping
 * handed over, or the end of the file: libpcap then says end of file as it always did, and reads
 * what was appended since, if anything). Nothing is pending after it. */
static void map_end(struct capture_file *cf)
{
	if (pcap_map_cut(cf->map)) /* truncated by another program while read */
		snprintf(cf->error, sizeof cf->error, "changed while being read: cut short before "
		         "offset %llu", (unsigned long long)cf->map_off);
	pcap_map_close(cf->map);
	cf->map = NULL;
	if (cf->error[0])
		return;
	if (fseeko(pcap_file(cf->pcap), (off_t)cf->map_off, SEEK_SET) != 0)
		snprintf(cf->error, sizeof cf->error, "damaged capture: cannot read on at offset %llu: %s",
		         (unsigned long long)cf->map_off, strerror(errno));
}

/* read_ahead() for anything but a record of the mapping: the end of the mapping (read_ahead()
 * found no record there), then libpcap. Out of line: the mapped path through read_ahead() saves
 * no registers for libpcap's. */
static __attribute__((noinline)) void read_ahead_slow(struct capture_file *cf)
{
	cf->pending = false;
	if (!cf->pcap || cf->unreadable)
		return;
	if (cf->map)
		map_end(cf);
	if (cf->error[0]) { /* the mapped file was cut short, or libpcap's stream not placed after it */
		close_pcap(cf);
		cf->done = true;
		return;
	}
	for (;;) {
		int rc = pcap_next_ex(cf->pcap, &cf->hdr, &cf->data);
		int again = rc == PCAP_ERROR ? reopen_unified(cf) : 0;

		if (again > 0)
			continue;
		if (rc == 1) {
			cf->records++;
			cf->pending = true;
			cf->consumed += 16 + cf->hdr->caplen; /* pcap record header + data */
			cf->ts_ns = frame_ts(cf->hdr);
			if (!cf->ts_nano && cf->ts_ns % 1000 != 0)
				cf->ts_nano = true; /* standard input: sub-microsecond digits prove it */
			return;
		}
		if (again < 0)
			snprintf(cf->error, sizeof cf->error, "damaged capture: cannot be read again with "
			         "its interfaces' snapshot lengths and link types unified");
		else if (cf->in && instream_error(cf->in)) /* the decompression failed, not the capture */
			snprintf(cf->error, sizeof cf->error, "%s", instream_error(cf->in));
		else if (rc == PCAP_ERROR)
			snprintf(cf->error, sizeof cf->error, "damaged capture: %s", pcap_geterr(cf->pcap));
		else if (cf->unified && pcapng_unify_skipped(cf->unify))
			snprintf(cf->error, sizeof cf->error,
			         "%llu frame%s not read: of interfaces with link type %d, not the first "
			         "interface's",
			         (unsigned long long)pcapng_unify_skipped(cf->unify),
			         pcapng_unify_skipped(cf->unify) == 1 ? "" : "s",
			         pcapng_unify_skipped_type(cf->unify));
		close_pcap(cf);
		cf->done = true;
		return;
	}
}

/* Reads the file's next frame that passes the filter into its pending slot: a record of the
 * file's mapping here, anything else in read_ahead_slow(). */
static inline void read_ahead(struct capture_file *cf)
{
	struct pcap_map_frame fr;

	if (cf->map && cf->pcap && !cf->unreadable) {
		if (pcap_map_next(cf->map, &cf->map_off, UINT64_MAX, &fr) == PCAP_MAP_FRAME) {
			map_take(cf, &fr);
			return;
		}
	}
	read_ahead_slow(cf);
}

static int64_t pending_ts(const void *ctx, unsigned i)
{
	return ((const struct capture_set *)ctx)->files[i].ts_ns;
}

/* A set of more files than this is merged with only the files open whose time has come: a
 * rotated tcpdump -C/-G set of a day holds thousands of files, more than a process may have open
 * (ulimit -n is 1024), and the files of a rotated set follow one another in time. Each file is
 * opened once at the start, to learn its first frame's time (and whether it can be read at all),
 * closed ("parked"), and opened again when the merge reaches that time. */
#define OPEN_AT_ONCE_MAX 8

/* A parked file's place in the order of first frames (ties: the file named first). */
struct park_key {
	int64_t ts_ns;
	unsigned index;
};

static int by_first_frame(const void *a, const void *b)
{
	const struct park_key *x = a, *y = b;

	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/* Sorts the parked files by first frame. False without memory. */
static bool sort_parked(struct capture_set *cs)
{
	struct park_key *keys = malloc(cs->parked_len * sizeof *keys);

	if (!keys)
		return false;
	for (unsigned k = 0; k < cs->parked_len; k++)
		keys[k] = (struct park_key){ cs->files[cs->parked[k]].ts_ns, cs->parked[k] };
	qsort(keys, cs->parked_len, sizeof *keys, by_first_frame);
	for (unsigned k = 0; k < cs->parked_len; k++)
		cs->parked[k] = keys[k].index;
	free(keys);
	return true;
}

/* Parks an open file with its first frame read: remembers that frame's time and closes it. */
static void park(struct capture_set *cs, unsigned i)
{
	struct capture_file *cf = &cs->files[i];

	close_pcap(cf);
	cf->pending = false;
	cf->parked = true;
	cf->consumed = 0;
	cf->records = 0;      /* read again from its start when unparked */
	cf->unified = false;
	cs->parked[cs->parked_len++] = i;
}

/* Opens the next parked file and puts its first frame in the heap. */
static void unpark_next(struct capture_set *cs)
{
	unsigned i = cs->parked[cs->parked_next++];
	struct capture_file *cf = &cs->files[i];

	cf->parked = false;
	open_one(cf, NULL, cs->bpf_filter, cs->buffer_size);
	cf->unreadable = false; /* it was read once: whatever is wrong now is damage part way */
	read_ahead(cf);
	if (cf->pending) {
		file_heap_push(&cs->heap, i);
	} else if (!cf->error[0]) {
		/* It had a frame when it was first opened: gone or emptied since. */
		snprintf(cf->error, sizeof cf->error, "changed while being read: no frame now");
	}
}

/* Opens the parked files whose first frame comes before the heap's top frame. */
static void unpark_due(struct capture_set *cs)
{
	while (cs->parked_next < cs->parked_len &&
	       (cs->heap.len == 0 ||
	        file_heap_before(&cs->heap, cs->parked[cs->parked_next], cs->heap.idx[0])))
		unpark_next(cs);
}

/* Opens n inputs: paths[i], read from streams[i] when `streams` is not NULL. */
static struct capture_set *set_open(const char *const *paths, FILE **streams, unsigned n,
                                    const char *bpf_filter)
{
	struct capture_set *cs = calloc(1, sizeof *cs);
	bool parking = !streams && n > OPEN_AT_ONCE_MAX;

	if (cs && (!(cs->files = calloc(n ? n : 1, sizeof *cs->files)) ||
	           !file_heap_init(&cs->heap, n, cs, pending_ts) ||
	           !(cs->parked = calloc(n ? n : 1, sizeof *cs->parked)))) {
		free(cs->files);
		file_heap_free(&cs->heap);
		free(cs);
		cs = NULL;
	}
	if (!cs) {
		for (unsigned i = 0; streams && i < n; i++)
			fclose(streams[i]);
		return NULL;
	}
	cs->n = n;
	cs->bpf_filter = bpf_filter;
	/* Parked, few files are open at once: each may have the largest buffer. */
	size_t buffer_size = READ_BUFFER_TOTAL / (n && !parking ? n : 1);

	if (buffer_size > READ_BUFFER_MAX)
		buffer_size = READ_BUFFER_MAX;
	if (buffer_size < READ_BUFFER_MIN)
		buffer_size = READ_BUFFER_MIN;
	cs->buffer_size = buffer_size;
	for (unsigned i = 0; i < n; i++) {
		struct capture_file *cf = &cs->files[i];

		cf->path = paths[i];
		open_one(cf, streams ? streams[i] : NULL, bpf_filter, buffer_size);
		read_ahead(cf);
		/* Standard input and pipes cannot be read twice: they stay open. */
		if (cf->pending && parking && !cf->in && strcmp(cf->path, "-") != 0)
			park(cs, i);
		else if (cf->pending)
			cs->heap.idx[cs->heap.len++] = i;
	}
	file_heap_build(&cs->heap);
	if (cs->parked_len > 1 && !sort_parked(cs)) {
		/* No memory to order them: open them all now, as a small set is. */
		while (cs->parked_next < cs->parked_len)
			unpark_next(cs);
	}
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
	if (cs->saver)
		pcap_dump_close(cs->saver);
	for (unsigned i = 0; i < cs->n; i++) {
		close_pcap(&cs->files[i]);
		if (cs->files[i].has_filter)
			pcap_freecode(&cs->files[i].filter);
	}
	free(cs->files);
	file_heap_free(&cs->heap);
	free(cs->parked);
	free(cs);
}

/* Replaces the heap's top file's frame by that file's next one. */
static void advance_top(struct capture_set *cs)
{
	struct capture_file *cf = &cs->files[cs->heap.idx[0]];

	read_ahead(cf);
	file_heap_replace_top(&cs->heap, cf->pending);
}

/* --- live capture ---------------------------------------------------------------------------- */

/* Live: the next frame the kernel has, without waiting. The filter ran in the kernel. */
static int live_next(struct capture_set *cs, struct capture_frame *frame)
{
	struct capture_file *cf = &cs->files[0];
	int rc;

	if (cf->done)
		return CAPTURE_END;
	rc = pcap_next_ex(cf->pcap, &cf->hdr, &cf->data);
	if (rc == 1) {
		if (cs->saver)
			pcap_dump((u_char *)cs->saver, cf->hdr, cf->data);
		cf->consumed += 16 + cf->hdr->caplen;
		frame->number = ++cs->frames;
		frame->ts_ns = frame_ts(cf->hdr);
		frame->data = cf->data;
		frame->caplen = cf->hdr->caplen;
		frame->wirelen = cf->hdr->len;
		frame->file = cf;
		frame->file_index = 0;
		return CAPTURE_FRAME;
	}
	if (rc == 0 || rc == PCAP_ERROR_BREAK)
		return CAPTURE_AGAIN;
	/* The interface went away or down, or the socket failed: the run ends as a damaged file
	 * does, with everything seen so far reported. */
	capture_set_update_stats(cs);
	snprintf(cf->error, sizeof cf->error, "capture stopped: %s", pcap_geterr(cf->pcap));
	cf->done = true;
	return CAPTURE_END;
}

struct capture_set *capture_set_open_live(const struct capture_live_options *o, char *err,
                                          size_t errlen)
{
	struct capture_set *cs = calloc(1, sizeof *cs);
	struct capture_file *cf;
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *p;
	int rc;

	if (cs && (!(cs->files = calloc(1, sizeof *cs->files)) ||
	           !file_heap_init(&cs->heap, 1, cs, pending_ts) ||
	           !(cs->parked = calloc(1, sizeof *cs->parked)))) {
		free(cs->files);
		file_heap_free(&cs->heap);
		free(cs);
		cs = NULL;
	}
	if (!cs) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cs->n = 1;
	cs->live = true;
	cf = &cs->files[0];
	cf->path = o->interface;
	cf->live = true;
	cf->dlt = -1;
	p = pcap_create(o->interface, errbuf);
	if (!p) {
		snprintf(err, errlen, "%s: %s", o->interface, errbuf);
		capture_set_close(cs);
		return NULL;
	}
	cf->pcap = p;
	pcap_set_snaplen(p, o->snaplen > 0 ? o->snaplen : 262144);
	pcap_set_promisc(p, 1);
	/* Every packet handed over as it arrives (no batching in kernel blocks), so rows appear as
	 * connections end; the loop waits itself, with a timeout (capture_set_wait). */
	pcap_set_immediate_mode(p, 1);
	pcap_set_buffer_size(p, LIVE_BUFFER_BYTES);
	/* Nanoseconds where the kernel gives them, as the -w file then says. */
	(void)pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(p);
	if (rc < 0) {
		const char *detail = pcap_geterr(p);

		if (rc == PCAP_ERROR_PERM_DENIED)
			snprintf(err, errlen, "%s: no permission to capture: capturing needs the "
			                      "CAP_NET_RAW capability (run as root, or grant it: setcap "
			                      "cap_net_raw+ep on the tcpmortem binary)",
			         o->interface);
		else if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
			snprintf(err, errlen, "%s: no such interface", o->interface);
		else if (rc == PCAP_ERROR_IFACE_NOT_UP)
			snprintf(err, errlen, "%s: the interface is not up", o->interface);
		else
			snprintf(err, errlen, "%s: cannot capture: %s", o->interface,
			         detail && *detail ? detail : pcap_statustostr(rc));
		capture_set_close(cs);
		return NULL;
	}
	cf->dlt = pcap_datalink(p);
	cf->ts_nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
	if (!dissect_link_supported(cf->dlt)) {
		const char *name = pcap_datalink_val_to_name(cf->dlt);

		snprintf(err, errlen, "%s: unsupported link type %d (%s)", o->interface, cf->dlt,
		         name ? name : "unknown");
		capture_set_close(cs);
		return NULL;
	}
	if (o->filter) {
		struct bpf_program prog;
		bpf_u_int32 net = 0, mask = PCAP_NETMASK_UNKNOWN;

		if (pcap_lookupnet(o->interface, &net, &mask, errbuf) != 0)
			mask = PCAP_NETMASK_UNKNOWN;
		if (pcap_compile(p, &prog, o->filter, 1, mask) != 0) {
			snprintf(err, errlen, "filter '%s': %s", o->filter, pcap_geterr(p));
			capture_set_close(cs);
			return NULL;
		}
		/* In the kernel: frames it rejects are never copied, never numbered, never saved. */
		rc = pcap_setfilter(p, &prog);
		pcap_freecode(&prog);
		if (rc != 0) {
			snprintf(err, errlen, "filter '%s': %s", o->filter, pcap_geterr(p));
			capture_set_close(cs);
			return NULL;
		}
	}
	if (pcap_setnonblock(p, 1, errbuf) != 0) {
		snprintf(err, errlen, "%s: %s", o->interface, errbuf);
		capture_set_close(cs);
		return NULL;
	}
	if (o->save_path) {
		cs->saver = pcap_dump_open(p, o->save_path);
		if (!cs->saver) {
			snprintf(err, errlen, "%s: cannot write: %s", o->save_path, pcap_geterr(p));
			capture_set_close(cs);
			return NULL;
		}
	}
	return cs;
}

bool capture_set_live(const struct capture_set *cs) { return cs->live; }

int capture_set_wait(struct capture_set *cs, int timeout_ms)
{
	struct pollfd pfd = { .fd = cs->live ? pcap_get_selectable_fd(cs->files[0].pcap) : -1,
	                      .events = POLLIN };

	if (pfd.fd < 0)
		return -1;
	return poll(&pfd, 1, timeout_ms);
}

void capture_set_update_stats(struct capture_set *cs)
{
	struct pcap_stat st;
	struct capture_file *cf = &cs->files[0];

	if (!cs->live || !cf->pcap)
		return;
	if (pcap_stats(cf->pcap, &st) == 0)
		cf->kernel_dropped = (uint64_t)st.ps_drop + st.ps_ifdrop;
	if (cs->saver)
		pcap_dump_flush(cs->saver);
}

/* The pending frame of file `i` into *frame; false (and counted) when the filter leaves it out
 * (its time and length are filled all the same: the reader threads merge filtered frames too). */
static bool take_pending(struct capture_file *cf, unsigned i, struct capture_frame *frame)
{
	frame->ts_ns = cf->ts_ns;
	frame->data = cf->data;
	frame->caplen = cf->hdr->caplen;
	frame->wirelen = cf->hdr->len;
	frame->file = cf;
	frame->file_index = i;
	if (cf->has_filter && pcap_offline_filter(&cf->filter, cf->hdr, cf->data) == 0) {
		cf->filtered++;
		return false;
	}
	return true;
}

/* The next record of the one file of `cs`, straight from its mapping, when it is mapped and has
 * no filter: the heap holds this file alone, and nothing is parked with one file, so the merge
 * has no step to take. False for anything else, and at the mapping's end (nothing changed: the
 * general steps of capture_set_next() then meet the same). Flattened: the mapping's reader
 * inlined. */
static __attribute__((flatten)) bool next_mapped(struct capture_set *cs,
                                                 struct capture_frame *frame)
{
	struct capture_file *cf = &cs->files[0];
	struct pcap_map_frame fr;

	if (!cf->map || !cf->pcap || cf->unreadable || cf->has_filter ||
	    pcap_map_next(cf->map, &cf->map_off, UINT64_MAX, &fr) != PCAP_MAP_FRAME)
		return false;
	map_take(cf, &fr);
	frame->number = ++cs->frames;
	return take_pending(cf, 0, frame); /* no filter: always true */
}

int capture_set_next(struct capture_set *cs, struct capture_frame *frame)
{
	if (cs->live)
		return live_next(cs, frame);
	/* One mapped file without a filter, the common run. */
	if (cs->handed_out && cs->n == 1 && next_mapped(cs, frame))
		return 1;
	/* The frame handed out last time lives in its file's buffer until that file is read
	 * again, so the read-ahead happens only now. */
	if (cs->handed_out) {
		cs->handed_out = false;
		advance_top(cs);
	}
	unpark_due(cs);
	while (cs->heap.len > 0) {
		struct capture_file *cf = &cs->files[cs->heap.idx[0]];

		frame->number = ++cs->frames;
		if (take_pending(cf, cs->heap.idx[0], frame)) {
			cs->handed_out = true;
			return 1;
		}
		advance_top(cs);
		unpark_due(cs);
	}
	return 0;
}

unsigned capture_set_count(const struct capture_set *cs) { return cs->n; }

/* --- one file at a time (the parallel readers, analyzer/engine/readers.c) -------------------- */

int64_t capture_file_head_ts(const struct capture_file *cf) { return cf->ts_ns; }

const struct bpf_program *capture_file_filter(const struct capture_file *cf)
{
	return cf->has_filter ? &cf->filter : NULL;
}

/* A parked file is opened again as unpark_next does, outside the set's merge. */
static void unpark_alone(struct capture_set *cs, struct capture_file *cf)
{
	cf->parked = false;
	open_one(cf, NULL, cs->bpf_filter, cs->buffer_size);
	cf->unreadable = false; /* it was read once: whatever is wrong now is damage part way */
	read_ahead(cf);
	if (!cf->pending && !cf->error[0])
		snprintf(cf->error, sizeof cf->error, "changed while being read: no frame now");
}

int capture_file_read(struct capture_set *cs, unsigned i, struct capture_frame *frame)
{
	struct capture_file *cf = &cs->files[i];

	if (cf->parked)
		unpark_alone(cs, cf);
	else if (cf->taken)
		read_ahead(cf);
	cf->taken = false;
	if (!cf->pending)
		return CAPTURE_END;
	cf->taken = true;
	frame->number = 0;
	return take_pending(cf, i, frame) ? CAPTURE_FRAME : CAPTURE_FILTERED;
}

int capture_file_resume_at(struct capture_set *cs, unsigned i, uint64_t offset)
{
	struct capture_file *cf = &cs->files[i];
	FILE *fp;

	if (cf->parked)
		unpark_alone(cs, cf);
	cf->taken = false;
	cf->pending = false;
	if (cf->map) {
		/* Its own mapping meets the same record, and places libpcap's stream there. */
		cf->map_off = offset;
		read_ahead(cf);
		return 0;
	}
	fp = cf->pcap && !cf->in && !cf->unified ? pcap_file(cf->pcap) : NULL;
	if (!fp || fseeko(fp, (off_t)offset, SEEK_SET) != 0) {
		if (!cf->error[0])
			snprintf(cf->error, sizeof cf->error, "damaged capture: cannot read on at offset "
			         "%llu", (unsigned long long)offset);
		close_pcap(cf);
		cf->done = true;
		return -1;
	}
	read_ahead(cf);
	return 0;
}

uint64_t capture_file_bytes_read(const struct capture_file *cf, bool *known)
{
	FILE *fp = cf->pcap ? pcap_file(cf->pcap) : NULL;
	long pos;

	*known = true;
	if (cf->unreadable)
		return 0;
	if (cf->in && cf->size)
		return instream_consumed(cf->in);
	if (cf->map && !cf->done && cf->size)
		return cf->map_off < cf->size ? cf->map_off : cf->size;
	if (cf->done && cf->size)
		return cf->size;
	if (!cf->size) {
		*known = false;
		return cf->consumed;
	}
	if (fp && (pos = ftell(fp)) >= 0)
		return (uint64_t)pos < cf->size ? (uint64_t)pos : cf->size;
	return cf->consumed < cf->size ? cf->consumed : cf->size;
}

uint64_t capture_file_size(const struct capture_file *cf) { return cf->unreadable ? 0 : cf->size; }

uint64_t capture_set_bytes_read(const struct capture_set *cs, uint64_t *total)
{
	uint64_t read = 0, sum = 0;
	bool known = true;

	for (unsigned i = 0; i < cs->n; i++) {
		const struct capture_file *cf = &cs->files[i];
		bool file_known;

		read += capture_file_bytes_read(cf, &file_known);
		sum += capture_file_size(cf);
		if (!file_known)
			known = false;
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
bool capture_file_live(const struct capture_file *f) { return f->live; }
uint64_t capture_file_kernel_dropped(const struct capture_file *f) { return f->kernel_dropped; }
