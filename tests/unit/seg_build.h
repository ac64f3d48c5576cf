/* seg_build.h - the one place the unit tests build a TCP segment of a two-endpoint conversation:
 * addresses and ports follow the direction, the rest (TTL, window, options) is each runner's. */
#ifndef TM_TESTS_SEG_BUILD_H
#define TM_TESTS_SEG_BUILD_H

#include <string.h>

#include "flow_record.h"
#include "segment.h"

/* A zeroed segment from side d (FROM_CLIENT or FROM_SERVER) carrying `len` captured bytes. */
static inline struct tcp_segment seg_between(int d, struct ip_addr client, struct ip_addr server,
                                             uint16_t client_port, uint16_t server_port,
                                             uint8_t flags, uint32_t seq, uint32_t ack,
                                             uint32_t len)
{
	struct tcp_segment seg;

	memset(&seg, 0, sizeof seg);
	seg.src = d == FROM_CLIENT ? client : server;
	seg.dst = d == FROM_CLIENT ? server : client;
	seg.sport = d == FROM_CLIENT ? client_port : server_port;
	seg.dport = d == FROM_CLIENT ? server_port : client_port;
	seg.flags = flags;
	seg.seq = seq;
	seg.ack = ack;
	seg.payload_len = len;
	seg.payload_captured = len;
	return seg;
}

/* 198.51.100.host (RFC 5737 TEST-NET-2), the unit tests' usual endpoints. */
static inline struct ip_addr test_net2(uint8_t host)
{
	struct ip_addr a = { .family = 4, .bytes = { 198, 51, 100, host } };

	return a;
}

#endif
