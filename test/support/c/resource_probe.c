/*
 * resource_probe.c - a workload for the resource tests
 * (test/linx/sandbox/resources_test.exs), where a shell cannot say it:
 *
 *   resource_probe hold MIB    touch MIB MiB, print "held", then wait
 *   resource_probe alloc MIB   touch MIB MiB one at a time, print "done"
 *   resource_probe busy MS     spin on the CPU for MS ms of wall time
 *   resource_probe open        open /dev/null until it fails: print the
 *                              number of the failing open and its errno
 *                              name ("30 EMFILE")
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* MiB by MiB, each page written: resident, charged to the cgroup */
static void touch(long mib)
{
	long i;

	for (i = 0; i < mib; i++) {
		char *p = malloc(MIB);

		if (!p)
			exit(3);
		memset(p, (int)i | 1, MIB);
	}
}

static int open_until_failure(void)
{
	int n;

	for (n = 1;; n++)
		if (open("/dev/null", O_RDONLY) < 0) {
			printf("%d %s\n", n, errno == EMFILE ? "EMFILE" :
			       strerror(errno));
			return 0;
		}
}

int main(int argc, char **argv)
{
	volatile unsigned long spin = 0;
	long end;

	if (argc == 3 && !strcmp(argv[1], "hold")) {
		touch(atol(argv[2]));
		printf("held\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (argc == 3 && !strcmp(argv[1], "alloc")) {
		touch(atol(argv[2]));
		printf("done\n");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "busy")) {
		end = now_ms() + atol(argv[2]);
		while (now_ms() < end)
			spin++;
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "open"))
		return open_until_failure();
	fprintf(stderr, "usage: resource_probe hold|alloc MIB | busy MS | open\n");
	return 2;
}
