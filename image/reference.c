#include "image/reference.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/digest.h"
#include "util/cleanup.h"

#define DEFAULT_REGISTRY "docker.io"
#define DEFAULT_TAG "latest"

static char *xstrdup(const char *s)
{
  if (s == NULL)
    return NULL;
  char *r = strdup(s);
  if (r == NULL)
    abort();
  return r;
}

static char *xstrndup(const char *s, size_t n)
{
  char *r = strndup(s, n);
  if (r == NULL)
    abort();
  return r;
}

void image_ref_free(struct image_ref *ref)
{
  if (ref == NULL)
    return;
  free(ref->registry);
  free(ref->repository);
  free(ref->tag);
  free(ref->digest);
  free(ref->path);
  free(ref->path_ref);
  free(ref);
}

bool image_ref_valid_tag(const char *tag)
{
  size_t n = strlen(tag);
  if (n == 0 || n > 128)
    return false;
  if (!(isalnum((unsigned char)tag[0]) || tag[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)tag[i]) || tag[i] == '_' || tag[i] == '.' || tag[i] == '-'))
      return false;
  return true;
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [._] | __ | -+ */
static bool valid_component(const char *c, size_t n)
{
  if (n == 0 || !(islower((unsigned char)c[0]) || isdigit((unsigned char)c[0])))
    return false;
  if (!(islower((unsigned char)c[n - 1]) || isdigit((unsigned char)c[n - 1])))
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = c[i];
    if (islower((unsigned char)ch) || isdigit((unsigned char)ch))
      continue;
    if (ch == '-')
      continue;
    if (ch == '.' || ch == '_') {
      /* "__" is the only doubled separator; no ".." or "._" */
      char next = c[i + 1];
      if (ch == '_' && next == '_') {
        i++;
        if (!(islower((unsigned char)c[i + 1]) || isdigit((unsigned char)c[i + 1])))
          return false;
        continue;
      }
      if (!(islower((unsigned char)next) || isdigit((unsigned char)next)))
        return false;
      continue;
    }
    return false;
  }
  return true;
}

bool image_ref_valid_repository(const char *repo)
{
  if (repo == NULL || *repo == '\0' || strlen(repo) > 255)
    return false;
  const char *p = repo;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (!valid_component(p, n))
      return false;
    if (slash == NULL)
      return true;
    p = slash + 1;
  }
}

bool image_ref_valid_registry(const char *host)
{
  if (host == NULL || *host == '\0')
    return false;
  const char *p = host;
  if (*p == '[') { /* [ipv6]:port */
    const char *close = strchr(p, ']');
    if (close == NULL || close == p + 1)
      return false;
    for (const char *q = p + 1; q < close; q++)
      if (!(isxdigit((unsigned char)*q) || *q == ':' || *q == '.'))
        return false;
    p = close + 1;
  } else {
    const char *start = p;
    while (isalnum((unsigned char)*p) || *p == '.' || *p == '-')
      p++;
    if (p == start || *start == '-' || *start == '.' || p[-1] == '.' || p[-1] == '-')
      return false;
  }
  if (*p == '\0')
    return true;
  if (*p != ':' || p[1] == '\0')
    return false;
  for (p++; *p; p++)
    if (!isdigit((unsigned char)*p))
      return false;
  return true;
}

bool image_ref_host_is_loopback(const char *host)
{
  if (host == NULL)
    return false;
  size_t n = strcspn(host, ":");
  if (host[0] == '[')
    return strncmp(host, "[::1]", 5) == 0;
  if (n == 9 && strncmp(host, "localhost", 9) == 0)
    return true;
  return strncmp(host, "127.", 4) == 0;
}

int image_ref_parse_name(const char *text, struct image_ref *out, guise_error **err)
{
  if (text == NULL || *text == '\0')
    return guise_fail(err, 0, "empty image name");
  if (strlen(text) > 4096)
    return guise_fail(err, 0, "image name too long");
  _cleanup_free_ char *name = xstrdup(text);
  _cleanup_free_ char *digest = NULL, *tag = NULL, *registry = NULL, *repo = NULL;

  char *at = strchr(name, '@');
  if (at != NULL) {
    *at = '\0';
    if (!digest_valid(at + 1))
      return guise_fail(err, 0, "%s: invalid digest '%s' (expected sha256:<64 hex digits>)", text,
                        at + 1);
    digest = xstrdup(at + 1);
  }
  char *last_slash = strrchr(name, '/');
  char *colon = strrchr(last_slash ? last_slash : name, ':');
  if (colon != NULL) {
    *colon = '\0';
    if (!image_ref_valid_tag(colon + 1))
      return guise_fail(err, 0, "%s: invalid tag '%s'", text, colon + 1);
    tag = xstrdup(colon + 1);
  }
  char *slash = strchr(name, '/');
  bool explicit = false;
  if (slash != NULL && (memchr(name, '.', (size_t)(slash - name)) != NULL ||
                        memchr(name, ':', (size_t)(slash - name)) != NULL ||
                        memchr(name, '[', (size_t)(slash - name)) != NULL ||
                        (slash - name == 9 && strncmp(name, "localhost", 9) == 0))) {
    registry = xstrndup(name, (size_t)(slash - name));
    repo = xstrdup(slash + 1);
    explicit = true;
    if (!image_ref_valid_registry(registry))
      return guise_fail(err, 0, "%s: invalid registry '%s'", text, registry);
  } else {
    registry = xstrdup(DEFAULT_REGISTRY);
    if (slash == NULL) {
      if (asprintf(&repo, "library/%s", name) < 0)
        abort();
    } else {
      repo = xstrdup(name);
    }
  }
  /* Docker Hub's canonical name is docker.io */
  if (strcmp(registry, "index.docker.io") == 0 || strcmp(registry, "registry-1.docker.io") == 0) {
    free(registry);
    registry = xstrdup(DEFAULT_REGISTRY);
  }
  if (!image_ref_valid_repository(repo))
    return guise_fail(err, 0,
                      "%s: invalid repository name '%s' (lowercase letters, digits and . _ - "
                      "separated by /)",
                      text, repo);
  if (tag == NULL && digest == NULL)
    tag = xstrdup(DEFAULT_TAG);
  out->registry = steal_ptr(&registry);
  out->repository = steal_ptr(&repo);
  out->tag = steal_ptr(&tag);
  out->digest = steal_ptr(&digest);
  out->registry_explicit = explicit;
  return 0;
}

