/* A client of the OCI distribution API v2 (libcurl): manifests, blobs (parallel, resumable,
 * verified while downloaded), uploads (monolithic, chunked, cross-repository mount) and
 * authentication (Basic, Bearer tokens) with credentials from auth.json.
 *
 * One struct registry talks to one repository of one registry.  Transient failures (5xx, 429,
 * connection errors) are retried with exponential backoff; an interrupted blob download resumes
 * with a Range request.  https is used unless the host is a loopback address or TLS
 * verification is off, in which case plain http is tried when https does not answer. */
#ifndef GUISE_IMAGE_REGISTRY_H
#define GUISE_IMAGE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

struct registry_options {
  bool tls_verify;      /* default true */
  bool quiet;           /* no progress output */
  FILE *progress;       /* where progress goes (stderr when NULL) */
  const char *username; /* explicit credentials (else auth.json / docker config) */
  const char *password;
};

struct registry;

/* repository may be NULL (login's ping). */
int registry_open(const char *host, const char *repository, const struct registry_options *opts,
                  struct registry **out, guise_error **err);
void registry_close(struct registry *r);
static inline void registry_closep(struct registry **r)
{
  if (*r != NULL)
    registry_close(*r);
}
#define _cleanup_registry_ __attribute__((cleanup(registry_closep)))

/* GET /v2/ authenticating as needed: checks that the credentials are accepted (login). */
int registry_check_auth(struct registry *r, guise_error **err);

/* GET a manifest or index by tag or digest (all OCI and Docker v2 media types accepted).
 * At most max bytes.  *content_type may be NULL when the server sent none. */
int registry_get_manifest(struct registry *r, const char *reference, size_t max, char **body,
                          size_t *len, char **content_type, guise_error **err);

/* One blob to download into fd (an empty, writable temp file).  Size and digest are verified
 * while the bytes arrive: a longer blob is cut off, a mismatch fails. */
struct blob_fetch {
  const char *digest;
  int64_t size;
  int fd;
};
/* Fetch all, up to GUISE_PARALLEL (default 3) at a time.  Fails on the first blob that
 * cannot be fetched, after retries. */
int registry_fetch_blobs(struct registry *r, struct blob_fetch *blobs, size_t n,
                         guise_error **err);

/* 1 when the repository has the blob, 0 when not. */
int registry_blob_exists(struct registry *r, const char *digest, guise_error **err);
/* Upload the blob of size bytes read from fd (monolithic up to GUISE_PUSH_CHUNK_SIZE, default
 * 32 MiB, chunked above).  When mount_from names another repository of this registry, a
 * cross-repository mount is tried first.  *mounted (may be NULL) tells which happened. */
int registry_push_blob(struct registry *r, const char *digest, int64_t size, int fd,
                       const char *mount_from, bool *mounted, guise_error **err);
int registry_put_manifest(struct registry *r, const char *reference, const char *media_type,
                          const char *body, size_t len, guise_error **err);

/* The registry's URL scheme after registry_open ("https" or "http"). */
const char *registry_scheme(const struct registry *r);

#endif
