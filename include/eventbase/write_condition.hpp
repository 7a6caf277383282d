// The condition of a conditional write (compare-and-set, README "Consistency"): what the C++
// API's stream::put / erase take and what the actor messages put_atom / erase_atom carry
// (eventbase/actors.hpp). Free of heavy includes.
//
// A key's revision is the JetStream stream sequence of the event behind its current state
// (`meta.revision`), the same on every node. A conditional write applies only if its condition
// holds at the moment JetStream orders the write; otherwise it fails with errc::conflict and
// changes nothing. Of several concurrent writers with the same condition, exactly one wins.
#pragma once

#include <cstdint>

namespace eventbase {

struct write_condition {
  enum class kind : uint8_t {
    none = 0,         // an unconditional write
    if_revision = 1,  // the key exists and its revision is `revision`
    if_absent = 2,    // the key does not exist (never written, or deleted)
  };

  kind what = kind::none;
  uint64_t revision = 0;  // if_revision only

  static write_condition none() { return {}; }
  static write_condition if_revision(uint64_t r) { return {kind::if_revision, r}; }
  static write_condition if_absent() { return {kind::if_absent, 0}; }

  bool conditional() const { return what != kind::none; }

  friend bool operator==(const write_condition& a, const write_condition& b) {
    return a.what == b.what && a.revision == b.revision;
  }
  friend bool operator!=(const write_condition& a, const write_condition& b) { return !(a == b); }
};

}  // namespace eventbase
