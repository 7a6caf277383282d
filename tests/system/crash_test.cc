// Crash test: kill -9 the eventbase-server at random instants while an in-process CAF client
// writes to it with several puts in flight, restart it on the same --db and the same (external)
// nats-server, and check after every restart that reached a ready stream:
//   - every acknowledged put is present with its data; nothing else is (a put in flight when the
//     server died may or may not be there, but if it is, its data is right);
//   - the replica's applied sequence equals the stream's last sequence in JetStream (asked of
//     NATS directly), and the replica holds one key per message of the stream;
//   - the secondary indexes on "key" and "text" are in step with the documents: counts they
//     answer alone (entries, no documents) equal the number of documents, and equality lookups
//     through them find exactly their document. The "text" index is sometimes dropped and
//     created anew before writes, so that kills also hit its background build.
// Kill instants: during writes (after a random number of acknowledgements, then a random delay),
// during start-up, and while the stream catches up with a backlog published behind the server's
// back. The RNG seed is printed; EVENTBASE_CRASH_SEED=N repeats a run, EVENTBASE_CRASH_KILLS=N
// sets the number of kills (default 40; scripts/crash-soak.sh runs 500).
#define CAF_SUITE crash
#include "caf/test/unit_test.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "eventbase/actors.hpp"
#include "eventbase/eventbase.hpp"
#include "eventbase/network.hpp"
#include "protocol/event.hpp"
#include "protocol/timestamp.hpp"
#include "support/nats_fixture.hpp"
#include "system/processes.hpp"
#include "system/remote_node.hpp"

using namespace eventbase;
using namespace eventbase::test;
using nlohmann::json;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(60);

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : fallback;
}

// Keys name their writer ('w': the CAF client through the server, 'b': the backlog published
// straight to JetStream) and a global id; a key's document follows from the key.
std::string key_of(char kind, uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%09llu", kind, static_cast<unsigned long long>(id));
  return buf;
}

nlohmann::ordered_json doc_of(const std::string& key) {
  return {{"key", key}, {"text", "crash test document " + key}};
}

// A JSON number as uint64_t; UINT64_MAX for anything else.
uint64_t number(const json& value) {
  return value.is_number_unsigned() ? value.get<uint64_t>() : UINT64_MAX;
}

// Every key ever written and what is known of it; shared by the writer actor and the test.
class ledger {
 public:
  enum class state : uint8_t { in_flight, acked, failed };

  uint64_t add(char kind) {
    std::lock_guard<std::mutex> guard(mutex_);
    uint64_t id = keys_.size();
    keys_.push_back(key_of(kind, id));
    states_.push_back(state::in_flight);
    return id;
  }

  std::string key(uint64_t id) {
    std::lock_guard<std::mutex> guard(mutex_);
    return keys_[id];
  }

  void ack(uint64_t id) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      states_[id] = state::acked;
      ++acked_;
    }
    cv_.notify_all();
  }

  // An error reply. While the server is being killed it only means the outcome is unknown.
  void error(uint64_t id, const std::string& why) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (killing_) return;
      states_[id] = state::failed;
      failures_.push_back("put " + keys_[id] + " failed: " + why);
    }
    cv_.notify_all();
  }

  // Something that is wrong whatever the server's state.
  void wrong(const std::string& what) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      failures_.push_back(what);
    }
    cv_.notify_all();
  }

  void set_killing(bool on) {
    std::lock_guard<std::mutex> guard(mutex_);
    killing_ = on;
  }

  bool killing() {
    std::lock_guard<std::mutex> guard(mutex_);
    return killing_;
  }

  // Waits until `n` puts in all have been acknowledged; false on a failure or the timeout.
  bool wait_acked(uint64_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard(mutex_);
    return cv_.wait_for(guard, timeout, [&] { return acked_ >= n || !failures_.empty(); }) &&
           failures_.empty();
  }

  uint64_t acked() {
    std::lock_guard<std::mutex> guard(mutex_);
    return acked_;
  }

  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> guard(mutex_);
    return failures_;
  }

  // Keys and states as they are now.
  void snapshot(std::vector<std::string>& keys, std::vector<state>& states) {
    std::lock_guard<std::mutex> guard(mutex_);
    keys = keys_;
    states = states_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> keys_;  // by id
  std::vector<state> states_;
  uint64_t acked_ = 0;
  bool killing_ = false;
  std::vector<std::string> failures_;
};

