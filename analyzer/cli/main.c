/* main.c - tcpmortem's command line: how did every TCP connection in a capture end, and why. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "classify.h"
#include "engine.h"
#include "flow_select.h"
#include "input_list.h"
#include "progress.h"
#include "readers.h"
#include "writer.h"
#include "seglog.h"
#include "summarize.h"

/* Exit statuses (DESIGN §5). */
enum {
	EXIT_OK = 0,
	EXIT_PARTIAL = 1, /* input damaged or flows evicted; the report is still written */
	EXIT_USAGE = 2,   /* usage error or unreadable input */
};

#define DEFAULT_IDLE_SECONDS 5.0
/* Connections kept in memory at once unless --max-flows says otherwise: about 1 GB at most
 * (a flow takes under 1 KiB with its tombstone and its share of the hash tables), so a crafted
 * capture (a SYN flood from forged addresses, millions of half-open connections) cannot exhaust
 * the machine. */
#define DEFAULT_MAX_FLOWS 1000000
#define DEFAULT_CLOSE_WAIT_SECONDS (DEFAULT_CLOSE_WAIT_NS / 1e9) /* classify.h */

enum color_when { COLOR_AUTO = 0, COLOR_ALWAYS, COLOR_NEVER };

static void usage(FILE *to)
{
	fprintf(to,
	        "Usage: tcpmortem [options] FILE...\n"
	        "       tcpmortem [options] -i INTERFACE [-w FILE]\n"
	        "       tcpmortem summarize [-f text|json] REPORT.ndjson...\n"
	        "How did every TCP connection in a capture end, and why?\n"
	        "\n"
	        "FILE is a pcap or pcapng capture, also compressed (gzip, zstd, lz4, xz: known by\n"
	        "its content, not its name); '-' reads standard input; a directory reads every\n"
	        "capture in it. Several files are read as one capture in timestamp order (a\n"
	        "rotated tcpdump -C/-G set).\n"
	        "\n"
	        "Options:\n"
	        "  -r FILE               read FILE (as tcpdump -r and tshark -r; repeatable)\n"
	        "  -i, --interface IFACE capture live from IFACE ('any': every interface) until\n"
	        "                        interrupted (SIGINT, SIGTERM), --duration or -c; ndjson\n"
	        "                        and csv rows appear as connections end, the report when\n"
	        "                        the run ends; SIGUSR1 prints the summary so far on\n"
	        "                        standard error. Needs CAP_NET_RAW (root)\n"
	        "  -w FILE               with -i: also save every captured packet to FILE (pcap),\n"
	        "                        so the report's frame numbers are that file's\n"
	        "  -s, --snaplen BYTES   with -i: bytes kept of each packet (default 262144)\n"
	        "  -c, --count N         stop after N frames\n"
	        "      --duration SECONDS\n"
	        "                        with -i: stop after this long\n"
	        "  -f, --format FORMAT   text (default), json, ndjson, csv, markdown, svg, html,\n"
	        "                        zeek (Zeek's conn.log, TSV) or zeek-json (its JSON lines)\n"
	        "  -o, --output FILE     write the report to FILE instead of standard output\n"
	        "      --filter EXPR     only frames matching this BPF expression (tcpdump syntax;\n"
	        "                        live: run in the kernel)\n"
	        "      --flow ID         one connection's story: its ladder diagram and what\n"
	        "      --flow 'ADDR:PORT ADDR:PORT'\n"
	        "                        happened, by id (the frame number of its first packet,\n"
	        "                        as every report shows it) or by its two endpoints (either\n"
	        "                        order; IPv6 as [ADDR]:PORT). Repeat for several. json,\n"
	        "                        ndjson, csv and svg report only these; markdown and html\n"
	        "                        add their stories to the full report\n"
	        "      --class LIST      report only these close classes (comma-separated)\n"
	        "      --idle SECONDS    silence before capture end that makes a connection\n"
	        "                        idle_at_end rather than open_at_end (default %.0f)\n"
	        "      --close-wait SECONDS\n"
	        "                        a side that acknowledged its peer's FIN and has not\n"
	        "                        closed for this long is reported: when it is still in\n"
	        "                        CLOSE-WAIT, silent, at the end, as stuck half-closed\n"
	        "                        (close.detail close_wait_stuck: a leaked socket)\n"
	        "                        (default %.0f)\n"
	        "      --max-flows N     keep at most N connections in memory (default %d); the\n"
	        "                        longest idle are finished early and marked evicted\n"
	        "                        (exit status 1)\n"
	        "      --expire SECONDS  finish a connection silent this long (default 300) and\n"
	        "                        classify it as if the capture ended there\n"
	        "      --threads N       use N busy threads, reading (pcap files: in chunks, in\n"
	        "                        parallel) and analysing the connections (split by\n"
	        "                        4-tuple); the output is the same as with one. --flow\n"
	        "                        and -f html use one thread\n"
	        "      --color[=WHEN]    colour the text report: auto (default: when standard\n"
	        "                        output is a terminal and NO_COLOR is not set), always\n"
	        "                        or never\n"
	        "      --progress, --no-progress\n"
	        "                        force the progress line on standard error on or off\n"
	        "                        (default: on a terminal, for runs longer than a second)\n"
	        "  -h, --help            this help\n"
	        "  -V, --version         the version\n"
	        "\n"
	        "Examples:\n"
	        "  tcpmortem capture.pcap                  summary: how connections ended\n"
	        "  tcpmortem --flow 7 capture.pcap         the story of connection #7\n"
	        "  tcpmortem --flow '198.51.100.1:40001 198.51.100.2:8080' capture.pcap\n"
	        "  tcpmortem -f markdown --flow 7 capture.pcap > ticket.md\n"
	        "  tcpmortem -f svg --flow 7 -o flow7.svg capture.pcap\n"
	        "  tcpmortem -f html -o report.html capture.pcap\n"
	        "  tcpmortem -f ndjson --class rst_unread_data,rst_abort *.pcap\n"
	        "  tcpdump -w - -i eth0 'tcp port 443' | tcpmortem -f csv -o report.csv -\n"
	        "  tcpmortem capture.pcapng.zst            compressed\n"
	        "  tcpmortem /var/capture/rotated/         every capture in the directory\n"
	        "  tcpmortem -i eth0 --filter 'tcp port 443' -f ndjson -w evidence.pcap\n"
	        "  tcpmortem -f zeek -o conn.log capture.pcap && zeek-cut uid history < conn.log\n"
	        "\n"
	        "Exit status: 0 success, 1 partial (damaged input, evicted flows, or a --flow that\n"
	        "matched nothing while another did; report written), 2 usage error, unreadable\n"
	        "input, or no connection matched --flow.\n"
	        "See tcpmortem(1).\n",
	        DEFAULT_IDLE_SECONDS, DEFAULT_CLOSE_WAIT_SECONDS, DEFAULT_MAX_FLOWS);
}

