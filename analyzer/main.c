/* main.c - tcpmortem's command line: how did every TCP connection in a capture end, and why. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "classify.h"
#include "engine.h"
#include "reports/writer.h"

/* Exit statuses (DESIGN §5). */
enum {
	EXIT_OK = 0,
	EXIT_PARTIAL = 1, /* input damaged or flows evicted; the report is still written */
	EXIT_USAGE = 2,   /* usage error or unreadable input */
};

#define DEFAULT_IDLE_SECONDS 5.0

static void usage(FILE *to)
{
	fprintf(to,
	        "Usage: tcpmortem [options] FILE...\n"
	        "How did every TCP connection in a capture end, and why?\n"
	        "\n"
	        "FILE is a pcap or pcapng capture; '-' reads standard input. Several files are\n"
	        "read as one capture in timestamp order (a rotated tcpdump -C/-G set).\n"
	        "\n"
	        "Options:\n"
	        "  -f, --format FORMAT   text (default), json, ndjson or csv\n"
	        "  -o, --output FILE     write the report to FILE instead of standard output\n"
	        "      --filter EXPR     only frames matching this BPF expression (tcpdump syntax)\n"
	        "      --flow ID         report only flow ID\n"
	        "      --class LIST      report only these close classes (comma-separated)\n"
	        "      --idle SECONDS    silence before capture end that makes a connection\n"
	        "                        idle_at_end rather than open_at_end (default %.0f)\n"
	        "      --max-flows N     keep at most N connections in memory; the longest idle\n"
	        "                        are finished early and marked evicted (exit status 1)\n"
	        "      --close-wait SECONDS\n"
	        "                        a side that acknowledged its peer's FIN and has not\n"
	        "                        closed for this long is reported (stuck CLOSE-WAIT, a\n"
	        "                        leaked socket; default %.0f)\n"
	        "      --progress, --no-progress\n"
	        "                        accepted; progress display is not implemented yet\n"
	        "  -h, --help            this help\n"
	        "  -V, --version         the version\n"
	        "\n"
	        "Examples:\n"
	        "  tcpmortem capture.pcap\n"
	        "  tcpmortem -f ndjson --class rst_unread_data,rst_abort *.pcap\n"
	        "  tcpdump -w - -i eth0 'tcp port 443' | tcpmortem -f csv -o report.csv -\n"
	        "\n"
	        "Exit status: 0 success, 1 partial (damaged input or evicted flows; report\n"
	        "written), 2 usage error or unreadable input.\n",
	        DEFAULT_IDLE_SECONDS, DEFAULT_CLOSE_WAIT_NS / 1e9);
}

struct cli {
	enum report_format format;
	const char *output;
	const char *filter;
	struct engine_options engine;
};

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Seconds (a decimal number above 0, up to 1e9) as nanoseconds. */
static int parse_positive_seconds(const char *text, int64_t *out_ns)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(text, &end);
	if (errno || end == text || *end || !(s > 0) || s > 1e9)
		return -1;
	*out_ns = (int64_t)(s * 1e9);
	return 0;
}

static int parse_class_list(const char *list, uint32_t *mask)
{
	char buf[512];
	char *save = NULL;

	if (strlen(list) >= sizeof buf)
		return -1;
	memcpy(buf, list, strlen(list) + 1);
	*mask = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum close_class c = close_class_from_name(tok);

		if (c == CLOSE_CLASS_COUNT) {
			fprintf(stderr, "tcpmortem: --class: unknown class '%s'\n", tok);
			return -1;
		}
		*mask |= 1u << c;
	}
	return *mask ? 0 : -1;
}

