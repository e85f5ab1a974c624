/*
 * hop.c - what one relay process costs a frame: a round trip writer ->
 * echo -> writer through pipes, directly or with a relay process in
 * between (the zygote's place before the agents wrote to its pipe
 * themselves, docs/performance.md). Everyone sleeps between rounds (the
 * writer waits 200 µs), as between the frames of a workload.
 *
 *   bench/bin/hop [relay]    prints the mean round trip in µs
 */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 2000

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* read one byte from @in and write it to @out, @n times, then exit */
static void pass_on(int in, int out, int n)
{
	char c;

	for (int i = 0; i < n; i++)
		if (read(in, &c, 1) != 1 || write(out, &c, 1) != 1)
			_exit(1);
	_exit(0);
}

int main(int argc, char **argv __attribute__((unused)))
{
	int relay = argc > 1, a[2], b[2], c[2];
	double total = 0;
	char x = 0;

	if (pipe(a) || pipe(b) || pipe(c))
		return 1;
	if (!fork())
		pass_on(relay ? b[0] : a[0], c[1], ROUNDS);
	if (relay && !fork())
		pass_on(a[0], b[1], ROUNDS);
	for (int i = 0; i < ROUNDS; i++) {
		double t0;

		usleep(200);
		t0 = now_us();
		if (write(a[1], &x, 1) != 1 || read(c[0], &x, 1) != 1)
			return 1;
		total += now_us() - t0;
	}
	printf("%s round trip %.1f us\n", relay ? "relay" : "direct",
	       total / ROUNDS);
	while (wait(NULL) > 0)
		;
	return 0;
}
