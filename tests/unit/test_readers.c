/* test_readers.c - CUnit suite: the reader threads (analyzer/engine/readers.h).
 *
 * The report of a run through readers_run() is the report of the single-threaded loop
 * (capture_set_next + engine_frame), byte for byte, on real sample captures: one file split into
 * chunks of 64 bytes and of 4 KiB with 2, 3 and 8 threads; two files merged by time; a BPF
 * filter; a frame count that stops the run. readers_open() declines what it does not serve: one
 * thread, engines with hooks, a set without a file it can read in place (pcapng).
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "cunit_main.h"
#include "engine.h"
#include "readers.h"
#include "writer.h"

#ifndef TM_SOURCE_DIR
#error "TM_SOURCE_DIR must name the source tree (tests/CMakeLists.txt)"
#endif

#define BIG TM_SOURCE_DIR "/samples/captures/realsw_haproxy_front.pcap"
#define OTHER TM_SOURCE_DIR "/samples/captures/realsw_haproxy_back.pcap"
#define PCAPNG TM_SOURCE_DIR "/samples/captures/peer_vanished_pcapng.pcapng"

/* The NDJSON report of `paths` with `threads` threads (chunks of `chunk` bytes when not NULL),
 * through the reader threads when readers_open() takes the set, else the single-threaded loop.
 * *used: whether the reader threads ran. NULL on a failure to set up. */
static char big[] = BIG, other[] = OTHER, pcapng[] = PCAPNG;

static char *report(char *const *paths, unsigned n, unsigned threads, const char *chunk,
                    const char *filter, uint64_t count, bool *used)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	struct capture_set *cs = capture_set_open(paths, n, filter);
	struct engine_options opt = { .threads = threads, .hash_seed = 42 };
	struct writer_options wopt = { 0 };
	struct writer *w = f ? writer_create_with(REPORT_NDJSON, f, &wopt) : NULL;
	struct capture_stats stats[4];
	struct run_summary sum;
	struct readers *rd;
	struct engine *e;

	if (chunk)
		setenv("TCPMORTEM_CHUNK_SIZE", chunk, 1);
	else
		unsetenv("TCPMORTEM_CHUNK_SIZE");
	rd = cs ? readers_open(cs, &opt) : NULL;
	*used = rd != NULL;
	e = w && cs ? engine_create(&opt, w, n) : NULL;
	if (!e || writer_begin(w) != 0) {
		readers_close(rd);
		engine_destroy(e);
		writer_destroy(w);
		capture_set_close(cs);
		if (f)
			fclose(f);
		free(out);
		return NULL;
	}
	if (rd) {
		uint64_t frames;

		CU_ASSERT_EQUAL(readers_run(rd, e, NULL, count, &frames), 0);
		if (count)
			CU_ASSERT_EQUAL(frames, count);
	} else {
		struct capture_frame fr;
		uint64_t frames = 0;

		while (capture_set_next(cs, &fr) == CAPTURE_FRAME) {
			CU_ASSERT_EQUAL(engine_frame(e, &fr), 0);
			if (count && ++frames >= count)
				break;
		}
	}
	CU_ASSERT_EQUAL(engine_finish(e), 0);
	engine_summary(e, cs, stats, &sum);
	CU_ASSERT_EQUAL(writer_end(w, &sum), 0);
	readers_close(rd);
	engine_destroy(e);
	writer_destroy(w);
	capture_set_close(cs);
	fclose(f);
	unsetenv("TCPMORTEM_CHUNK_SIZE");
	return out;
}

static void same_as_one(char *const *paths, unsigned n, const char *filter, uint64_t count)
{
	static const unsigned threads[] = { 2, 3, 8 };
	static const char *const chunks[] = { "64", "4096", NULL };
	bool used;
	char *one = report(paths, n, 1, NULL, filter, count, &used);

	if (!one) {
		CU_FAIL("the single-threaded run could not be set up");
		return;
	}
	CU_ASSERT_FALSE(used);
	CU_ASSERT(strlen(one) > 100);
	for (unsigned t = 0; t < sizeof threads / sizeof threads[0]; t++)
		for (unsigned c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
			char *many = report(paths, n, threads[t], chunks[c], filter, count, &used);

			if (!many) {
				CU_FAIL("the threaded run could not be set up");
				continue;
			}
			CU_ASSERT_TRUE(used);
			CU_ASSERT_STRING_EQUAL(many, one);
			free(many);
		}
	free(one);
}

static void test_one_file(void)
{
	char *paths[] = { big };

	same_as_one(paths, 1, NULL, 0);
}

static void test_two_files_merged(void)
{
	char *paths[] = { other, big };

	same_as_one(paths, 2, NULL, 0);
}

static void test_filter(void)
{
	char *paths[] = { big, other };

	same_as_one(paths, 2, "tcp[13] & 2 == 0 or tcp port 80", 0);
}

static void test_count(void)
{
	char *paths[] = { big, other };

	same_as_one(paths, 2, NULL, 500);
}

static void test_mixed_with_pcapng(void)
{
	char *paths[] = { pcapng, big };

	same_as_one(paths, 2, NULL, 0);
}

static void test_declined(void)
{
	char *ng[] = { pcapng };
	char *pcap[] = { big };
	struct engine_hooks hooks = { 0 };
	struct capture_set *cs = capture_set_open(ng, 1, NULL);
	struct engine_options opt = { .threads = 4 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(cs);
	CU_ASSERT_PTR_NULL(readers_open(cs, &opt)); /* nothing to read in place */
	CU_ASSERT_EQUAL(opt.threads, 4);
	capture_set_close(cs);

	cs = capture_set_open(pcap, 1, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cs);
	opt.threads = 1;
	CU_ASSERT_PTR_NULL(readers_open(cs, &opt));
	opt.threads = 4;
	opt.hooks = &hooks;
	CU_ASSERT_PTR_NULL(readers_open(cs, &opt));
	opt.hooks = NULL;
	struct readers *rd = readers_open(cs, &opt);

	CU_ASSERT_PTR_NOT_NULL(rd);
	/* Of 4 busy threads, one reads: the engine gets 3 shards and the calling thread. */
	CU_ASSERT_EQUAL(opt.threads, 4);
	readers_close(rd); /* never run: nothing to join */
	capture_set_close(cs);
}

static CU_TestInfo readers_tests[] = {
	{ "one file, in chunks, 2/3/8 threads", test_one_file },
	{ "two files merged by time", test_two_files_merged },
	{ "a BPF filter", test_filter },
	{ "a frame count", test_count },
	{ "pcapng merged with a file read in place", test_mixed_with_pcapng },
	{ "what readers_open declines", test_declined },
	CU_TEST_INFO_NULL,
};

CUNIT_MAIN("test_readers", { "readers", NULL, NULL, NULL, NULL, readers_tests })
