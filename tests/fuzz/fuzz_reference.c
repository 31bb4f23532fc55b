/* Image references as the user types them (transports, registries, tags, digests), and the
 * validators and names made from them. */
#include "image/reference.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  _cleanup_free_ char *text = fuzz_string(data, size);
  _cleanup_image_ref_ struct image_ref *ref = NULL;
  _cleanup_error_ guise_error *err = NULL;
  if (image_ref_parse(text, &ref, &err) == 0) {
    if (ref->transport == TRANSPORT_NAME || ref->transport == TRANSPORT_DOCKER) {
      free(image_ref_name(ref));
      image_ref_registry_ref(ref);
    }
    image_transport_name(ref->transport);
  }
  struct image_ref r = {0};
  _cleanup_error_ guise_error *err2 = NULL;
  if (image_ref_parse_name(text, &r, &err2) == 0) free(image_ref_name(&r));
  free(r.registry);
  free(r.repository);
  free(r.tag);
  free(r.digest);
  free(r.path);
  free(r.path_ref);
  image_ref_valid_tag(text);
  image_ref_valid_repository(text);
  image_ref_valid_registry(text);
  image_ref_host_is_loopback(text);
  return 0;
}
