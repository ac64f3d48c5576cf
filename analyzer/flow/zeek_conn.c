/* zeek_conn.c - the pure parts of Zeek's view: conn_state, the likely server ports, the history
 * letters and the uid; and zeek_decode(), the view of a finished flow (zeek_conn.h). The
 * per-packet part is tracking/zeek_track.c. */
#include "zeek_conn.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "live_flow.h"
#include "seq.h"

const char *zeek_conn_state(enum zeek_ep_state os, enum zeek_ep_state rs, uint64_t osize,
                            uint64_t rsize, const char *history)
{
	bool o_inactive = os == ZEEK_INACTIVE || os == ZEEK_PARTIAL;
	bool r_inactive = rs == ZEEK_INACTIVE || rs == ZEEK_PARTIAL;

	/* base/protocols/conn/main.zeek, function conn_state, TCP branch, in its order. */
	if (rs == ZEEK_RESET) {
		if (os == ZEEK_SYN_SENT || os == ZEEK_SYN_ACK_SENT ||
		    (os == ZEEK_RESET && osize == 0 && rsize == 0))
			return "REJ";
		return o_inactive ? "RSTRH" : "RSTR";
	}
	if (os == ZEEK_RESET) {
		if (r_inactive) {
			/* /\^?S[^HAFGIQ]*R.* / == history (a Zeek pattern matches the whole string) */
			const char *h = history;

			if (*h == '^')
				h++;
			if (*h == 'S') {
				for (h++; *h && !strchr("HAFGIQ", *h); h++)
					if (*h == 'R')
						return "RSTOS0";
			}
			return "OTH";
		}
		return "RSTO";
	}
	if (rs == ZEEK_CLOSED && os == ZEEK_CLOSED)
		return "SF";
	if (os == ZEEK_CLOSED)
		return r_inactive ? "SH" : "S2";
	if (rs == ZEEK_CLOSED)
		return o_inactive ? "SHR" : "S3";
	if (os == ZEEK_SYN_SENT && rs == ZEEK_INACTIVE)
		return "S0";
	if (os == ZEEK_ESTABLISHED && rs == ZEEK_ESTABLISHED)
		return "S1";
	return "OTH";
}

/* The TCP ports Zeek's default scripts (base/protocols/<name>/main.zeek) register analyzers for,
 * each of which adds its ports to likely_server_ports: conn, dce-rpc, dnp3, dns, ftp (and
 * gridftp), http, imap, irc, krb, ldap, modbus, mqtt, mysql, pop3, postgresql, rdp, redis, smb,
 * smtp, socks, ssh, ssl, syslog, xmpp. Sorted. */
static const uint16_t likely_server_ports[] = {
	21,   22,   25,   53,   80,   81,   88,   110,  135,  139,  143,  389,  443,  445,
	502,  514,  563,  585,  587,  614,  631,  636,  989,  990,  992,  993,  995,  1080,
	1434, 1883, 2811, 3128, 3268, 3306, 3389, 5222, 5223, 5269, 5432, 6379, 6666, 6667,
	6668, 6669, 8000, 8080, 8888, 20000,
};

