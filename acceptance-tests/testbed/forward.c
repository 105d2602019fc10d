/*
 * testbed-forward NETNS PORT
 *
 * The test bed's port-forward relay: kwok runs it for every port-forward stream, with
 * the stream as its standard input and output. It joins the pod's network namespace
 * (the file NETNS, as `ip netns` keeps it under /run/netns), connects to
 * 127.0.0.1:PORT there, as a kubelet's port-forward does, and copies bytes both ways
 * until the pod's side closes. The end of its input is passed on as a half-close, so
 * the server still answers what it was sent.
 *
 * It replaces `nsenter ... socat STDIO TCP:...`: two processes, one linking OpenSSL, for
 * every stream opened (a refresh of many deployments opens one per deployment).
 * The runtime builds it at start (runtime.py, forward_relay).
 *
 * testbed-forward --check NETNS PORT ADDRESS
 *
 * A tcpSocket probe: joins NETNS, connects to the IPv4 ADDRESS:PORT and exits 0 if the
 * connection is accepted, 1 if not (a bash /dev/tcp redirection under nsenter costs
 * several times more, paid by every pod every 10 s).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void fail(const char *what) {
    fprintf(stderr, "testbed-forward: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Writes all of buf; 0 when the other end is gone. */
static int write_all(int fd, const char *buf, ssize_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, (size_t)n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        buf += w;
        n -= w;
    }
    return 1;
}

static long parse_port(const char *text) {
    char *end = NULL;
    long port = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "testbed-forward: bad port %s\n", text);
        exit(2);
    }
    return port;
}

/* Joins the network namespace kept in the file `path`. */
static void join(const char *path) {
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0)
        fail(path);
    if (setns(ns, CLONE_NEWNET) < 0)
        fail("setns");
    close(ns);
}

/* A socket connected to address:port (IPv4, dotted). */
static int dial(const char *address, long port) {
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, address, &to.sin_addr) != 1) {
        fprintf(stderr, "testbed-forward: bad IPv4 address %s\n", address);
        exit(2);
    }
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        fail("socket");
    if (connect(s, (struct sockaddr *)&to, sizeof to) < 0)
        fail("connect");
    return s;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--check") == 0) {
        long port = parse_port(argv[3]);
        join(argv[2]);
        close(dial(argv[4], port));
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: testbed-forward NETNS-FILE PORT | --check NETNS-FILE PORT IPV4\n");
        return 2;
    }
    long port = parse_port(argv[2]);
    join(argv[1]);
    int s = dial("127.0.0.1", port);
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    static char buf[65536];
    int input_open = 1;
    for (;;) {
        struct pollfd p[2] = {{input_open ? 0 : -1, POLLIN, 0}, {s, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fail("poll");
        }
        if (p[0].revents) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                shutdown(s, SHUT_WR);
                input_open = 0;
            } else if (!write_all(s, buf, n)) {
                return 0;
            }
        }
        if (p[1].revents) {
            ssize_t n = read(s, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || !write_all(1, buf, n))
                return 0;
        }
    }
}