struct cli {
	enum report_format format;
	const char *output;
	const char *filter;
	struct engine_options engine;
	struct flow_selection selection; /* --flow */
	enum color_when color;
	enum progress_mode progress;
	int64_t close_wait_ns;
	struct input_list inputs;          /* -r FILE and FILE arguments, directories expanded */
	struct capture_live_options live;  /* -i: live.interface set */
	uint64_t count;                    /* -c: 0 for no limit */
	int64_t duration_ns;               /* --duration: 0 for none */
	bool has_duration;
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

/* An option's whole number from 1 to `max` into *n; false, after `usage` on stderr, when the
 * argument is anything else. */
static bool count_arg(const char *arg, uint64_t max, uint64_t *n, const char *usage)
{
	if (parse_u64(arg, n) || *n == 0 || *n > max) {
		fprintf(stderr, "tcpmortem: %s\n", usage);
		return false;
	}
	return true;
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

static int parse_seconds(const char *s, int64_t *ns)
{
	char *end;
	double v;

	if (!s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1e9)
		return -1;
	*ns = (int64_t)(v * 1e9);
	return 0;
}

/* Returns -1 on a usage error (already reported), else the index of the first FILE. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	enum { OPT_FILTER = 256, OPT_FLOW, OPT_CLASS, OPT_IDLE, OPT_MAX_FLOWS, OPT_PROGRESS,
	       OPT_NO_PROGRESS, OPT_THREADS, OPT_EXPIRE, OPT_COLOR, OPT_CLOSE_WAIT, OPT_DURATION };
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "flow", required_argument, NULL, OPT_FLOW },
		{ "class", required_argument, NULL, OPT_CLASS },
		{ "idle", required_argument, NULL, OPT_IDLE },
		{ "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "expire", required_argument, NULL, OPT_EXPIRE },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		{ "color", optional_argument, NULL, OPT_COLOR },
		{ "close-wait", required_argument, NULL, OPT_CLOSE_WAIT },
		{ "interface", required_argument, NULL, 'i' },
		{ "snaplen", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	cli->format = REPORT_TEXT;
	cli->engine.idle_ns = (int64_t)(DEFAULT_IDLE_SECONDS * 1e9);
	cli->close_wait_ns = DEFAULT_CLOSE_WAIT_NS;
	cli->engine.close_wait_ns = DEFAULT_CLOSE_WAIT_NS;
	cli->engine.max_flows = DEFAULT_MAX_FLOWS;
	/* The flow table's hash key: random, so a capture cannot be crafted to put its connections
	 * in one bucket. Without kernel randomness yet, the time and the process id. */
	if (getrandom(&cli->engine.hash_seed, sizeof cli->engine.hash_seed, GRND_NONBLOCK) !=
	    sizeof cli->engine.hash_seed)
		cli->engine.hash_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	while ((c = getopt_long(argc, argv, "f:o:r:i:w:s:c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (input_list_add(&cli->inputs, optarg, stderr) != 0)
				return -1;
			break;
		case 'i':
			cli->live.interface = optarg;
			break;
		case 'w':
			cli->live.save_path = optarg;
			break;
		case 's': {
			uint64_t n;

			if (!count_arg(optarg, 262144, &n, "-s takes a number of bytes from 1 to 262144"))
				return -1;
			cli->live.snaplen = (int)n;
			break;
		}
		case 'c':
			if (!count_arg(optarg, UINT64_MAX, &cli->count, "-c takes a positive number of frames"))
				return -1;
			break;
		case OPT_DURATION:
			if (parse_seconds(optarg, &cli->duration_ns) || cli->duration_ns == 0) {
				fprintf(stderr, "tcpmortem: --duration takes a positive number of seconds\n");
				return -1;
			}
			cli->has_duration = true;
			break;
		case 'f':
			cli->format = report_format_from_name(optarg);
			if (cli->format == REPORT_FORMAT_COUNT) {
				fprintf(stderr, "tcpmortem: unknown format '%s' (text, json, ndjson, csv, "
				                "markdown, svg, html, zeek, zeek-json)\n",
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
		case OPT_FLOW: {
			char err[256];

			if (flow_selection_add(&cli->selection, optarg, err, sizeof err) != 0) {
				fprintf(stderr, "tcpmortem: --flow: %s\n", err);
				return -1;
			}
			break;
		}
		case OPT_CLASS:
			if (parse_class_list(optarg, &cli->engine.class_mask)) {
				fprintf(stderr, "tcpmortem: --class takes a comma-separated list of classes\n");
				return -1;
			}
			break;
		case OPT_IDLE:
			if (parse_seconds(optarg, &cli->engine.idle_ns)) {
				fprintf(stderr, "tcpmortem: --idle takes a number of seconds\n");
				return -1;
			}
			break;
		case OPT_CLOSE_WAIT:
			if (parse_seconds(optarg, &cli->close_wait_ns)) {
				fprintf(stderr, "tcpmortem: --close-wait takes a number of seconds\n");
				return -1;
			}
			/* The classifier too (0 there means its default: any CLOSE-WAIT is 1 ns). */
			cli->engine.close_wait_ns = cli->close_wait_ns > 0 ? cli->close_wait_ns : 1;
			break;
		case OPT_MAX_FLOWS:
			if (!count_arg(optarg, UINT64_MAX, &cli->engine.max_flows,
			               "--max-flows takes a positive number"))
				return -1;
			break;
		case OPT_THREADS: {
			uint64_t n;

			if (!count_arg(optarg, 64, &n, "--threads takes a number from 1 to 64"))
				return -1;
			cli->engine.threads = (unsigned)n;
			break;
		}
		case OPT_EXPIRE: {
			uint64_t n;

			if (!count_arg(optarg, 1000000000, &n, "--expire takes a number of seconds"))
				return -1;
			cli->engine.expire_ns = (int64_t)n * 1000000000;
			break;
		}
		case OPT_PROGRESS:
			cli->progress = PROGRESS_ON;
			break;
		case OPT_NO_PROGRESS:
			cli->progress = PROGRESS_OFF;
			break;
		case OPT_COLOR:
			if (!optarg || strcmp(optarg, "always") == 0 || strcmp(optarg, "yes") == 0)
				cli->color = COLOR_ALWAYS;
			else if (strcmp(optarg, "never") == 0 || strcmp(optarg, "no") == 0)
				cli->color = COLOR_NEVER;
			else if (strcmp(optarg, "auto") == 0)
				cli->color = COLOR_AUTO;
			else {
				fprintf(stderr, "tcpmortem: --color takes auto, always or never\n");
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("%s %s\n%s\n", TCPMORTEM_NAME, TCPMORTEM_VERSION, pcap_lib_version());
			exit(EXIT_OK);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (cli->live.interface) {
		if (optind < argc || cli->inputs.n) {
			fprintf(stderr, "tcpmortem: -i captures live: give no capture file with it\n");
			return -1;
		}
		if (cli->format == REPORT_HTML) {
			/* The HTML report holds every connection's ladder: unbounded over a live run. */
			fprintf(stderr, "tcpmortem: -f html reads files only: save with -w FILE and run "
			                "tcpmortem -f html FILE\n");
			return -1;
		}
		cli->live.filter = cli->filter;
		/* One thread: the frames come as they arrive, each tracked at once. */
		cli->engine.threads = 1;
		cli->engine.paced_input = true;
		return optind;
	}
	if (cli->live.save_path || cli->live.snaplen || cli->has_duration) {
		fprintf(stderr, "tcpmortem: %s goes with -i INTERFACE (a live capture)\n",
		        cli->live.save_path ? "-w" : cli->live.snaplen ? "-s" : "--duration");
		return -1;
	}
	for (int i = optind; i < argc; i++)
		if (input_list_add(&cli->inputs, argv[i], stderr) != 0)
			return -1;
	if (cli->inputs.n == 0) {
		fprintf(stderr, "tcpmortem: no capture file given (try --help)\n");
		return -1;
	}
	if (cli->format == REPORT_SVG && cli->selection.n == 0) {
		fprintf(stderr, "tcpmortem: -f svg draws one connection's ladder diagram: say which "
		                "with --flow ID or --flow 'ADDR:PORT ADDR:PORT'\n");
		return -1;
	}
	return optind;
}

/* ANSI colour for the text report: forced, or standard output (or -o FILE) is a terminal, NO_COLOR
 * (https://no-color.org) is unset or empty, and the terminal is not "dumb". */
static bool want_color(const struct cli *cli, FILE *out)
{
	const char *no_color = getenv("NO_COLOR");
	const char *term = getenv("TERM");

	if (cli->format != REPORT_TEXT || cli->color == COLOR_NEVER)
		return false;
	if (cli->color == COLOR_ALWAYS)
		return true;
	if (no_color && *no_color)
		return false;
	if (term && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fileno(out));
}

/* The segment log behind stories and ladders (seglog.h): for the selected connections, and for
 * every connection of an HTML report. NULL when nothing needs it. */
static struct seglog *make_seglog(struct cli *cli)
{
	bool all = cli->format == REPORT_HTML;
	struct seglog_options o = {
		.all = all,
		/* markdown and html show the whole capture and add the stories */
		.report_only_selected = cli->format != REPORT_MARKDOWN && cli->format != REPORT_HTML,
		.head = SEGLOG_ALL_HEAD,
		.tail = SEGLOG_ALL_TAIL,
		.sel_head = SEGLOG_SELECTED_HEAD,
		.sel_tail = SEGLOG_SELECTED_TAIL,
		.budget = SEGLOG_DEFAULT_BUDGET,
	};

	if (!all && cli->selection.n == 0)
		return NULL;
	return seglog_create(&o, &cli->selection);
}

/* Says which --flow matched nothing. Returns the exit status this makes. */
static int report_selection(const struct flow_selection *sel)
{
	unsigned unmatched = 0;

	for (unsigned i = 0; i < sel->n; i++) {
		if (sel->entry[i].matched)
			continue;
		unmatched++;
		fprintf(stderr, "tcpmortem: --flow %s: no such connection in the capture (the ids "
		                "are in the summary: tcpmortem FILE...)\n",
		        sel->entry[i].text);
	}
	if (unmatched == 0)
		return EXIT_OK;
	return unmatched == sel->n ? EXIT_USAGE : EXIT_PARTIAL;
}

/* --- live capture: signals and the loop ------------------------------------------------- */

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t status_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_status(int sig)
{
	(void)sig;
	status_requested = 1;
}

/* SIGINT and SIGTERM end the run (the report is written), SIGUSR1 asks for the summary so far.
 * Without SA_RESTART, so that the wait for frames returns at once. */
static void catch_signals(void)
{
	struct sigaction sa = { 0 };

	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_status;
	sigaction(SIGUSR1, &sa, NULL);
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* SIGUSR1: the text summary of the run so far, on standard error; the run goes on. */
static void print_status(struct engine *e, struct capture_set *cs, struct capture_stats *stats,
                         const struct cli *cli)
{
	struct writer_options o = { .close_wait_ns = cli->close_wait_ns };
	struct writer *w = writer_create_with(REPORT_TEXT, stderr, &o);
	struct run_summary sum;

	if (!w)
		return;
	capture_set_update_stats(cs);
	engine_summary(e, cs, stats, &sum);
	fprintf(stderr, "tcpmortem: the run so far (%" PRIu64 " connections open now):\n",
	        engine_live_flows(e));
	if (writer_begin(w) == 0)
		(void)writer_end(w, &sum);
	writer_destroy(w);
	fflush(stderr);
}

/* How long the loop waits for frames at most: the clock of a quiet interface moves on this often
 * (expiry, --duration, signals arriving during the wait are seen at once anyway). */
#define LIVE_WAIT_MS 200

struct readers_view {
	struct progress *prog;
	struct engine *e;
};

static void readers_progress(void *ctx, uint64_t read, uint64_t total, uint64_t frames)
{
	struct readers_view *v = ctx;

	progress_update(v->prog, read, total, frames, engine_live_flows(v->e));
}

/* The files read by reader threads (readers.h). Returns -1 when the writer failed. */
static int run_readers(const struct cli *cli, struct readers *rd, struct engine *e,
                       struct progress *prog)
{
	struct readers_view view = { prog, e };
	struct readers_progress rp = { &view, prog ? readers_progress : NULL };
	uint64_t total, frames = 0;
	int rc = readers_run(rd, e, &rp, cli->count, &frames);

	progress_finish(prog, readers_bytes_read(rd, &total), frames);
	return rc;
}

/* Reads frames until the end (files) or a stop (live). Returns -1 when the writer failed. */
static int run(const struct cli *cli, struct capture_set *cs, struct engine *e,
               struct capture_stats *stats, struct progress *prog)
{
	bool live = capture_set_live(cs);
	int64_t deadline = live && cli->has_duration ? monotonic_ns() + cli->duration_ns : 0;
	struct capture_frame frame;
	uint64_t frames = 0, total = 0;

	for (;;) {
		int rc;

		if (live) {
			if (stop_requested || (deadline && monotonic_ns() >= deadline))
				break;
			if (status_requested) {
				status_requested = 0;
				print_status(e, cs, stats, cli);
			}
		}
		rc = capture_set_next(cs, &frame);
		if (rc == CAPTURE_END)
			break;
		if (rc == CAPTURE_AGAIN) {
			/* A quiet interface: the time moves on all the same, so flows expire. */
			engine_tick(e, wall_ns());
			if (capture_set_wait(cs, LIVE_WAIT_MS) < 0 && errno != EINTR)
				break;
			continue;
		}
		if (engine_frame(e, &frame) != 0)
			return -1;
		frames++;
		if (prog && ((frames & 255) == 0 || frames == 1)) {
			uint64_t read = capture_set_bytes_read(cs, &total);

			progress_update(prog, read, total, frames, engine_live_flows(e));
		}
		if (cli->count && frames >= cli->count)
			break;
	}
	if (live) {
		/* Connections still open end now, when the capture does. */
		engine_tick(e, wall_ns());
		capture_set_update_stats(cs);
	}
	progress_finish(prog, capture_set_bytes_read(cs, &total), frames);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	unsigned n_files;
	struct capture_set *cs;
	struct capture_stats *stats;
	struct run_summary sum;
	struct writer *w;
	struct engine *e;
	struct seglog *sl = NULL;
	struct readers *rd = NULL;
	struct progress *prog;
	struct writer_options wopt;
	FILE *out = stdout;
	int status = EXIT_OK;
	bool write_failed = false;
	bool live;

	if (argc > 1 && strcmp(argv[1], "summarize") == 0)
		return summarize_main(argc - 1, argv + 1);
	if (parse_args(argc, argv, &cli) < 0) {
		input_list_free(&cli.inputs);
		return EXIT_USAGE;
	}
	live = cli.live.interface != NULL;
	n_files = live ? 1 : cli.inputs.n;
	if (cli.output && !(out = fopen(cli.output, "w"))) {
		fprintf(stderr, "tcpmortem: %s: cannot write: %s\n", cli.output, strerror(errno));
		input_list_free(&cli.inputs);
		return EXIT_USAGE;
	}
	if (live) {
		char err[PCAP_ERRBUF_SIZE + 256];

		cs = capture_set_open_live(&cli.live, err, sizeof err);
		if (!cs) {
			fprintf(stderr, "tcpmortem: %s\n", err);
			if (out != stdout)
				fclose(out);
			return EXIT_USAGE;
		}
		/* Rows go out as connections end, each line at once, to a pipe or file too. */
		setvbuf(out, NULL, _IOLBF, 0);
		catch_signals();
	} else {
		cs = capture_set_open(cli.inputs.paths, n_files, cli.filter);
	}
	stats = calloc(n_files, sizeof *stats);
	wopt = (struct writer_options){
		.color = want_color(&cli, out),
		.stories = cli.selection.n > 0,
		.close_wait_ns = cli.close_wait_ns,
	};
	w = writer_create_with(cli.format, out, &wopt);
	sl = make_seglog(&cli);
	if (sl)
		cli.engine.hooks = seglog_hooks(sl);
	if (cs && !live) {
		uint64_t total_size;

		capture_set_bytes_read(cs, &total_size);
		cli.engine.paced_input = total_size == 0; /* a pipe or standard input among them */
		rd = readers_open(cs, &cli.engine); /* may change how many shard threads there are */
	}
	/* Only the machine formats and Zeek's own carry the Zeek fields (uid, history, conn_state):
	 * the readable ones spare the per-packet Zeek view and the per-connection uid. */
	cli.engine.skip_zeek = cli.format == REPORT_TEXT || cli.format == REPORT_MARKDOWN ||
	                       cli.format == REPORT_SVG || cli.format == REPORT_HTML;
	e = w && cs ? engine_create(&cli.engine, w, n_files) : NULL;
	if (!cs || !stats || !w || !e || ((cli.selection.n || cli.format == REPORT_HTML) && !sl)) {
		fprintf(stderr, "tcpmortem: out of memory\n");
		readers_close(rd);
		engine_destroy(e);
		writer_destroy(w);
		free(stats);
		capture_set_close(cs);
		input_list_free(&cli.inputs);
		if (out != stdout)
			fclose(out);
		return EXIT_USAGE;
	}
	for (unsigned i = 0; i < n_files; i++) {
		struct capture_file *cf = capture_set_file(cs, i);

		if (capture_file_unreadable(cf)) {
			fprintf(stderr, "tcpmortem: %s: %s\n", capture_file_path(cf), capture_file_error(cf));
			status = EXIT_USAGE;
		}
	}

	prog = progress_create(live ? PROGRESS_OFF : cli.progress, stderr);
	if (writer_begin(w) != 0 ||
	    (rd ? run_readers(&cli, rd, e, prog) : run(&cli, cs, e, stats, prog)) != 0)
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
	if (live && capture_file_kernel_dropped(capture_set_file(cs, 0))) {
		fprintf(stderr, "tcpmortem: %s: the kernel dropped %" PRIu64 " packets (the capture "
		                "could not keep up): connections may be misread\n",
		        cli.live.interface, capture_file_kernel_dropped(capture_set_file(cs, 0)));
		if (status == EXIT_OK)
			status = EXIT_PARTIAL;
	}
	if (engine_dropped(e)) {
		fprintf(stderr, "tcpmortem: out of memory: %" PRIu64 " connections not tracked\n",
		        engine_dropped(e));
		if (status == EXIT_OK)
			status = EXIT_PARTIAL;
	}

	if (cli.selection.n) {
		int sel_status = report_selection(&cli.selection);

		if (sel_status > status)
			status = sel_status;
	}
	if (sl && seglog_unlogged(sl))
		fprintf(stderr, "tcpmortem: %" PRIu64 " connections have no ladder diagram: their "
		                "segments did not fit the %u MiB kept in memory at once\n",
		        seglog_unlogged(sl), (unsigned)(SEGLOG_DEFAULT_BUDGET >> 20));

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
	readers_close(rd);
	engine_destroy(e);
	seglog_destroy(sl);
	capture_set_close(cs);
	input_list_free(&cli.inputs);
	free(stats);
	if (out != stdout)
		fclose(out);
	return status;
}