// The writer: keeps `window` puts in flight until the stream actor (the server) is gone.
void put_next(caf::event_based_actor* self, const stream_actor& stream,
              const std::shared_ptr<ledger>& book) {
  uint64_t id = book->add('w');
  std::string key = book->key(id);
  self->request(stream, kRequestTimeout, put_atom::value, key, doc_of(key).dump())
      .then(
          [self, stream, book, id, key](entry& reply) {
            auto doc = decode_record(reply.record);
            if (!doc.ok() || !doc->has_value() || (*doc)->data != doc_of(key) ||
                (*doc)->meta.changes != 1)
              book->wrong("put " + key + " was acknowledged with a wrong record");
            else
              book->ack(id);
            put_next(self, stream, book);
          },
          [self, stream, book, id](caf::error& err) {
            book->error(id, self->system().render(err));
            if (!book->killing()) put_next(self, stream, book);
          });
}

caf::behavior writer(caf::event_based_actor* self, stream_actor stream,
                     std::shared_ptr<ledger> book, int window) {
  self->monitor(stream);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  for (int i = 0; i < window; ++i) put_next(self, stream, book);
  return {[self](close_atom) { self->quit(); }};
}

// A client node connected to one server instance, writing to one stream.
struct session : remote_node {
  stream_actor stream;

  status open_stream(const std::string& name) {
    auto opened = open(name);
    if (!opened.ok()) return opened.error();
    stream = *opened;
    return status::OK();
  }

  // The documents of `keys`, 64 requests in flight; wrong or missing ones are described.
  std::vector<std::string> check_documents(const std::vector<std::string>& keys) {
    using handle = decltype(self->request(stream, kRequestTimeout, get_atom::value, std::string()));
    std::vector<std::string> wrong;
    for (size_t first = 0; first < keys.size(); first += 64) {
      size_t last = std::min(keys.size(), first + 64);
      std::vector<handle> pending;
      for (size_t i = first; i < last; ++i)
        pending.push_back(self->request(stream, kRequestTimeout, get_atom::value, keys[i]));
      for (size_t i = first; i < last; ++i) {
        pending[i - first].receive(
            [&](entry& reply) {
              auto doc = decode_record(reply.record);
              if (!doc.ok() || !doc->has_value())
                wrong.push_back(keys[i] + ": absent");
              else if ((*doc)->data != doc_of(keys[i]) || (*doc)->meta.changes != 1)
                wrong.push_back(keys[i] + ": " + (*doc)->to_json().dump());
            },
            [&](caf::error& err) { wrong.push_back(keys[i] + ": " + sys.render(err)); });
      }
    }
    return wrong;
  }
};

// Figures for the report at the end.
struct tally {
  std::map<std::string, int> kills;  // by instant
  uint64_t restarts_checked = 0;
  uint64_t unacked_present = 0;  // in flight at a kill, applied all the same
  uint64_t unacked_absent = 0;   // in flight at a kill, not applied (allowed: never acknowledged)
  uint64_t failed_checks = 0;    // of the restarts' checks
  uint64_t documents_read = 0;
  uint64_t backlog = 0;
  uint64_t rebuilds = 0;         // of the "text" index, before writes
  std::vector<double> start_ms;  // from spawn to listening

  int total_kills() const {
    int n = 0;
    for (auto& [what, count] : kills) n += count;
    return n;
  }
};

class crash_run {
 public:
  crash_run(uint64_t seed, int kills)
      : seed_(seed), rng_(seed), target_kills_(kills), stream_(unique_name("crash")) {}

