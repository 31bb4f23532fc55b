/* sha256 digests ("sha256:<64 hex>") of OCI blobs: streaming, so a blob is verified while it
 * is downloaded or copied, never re-read. */
#ifndef GUISE_IMAGE_DIGEST_H
#define GUISE_IMAGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define DIGEST_STR_MAX 72 /* "sha256:" + 64 hex + NUL, rounded up */

struct digest_ctx;

struct digest_ctx *digest_new(void);
void digest_free(struct digest_ctx *ctx);
static inline void digest_freep(struct digest_ctx **ctx)
{
  if (*ctx != NULL)
    digest_free(*ctx);
}
#define _cleanup_digest_ __attribute__((cleanup(digest_freep)))

/* Start over (used when a resumed download restarts from byte 0). */
void digest_reset(struct digest_ctx *ctx);
void digest_update(struct digest_ctx *ctx, const void *data, size_t len);
/* "sha256:<hex>" of everything fed so far; the context may keep being updated afterwards. */
void digest_peek(const struct digest_ctx *ctx, char out[DIGEST_STR_MAX]);
uint64_t digest_bytes(const struct digest_ctx *ctx);

void digest_buffer(const void *data, size_t len, char out[DIGEST_STR_MAX]);
/* Digest and size of a file (or the rest of an fd). */
int digest_fd(int fd, char out[DIGEST_STR_MAX], uint64_t *size, guise_error **err);
int digest_file(const char *path, char out[DIGEST_STR_MAX], uint64_t *size, guise_error **err);

/* Whether s is a well-formed "sha256:<64 lowercase hex>" (the only algorithm accepted). */
bool digest_valid(const char *s);
/* The hex part of a valid digest. */
static inline const char *digest_hex(const char *digest)
{
  return digest + 7;
}

#endif
