/*
 * core/error.c - names and texts of the TRP_E* codes (one table: error.h).
 */
#include "troupe/error.h"

const char *trp_strerror(int err)
{
	switch (err) {
#define TRP__ERRNO_TEXT(name, value, text)                                     \
	case value:                                                            \
		return text;
		TRP_ERRNO_MAP(TRP__ERRNO_TEXT)
#undef TRP__ERRNO_TEXT
	default:
		return "unknown error";
	}
}

const char *trp_errname(int err)
{
	switch (err) {
#define TRP__ERRNO_NAME(name, value, text)                                     \
	case value:                                                            \
		return #name;
		TRP_ERRNO_MAP(TRP__ERRNO_NAME)
#undef TRP__ERRNO_NAME
	default:
		return "TRP_E?";
	}
}