bool zeek_likely_server_port(uint16_t port)
{
	size_t lo = 0, hi = sizeof likely_server_ports / sizeof likely_server_ports[0];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (likely_server_ports[mid] == port)
			return true;
		if (likely_server_ports[mid] < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

bool zeek_flips_first(uint8_t flags, uint16_t sport, uint16_t dport)
{
	/* A pure SYN opens a connection the normal way round. Otherwise (no SYN, or SYN+ACK) the
	 * sender is taken for the responder when its port looks like a server's: if both do, only
	 * when this is not a SYN+ACK (stealth scans) and the destination port is the higher. */
	if ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		return false;
	if (!zeek_likely_server_port(sport))
		return false;
	if (zeek_likely_server_port(dport))
		return !(flags & TCP_SYN) && sport < dport;
	return true;
}

bool zeek_scaled(uint32_t n)
{
	uint32_t t = 1;

	while (t < n && t <= UINT32_MAX / 10)
		t *= 10;
	return t == n;
}

/* Each code's letter, '?' for none (0 and 28..31 are never written). */
static const char code_letter[32] = "?SHADFRCGTWIQXshadfrcgtwiqx^????";

/* The code of each letter: its place in code_letter[] (0: not a history letter). A table, not a
 * search: letters are added per packet. */
static const uint8_t letter_code[128] = {
	['S'] = 1,  ['H'] = 2,  ['A'] = 3,  ['D'] = 4,  ['F'] = 5,  ['R'] = 6,  ['C'] = 7,
	['G'] = 8,  ['T'] = 9,  ['W'] = 10, ['I'] = 11, ['Q'] = 12, ['X'] = 13, ['s'] = 14,
	['h'] = 15, ['a'] = 16, ['d'] = 17, ['f'] = 18, ['r'] = 19, ['c'] = 20, ['g'] = 21,
	['t'] = 22, ['w'] = 23, ['i'] = 24, ['q'] = 25, ['x'] = 26, ['^'] = 27,
};

unsigned zeek_letter_code(char letter)
{
	return (unsigned char)letter < sizeof letter_code ? letter_code[(unsigned char)letter] : 0;
}

char zeek_responder_letter(char upper)
{
	unsigned code = zeek_letter_code(upper);

	/* The originator's letters are the first 13 codes, the responder's the next 13. */
	if (code >= 1 && code <= 13)
		return code_letter[code + 13];
	return upper;
}

bool zeek_history_add(struct live_zeek *z, char letter)
{
	unsigned code = zeek_letter_code(letter); /* 1..27: 0 is no letter */

	if (code == 0) {
		z->meta |= ZEEK_META_CUT;
		return false;
	}
	return zeek_history_add_code(z, code);
}

/* Bytes b[0..7] as a little-endian number, whatever the host's order (one load on x86). */
static uint64_t le64(const uint8_t *b)
{
	uint64_t v;

	memcpy(&v, b, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* Tables made once (pthread_once: flows are finished on several threads): the letters of every
 * pair of codes (10 bits: the first code in the low 5), and the base62 digits of every number
 * below 62^2 (zeek_uid). Two characters a step instead of one. */
static char code_pairs[1024][2];
static char b62_pairs[62 * 62][2];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
/* Set once the tables are made: a flag's acquire load per flow instead of a call to pthread_once
 * (its release store comes after the tables, so a thread that sees it sees them). */
static atomic_bool tables_made;

static const char b62_digit[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void make_tables(void)
{
	for (unsigned i = 0; i < 1024; i++) {
		code_pairs[i][0] = code_letter[i & 31u];
		code_pairs[i][1] = code_letter[i >> 5];
	}
	for (unsigned i = 0; i < 62 * 62; i++) {
		b62_pairs[i][0] = b62_digit[i / 62];
		b62_pairs[i][1] = b62_digit[i % 62];
	}
	atomic_store_explicit(&tables_made, true, memory_order_release);
}

static inline void tables_ready(void)
{
	if (!atomic_load_explicit(&tables_made, memory_order_acquire))
		pthread_once(&tables_once, make_tables);
}

/* The codes in `w` (from its bit 0, 5 bits each), `n` of them (at most 12), as letters at out:
 * two at a time, one more byte written when n is odd (out has room for it). */
static char *history_letters(uint64_t w, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i += 2, w >>= 10, out += 2)
		memcpy(out, code_pairs[w & 1023u], 2);
	return out;
}

void zeek_history_text(const struct live_zeek *z, char *out)
{
	unsigned n = z->meta & ZEEK_META_LEN;
	/* Codes 0..11 are bits 0..59 of the first 8 bytes; codes 12..23 bits 4..63 of the last 8
	 * (hist[7..14]). */
	uint64_t lo = le64(z->hist), hi = le64(z->hist + 7);

	_Static_assert(ZEEK_HISTORY_MAX == 24 && sizeof z->hist == 15, "the two words hold the codes");
	tables_ready();
	if (n > ZEEK_HISTORY_MAX)
		n = ZEEK_HISTORY_MAX;
	/* An odd count writes one letter too many (out holds ZEEK_HISTORY_MAX + 1 bytes): the NUL
	 * goes over it. */
	history_letters(lo, n < 12 ? n : 12, out);
	if (n > 12)
		history_letters(hi >> 4, n - 12, out + 12);
	out[n] = '\0';
}

/* SplitMix64's finaliser: every input bit moves every output bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t absorb(uint64_t h, uint64_t v)
{
	return mix64(h ^ mix64(v + 0x9e3779b97f4a7c15ULL));
}

static uint64_t absorb_endpoint(uint64_t h, const struct flow_endpoint *e)
{
	uint64_t a = 0, b = 0;

	memcpy(&a, e->addr.bytes, 8);
	memcpy(&b, e->addr.bytes + 8, 8);
	h = absorb(h, (uint64_t)e->addr.family << 16 | e->port);
	h = absorb(h, a);
	return absorb(h, b);
}

/* 62^5: five base62 digits fit in 32 bits. */
#define B62_5 916132832u

/* The 96-bit number n[0..2] (most significant first, 32 bits each) divided by 62^5 in place;
 * returns the remainder. */
static uint32_t div_b62_5(uint32_t n[3])
{
	uint64_t r = 0;

	for (int i = 0; i < 3; i++) {
		uint64_t cur = r << 32 | n[i];

		n[i] = (uint32_t)(cur / B62_5);
		r = cur % B62_5;
	}
	return (uint32_t)r;
}

/* The five base62 digits of v (below 62^5), ending at `end`: two pairs and one. */
static void b62_five(uint32_t v, char *end)
{
	memcpy(end - 2, b62_pairs[v % 3844u], 2);
	v /= 3844u;
	memcpy(end - 4, b62_pairs[v % 3844u], 2);
	end[-5] = b62_digit[v / 3844u];
}

void zeek_uid(const struct flow_endpoint *client, const struct flow_endpoint *server,
              int64_t first_ts_ns, char *out)
{
	uint64_t h = absorb_endpoint(0x7463706d6f7274ULL, client); /* "tcpmort" */
	uint64_t hi, lo;
	uint32_t n[3];

	h = absorb_endpoint(h, server);
	h = absorb(h, (uint64_t)first_ts_ns);
	hi = h;
	lo = absorb(h, 1);
	/* 17 base62 digits of the 96-bit number hi:lo (Zeek's uids are 96 random bits in base62:
	 * "C" and up to 17 digits), most significant first: three groups of five from the bottom
	 * (each the remainder of a division by 62^5), then the last two (2^96 < 62^17). */
	n[0] = (uint32_t)(hi >> 32);
	n[1] = (uint32_t)(lo >> 32);
	n[2] = (uint32_t)lo;
	tables_ready();
	out[0] = 'C';
	b62_five(div_b62_5(n), out + 18);
	b62_five(div_b62_5(n), out + 13);
	b62_five(div_b62_5(n), out + 8);
	memcpy(out + 1, b62_pairs[n[2]], 2); /* what is left is below 62^2 */
	out[18] = '\0';
}

static enum zeek_ep_state ep_state(const struct live_zeek *z, int side)
{
	return ZEEK_EP_STATE(z->ep[side]);
}

/* TCP_Endpoint::Size(): the sequence space the side used, from its SYN (or first byte) to the
 * higher of its last sequence number and what the peer acknowledged, less SYN and FIN. */
static uint64_t zeek_size(const struct live_flow *f, int side)
{
	const struct live_zeek *z = &f->zeek;
	const struct live_dir *me = &f->dir[side];
	const struct live_dir *peer = &f->dir[!side];
	uint32_t top, size;

	if (!(me->bits & DIR_SEQ_KNOWN))
		return 0; /* never sent anything numbered: init_peer() renumbers it at every ACK */
	top = me->next_seq;
	if ((peer->bits & DIR_ACK_KNOWN) && seq_gt(peer->max_ack, top))
		top = peer->max_ack;
	/* A half-open connection found and aborted: its numbers say nothing. */
	if (ZEEK_EP_PREV(z->ep[side]) == ZEEK_SYN_SENT && ep_state(z, side) == ZEEK_RESET &&
	    ep_state(z, !side) == ZEEK_INACTIVE && (peer->bits & DIR_ACK_KNOWN) &&
	    peer->max_ack != me->isn + 1)
		return 0;
	size = top - me->isn;
	if (size != 0)
		size--;
	if ((z->ep[side] & ZEEK_EP_FIN) && size != 0)
		size--;
	return size;
}

void zeek_decode(const struct flow_store *st, const struct live_flow *f, const struct live_fin *fb,
                 const struct flow_endpoint *client, const struct flow_endpoint *server,
                 struct zeek_fields *out)
{
	const struct live_zeek *z = &f->zeek;
	const struct live_rare *r = live_rare_of(st, f);
	int o = (z->meta & ZEEK_META_ORIG_SERVER) ? FROM_SERVER : FROM_CLIENT;
	int64_t closed[2] = { 0, 0 };

	memset(out, 0, sizeof *out);
	zeek_uid(client, server, f->first_ts_ns, out->uid);
	zeek_history_text(z, out->history);
	out->history_cut = z->meta & ZEEK_META_CUT;
	out->orig = (uint8_t)o;
	for (int d = 0; d < 2; d++) {
		out->size[d] = zeek_size(f, d);
		out->ip_bytes[d] = f->dir[d].payload_bytes + z->hdr_bytes[d];
	}
	out->conn_state = zeek_conn_state(ep_state(z, o), ep_state(z, !o), out->size[o],
	                                  out->size[!o], out->history);
	if (r)
		out->missed_bytes = (uint64_t)r->zeek.missed_hi << 32 | r->zeek.missed_lo;
	/* Zeek stops moving the connection's last time once both sides closed (sent a FIN or a
	 * RST): the duration ends at the later of the two. */
	for (int d = 0; d < 2; d++) {
		if (fb && fb->fin[d].frame)
			closed[d] = live_snap_ts(st, f, &fb->fin[d]);
		if (r && r->first_rst.frame && r->first_rst_from == d &&
		    (!closed[d] || live_snap_ts(st, f, &r->first_rst) < closed[d]))
			closed[d] = live_snap_ts(st, f, &r->first_rst);
	}
	out->duration_ns = f->last_ts_ns - f->first_ts_ns;
	if (closed[0] && closed[1])
		out->duration_ns = (closed[0] > closed[1] ? closed[0] : closed[1]) - f->first_ts_ns;
	out->has_duration = out->duration_ns > 0;
}
