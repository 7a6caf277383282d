// What a secondary index of a stream is and how far it is built (README "Indexes"): the reply of
// the C++ API's stream::create_index / list_indexes and of the actor messages index_create /
// index_list (eventbase/actors.hpp). Free of heavy includes.
#pragma once

#include <cstdint>
#include <string>

namespace eventbase {

struct index_info {
  std::string field;      // the dotted field path it indexes
  std::string state;      // "building" (queries do not use it yet) or "ready"
  bool multikey = false;  // some document holds an array on the path: not used for sort
  uint64_t progress = 0;  // documents its build has visited (every document once ready)
};

}  // namespace eventbase
