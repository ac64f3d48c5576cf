/* fuzz_dissect.c - libFuzzer target: one frame through dissect_frame().
 *
 * Input: one byte that picks the link type (its value modulo the table below; the last entry
 * is a link type the dissector does not read), then the frame. The frame is handed over with its
 * exact length, so any read past it is a sanitizer report. No setup, no global state.
 *
 * Checked for every input: the result is a known one, and a TCP segment's fields are within what
 * the frame can hold (payload captured <= payload declared and <= frame length, options at most
 * 40 bytes, at most 4 SACK blocks, both addresses of one family); the outer layers recorded
 * are at most ENCAP_MAX_LAYERS, of known kinds, and each formats within ENCAP_TEXT_MAX; a segment
 * outside any tunnel has no tunnel key. An Ethernet frame of EtherType IPv4 gives what its IP
 * packet gives as raw IPv4 (dissect.c reads plain IPv4/TCP in Ethernet on a straight-line path
 * of its own, raw IPv4 always through the walk): the same result and the same segment.
 *
 * tests/fuzz/make-seeds.py writes seeds with the same table: keep the two in step.
 */
#include <stdbool.h>
#include <string.h>

#include <pcap/dlt.h>

#include "dissect.h"
#include "fuzz.h"

static const int link_types[] = {
	DLT_EN10MB,    /* 0 */
	DLT_LINUX_SLL, /* 1 */
	276,           /* 2: DLT_LINUX_SLL2 */
	DLT_RAW,       /* 3 */
	101,           /* 4: LINKTYPE_RAW as stored in files */
	228,           /* 5: DLT_IPV4 */
	229,           /* 6: DLT_IPV6 */
	DLT_NULL,      /* 7 */
	DLT_LOOP,      /* 8 */
	147,           /* 9: DLT_USER0, not supported */
	DLT_NFLOG,     /* 10 */
};
#define N_LINK_TYPES (sizeof link_types / sizeof link_types[0])

/* Every field of the two segments is the same. */
static bool same_segment(const struct tcp_segment *a, const struct tcp_segment *b)
{
	return a->src.family == b->src.family &&
	       memcmp(a->src.bytes, b->src.bytes, sizeof a->src.bytes) == 0 &&
	       a->dst.family == b->dst.family &&
	       memcmp(a->dst.bytes, b->dst.bytes, sizeof a->dst.bytes) == 0 &&
	       a->sport == b->sport && a->dport == b->dport && a->seq == b->seq && a->ack == b->ack &&
	       a->flags == b->flags && a->window == b->window && a->payload_len == b->payload_len &&
	       a->payload_captured == b->payload_captured && a->header_len == b->header_len &&
	       a->truncated == b->truncated && a->ttl == b->ttl && a->ip_id == b->ip_id &&
	       a->options == b->options && a->options_len == b->options_len &&
	       a->tunnel == b->tunnel && a->tunnel_id == b->tunnel_id &&
	       a->option_order == b->option_order && a->mss == b->mss && a->wscale == b->wscale &&
	       a->sack_blocks == b->sack_blocks && a->ts_val == b->ts_val && a->ts_ecr == b->ts_ecr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcp_segment seg;
	struct encap_stack layers;
	enum dissect_result r;
	uint8_t *frame;
	uint32_t caplen;
	int dlt;

	if (size < 1)
		return 0;
	dlt = link_types[data[0] % N_LINK_TYPES];
	caplen = (uint32_t)(size - 1);
	/* A copy of exactly caplen bytes (none: NULL), so the sanitizer sees any overread. */
	frame = caplen ? malloc(caplen) : NULL;
	if (caplen && !frame)
		return 0;
	if (caplen)
		memcpy(frame, data + 1, caplen);

	r = dissect_frame_encap(dlt, frame, caplen, &seg, &layers);
	FUZZ_CHECK(layers.n <= ENCAP_MAX_LAYERS);
	for (unsigned i = 0; i < layers.n; i++) {
		char text[ENCAP_TEXT_MAX];
		int k = encap_layer_format(&layers.layer[i], text, sizeof text);

		FUZZ_CHECK(layers.layer[i].kind > ENCAP_NONE && layers.layer[i].kind < ENCAP_KIND_COUNT);
		FUZZ_CHECK(k > 0 && k < ENCAP_TEXT_MAX);
	}
	FUZZ_CHECK((unsigned)r < DISSECT_RESULT_COUNT);
	FUZZ_CHECK(dissect_result_name(r) != NULL);
	FUZZ_CHECK((r == DISSECT_UNSUPPORTED_LINK) == !dissect_link_supported(dlt));
	FUZZ_CHECK(dissect_link_supported(dlt) == (dissect_link_name(dlt) != NULL));
	if (r == DISSECT_TCP) {
		FUZZ_CHECK(seg.src.family == 4 || seg.src.family == 6);
		FUZZ_CHECK(seg.dst.family == seg.src.family);
		FUZZ_CHECK(seg.payload_captured <= seg.payload_len);
		FUZZ_CHECK(seg.payload_captured <= caplen);
		FUZZ_CHECK(seg.options_len <= 40);
		FUZZ_CHECK(seg.sack_blocks <= 4);
		FUZZ_CHECK(seg.truncated || seg.payload_captured == seg.payload_len);
		FUZZ_CHECK(seg.tunnel < ENCAP_KIND_COUNT);
		FUZZ_CHECK(layers.n > 0 || (seg.tunnel == 0 && seg.tunnel_id == 0));
		if (seg.src.family == 4) {
			static const uint8_t zero[12];

			FUZZ_CHECK(memcmp(seg.src.bytes + 4, zero, sizeof zero) == 0);
			FUZZ_CHECK(memcmp(seg.dst.bytes + 4, zero, sizeof zero) == 0);
		}
	}
	if (dlt == DLT_EN10MB && caplen >= 14 && frame[12] == 0x08 && frame[13] == 0x00) {
		struct tcp_segment raw;
		enum dissect_result rr = dissect_frame(228 /* DLT_IPV4 */, frame + 14, caplen - 14, &raw);

		FUZZ_CHECK(rr == r);
		if (r == DISSECT_TCP)
			FUZZ_CHECK(same_segment(&seg, &raw));
	}
	free(frame);
	return 0;
}
