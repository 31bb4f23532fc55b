/* Registry and layout JSON: the kind detection, manifests, indexes (and the platform choice
 * from them) and image configs. */
#include "image/manifest.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  enum manifest_kind kind;
  _cleanup_error_ guise_error *e0 = NULL, *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
  manifest_detect(text, size, NULL, &kind, &e0);
  _cleanup_manifest_ struct image_manifest *m = NULL;
  manifest_parse(text, size, &m, &e1);
  _cleanup_index_ struct image_index *idx = NULL;
  if (index_parse(text, size, &idx, &e2) == 0) {
    const struct oci_descriptor *d;
    index_select_platform(idx, NULL, &d, &e3);
    _cleanup_error_ guise_error *e5 = NULL;
    index_select_platform(idx, "linux/arm64/v8", &d, &e5);
  }
  _cleanup_image_config_ struct image_config *c = NULL;
  image_config_parse(text, size, &c, &e4);
  return 0;
}
