/*
 * The least an HTTP server can do for the benchmark's `Connection: close`
 * row: a ceiling to measure Berth and nginx against, not a server. It takes
 * each connection's request (deferred accept: it is there when the
 * connection is), answers it with one fixed response and closes. No
 * parsing, no files, no timeouts, one read and one write: what is left is
 * the kernel's work for a connection and the load generator's.
 *
 * Usage: ceiling PORT BODY_FILE [abortive]
 *   graceful (default): the response with MSG_MORE, then close(2): the
 *     response and the FIN leave in one segment, the server initiates the
 *     close as RFC 9112 section 9.6 asks, and holds the TIME_WAIT.
 *   abortive: SO_LINGER of 0, so close(2) sends a reset and neither side
 *     keeps a TIME_WAIT. A real server must not: a client that has not read
 *     the response yet, or has sent more, may lose it. Measured only to see
 *     what the FIN handshake costs the client.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static char *resp;
static size_t resp_len;
static int abortive;

/* Reads the request and answers it; 0 when there was nothing to read yet. */
static int reply(int fd) {
  char buf[4096];
  ssize_t got = read(fd, buf, sizeof buf);
  if (got < 0 && errno == EAGAIN) return 0;
  if (got > 0) {
    if (abortive) {
      struct linger lg = {1, 0};
      (void)send(fd, resp, resp_len, 0);
      (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else {
      (void)send(fd, resp, resp_len, MSG_MORE);
    }
  }
  close(fd);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: ceiling PORT BODY_FILE [abortive]\n");
    return 2;
  }
  abortive = argc > 3 && strcmp(argv[3], "abortive") == 0;
  FILE *f = fopen(argv[2], "rb");
  if (!f) { perror(argv[2]); return 1; }
  static char body[1 << 20];
  size_t n = fread(body, 1, sizeof body, f);
  fclose(f);
  resp = malloc(n + 256);
  if (!resp) return 1;
  resp_len = (size_t)snprintf(resp, 256,
      "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
  memcpy(resp + resp_len, body, n);
  resp_len += n;

  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096)) {
    perror("listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = l}, evs[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
  for (;;) {
    int ready = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < ready; i++) {
      if (evs[i].data.fd != l) {
        reply(evs[i].data.fd);
        continue;
      }
      for (int c; (c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0;) {
        /* Deferred accept: the request is normally here already. */
        if (reply(c)) continue;
        struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
      }
    }
  }
}
