// Deterministic tests of the stream actor: CAF's test coordinator runs the actor, a scripted
// transport plays JetStream, and the replica is a real RocksDB in a temporary directory.
#pragma once

#define FAIL(msg) CAF_FAIL(msg)  // caf-test 0.17.6 uses FAIL without defining it
#include "caf/test/dsl.hpp"

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/stream_actor.hpp"
#include "eventbase/actors.hpp"
#include "protocol/base64.hpp"
#include "protocol/event.hpp"
#include "protocol/record.hpp"
#include "storage/database.hpp"
#include "storage/stream_store.hpp"
#include "support/scripted_transport.hpp"
#include "support/temp_dir.hpp"

namespace eventbase::test {

struct actor_test_config : caf::actor_system_config {
  actor_test_config() { eventbase::add_message_types(*this); }
};

/// The payload of a PUT event as the JS library writes it; `data` is JSON text.
inline std::string js_put(const std::string& key, const std::string& data) {
  return R"({"type":"PUT","id":")" + key + R"(","data":)" + data + R"(,"timestamp":1})";
}

/// The reply to a request, once it has arrived.
template <class T>
struct pending_reply {
  std::shared_ptr<std::optional<caf::expected<T>>> slot =
      std::make_shared<std::optional<caf::expected<T>>>();

  bool arrived() const { return slot->has_value(); }
  bool ok() const { return arrived() && static_cast<bool>(**slot); }
  T value() const { return ***slot; }
  errc error_code() const { return to_status((*slot)->error()).code(); }
  std::string error_message() const { return to_status((*slot)->error()).message(); }
};

/// A change received by the test's subscriber.
struct received_changes {
  std::vector<change> items;
};

class stream_actor_fixture : public test_coordinator_fixture<actor_test_config> {
 public:
  using published = scripted_transport::published;

  temp_dir dir;
  std::shared_ptr<scripted_transport> js = std::make_shared<scripted_transport>();
  std::shared_ptr<storage::database> db = storage::database::open(dir.path()).value();
  std::string name = "orders";
  stream_actor actor;
  std::string consumer = "C1";
  uint64_t consumer_seq = 0;
  std::vector<published> backlog;
  actors::stream_options options;

  ~stream_actor_fixture() override {
    if (actor) caf::anon_send_exit(actor, caf::exit_reason::kill);
    sched.run();
  }

  /// Spawns the actor and runs it until it waits for JetStream.
  void spawn() {
    actors::stream_config config;
    config.name = name;
    config.nats = js;
    config.store = db->open_stream(name).value();
    config.options = options;
    actor = actors::spawn_stream(sys, std::move(config));
    sched.run();
  }

  /// Takes the first message published since, whose subject starts with `prefix` (or is
  /// `prefix`, when `exact`).
  published expect_publish(const std::string& prefix, bool exact = false) {
    for (auto& p : js->take()) backlog.push_back(std::move(p));
    for (auto it = backlog.begin(); it != backlog.end(); ++it) {
      if (exact ? it->subject == prefix : it->subject.compare(0, prefix.size(), prefix) == 0) {
        auto out = std::move(*it);
        backlog.erase(it);
        return out;
      }
    }
    CAF_FAIL("nothing was published to " << prefix);
  }

  /// True when something was published to a subject starting with `prefix` (and not taken).
  bool published_to(const std::string& prefix) {
    for (auto& p : js->take()) backlog.push_back(std::move(p));
    for (auto& p : backlog)
      if (p.subject.compare(0, prefix.size(), prefix) == 0) return true;
    return false;
  }

  void reply(const published& to, const std::string& body, int status_code = 0) {
    js->reply(to, body, status_code);
    sched.run();
  }

  static std::string stream_info(uint64_t last_seq, int64_t per_subject = 1) {
    return R"({"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"orders",)"
           R"("subjects":["orders.*"],"max_msgs_per_subject":)" +
           std::to_string(per_subject) + R"(},"state":{"messages":)" + std::to_string(last_seq) +
           R"(,"first_seq":1,"last_seq":)" + std::to_string(last_seq) + "}}";
  }

