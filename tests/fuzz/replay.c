/* replay.c - runs a fuzz target's LLVMFuzzerTestOneInput once per file, without libFuzzer.
 *
 * Usage: replay_TARGET PATH...   (a PATH that is a directory stands for every regular file in it,
 * in name order). Built with any compiler, so the test command replays the committed corpus and
 * every saved crash input on every run (plain and sanitizer builds) without clang. A crash or a
 * failed FUZZ_CHECK aborts; the name of the file being run is printed first, so the log says
 * which. Exits 0 when every file ran, 1 when a path could not be read or held no file at all.
 * (libpcap's testprogs/fuzz/onefile.c does the same for one file.)
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_MAX_BYTES ((size_t)64 * 1024 * 1024)

static int run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;

	if (!fp) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			uint8_t *nbuf;

			if (ncap > REPLAY_MAX_BYTES || !(nbuf = realloc(buf, ncap))) {
				fprintf(stderr, "replay: %s: too large\n", path);
				free(buf);
				fclose(fp);
				return -1;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);

	/* The target gets exactly len bytes, as libFuzzer gives them: a copy of that size. */
	uint8_t *exact = malloc(len ? len : 1);

	if (!exact) {
		free(buf);
		return -1;
	}
	if (len)
		memcpy(exact, buf, len);
	free(buf);
	printf("replay: %s (%zu bytes)\n", path, len);
	fflush(stdout);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of `dir` in name order; returns how many, or -1. */
static long run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	long ran = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t need = strlen(dir) + 1 + strlen(de->d_name) + 1;
		char *path;
		struct stat st;

		if (de->d_name[0] == '.')
			continue; /* ".", "..", and hidden files such as .gitkeep */
		path = malloc(need);
		if (!path)
			break;
		snprintf(path, need, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof *names);

			if (!nn) {
				free(path);
				break;
			}
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		names[n++] = path;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		if (ran >= 0 && run_file(names[i]) == 0)
			ran++;
		else
			ran = -1;
		free(names[i]);
	}
	free(names);
	return ran;
}

int main(int argc, char **argv)
{
	long total = 0;
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long ran;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		ran = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) == 0 ? 1 : -1);
		if (ran < 0)
			status = 1;
		else
			total += ran;
	}
	printf("replay: %ld inputs ran\n", total);
	if (total == 0) {
		fprintf(stderr, "replay: no input at all\n");
		status = 1;
	}
	return status;
}
