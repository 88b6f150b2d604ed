/*
 * The least an HTTP server can do for two of the benchmark's rows: a
 * ceiling to measure Berth, nginx and lighttpd against, not a server. No
 * parsing (every read is taken as one whole request), no timeouts, no
 * error handling beyond closing: what is left is the kernel's work and the
 * load generator's.
 *
 * Usage: ceiling PORT FILE MODE [CHUNK_KIB]
 *   close: the `Connection: close` row. Each connection's request is there
 *     when the connection is (deferred accept); it is answered with the
 *     file (read into memory at the start) in one send(2) with MSG_MORE,
 *     then close(2): response and FIN leave in one segment, the server
 *     initiates the close as RFC 9112 section 9.6 asks, and holds the
 *     TIME_WAIT.
 *   abortive: the same with SO_LINGER of 0, so close(2) sends a reset and
 *     neither side keeps a TIME_WAIT. A real server must not: a client that
 *     has not read the response yet, or has sent more, may lose it.
 *     Measured only to see what the FIN handshake costs the client.
 *   file: the 1 MiB keep-alive row. Each request is answered with a head
 *     (MSG_MORE) and the file by sendfile(2), 256 KiB a call (or CHUNK_KIB)
 *     and one call a connection per turn of the loop (as Berth and
 *     lighttpd), watching for writability only while a file is under way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FD 65536

enum mode { CLOSE, ABORTIVE, FILE_KEEPALIVE };

static enum mode mode;
static int ep, file_fd;
static char *resp;      /* close, abortive: the whole response; file: the head */
static size_t resp_len;
static off_t file_size;
static size_t chunk = 256 * 1024; /* file: bytes a sendfile call */
static off_t offset[MAX_FD]; /* file: where each connection's file is; -1: idle */

static void watch(int op, int fd, unsigned events) {
  struct epoll_event e = {.events = events, .data.fd = fd};
  (void)epoll_ctl(ep, op, fd, &e);
}

static void drop(int fd) {
  offset[fd] = -1;
  close(fd);
}

/* file: one sendfile call for connection fd; back to reading when done. */
static void send_file(int fd) {
  size_t want = (size_t)(file_size - offset[fd]);
  if (want > chunk) want = chunk;
  ssize_t sent = sendfile(fd, file_fd, &offset[fd], want);
  if (sent < 0 && errno != EAGAIN) {
    drop(fd);
  } else if (offset[fd] == file_size) {
    offset[fd] = -1;
    watch(EPOLL_CTL_MOD, fd, EPOLLIN);
  }
}

/* Reads a request and answers it; 0 when there was nothing to read yet. */
static int readable(int fd) {
  char buf[4096];
  ssize_t got = read(fd, buf, sizeof buf);
  if (got < 0 && errno == EAGAIN) return 0;
  if (got <= 0) {
    drop(fd);
  } else if (mode == FILE_KEEPALIVE) {
    if (send(fd, resp, resp_len, MSG_MORE) < 0) {
      drop(fd);
      return 1;
    }
    offset[fd] = 0;
    watch(EPOLL_CTL_MOD, fd, EPOLLOUT);
  } else {
    if (mode == ABORTIVE) {
      struct linger lg = {1, 0};
      (void)send(fd, resp, resp_len, 0);
      (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else {
      (void)send(fd, resp, resp_len, MSG_MORE);
    }
    close(fd);
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: ceiling PORT FILE close|abortive|file [CHUNK_KIB]\n");
    return 2;
  }
  mode = !strcmp(argv[3], "abortive") ? ABORTIVE : !strcmp(argv[3], "file") ? FILE_KEEPALIVE : CLOSE;
  if (argc == 5 && atoi(argv[4]) > 0) chunk = (size_t)atoi(argv[4]) * 1024;
  struct stat st;
  file_fd = open(argv[2], O_RDONLY);
  if (file_fd < 0 || fstat(file_fd, &st) < 0) {
    perror(argv[2]);
    return 1;
  }
  file_size = st.st_size;
  const char *conn = mode == FILE_KEEPALIVE ? "keep-alive" : "close";
  resp = malloc((size_t)file_size + 256);
  if (!resp) return 1;
  resp_len = (size_t)snprintf(resp, 256, "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nConnection: %s\r\n\r\n",
                              (long long)file_size, conn);
  if (mode != FILE_KEEPALIVE) {
    if (read(file_fd, resp + resp_len, (size_t)file_size) != file_size) return 1;
    resp_len += (size_t)file_size;
  }
  for (int i = 0; i < MAX_FD; i++) offset[i] = -1;
  signal(SIGPIPE, SIG_IGN); /* a client gone mid-file: sendfile fails with EPIPE */

  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((unsigned short)atoi(argv[1])),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096)) {
    perror("listen");
    return 1;
  }
  ep = epoll_create1(0);
  watch(EPOLL_CTL_ADD, l, EPOLLIN);
  struct epoll_event evs[256];
  for (;;) {
    int ready = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < ready; i++) {
      int fd = evs[i].data.fd;
      if (fd != l) {
        if (offset[fd] >= 0) {
          send_file(fd);
        } else {
          readable(fd);
        }
        continue;
      }
      for (int c; (c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0;) {
        if (c >= MAX_FD) {
          close(c);
          continue;
        }
        if (mode == FILE_KEEPALIVE) {
          (void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          watch(EPOLL_CTL_ADD, c, EPOLLIN);
          readable(c);
        } else if (!readable(c)) {
          /* Deferred accept: the request is normally here already. */
          watch(EPOLL_CTL_ADD, c, EPOLLIN);
        }
      }
    }
  }
}
