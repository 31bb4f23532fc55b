#include "util/fdpass.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int fdpass_send(int sock, const struct iovec *iov, size_t iovcnt, const int *fds, size_t nfds,
                int flags)
{
  union {
    char buf[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
    struct cmsghdr align;
  } u;
  if (nfds > FDPASS_MAX) {
    errno = EINVAL;
    return -1;
  }
  memset(&u, 0, sizeof(u));
  struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt};
  if (nfds > 0) {
    msg.msg_control = u.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  ssize_t n;
  do
    n = sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -1 : 0;
}

ssize_t fdpass_recv(int sock, struct iovec *iov, size_t iovcnt, int *fds, size_t maxfds,
                    struct ucred *cred, int flags)
{
  union {
    char buf[CMSG_SPACE(FDPASS_MAX * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
    struct cmsghdr align;
  } u;
  for (size_t i = 0; i < maxfds; i++)
    fds[i] = -1;
  if (cred != NULL) *cred = (struct ucred){0};
  struct msghdr msg = {
      .msg_iov = iov, .msg_iovlen = iovcnt, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  ssize_t n;
  do
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  size_t got = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_RIGHTS) {
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (got < maxfds)
          fds[got++] = fd;
        else
          close(fd);
      }
    } else if (c->cmsg_type == SCM_CREDENTIALS && cred != NULL) {
      memcpy(cred, CMSG_DATA(c), sizeof(*cred));
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    for (size_t i = 0; i < got; i++) {
      close(fds[i]);
      fds[i] = -1;
    }
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}
