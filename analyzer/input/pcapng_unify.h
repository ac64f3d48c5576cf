/* pcapng_unify.h - a pcapng file whose interfaces differ, readable by libpcap.
 *
 * libpcap reads one link type and one snapshot length per file, and refuses a pcapng file whose
 * Interface Description Blocks differ in either ("an interface has a snapshot length / a type
 * ... different from ... the first interface"). Such files are valid (each IDB describes its own
 * interface) and common when several interfaces were captured at once. Every packet block
 * carries its own captured and original lengths, so a packet's truncation is read from those
 * whatever its interface's snapshot length: this stream hands libpcap the file with every
 * interface's snapshot length set to 0 ("no limit"). Packets of an interface whose link type is
 * not the first interface's cannot be decoded as that type: their blocks are handed on as a
 * block type libpcap skips, and counted. */
#ifndef TM_PCAPNG_UNIFY_H
#define TM_PCAPNG_UNIFY_H

#include <stdint.h>
#include <stdio.h>

struct pcapng_unify;

/* Opens `path` for reading through the rewriting stream; NULL (errno set) when it cannot.
 * *state (valid until the stream is closed) counts what was left out. */
FILE *pcapng_unify_open(const char *path, const struct pcapng_unify **state);

/* The same over an open stream, which the returned one closes (only then: NULL leaves it open). */
FILE *pcapng_unify_wrap(FILE *in, const struct pcapng_unify **state);

/* Packets not handed on: of an interface with another link type than the first one's. */
uint64_t pcapng_unify_skipped(const struct pcapng_unify *u);
/* The first of those link types (-1: none). */
int pcapng_unify_skipped_type(const struct pcapng_unify *u);

#endif