  void run() {
    auto begin = std::chrono::steady_clock::now();
    while (counts_.total_kills() < target_kills_) {
      auto server = start();
      if (!server) return;
      if (!check_after_restart(*server, /*all_documents=*/false)) return;
      kill_during_writes(std::move(server));
      if (chance(0.2)) kill_during_startup();
      if (chance(0.2)) kill_during_catch_up();
    }
    // The last restart: every document, and a clean stop.
    auto server = start();
    if (!server) return;
    check_after_restart(*server, /*all_documents=*/true);
    CAF_CHECK_EQUAL(server->stop(), 0);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    std::string kinds;
    for (auto& [what, count] : counts_.kills) kinds += " " + what + "=" + std::to_string(count);
    std::vector<std::string> keys;
    std::vector<ledger::state> states;
    book_->snapshot(keys, states);
    CAF_MESSAGE("crash run: " << counts_.total_kills() << " kills (" << kinds.substr(1) << ") in "
                              << seconds << " s; " << counts_.restarts_checked
                              << " restarts checked; " << book_->acked() << " puts acknowledged ("
                              << counts_.backlog << " of them published as backlog), "
                              << keys.size() << " attempted; in flight at a kill: "
                              << counts_.unacked_present << " applied, " << counts_.unacked_absent
                              << " not; " << counts_.documents_read << " documents read back; "
                              << book_->failures().size() << " failed writes, "
                              << counts_.failed_checks << " failed checks; " << counts_.rebuilds
                              << " index rebuilds");
    auto js = jetstream_state(nats_, stream_);
    CAF_MESSAGE("JetStream stream " << stream_ << ": " << js.dump());
    auto& starts = counts_.start_ms;
    std::sort(starts.begin(), starts.end());
    CAF_MESSAGE("server start to listening: median " << starts[starts.size() / 2] << " ms, max "
                                                     << starts.back() << " ms");
  }

