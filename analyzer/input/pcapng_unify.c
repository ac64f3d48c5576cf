/* pcapng_unify.c - a read-only stream that hands libpcap a pcapng file with one snapshot length
 * and one link type (pcapng_unify.h). It reads the file a block at a time: each block's type and
 * length (pcapng §3.1), the whole block, rewritten where needed, then handed on. A block whose
 * length is impossible ends the rewriting: the rest is passed on untouched, for libpcap to report
 * as damaged. */
#include "pcapng_unify.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 1u
#define BT_PB 2u            /* obsolete Packet Block: 16-bit interface id at offset 8 */
#define BT_EPB 6u           /* Enhanced Packet Block: 32-bit interface id at offset 8 */
#define BT_SKIPPED 0x0BADu  /* a type no reader knows: libpcap skips it (pcap-ng.c) */
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du
#define BLOCK_MAX (64u << 20)   /* larger blocks are passed on untouched */
#define IFACES_MAX 4096         /* interfaces remembered per section */

struct pcapng_unify {
	FILE *in;
	uint8_t *blk;       /* the current block */
	uint32_t cap;
	uint32_t len;       /* its length */
	uint32_t pos;       /* bytes of it handed on */
	bool le;            /* the section's byte order */
	bool lost;          /* passing the rest on untouched */
	int first_type;     /* link type of the file's first interface; -1 before it */
	uint32_t n_ifaces;  /* in this section */
	uint16_t iface_type[IFACES_MAX];
	uint64_t skipped;
	int skipped_type;
};

static uint32_t get32(const uint8_t *p, bool le)
{
	return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
	          : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p, bool le)
{
	return le ? (uint16_t)(p[0] | p[1] << 8) : (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, bool le, uint16_t v)
{
	p[le ? 0 : 1] = (uint8_t)v;
	p[le ? 1 : 0] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, bool le, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[le ? i : 3 - i] = (uint8_t)(v >> (8 * i));
}

/* The block in u->blk (u->len bytes) as libpcap is to read it. */
static void rewrite(struct pcapng_unify *u)
{
	uint8_t *b = u->blk;
	uint32_t type = get32(b, u->le);

	if (type == BT_SHB) {
		u->n_ifaces = 0; /* a new section numbers its interfaces from 0 */
	} else if (type == BT_IDB && u->len >= 20) {
		uint16_t link = get16(b + 8, u->le);

		if (u->first_type < 0)
			u->first_type = link;
		if (u->n_ifaces < IFACES_MAX)
			u->iface_type[u->n_ifaces] = link;
		u->n_ifaces++;
		put16(b + 8, u->le, (uint16_t)u->first_type);
		put32(b + 12, u->le, 0); /* snapshot length: no limit */
	} else if ((type == BT_EPB || type == BT_PB) && u->len >= 12) {
		uint32_t iface = type == BT_EPB ? get32(b + 8, u->le) : get16(b + 8, u->le);

		if (iface < u->n_ifaces && iface < IFACES_MAX &&
		    u->iface_type[iface] != (uint16_t)u->first_type) {
			if (u->skipped++ == 0)
				u->skipped_type = u->iface_type[iface];
			put32(b, u->le, BT_SKIPPED);
		}
	}
}

/* Hands on the `n` bytes read as they are, then the rest of the file. */
static bool hand_on_untouched(struct pcapng_unify *u, const uint8_t *head, size_t n)
{
	if (u->cap < 12) {
		uint8_t *nb = realloc(u->blk, 12);

		if (!nb)
			return false;
		u->blk = nb;
		u->cap = 12;
	}
	memcpy(u->blk, head, n);
	u->len = (uint32_t)n;
	u->pos = 0;
	u->lost = true;
	return true;
}

/* Reads the next block into u->blk; false at the end of the file (or on a damaged block, after
 * which the rest is passed on untouched). */
static bool next_block(struct pcapng_unify *u)
{
	uint8_t head[12];
	size_t got = fread(head, 1, 8, u->in);
	uint32_t len;

	if (got == 8 && get32(head, true) == BT_SHB) { /* the same in either byte order */
		size_t n = fread(head + 8, 1, 4, u->in);

		got += n;
		if (n == 4)
			u->le = get32(head + 8, true) == BYTE_ORDER_MAGIC;
	}
	len = got >= 8 ? get32(head + 4, u->le) : 0;
	if (got < 8 || (get32(head, true) == BT_SHB && got < 12) || len < got || len % 4 != 0 ||
	    len > BLOCK_MAX)
		return hand_on_untouched(u, head, got);
	if (len > u->cap) {
		uint8_t *nb = realloc(u->blk, len);

		if (!nb)
			return hand_on_untouched(u, head, got);
		u->blk = nb;
		u->cap = len;
	}
	memcpy(u->blk, head, got);
	u->pos = 0;
	u->len = (uint32_t)(got + fread(u->blk + got, 1, len - got, u->in));
	if (u->len != len) {
		u->lost = true; /* cut short: handed on as it is, libpcap reports it */
		return true;
	}
	rewrite(u);
	return true;
}

static ssize_t unify_read(void *cookie, char *buf, size_t size)
{
	struct pcapng_unify *u = cookie;
	size_t out = 0;

	while (out < size) {
		size_t n;

		if (u->pos == u->len) {
			if (u->lost) {
				n = fread(buf + out, 1, size - out, u->in);
				if (n == 0)
					break;
				out += n;
				continue;
			}
			if (!next_block(u))
				break;
		}
		n = u->len - u->pos;
		if (n > size - out)
			n = size - out;
		memcpy(buf + out, u->blk + u->pos, n);
		u->pos += (uint32_t)n;
		out += n;
	}
	if (out == 0 && ferror(u->in))
		return -1;
	return (ssize_t)out;
}

static int unify_close(void *cookie)
{
	struct pcapng_unify *u = cookie;
	int rc = fclose(u->in);

	free(u->blk);
	free(u);
	return rc;
}

FILE *pcapng_unify_wrap(FILE *in, const struct pcapng_unify **state)
{
	static const cookie_io_functions_t io = { .read = unify_read, .close = unify_close };
	struct pcapng_unify *u = calloc(1, sizeof *u);
	FILE *fp;

	if (!u)
		return NULL;
	u->first_type = -1;
	u->skipped_type = -1;
	u->in = in;
	fp = fopencookie(u, "rb", io);
	if (!fp) {
		free(u);
		return NULL;
	}
	*state = u;
	return fp;
}

FILE *pcapng_unify_open(const char *path, const struct pcapng_unify **state)
{
	FILE *in = fopen(path, "rb");
	FILE *fp;

	if (!in)
		return NULL;
	fp = pcapng_unify_wrap(in, state);
	if (!fp)
		fclose(in);
	return fp;
}

uint64_t pcapng_unify_skipped(const struct pcapng_unify *u)
{
	return u->skipped;
}

int pcapng_unify_skipped_type(const struct pcapng_unify *u)
{
	return u->skipped_type;
}
