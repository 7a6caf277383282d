// What the unit tests of the stream actor's components share: a manual clock, a scripted NATS
// transport with a JetStream client on it, and a write pipeline wired to a real RocksDB replica,
// a replica_horizon and a read_barrier (as the stream actor wires them). Include it after
// caf/test/unit_test.hpp (with the suite defined).
#pragma once

#include "caf/test/unit_test.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/inbound.hpp"
#include "actors/jetstream_client.hpp"
#include "actors/read_barrier.hpp"
#include "actors/replica_horizon.hpp"
#include "actors/stats_publisher.hpp"
#include "actors/write_pipeline.hpp"
#include "protocol/base64.hpp"
#include "protocol/event.hpp"
#include "storage/database.hpp"
#include "storage/stream_store.hpp"
#include "support/scripted_transport.hpp"
#include "support/temp_dir.hpp"

namespace eventbase::test {

using published = scripted_transport::published;

// A clock the test moves by hand.
struct manual_clock {
  std::chrono::steady_clock::time_point now{};
  actors::jetstream_client::clock fn() {
    return [this] { return now; };
  }
};

// A field of a JSON text by pointer, by value (CAF's checks bind their arguments by reference).
inline nlohmann::ordered_json field(const std::string& text, const std::string& pointer) {
  return nlohmann::ordered_json::parse(text).at(nlohmann::ordered_json::json_pointer(pointer));
}

// The token at the end of a reply subject "<prefix><token>".
inline uint64_t token_of(const published& p, const std::string& prefix) {
  return std::stoull(p.reply.substr(prefix.size()));
}

inline nats::message reply_with(std::string body, int status_code = 0) {
  nats::message m;
  m.data = std::move(body);
  m.status = status_code;
  return m;
}

// A scripted transport, a JetStream client on it (calls time out after 1 s) and a manual clock.
struct component_fixture {
  std::shared_ptr<scripted_transport> js = std::make_shared<scripted_transport>();
  manual_clock clock;
  actors::jetstream_client api{*js, "_INBOX.t.r.", std::chrono::milliseconds(1000), clock.fn()};

  // Everything published to `subject` (exactly) since the last look.
  std::vector<published> sent_to(const std::string& subject) {
    for (auto& p : js->take()) log.push_back(std::move(p));
    std::vector<published> out;
    for (auto it = log.begin(); it != log.end();) {
      if (it->subject == subject) {
        out.push_back(std::move(*it));
        it = log.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  // Answers the JetStream API request `p`.
  void answer(const published& p, const std::string& body, int status_code = 0) {
    api.on_reply(token_of(p, "_INBOX.t.r."), reply_with(body, status_code));
  }

  std::vector<published> log;
};

// A write pipeline of stream "s" with a replica in RocksDB, a replica_horizon and a
// read_barrier (both with the pipeline's 1 s timeout unless told otherwise).
struct pipeline_rig {
  component_fixture& f;
  temp_dir dir;
  std::shared_ptr<storage::database> db = storage::database::open(dir.path()).value();
  std::shared_ptr<storage::stream_store> store = db->open_stream("s").value();
  actors::stats_publisher stats{nullptr, ""};
  actors::replica_horizon horizon{0};
  actors::read_barrier barrier;
  actors::write_pipeline writes;

  static actors::write_pipeline::settings settings() {
    return actors::write_pipeline::settings{"s", "W", "_INBOX.t.a.",
                                            std::chrono::milliseconds(1000)};
  }

  actors::write_pipeline::replica_view view() {
    actors::write_pipeline::replica_view v;
    v.consistent = [this] { return horizon.consistent(); };
    v.await_sequence = [this](uint64_t seq, auto go) { barrier.await_sequence(seq, "w", go); };
    v.await_consistency = [this](auto go) { barrier.await_consistency(go); };
    return v;
  }

  explicit pipeline_rig(component_fixture& fx, actors::write_pipeline::settings config = settings(),
                        std::chrono::milliseconds barrier_timeout = std::chrono::milliseconds(1000))
      : f(fx),
        barrier(
            {"s", barrier_timeout}, fx.api, horizon, fx.clock.fn(), [](uint64_t, uint64_t) {},
            [] { return std::string(); }),
        writes(std::move(config), *fx.js, fx.api, *store, stats, fx.clock.fn(), view()) {}

  // The replica applied everything up to `seq`, delivered in order with nothing pending.
  void advance(uint64_t seq) {
    horizon.on_delivery(seq, 0, 1);
    horizon.on_applied(seq);
    barrier.check();
    writes.on_replica_advanced();
  }

  std::vector<published> puts_of(const std::string& key) {
    return f.sent_to("s." + protocol::base64_encode(key) + "-put");
  }

  // Applies `p` (a published write) to the replica at `seq`, as the stream actor would.
  std::string apply(const published& p, uint64_t seq) {
    auto ev = protocol::decode_event(p.payload, p.headers).value();
    storage::apply_batch batch(*store);
    std::string record;
    if (ev.type == protocol::event_type::put)
      record = batch.put(ev, seq, 1000).value();
    else
      CAF_REQUIRE(batch.erase(ev.key, seq).ok());
    CAF_REQUIRE(batch.commit(seq).ok());
    horizon.on_delivery(seq, 0, 1);
    horizon.on_applied(seq);
    return record;
  }

  static uint64_t token(const published& p) { return token_of(p, "_INBOX.t.a."); }

  actors::inbound ack(const published& p, uint64_t seq, int status_code = 0) {
    actors::inbound in;
    in.what = actors::inbound::kind::pub_ack;
    in.token = token(p);
    in.msg = reply_with(R"({"stream":"s","seq":)" + std::to_string(seq) + "}", status_code);
    return in;
  }
};

}  // namespace eventbase::test
