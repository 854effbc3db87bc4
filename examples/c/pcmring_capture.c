// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * pcmring_capture: a minimal C client of the pcmring broker (wire version
 * 2, docs/wire-format.md). It leases the broker's capture stream, maps the
 * read-only ring of the BUFFER fd it receives, follows the hardware
 * position with the snd-pcm-anondup POSITION ioctl, and reads FRAMES
 * frames as the hardware finishes them.
 *
 *   pcmring_capture SOCKET FRAMES [OUT]
 *
 * SOCKET is a path, or @name for an abstract socket. The captured frames
 * go, as raw interleaved samples, to OUT if given. For an S16_LE stereo
 * stream it also checks the frame counter the pcmring tests play (left =
 * low 16 bits of index + 1, right = high 16 bits) and prints one line:
 *
 *   OK frames N signal S jumps J overruns O
 *
 * Exit status: 0 done, 1 usage or system error, 2 refused, 3 bad message.
 * Build: cc -O2 -Wall -I kernel/include/uapi -o pcmring_capture pcmring_capture.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sound/anondup.h>

#define HEADER_LEN 12
#define MAX_MESSAGE_LEN 256
#define KIND_HELLO 1
#define KIND_LEASE 2
#define KIND_QUEUED 3
#define KIND_REFUSAL 4
#define LEASE_KIND_CAPTURE 2
#define DEVICE_HW_BUFFER 1
#define BLOCK_LEN 64

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static int die(int code, const char *what)
{
	fprintf(stderr, "pcmring_capture: %s%s%s\n", what,
		errno ? ": " : "", errno ? strerror(errno) : "");
	exit(code);
}

static int connect_broker(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	socklen_t salen;
	int s;

	if (len >= sizeof(sa.sun_path))
		die(1, "socket name too long");
	if (name[0] == '@') {
		/* Abstract: a leading NUL, no trailing one. */
		memcpy(sa.sun_path + 1, name + 1, len - 1);
		salen = offsetof(struct sockaddr_un, sun_path) + len;
	} else {
		memcpy(sa.sun_path, name, len);
		salen = offsetof(struct sockaddr_un, sun_path) + len + 1;
	}
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, salen) < 0)
		die(1, "connect to the broker");
	return s;
}

