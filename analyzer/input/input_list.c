/* input_list.c - command-line arguments to capture files (input_list.h). */
#include "input_list.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "instream.h"

static int push(struct input_list *l, char *path)
{
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 16;
		char **p = realloc(l->paths, cap * sizeof *p);

		if (!p)
			return -1;
		l->paths = p;
		l->cap = cap;
	}
	l->paths[l->n++] = path;
	return 0;
}

/* Whether the file starts as a capture does (pcap in either byte order and precision, pcapng's
 * section header) or as compressed data. An empty file is not; one that cannot be opened is
 * kept, so that opening it says what is wrong (permissions). */
static int looks_like_capture(const char *path)
{
	uint8_t b[COMPRESSION_MAGIC_MAX];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return 1;
	n = read(fd, b, sizeof b);
	close(fd);
	if (n < 4)
		return 0;
	uint32_t m = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];

	if (m == 0xa1b2c3d4 || m == 0xd4c3b2a1 || m == 0xa1b23c4d || m == 0x4d3cb2a1 ||
	    m == 0x0a0d0d0a)
		return 1;
	return compression_detect(b, (size_t)n) != COMPRESSION_NONE;
}

static int add_directory(struct input_list *l, const char *dir, FILE *err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	unsigned found = 0, left_out = 0;
	const char *example = NULL;
	int rc = 0;

	if (n < 0) {
		fprintf(err, "tcpmortem: %s: cannot read directory: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(dir) + 1 + strlen(name) + 1;
		char *path;
		struct stat st;

		if (name[0] == '.' || rc != 0)
			continue;
		path = malloc(len);
		if (!path) {
			rc = -1;
			fprintf(err, "tcpmortem: out of memory\n");
			continue;
		}
		snprintf(path, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !looks_like_capture(path)) {
			if (!example)
				example = name;
			left_out++;
			free(path);
			continue;
		}
		if (push(l, path) != 0) {
			free(path);
			rc = -1;
			fprintf(err, "tcpmortem: out of memory\n");
			continue;
		}
		found++;
	}
	if (rc == 0 && left_out)
		fprintf(err, "tcpmortem: %s: %u %s not a capture, left out (%s%s)\n", dir, left_out,
		        left_out == 1 ? "entry is" : "entries are", example,
		        left_out > 1 ? ", ..." : "");
	if (rc == 0 && found == 0) {
		fprintf(err, "tcpmortem: %s: no capture file in this directory\n", dir);
		rc = -1;
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int input_list_add(struct input_list *l, const char *arg, FILE *err)
{
	struct stat st;
	char *copy;

	if (strcmp(arg, "-") != 0 && stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
		return add_directory(l, arg, err);
	/* Anything else is opened as a capture, which says what is wrong with it. */
	copy = strdup(arg);
	if (!copy || push(l, copy) != 0) {
		free(copy);
		fprintf(err, "tcpmortem: out of memory\n");
		return -1;
	}
	return 0;
}

void input_list_free(struct input_list *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
	l->paths = NULL;
	l->n = l->cap = 0;
}
