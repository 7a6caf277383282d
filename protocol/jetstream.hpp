// The JetStream API as JSON over NATS subjects: request bodies the nodes send and the responses
// they parse. Eventbase talks to JetStream with plain NATS publishes so that every exchange is
// asynchronous (cnats 3.4's JetStream calls block the calling thread); this file is the whole of
// that protocol, with no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eventbase/status.hpp"

namespace eventbase::protocol::jetstream {

// -- subjects ---------------------------------------------------------------------------------

std::string stream_info_subject(std::string_view stream);
std::string stream_create_subject(std::string_view stream);
std::string stream_delete_subject(std::string_view stream);
std::string stream_purge_subject(std::string_view stream);
std::string consumer_create_subject(std::string_view stream);
std::string consumer_delete_subject(std::string_view stream, std::string_view consumer);
std::string consumer_next_subject(std::string_view stream, std::string_view consumer);

/// The subjects of an Eventbase (or JS library) stream: `<stream>.*`.
std::string stream_wildcard(std::string_view stream);

// -- requests ---------------------------------------------------------------------------------

struct stream_settings {
  std::string name;
  std::vector<std::string> subjects;
  int64_t max_msgs_per_subject = -1;  // 1 keeps the stream compacted without purges
  int replicas = 1;
};

std::string stream_create_request(const stream_settings& settings);

std::string stream_update_subject(std::string_view stream);

/// The STREAM.UPDATE request that allows atomic batches on the stream a STREAM.INFO
/// `info_response` describes: its configuration as the server gave it, with allow_atomic set.
result<std::string> allow_atomic_request(std::string_view info_response);

/// An ephemeral pull consumer without acknowledgements, starting at `start_seq`, removed by the
/// server after `inactive_threshold_ns` without pull requests, with `replicas` copies of its
/// state (1: held by one server only; more survive the loss of a server).
std::string consumer_create_request(std::string_view stream, uint64_t start_seq,
                                    int64_t inactive_threshold_ns, int replicas = 1);

/// A pull request for up to `batch` messages and `max_bytes` bytes that ends after
/// `expires_ns`, with idle heartbeats every `heartbeat_ns` while it waits.
std::string pull_request(int64_t batch, int64_t max_bytes, int64_t expires_ns,
                         int64_t heartbeat_ns);

/// Purges the messages of one subject, keeping the newest `keep` when given, and only those
/// with a sequence below `before_seq` when given (later ones stay, whatever `keep` says).
std::string purge_request(std::string_view subject, std::optional<uint64_t> keep,
                          std::optional<uint64_t> before_seq = std::nullopt);

/// MSG.GET: one stored message by sequence, answered by the stream's leader.
std::string stream_msg_get_subject(std::string_view stream);
std::string msg_get_request(uint64_t seq);
/// MSG.GET of the first message at or after `seq` whose subject is `subject`.
std::string msg_get_next_request(uint64_t seq, std::string_view subject);

// -- publish headers ----------------------------------------------------------------------------

/// JetStream stores the message only if the last message on its subject has this sequence (0:
/// there is none); otherwise it refuses it with err_code 10071 "wrong last sequence: N".
/// nats-server checks it atomically on a single server, and in a cluster from 2.10.19 (before,
/// only on the leader before replicating: two writes within one replication round trip could
/// both pass).
inline constexpr const char* kExpectedLastSubjectSequence = "Nats-Expected-Last-Subject-Sequence";
/// JetStream stores the message only if the stream's last sequence is this; otherwise 10071.
/// Checked as the message is stored, on every version and on every replica.
inline constexpr const char* kExpectedLastSequence = "Nats-Expected-Last-Sequence";

/// Atomic batch publish (ADR-50, nats-server 2.12+): every message of a batch carries its id
/// (at most 64 characters) and its 1-based position; the last one also the commit.
inline constexpr const char* kBatchIdHeader = "Nats-Batch-Id";
inline constexpr const char* kBatchSequenceHeader = "Nats-Batch-Sequence";
inline constexpr const char* kBatchCommitHeader = "Nats-Batch-Commit";
/// The error code of a batch published to a stream without allow_atomic.
inline constexpr int kAtomicPublishDisabled = 10174;

// -- responses --------------------------------------------------------------------------------
// Every parser maps an API error to a status: 404 -> not_found, 400 -> invalid_argument, other
// codes -> unavailable, with JetStream's description and codes in the message; a body that is
// not a JSON object -> corrupt.

struct stream_info {
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t messages = 0;
  int64_t max_msgs_per_subject = -1;
  int replicas = 1;
  std::vector<std::string> subjects;
  /// The answering leader's view of its followers ("cluster.replicas"): how long ago each was
  /// last heard from (nanoseconds; "active"), and whether it is offline. Empty for a stream
  /// without replicas.
  struct follower {
    int64_t active_ns = 0;
    bool offline = false;
  };
  std::vector<follower> followers;
};

/// Whether `info` comes from a leader that heard from a quorum of its stream's servers within
/// `freshness`. A leader that was paused (SIGSTOP, a stalled VM) answers STREAM.INFO with its
/// old state until it learns that another server leads now (within about a second of waking,
/// but requests can reach it first): its followers then look silent since before the pause.
/// Raft elects a new leader only after 4 s without one, so with `freshness` below that an
/// answer that passes reflects every acknowledged write.
bool from_current_leader(const stream_info& info, std::chrono::nanoseconds freshness);

/// The response to STREAM.INFO and STREAM.CREATE.
result<stream_info> parse_stream_info(std::string_view response);

/// The consumer name from a CONSUMER.CREATE response.
result<std::string> parse_consumer_created(std::string_view response);

/// The number of messages removed, from a STREAM.PURGE response.
result<uint64_t> parse_purged(std::string_view response);

/// "$JS.API.INFO": the account's JetStream usage and limits; what a health probe asks.
std::string account_info_subject();

/// ok when the response to account_info_subject() is JetStream's account info (not an error,
/// such as JetStream not being enabled).
status parse_account_info(std::string_view response);

/// ok for {"success":true} (STREAM.DELETE, CONSUMER.DELETE).
status parse_success(std::string_view response);

struct pub_ack {
  std::string stream;
  uint64_t sequence = 0;
  bool duplicate = false;
};

/// The acknowledgement JetStream sends for a published message.
result<pub_ack> parse_pub_ack(std::string_view response);

/// The JetStream error code of a parsed failure (e.g. 10059 stream not found), 0 if none.
int api_error_code(std::string_view response);

/// A publish refused because an expected-sequence header did not hold (err_code 10071, "wrong
/// last sequence: N"; 10164 without N from nats-server 2.11 while another write of the subject
/// is being stored). nullopt for any other response.
struct wrong_sequence {
  std::optional<uint64_t> last;  // the sequence JetStream found instead, when it said
};
std::optional<wrong_sequence> parse_wrong_sequence(std::string_view response);

/// A message read with MSG.GET.
struct stored_message {
  std::string subject;
  uint64_t sequence = 0;
  std::string data;     // the payload, decoded from JetStream's base64
  std::string headers;  // the raw NATS header block ("NATS/1.0\r\n..."), "" when none
  int64_t time_ms = 0;  // when JetStream stored it (0 when the response did not say)
};

/// The fields of a NATS header block ("NATS/1.0\r\nName: value\r\n...\r\n"), in order; lines
/// without a colon are skipped.
std::vector<std::pair<std::string, std::string>> parse_header_block(std::string_view block);

/// The response to MSG.GET; not_found when the stream has no message at that sequence.
result<stored_message> parse_stored_message(std::string_view response);

/// True when `response` is a JetStream error worth retrying shortly because the cluster is
/// changing: no meta leader or quorum ("JetStream system temporarily unavailable" during an
/// election), a request that reached a server not (yet) in charge, a stream offline, or no
/// peers for placement while a server is down. Limits ("maximum messages exceeded", also code
/// 503) and other errors are lasting.
bool is_transient_error(std::string_view response);

// -- delivered messages ------------------------------------------------------------------------

/// What the reply subject `$JS.ACK...` of a delivered message says about it.
struct delivery {
  std::string_view stream;
  std::string_view consumer;
  uint64_t stream_seq = 0;
  uint64_t consumer_seq = 0;
  int64_t timestamp_ns = 0;
  uint64_t pending = 0;
};

/// Parses both the v1 (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`)
/// and the v2 form (with domain and account hash); nullopt for anything else.
std::optional<delivery> parse_ack_subject(std::string_view reply);

}  // namespace eventbase::protocol::jetstream