  /// Answers the consumer creation and the actor's pull requests.
  void grant_consumer(const std::string& name_of_consumer) {
    auto create = expect_publish("$JS.API.CONSUMER.CREATE.orders");
    consumer = name_of_consumer;
    consumer_seq = 0;
    reply(create, R"({"type":"io.nats.jetstream.api.v1.consumer_create_response","name":")" +
                      consumer + R"("})");
  }

  /// Spawns the actor and answers its opening calls for a stream ending at `last_seq`.
  void open(uint64_t last_seq = 0) {
    spawn();
    reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(last_seq));
    grant_consumer("C1");
  }

  /// Delivers a stream message as the current consumer would, with `headers` (a Nats-Msg-Id
  /// among them is also the message's msg_id) and `pending` messages after it.
  void deliver(uint64_t seq, const std::string& subject, const std::string& payload,
               const nats::headers& headers = {}, uint64_t time_ns = 1733565600123000000ULL,
               uint64_t pending = 0) {
    nats::message m;
    m.subject = subject;
    m.reply = "$JS.ACK.orders." + consumer + ".1." + std::to_string(seq) + "." +
              std::to_string(++consumer_seq) + "." + std::to_string(time_ns) + "." +
              std::to_string(pending);
    m.data = payload;
    m.all_headers = headers;
    for (auto& [header, value] : headers)
      if (header == "Nats-Msg-Id") m.msg_id = value;
    js->deliver(std::move(m));
    sched.run();
  }

  /// Delivers the event a write published, at stream sequence `seq`.
  void deliver_published(const published& p, uint64_t seq,
                         uint64_t time_ns = 1733565600123000000ULL, uint64_t pending = 0) {
    deliver(seq, p.subject, p.payload, p.headers, time_ns, pending);
  }

  /// Delivers a JS-written PUT of `key` with `pending` messages after it.
  void deliver_put(uint64_t seq, const std::string& key, const std::string& data,
                   uint64_t pending = 0) {
    deliver(seq, "orders." + protocol::base64_encode(key) + "-put", js_put(key, data), {},
            1733565600123000000ULL, pending);
  }

  /// A status message (no payload) JetStream sends to the pull request `pull`.
  void pull_status(const published& pull, int code, const std::string& description) {
    nats::message m;
    m.subject = pull.reply;
    m.status = code;
    m.description = description;
    js->deliver(std::move(m));
    sched.run();
  }

  /// An idle heartbeat of the current consumer's pull request `pull`.
  void heartbeat(const published& pull) { pull_status(pull, 100, "Idle Heartbeat"); }

  /// Acknowledges the write `p` with stream sequence `seq`.
  void ack(const published& p, uint64_t seq) {
    reply(p, R"({"stream":"orders", "seq":)" + std::to_string(seq) + "}");
  }

  /// Sends a request to the stream actor; the reply, once the scheduler has run.
  template <class T, class... Ts>
  pending_reply<T> ask(Ts... xs) {
    return ask_of<T>(actor, xs...);
  }

  /// Sends a request to `target` from a helper actor; the reply, once the scheduler has run.
  template <class T, class Handle, class... Ts>
  pending_reply<T> ask_of(const Handle& target, Ts... xs) {
    pending_reply<T> out;
    auto slot = out.slot;
    sys.spawn([=](caf::event_based_actor* asker) {
      asker->request(target, caf::infinite, xs...)
          .then([slot](T& value) { *slot = caf::expected<T>(std::move(value)); },
                [slot](caf::error& err) { *slot = caf::expected<T>(std::move(err)); });
    });
    sched.run();
    return out;
  }

  static nlohmann::ordered_json data_of(const std::string& record) {
    auto view = protocol::decode_record(record).value();
    return protocol::decode_document(view.data_msgpack).value();
  }

  static protocol::meta meta_of(const std::string& record) {
    return protocol::decode_record(record).value().m;
  }

  stream_status status() { return ask<stream_status>(status_atom::value).value(); }
};

}  // namespace eventbase::test
