#include "image/auth.h"
#include "image/manifest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"


static char *xstrndup(const char *s, size_t n)
{
  char *r = strndup(s, n);
  if (r == NULL)
    abort();
  return r;
}

int auth_file_path(char **out, guise_error **err)
{
  const char *env = getenv("REGISTRY_AUTH_FILE");
  if (env != NULL && *env != '\0') {
    *out = xstrndup(env, strlen(env));
    return 0;
  }
  const char *rt = getenv("XDG_RUNTIME_DIR");
  if (rt == NULL || *rt == '\0')
    return guise_fail(err, 0, "XDG_RUNTIME_DIR is not set: no place for auth.json");
  if (asprintf(out, "%s/containers/auth.json", rt) < 0)
    abort();
  return 0;
}

char *auth_encode_basic(const char *user, const char *password)
{
  _cleanup_free_ char *plain = NULL;
  if (asprintf(&plain, "%s:%s", user, password) < 0)
    abort();
  size_t n = strlen(plain);
  char *out = malloc(4 * ((n + 2) / 3) + 1);
  if (out == NULL)
    abort();
  EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, (int)n);
  return out;
}

int auth_decode_basic(const char *b64, char **user, char **password, guise_error **err)
{
  size_t n = strlen(b64);
  if (n == 0 || n % 4 != 0)
    return guise_fail(err, 0, "malformed base64 credentials");
  _cleanup_free_ unsigned char *buf = malloc(n / 4 * 3 + 1);
  if (buf == NULL)
    abort();
  int len = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
  if (len < 0)
    return guise_fail(err, 0, "malformed base64 credentials");
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  if (n >= 1 && b64[n - 1] == '=')
    len--;
  if (n >= 2 && b64[n - 2] == '=')
    len--;
  buf[len] = '\0';
  char *colon = memchr(buf, ':', (size_t)len);
  if (colon == NULL)
    return guise_fail(err, 0, "credentials are not user:password");
  *user = xstrndup((char *)buf, (size_t)(colon - (char *)buf));
  *password = xstrndup(colon + 1, (size_t)(len - (colon + 1 - (char *)buf)));
  return 0;
}

/* auths[host], also under "https://host" and "http://host[/v1/]" (docker login's keys). */
static json_t *find_entry(json_t *auths, const char *host, const char **key_out)
{
  const char *key;
  json_t *val;
  json_object_foreach(auths, key, val)
  {
    const char *k = key;
    if (strncmp(k, "https://", 8) == 0)
      k += 8;
    else if (strncmp(k, "http://", 7) == 0)
      k += 7;
    size_t hl = strlen(host);
    if (strncmp(k, host, hl) == 0 && (k[hl] == '\0' || k[hl] == '/')) {
      if (key_out)
        *key_out = key;
      return val;
    }
  }
  /* Docker Hub's credentials live under its v1 index name. */
  if (strcmp(host, "docker.io") == 0)
    return find_entry(auths, "index.docker.io", key_out);
  return NULL;
}

static int lookup_in(const char *path, const char *host, char **user, char **password,
                     guise_error **err)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  _cleanup_error_ guise_error *rerr = NULL;
  if (read_file_at(AT_FDCWD, path, &data, &len, &rerr) < 0) {
    if (rerr->errnum == ENOENT || rerr->errnum == ENOTDIR)
      return 0;
    *err = steal_ptr(&rerr);
    return -1;
  }
  json_error_t je;
  _cleanup_json_ json_t *j = json_loadb(data, len, 0, &je);
  if (j == NULL)
    return guise_fail(err, 0, "%s: invalid JSON at line %d: %s", path, je.line, je.text);
  json_t *entry = find_entry(json_object_get(j, "auths"), host, NULL);
  const char *b64 = json_string_value(json_object_get(entry, "auth"));
  if (b64 == NULL || *b64 == '\0')
    return 0;
  if (auth_decode_basic(b64, user, password, err) < 0)
    return guise_error_prefix(err, "%s: entry %s", path, host);
  return 1;
}

int auth_lookup(const char *host, char **user, char **password, guise_error **err)
{
  _cleanup_free_ char *path = NULL;
  _cleanup_error_ guise_error *perr = NULL;
  if (auth_file_path(&path, &perr) == 0) {
    int r = lookup_in(path, host, user, password, err);
    if (r != 0)
      return r;
  }
  const char *home = getenv("HOME");
  if (home == NULL || *home == '\0')
    return 0;
  _cleanup_free_ char *docker = NULL;
  const char *dc = getenv("DOCKER_CONFIG");
  if (dc != NULL && *dc != '\0') {
    if (asprintf(&docker, "%s/config.json", dc) < 0)
      abort();
  } else if (asprintf(&docker, "%s/.docker/config.json", home) < 0) {
    abort();
  }
  return lookup_in(docker, host, user, password, err);
}

