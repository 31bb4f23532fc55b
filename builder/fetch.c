/* ADD https://...: one download with libcurl, digested as it arrives. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "builder/internal.h"
#include "util/cleanup.h"
#include "util/fileio.h"

struct sink {
  int fd;
  struct digest_ctx *d;
  int write_errno;
};

static size_t sink_write(char *data, size_t size, size_t n, void *ud)
{
  struct sink *s = ud;
  size_t len = size * n;
  if (write_all(s->fd, data, len) < 0) {
    s->write_errno = errno;
    return 0;
  }
  digest_update(s->d, data, len);
  return len;
}

int fetch_url(const char *url, int fd, int64_t *mtime, char digest[DIGEST_STR_MAX],
              guise_error **err)
{
  static bool initialized;
  if (!initialized) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    initialized = true;
  }
  CURL *c = curl_easy_init();
  if (c == NULL) return guise_fail(err, 0, "downloading %s failed: no curl handle", url);
  _cleanup_digest_ struct digest_ctx *d = digest_new();
  struct sink s = {.fd = fd, .d = d};
  char curl_err[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "guise-build");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode r = curl_easy_perform(c);
  if (r != CURLE_OK) {
    curl_easy_cleanup(c);
    if (s.write_errno != 0) return guise_fail(err, s.write_errno, "saving %s failed", url);
    return guise_fail(err, 0, "downloading %s failed: %s", url,
                      curl_err[0] ? curl_err : curl_easy_strerror(r));
  }
  curl_off_t t = -1;
  if (curl_easy_getinfo(c, CURLINFO_FILETIME_T, &t) != CURLE_OK) t = -1;
  *mtime = (int64_t)t;
  curl_easy_cleanup(c);
  digest_peek(d, digest);
  return 0;
}
