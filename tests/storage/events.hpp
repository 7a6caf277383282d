// What the storage tests apply and read back: a PUT event as a replica gets it, and the parts of
// a stored record.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "protocol/event.hpp"
#include "protocol/record.hpp"

namespace eventbase::test {

/// A PUT of `data` under `key` carrying `m` (none: as the JS library writes it).
inline protocol::decoded_event put_event(const std::string& key, const nlohmann::ordered_json& data,
                                         protocol::carried_meta m = {}) {
  protocol::decoded_event ev;
  ev.type = protocol::event_type::put;
  ev.key = key;
  protocol::append_msgpack(data, ev.data_msgpack);
  ev.meta = m;
  return ev;
}

inline protocol::meta meta_of(const std::string& record) {
  return protocol::decode_record(record).value().m;
}

}  // namespace eventbase::test
