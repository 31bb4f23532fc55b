#include "image/registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/auth.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/units.h"

#define MAX_ATTEMPTS 5
#define USER_AGENT "guise/0.1.0"

struct registry {
  char *host;
  char *repository;
  char *scheme; /* "https" / "http" */
  struct registry_options opts;
  char *username, *password; /* resolved lazily */
  bool creds_looked_up;
  char *authz; /* current "Authorization: ..." header line, or NULL */
};

static char *xstrdup(const char *s)
{
  if (s == NULL)
    return NULL;
  char *r = strdup(s);
  if (r == NULL)
    abort();
  return r;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    abort();
  va_end(ap);
  return s;
}

static void curl_init_once(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void curl_global(void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, curl_init_once);
}

const char *registry_scheme(const struct registry *r)
{
  return r->scheme;
}

/* --- one HTTP exchange --- */

struct http_resp {
  long status;
  char *body;
  size_t len, max;
  bool too_big;
  char *content_type, *location, *www_auth, *retry_after, *content_digest;
};

static void http_resp_clear(struct http_resp *r)
{
  free(r->body);
  free(r->content_type);
  free(r->location);
  free(r->www_auth);
  free(r->retry_after);
  free(r->content_digest);
  size_t max = r->max;
  memset(r, 0, sizeof(*r));
  r->max = max;
}

/* Responses are cleared however a function returns (clearing twice is harmless). */
#define _cleanup_resp_ __attribute__((cleanup(http_resp_clear)))

static size_t body_cb(char *data, size_t size, size_t nmemb, void *ud)
{
  struct http_resp *r = ud;
  size_t n = size * nmemb;
  if (r->len + n > r->max) {
    r->too_big = true;
    return 0; /* abort the transfer */
  }
  char *grown = realloc(r->body, r->len + n + 1);
  if (grown == NULL)
    return 0;
  r->body = grown;
  memcpy(r->body + r->len, data, n);
  r->len += n;
  r->body[r->len] = '\0';
  return n;
}

/* Value of header "name: value" if line is that header (malloc'd, trimmed), else NULL. */
static char *header_value(const char *line, size_t n, const char *name)
{
  size_t nl = strlen(name);
  if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
    return NULL;
  const char *v = line + nl + 1;
  const char *end = line + n;
  while (v < end && isspace((unsigned char)*v))
    v++;
  while (end > v && isspace((unsigned char)end[-1]))
    end--;
  char *s = strndup(v, (size_t)(end - v));
  if (s == NULL)
    abort();
  return s;
}

static void set_header(char **slot, char *value)
{
  if (value == NULL)
    return;
  free(*slot);
  *slot = value;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *ud)
{
  struct http_resp *r = ud;
  size_t n = size * nmemb;
  /* A new status line (redirects, 100 Continue) starts a new header set. */
  if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
    free(r->www_auth);
    r->www_auth = NULL;
    free(r->location);
    r->location = NULL;
  }
  set_header(&r->content_type, header_value(data, n, "Content-Type"));
  set_header(&r->location, header_value(data, n, "Location"));
  set_header(&r->www_auth, header_value(data, n, "WWW-Authenticate"));
  set_header(&r->retry_after, header_value(data, n, "Retry-After"));
  set_header(&r->content_digest, header_value(data, n, "Docker-Content-Digest"));
  return n;
}

struct upload_src {
  int fd;
  off_t off, end;
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
  struct upload_src *u = ud;
  size_t want = size * nitems;
  if ((off_t)want > u->end - u->off)
    want = (size_t)(u->end - u->off);
  if (want == 0)
    return 0;
  ssize_t n;
  do
    n = pread(u->fd, buf, want, u->off);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return CURL_READFUNC_ABORT;
  u->off += n;
  return (size_t)n;
}

struct http_req {
  const char *method; /* GET, HEAD, POST, PUT, PATCH */
  const char *url;
  struct curl_slist *headers;
  const char *body; /* in-memory body, or */
  size_t body_len;
  int body_fd; /* -1, or a file region [body_off, body_off + body_len) */
  off_t body_off;
  bool follow;
};

static CURL *new_easy(struct registry *r)
{
  CURL *c = curl_easy_init();
  if (c == NULL)
    abort();
  curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  /* Abort a transfer that stalls (below 1 byte/s for 60 s) so that it can be retried. */
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (!r->opts.tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  return c;
}

static bool curl_transient(CURLcode rc)
{
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return true;
  default:
    return false;
  }
}

static bool status_transient(long status)
{
  return status == 429 || status == 408 || (status >= 500 && status <= 599);
}

