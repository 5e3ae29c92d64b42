/*
 * core/supervisor_spec.c - validated, deep copies of supervisor specs (see
 * struct spec_copy in supervisor.h). Any thread; no shared state.
 */
#include "supervisor.h"

bool trp__sup_is_def(const trp_actor_def_t *def)
{
	return def->behavior == trp__sup_def.behavior;
}

void trp__sup_spec_free(struct spec_copy *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; c->block != NULL && i < c->n; i++) {
		if (c->block[i] == NULL)
			continue;
		if (trp__sup_is_def(&c->child[i].def))
			trp__sup_spec_free(c->block[i]);
		else
			trp__free(c->block[i], c->child[i].def.state_size);
	}
	trp__free(c->block, 0);
	trp__free(c->names, 0);
	trp__free(c->child, 0);
	trp__free(c, sizeof *c);
}

/* The checks that need no copy; 0 or the code supervisor.h names. */
static int spec_check(const trp_supervisor_spec_t *s, unsigned depth)
{
	if (s == NULL || depth >= TRP_SUPERVISOR_MAX_DEPTH)
		return TRP_EINVAL;
	if (s->children == NULL || s->nchildren == 0 ||
	    s->nchildren > TRP_SUPERVISOR_MAX_CHILDREN)
		return TRP_EINVAL;
	if ((unsigned)s->strategy > TRP_REST_FOR_ONE)
		return TRP_EINVAL;
	if (s->intensity > TRP_SUPERVISOR_MAX_INTENSITY || s->period_ns <= 0)
		return TRP_EINVAL;
	if (s->backoff_min_ns < 0 || s->backoff_max_ns < 0 ||
	    (s->backoff_min_ns > 0 && s->backoff_max_ns < s->backoff_min_ns))
		return TRP_EINVAL;
	for (uint32_t i = 0; i < s->nchildren; i++) {
		const trp_child_spec_t *c = &s->children[i];
		if (c->def.behavior == NULL ||
		    (unsigned)c->restart > TRP_RESTART_TEMPORARY ||
		    c->def.state_size > TRP_MSG_MAX)
			return TRP_EINVAL;
		if (trp__sup_is_def(&c->def) && c->arg == NULL)
			return TRP_EINVAL;
		if (c->name == NULL)
			continue;
		size_t len = strnlen(c->name, TRP_NAME_MAX + 1);
		if (len == 0)
			return TRP_EINVAL;
		if (len > TRP_NAME_MAX)
			return TRP_ENAMETOOLONG;
		/* Quadratic, but at most 1024 children, once per start. */
		for (uint32_t k = 0; k < i; k++)
			if (s->children[k].name != NULL &&
			    strcmp(s->children[k].name, c->name) == 0)
				return TRP_EEXIST;
	}
	return 0;
}

int trp__sup_spec_copy(const trp_supervisor_spec_t *s, unsigned depth,
		       struct spec_copy **out)
{
	int rc = spec_check(s, depth);
	if (rc != 0)
		return rc;
	uint32_t n = s->nchildren;
	struct spec_copy *c = trp__calloc(1, sizeof *c);
	if (c == NULL)
		return TRP_ENOMEM;
	c->n = n;
	c->child = trp__calloc(n, sizeof *c->child);
	c->names = trp__calloc(n, sizeof *c->names);
	c->block = trp__calloc(n, sizeof *c->block);
	if (c->child == NULL || c->names == NULL || c->block == NULL) {
		trp__sup_spec_free(c);
		return TRP_ENOMEM;
	}
	c->pub = *s;
	c->pub.children = c->child;
	for (uint32_t i = 0; i < n; i++) {
		const trp_child_spec_t *src = &s->children[i];
		trp_child_spec_t *dst = &c->child[i];
		*dst = *src;
		if (src->name != NULL) {
			strcpy(c->names[i], src->name); /* checked above */
			dst->name = c->names[i];
		}
		if (trp__sup_is_def(&src->def)) {
			struct spec_copy *nested;
			dst->def = trp__sup_def;
			rc = trp__sup_spec_copy(src->arg, depth + 1, &nested);
			if (rc != 0) {
				trp__sup_spec_free(c);
				return rc;
			}
			c->block[i] = nested;
			dst->arg = &nested->pub;
		} else if (src->def.state_size > 0 && src->arg != NULL) {
			void *b = trp__alloc(src->def.state_size);
			if (b == NULL) {
				trp__sup_spec_free(c);
				return TRP_ENOMEM;
			}
			memcpy(b, src->arg, src->def.state_size);
			c->block[i] = b;
			dst->arg = b;
		}
	}
	*out = c;
	return 0;
}
