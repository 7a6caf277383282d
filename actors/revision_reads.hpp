// Reads of a key's past (internal to actors/): its kept events (`history`) and the key as it was
// at a revision (`get --revision`), answered from the replica when it can and from the events
// the stream keeps (key_history.hpp) otherwise. doc/history.md "Reading at a revision".
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "actors/key_history.hpp"
#include "actors/read_barrier.hpp"
#include "actors/replica_horizon.hpp"
#include "actors/replica_reader.hpp"
#include "eventbase/actors.hpp"

namespace eventbase::actors {

class revision_reads {
 public:
  /// The stream's parts it reads through; `per_subject_limit` tells the stream's history once
  /// known.
  revision_reads(std::string stream, const storage::stream_store& store,
                 const replica_reader& reader, const replica_horizon& horizon,
                 read_barrier& barrier, key_history& history,
                 std::function<int64_t()> per_subject_limit)
      : stream_(std::move(stream)),
        store_(store),
        reader_(reader),
        horizon_(horizon),
        barrier_(barrier),
        history_(history),
        per_subject_limit_(std::move(per_subject_limit)) {}

  /// The record of `key` at `revision` ("" when absent then); `done` runs once, maybe at once.
  /// invalid_argument for a bad key or a revision beyond the stream's end, compacted when the
  /// version is no longer kept.
  void get_at(const std::string& key, uint64_t revision,
              std::function<void(result<std::string>)> done);

  /// The kept events of `key`, newest first, at most `limit` (0: all).
  void history(const std::string& key, uint64_t limit,
               std::function<void(result<key_history_reply>)> done);

 private:
  std::string stream_;
  const storage::stream_store& store_;
  const replica_reader& reader_;
  const replica_horizon& horizon_;
  read_barrier& barrier_;
  key_history& history_;
  std::function<int64_t()> per_subject_limit_;
};

}  // namespace eventbase::actors
