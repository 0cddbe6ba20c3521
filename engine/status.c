/*
** status.c: status names and the per-thread "last error" message.
*/
#include "internal.h"
#include <stdio.h>

static _Thread_local char last_error[TG_MSG_LEN];

const char *tg_status_str(tg_status s)
{
	switch (s) {
	case TG_OK: return "ok";
	case TG_ERR_ARG: return "bad argument";
	case TG_ERR_SHAPE: return "shape mismatch";
	case TG_ERR_DTYPE: return "dtype mismatch";
	case TG_ERR_NOMEM: return "out of memory";
	case TG_ERR_IO: return "i/o error";
	case TG_ERR_FORMAT: return "bad format";
	case TG_ERR_NUMERIC: return "non-finite value";
	case TG_ERR_UNSUPPORTED: return "unsupported";
	case TG_ERR_ABORTED: return "aborted";
	case TG_ERR_INTERNAL: return "internal error";
	}
	return "unknown status";
}

const char *tg_last_error(void) { return last_error; }

static void set_msg(const char *fmt, va_list ap)
{
	vsnprintf(last_error, sizeof last_error, fmt, ap);
}

tg_status tg_set_error(tg_status s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_msg(fmt, ap);
	va_end(ap);
	return s;
}

tg_status tg_graph_fail(tg_graph *g, tg_status s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (g && g->status == TG_OK) {
		g->status = s;
		vsnprintf(g->msg, sizeof g->msg, fmt, ap);
		snprintf(last_error, sizeof last_error, "%s", g->msg);
	} else if (!g) {
		set_msg(fmt, ap);
	}
	va_end(ap);
	return s;
}

tg_status tg_op_fail(tg_graph *g, const tg_node *n, tg_status s, const char *fmt, ...)
{
	char buf[TG_MSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return tg_graph_fail(g, s, "%s: %s", n && n->op ? n->op->name : "?", buf);
}

tg_status tg_graph_status(const tg_graph *g) { return g ? g->status : TG_ERR_ARG; }
const char *tg_graph_error(const tg_graph *g) { return g ? g->msg : "NULL graph"; }
void tg_graph_clear_error(tg_graph *g)
{
	if (g) {
		g->status = TG_OK;
		g->msg[0] = 0;
	}
}
