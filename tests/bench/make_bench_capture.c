/* make_bench_capture.c - a large capture made from the real-stack samples, for the benchmark.
 *
 * Every Ethernet sample capture is a template: its packets and their relative times. Instance k
 * of a template replays it starting GAP after instance k-1 (of any template), with the client
 * and server addresses rewritten so that every instance is its own set of connections (client
 * 10.x.y.z or 2001:db8:1::/96 + k, one of 64 servers), and the IPv4 header and TCP checksums
 * recomputed. Templates are drawn with weights that give a realistic mix of endings (mostly
 * graceful closes, then refused and reset connections, a few vanished peers and keepalives).
 * Instances overlap in time; packets are written in timestamp order.
 *
 * Usage: make_bench_capture OUT.pcap CONNECTIONS GAP_US SAMPLE.pcap...
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATE_BYTES_PER_CONNECTION (256u * 1024)

struct packet {
	int64_t rel_ns;
	uint32_t len;
	uint8_t *data;
};

struct template {
	const char *name;
	struct packet *packets;
	size_t n;
	unsigned connections; /* distinct 4-tuples */
	unsigned weight;
	int cls;              /* index in class_weights, -1: none */
};

struct instance {
	int64_t start_ns;
	uint32_t k;
	uint32_t t;      /* template index */
	uint32_t next;   /* next packet */
};

static int64_t next_ts(const struct instance *in, const struct template *ts)
{
	return in->start_ns + ts[in->t].packets[in->next].rel_ns;
}

/* Weights per class of ending (template name prefix): a plausible production mix. A class's
 * weight is shared by its templates (plain, IPv6, variants, ...), so a class with many samples is
 * not drawn more often; templates of no class (the diagnoses) weigh 1 each. */
static const struct { const char *prefix; unsigned weight; } class_weights[] = {
	{ "fin_graceful", 50 }, { "fin_simultaneous", 2 }, { "half_closed", 3 },
	{ "rst_unread_data", 8 }, { "rst_abort", 5 }, { "rst_after_close", 3 },
	{ "rst_peer_restarted", 2 }, { "rst_refused", 8 }, { "syn_unanswered", 3 },
	{ "keepalive", 2 }, { "peer_vanished", 4 }, { "open_at_end", 2 }, { "idle_at_end", 2 },
};
#define N_CLASSES (sizeof class_weights / sizeof class_weights[0])
#define WEIGHT_SCALE 60u /* divisible by every count of templates a class has */

/* The class of a template, or -1. */
static int class_of(const char *name)
{
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;

	for (size_t i = 0; i < N_CLASSES; i++)
		if (strncmp(base, class_weights[i].prefix, strlen(class_weights[i].prefix)) == 0)
			return (int)i;
	return -1;
}

