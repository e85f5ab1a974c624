/*
 * leader_exit.c - a live process whose main thread has exited.
 *
 * The main thread starts a worker and calls pthread_exit(): the process
 * lives on in the worker, but its thread group leader is a zombie and
 * /proc/PID/ns/<ns> (which reads the leader) is ENOENT for every type.
 * Once the leader is gone the worker prints "ready" and waits forever;
 * Linx's enter tests use it as a target (test/linx/process/
 * reliability_agent_test.exs).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * leader_gone() - is the thread group leader a zombie yet? /proc/self/stat
 * describes the leader: "pid (comm) S ...", state after the last ')'.
 */
static int leader_gone(void)
{
	char buf[512], *p;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static void *worker(void *arg)
{
	(void)arg;
	while (!leader_gone())
		usleep(1000);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, worker, NULL))
		return 1;
	pthread_exit(NULL);
}