static void send_hello(int s)
{
	static const char name[] = "pcmring_capture";
	uint8_t m[HEADER_LEN + 8 + sizeof(name) - 1] = { 'P', 'C', 'M', 'R' };

	put16(m + 4, 2);			/* wire version 2 */
	put16(m + 6, KIND_HELLO);
	put32(m + 8, sizeof(m) - HEADER_LEN);
	put32(m + 12, 0);			/* flags */
	put16(m + 16, sizeof(name) - 1);
	put16(m + 18, LEASE_KIND_CAPTURE);
	memcpy(m + 20, name, sizeof(name) - 1);
	if (send(s, m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		die(1, "send the hello");
}

/* One message; its fd (at most one is expected) in *fd, else -1. */
static size_t receive(int s, uint8_t *buf, int *fd)
{
	union {
		struct cmsghdr h;
		char room[CMSG_SPACE(6 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = MAX_MESSAGE_LEN + 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = &ctl, .msg_controllen = sizeof(ctl),
	};
	struct cmsghdr *c;
	ssize_t n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
	int nfds = 0;

	*fd = -1;
	if (n <= 0)
		die(1, "the broker closed the connection");
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		die(3, "message or fds cut");
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			die(3, "unexpected control message");
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfds != 1)
			die(3, "a capture lease carries exactly one fd");
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	}
	if (n < HEADER_LEN || memcmp(buf, "PCMR", 4) ||
	    le32(buf + 8) != (uint32_t)n - HEADER_LEN)
		die(3, "not a pcmring message");
	return n;
}

struct stream {
	int32_t format;
	uint32_t channels, rate;
	uint64_t period, buffer, boundary;
};

/* Checks the version-2 capture lease (docs/wire-format.md, "Lease"). */
static struct stream parse_lease(const uint8_t *m, size_t n)
{
	const uint8_t *p = m + HEADER_LEN, *b = p + 16;
	struct stream st;

	if (le16(m + 4) != 2 || n != HEADER_LEN + 16 + BLOCK_LEN)
		die(3, "not a one-stream version-2 lease");
	if (le16(p) != LEASE_KIND_CAPTURE || le16(p + 2) != 1 || le32(p + 4) || le64(p + 8))
		die(3, "not a capture lease");
	st.format = (int32_t)le32(b);
	st.channels = le32(b + 4);
	st.rate = le32(b + 8);
	if (le16(b + 12) != DEVICE_HW_BUFFER || le16(b + 14) != 1)
		die(3, "not a restricted hardware PCM with one fd");
	st.period = le64(b + 24);
	st.buffer = le64(b + 32);
	st.boundary = le64(b + 40);
	if (st.format != 2 && st.format != 6 && st.format != 10 &&
	    st.format != 14 && st.format != 32)
		die(3, "unknown sample format");
	if (!st.channels || st.channels > 64 || st.rate < 1000 || st.rate > 768000 ||
	    !st.period || !st.buffer || st.buffer > (1 << 24) || st.buffer % st.period ||
	    st.boundary < st.buffer || st.boundary % st.buffer)
		die(3, "lease geometry out of range");
	return st;
}

static void check_buffer_fd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		die(1, "readlink");
	target[n] = 0;
	if (strcmp(target, "anon_inode:snd-pcm-buf"))
		die(3, "the fd is not a restricted PCM fd (anon_inode:snd-pcm-buf)");
}

static uint64_t hw_ptr(int fd)
{
	struct anondup_position pos;

	if (ioctl(fd, ANONDUP_IOCTL_POSITION, &pos) < 0)
		die(1, "POSITION ioctl");
	return pos.hw_ptr;
}

static size_t sample_bytes(int32_t format)
{
	switch (format) {
	case 2:
		return 2;
	case 32:
		return 3;
	default:
		return 4;
	}
}

int main(int argc, char **argv)
{
	uint8_t m[MAX_MESSAGE_LEN + 1];
	uint64_t want, done = 0, last_raw, hw, pos, signal = 0, jumps = 0, overruns = 0;
	uint64_t prev = 0;
	int have_prev = 0, s, fd = -1, counter;
	struct timespec nap = { 0, 2000000 };
	struct stream st;
	size_t n, fb;
	FILE *out = NULL;
	uint8_t *ring;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: pcmring_capture SOCKET FRAMES [OUT]\n");
		return 1;
	}
	want = strtoull(argv[2], NULL, 10);
	if (argc == 4) {
		out = fopen(argv[3], "wbx");
		if (!out)
			die(1, "create the output file (it must not exist)");
	}
	s = connect_broker(argv[1]);
	send_hello(s);
	for (;;) {
		n = receive(s, m, &fd);
		if (le16(m + 6) == KIND_QUEUED)
			continue;
		if (le16(m + 6) == KIND_REFUSAL) {
			if (n < HEADER_LEN + 4 || n != (size_t)HEADER_LEN + 4 + le16(m + 14))
				die(3, "malformed refusal");
			fprintf(stderr, "pcmring_capture: refused, code %u: %.*s\n",
				le16(m + 12), (int)le16(m + 14), (const char *)m + 16);
			return 2;
		}
		if (le16(m + 6) != KIND_LEASE || fd < 0)
			die(3, "unexpected message");
		break;
	}
	st = parse_lease(m, n);
	check_buffer_fd(fd);
	fb = st.channels * sample_bytes(st.format);
	/* Read-only: a capture BUFFER fd refuses PROT_WRITE. */
	ring = mmap(NULL, st.buffer * fb, PROT_READ, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED)
		die(1, "map the ring");
	counter = st.format == 2 && st.channels == 2;

	/* Start at the newest finished frame; widen hw_ptr past boundary. */
	last_raw = hw_ptr(fd);
	hw = last_raw;
	pos = hw;
	while (done < want) {
		uint64_t raw = hw_ptr(fd);

		hw += (raw + st.boundary - last_raw) % st.boundary;
		last_raw = raw;
		if (hw - pos > st.buffer) {
			/* Lapped: skip to what is still in the ring. */
			overruns++;
			pos = hw - st.buffer / 2;
			have_prev = 0;
		}
		while (pos < hw && done < want) {
			const uint8_t *f = ring + (pos % st.buffer) * fb;

			if (out && fwrite(f, fb, 1, out) != 1)
				die(1, "write the output file");
			if (counter && le32(f)) {
				uint64_t idx = le32(f) - 1;

				signal++;
				if (have_prev && idx != prev + 1)
					jumps++;
				prev = idx;
				have_prev = 1;
			}
			pos++;
			done++;
		}
		nanosleep(&nap, NULL);
	}
	if (out && fclose(out))
		die(1, "close the output file");
	printf("OK frames %llu signal %llu jumps %llu overruns %llu\n",
	       (unsigned long long)done, (unsigned long long)signal,
	       (unsigned long long)jumps, (unsigned long long)overruns);
	/* Closing the socket ends the lease. */
	close(s);
	return 0;
}
