#include "image/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "image/digest.h"
#include "util/cleanup.h"


static char *dup_or_null(const char *s)
{
  if (s == NULL)
    return NULL;
  char *r = strdup(s);
  if (r == NULL)
    abort();
  return r;
}

json_t *json_parse_named(const char *what, const char *data, size_t len, guise_error **err)
{
  json_error_t je;
  json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL) {
    guise_fail(err, 0, "%s: invalid JSON at line %d: %s", what, je.line, je.text);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    guise_fail(err, 0, "%s: not a JSON object", what);
    return NULL;
  }
  return j;
}

void descriptor_clear(struct oci_descriptor *d)
{
  free(d->media_type);
  free(d->digest);
  free(d->os);
  free(d->architecture);
  free(d->variant);
  memset(d, 0, sizeof(*d));
}

static int parse_descriptor(const char *what, json_t *j, struct oci_descriptor *d,
                            guise_error **err)
{
  if (!json_is_object(j))
    return guise_fail(err, 0, "%s: not an object", what);
  json_t *mt = json_object_get(j, "mediaType");
  json_t *dg = json_object_get(j, "digest");
  json_t *sz = json_object_get(j, "size");
  if (mt != NULL && !json_is_string(mt))
    return guise_fail(err, 0, "%s: mediaType is not a string", what);
  if (!json_is_string(dg))
    return guise_fail(err, 0, "%s: missing digest", what);
  if (!digest_valid(json_string_value(dg)))
    return guise_fail(err, 0, "%s: unsupported or malformed digest '%s'", what,
                      json_string_value(dg));
  if (!json_is_integer(sz) || json_integer_value(sz) < 0)
    return guise_fail(err, 0, "%s: missing or negative size", what);
  d->media_type = dup_or_null(mt ? json_string_value(mt) : NULL);
  d->digest = dup_or_null(json_string_value(dg));
  d->size = json_integer_value(sz);
  json_t *pl = json_object_get(j, "platform");
  if (json_is_object(pl)) {
    d->os = dup_or_null(json_string_value(json_object_get(pl, "os")));
    d->architecture = dup_or_null(json_string_value(json_object_get(pl, "architecture")));
    d->variant = dup_or_null(json_string_value(json_object_get(pl, "variant")));
  }
  return 0;
}

int manifest_detect(const char *data, size_t len, const char *content_type,
                    enum manifest_kind *kind, guise_error **err)
{
  _cleanup_json_ json_t *j = json_parse_named("manifest", data, len, err);
  if (j == NULL)
    return -1;
  const char *mt = json_string_value(json_object_get(j, "mediaType"));
  if (mt == NULL || *mt == '\0')
    mt = content_type;
  if (mt != NULL) {
    if (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0) {
      *kind = MANIFEST_KIND_INDEX;
      return 0;
    }
    if (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0) {
      *kind = MANIFEST_KIND_MANIFEST;
      return 0;
    }
    if (strcmp(mt, MT_DOCKER_SCHEMA1) == 0 || strcmp(mt, MT_DOCKER_SCHEMA1_SIGNED) == 0)
      return guise_fail(err, 0, "manifest: Docker schema 1 (%s) is not supported", mt);
  }
  if (json_object_get(j, "manifests") != NULL) {
    *kind = MANIFEST_KIND_INDEX;
    return 0;
  }
  if (json_object_get(j, "layers") != NULL || json_object_get(j, "config") != NULL) {
    *kind = MANIFEST_KIND_MANIFEST;
    return 0;
  }
  if (json_integer_value(json_object_get(j, "schemaVersion")) == 1)
    return guise_fail(err, 0, "manifest: Docker schema 1 is not supported");
  return guise_fail(err, 0, "manifest: unknown media type '%s'", mt ? mt : "(none)");
}

