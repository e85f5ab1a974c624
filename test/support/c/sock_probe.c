/*
 * sock_probe.c - how fd 1 looks to a workload, written to fd 1 itself.
 *
 * Prints "nonblock=N sndtimeo=S.U rcvtimeo=S.U\n": whether fd 1 is
 * O_NONBLOCK and its SO_SNDTIMEO/SO_RCVTIMEO. Linx's tests use it to
 * check that a {:connect_unix, path} stdio socket reaches the workload as
 * an ordinary blocking socket, without the deadline the child connected
 * with (test/linx/process/reliability_agent_test.exs).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>

int main(void)
{
	struct timeval snd, rcv;
	socklen_t len = sizeof(snd);
	int flags = fcntl(1, F_GETFL);

	if (flags < 0 ||
	    getsockopt(1, SOL_SOCKET, SO_SNDTIMEO, &snd, &len) ||
	    (len = sizeof(rcv),
	     getsockopt(1, SOL_SOCKET, SO_RCVTIMEO, &rcv, &len))) {
		perror("sock_probe");
		return 1;
	}
	printf("nonblock=%d sndtimeo=%ld.%06ld rcvtimeo=%ld.%06ld\n",
	       !!(flags & O_NONBLOCK), (long)snd.tv_sec, (long)snd.tv_usec,
	       (long)rcv.tv_sec, (long)rcv.tv_usec);
	return 0;
}