/* Sleep before attempt number `attempt` (1-based retry count): 0.25 s, 0.5 s, 1 s, 2 s ...
 * GUISE_RETRY_DELAY_MS overrides the base (tests). A Retry-After of a few seconds is honored. */
static void backoff(int attempt, const char *retry_after)
{
  long base = 250;
  const char *env = getenv("GUISE_RETRY_DELAY_MS");
  if (env != NULL)
    base = strtol(env, NULL, 10);
  long ms = base << (attempt - 1);
  if (retry_after != NULL) {
    long s = strtol(retry_after, NULL, 10);
    if (s > 0 && s <= 30 && s * 1000 > ms)
      ms = s * 1000;
  }
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static struct curl_slist *with_auth(struct registry *r, struct curl_slist *extra)
{
  struct curl_slist *h = NULL;
  for (struct curl_slist *p = extra; p != NULL; p = p->next)
    h = curl_slist_append(h, p->data);
  if (r->authz != NULL)
    h = curl_slist_append(h, r->authz);
  return h;
}

/* One exchange, no retries, no auth handling.  Returns -1 only for transport errors. */
static int http_once(struct registry *r, const struct http_req *q, bool send_auth,
                     struct http_resp *resp, CURLcode *rc_out, guise_error **err)
{
  http_resp_clear(resp);
  CURL *c = new_easy(r);
  struct curl_slist *h = send_auth ? with_auth(r, q->headers) : NULL;
  if (!send_auth)
    for (struct curl_slist *p = q->headers; p != NULL; p = p->next)
      h = curl_slist_append(h, p->data);
  curl_easy_setopt(c, CURLOPT_URL, q->url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, q->follow ? 1L : 0L);
  struct upload_src src = {q->body_fd, q->body_off, q->body_off + (off_t)q->body_len};
  if (strcmp(q->method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (strcmp(q->method, "POST") == 0) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
  } else if (strcmp(q->method, "PUT") == 0 || strcmp(q->method, "PATCH") == 0) {
    if (q->body_fd >= 0) {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
      curl_easy_setopt(c, CURLOPT_READDATA, &src);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
    } else {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  *rc_out = rc;
  if (rc != CURLE_OK) {
    if (resp->too_big)
      return guise_fail(err, 0, "%s %s: response larger than %zu bytes", q->method, q->url,
                        resp->max);
    return guise_fail(err, 0, "%s %s: %s", q->method, q->url, curl_easy_strerror(rc));
  }
  return 0;
}

static void lookup_creds(struct registry *r, guise_error **err)
{
  if (r->creds_looked_up)
    return;
  r->creds_looked_up = true;
  if (r->opts.username != NULL) {
    r->username = xstrdup(r->opts.username);
    r->password = xstrdup(r->opts.password ? r->opts.password : "");
    return;
  }
  _cleanup_error_ guise_error *lerr = NULL;
  if (auth_lookup(r->host, &r->username, &r->password, &lerr) < 0 && err != NULL)
    *err = steal_ptr(&lerr); /* reported only when auth turns out to be needed */
}

static char *url_escape(const char *s)
{
  char *e = curl_easy_escape(NULL, s, 0);
  if (e == NULL)
    abort();
  char *r = xstrdup(e);
  curl_free(e);
  return r;
}

/* Answer a 401: get a Bearer token for the challenge, or set up Basic. */
static int authenticate(struct registry *r, const char *challenge, guise_error **err)
{
  struct www_auth wa;
  if (www_auth_parse(challenge, &wa, err) < 0)
    return -1;
  _cleanup_error_ guise_error *cred_err = NULL;
  lookup_creds(r, &cred_err);
  _cleanup_free_ char *basic = NULL;
  if (r->username != NULL)
    basic = auth_encode_basic(r->username, r->password);
  if (wa.scheme == AUTH_BASIC) {
    www_auth_clear(&wa);
    if (basic == NULL) {
      if (cred_err != NULL) {
        *err = steal_ptr(&cred_err);
        return guise_error_prefix(err, "credentials for %s", r->host);
      }
      return guise_fail(err, 0,
                        "authentication required by %s (no credentials: guise login %s)",
                        r->host, r->host);
    }
    free(r->authz);
    r->authz = xasprintf("Authorization: Basic %s", basic);
    return 0;
  }
  /* Bearer: GET realm?service=...&scope=... (with Basic credentials when we have some). */
  _cleanup_free_ char *url = xstrdup(wa.realm);
  bool has_query = strchr(url, '?') != NULL;
  if (wa.service != NULL) {
    _cleanup_free_ char *e = url_escape(wa.service);
    char *n = xasprintf("%s%cservice=%s", url, has_query ? '&' : '?', e);
    free(url);
    url = n;
    has_query = true;
  }
  if (wa.scope != NULL) {
    /* The challenge may list several scopes separated by spaces. */
    _cleanup_free_ char *scopes = xstrdup(wa.scope);
    char *save = NULL;
    for (char *s = strtok_r(scopes, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
      _cleanup_free_ char *e = url_escape(s);
      char *n = xasprintf("%s%cscope=%s", url, has_query ? '&' : '?', e);
      free(url);
      url = n;
      has_query = true;
    }
  }
  www_auth_clear(&wa);
  struct curl_slist *h = NULL;
  if (basic != NULL) {
    _cleanup_free_ char *line = xasprintf("Authorization: Basic %s", basic);
    h = curl_slist_append(h, line);
  }
  struct http_req q = {.method = "GET", .url = url, .headers = h, .body_fd = -1, .follow = true};
  _cleanup_resp_ struct http_resp resp = {.max = 1 << 20};
  CURLcode rc;
  int ret = 0;
  for (int attempt = 1;; attempt++) {
    _cleanup_error_ guise_error *e = NULL;
    ret = http_once(r, &q, false, &resp, &rc, &e);
    bool transient = ret < 0 ? curl_transient(rc) : status_transient(resp.status);
    if (!transient || attempt >= MAX_ATTEMPTS) {
      if (ret < 0)
        *err = steal_ptr(&e);
      break;
    }
    backoff(attempt, resp.retry_after);
  }
  curl_slist_free_all(h);
  if (ret < 0) {
    http_resp_clear(&resp);
    return guise_error_prefix(err, "token from %s", url);
  }
  if (resp.status == 401 || resp.status == 403) {
    http_resp_clear(&resp);
    return guise_fail(err, 0, "token from %s: %s", url,
                      basic ? "invalid username or password" : "access denied (guise login?)");
  }
  if (resp.status != 200) {
    long st = resp.status;
    http_resp_clear(&resp);
    return guise_fail(err, 0, "token from %s: HTTP status %ld", url, st);
  }
  json_t *j = json_parse_named("token response", resp.body ? resp.body : "", resp.len, err);
  http_resp_clear(&resp);
  if (j == NULL)
    return guise_error_prefix(err, "token from %s", url);
  const char *tok = json_string_value(json_object_get(j, "token"));
  if (tok == NULL || *tok == '\0')
    tok = json_string_value(json_object_get(j, "access_token"));
  if (tok == NULL || *tok == '\0') {
    json_decref(j);
    return guise_fail(err, 0, "token from %s: no token in the response", url);
  }
  free(r->authz);
  r->authz = xasprintf("Authorization: Bearer %s", tok);
  json_decref(j);
  return 0;
}

/* An exchange with retries on transient failures and one re-authentication on 401. */
static int http_do(struct registry *r, const struct http_req *q, struct http_resp *resp,
                   guise_error **err)
{
  bool authed = false;
  for (int attempt = 1;; attempt++) {
    CURLcode rc;
    _cleanup_error_ guise_error *e = NULL;
    int ret = http_once(r, q, true, resp, &rc, &e);
    if (ret < 0) {
      if (curl_transient(rc) && attempt < MAX_ATTEMPTS) {
        backoff(attempt, NULL);
        continue;
      }
      *err = steal_ptr(&e);
      return -1;
    }
    if (resp->status == 401 && !authed) {
      authed = true;
      if (authenticate(r, resp->www_auth, err) < 0)
        return -1;
      attempt--;
      continue;
    }
    if (status_transient(resp->status) && attempt < MAX_ATTEMPTS) {
      backoff(attempt, resp->retry_after);
      continue;
    }
    return 0;
  }
}

/* A short description of an error response: the first registry error message if any. */
static char *describe_status(const struct http_resp *resp)
{
  const char *msg = NULL;
  json_t *j = NULL;
  if (resp->body != NULL && resp->len > 0) {
    j = json_loadb(resp->body, resp->len, 0, NULL);
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    msg = json_string_value(json_object_get(e0, "message"));
    if (msg == NULL)
      msg = json_string_value(json_object_get(e0, "code"));
  }
  char *s = msg ? xasprintf("HTTP status %ld: %s", resp->status, msg)
                : xasprintf("HTTP status %ld", resp->status);
  if (j)
    json_decref(j);
  return s;
}

/* A 401 after authenticating: no credentials (a token server may hand anonymous clients a token
 * that allows nothing), or credentials that are wrong or not allowed this repository. */
static int fail_status(struct registry *r, const struct http_resp *resp, guise_error **err,
                       const char *what)
{
  _cleanup_free_ char *d = describe_status(resp);
  if (resp->status == 401 && r->username == NULL)
    return guise_fail(err, 0, "%s: %s (no credentials for %s: guise login %s)", what, d, r->host,
                      r->host);
  if (resp->status == 401)
    return guise_fail(err, 0, "%s: %s (denied to %s: wrong password or no access)", what, d,
                      r->username);
  return guise_fail(err, 0, "%s: %s", what, d);
}

/* --- opening --- */

static char *v2_url(struct registry *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *v2_url(struct registry *r, const char *fmt, ...)
{
  va_list ap;
  char *tail = NULL;
  va_start(ap, fmt);
  if (vasprintf(&tail, fmt, ap) < 0)
    abort();
  va_end(ap);
  char *u = xasprintf("%s://%s/v2/%s", r->scheme, r->host, tail);
  free(tail);
  return u;
}

int registry_open(const char *host, const char *repository, const struct registry_options *opts,
                  struct registry **out, guise_error **err)
{
  curl_global();
  struct registry *r = calloc(1, sizeof(*r));
  if (r == NULL)
    abort();
  _cleanup_registry_ struct registry *owned = r;
  /* Docker Hub's API host. */
  r->host = xstrdup(strcmp(host, "docker.io") == 0 ? "registry-1.docker.io" : host);
  r->repository = xstrdup(repository);
  if (opts != NULL)
    r->opts = *opts;
  else
    r->opts.tls_verify = true;
  /* Probe /v2/ to find the scheme: https first, then plain http where allowed (loopback
   * registries, or --tls-verify=false), like podman. */
  bool http_ok = !r->opts.tls_verify || image_ref_host_is_loopback(host);
  const char *schemes[] = {"https", "http"};
  _cleanup_error_ guise_error *first = NULL;
  for (size_t i = 0; i < (http_ok ? 2u : 1u); i++) {
    free(r->scheme);
    r->scheme = xstrdup(schemes[i]);
    _cleanup_free_ char *url = v2_url(r, "%s", "");
    struct http_req q = {.method = "GET", .url = url, .body_fd = -1, .follow = true};
    _cleanup_resp_ struct http_resp resp = {.max = 1 << 16};
    CURLcode rc;
    _cleanup_error_ guise_error *e = NULL;
    int ret = -1;
    for (int attempt = 1; attempt <= (i == 0 && http_ok ? 1 : MAX_ATTEMPTS); attempt++) {
      guise_error_release(&e);
      ret = http_once(r, &q, false, &resp, &rc, &e);
      if (ret == 0 && !status_transient(resp.status))
        break;
      if (ret < 0 && !curl_transient(rc))
        break;
      if (attempt < MAX_ATTEMPTS && !(i == 0 && http_ok))
        backoff(attempt, resp.retry_after);
    }
    http_resp_clear(&resp);
    if (ret == 0) {
      *out = steal_ptr(&owned);
      return 0;
    }
    if (first == NULL)
      first = steal_ptr(&e);
  }
  *err = steal_ptr(&first);
  return guise_error_prefix(err, "registry %s", host);
}

void registry_close(struct registry *r)
{
  if (r == NULL)
    return;
  free(r->host);
  free(r->repository);
  free(r->scheme);
  free(r->username);
  free(r->password);
  free(r->authz);
  free(r);
}

int registry_check_auth(struct registry *r, guise_error **err)
{
  _cleanup_free_ char *url = v2_url(r, "%s", "");
  struct http_req q = {.method = "GET", .url = url, .body_fd = -1, .follow = true};
  _cleanup_resp_ struct http_resp resp = {.max = 1 << 16};
  if (http_do(r, &q, &resp, err) < 0)
    return -1;
  int ret = 0;
  if (resp.status == 401)
    ret = guise_fail(err, 0, "%s: invalid username or password", r->host);
  else if (resp.status != 200)
    ret = fail_status(r, &resp, err, r->host);
  http_resp_clear(&resp);
  return ret;
}

int registry_get_manifest(struct registry *r, const char *reference, size_t max, char **body,
                          size_t *len, char **content_type, guise_error **err)
{
  _cleanup_free_ char *url = v2_url(r, "%s/manifests/%s", r->repository, reference);
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, "Accept: " MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST
                           ", " MT_DOCKER_LIST);
  struct http_req q = {.method = "GET", .url = url, .headers = h, .body_fd = -1, .follow = true};
  _cleanup_resp_ struct http_resp resp = {.max = max};
  int ret = http_do(r, &q, &resp, err);
  curl_slist_free_all(h);
  if (ret < 0)
    return guise_error_prefix(err, "manifest");
  if (resp.status != 200) {
    if (resp.status == 404)
      ret = guise_fail(err, 0, "manifest %s: not found in %s/%s", reference, r->host,
                       r->repository);
    else
      ret = fail_status(r, &resp, err, "manifest");
    http_resp_clear(&resp);
    return ret;
  }
  *body = resp.body ? resp.body : xstrdup("");
  *len = resp.len;
  resp.body = NULL;
  *content_type = NULL;
  if (resp.content_type != NULL) {
    /* drop parameters ("; charset=utf-8") */
    resp.content_type[strcspn(resp.content_type, "; ")] = '\0';
    *content_type = steal_ptr(&resp.content_type);
  }
  http_resp_clear(&resp);
  return 0;
}

/* --- parallel blob downloads --- */

struct transfer {
  struct registry *r;
  struct blob_fetch *blob;
  struct digest_ctx *dg;
  uint64_t got;          /* bytes written and hashed so far */
  uint64_t attempt_start; /* got when this attempt started (Range asked from there) */
  int attempts;
  bool first_write;
  bool overflow;
  int write_errno;
  long status;
  CURL *easy;
  struct curl_slist *headers;
  char *url;
  struct http_resp hdrs; /* headers only */
  bool done;
};

static size_t blob_write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
  struct transfer *t = ud;
  size_t n = size * nmemb;
  if (t->first_write) {
    t->first_write = false;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->status == 200 && t->got > 0) {
      /* The server ignored our Range: start over. */
      if (ftruncate(t->blob->fd, 0) < 0 || lseek(t->blob->fd, 0, SEEK_SET) < 0) {
        t->write_errno = errno;
        return 0;
      }
      digest_reset(t->dg);
      t->got = 0;
    }
  }
  if (t->status != 200 && t->status != 206)
    return n; /* an error body: ignore it */
  if (t->got + n > (uint64_t)t->blob->size) {
    t->overflow = true;
    return 0;
  }
  if (write_all(t->blob->fd, data, n) < 0) {
    t->write_errno = errno;
    return 0;
  }
  digest_update(t->dg, data, n);
  t->got += n;
  return n;
}

static void transfer_setup(struct transfer *t)
{
  struct registry *r = t->r;
  if (t->easy != NULL)
    curl_easy_cleanup(t->easy);
  curl_slist_free_all(t->headers);
  t->headers = with_auth(r, NULL);
  t->easy = new_easy(r);
  t->first_write = true;
  t->status = 0;
  t->attempt_start = t->got;
  http_resp_clear(&t->hdrs);
  t->hdrs.max = 1 << 16;
  curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
  curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, blob_write_cb);
  curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, &t->hdrs);
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
  if (t->got > 0) {
    char range[64];
    snprintf(range, sizeof(range), "%llu-", (unsigned long long)t->got);
    curl_easy_setopt(t->easy, CURLOPT_RANGE, range);
  }
}

static void short_digest(const char *digest, char out[20])
{
  snprintf(out, 20, "%.19s", digest);
}

struct progress {
  FILE *out;
  bool tty, quiet;
  size_t lines; /* lines drawn last time (tty) */
  struct timespec last;
};

static void progress_draw(struct progress *p, struct transfer *ts, size_t n, bool force)
{
  if (p->quiet || !p->tty)
    return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long ms = (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000;
  if (!force && ms < 150)
    return;
  p->last = now;
  if (p->lines > 0)
    fprintf(p->out, "\033[%zuA", p->lines);
  for (size_t i = 0; i < n; i++) {
    char sd[20], a[32], b[32];
    short_digest(ts[i].blob->digest, sd);
    human_size((double)ts[i].got, a, sizeof(a));
    human_size((double)ts[i].blob->size, b, sizeof(b));
    const char *state = ts[i].done ? "done" : ts[i].easy ? "" : "waiting";
    int pct = ts[i].blob->size > 0 ? (int)(ts[i].got * 100 / (uint64_t)ts[i].blob->size) : 100;
    fprintf(p->out, "\r\033[KCopying blob %s  %9s / %-9s %3d%% %s\n", sd + 7, a, b, pct, state);
  }
  p->lines = n;
  fflush(p->out);
}

static void progress_line(struct progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress_line(struct progress *p, const char *fmt, ...)
{
  if (p->quiet || p->tty)
    return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(p->out, fmt, ap);
  va_end(ap);
  fputc('\n', p->out);
  fflush(p->out);
}

static void transfer_clear(struct transfer *t)
{
  if (t->easy != NULL)
    curl_easy_cleanup(t->easy);
  t->easy = NULL;
  curl_slist_free_all(t->headers);
  t->headers = NULL;
  digest_free(t->dg);
  t->dg = NULL;
  free(t->url);
  t->url = NULL;
  http_resp_clear(&t->hdrs);
}

/* What to do with a finished attempt: 1 done, 0 retry, -1 failed (err set). */
static int transfer_finished(struct transfer *t, CURLcode rc, guise_error **err)
{
  const char *d = t->blob->digest;
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (t->overflow)
    return guise_fail(err, 0, "blob %s: more data than the expected %lld bytes", d,
                      (long long)t->blob->size);
  if (t->write_errno != 0)
    return guise_fail(err, t->write_errno, "blob %s: write", d);
  if (rc == CURLE_OK && status == 401 && t->attempts <= MAX_ATTEMPTS) {
    if (authenticate(t->r, t->hdrs.www_auth, err) < 0)
      return guise_error_prefix(err, "blob %s", d);
    return 0;
  }
  bool complete = rc == CURLE_OK && (status == 200 || status == 206);
  if (complete && t->got == (uint64_t)t->blob->size) {
    char got[DIGEST_STR_MAX];
    digest_peek(t->dg, got);
    if (strcmp(got, d) != 0)
      return guise_fail(err, 0, "blob %s: digest mismatch (got %s)", d, got);
    return 1;
  }
  bool transient = rc != CURLE_OK ? curl_transient(rc) : status_transient(status);
  if (complete) {
    /* The server ended the body early without a transport error: a truncated blob.  Retry in
     * case it was a hiccup, resuming where it stopped. */
    transient = true;
  }
  if (transient && t->attempts < MAX_ATTEMPTS)
    return 0;
  if (complete)
    return guise_fail(err, 0, "blob %s: truncated: got %llu of %lld bytes", d,
                      (unsigned long long)t->got, (long long)t->blob->size);
  if (rc != CURLE_OK) {
    if (rc == CURLE_PARTIAL_FILE)
      return guise_fail(err, 0, "blob %s: truncated: got %llu of %lld bytes (%s)", d,
                        (unsigned long long)t->got, (long long)t->blob->size,
                        curl_easy_strerror(rc));
    return guise_fail(err, 0, "blob %s: %s", d, curl_easy_strerror(rc));
  }
  if (status == 404)
    return guise_fail(err, 0, "blob %s: not found in %s/%s", d, t->r->host, t->r->repository);
  struct http_resp fake = {.status = status};
  _cleanup_free_ char *what = xasprintf("blob %s", d);
  return fail_status(t->r, &fake, err, what);
}

int registry_fetch_blobs(struct registry *r, struct blob_fetch *blobs, size_t n,
                         guise_error **err)
{
  if (n == 0)
    return 0;
  long parallel = 3;
  const char *env = getenv("GUISE_PARALLEL");
  if (env != NULL && strtol(env, NULL, 10) > 0)
    parallel = strtol(env, NULL, 10);
  struct transfer *ts = calloc(n, sizeof(*ts));
  if (ts == NULL)
    abort();
  struct progress prog = {.out = r->opts.progress ? r->opts.progress : stderr,
                          .quiet = r->opts.quiet};
  prog.tty = isatty(fileno(prog.out)) && getenv("TERM") != NULL &&
             strcmp(getenv("TERM"), "dumb") != 0;
  CURLM *m = curl_multi_init();
  if (m == NULL)
    abort();
  for (size_t i = 0; i < n; i++) {
    ts[i].r = r;
    ts[i].blob = &blobs[i];
    ts[i].dg = digest_new();
    ts[i].url = v2_url(r, "%s/blobs/%s", r->repository, blobs[i].digest);
    ts[i].hdrs.max = 1 << 16;
  }
  size_t next = 0, running_count = 0, done_count = 0;
  int ret = 0;
  /* retry queue: transfers waiting for a backoff to end */
  struct timespec *retry_at = calloc(n, sizeof(*retry_at));
  bool *waiting = calloc(n, sizeof(*waiting));
  if (retry_at == NULL || waiting == NULL)
    abort();
  while (done_count < n && ret == 0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* Restart transfers whose backoff ended, then start new ones up to the limit. */
    for (size_t i = 0; i < n; i++) {
      if (waiting[i] && (now.tv_sec > retry_at[i].tv_sec ||
                         (now.tv_sec == retry_at[i].tv_sec && now.tv_nsec >= retry_at[i].tv_nsec))) {
        waiting[i] = false;
        transfer_setup(&ts[i]);
        curl_multi_add_handle(m, ts[i].easy);
        running_count++;
      }
    }
    while (next < n && (long)running_count < parallel) {
      struct transfer *t = &ts[next++];
      char sd[20];
      short_digest(t->blob->digest, sd);
      progress_line(&prog, "Copying blob %s", sd + 7);
      t->attempts = 1;
      transfer_setup(t);
      curl_multi_add_handle(m, t->easy);
      running_count++;
    }
    int still = 0;
    CURLMcode mc = curl_multi_perform(m, &still);
    if (mc != CURLM_OK) {
      ret = guise_fail(err, 0, "blob download: %s", curl_multi_strerror(mc));
      break;
    }
    int left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      struct transfer *t = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
      CURLcode rc = msg->data.result;
      curl_multi_remove_handle(m, t->easy);
      running_count--;
      int fin = transfer_finished(t, rc, err);
      if (fin < 0) {
        ret = -1;
        break;
      }
      if (fin == 1) {
        t->done = true;
        done_count++;
        curl_easy_cleanup(t->easy);
        t->easy = NULL;
        char sd[20];
        short_digest(t->blob->digest, sd);
        progress_line(&prog, "Copying blob %s done", sd + 7);
        continue;
      }
      /* Retry: immediately after a re-authentication, else after a backoff.  A transfer that
       * made progress does not count as a failed attempt. */
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      curl_easy_cleanup(t->easy);
      t->easy = NULL;
      size_t idx = (size_t)(t - ts);
      if (t->got > t->attempt_start && status != 401)
        t->attempts = 1;
      else
        t->attempts++;
      long base = 250;
      const char *e = getenv("GUISE_RETRY_DELAY_MS");
      if (e != NULL)
        base = strtol(e, NULL, 10);
      long ms = status == 401 ? 0 : base << (t->attempts > 1 ? t->attempts - 2 : 0);
      if (t->hdrs.retry_after != NULL) {
        long s = strtol(t->hdrs.retry_after, NULL, 10);
        if (s > 0 && s <= 30 && s * 1000 > ms)
          ms = s * 1000;
      }
      clock_gettime(CLOCK_MONOTONIC, &retry_at[idx]);
      retry_at[idx].tv_sec += ms / 1000;
      retry_at[idx].tv_nsec += (ms % 1000) * 1000000L;
      if (retry_at[idx].tv_nsec >= 1000000000L) {
        retry_at[idx].tv_sec++;
        retry_at[idx].tv_nsec -= 1000000000L;
      }
      waiting[idx] = true;
    }
    if (ret < 0)
      break;
    progress_draw(&prog, ts, n, false);
    if (done_count < n) {
      int numfds;
      curl_multi_poll(m, NULL, 0, running_count > 0 ? 100 : 20, &numfds);
    }
  }
  if (ret == 0)
    progress_draw(&prog, ts, n, true);
  for (size_t i = 0; i < n; i++) {
    if (ts[i].easy != NULL)
      curl_multi_remove_handle(m, ts[i].easy);
    transfer_clear(&ts[i]);
  }
  curl_multi_cleanup(m);
  free(ts);
  free(retry_at);
  free(waiting);
  return ret;
}

/* --- push --- */

int registry_blob_exists(struct registry *r, const char *digest, guise_error **err)
{
  _cleanup_free_ char *url = v2_url(r, "%s/blobs/%s", r->repository, digest);
  struct http_req q = {.method = "HEAD", .url = url, .body_fd = -1, .follow = true};
  _cleanup_resp_ struct http_resp resp = {.max = 1 << 16};
  if (http_do(r, &q, &resp, err) < 0)
    return guise_error_prefix(err, "blob %s", digest);
  long st = resp.status;
  int ret = 0;
  if (st == 200)
    ret = 1;
  else if (st == 404)
    ret = 0;
  else {
    _cleanup_free_ char *what = xasprintf("HEAD blob %s", digest);
    ret = fail_status(r, &resp, err, what);
  }
  http_resp_clear(&resp);
  return ret;
}

/* Absolute URL of an upload Location (registries may send a path). */
static char *absolute_location(struct registry *r, const char *loc)
{
  if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0)
    return xstrdup(loc);
  return xasprintf("%s://%s%s%s", r->scheme, r->host, loc[0] == '/' ? "" : "/", loc);
}

static char *with_query(const char *url, const char *param)
{
  return xasprintf("%s%c%s", url, strchr(url, '?') ? '&' : '?', param);
}

static int upload_once(struct registry *r, const char *digest, int64_t size, int fd,
                       const char *mount_from, bool *mounted, guise_error **err)
{
  _cleanup_free_ char *start = NULL;
  if (mount_from != NULL) {
    _cleanup_free_ char *ed = url_escape(digest), *ef = url_escape(mount_from);
    start = v2_url(r, "%s/blobs/uploads/?mount=%s&from=%s", r->repository, ed, ef);
  } else {
    start = v2_url(r, "%s/blobs/uploads/", r->repository);
  }
  struct http_req q = {.method = "POST", .url = start, .body_fd = -1};
  _cleanup_resp_ struct http_resp resp = {.max = 1 << 16};
  if (http_do(r, &q, &resp, err) < 0)
    return -1;
  if (mount_from != NULL && resp.status == 201) {
    http_resp_clear(&resp);
    if (mounted)
      *mounted = true;
    return 0;
  }
  if (resp.status != 202 || resp.location == NULL) {
    int ret = fail_status(r, &resp, err, "start upload");
    http_resp_clear(&resp);
    return ret;
  }
  _cleanup_free_ char *loc = absolute_location(r, resp.location);
  http_resp_clear(&resp);

  int64_t chunk = 32ll << 20;
  const char *env = getenv("GUISE_PUSH_CHUNK_SIZE");
  if (env != NULL && strtoll(env, NULL, 10) > 0)
    chunk = strtoll(env, NULL, 10);
  int64_t off = 0;
  if (size > chunk) {
    /* Chunked: PATCH each chunk with its Content-Range, following the new Location. */
    while (off < size) {
      int64_t len = size - off < chunk ? size - off : chunk;
      char cr[96];
      snprintf(cr, sizeof(cr), "Content-Range: %lld-%lld", (long long)off,
               (long long)(off + len - 1));
      struct curl_slist *h = curl_slist_append(NULL, cr);
      h = curl_slist_append(h, "Content-Type: application/octet-stream");
      struct http_req p = {.method = "PATCH", .url = loc, .headers = h, .body_fd = fd,
                           .body_off = off, .body_len = (size_t)len};
      CURLcode rc;
      int ret = http_once(r, &p, true, &resp, &rc, err);
      curl_slist_free_all(h);
      if (ret < 0)
        return -1;
      if (resp.status != 202 && resp.status != 204) {
        ret = fail_status(r, &resp, err, "upload chunk");
        http_resp_clear(&resp);
        return ret;
      }
      if (resp.location != NULL) {
        free(loc);
        loc = absolute_location(r, resp.location);
      }
      http_resp_clear(&resp);
      off += len;
    }
  }
  _cleanup_free_ char *dq = xasprintf("digest=%s", digest);
  _cleanup_free_ char *put = with_query(loc, dq);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/octet-stream");
  struct http_req p = {.method = "PUT", .url = put, .headers = h, .body_fd = off < size ? fd : -1,
                       .body_off = off, .body_len = (size_t)(size - off)};
  CURLcode rc;
  int ret = http_once(r, &p, true, &resp, &rc, err);
  curl_slist_free_all(h);
  if (ret < 0)
    return -1;
  if (resp.status != 201 && resp.status != 204)
    ret = fail_status(r, &resp, err, "finish upload");
  http_resp_clear(&resp);
  return ret;
}

int registry_push_blob(struct registry *r, const char *digest, int64_t size, int fd,
                       const char *mount_from, bool *mounted, guise_error **err)
{
  if (mounted)
    *mounted = false;
  if (mount_from != NULL && strcmp(mount_from, r->repository) == 0)
    mount_from = NULL;
  /* A failed upload session is not resumable in general: start the whole blob over. */
  for (int attempt = 1;; attempt++) {
    _cleanup_error_ guise_error *e = NULL;
    if (upload_once(r, digest, size, fd, mount_from, mounted, &e) == 0)
      return 0;
    if (attempt >= 3) {
      *err = steal_ptr(&e);
      return guise_error_prefix(err, "blob %s", digest);
    }
    backoff(attempt, NULL);
  }
}

int registry_put_manifest(struct registry *r, const char *reference, const char *media_type,
                          const char *body, size_t len, guise_error **err)
{
  _cleanup_free_ char *url = v2_url(r, "%s/manifests/%s", r->repository, reference);
  _cleanup_free_ char *ct = xasprintf("Content-Type: %s", media_type);
  struct curl_slist *h = curl_slist_append(NULL, ct);
  struct http_req q = {.method = "PUT", .url = url, .headers = h, .body = body,
                       .body_len = len, .body_fd = -1};
  _cleanup_resp_ struct http_resp resp = {.max = 1 << 16};
  int ret = http_do(r, &q, &resp, err);
  curl_slist_free_all(h);
  if (ret < 0)
    return guise_error_prefix(err, "manifest %s", reference);
  if (resp.status != 201 && resp.status != 200 && resp.status != 202) {
    _cleanup_free_ char *what = xasprintf("PUT manifest %s", reference);
    ret = fail_status(r, &resp, err, what);
  }
  http_resp_clear(&resp);
  return ret;
}