/* Offset of the IP header in an Ethernet frame (any 802.1Q/802.1ad tags), or 0. */
static size_t ip_offset(const uint8_t *d, uint32_t len, int *version)
{
	size_t off = 12;

	while (off + 2 <= len) {
		uint16_t type = (uint16_t)(d[off] << 8 | d[off + 1]);

		if (type == 0x8100 || type == 0x88a8) {
			off += 4;
			continue;
		}
		if (type == 0x0800 && off + 2 + 20 <= len) {
			*version = 4;
			return off + 2;
		}
		if (type == 0x86dd && off + 2 + 40 <= len) {
			*version = 6;
			return off + 2;
		}
		return 0;
	}
	return 0;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Rewrites addresses for instance k and fixes checksums. The sample's client is the address
 * ending in .1 / ::1, its server .2 / ::2 (samples/README.md). */
static void rewrite(uint8_t *d, uint32_t len, uint32_t k)
{
	int v = 0;
	size_t ip = ip_offset(d, len, &v);

	if (!ip)
		return;
	if (v == 4) {
		size_t ihl = (size_t)(d[ip] & 0x0f) * 4;
		uint16_t total = (uint16_t)(d[ip + 2] << 8 | d[ip + 3]);

		for (int a = 0; a < 2; a++) {
			uint8_t *addr = d + ip + 12 + 4 * a;

			if (addr[3] == 1) { /* client */
				addr[0] = 10;
				addr[1] = (uint8_t)(k >> 16);
				addr[2] = (uint8_t)(k >> 8);
				addr[3] = (uint8_t)k;
			} else if (addr[3] == 2) { /* server */
				addr[0] = 172;
				addr[1] = 16;
				addr[2] = (uint8_t)(k % 64);
				addr[3] = 2;
			}
		}
		d[ip + 10] = d[ip + 11] = 0;
		uint16_t c = fold(sum16(d + ip, ihl, 0));
		d[ip + 10] = (uint8_t)(c >> 8);
		d[ip + 11] = (uint8_t)c;
		if (d[ip + 9] == 6 && ip + total <= len && total > ihl + 17) {
			uint8_t *tcp = d + ip + ihl;
			size_t tlen = total - ihl;
			uint32_t s = sum16(d + ip + 12, 8, 0) + 6 + (uint32_t)tlen;

			tcp[16] = tcp[17] = 0;
			c = fold(sum16(tcp, tlen, s));
			tcp[16] = (uint8_t)(c >> 8);
			tcp[17] = (uint8_t)c;
		}
	} else {
		uint16_t plen = (uint16_t)(d[ip + 4] << 8 | d[ip + 5]);

		for (int a = 0; a < 2; a++) {
			uint8_t *addr = d + ip + 8 + 16 * a;

			if (addr[15] == 1) {
				addr[5] = 1;
				addr[12] = (uint8_t)(k >> 24);
				addr[13] = (uint8_t)(k >> 16);
				addr[14] = (uint8_t)(k >> 8);
				addr[15] = (uint8_t)k;
			} else if (addr[15] == 2) {
				addr[5] = 2;
				addr[14] = (uint8_t)(k % 64);
			}
		}
		if (d[ip + 6] == 6 && ip + 40 + plen <= len && plen >= 18) {
			uint8_t *tcp = d + ip + 40;
			uint32_t s = sum16(d + ip + 8, 32, 0) + 6 + plen;

			tcp[16] = tcp[17] = 0;
			uint16_t c = fold(sum16(tcp, plen, s));
			tcp[16] = (uint8_t)(c >> 8);
			tcp[17] = (uint8_t)c;
		}
	}
}

static int load(struct template *t, const char *path)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
	struct pcap_pkthdr *h;
	const u_char *data;
	size_t cap = 64;
	int64_t first = -1;
	static uint8_t ports_seen[65536 / 8]; /* client ports of the SYNs seen: one connection each */
	unsigned long long bytes = 0;

	if (!p)
		return -1;
	if (pcap_datalink(p) != DLT_EN10MB) {
		pcap_close(p);
		return -1;
	}
	memset(t, 0, sizeof *t);
	memset(ports_seen, 0, sizeof ports_seen);
	t->name = path;
	t->cls = class_of(path);
	t->packets = malloc(cap * sizeof *t->packets);
	while (pcap_next_ex(p, &h, &data) == 1) {
		int64_t ts = (int64_t)h->ts.tv_sec * 1000000000 + h->ts.tv_usec;
		int v = 0;
		size_t ip = ip_offset(data, h->caplen, &v);

		if (first < 0)
			first = ts;
		if (t->n == cap)
			t->packets = realloc(t->packets, (cap *= 2) * sizeof *t->packets);
		t->packets[t->n].rel_ns = ts - first;
		t->packets[t->n].len = h->caplen;
		bytes += h->caplen;
		t->packets[t->n].data = malloc(h->caplen);
		memcpy(t->packets[t->n].data, data, h->caplen);
		t->n++;
		/* Count connections by the client-side port of SYNs without ACK. */
		const uint8_t *tcp = NULL;

		if (ip && v == 4 && data[ip + 9] == 6)
			tcp = data + ip + (data[ip] & 0x0f) * 4;
		else if (ip && v == 6 && data[ip + 6] == 6)
			tcp = data + ip + 40;
		if (tcp && (size_t)(tcp - data) + 14 <= h->caplen && (tcp[13] & 0x12) == 0x02) {
			unsigned port = (unsigned)tcp[0] << 8 | tcp[1];

			if (!(ports_seen[port / 8] & (1u << (port % 8)))) {
				ports_seen[port / 8] |= (uint8_t)(1u << (port % 8));
				t->connections++;
			}
		}
	}
	pcap_close(p);
	if (t->connections == 0)
		t->connections = 1; /* midstream-only template: one connection */
	/* A bulk transfer (a megabyte per connection) drawn at its weight would make the capture
	 * mostly one kind of connection and tens of gigabytes: such templates are left out. */
	if (bytes / t->connections > MAX_TEMPLATE_BYTES_PER_CONNECTION) {
		fprintf(stderr, "left out %s: %llu bytes per connection\n", path, bytes / t->connections);
		return -1;
	}
	return t->n ? 0 : -1;
}

