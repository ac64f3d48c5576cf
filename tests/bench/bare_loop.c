/* bare_loop.c - the benchmark's baseline: read every packet with pcap_next_ex, sum the lengths,
 * nothing else. What "as fast as reading the file" means. Several files are read one after the
 * other (a rotated set). */
#include <pcap/pcap.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	unsigned long long packets = 0, bytes = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		pcap_t *p = pcap_open_offline(argv[i], err);

		if (!p) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		while (pcap_next_ex(p, &h, &data) == 1) {
			packets++;
			bytes += h->caplen;
		}
		pcap_close(p);
	}
	printf("%llu packets %llu bytes\n", packets, bytes);
	return 0;
}
