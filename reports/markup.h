/* markup.h - private to reports/: the small markup interface behind which the readable reports
 * (text, Markdown, HTML) share one skeleton (outline.h).
 *
 * The skeleton says what a report holds and in which order (headings, paragraphs, lists, tables
 * with their rows and cells, notes); a markup says how its medium writes each of those, and
 * escapes every untrusted string with its one escaper. Everything is appended to `b`; an
 * allocation failure is sticky there (rbuf.h).
 *
 * Three markups implement it, each next to its writer: the terminal's (text_writer.c: aligned
 * lines, ANSI colour), Markdown's (markdown_writer.c: GitHub-flavoured) and HTML's
 * (html_writer.c).
 */
#ifndef TM_REPORTS_MARKUP_H
#define TM_REPORTS_MARKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow_record.h"
#include "rbuf.h"

enum markup_kind { MARKUP_TEXT, MARKUP_MARKDOWN, MARKUP_HTML };

/* Inline styles; a medium without one writes nothing for it. */
enum markup_style {
	STYLE_STRONG, /* text: bold; Markdown: **...** */
	STYLE_DIM,    /* text: dim (something to read past) */
	STYLE_ALERT,  /* text: red (a count of resets, an error) */
	STYLE_WARN,   /* text: yellow */
	STYLE_CODE,   /* Markdown: a code span (addresses, names we print as they are) */
};

/* Blocks. Those with a label write it themselves (`label` is our own text, never escaped). */
enum markup_block {
	BLOCK_SECTION, /* a part of the report; label: its anchor (HTML id) */
	BLOCK_HEADING, /* a section's title, written between on and off */
	BLOCK_SUBHEAD, /* label: a heading inside a story ("What happened") */
	BLOCK_INTRO,   /* a paragraph under a heading */
	BLOCK_NOTE,    /* a line under a table ("and 3 more") */
	BLOCK_ASIDE,   /* a caveat under a table, in parentheses where the medium has no colour */
	BLOCK_BYLINE,  /* the line of facts under a story's heading */
	BLOCK_FIELDS,  /* a list of labelled fields */
	BLOCK_FIELD,   /* label: one field's name */
	BLOCK_BREAK,   /* a line break inside a field (`on` only) */
	BLOCK_PARA,    /* a paragraph of prose (a story's sentences) */
	BLOCK_REMARK,  /* label: a labelled remark ("Classifier") */
	BLOCK_MINOR,   /* label: a heading inside a section ("Diagnoses") */
	BLOCK_ITEM,    /* a list item */
	BLOCK_SUBITEM, /* an item under an item, or under a table row */
	BLOCK_RULE,    /* a dividing line before an appendix (`on` only) */
	BLOCK_GROUP,   /* figures side by side (HTML's chart and table) */
	BLOCK_LINE,    /* one plain line */
	BLOCK_COUNT
};

/* A table column. Text writes rows as aligned lines: each cell after `sep`, padded to `width`
 * visible columns (left or right aligned); a COL_FIXED column pads to `width` but never widens.
 * Markdown and HTML write the header row from `head` and the alignment. */
enum {
	COL_RIGHT = 1u << 0, /* numbers */
	COL_DOC = 1u << 1,   /* only in Markdown and HTML */
	COL_TEXT = 1u << 2,  /* only in text */
	COL_MONO = 1u << 3,  /* HTML: monospace cell */
	COL_SORT = 1u << 4,  /* HTML: numeric cells carry their value for sorting (data-v) */
	COL_FIXED = 1u << 5, /* text: `width` is exact, longer cells overflow */
};

struct column {
	const char *head;
	unsigned flags;
	const char *sep; /* text: written before the cell */
	size_t width;    /* text: visible columns (0: no padding) */
};

struct table {
	const char *name;         /* HTML: the table's class, or NULL */
	const struct column *cols;
	unsigned n_cols;
	bool text_head;           /* text: write the header row too */
};

enum markup_row { ROW_PLAIN, ROW_TOTAL };

struct markup;

