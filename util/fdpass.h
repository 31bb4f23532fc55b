/* Passing descriptors over AF_UNIX sockets (SCM_RIGHTS), the one way every part of guise does it:
 * the supervisor's hello and listener, the terminal's master, the delegation channel. */
#ifndef GUISE_UTIL_FDPASS_H
#define GUISE_UTIL_FDPASS_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define FDPASS_MAX 4 /* descriptors per message */

/* Send the bytes of iov with nfds (<= FDPASS_MAX) descriptors; MSG_NOSIGNAL is added to
 * flags, EINTR retried.  0, or -1 with errno. */
int fdpass_send(int sock, const struct iovec *iov, size_t iovcnt, const int *fds, size_t nfds,
                int flags);

/* Receive one message into iov: the descriptors passed with it go into fds (up to maxfds; the
 * rest of fds is set to -1, descriptors beyond maxfds are closed), close-on-exec; the sender's
 * credentials into *cred when not NULL (pid 0 when none came: SO_PASSCRED is the caller's
 * business).  Returns the number of bytes (0 at end of stream) or -1 with errno (EMSGSIZE when
 * the message or its descriptors did not fit: nothing is returned then).  EINTR retried. */
ssize_t fdpass_recv(int sock, struct iovec *iov, size_t iovcnt, int *fds, size_t maxfds,
                    struct ucred *cred, int flags);

#endif
