#include "image/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

struct digest_ctx {
  EVP_MD_CTX *md;
  uint64_t bytes;
};

struct digest_ctx *digest_new(void)
{
  struct digest_ctx *ctx = calloc(1, sizeof(*ctx));
  if (ctx == NULL)
    abort();
  ctx->md = EVP_MD_CTX_new();
  if (ctx->md == NULL || EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) != 1)
    abort();
  return ctx;
}

void digest_free(struct digest_ctx *ctx)
{
  if (ctx == NULL)
    return;
  EVP_MD_CTX_free(ctx->md);
  free(ctx);
}

void digest_reset(struct digest_ctx *ctx)
{
  if (EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) != 1)
    abort();
  ctx->bytes = 0;
}

void digest_update(struct digest_ctx *ctx, const void *data, size_t len)
{
  if (EVP_DigestUpdate(ctx->md, data, len) != 1)
    abort();
  ctx->bytes += len;
}

static void format_digest(const unsigned char *md, unsigned int len, char out[DIGEST_STR_MAX])
{
  static const char hex[] = "0123456789abcdef";
  memcpy(out, "sha256:", 7);
  for (unsigned int i = 0; i < len; i++) {
    out[7 + 2 * i] = hex[md[i] >> 4];
    out[7 + 2 * i + 1] = hex[md[i] & 15];
  }
  out[7 + 2 * len] = '\0';
}

void digest_peek(const struct digest_ctx *ctx, char out[DIGEST_STR_MAX])
{
  /* Finalise a copy so that the running state stays usable. */
  EVP_MD_CTX *copy = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (copy == NULL || EVP_MD_CTX_copy_ex(copy, ctx->md) != 1 ||
      EVP_DigestFinal_ex(copy, md, &len) != 1)
    abort();
  EVP_MD_CTX_free(copy);
  format_digest(md, len, out);
}

uint64_t digest_bytes(const struct digest_ctx *ctx)
{
  return ctx->bytes;
}

void digest_buffer(const void *data, size_t len, char out[DIGEST_STR_MAX])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
    abort();
  format_digest(md, mdlen, out);
}

int digest_fd(int fd, char out[DIGEST_STR_MAX], uint64_t *size, guise_error **err)
{
  _cleanup_digest_ struct digest_ctx *ctx = digest_new();
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return guise_fail_errno(err, "read");
    }
    if (n == 0)
      break;
    digest_update(ctx, buf, (size_t)n);
  }
  digest_peek(ctx, out);
  if (size != NULL)
    *size = ctx->bytes;
  return 0;
}

int digest_file(const char *path, char out[DIGEST_STR_MAX], uint64_t *size, guise_error **err)
{
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return guise_fail_errno(err, "open %s", path);
  if (digest_fd(fd, out, size, err) < 0)
    return guise_error_prefix(err, "%s", path);
  return 0;
}

bool digest_valid(const char *s)
{
  if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
    return false;
  for (const char *p = s + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}