/* Returns -1 on a usage error (already reported), else the index of the first FILE. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	enum { OPT_FILTER = 256, OPT_FLOW, OPT_CLASS, OPT_IDLE, OPT_MAX_FLOWS, OPT_PROGRESS,
	       OPT_NO_PROGRESS, OPT_CLOSE_WAIT };
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "flow", required_argument, NULL, OPT_FLOW },
		{ "class", required_argument, NULL, OPT_CLASS },
		{ "idle", required_argument, NULL, OPT_IDLE },
		{ "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		{ "close-wait", required_argument, NULL, OPT_CLOSE_WAIT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	cli->format = REPORT_TEXT;
	cli->engine.idle_ns = (int64_t)(DEFAULT_IDLE_SECONDS * 1e9);
	cli->engine.close_wait_ns = DEFAULT_CLOSE_WAIT_NS;
	cli->engine.hash_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	while ((c = getopt_long(argc, argv, "f:o:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			cli->format = report_format_from_name(optarg);
			if (cli->format == REPORT_FORMAT_COUNT) {
				fprintf(stderr, "tcpmortem: unknown format '%s' (text, json, ndjson, csv)\n",
				        optarg);
				return -1;
			}
			break;
		case 'o':
			cli->output = optarg;
			break;
		case OPT_FILTER:
			cli->filter = optarg;
			break;
		case OPT_FLOW:
			if (parse_u64(optarg, &cli->engine.only_flow) || cli->engine.only_flow == 0) {
				fprintf(stderr, "tcpmortem: --flow takes a flow id (1, 2, ...)\n");
				return -1;
			}
			break;
		case OPT_CLASS:
			if (parse_class_list(optarg, &cli->engine.class_mask)) {
				fprintf(stderr, "tcpmortem: --class takes a comma-separated list of classes\n");
				return -1;
			}
			break;
		case OPT_IDLE: {
			char *end;
			double s;

			errno = 0;
			s = strtod(optarg, &end);
			if (errno || *end || !(s >= 0) || s > 1e9) {
				fprintf(stderr, "tcpmortem: --idle takes a number of seconds\n");
				return -1;
			}
			cli->engine.idle_ns = (int64_t)(s * 1e9);
			break;
		}
		case OPT_CLOSE_WAIT:
			if (parse_positive_seconds(optarg, &cli->engine.close_wait_ns)) {
				fprintf(stderr, "tcpmortem: --close-wait takes a positive number of "
				        "seconds\n");
				return -1;
			}
			break;
		case OPT_MAX_FLOWS:
			if (parse_u64(optarg, &cli->engine.max_flows) || cli->engine.max_flows == 0) {
				fprintf(stderr, "tcpmortem: --max-flows takes a positive number\n");
				return -1;
			}
			break;
		case OPT_PROGRESS:
		case OPT_NO_PROGRESS:
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("%s %s\n", TCPMORTEM_NAME, TCPMORTEM_VERSION);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "tcpmortem: no capture file given (try --help)\n");
		return -1;
	}
	return optind;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int first = parse_args(argc, argv, &cli);
	unsigned n_files;
	struct capture_set *cs;
	struct capture_stats *stats;
	struct run_summary sum;
	struct capture_frame frame;
	struct writer *w;
	struct engine *e;
	FILE *out = stdout;
	int status = EXIT_OK;
	bool write_failed = false;

	if (first < 0)
		return EXIT_USAGE;
	n_files = (unsigned)(argc - first);
	if (cli.output && !(out = fopen(cli.output, "w"))) {
		fprintf(stderr, "tcpmortem: %s: cannot write: %s\n", cli.output, strerror(errno));
		return EXIT_USAGE;
	}
	cs = capture_set_open(argv + first, n_files, cli.filter);
	stats = calloc(n_files, sizeof *stats);
	w = writer_create(cli.format, out);
	e = w && cs ? engine_create(&cli.engine, w, n_files) : NULL;
	if (!cs || !stats || !w || !e) {
		fprintf(stderr, "tcpmortem: out of memory\n");
		return EXIT_USAGE;
	}
	for (unsigned i = 0; i < n_files; i++) {
		struct capture_file *cf = capture_set_file(cs, i);

		if (capture_file_unreadable(cf)) {
			fprintf(stderr, "tcpmortem: %s: %s\n", capture_file_path(cf), capture_file_error(cf));
			status = EXIT_USAGE;
		}
	}

	if (writer_begin(w) != 0)
		write_failed = true;
	while (!write_failed && capture_set_next(cs, &frame) == 1)
		if (engine_frame(e, &frame) != 0)
			write_failed = true;
	if (!write_failed && engine_finish(e) != 0)
		write_failed = true;

	/* Damage found while reading: the report holds everything before it. */
	for (unsigned i = 0; i < n_files; i++) {
		struct capture_file *cf = capture_set_file(cs, i);

		if (!capture_file_unreadable(cf) && capture_file_error(cf)) {
			fprintf(stderr, "tcpmortem: %s: %s\n", capture_file_path(cf), capture_file_error(cf));
			if (status == EXIT_OK)
				status = EXIT_PARTIAL;
		}
	}
	if (engine_evicted(e) && status == EXIT_OK) {
		fprintf(stderr, "tcpmortem: %" PRIu64 " flows finished early to stay within --max-flows\n",
		        engine_evicted(e));
		status = EXIT_PARTIAL;
	}
	if (engine_dropped(e)) {
		fprintf(stderr, "tcpmortem: out of memory: %" PRIu64 " connections not tracked\n",
		        engine_dropped(e));
		if (status == EXIT_OK)
			status = EXIT_PARTIAL;
	}

	engine_summary(e, cs, stats, &sum);
	if (!write_failed && writer_end(w, &sum) != 0)
		write_failed = true;
	if (fflush(out) != 0 || ferror(out))
		write_failed = true;
	if (write_failed) {
		fprintf(stderr, "tcpmortem: %s: write failed: %s\n", cli.output ? cli.output : "stdout",
		        strerror(errno));
		status = EXIT_USAGE;
	}
	writer_destroy(w);
	engine_destroy(e);
	capture_set_close(cs);
	free(stats);
	if (out != stdout)
		fclose(out);
	return status;
}
