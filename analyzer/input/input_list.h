/* input_list.h - the capture files a command line names.
 *
 * An argument is a capture file, '-' (standard input), or a directory: every capture inside it
 * (a rotated tcpdump -C/-G set), in name order; the merge (capture.h) puts their frames in
 * timestamp order. In a directory, hidden files, subdirectories and files whose first bytes are
 * neither a pcap, pcapng nor compressed header are left out, and said so once.
 */
#ifndef TM_INPUT_LIST_H
#define TM_INPUT_LIST_H

#include <stdio.h>

struct input_list {
	char **paths;
	unsigned n, cap;
};

/* Adds `arg`. Returns 0, or -1 after one line on `err` when it is a directory that cannot be
 * read or holds no capture, or memory ran out. */
int input_list_add(struct input_list *l, const char *arg, FILE *err);
void input_list_free(struct input_list *l);

#endif
