/* rtext.c - escaping and human formatting for the readable reports (rtext.h). */
#include "rtext.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char hex[] = "0123456789abcdef";
#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* put(b, s, strlen(s)), or "(none)" for NULL: the _str forms of the escapers. */
static void put_or_none(struct rbuf *b, const char *s,
                        void (*put)(struct rbuf *, const char *, size_t))
{
	if (s == NULL)
		RBUF_LIT(b, "(none)");
	else
		put(b, s, strlen(s));
}

void put_visible(struct rbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = u[i];
		size_t len = 0, skip = 1;

		if (c >= 0x20 && c < 0x7F) {
			rbuf_putc(b, (char)c);
			i++;
			continue;
		}
		if (c == '\n' || c == '\r' || c == '\t') {
			rbuf_putc(b, '\\');
			rbuf_putc(b, (char)(c == '\n' ? 'n' : c == '\r' ? 'r' : 't'));
			i++;
			continue;
		}
		if (c >= 0x80)
			len = utf8_scan(u + i, n - i, &skip);
		if (len != 0 && !(c == 0xC2 && u[i + 1] < 0xA0)) { /* C2 80-9F: C1 controls */
			rbuf_put(b, u + i, len);
			i += len;
			continue;
		}
		if (len != 0)
			skip = len;
		for (size_t k = 0; k < skip; k++) {
			char esc[4] = { '\\', 'x', hex[u[i + k] >> 4], hex[u[i + k] & 0xF] };

			rbuf_put(b, esc, sizeof esc);
		}
		i += skip;
	}
}

void put_visible_str(struct rbuf *b, const char *s)
{
	put_or_none(b, s, put_visible);
}

/* Calls emit(b, s, i, n) for each ASCII byte s[i] (with the text around it, for escapes that
 * depend on what follows) and copies well-formed UTF-8 sequences (other than the C1 controls) as
 * they are; anything else becomes U+FFFD. */
static void put_filtered(struct rbuf *b, const char *s, size_t n,
                         void (*emit)(struct rbuf *, const char *, size_t, size_t))
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t len, skip = 1;

		if (u[i] < 0x80) {
			emit(b, s, i, n);
			i++;
			continue;
		}
		len = utf8_scan(u + i, n - i, &skip);
		if (len != 0 && !(u[i] == 0xC2 && u[i + 1] < 0xA0)) {
			rbuf_put(b, u + i, len);
			i += len;
			continue;
		}
		RBUF_LIT(b, REPLACEMENT);
		i += len != 0 ? len : skip;
	}
}

/* GitHub-flavoured Markdown gives these a meaning inline: emphasis * _ ~, code `, links [ ] (a
 * '(' or '!' is harmless once no '[' can open a link), HTML < >, entities &, table cells |, issue
 * references #, math $, mentions @, escapes \. Each may be backslash-escaped (CommonMark §2.4).
 * A ':' is escaped before "//" so no URL autolinks. Line-start syntax (lists, headings) needs
 * nothing: this text never starts a line. */
static void md_char(struct rbuf *b, const char *s, size_t i, size_t n)
{
	static const char special[] = "\\`*_[]<>#|~&$@";
	char c = s[i];

	if (c == '\n' || c == '\r' || c == '\t') {
		rbuf_putc(b, ' ');
	} else if ((unsigned char)c < 0x20 || c == 0x7F) {
		RBUF_LIT(b, REPLACEMENT);
	} else {
		if (strchr(special, c) != NULL || (c == ':' && i + 2 < n && s[i + 1] == '/' &&
		                                   s[i + 2] == '/'))
			rbuf_putc(b, '\\');
		rbuf_putc(b, c);
	}
}

void put_md(struct rbuf *b, const char *s, size_t n)
{
	put_filtered(b, s, n, md_char);
}

void put_md_str(struct rbuf *b, const char *s)
{
	put_or_none(b, s, put_md);
}

