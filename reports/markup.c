/* markup.c - what the markup interface does the same in every medium (markup.h): the defaults
 * of the optional operations, the documents' block marks, and tables (they keep their column
 * list and count the cells of a row; a cell the medium does not show is written aside and
 * dropped, so the skeleton writes every row once). */
#include "markup.h"

#include <string.h>

#include "rtext.h"

void m_escape_str(struct markup *m, const char *s)
{
	if (s == NULL)
		M_LIT(m, "(none)");
	else
		m_escape(m, s, strlen(s));
}

void m_prose(struct markup *m, const char *s, size_t n)
{
	if (m->ops->prose)
		m->ops->prose(m, s, n);
	else
		m_escape(m, s, n);
}

void m_style(struct markup *m, enum markup_style st, bool on)
{
	if (m->ops->style)
		m->ops->style(m, st, on);
}

void m_count(struct markup *m, uint64_t v)
{
	if (m->ops->count)
		m->ops->count(m, v);
	else
		put_grouped(m->b, v);
}

void m_endpoints(struct markup *m, const struct flow_endpoint *client,
                 const struct flow_endpoint *server)
{
	m_style(m, STYLE_CODE, true);
	put_endpoint(m->b, client);
	m_style(m, STYLE_CODE, false);
	M_LIT(m, " ");
	m_puts(m, m->ops->arrow);
	M_LIT(m, " ");
	m_style(m, STYLE_CODE, true);
	put_endpoint(m->b, server);
	m_style(m, STYLE_CODE, false);
}

/* How Markdown and HTML write each block: before the label, after it (NULL: the label is not
 * shown), and at the end. */
struct block_marks {
	const char *on, *after_label, *off;
};

static const struct block_marks doc_marks[BLOCK_COUNT][2] = {
	/* Markdown (GitHub-flavoured) | HTML */
	[BLOCK_SECTION] = { { "", NULL, "" }, { "<section id=\"", "\">", "</section>\n" } },
	[BLOCK_HEADING] = { { "\n### ", "", "\n\n" }, { "<h2>", "", "</h2>" } },
	[BLOCK_SUBHEAD] = { { "**", "**\n\n", "" }, { "<h4>", "</h4>\n", "" } },
	[BLOCK_INTRO] = { { "", "", "\n\n" }, { "<p class=\"muted\">", "", "</p>" } },
	[BLOCK_NOTE] = { { "\n", "", "\n" }, { "<p class=\"muted\">", "", "</p>" } },
	[BLOCK_ASIDE] = { { "\n(", "", ")\n" }, { "<p class=\"muted\">", "", "</p>" } },
	[BLOCK_BYLINE] = { { "", "", "\n" }, { "<p class=\"muted\">", "", "</p>\n" } },
	[BLOCK_FIELDS] = { { "", "", "\n\n" }, { "<dl>", "", "</dl>\n" } },
	[BLOCK_FIELD] = { { "\n- **", ":** ", "" }, { "<dt>", "</dt><dd>", "</dd>" } },
	[BLOCK_BREAK] = { { "; ", "", "" }, { "<br>", "", "" } },
	[BLOCK_PARA] = { { "", "", "\n\n" }, { "<p>", "", "</p>\n" } },
	[BLOCK_REMARK] = { { "> **", ":** ", "\n" }, { "<p class=\"muted\">", ": ", "</p>\n" } },
	[BLOCK_MINOR] = { { "\n#### ", "\n\n", "" }, { "<h3>", "</h3>\n", "" } },
	[BLOCK_ITEM] = { { "- ", "", "\n" }, { "<li>", "", "</li>\n" } },
	[BLOCK_SUBITEM] = { { "  - ", "", "\n" }, { "<li>", "", "</li>\n" } },
	[BLOCK_RULE] = { { "\n---\n", "", "" }, { "<hr>\n", "", "" } },
	[BLOCK_GROUP] = { { "", "", "" }, { "<div class=\"row\">", "", "\n</div>" } },
	[BLOCK_LINE] = { { "", "", "\n" }, { "<p>", "", "</p>\n" } },
};

void m_block(struct markup *m, enum markup_block k, const char *label, bool on)
{
	const struct block_marks *marks;

	if (m->ops->block) {
		m->ops->block(m, k, label, on);
		return;
	}
	marks = &doc_marks[k][m->ops->kind == MARKUP_HTML];
	if (!on) {
		m_puts(m, marks->off);
		return;
	}
	m_puts(m, marks->on);
	if (label && marks->after_label) {
		m_puts(m, label);
		m_puts(m, marks->after_label);
	}
}

bool markup_shows(const struct markup *m, const struct column *c)
{
	if (c->flags & COL_DOC)
		return m->ops->kind != MARKUP_TEXT;
	if (c->flags & COL_TEXT)
		return m->ops->kind == MARKUP_TEXT;
	return true;
}

void m_table(struct markup *m, const struct table *t, bool on)
{
	m->table = t;
	m->ops->table(m, t, on);
	if (!on)
		m->table = NULL;
}

void m_row(struct markup *m, enum markup_row k, bool on)
{
	m->cells = 0;
	m->ops->row(m, k, on);
}

void m_cell(struct markup *m, unsigned col, bool on)
{
	const struct column *c = &m->table->cols[col];

	if (markup_shows(m, c)) {
		m->ops->cell(m, c, on);
		m->cells += !on;
	} else if (on) {
		m->hidden_from = m->b;
		rbuf_clear(&m->hidden);
		m->b = &m->hidden;
	} else {
		m->b = m->hidden_from;
		m->hidden_from = NULL;
	}
}

void m_cell_number(struct markup *m, unsigned col, uint64_t v)
{
	m->value = v;
	m_cell(m, col, true);
	put_grouped(m->b, v);
	m_cell(m, col, false);
}

void markup_free(struct markup *m)
{
	rbuf_free(&m->hidden);
}
