/* progress.c - the progress line (progress.h). Writes only to its stream, only text. */
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define AUTO_DELAY_S 1.0 /* auto mode: nothing for runs shorter than this */

struct progress {
	FILE *to;
	bool tty;
	bool forced;
	bool drawn;       /* a line is on the terminal */
	double start;
	double last_draw;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct progress *progress_create(enum progress_mode mode, FILE *to)
{
	struct progress *p;
	bool tty = isatty(fileno(to));

	if (mode == PROGRESS_OFF || (mode == PROGRESS_AUTO && !tty))
		return NULL;
	p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->to = to;
	p->tty = tty;
	p->forced = mode == PROGRESS_ON;
	p->start = now_s();
	p->last_draw = -1e9;
	return p;
}

/* "280 MB", "1.5 GB", "512 kB" (decimal units, as file managers show sizes) */
static void size_text(char *buf, size_t size, uint64_t bytes)
{
	if (bytes >= 10000000000ull)
		snprintf(buf, size, "%.0f GB", (double)bytes / 1e9);
	else if (bytes >= 1000000000ull)
		snprintf(buf, size, "%.1f GB", (double)bytes / 1e9);
	else if (bytes >= 1000000)
		snprintf(buf, size, "%.0f MB", (double)bytes / 1e6);
	else
		snprintf(buf, size, "%.0f kB", (double)bytes / 1e3);
}

static void count_text(char *buf, size_t size, uint64_t v)
{
	char tmp[32];
	size_t n, o = 0;

	snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	n = strlen(tmp);
	for (size_t i = 0; i < n && o + 2 < size; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
}

void progress_format(char *buf, size_t size, uint64_t bytes, uint64_t total, double seconds,
                     double frames_per_s, uint64_t live_flows)
{
	char done[24], all[24], flows[32], rate[32], eta[32] = "";
	int n;

	size_text(done, sizeof done, bytes);
	count_text(flows, sizeof flows, live_flows);
	if (frames_per_s >= 1e6)
		snprintf(rate, sizeof rate, "%.2f M ", frames_per_s / 1e6);
	else if (frames_per_s >= 1e3)
		snprintf(rate, sizeof rate, "%.0f k ", frames_per_s / 1e3);
	else
		snprintf(rate, sizeof rate, "%.0f ", frames_per_s);
	if (total) {
		double pct = 100.0 * (double)bytes / (double)total;

		size_text(all, sizeof all, total);
		if (bytes > 0 && seconds > 0 && bytes < total) {
			double left = seconds * (double)(total - bytes) / (double)bytes;
			long s = (long)(left + 0.5);

			if (s >= 3600)
				snprintf(eta, sizeof eta, ", ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
			else
				snprintf(eta, sizeof eta, ", ETA %ld:%02ld", s / 60, s % 60);
		}
		n = snprintf(buf, size, "tcpmortem: %.0f%% of %s, %spackets/s, %s live flow%s%s",
		             pct > 100 ? 100.0 : pct, all, rate, flows, live_flows == 1 ? "" : "s", eta);
	} else {
		n = snprintf(buf, size, "tcpmortem: %s read, %spackets/s, %s live flow%s", done, rate,
		             flows, live_flows == 1 ? "" : "s");
	}
	(void)n;
}

static unsigned term_width(FILE *to)
{
	struct winsize ws;

	if (ioctl(fileno(to), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		return ws.ws_col;
	return 80;
}

void progress_update(struct progress *p, uint64_t bytes, uint64_t total, uint64_t frames,
                     uint64_t live_flows)
{
	char line[256];
	double t, elapsed;

	if (!p)
		return;
	t = now_s();
	elapsed = t - p->start;
	if (!p->forced && elapsed < AUTO_DELAY_S)
		return;
	if (t - p->last_draw < (p->tty ? 1.0 / PROGRESS_HZ : 1.0))
		return;
	p->last_draw = t;
	progress_format(line, sizeof line, bytes, total, elapsed,
	                elapsed > 0 ? (double)frames / elapsed : 0, live_flows);
	if (p->tty) {
		unsigned w = term_width(p->to);

		if (strlen(line) >= w)
			line[w - 1] = '\0'; /* never wrap: \r must return to this line */
		fprintf(p->to, "\r%s\x1b[K", line);
		p->drawn = true;
	} else {
		fprintf(p->to, "%s\n", line);
	}
	fflush(p->to);
}

void progress_finish(struct progress *p, uint64_t bytes, uint64_t frames)
{
	if (!p)
		return;
	if (p->tty && p->drawn) {
		fputs("\r\x1b[K", p->to);
	} else if (!p->tty) {
		char size[24];
		double elapsed = now_s() - p->start;

		size_text(size, sizeof size, bytes);
		fprintf(p->to, "tcpmortem: done: %s, %llu packets in %.1f s\n", size,
		        (unsigned long long)frames, elapsed);
	}
	fflush(p->to);
	free(p);
}