/* A medium. Operations marked optional may be NULL: the default is said with each. */
struct markup_ops {
	enum markup_kind kind;
	const char *arrow;     /* "->" or "→": between two sides */
	const char *code_mark; /* around names printed as they are ("`" in Markdown) */
	/* The medium's one escaper for untrusted text. */
	void (*escape)(struct rbuf *b, const char *s, size_t n);
	/* Optional: untrusted prose inside a block, wrapped where the medium wraps. Default: escape. */
	void (*prose)(struct markup *m, const char *s, size_t n);
	/* Optional: inline styles. Default: none. */
	void (*style)(struct markup *m, enum markup_style st, bool on);
	/* Optional: blocks. Default: the documents' marks (markup.c), by `kind`. */
	void (*block)(struct markup *m, enum markup_block k, const char *label, bool on);
	void (*table)(struct markup *m, const struct table *t, bool on);
	void (*row)(struct markup *m, enum markup_row k, bool on);
	/* A cell of the current table, only ever for a column the medium shows. */
	void (*cell)(struct markup *m, const struct column *c, bool on);
	/* A close class's name, as the medium marks classes (colour, code span, badge). */
	void (*class_name)(struct markup *m, enum close_class c);
	/* A flow's id where it is listed ("#12", "12", a link to its story). */
	void (*flow_id)(struct markup *m, uint64_t id);
	/* Optional: a count in running text or a table. Default: grouped ("1,448"). */
	void (*count)(struct markup *m, uint64_t v);
	/* A story's heading and frame (before its first part, and after its last). */
	void (*story)(struct markup *m, const struct flow_record *r, bool on);
	/* story_verdict() text (our own), marked with the class's colour where there is one. */
	void (*verdict)(struct markup *m, enum close_class c, const char *s, size_t n);
	/* The ladder diagram of a story. */
	void (*ladder)(struct markup *m, const struct flow_record *r);
	/* Optional: a chart of the flows per class, where the medium draws one. Default: none. */
	void (*chart)(struct markup *m, const uint64_t by_class[CLOSE_CLASS_COUNT], uint64_t all);
};

struct markup {
	const struct markup_ops *ops;
	struct rbuf *b;        /* where the markup writes */
	struct rbuf *scratch;  /* the skeleton's: a story's texts */
	/* Kept by m_table, m_row and m_cell: the table being written, the cells of the current
	 * row the medium shows, the number of a cell opened by m_cell_number. */
	const struct table *table;
	unsigned cells;
	uint64_t value;
	struct rbuf *hidden_from; /* while in a cell the medium does not show: the real `b` */
	struct rbuf hidden;       /* what such cells write, thrown away */
};

/* Our own text, as it is. */
#define M_LIT(m, lit) RBUF_LIT((m)->b, lit)

static inline void m_puts(struct markup *m, const char *s)
{
	rbuf_puts(m->b, s);
}

static inline void m_escape(struct markup *m, const char *s, size_t n)
{
	m->ops->escape(m->b, s, n);
}

/* NULL: "(none)". */
void m_escape_str(struct markup *m, const char *s);
void m_prose(struct markup *m, const char *s, size_t n);
void m_style(struct markup *m, enum markup_style st, bool on);
void m_block(struct markup *m, enum markup_block k, const char *label, bool on);
void m_count(struct markup *m, uint64_t v);

/* "198.51.100.1:40001 -> 198.51.100.2:8080", each endpoint marked as code. */
void m_endpoints(struct markup *m, const struct flow_endpoint *client,
                 const struct flow_endpoint *server);

/* Whether the medium shows a column. */
bool markup_shows(const struct markup *m, const struct column *c);

/* Tables: begin and end; rows; cells by column index. A cell of a column the medium does not
 * show can still be written: its text is thrown away. */
void m_table(struct markup *m, const struct table *t, bool on);
void m_row(struct markup *m, enum markup_row k, bool on);
void m_cell(struct markup *m, unsigned col, bool on);
/* A whole cell holding a number, grouped ("1,448"). */
void m_cell_number(struct markup *m, unsigned col, uint64_t v);

/* Releases what a markup kept (the hidden cells' buffer). */
void markup_free(struct markup *m);

#endif
