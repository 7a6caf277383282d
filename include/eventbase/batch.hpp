// Atomic batches: several puts and deletes of one stream that JetStream stores together or not
// at all (README "Atomic batches", doc/history.md). What the C++ API's stream::batch takes and
// what the actor message batch_atom carries (as JSON lines, protocol/batch.hpp). Free of heavy
// includes.
//
// A batch is judged and stored as one step: every condition holds on the stream's state just
// before it, or nothing is written (errc::conflict). Readers on every node see all of its
// writes or none: a replica applies a batch in one RocksDB write, and its subscribers get the
// changes one after the other without any other change between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "eventbase/write_condition.hpp"

namespace eventbase {

/// The most writes one batch may hold: JetStream's own limit (nats-server 2.12+).
inline constexpr size_t kMaxBatchWrites = 1000;

/// One write of a batch. A key appears at most once in a batch.
struct batch_op {
  enum class kind : uint8_t { put, erase };
  kind what = kind::put;
  std::string key;
  std::string data;           // put: the document as JSON text
  write_condition condition;  // put: none, if_revision or if_absent; erase: none or if_revision
  uint64_t ttl_seconds = 0;   // put: expires that long after it is stored (1..ten years); 0: never

  static batch_op put(std::string key, std::string json,
                      write_condition condition = write_condition::none(),
                      uint64_t ttl_seconds = 0) {
    return {kind::put, std::move(key), std::move(json), condition, ttl_seconds};
  }
  static batch_op erase(std::string key, write_condition condition = write_condition::none()) {
    return {kind::erase, std::move(key), {}, condition, 0};
  }
};

/// An applied batch: how many writes it held, and the revision of its last write (the stream
/// sequence at which the whole batch became visible; its writes have the revisions just below).
struct batch_result {
  uint64_t applied = 0;
  uint64_t revision = 0;
};

}  // namespace eventbase
