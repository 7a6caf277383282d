// Fuzz target: protocol::decode_event over any payload a NATS peer can publish on a stream. A
// decoded PUT must carry a document that decodes, and re-encoding the event (as Eventbase
// publishes it: JavaScript's text, the metadata in headers) must give it back; so must the
// payload subscribers get.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "protocol/event.hpp"
#include "protocol/js_json.hpp"
#include "protocol/record.hpp"

using namespace eventbase::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view payload(reinterpret_cast<const char*>(data), size);
  auto ev = decode_event(payload);
  if (!ev.ok()) return 0;
  FUZZ_CHECK(!ev->key.empty());
  if (ev->type == event_type::erase) {
    FUZZ_CHECK(ev->data_msgpack.empty());
    return 0;
  }
  auto doc = decode_document(ev->data_msgpack);
  FUZZ_CHECK(doc.ok());
  // What a writer would publish for the same event decodes to the same event.
  std::string text;
  FUZZ_CHECK(stringify(*doc, text).ok());  // documents from JSON text are UTF-8
  header_list headers;
  if (ev->meta.changes > 0) headers = meta_headers(ev->meta);
  auto again = decode_event(encode_put_payload(ev->key, text, ev->timestamp_ms), headers);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->type == event_type::put && again->key == ev->key);
  FUZZ_CHECK(again->timestamp_ms == ev->timestamp_ms);
  FUZZ_CHECK(again->meta.changes == ev->meta.changes);
  FUZZ_CHECK(again->meta.date_created == ev->meta.date_created || ev->meta.changes == 0);
  FUZZ_CHECK(!again->meta_in_body && again->meta_problem.empty());
  FUZZ_CHECK(decode_document(again->data_msgpack).value() == *doc);
  // Subscribers' payload: the same event, without a body "meta".
  auto seen = decode_event(payload_for_subscribers(*ev, payload));
  FUZZ_CHECK(seen.ok() && !seen->meta_in_body && seen->key == ev->key);
  FUZZ_CHECK(decode_document(seen->data_msgpack).value() == *doc);
  return 0;
}