void manifest_free(struct image_manifest *m)
{
  if (m == NULL)
    return;
  free(m->media_type);
  descriptor_clear(&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    descriptor_clear(&m->layers[i]);
  free(m->layers);
  free(m);
}

void index_free(struct image_index *idx)
{
  if (idx == NULL)
    return;
  free(idx->media_type);
  for (size_t i = 0; i < idx->n_manifests; i++)
    descriptor_clear(&idx->manifests[i]);
  free(idx->manifests);
  free(idx);
}

static bool known_layer_type(const char *mt)
{
  static const char *const known[] = {
      MT_OCI_LAYER,         MT_OCI_LAYER_GZIP,       MT_OCI_LAYER_ZSTD,
      MT_DOCKER_LAYER_GZIP, MT_DOCKER_LAYER_FOREIGN,
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  };
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (strcmp(mt, known[i]) == 0)
      return true;
  return false;
}

int manifest_parse(const char *data, size_t len, struct image_manifest **out, guise_error **err)
{
  _cleanup_json_ json_t *j = json_parse_named("manifest", data, len, err);
  if (j == NULL)
    return -1;
  json_int_t sv = json_integer_value(json_object_get(j, "schemaVersion"));
  if (sv != 2)
    return guise_fail(err, 0, "manifest: unsupported schemaVersion %lld", (long long)sv);
  const char *mt = json_string_value(json_object_get(j, "mediaType"));
  if (mt == NULL)
    mt = MT_OCI_MANIFEST; /* optional in OCI */
  if (strcmp(mt, MT_OCI_MANIFEST) != 0 && strcmp(mt, MT_DOCKER_MANIFEST) != 0)
    return guise_fail(err, 0, "manifest: unexpected mediaType '%s'", mt);
  struct image_manifest *m = calloc(1, sizeof(*m));
  if (m == NULL)
    abort();
  _cleanup_manifest_ struct image_manifest *owned = m;
  m->media_type = dup_or_null(mt);
  if (parse_descriptor("manifest: config", json_object_get(j, "config"), &m->config, err) < 0)
    return -1;
  json_t *layers = json_object_get(j, "layers");
  if (!json_is_array(layers))
    return guise_fail(err, 0, "manifest: missing layers array");
  m->n_layers = json_array_size(layers);
  m->layers = calloc(m->n_layers + 1, sizeof(*m->layers));
  if (m->layers == NULL)
    abort();
  for (size_t i = 0; i < m->n_layers; i++) {
    char what[64];
    snprintf(what, sizeof(what), "manifest: layer %zu", i);
    if (parse_descriptor(what, json_array_get(layers, i), &m->layers[i], err) < 0)
      return -1;
    const char *lmt = m->layers[i].media_type;
    if (lmt == NULL || !known_layer_type(lmt))
      return guise_fail(err, 0, "%s: unsupported media type '%s'", what, lmt ? lmt : "(none)");
  }
  *out = steal_ptr(&owned);
  return 0;
}

int index_parse(const char *data, size_t len, struct image_index **out, guise_error **err)
{
  _cleanup_json_ json_t *j = json_parse_named("index", data, len, err);
  if (j == NULL)
    return -1;
  json_int_t sv = json_integer_value(json_object_get(j, "schemaVersion"));
  if (sv != 2)
    return guise_fail(err, 0, "index: unsupported schemaVersion %lld", (long long)sv);
  const char *mt = json_string_value(json_object_get(j, "mediaType"));
  if (mt == NULL)
    mt = MT_OCI_INDEX;
  if (strcmp(mt, MT_OCI_INDEX) != 0 && strcmp(mt, MT_DOCKER_LIST) != 0)
    return guise_fail(err, 0, "index: unexpected mediaType '%s'", mt);
  json_t *ms = json_object_get(j, "manifests");
  if (!json_is_array(ms))
    return guise_fail(err, 0, "index: missing manifests array");
  struct image_index *idx = calloc(1, sizeof(*idx));
  if (idx == NULL)
    abort();
  _cleanup_index_ struct image_index *owned = idx;
  idx->media_type = dup_or_null(mt);
  idx->n_manifests = json_array_size(ms);
  idx->manifests = calloc(idx->n_manifests + 1, sizeof(*idx->manifests));
  if (idx->manifests == NULL)
    abort();
  for (size_t i = 0; i < idx->n_manifests; i++) {
    char what[64];
    snprintf(what, sizeof(what), "index: manifest %zu", i);
    if (parse_descriptor(what, json_array_get(ms, i), &idx->manifests[i], err) < 0)
      return -1;
  }
  *out = steal_ptr(&owned);
  return 0;
}

const char *platform_host_default(void)
{
  struct utsname u;
  if (uname(&u) == 0) {
    if (strcmp(u.machine, "aarch64") == 0 || strcmp(u.machine, "arm64") == 0)
      return "linux/arm64";
    if (strncmp(u.machine, "armv7", 5) == 0)
      return "linux/arm/v7";
    if (strcmp(u.machine, "ppc64le") == 0)
      return "linux/ppc64le";
    if (strcmp(u.machine, "s390x") == 0)
      return "linux/s390x";
    if (strcmp(u.machine, "riscv64") == 0)
      return "linux/riscv64";
    if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
      return "linux/386";
  }
  return "linux/amd64";
}

int index_select_platform(const struct image_index *idx, const char *platform,
                          const struct oci_descriptor **out, guise_error **err)
{
  if (platform == NULL)
    platform = platform_host_default();
  char os[64] = "", arch[64] = "", variant[64] = "";
  if (sscanf(platform, "%63[^/]/%63[^/]/%63s", os, arch, variant) < 2 || os[0] == '\0' ||
      arch[0] == '\0')
    return guise_fail(err, 0, "platform '%s': expected os/arch[/variant]", platform);
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < idx->n_manifests; i++) {
      const struct oci_descriptor *d = &idx->manifests[i];
      if (d->os == NULL || d->architecture == NULL)
        continue;
      if (strcmp(d->os, os) != 0 || strcmp(d->architecture, arch) != 0)
        continue;
      const char *v = d->variant ? d->variant : "";
      /* Pass 0: exact variant (none asked matches none, and arm64's implicit v8);
       * pass 1 (no variant asked): any variant of that architecture. */
      bool match;
      if (variant[0] != '\0')
        match = strcmp(v, variant) == 0 ||
                (strcmp(arch, "arm64") == 0 && strcmp(variant, "v8") == 0 && v[0] == '\0');
      else
        match = pass == 1 || v[0] == '\0' || (strcmp(arch, "arm64") == 0 && strcmp(v, "v8") == 0);
      if (match) {
        *out = d;
        return 0;
      }
    }
    if (variant[0] != '\0')
      break;
  }
  /* Name what there is. */
  size_t cap = 256, used = 0;
  _cleanup_free_ char *list = calloc(1, cap);
  if (list == NULL)
    abort();
  for (size_t i = 0; i < idx->n_manifests; i++) {
    const struct oci_descriptor *d = &idx->manifests[i];
    if (d->os == NULL || d->architecture == NULL)
      continue;
    char item[200];
    int n = snprintf(item, sizeof(item), "%s%s/%s%s%s", used ? ", " : "", d->os,
                     d->architecture, d->variant ? "/" : "", d->variant ? d->variant : "");
    if (n < 0)
      continue;
    while (used + (size_t)n + 1 > cap) {
      cap *= 2;
      list = realloc(list, cap);
      if (list == NULL)
        abort();
    }
    memcpy(list + used, item, (size_t)n + 1);
    used += (size_t)n;
  }
  return guise_fail(err, 0, "no image for platform %s in the index (it has: %s)", platform,
                    used ? list : "none");
}

