// The raw baselines of eventbase-bench: what cnats and RocksDB do on their own, on the same
// nats-server and the same disk, with nothing of Eventbase in between.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "eventbase/status.hpp"

namespace eventbase::bench {

/// A cnats connection with a JetStream context.
class raw_jetstream {
 public:
  static result<std::unique_ptr<raw_jetstream>> connect(const std::string& url);
  ~raw_jetstream();

  /// Creates a stream like Eventbase does (file storage, subjects <name>.*, one message per
  /// subject).
  status create_stream(const std::string& name);
  status delete_stream(const std::string& name);

  /// Synchronous js_Publish of each payload; the latency of each, in microseconds.
  result<std::vector<double>> publish_sync(const std::vector<std::string>& subjects,
                                           const std::string& payload);

  /// js_PublishAsync of every message (with `headers`, if any) with at most `window`
  /// unacknowledged; the seconds taken until all are acknowledged.
  result<double> publish_async(
      const std::vector<std::string>& subjects, const std::vector<std::string>& payloads,
      size_t window, const std::vector<std::pair<std::string, std::string>>& headers = {});

  /// Reads `count` messages of `stream` from its start with a pull consumer (batches of 1024,
  /// no acknowledgements); the seconds taken.
  result<double> consume(const std::string& stream, size_t count);

 private:
  raw_jetstream() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The raw event-sourcing pipeline: what an Eventbase put needs done at the least, written with
/// cnats and RocksDB directly. A publish (js_PublishMsgAsync, acknowledged through cnats' ack
/// handler) is complete when JetStream has acknowledged it AND a pull consumer on the same stream
/// has delivered it and it is written to RocksDB. The consumer is the one Eventbase creates
/// (ephemeral, no acknowledgements, in-memory state, by start sequence), pulled from the same way
/// (two outstanding pull requests of `batch` messages, `expires`, idle heartbeats); the events
/// are applied on cnats' delivery thread, as many per WriteBatch as are queued (one when they
/// come one at a time), each under its key with the applied sequence beside it, with
/// Eventbase's WriteOptions (no sync: the WAL is written, not synced).
class raw_pipeline {
 public:
  using headers = std::vector<std::pair<std::string, std::string>>;

  /// Connects (with the NATS options that matter for latency as Eventbase sets them), creates
  /// `stream` like Eventbase does, its consumer, and a RocksDB database at `db_path`.
  static result<std::unique_ptr<raw_pipeline>> open(const std::string& url,
                                                    const std::string& stream,
                                                    const std::string& db_path);
  ~raw_pipeline();

  /// Publishes each event (subject, the one payload, `hdrs` plus a Nats-Msg-Id) one at a time,
  /// each waiting for its acknowledgement and its application; the latency of each, in µs.
  result<std::vector<double>> one_at_a_time(const std::vector<std::string>& subjects,
                                            const std::string& payload, const headers& hdrs);

  /// The same with at most `window` events incomplete; the seconds until all are complete.
  result<double> windowed(const std::vector<std::string>& subjects, const std::string& payload,
                          const headers& hdrs, size_t window);

 private:
  raw_pipeline() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A read-only RocksDB view of an Eventbase data path, to read a stream's records directly.
class raw_replica {
 public:
  static result<std::unique_ptr<raw_replica>> open(const std::string& path,
                                                   const std::string& stream);
  ~raw_replica();

  /// RocksDB Get of each key, `rounds` times; the gets per second (all must be found).
  result<double> gets_per_second(const std::vector<std::string>& keys, size_t rounds);

  /// Iterates over every key of the stream, copying each out; the keys seen and the seconds.
  result<std::pair<size_t, double>> full_scan();

  /// A document as plain JSON, as a query hands it out.
  using json_document = nlohmann::ordered_json;

  /// RocksDB Get of each key, each record's msgpack document decoded into JSON (what a query
  /// must at least do for each result); the seconds taken (all must be found).
  result<double> read_documents(const std::vector<std::string>& keys);

  /// Iterates over every document of the stream, decoding each into JSON and counting those for
  /// which `matches` holds; the count and the seconds.
  result<std::pair<size_t, double>> scan_documents(
      const std::function<bool(const json_document&)>& matches);

 private:
  raw_replica() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace eventbase::bench
