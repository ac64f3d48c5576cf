/* markup.c - what the markup interface does the same in every medium (markup.h): tables keep
 * their column list and count the cells of a row, and a cell the medium does not show is written
 * aside and dropped, so the skeleton writes every row once. */
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

bool markup_shows(const struct markup *m, const struct column *c)
{
	if (c->flags & COL_DOC)
		return m->kind != MARKUP_TEXT;
	if (c->flags & COL_TEXT)
		return m->kind == MARKUP_TEXT;
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