/* Read auth.json (an empty object when missing), let fn change it, write it back atomically. */
static int update_auth_file(const char *host, const char *user, const char *password,
                            int *removed, guise_error **err)
{
  _cleanup_free_ char *path = NULL;
  if (auth_file_path(&path, err) < 0)
    return -1;
  _cleanup_free_ char *dir = xstrndup(path, strlen(path));
  char *slash = strrchr(dir, '/');
  if (slash != NULL && slash != dir) {
    *slash = '\0';
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
      return guise_fail_errno(err, "create %s", dir);
  }
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  _cleanup_error_ guise_error *rerr = NULL;
  _cleanup_json_ json_t *j = NULL;
  if (read_file_at(AT_FDCWD, path, &data, &len, &rerr) < 0) {
    if (rerr->errnum != ENOENT) {
      *err = steal_ptr(&rerr);
      return -1;
    }
    j = json_object();
  } else {
    json_error_t je;
    j = json_loadb(data, len, 0, &je);
    if (j == NULL || !json_is_object(j))
      return guise_fail(err, 0, "%s: invalid JSON at line %d: %s", path, je.line, je.text);
  }
  json_t *auths = json_object_get(j, "auths");
  if (!json_is_object(auths)) {
    auths = json_object();
    json_object_set_new(j, "auths", auths);
  }
  if (removed != NULL) {
    const char *key = NULL;
    *removed = 0;
    while (find_entry(auths, host, &key) != NULL) {
      json_object_del(auths, key);
      *removed = 1;
    }
    if (!*removed)
      return 0;
  } else {
    const char *key = NULL;
    while (find_entry(auths, host, &key) != NULL)
      json_object_del(auths, key);
    _cleanup_free_ char *b64 = auth_encode_basic(user, password);
    json_object_set_new(auths, host, json_pack("{s:s}", "auth", b64));
  }
  _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
  if (text == NULL)
    abort();
  _cleanup_free_ char *tmp = NULL;
  if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
    abort();
  _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return guise_fail_errno(err, "create %s", tmp);
  size_t tl = strlen(text);
  if (write_all(fd, text, tl) < 0 || write_all(fd, "\n", 1) < 0 || fsync(fd) < 0) {
    int e = errno;
    unlink(tmp);
    return guise_fail(err, e, "write %s", tmp);
  }
  if (rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    return guise_fail(err, e, "rename %s to %s", tmp, path);
  }
  return 0;
}

int auth_store(const char *host, const char *user, const char *password, guise_error **err)
{
  return update_auth_file(host, user, password, NULL, err);
}

int auth_remove(const char *host, guise_error **err)
{
  int removed = 0;
  if (update_auth_file(host, NULL, NULL, &removed, err) < 0)
    return -1;
  return removed;
}

void www_auth_clear(struct www_auth *a)
{
  free(a->realm);
  free(a->service);
  free(a->scope);
  memset(a, 0, sizeof(*a));
}

int www_auth_parse(const char *header, struct www_auth *out, guise_error **err)
{
  memset(out, 0, sizeof(*out));
  if (header == NULL)
    return guise_fail(err, 0, "401 without a WWW-Authenticate header");
  const char *p = header;
  while (isspace((unsigned char)*p))
    p++;
  const char *scheme = p;
  while (*p && !isspace((unsigned char)*p))
    p++;
  size_t sl = (size_t)(p - scheme);
  if (sl == 6 && strncasecmp(scheme, "Bearer", 6) == 0)
    out->scheme = AUTH_BEARER;
  else if (sl == 5 && strncasecmp(scheme, "Basic", 5) == 0)
    out->scheme = AUTH_BASIC;
  else
    return guise_fail(err, 0, "unsupported authentication scheme '%.*s' in WWW-Authenticate",
                      (int)sl, scheme);
  /* auth-param list: name=token | name="quoted \"string\"", comma separated */
  for (;;) {
    while (isspace((unsigned char)*p) || *p == ',')
      p++;
    if (*p == '\0')
      break;
    const char *name = p;
    while (*p && *p != '=' && *p != ',' && !isspace((unsigned char)*p))
      p++;
    size_t nl = (size_t)(p - name);
    while (isspace((unsigned char)*p))
      p++;
    if (*p != '=') {
      www_auth_clear(out);
      return guise_fail(err, 0, "malformed WWW-Authenticate: '%s'", header);
    }
    p++;
    while (isspace((unsigned char)*p))
      p++;
    _cleanup_free_ char *value = malloc(strlen(p) + 1);
    if (value == NULL)
      abort();
    size_t vl = 0;
    if (*p == '"') {
      p++;
      while (*p && *p != '"') {
        if (*p == '\\' && p[1] != '\0')
          p++;
        value[vl++] = *p++;
      }
      if (*p != '"') {
        www_auth_clear(out);
        return guise_fail(err, 0, "malformed WWW-Authenticate (unterminated quote): '%s'",
                          header);
      }
      p++;
    } else {
      while (*p && *p != ',' && !isspace((unsigned char)*p))
        value[vl++] = *p++;
    }
    value[vl] = '\0';
    char **slot = NULL;
    if (nl == 5 && strncasecmp(name, "realm", 5) == 0)
      slot = &out->realm;
    else if (nl == 7 && strncasecmp(name, "service", 7) == 0)
      slot = &out->service;
    else if (nl == 5 && strncasecmp(name, "scope", 5) == 0)
      slot = &out->scope;
    if (slot != NULL) {
      free(*slot);
      *slot = steal_ptr(&value);
    }
  }
  if (out->scheme == AUTH_BEARER && (out->realm == NULL || out->realm[0] == '\0')) {
    www_auth_clear(out);
    return guise_fail(err, 0, "401 without a realm in WWW-Authenticate");
  }
  return 0;
}
