/* rusage.c - runs a command and writes its peak memory and CPU time to a file.
 *
 * Usage: rusage OUTFILE COMMAND [ARG...]
 * Forks, execs COMMAND, waits, and writes "maxrss_kb user_s system_s status" to OUTFILE, then
 * exits with the command's status. The peak resident memory a process reports (ru_maxrss) counts
 * the memory it had before exec; started straight from a big process (the Python benchmark) it
 * would start at that process's size. Forked from this small one, it starts at this one's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage ru;
	pid_t pid;
	int status;
	FILE *out;

	if (argc < 3) {
		fprintf(stderr, "usage: %s OUTFILE COMMAND [ARG...]\n", argv[0]);
		return 125;
	}
	pid = fork();
	if (pid < 0) {
		perror("rusage: fork");
		return 125;
	}
	if (pid == 0) {
		execv(argv[2], argv + 2);
		perror("rusage: exec");
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) != pid) {
		perror("rusage: wait4");
		return 125;
	}
	out = fopen(argv[1], "w");
	if (!out) {
		perror("rusage: output");
		return 125;
	}
	fprintf(out, "%ld %ld.%06ld %ld.%06ld %d\n", ru.ru_maxrss, (long)ru.ru_utime.tv_sec,
	        (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec,
	        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	if (fclose(out) != 0)
		return 125;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
