// One key's events as JetStream keeps them (internal to actors/): for `history` and for reads at
// a revision.
//
// A stream keeps up to its per-subject limit (`max_msgs_per_subject`, the stream's "history")
// of each key's PUT messages and as many of its DELETE messages. They are read from the stream's
// leader with MSG.GET, one message after another (`next_by_subj`, starting at sequence 1), the
// PUT and the DELETE subject side by side, so what comes back includes every acknowledged write
// whichever node made it. A subject holding more than kMaxEventsPerSubject messages (a stream
// without a per-subject limit, written by the JS library) fails with too_large.
//
// Whether the kept events are the key's whole history matters for a read before the oldest of
// them: the key then did not exist (null), otherwise that version is gone (errc::compacted). It
// is whole when no DELETE was dropped (fewer kept than the limit) and the oldest kept event is
// a PUT whose writer said it created the key (Eventbase-Changes 1): a deletion before it would
// still be kept.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/jetstream_client.hpp"
#include "eventbase/status.hpp"
#include "protocol/event.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {

class key_history {
 public:
  /// The most messages read from one subject of one key.
  static constexpr uint64_t kMaxEventsPerSubject = 1000;

  struct event {
    uint64_t revision = 0;
    int64_t time_ms = 0;  // JetStream's time of the message
    protocol::decoded_event decoded;
    std::string payload;  // as subscribers get it (protocol::payload_for_subscribers)
  };

  struct kept {
    std::vector<event> events;  // ascending revision, PUTs and DELETEs merged
    bool whole = false;         // nothing of the key's history is missing before events[0]
  };

  using done_fn = std::function<void(result<kept>)>;

  key_history(std::string stream, jetstream_client& api) : stream_(std::move(stream)), api_(api) {}

  /// Reads the kept events of `key` on a stream keeping `per_subject_limit` messages per
  /// subject (<= 0: no limit); `done` runs exactly once, later. Malformed messages are left
  /// out.
  void read(const std::string& key, int64_t per_subject_limit, done_fn done);

  /// The key's record as it was at `revision` according to `history` (its version with the
  /// largest revision <= `revision`): the record (protocol/record.hpp, its metadata as its
  /// writer carried it), "" when the key did not exist or was deleted then, or errc::compacted
  /// naming the oldest revision still readable.
  static result<std::string> at_revision(const kept& history, const std::string& key,
                                         uint64_t revision);

  /// The event behind a key's latest change in a replica (storage::key_change), as
  /// subscribers get events: a PUT of its document at its dateModified, or a DELETE at the
  /// tombstone's time; for a watch resumed from an earlier revision.
  static result<std::string> event_of(const storage::key_change& change);

 private:
  struct walk;
  void next(std::shared_ptr<walk> w, int side, uint64_t from);

  std::string stream_;
  jetstream_client& api_;
};

}  // namespace eventbase::actors