void image_config_free(struct image_config *c)
{
  if (c == NULL)
    return;
  free(c->created);
  free(c->os);
  free(c->architecture);
  free(c->variant);
  strv_free(c->diff_ids);
  if (c->json)
    json_decref(c->json);
  free(c);
}

int image_config_parse(const char *data, size_t len, struct image_config **out,
                       guise_error **err)
{
  json_t *j = json_parse_named("config", data, len, err);
  if (j == NULL)
    return -1;
  struct image_config *c = calloc(1, sizeof(*c));
  if (c == NULL)
    abort();
  _cleanup_image_config_ struct image_config *owned = c;
  c->json = j;
  c->created = dup_or_null(json_string_value(json_object_get(j, "created")));
  c->os = dup_or_null(json_string_value(json_object_get(j, "os")));
  c->architecture = dup_or_null(json_string_value(json_object_get(j, "architecture")));
  c->variant = dup_or_null(json_string_value(json_object_get(j, "variant")));
  json_t *rootfs = json_object_get(j, "rootfs");
  json_t *ids = json_object_get(rootfs, "diff_ids");
  if (!json_is_array(ids))
    return guise_fail(err, 0, "config: missing rootfs.diff_ids");
  c->n_diff_ids = json_array_size(ids);
  c->diff_ids = calloc(c->n_diff_ids + 1, sizeof(char *));
  if (c->diff_ids == NULL)
    abort();
  for (size_t i = 0; i < c->n_diff_ids; i++) {
    const char *s = json_string_value(json_array_get(ids, i));
    if (!digest_valid(s))
      return guise_fail(err, 0, "config: rootfs.diff_ids[%zu] is not a sha256 digest", i);
    c->diff_ids[i] = dup_or_null(s);
  }
  *out = steal_ptr(&owned);
  return 0;
}
