/*
 * version.c — the runtime version, so a program can check that the library
 * it loaded matches the header it was compiled with.
 */
#include "internal.h"

unsigned rill_version_number(void)
{
	return RILL_VERSION_NUMBER;
}

const char *rill_version_string(void)
{
	return RILL_VERSION_STRING;
}
