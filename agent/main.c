/* weftd: the agent.  Until the weftd issue lands it only says so. */
#include <stdio.h>
#include <string.h>

#include "weft_version.h"

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("weftd %s\n", WEFT_VERSION);
		return 0;
	}
	printf("weftd %s\n", WEFT_VERSION);
	fprintf(stderr, "weftd: not yet: the agent arrives with the weftd issue\n");
	return 2;
}
