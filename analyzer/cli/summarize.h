/* summarize.h - `tcpmortem summarize`: merge NDJSON reports into one summary. */
#ifndef TM_SUMMARIZE_H
#define TM_SUMMARIZE_H

/* argv[0] is "summarize". Returns the exit status: 0, 1 (a line was not a flow record), 2
 * (usage, unreadable report, write failure). */
int summarize_main(int argc, char **argv);

#endif