static void xml_char(struct rbuf *b, const char *s, size_t i, size_t n)
{
	char c = s[i];

	(void)n;
	switch (c) {
	case '&': RBUF_LIT(b, "&amp;"); return;
	case '<': RBUF_LIT(b, "&lt;"); return;
	case '>': RBUF_LIT(b, "&gt;"); return;
	case '"': RBUF_LIT(b, "&quot;"); return;
	case '\'': RBUF_LIT(b, "&#39;"); return;
	default: break;
	}
	if (((unsigned char)c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
		RBUF_LIT(b, REPLACEMENT);
	else
		rbuf_putc(b, c);
}

void put_xml(struct rbuf *b, const char *s, size_t n)
{
	put_filtered(b, s, n, xml_char);
}

void put_xml_str(struct rbuf *b, const char *s)
{
	put_or_none(b, s, put_xml);
}

size_t wrap_end(const char *text, size_t n, size_t i, size_t room)
{
	size_t chars = 0, j = i, cut = 0;

	while (j < n && chars < room) {
		if (text[j] == ' ')
			cut = j;
		j++;
		while (j < n && ((unsigned char)text[j] & 0xC0) == 0x80)
			j++;
		chars++;
	}
	return j < n && cut > i ? cut : j;
}

size_t wrap_next(const char *text, size_t n, size_t end)
{
	while (end < n && text[end] == ' ')
		end++;
	return end;
}

void put_share(struct rbuf *b, uint64_t count, uint64_t of)
{
	char t[16];

	if (of == 0)
		snprintf(t, sizeof t, "-");
	else
		snprintf(t, sizeof t, "%.1f%%", 100.0 * (double)count / (double)of);
	rbuf_puts(b, t);
}

void put_grouped(struct rbuf *b, uint64_t v)
{
	char tmp[32];
	char *end = tmp + sizeof tmp, *p = end;
	unsigned n = 0;

	do {
		if (n != 0 && n % 3 == 0)
			*--p = ',';
		*--p = (char)('0' + v % 10u);
		v /= 10u;
		n++;
	} while (v != 0);
	rbuf_put(b, p, (size_t)(end - p));
}

static void duration(struct rbuf *b, int64_t ns, const char *micro)
{
	char text[48];

	if (ns < 0)
		ns = 0;
	if (ns < 1000000)
		snprintf(text, sizeof text, "%lld %s", (long long)(ns / 1000), micro);
	else if (ns < 10 * 1000000LL)
		snprintf(text, sizeof text, "%.1f ms", (double)ns / 1e6);
	else if (ns < 1000000000LL)
		snprintf(text, sizeof text, "%.0f ms", (double)ns / 1e6);
	else if (ns < 10 * 1000000000LL)
		snprintf(text, sizeof text, "%.2f s", (double)ns / 1e9);
	else if (ns < 60 * 1000000000LL)
		snprintf(text, sizeof text, "%.1f s", (double)ns / 1e9);
	else if (ns < 3600 * 1000000000LL)
		snprintf(text, sizeof text, "%lld min %lld s", (long long)(ns / 60000000000LL),
		         (long long)(ns / 1000000000LL % 60));
	else
		snprintf(text, sizeof text, "%lld h %lld min", (long long)(ns / 3600000000000LL),
		         (long long)(ns / 60000000000LL % 60));
	rbuf_puts(b, text);
}

void put_duration(struct rbuf *b, int64_t ns)
{
	duration(b, ns, "\xc2\xb5s");
}

void put_duration_ascii(struct rbuf *b, int64_t ns)
{
	duration(b, ns, "us");
}

void put_seconds(struct rbuf *b, int64_t ns, bool nano)
{
	char text[TS_TEXT_MAX];
	char *p = ts_digits(ns, nano, text + sizeof text);

	rbuf_put(b, p, (size_t)(text + sizeof text - p));
}

void put_utc(struct rbuf *b, int64_t ts_ns, bool nano)
{
	int64_t sec = ts_ns / 1000000000;
	int64_t frac = ts_ns % 1000000000;
	time_t t;
	struct tm tm;
	char text[64];
	char digits[9];

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL || strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		rbuf_ts(b, ts_ns, nano);
		return;
	}
	rbuf_puts(b, text);
	rbuf_putc(b, '.');
	for (int i = 8; i >= 0; i--, frac /= 10)
		digits[i] = (char)('0' + frac % 10);
	rbuf_put(b, digits, nano ? 9 : 6);
}

void put_endpoint(struct rbuf *b, const struct flow_endpoint *e)
{
	char ip[48];

	ip_addr_format(&e->addr, ip, sizeof ip);
	if (e->addr.family == 6)
		rbuf_putc(b, '[');
	rbuf_puts(b, ip);
	if (e->addr.family == 6)
		rbuf_putc(b, ']');
	rbuf_putc(b, ':');
	rbuf_u64(b, e->port);
}

unsigned digits_of(uint64_t v)
{
	unsigned n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

size_t endpoint_width(const struct flow_endpoint *e)
{
	char ip[48];

	return strlen(ip_addr_format(&e->addr, ip, sizeof ip)) + (e->addr.family == 6 ? 2 : 0) + 1 +
	       digits_of(e->port);
}
