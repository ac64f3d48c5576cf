/* svg_writer.c - `-f svg --flow ID`: the ladder diagram of the selected connection as one
 * standalone SVG document (SVG 1.1, no external resources, no script).
 *
 * Each selected connection that carries segments becomes one diagram with its heading and story
 * (ladder_svg); several (a 4-tuple reused, or several --flow) are stacked in one outer <svg>, at
 * most DIAGRAMS_MAX. Written at the end, since the outer height is known only then. With no
 * selected connection the document says so (the program also exits with an error).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ladder.h"
#include "rbuf.h"
#include "rtext.h"
#include "writer_impl.h"

#define DIAGRAMS_MAX 20
#define GAP 24

struct svg_writer {
	struct writer base;
	struct rbuf body;  /* the diagrams, stacked */
	int height;
	unsigned n;
	uint64_t skipped;  /* selected beyond DIAGRAMS_MAX */
};

static int svg_flow(struct writer *w, const struct flow_record *f)
{
	struct svg_writer *sw = (struct svg_writer *)w;

	if (!f->segments || !f->segments->selected)
		return 0;
	if (sw->n == DIAGRAMS_MAX) {
		sw->skipped++;
		return 0;
	}
	if (sw->n)
		sw->height += GAP;
	sw->height += ladder_svg(&sw->body, f, true, sw->height);
	sw->n++;
	if (sw->body.failed) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static int svg_end(struct writer *w, const struct run_summary *s)
{
	struct svg_writer *sw = (struct svg_writer *)w;
	int height = sw->n ? sw->height : 80;
	int rc;

	(void)s;
	if (sw->skipped)
		height += 30;
	rc = fprintf(w->out,
	             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	             "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
	             "height=\"%d\" viewBox=\"0 0 %d %d\">\n"
	             "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
	             LADDER_SVG_WIDTH, height, LADDER_SVG_WIDTH, height);
	if (rc < 0)
		return -1;
	if (sw->n == 0)
		fputs("<text x=\"16\" y=\"44\" font-family=\"sans-serif\" font-size=\"16\">No connection "
		      "matched --flow: nothing to draw.</text>\n",
		      w->out);
	if (sw->body.len)
		fwrite(sw->body.data, 1, sw->body.len, w->out);
	if (sw->skipped)
		fprintf(w->out,
		        "<text x=\"16\" y=\"%d\" font-family=\"sans-serif\" font-size=\"14\">and %llu more "
		        "selected connections, not drawn</text>\n",
		        sw->height + 20, (unsigned long long)sw->skipped);
	fputs("</svg>\n", w->out);
	if (fflush(w->out) != 0 || ferror(w->out))
		return -1;
	return 0;
}

static void svg_release(struct writer *w)
{
	rbuf_free(&((struct svg_writer *)w)->body);
}

const struct writer_ops report_svg_ops = { .size = sizeof(struct svg_writer), .flow = svg_flow,
	.end = svg_end, .release = svg_release };