static const struct {
  const char *prefix;
  enum image_transport t;
} transports[] = {
    {"docker://", TRANSPORT_DOCKER},
    {"oci-archive:", TRANSPORT_OCI_ARCHIVE},
    {"docker-archive:", TRANSPORT_DOCKER_ARCHIVE},
    {"oci:", TRANSPORT_OCI},
};

const char *image_transport_name(enum image_transport t)
{
  switch (t) {
  case TRANSPORT_NAME:
    return "name";
  case TRANSPORT_DOCKER:
    return "docker";
  case TRANSPORT_OCI:
    return "oci";
  case TRANSPORT_OCI_ARCHIVE:
    return "oci-archive";
  case TRANSPORT_DOCKER_ARCHIVE:
    return "docker-archive";
  }
  return "?";
}

int image_ref_parse(const char *text, struct image_ref **out, guise_error **err)
{
  struct image_ref *ref = calloc(1, sizeof(*ref));
  if (ref == NULL)
    abort();
  _cleanup_image_ref_ struct image_ref *owned = ref;
  if (text == NULL || *text == '\0')
    return guise_fail(err, 0, "empty image reference");
  ref->transport = TRANSPORT_NAME;
  const char *rest = text;
  for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
    size_t n = strlen(transports[i].prefix);
    if (strncmp(text, transports[i].prefix, n) == 0) {
      ref->transport = transports[i].t;
      rest = text + n;
      break;
    }
  }
  switch (ref->transport) {
  case TRANSPORT_NAME:
  case TRANSPORT_DOCKER:
    if (ref->transport == TRANSPORT_DOCKER && rest[0] == '/')
      return guise_fail(err, 0, "%s: too many slashes after docker:", text);
    if (image_ref_parse_name(rest, ref, err) < 0)
      return -1;
    break;
  case TRANSPORT_OCI:
  case TRANSPORT_OCI_ARCHIVE:
  case TRANSPORT_DOCKER_ARCHIVE: {
    /* The path ends at the first ':' (as in containers/image): paths with ':' are not
     * expressible, references with ':' (name:tag in docker-archive) are. */
    const char *colon = strchr(rest, ':');
    size_t plen = colon ? (size_t)(colon - rest) : strlen(rest);
    if (plen == 0)
      return guise_fail(err, 0, "%s: missing path after %s:", text,
                        image_transport_name(ref->transport));
    ref->path = xstrndup(rest, plen);
    if (colon != NULL) {
      if (colon[1] == '\0')
        return guise_fail(err, 0, "%s: empty reference after the path", text);
      ref->path_ref = xstrdup(colon + 1);
      if (ref->transport == TRANSPORT_DOCKER_ARCHIVE) {
        /* docker-archive:FILE:NAME[:TAG] or FILE:@INDEX */
        if (ref->path_ref[0] != '@' && image_ref_parse_name(ref->path_ref, ref, err) < 0)
          return guise_error_prefix(err, "%s", text);
      } else {
        for (const char *p = ref->path_ref; *p; p++)
          if (!(isalnum((unsigned char)*p) || strchr("._-:/@+", *p) != NULL))
            return guise_fail(err, 0, "%s: invalid reference '%s'", text, ref->path_ref);
      }
    }
    break;
  }
  }
  *out = steal_ptr(&owned);
  return 0;
}

char *image_ref_name(const struct image_ref *ref)
{
  char *s = NULL;
  if (ref->repository == NULL)
    return NULL;
  int r;
  if (ref->tag != NULL)
    r = asprintf(&s, "%s/%s:%s", ref->registry, ref->repository, ref->tag);
  else
    r = asprintf(&s, "%s/%s@%s", ref->registry, ref->repository, ref->digest);
  if (r < 0)
    abort();
  return s;
}

const char *image_ref_registry_ref(const struct image_ref *ref)
{
  return ref->digest != NULL ? ref->digest : ref->tag;
}
