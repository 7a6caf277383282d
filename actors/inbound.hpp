// What a stream's private NATS inbox receives, classified and decoded on the NATS thread and
// handed to the stream actor through an inbound_queue.
//
// Reply subjects under the stream's inbox prefix P say what a message answers:
//   P.a.<token>          the acknowledgement of the write with that token
//   P.b.<token>          the acknowledgement of the commit of the atomic batch attempt <token>
//   P.r.<token>          the reply to the JetStream API call with that token
//   P.p.<gen>.<pull>     a status (heartbeat, expiry, error) of pull request <pull> of consumer
//                        generation <gen>
// Delivered stream messages keep their own subject and carry a `$JS.ACK...` reply subject.
//
// The queue is the hand-over point between threads: a NATS thread pushes, the actor takes all
// items at once. Only the first urgent push after a take wakes the actor, so a busy stream gets
// one wake-up per batch, and applies the batch with one RocksDB write.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/handover_queue.hpp"
#include "eventbase/status.hpp"
#include "nats/transport.hpp"
#include "protocol/event.hpp"

namespace eventbase::actors {

struct inbound {
  enum class kind : uint8_t {
    event,
    pub_ack,
    batch_ack,
    api_reply,
    pull_status,
    reconnected,
    unknown
  };

  kind what = kind::unknown;
  uint64_t token =
      0;  // pub_ack, batch_ack: write or batch token; api_reply: call token; pull_status: pull id
  uint64_t generation = 0;  // pull_status: consumer generation
  nats::message msg;

  // kind::event only
  std::string consumer;
  uint64_t stream_seq = 0;
  uint64_t pending = 0;  // messages of the stream after this one, as the consumer saw it
  uint64_t consumer_seq = 0;
  int64_t time_ms = 0;     // JetStream's time of the message
  uint64_t own_write = 0;  // the write token when this node published it, else 0
  std::optional<protocol::decoded_event> event;  // nullopt: malformed, see decode_error
  // Of an atomic batch (Nats-Batch-Id; empty when not), and whether it is the batch's last
  // message (Nats-Batch-Commit; batch_assembler also sets it on a batch's last delivered one).
  std::string batch_id;
  bool batch_end = false;
  status decode_error;
};

/// Classifies `msg` for the inbox `prefix`; decodes stream events. `writer_id` is the prefix of
/// the Nats-Msg-Id of this stream actor's writes ("<writer_id>.<token>").
inbound classify(nats::message&& msg, const std::string& prefix, const std::string& writer_id);

/// The hand-over from the NATS threads to the stream actor (base/handover_queue.hpp).
using inbound_queue = handover_queue<inbound>;

/// True when `in` needs the stream actor now. A successful acknowledgement of a write does not:
/// the write completes when its event arrives, which wakes the actor anyway (and when
/// compaction replaced the event, the event that replaced it does). Saving that wake-up saves a
/// thread switch on every write.
bool is_urgent(const inbound& in);

}  // namespace eventbase::actors