static void heap_down(struct instance *h, size_t n, size_t i, const struct template *ts)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < n && next_ts(&h[l], ts) < next_ts(&h[m], ts))
			m = l;
		if (r < n && next_ts(&h[r], ts) < next_ts(&h[m], ts))
			m = r;
		if (m == i)
			return;
		struct instance tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

static void heap_up(struct instance *h, size_t i, const struct template *ts)
{
	while (i > 0 && next_ts(&h[i], ts) < next_ts(&h[(i - 1) / 2], ts)) {
		struct instance tmp = h[i];
		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = tmp;
		i = (i - 1) / 2;
	}
}

int main(int argc, char **argv)
{
	struct template *ts;
	size_t nt = 0, cap_heap = 1024, n_heap = 0;
	struct instance *heap;
	unsigned long long want, made_conns = 0, packets = 0, bytes = 0;
	int64_t gap_ns, next_start = 1764000000LL * 1000000000LL;
	unsigned total_weight = 0, k = 0;
	uint8_t buf[65536];
	pcap_t *dead;
	pcap_dumper_t *out;
	uint64_t rng = 0x2545F4914F6CDD1DULL;

	if (argc < 5) {
		fprintf(stderr, "usage: %s OUT.pcap CONNECTIONS GAP_US SAMPLE.pcap...\n", argv[0]);
		return 2;
	}
	want = strtoull(argv[2], NULL, 10);
	gap_ns = (int64_t)strtoll(argv[3], NULL, 10) * 1000;
	ts = calloc((size_t)argc, sizeof *ts);
	unsigned per_class[N_CLASSES] = { 0 };

	for (int i = 4; i < argc; i++)
		if (load(&ts[nt], argv[i]) == 0)
			nt++;
	if (!nt) {
		fprintf(stderr, "no usable Ethernet sample\n");
		return 1;
	}
	for (size_t t = 0; t < nt; t++)
		if (ts[t].cls >= 0)
			per_class[ts[t].cls]++;
	for (size_t t = 0; t < nt; t++) {
		ts[t].weight = ts[t].cls < 0 ? WEIGHT_SCALE
		                             : class_weights[ts[t].cls].weight * WEIGHT_SCALE /
		                                   per_class[ts[t].cls];
		if (ts[t].weight == 0)
			ts[t].weight = 1;
		total_weight += ts[t].weight;
	}
	dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO);
	out = pcap_dump_open(dead, argv[1]);
	if (!out) {
		fprintf(stderr, "%s\n", pcap_geterr(dead));
		return 1;
	}
	heap = malloc(cap_heap * sizeof *heap);
	for (;;) {
		bool start_next = made_conns < want &&
		                  (n_heap == 0 || next_start <= next_ts(&heap[0], ts));

		if (start_next) {
			unsigned pick;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			pick = (unsigned)(rng % total_weight);
			uint32_t t = 0;
			while (pick >= ts[t].weight)
				pick -= ts[t++].weight;
			if (n_heap == cap_heap)
				heap = realloc(heap, (cap_heap *= 2) * sizeof *heap);
			heap[n_heap] = (struct instance){ next_start, ++k, t, 0 };
			heap_up(heap, n_heap++, ts);
			made_conns += ts[t].connections;
			next_start += gap_ns;
			continue;
		}
		if (n_heap == 0)
			break;
		struct instance *in = &heap[0];
		const struct packet *pk = &ts[in->t].packets[in->next];
		struct pcap_pkthdr h;
		int64_t when = next_ts(in, ts);

		memcpy(buf, pk->data, pk->len);
		rewrite(buf, pk->len, in->k);
		h.ts.tv_sec = when / 1000000000;
		h.ts.tv_usec = (when % 1000000000) / 1000;
		h.caplen = h.len = pk->len;
		pcap_dump((u_char *)out, &h, buf);
		packets++;
		bytes += pk->len + 16;
		if (++in->next == ts[in->t].n)
			heap[0] = heap[--n_heap];
		heap_down(heap, n_heap, 0, ts);
	}
	pcap_dump_close(out);
	printf("%llu connections, %llu packets, %llu bytes, from %zu templates\n", made_conns, packets,
	       bytes + 24, nt);
	return 0;
}