 private:
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  int uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng_); }

  std::vector<std::string> server_options() { return {"--nats=" + nats_server().url()}; }

  std::unique_ptr<server_process> start() {
    auto began = std::chrono::steady_clock::now();
    auto server = server_process::spawn(db_.sub("data"), server_options());
    bool listening = server->await_listening();
    counts_.start_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began)
            .count());
    if (!listening) {
      CAF_FAIL("restart " << counts_.total_kills() << ": the server did not start\n"
                          << server->diagnostics());
      return nullptr;
    }
    return server;
  }

  void kill(server_process& server, const std::string& instant) {
    book_->set_killing(true);
    int code = server.kill();
    if (code != 128 + SIGKILL)  // it exited by itself before
      CAF_ERROR("kill " << counts_.total_kills() + 1 << " (" << instant
                        << "): the server had exited already with " << code << "\n"
                        << server.diagnostics());
    ++counts_.kills[instant];
  }

  // Connects, opens the stream (ready: caught up with JetStream) and checks the replica against
  // the ledger and JetStream. False if it cannot go on.
  bool check_after_restart(server_process& server, bool all_documents) {
    session s;
    if (auto st = s.connect(server); !st.ok()) {
      CAF_FAIL("cannot connect after " << counts_.total_kills() << " kills: " << st.to_string()
                                       << "\n"
                                       << server.diagnostics());
      return false;
    }
    if (auto st = s.open_stream(stream_); !st.ok()) {
      CAF_FAIL("cannot open the stream after " << counts_.total_kills()
                                               << " kills: " << st.to_string() << "\n"
                                               << server.diagnostics());
      return false;
    }
    book_->set_killing(false);
    ++counts_.restarts_checked;
    auto state = s.ask<stream_status>(s.stream, status_atom::value);
    auto js = jetstream_state(nats_, stream_);
    auto keys = s.ask<std::vector<std::string>>(s.stream, keys_atom::value, std::string());
    CAF_REQUIRE(state.ok());
    CAF_REQUIRE(keys.ok());
    std::string where = "after " + std::to_string(counts_.total_kills()) + " kills: ";
    bool ok = true;
    auto expect = [&](bool good, const std::string& what) {
      if (good) return;
      CAF_ERROR(where << what);
      ++counts_.failed_checks;
      ok = false;
    };
    expect(state->ready, "the stream is not ready");
    expect(state->applied_sequence == number(member(js, "last_seq")),
           "applied sequence " + std::to_string(state->applied_sequence) +
               " != JetStream last sequence " + member(js, "last_seq").dump());
    expect(keys->size() == number(member(js, "messages")),
           std::to_string(keys->size()) + " keys in the replica, " + member(js, "messages").dump() +
               " messages in JetStream");
    expect(state->skipped_events == 0, std::to_string(state->skipped_events) + " skipped events");

    // Indexes: creating one that exists waits for it to be ready (a build a kill interrupted
    // resumes at start-up).
    for (const char* field : {"key", "text"}) {
      auto index = s.ask<index_info>(s.stream, index_create_atom::value, std::string(field), true);
      expect(index.ok() && index->state == "ready",
             std::string("index on ") + field + ": " +
                 (index.ok() ? index->state : index.error().to_string()));
    }
    for (const char* filter : {R"({"key":{"$gte":""}})", R"({"text":{"$sw":"crash test "}})"}) {
      auto counted = s.ask<uint64_t>(s.stream, count_atom::value, std::string(filter));
      expect(counted.ok() && *counted == keys->size(),
             std::string("count ") + filter + " through its index: " +
                 (counted.ok() ? std::to_string(*counted) : counted.error().to_string()) + ", " +
                 std::to_string(keys->size()) + " documents");
    }

    // Every acknowledged key is there, every key there was written.
    std::vector<std::string> attempted;
    std::vector<ledger::state> states;
    book_->snapshot(attempted, states);
    std::vector<bool> present(attempted.size(), false);
    std::vector<std::string> strangers;
    for (auto& key : *keys) {
      uint64_t id = key.size() == 10 ? std::strtoull(key.c_str() + 1, nullptr, 10) : UINT64_MAX;
      if (id < attempted.size() && attempted[id] == key)
        present[id] = true;
      else
        strangers.push_back(key);
    }
    std::vector<std::string> missing;
    std::vector<std::string> to_read;
    for (uint64_t id = 0; id < attempted.size(); ++id) {
      if (states[id] == ledger::state::acked && !present[id]) missing.push_back(attempted[id]);
      if (id >= resolved_ && states[id] != ledger::state::acked)
        ++(present[id] ? counts_.unacked_present : counts_.unacked_absent);
      // New keys, and all at the end, are read back; older ones by sample.
      if (present[id] && (all_documents || id >= resolved_)) to_read.push_back(attempted[id]);
    }
    for (int i = 0; i < 200 && resolved_ > 0 && !all_documents; ++i) {
      uint64_t id = std::uniform_int_distribution<uint64_t>(0, resolved_ - 1)(rng_);
      if (present[id]) to_read.push_back(attempted[id]);
    }
    resolved_ = attempted.size();
    expect(missing.empty(), std::to_string(missing.size()) + " acknowledged keys missing, first " +
                                (missing.empty() ? "" : missing.front()));
    expect(strangers.empty(), std::to_string(strangers.size()) + " keys nobody wrote, first " +
                                  (strangers.empty() ? "" : strangers.front()));
    auto wrong = s.check_documents(to_read);
    counts_.documents_read += to_read.size();
    for (size_t i = 0; i < to_read.size() && i < 100; ++i) {
      const std::string& key = to_read[(i * 7919) % to_read.size()];
      auto found = s.ask<query_reply>(s.stream, query_atom::value,
                                      json({{"text", doc_of(key)["text"]}}).dump(), std::string());
      if (!found.ok() || found->keys != std::vector<std::string>{key})
        wrong.push_back(key + ": the text index finds " +
                        (found.ok() ? std::to_string(found->keys.size()) + " documents"
                                    : found.error().to_string()));
    }
    expect(wrong.empty(), std::to_string(wrong.size()) + " wrong documents, first " +
                              (wrong.empty() ? "" : wrong.front()));
    auto failures = book_->failures();
    expect(failures.size() == reported_failures_,
           "failures:\n  " + (failures.empty() ? "" : failures.back()));
    reported_failures_ = failures.size();
    if (!ok) CAF_MESSAGE("seed " << seed_ << "\n" << server.diagnostics());
    return true;
  }

  // Writes with a random window until a random number of acknowledgements, waits a random
  // moment more and kills the server.
  void kill_during_writes(std::unique_ptr<server_process> server) {
    session s;
    CAF_REQUIRE(s.connect(*server).ok());
    CAF_REQUIRE(s.open_stream(stream_).ok());
    if (chance(0.3)) {  // a fresh build that the writes (and the kill) overtake
      CAF_CHECK(s.ask<ok_atom>(s.stream, index_drop_atom::value, std::string("text")).ok());
      CAF_CHECK(
          s.ask<index_info>(s.stream, index_create_atom::value, std::string("text"), false).ok());
      ++counts_.rebuilds;
    }
    static const int windows[] = {1, 4, 16, 64};
    int window = windows[uniform(0, 3)];
    uint64_t target = book_->acked() + static_cast<uint64_t>(uniform(0, 600));
    auto w = s.sys.spawn(writer, s.stream, book_, window);
    if (!book_->wait_acked(target, std::chrono::seconds(60))) {
      auto failures = book_->failures();
      CAF_ERROR("the writer did not reach " << target << " acknowledgements (at " << book_->acked()
                                            << "); " << (failures.empty() ? "" : failures.back())
                                            << "\n"
                                            << server->diagnostics());
    }
    std::this_thread::sleep_for(std::chrono::microseconds(uniform(0, 2000)));
    kill(*server, "writes");
    // The writer stops when it learns that the server is gone.
    s.self->monitor(w);
    bool stopped = false;
    s.self->receive([&](caf::down_msg&) { stopped = true; },
                    caf::after(std::chrono::seconds(30)) >> [] {});
    if (!stopped) {
      CAF_ERROR("the writer did not learn within 30 s that the server was killed");
      caf::anon_send_exit(w, caf::exit_reason::kill);
    }
  }

  // Kills a server that is starting, at a random moment of its first 100 ms (it listens after about
  // 60).
  void kill_during_startup() {
    auto server = server_process::spawn(db_.sub("data"), server_options());
    std::this_thread::sleep_for(std::chrono::microseconds(uniform(0, 100000)));
    kill(*server, "startup");
  }

  // Publishes a backlog straight to JetStream while the server is down, restarts it, opens the
  // stream (the replica catches up) and kills the server at a random moment of that.
  void kill_during_catch_up() {
    int backlog = uniform(200, 3000);
    for (int i = 0; i < backlog; ++i) {
      uint64_t id = book_->add('b');
      std::string key = book_->key(id);
      auto ack = json::parse(
          nats_.request(protocol::put_subject(stream_, key),
                        protocol::encode_put_payload(key, doc_of(key).dump(), protocol::now_ms())),
          nullptr, false);
      if (!member(ack, "seq").is_number()) {
        book_->wrong("backlog publish of " + key + " not acknowledged: " + ack.dump());
        break;
      }
      book_->ack(id);
      ++counts_.backlog;
    }
    auto server = start();
    if (!server) return;
    session s;
    CAF_REQUIRE(s.connect(*server).ok());
    caf::anon_send(s.manager, open_atom::value, stream_);
    std::this_thread::sleep_for(std::chrono::microseconds(uniform(0, 60000)));
    kill(*server, "catch-up");
  }

  uint64_t seed_;
  std::mt19937_64 rng_;
  int target_kills_;
  temp_dir db_{"eventbase-crash"};
  std::string stream_;
  raw_client nats_;
  std::shared_ptr<ledger> book_ = std::make_shared<ledger>();
  uint64_t resolved_ = 0;  // ids below were checked at a restart
  size_t reported_failures_ = 0;
  tally counts_;
};

}  // namespace

CAF_TEST(servers killed at random instants lose no acknowledged put) {
  uint64_t seed = env_number("EVENTBASE_CRASH_SEED", std::random_device{}());
  int kills = static_cast<int>(env_number("EVENTBASE_CRASH_KILLS", 40));
  CAF_MESSAGE("seed " << seed << " (EVENTBASE_CRASH_SEED=" << seed << " repeats it), " << kills
                      << " kills");
  crash_run run(seed, kills);
  run.run();
}
