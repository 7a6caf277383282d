// eventbase-bench: Eventbase's figures beside the raw baselines of the same nats-server and the
// same disk, measured in one run (see README "Performance" and --help).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "api/runtime.hpp"
#include "base/subprocess.hpp"
#include "bench/raw.hpp"
#include "eventbase/actors.hpp"
#include "eventbase/eventbase.hpp"
#include "eventbase/network.hpp"
#include "eventbase/node.hpp"
#include "nats/embedded_server.hpp"
#include "protocol/event.hpp"

namespace eb = eventbase;
using clock_type = std::chrono::steady_clock;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

constexpr const char* kHelp = R"(usage: eventbase-bench [options]

Measures Eventbase beside raw cnats and raw RocksDB on one nats-server and one disk, and prints
a table of both with their ratio.

  --nats=URL        use this nats-server (default: start one with JetStream in the work dir)
  --keys=N          events replayed into a fresh replica, and keys scanned (1000000)
  --ops=N           puts for the latency and throughput figures (5000)
  --doc-bytes=N     size of each document's payload string (100)
  --doc-fields=N    members of each document (1), in an order that is not sorted, the payload
                    string shared among them
  --inflight=N      concurrent puts for the throughput figure (64)
  --quick           small sizes, a smoke test (used by the tests)
  --work-dir=PATH   where data goes (default: a temporary directory, removed at the end)
  --query-docs=N    documents {name, age, city, tags} of the queries group (1000000)
  --only=LIST       run only these groups, comma separated (for profiling): puts, remote,
                    subscription, open, keys, replay, queries, durability (its two nats-servers
                    are of $EVENTBASE_NATS_SERVER's release: 2.10 or newer syncs)
)";

struct options {
  std::string nats;
  size_t keys = 1000000;
  size_t ops = 5000;
  size_t doc_bytes = 100;
  size_t doc_fields = 1;
  size_t inflight = 64;
  size_t small_keys = 10000;
  size_t query_docs = 1000000;
  bool quick = false;
  std::string work_dir;
  std::string only;  // empty: every group
  // the replay child
  bool replay_child = false;
  bool index_child = false;  // builds the queries group's indexes, reporting time and memory
  std::string stream;
  std::string data;
};

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t index = static_cast<size_t>(p / 100.0 * static_cast<double>(samples.size() - 1) + 0.5);
  return samples[std::min(index, samples.size() - 1)];
}

long status_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(f, line))
    if (line.compare(0, n, field) == 0) return std::atol(line.c_str() + n + 1);
  return 0;
}

[[noreturn]] void die(const std::string& what) {
  std::cerr << "eventbase-bench: " << what << std::endl;
  std::exit(1);
}

template <class T>
T must(eb::result<T> r, const std::string& what) {
  if (!r.ok()) die(what + ": " + r.error().to_string());
  return std::move(*r);
}

void must(const eb::status& st, const std::string& what) {
  if (!st.ok()) die(what + ": " + st.to_string());
}

// {"v":"xxx..."} for one field; for more, {"f<n-1>":"xx..",...,"f0":"xx.."} (descending, so
// that keeping the written order matters), `bytes` characters shared among them.
std::string document_text(size_t bytes, size_t fields) {
  if (fields <= 1) return json{{"v", std::string(bytes, 'x')}}.dump();
  json doc = json::object();
  for (size_t i = fields; i-- > 0;)
    doc["f" + std::to_string(i)] = std::string(std::max<size_t>(1, bytes / fields), 'x');
  return doc.dump();
}

// "user:0000042" for every tenth key, "item:0000042" otherwise.
std::string key_of(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s:%07zu", i % 10 == 0 ? "user" : "item", i);
  return buf;
}

// -- the table ----------------------------------------------------------------------------------

struct row {
  std::string figure;
  std::string eventbase;
  std::string baseline;
  std::string ratio;
  std::string target;
  std::string verdict;
};

std::vector<row> table;

std::string fmt(double value, const char* unit) {
  char buf[64];
  if (value >= 100000)
    std::snprintf(buf, sizeof buf, "%.0f %s", value, unit);
  else if (value >= 100)
    std::snprintf(buf, sizeof buf, "%.0f %s", value, unit);
  else if (value >= 10)
    std::snprintf(buf, sizeof buf, "%.1f %s", value, unit);
  else
    std::snprintf(buf, sizeof buf, "%.2f %s", value, unit);
  return buf;
}

std::string ratio_text(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", r);
  return buf;
}

// A ratio as the table prints it (two decimals): targets are checked against what is shown, so
// that "1.20x" is never "NOT met" against "≤ 1.20x".
double shown(double r) {
  return std::round(r * 100) / 100;
}

void add(const std::string& figure, const std::string& ours, const std::string& theirs,
         double ratio, const std::string& target, int met) {
  table.push_back(row{figure, ours, theirs, ratio > 0 ? ratio_text(ratio) : "—", target,
                      met < 0 ? "" : (met ? "met" : "NOT met")});
  std::cerr << "  " << figure << ": " << ours << " | " << theirs << std::endl;
}

void print_table() {
  std::cout << "| figure | eventbase | raw baseline | ratio | target |\n"
            << "|---|---|---|---|---|\n";
  for (auto& r : table)
    std::cout << "| " << r.figure << " | " << r.eventbase << " | " << r.baseline << " | " << r.ratio
              << " | " << r.target << (r.verdict.empty() ? "" : " (" + r.verdict + ")") << " |\n";
  std::cout << std::flush;
}

// -- helpers --------------------------------------------------------------------------------

eb::stream_config config_for(const std::string& stream, const std::string& nats,
                             const std::string& path) {
  eb::stream_config c;
  c.stream_name = stream;
  c.nats.servers = {nats};
  c.data_path = path;
  c.timeout = std::chrono::seconds(60);
  return c;
}

// Writes `n` events of the Eventbase format to `stream` with raw asynchronous publishes: the
// document `doc_of(i)` (JSON text) under `name_of(i)`.
void populate(eb::bench::raw_jetstream& raw, const std::string& stream, size_t n,
              const std::function<std::string(size_t)>& name_of,
              const std::function<std::string(size_t)>& doc_of) {
  must(raw.create_stream(stream), "create " + stream);
  std::vector<std::string> subjects;
  std::vector<std::string> payloads;
  const size_t chunk = 100000;  // bounded memory for any n
  for (size_t start = 0; start < n; start += chunk) {
    subjects.clear();
    payloads.clear();
    for (size_t i = start; i < std::min(n, start + chunk); ++i) {
      auto key = name_of(i);
      subjects.push_back(eb::protocol::put_subject(stream, key));
      payloads.push_back(eb::protocol::encode_put_payload(key, doc_of(i), 0));
    }
    // With the metadata headers an Eventbase writer adds, which the replay reads.
    must(raw.publish_async(subjects, payloads, 4096,
                           eb::protocol::meta_headers(eb::protocol::carry_meta(nullptr, 0))),
         "populate " + stream);
  }
}

void populate(eb::bench::raw_jetstream& raw, const std::string& stream, size_t n, size_t doc_bytes,
              size_t doc_fields) {
  std::string doc = document_text(doc_bytes, doc_fields);
  populate(raw, stream, n, key_of, [&](size_t) { return doc; });
}

// The queries group's documents: {name, age, city, tags}. `ages` distinct ages (so that an
// equality returns n / ages documents), 10 cities (so that one city is a tenth), 2 or 3 tags.
std::string query_key_of(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "doc:%07zu", i);
  return buf;
}

json query_document(size_t i, size_t ages) {
  json tags = json::array({"t" + std::to_string(i % 5), "u" + std::to_string(i % 7)});
  if (i % 3 == 0) tags.push_back("v" + std::to_string(i % 11));
  return json{{"name", "name-" + std::to_string(i)},
              {"age", i % ages},
              {"city", "city" + std::to_string((i / 7) % 10)},
              {"tags", std::move(tags)}};
}

// Runs `put_async` for every key with at most `window` in flight, the i-th with
// docs[i % docs.size()]; the seconds taken.
double put_window(eb::stream& db, const std::vector<std::string>& keys,
                  const std::vector<json>& docs, size_t window) {
  std::mutex m;
  std::condition_variable cv;
  size_t in_flight = 0, done = 0, failed = 0;
  auto start = clock_type::now();
  for (size_t i = 0; i < keys.size(); ++i) {
    {
      std::unique_lock<std::mutex> guard(m);
      cv.wait(guard, [&] { return in_flight < window; });
      ++in_flight;
    }
    db.put_async(keys[i], docs[i % docs.size()], [&](eb::result<eb::document> r) {
      std::lock_guard<std::mutex> guard(m);
      if (!r.ok()) ++failed;
      --in_flight;
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> guard(m);
  cv.wait(guard, [&] { return done == keys.size(); });
  if (failed > 0) die(std::to_string(failed) + " puts failed");
  return seconds_since(start);
}

// -- the replay child ---------------------------------------------------------------------------

int replay_child(const options& opts) {
  auto start = clock_type::now();
  auto db = must(eb::stream::open(config_for(opts.stream, opts.nats, opts.data)), "open");
  double seconds = seconds_since(start);
  auto keys = must(db.keys(), "keys").size();
  db.close();
  std::cout << json{{"seconds", seconds}, {"keys", keys}, {"peak_rss_kb", status_kb("VmHWM:")}}
            << std::endl;
  return 0;
}

// The indexes of the queries group, built in a process of their own so that its peak memory is
// theirs (with the open replica's): the seconds of each build and the peak RSS.
const char* const kQueryIndexes[] = {"age", "city"};

int index_child(const options& opts) {
  auto db = must(eb::stream::open(config_for(opts.stream, opts.nats, opts.data)), "open");
  json out;
  out["rss_open_kb"] = status_kb("VmHWM:");
  for (const char* field : kQueryIndexes) {
    auto start = clock_type::now();
    auto info = must(db.create_index(field, true), std::string("create index ") + field);
    if (info.state != "ready") die(std::string("index ") + field + " is " + info.state);
    out[std::string("seconds_") + field] = seconds_since(start);
  }
  db.close();
  out["peak_rss_kb"] = status_kb("VmHWM:");
  std::cout << out.dump() << std::endl;
  return 0;
}

// CPU seconds (user + system) of the children waited for so far.
double children_cpu_seconds() {
  struct rusage usage {};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string self_executable() {
  char self_path[4096];
  ssize_t len = ::readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (len <= 0) die("cannot find my own executable");
  self_path[len] = '\0';
  return self_path;
}

// -- the figures --------------------------------------------------------------------------------

struct bench_run {
  options opts;
  std::string nats;
  std::unique_ptr<eb::bench::raw_jetstream> raw;
  std::string tag = std::to_string(::getpid());
  std::string work;
  double sync_publish_p50 = 0;
  double pipeline_p50 = 0;  // the raw pipeline's put latency
  double eb_get_rate = 0;
  double plain_remote_rate = 0;  // remote gets without TLS, the baseline of the TLS row

  std::string path(const std::string& name) const { return work + "/" + name; }
  std::string stream(const std::string& name) const { return "bench_" + name + "_" + tag; }

  // Rows of the puts group. Each figure beside its baselines, measured in alternating rounds
  // (raw, Eventbase, raw, ...) so that load from elsewhere on the machine falls on both alike.
  void puts() {
    std::string doc_text = document_text(opts.doc_bytes, opts.doc_fields);
    json doc = json::parse(doc_text);
    size_t n = opts.ops;
    const size_t alternations = std::min<size_t>(5, n);
    auto round_of = [&](size_t r) {
      return std::make_pair(r * n / alternations, (r + 1) * n / alternations);
    };
    auto raw_stream = stream("raw");
    must(raw->create_stream(raw_stream), "create raw stream");
    std::string payload = eb::protocol::encode_put_payload(key_of(0), doc_text, 0);
    // What an Eventbase put of a new key carries besides its Nats-Msg-Id.
    auto headers = eb::protocol::meta_headers(eb::protocol::carry_meta(nullptr, 0));
    auto pipeline =
        must(eb::bench::raw_pipeline::open(nats, stream("rawpipe"), path("raw-pipeline")),
             "raw pipeline");
    auto db = must(eb::stream::open(config_for(stream("put"), nats, path("put"))), "open");

    // Latency, one at a time.
    std::vector<double> latency, publish_latency, pipeline_latency;
    auto append = [](std::vector<double>& to, const std::vector<double>& from) {
      to.insert(to.end(), from.begin(), from.end());
    };
    for (size_t r = 0; r < alternations; ++r) {
      auto [first, last] = round_of(r);
      std::vector<std::string> subjects, pipe_subjects;
      for (size_t i = first; i < last; ++i) {
        subjects.push_back(eb::protocol::put_subject(raw_stream, key_of(i)));
        pipe_subjects.push_back(eb::protocol::put_subject(stream("rawpipe"), "lat:" + key_of(i)));
      }
      append(publish_latency, must(raw->publish_sync(subjects, payload), "raw sync publish"));
      append(pipeline_latency,
             must(pipeline->one_at_a_time(pipe_subjects, payload, headers), "raw pipeline"));
      for (size_t i = first; i < last; ++i) {
        std::string key = "lat:" + key_of(i);  // made before the clock starts, as the subjects are
        auto t = clock_type::now();
        must(db.put(key, doc), "put");
        latency.push_back(seconds_since(t) * 1e6);
      }
    }
    sync_publish_p50 = percentile(publish_latency, 50);
    pipeline_p50 = percentile(pipeline_latency, 50);
    double p50 = percentile(latency, 50), p99 = percentile(latency, 99);
    double pipe_p99 = percentile(pipeline_latency, 99);
    add("put latency p50, one at a time", fmt(p50, "µs"), fmt(pipeline_p50, "µs") + " raw pipeline",
        p50 / pipeline_p50, "≤ 1.20x", shown(p50 / pipeline_p50) <= 1.2);
    add("put latency p99, one at a time", fmt(p99, "µs"), fmt(pipe_p99, "µs") + " raw pipeline",
        p99 / pipe_p99, "— (information)", -1);
    add("put latency p50 beside a bare publish", fmt(p50, "µs"),
        fmt(sync_publish_p50, "µs") + " js_Publish", p50 / sync_publish_p50, "— (information)", -1);

    // Throughput with a window.
    double seconds = 0, pipe_seconds = 0, publish_seconds = 0;
    std::vector<std::string> keys;
    for (size_t i = 0; i < n; ++i) keys.push_back("tput:" + key_of(i));
    for (size_t r = 0; r < alternations; ++r) {
      auto [first, last] = round_of(r);
      std::vector<std::string> subjects, pipe_subjects, round_keys;
      for (size_t i = first; i < last; ++i) {
        subjects.push_back(eb::protocol::put_subject(raw_stream, "async:" + key_of(i)));
        pipe_subjects.push_back(eb::protocol::put_subject(stream("rawpipe"), keys[i]));
        round_keys.push_back(keys[i]);
      }
      publish_seconds +=
          must(raw->publish_async(subjects, {payload}, opts.inflight), "raw async publish");
      pipe_seconds += must(pipeline->windowed(pipe_subjects, payload, headers, opts.inflight),
                           "raw pipeline, windowed");
      seconds += put_window(db, round_keys, {doc}, opts.inflight);
    }
    pipeline.reset();
    double rate = static_cast<double>(n) / seconds;
    double pipe_rate = static_cast<double>(n) / pipe_seconds;
    double publish_rate = static_cast<double>(n) / publish_seconds;
    std::string window = std::to_string(opts.inflight) + " in flight";
    add("put throughput, " + window, fmt(rate, "puts/s"),
        fmt(pipe_rate, "events/s") + " raw pipeline", rate / pipe_rate, "≥ 0.80x",
        shown(rate / pipe_rate) >= 0.8);
    add("put throughput beside bare publishes, " + window, fmt(rate, "puts/s"),
        fmt(publish_rate, "msgs/s") + " js_PublishAsync", rate / publish_rate, "— (information)",
        -1);

    // Gets of existing keys, in process, beside RocksDB Get on the same data.
    std::vector<std::string> shuffled = keys;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(42));
    size_t rounds = std::max<size_t>(1, 200000 / shuffled.size());
    if (opts.quick) rounds = 1;
    for (auto& k : shuffled) must(db.get(k), "get");  // warm up
    auto t = clock_type::now();
    for (size_t r = 0; r < rounds; ++r)
      for (auto& k : shuffled)
        if (!must(db.get(k), "get")) die("key " + k + " missing");
    eb_get_rate = static_cast<double>(rounds * shuffled.size()) / seconds_since(t);
    auto replica = must(eb::bench::raw_replica::open(path("put"), stream("put")), "raw replica");
    must(replica->gets_per_second(shuffled, 1), "raw get warm-up");
    double raw_gets = must(replica->gets_per_second(shuffled, rounds), "raw get");
    add("get throughput, in process, existing keys", fmt(eb_get_rate, "gets/s"),
        fmt(raw_gets, "gets/s") + " RocksDB Get", eb_get_rate / raw_gets, "≥ 0.50x",
        shown(eb_get_rate / raw_gets) >= 0.5);
    replica.reset();
    db.close();
    raw->delete_stream(raw_stream);
  }

  // The price of durable acknowledgements (README "Durability"): Eventbase's puts against a
  // nats-server that syncs every write before acknowledging it (`sync_interval: always`, what
  // eventbase-server's own nats-server does) beside the same puts against one that keeps
  // nats-server's default (a sync every 2 minutes). Information, no target. Both servers are
  // started here, of the release $EVENTBASE_NATS_SERVER names (2.10 or newer: 2.9 cannot sync).
  void durability() {
    std::string doc_text = document_text(opts.doc_bytes, opts.doc_fields);
    json doc = json::parse(doc_text);
    size_t n = std::min<size_t>(opts.ops, opts.quick ? 100 : 2000);
    struct figures {
      double p50 = 0;
      double rate = 0;
    };
    auto measure = [&](const std::string& sync) -> std::optional<figures> {
      eb::nats::embedded_server_options so;
      so.store_dir = path("nats-sync-" + (sync.empty() ? std::string("default") : sync));
      so.sync = sync;
      auto server = must(eb::nats::embedded_server::start(so), "start nats-server");
      if (!sync.empty() && !server->syncs()) return std::nullopt;
      auto db = must(
          eb::stream::open(config_for(stream("sync"), server->url(), so.store_dir + "-replica")),
          "open");
      std::vector<double> latency;
      for (size_t i = 0; i < n; ++i) {
        std::string key = "lat:" + key_of(i);
        auto t = clock_type::now();
        must(db.put(key, doc), "put");
        latency.push_back(seconds_since(t) * 1e6);
      }
      std::vector<std::string> keys;
      for (size_t i = 0; i < n; ++i) keys.push_back("tput:" + key_of(i));
      double rate = static_cast<double>(n) / put_window(db, keys, {doc}, opts.inflight);
      db.close();
      return figures{percentile(latency, 50), rate};
    };
    auto interval = measure("");
    auto always = measure("always");
    if (!interval || !always) {
      add("put latency p50 / throughput, sync always", "n/a: this nats-server cannot sync", "", -1,
          "— (information)", -1);
      return;
    }
    add("put latency p50, one at a time, nats-server syncing every write", fmt(always->p50, "µs"),
        fmt(interval->p50, "µs") + " syncing every 2 min", always->p50 / interval->p50,
        "— (information)", -1);
    add("put throughput, " + std::to_string(opts.inflight) +
            " in flight, nats-server syncing every write",
        fmt(always->rate, "puts/s"), fmt(interval->rate, "puts/s") + " syncing every 2 min",
        always->rate / interval->rate, "— (information)", -1);
  }

  // A throw-away CA and one certificate (used by the node and the client alike) under `dir`,
  // made with the openssl command; empty options when it is missing.
  eb::tls_options make_certificates(const std::string& dir) {
    auto run = [](const std::vector<std::string>& argv) {
      auto r = eb::subprocess::run(argv, std::chrono::seconds(30));
      return r.ok() && r->exit_code == 0;
    };
    std::filesystem::create_directories(dir);
    std::string ec = "ec_paramgen_curve:P-256";
    bool ok =
        run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout",
             dir + "/ca.key", "-out", dir + "/ca.pem", "-days", "2", "-subj", "/CN=bench"}) &&
        run({"openssl", "req", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout",
             dir + "/node.key", "-out", dir + "/node.csr", "-subj", "/CN=node"}) &&
        run({"openssl", "x509", "-req", "-in", dir + "/node.csr", "-CA", dir + "/ca.pem", "-CAkey",
             dir + "/ca.key", "-CAcreateserial", "-out", dir + "/node.pem", "-days", "2"});
    eb::tls_options tls;
    if (!ok) return tls;
    tls.certificate = dir + "/node.pem";
    tls.key = dir + "/node.key";
    tls.ca = dir + "/ca.pem";
    return tls;
  }

  void remote_gets() {
    remote_gets_with({});
    auto tls = make_certificates(path("certs"));
    if (tls.enabled()) remote_gets_with(tls);
  }

  // `total` requests (get_atom, key) to `target` from an actor of `sys`, `window` in flight,
  // the keys taken in turn; the seconds taken.
  template <class Handle>
  double windowed_gets(caf::actor_system& sys, const Handle& target,
                       const std::vector<std::string>& keys, size_t total, size_t window) {
    auto done = std::make_shared<std::atomic<size_t>>(0);
    auto t = clock_type::now();
    auto getter = sys.spawn([=](caf::event_based_actor* a) {
      auto next = std::make_shared<size_t>(0);
      auto issue = std::make_shared<std::function<void()>>();
      // The function holds itself only weakly (a strong copy would be a cycle that is never
      // freed); each pending request's handler owns it until the reply arrives.
      std::weak_ptr<std::function<void()>> weak_issue = issue;
      *issue = [=] {
        if (*next >= total) return;
        auto again = weak_issue.lock();  // alive: we run inside it
        auto& key = keys[(*next)++ % keys.size()];
        a->request(target, std::chrono::seconds(30), eb::get_atom::value, key)
            .then(
                [=](eb::entry&) {
                  if (++*done == total) a->quit();
                  (*again)();
                },
                [=](caf::error&) { a->quit(); });
      };
      for (size_t i = 0; i < window; ++i) (*issue)();
    });
    caf::scoped_actor self{sys};
    self->wait_for(getter);
    double seconds = seconds_since(t);
    if (done->load() != total) die("remote gets failed");
    return seconds;
  }

  // A node serving the stream written above, and a client node asking it, 64 in flight; over
  // mutual TLS when `tls` is set. Without TLS, beside the raw CAF round trip: an actor that
  // answers the same request with the same reply at once, published by the middleman of an
  // actor system configured as the node's, asked by the same client the same way; the two are
  // measured in alternating rounds.
  void remote_gets_with(const eb::tls_options& tls) {
    eb::node_config nc;
    nc.nats.servers = {nats};
    nc.data_path = path(tls.enabled() ? "node-tls" : "node");
    nc.port = 0;
    nc.tls = tls;
    auto node = must(eb::node::start(nc), "start node");
    caf::actor_system_config cfg;
    eb::network_options net;
    net.tls = tls;
    eb::configure_network(cfg, net);
    cfg.load<caf::io::middleman>();
    caf::actor_system sys{cfg};
    auto manager =
        must(eb::connect_manager(sys, "127.0.0.1", node.port(), std::chrono::seconds(30)),
             "connect to the node");
    caf::scoped_actor self{sys};
    eb::stream_actor stream_hdl;
    self->request(manager, std::chrono::seconds(60), eb::open_atom::value, stream("put"))
        .receive([&](eb::stream_actor& s) { stream_hdl = s; },
                 [&](caf::error& e) { die("open remote stream: " + sys.render(e)); });
    const size_t window = 64;
    size_t total = opts.quick ? 500 : 50000;
    std::vector<std::string> keys;
    for (size_t i = 0; i < opts.ops; ++i) keys.push_back("tput:" + key_of(i));
    if (tls.enabled()) {
      double rate =
          static_cast<double>(total) / windowed_gets(sys, stream_hdl, keys, total, window);
      add("get throughput, remote CAF node over mutual TLS, 64 in flight", fmt(rate, "gets/s"),
          fmt(plain_remote_rate, "gets/s") + " plaintext remote get", rate / plain_remote_rate, "—",
          -1);
      node.stop();
      return;
    }
    // The reply the echo actor sends: a real one.
    eb::entry reply;
    self->request(stream_hdl, std::chrono::seconds(30), eb::get_atom::value, keys.front())
        .receive([&](eb::entry& e) { reply = std::move(e); },
                 [&](caf::error& e) { die("remote get: " + sys.render(e)); });
    caf::actor_system_config echo_cfg;
    eb::configure_network(echo_cfg, {});
    echo_cfg.load<caf::io::middleman>();
    eb::api::tune_scheduler(echo_cfg);
    caf::actor_system echo_sys{echo_cfg};
    auto echo = echo_sys.spawn([reply](caf::event_based_actor*) -> caf::behavior {
      return {[reply](eb::get_atom, const std::string&) { return reply; }};
    });
    auto port = echo_sys.middleman().publish(echo, 0, "127.0.0.1");
    if (!port) die("publish the echo actor: " + echo_sys.render(port.error()));
    auto echo_hdl = sys.middleman().remote_actor("127.0.0.1", *port);
    if (!echo_hdl) die("connect to the echo actor: " + sys.render(echo_hdl.error()));
    const size_t rounds = 5;
    double seconds = 0, echo_seconds = 0;
    for (size_t r = 0; r < rounds; ++r) {
      echo_seconds += windowed_gets(sys, *echo_hdl, keys, total / rounds, window);
      seconds += windowed_gets(sys, stream_hdl, keys, total / rounds, window);
    }
    double counted = static_cast<double>(total / rounds * rounds);
    double rate = counted / seconds, echo_rate = counted / echo_seconds;
    plain_remote_rate = rate;
    add("get throughput, remote CAF node, 64 in flight", fmt(rate, "gets/s"),
        fmt(echo_rate, "round trips/s") + " raw CAF", rate / echo_rate, "≥ 0.80x",
        shown(rate / echo_rate) >= 0.8);
    add("get throughput, remote CAF node, beside in-process gets", fmt(rate, "gets/s"),
        fmt(eb_get_rate, "gets/s") + " in-process get", rate / eb_get_rate, "— (information)", -1);
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    node.stop();
  }

  void subscription_latency() {
    auto name = stream("sub");
    auto a = must(eb::stream::open(config_for(name, nats, path("sub-a"))), "open a");
    auto b = must(eb::stream::open(config_for(name, nats, path("sub-b"))), "open b");
    std::mutex m;
    std::condition_variable cv;
    bool arrived = false;
    clock_type::time_point arrival;
    auto sub = must(b.subscribe("lat:*",
                                [&](const std::string&, auto&, auto&, auto&) {
                                  std::lock_guard<std::mutex> guard(m);
                                  arrival = clock_type::now();
                                  arrived = true;
                                  cv.notify_all();
                                }),
                    "subscribe");
    std::string doc_text = document_text(opts.doc_bytes, opts.doc_fields);
    json doc = json::parse(doc_text);
    // The baseline is the raw pipeline's latency measured here, in rounds alternating with the
    // subscription's as in the puts group, not the puts group's figure from minutes before.
    std::string payload = eb::protocol::encode_put_payload(key_of(0), doc_text, 0);
    auto headers = eb::protocol::meta_headers(eb::protocol::carry_meta(nullptr, 0));
    auto pipe_stream = stream("subpipe");
    auto pipeline = must(eb::bench::raw_pipeline::open(nats, pipe_stream, path("sub-pipeline")),
                         "raw pipeline");
    std::vector<double> latency, pipeline_latency;
    size_t n = std::min<size_t>(opts.ops, 2000);
    const size_t alternations = std::min<size_t>(5, n);
    for (size_t r = 0; r < alternations; ++r) {
      size_t first = r * n / alternations, last = (r + 1) * n / alternations;
      std::vector<std::string> pipe_subjects;
      for (size_t i = first; i < last; ++i)
        pipe_subjects.push_back(eb::protocol::put_subject(pipe_stream, "lat:" + key_of(i)));
      auto raw_round =
          must(pipeline->one_at_a_time(pipe_subjects, payload, headers), "raw pipeline");
      pipeline_latency.insert(pipeline_latency.end(), raw_round.begin(), raw_round.end());
      for (size_t i = first; i < last; ++i) {
        std::string key = "lat:" + key_of(i);
        auto start = clock_type::now();
        must(a.put(key, doc), "put");
        std::unique_lock<std::mutex> guard(m);
        if (!cv.wait_for(guard, std::chrono::seconds(30), [&] { return arrived; }))
          die("a change did not arrive");
        arrived = false;
        latency.push_back(std::chrono::duration<double, std::micro>(arrival - start).count());
      }
    }
    pipeline.reset();
    sub.unsubscribe();
    a.close();
    b.close();
    double p50 = percentile(latency, 50), p99 = percentile(latency, 99);
    double base = percentile(pipeline_latency, 50);
    add("subscription delivery p50 (put on A to callback on B)", fmt(p50, "µs"),
        fmt(base, "µs") + " raw pipeline latency p50", p50 / base, "≤ 1.30x",
        shown(p50 / base) <= 1.3);
    if (sync_publish_p50 > 0)
      add("subscription delivery p50 beside a bare publish", fmt(p50, "µs"),
          fmt(sync_publish_p50, "µs") + " js_Publish p50", p50 / sync_publish_p50,
          "— (information)", -1);
    add("subscription delivery p99", fmt(p99, "µs"), "—", 0, "—", -1);
  }

  void open_empty() {
    // Keep the runtime, connection and database warm, as in a running application.
    auto keeper = must(eb::stream::open(config_for(stream("keeper"), nats, path("open"))), "open");
    std::vector<double> times;
    for (int i = 0; i < (opts.quick ? 3 : 20); ++i) {
      auto t = clock_type::now();
      auto s = must(
          eb::stream::open(config_for(stream("empty" + std::to_string(i)), nats, path("open"))),
          "open empty");
      times.push_back(seconds_since(t) * 1000);
      s.close();
    }
    std::vector<double> reopen;
    for (int i = 0; i < (opts.quick ? 3 : 20); ++i) {
      auto t = clock_type::now();
      auto s = must(
          eb::stream::open(config_for(stream("empty" + std::to_string(i)), nats, path("open"))),
          "reopen empty");
      reopen.push_back(seconds_since(t) * 1000);
      s.close();
    }
    keeper.close();
    double p50 = percentile(times, 50);
    add("open of a new empty stream, p50 (creates it in JetStream)", fmt(p50, "ms"), "—", 0,
        "< 20 ms", p50 < 20);
    double r50 = percentile(reopen, 50);
    add("open of an existing empty stream, p50", fmt(r50, "ms"), "—", 0, "< 20 ms", r50 < 20);
  }

  // keys over `n` keys of a replica at `replica_path`, beside a raw full scan. Each figure is the
  // median of several runs (one run of a sub-millisecond scan says little).
  void keys_figures(const std::string& name, const std::string& replica_path, size_t n,
                    const std::string& label) {
    size_t runs = n > 100000 ? 3 : 11;
    auto median_seconds = [&](auto&& once) {
      std::vector<double> times;
      for (size_t i = 0; i < runs; ++i) {
        auto t = clock_type::now();
        once();
        times.push_back(seconds_since(t));
      }
      return percentile(times, 50);
    };
    auto db = must(eb::stream::open(config_for(name, nats, replica_path)), "open for keys");
    size_t all = 0, users = 0;
    double all_s = median_seconds([&] { all = must(db.keys(""), "keys").size(); });
    double users_s = median_seconds([&] { users = must(db.keys("^user:"), "keys ^user:").size(); });
    double sevens_s = median_seconds([&] { must(db.keys("7$"), "keys 7$"); });
    db.close();
    if (all != n) die("expected " + std::to_string(n) + " keys, got " + std::to_string(all));
    auto replica = must(eb::bench::raw_replica::open(replica_path, name), "raw replica");
    double scan_s = median_seconds([&] {
      if (must(replica->full_scan(), "raw scan").first != n) die("raw scan missed keys");
    });
    add("keys(\"\") over " + label + " keys", fmt(all_s * 1000, "ms"),
        fmt(scan_s * 1000, "ms") + " full key scan", all_s / scan_s, "—", -1);
    double skipped = static_cast<double>(n) / static_cast<double>(users);
    double speedup = scan_s / users_s;
    // The seek skips all but 1/`skipped` of the keys; 80% of that speed-up is the target.
    double wanted_speedup = skipped * 0.8;
    add("keys(\"^user:\") over " + label + " keys (" + std::to_string(users) + " match)",
        fmt(users_s * 1000, "ms"), fmt(scan_s * 1000, "ms") + " full key scan", users_s / scan_s,
        "faster than the scan by ≥ " + ratio_text(wanted_speedup) + " (got " + ratio_text(speedup) +
            ")",
        shown(speedup) >= shown(wanted_speedup));
    // A regex without a literal prefix examines every key; matching must cost little beside
    // reading them (issue: ≤ 1.1x the full scan over 1M keys).
    double sevens_ratio = sevens_s / scan_s;
    bool large = n > 100000;
    add("keys(\"7$\") over " + label + " keys (regex, no prefix)", fmt(sevens_s * 1000, "ms"),
        fmt(scan_s * 1000, "ms") + " full key scan", sevens_ratio, large ? "≤ 1.10x" : "—",
        large ? shown(sevens_ratio) <= 1.1 : -1);
  }

  void small_keys() {
    auto name = stream("keys10k");
    populate(*raw, name, opts.small_keys, opts.doc_bytes, opts.doc_fields);
    keys_figures(name, path("keys10k"), opts.small_keys, std::to_string(opts.small_keys));
  }

  void replay() {
    auto name = stream("replay");
    auto t = clock_type::now();
    populate(*raw, name, opts.keys, opts.doc_bytes, opts.doc_fields);
    std::cerr << "  (populated " << opts.keys << " events in " << seconds_since(t) << " s)"
              << std::endl;
    double raw_seconds = must(raw->consume(name, opts.keys), "raw consumer");
    // The replay runs in a process of its own, so that its peak memory is its own.
    auto child = must(eb::subprocess::run({self_executable(), "--replay-child", "--nats=" + nats,
                                           "--stream=" + name, "--data=" + path("replay")},
                                          std::chrono::minutes(30)),
                      "replay child");
    if (child.exit_code != 0 || child.out.empty()) {
      std::string err;
      for (auto& l : child.err) err += l + "\n";
      die("replay child failed:\n" + err);
    }
    auto result = json::parse(child.out.back());
    double seconds = result["seconds"].get<double>();
    double rate = static_cast<double>(opts.keys) / seconds;
    double raw_rate = static_cast<double>(opts.keys) / raw_seconds;
    std::string label = std::to_string(opts.keys);
    add("catch-up: replay " + label + " events into a fresh replica", fmt(rate, "events/s"),
        fmt(raw_rate, "msgs/s") + " raw pull consumer", rate / raw_rate, "≥ 0.50x",
        shown(rate / raw_rate) >= 0.5);
    double peak_mb = result["peak_rss_kb"].get<double>() / 1024.0;
    add("peak memory replaying " + label + " keys (RSS of the process)", fmt(peak_mb, "MB"), "—", 0,
        "< 300 MB", peak_mb < 300);
    keys_figures(name, path("replay"), opts.keys, label);
  }

  // The queries group (issue 11 item 7): `query_docs` documents {name, age, city, tags} loaded
  // with raw publishes and replayed, indexes on age and city built in a child process, then each
  // query through the C++ API (stream::query / count, on the calling thread, the local replica),
  // the median of several runs, beside RocksDB doing the least the same answer needs on the same
  // replica (opened read-only beside the stream).
  void queries() {
    const size_t n = opts.query_docs;
    const size_t ages = std::max<size_t>(1, n / 100);  // an equality on age matches 100
    auto name = stream("queries");
    auto data = path("queries");
    auto t = clock_type::now();
    populate(*raw, name, n, query_key_of, [&](size_t i) { return query_document(i, ages).dump(); });
    std::cerr << "  (populated " << n << " documents in " << seconds_since(t) << " s)" << std::endl;
    t = clock_type::now();
    must(eb::stream::open(config_for(name, nats, data)), "open queries stream").close();
    std::cerr << "  (replayed them in " << seconds_since(t) << " s)" << std::endl;
    std::string label = std::to_string(n);

    // Index builds, in a process of their own (their peak memory is theirs).
    auto child = must(eb::subprocess::run({self_executable(), "--index-child", "--nats=" + nats,
                                           "--stream=" + name, "--data=" + data},
                                          std::chrono::minutes(30)),
                      "index child");
    if (child.exit_code != 0 || child.out.empty()) {
      std::string err;
      for (auto& l : child.err) err += l + "\n";
      die("index child failed:\n" + err);
    }
    auto built = json::parse(child.out.back());
    for (const char* field : kQueryIndexes) {
      double s = built[std::string("seconds_") + field].get<double>();
      add(std::string("index build on \"") + field + "\" over " + label + " documents",
          fmt(s * 1000, "ms"), "—", 0, "— (information)", -1);
    }
    double peak_mb = built["peak_rss_kb"].get<double>() / 1024.0;
    double open_mb = built["rss_open_kb"].get<double>() / 1024.0;
    add("peak memory building both indexes over " + label + " documents (RSS of the process)",
        fmt(peak_mb, "MB"), fmt(open_mb, "MB") + " peak after opening the stream", 0, "< 300 MB",
        peak_mb < 300);

    auto db = must(eb::stream::open(config_for(name, nats, data)), "reopen queries stream");
    for (auto& info : must(db.list_indexes(), "list indexes"))
      if (info.state != "ready") die("index " + info.field + " is " + info.state);
    auto replica = must(eb::bench::raw_replica::open(data, name), "raw replica");
    const size_t runs = 21;
    auto median_ms = [&](size_t times, auto&& once) {
      once();  // warm-up
      std::vector<double> samples;
      for (size_t i = 0; i < times; ++i) {
        auto start = clock_type::now();
        once();
        samples.push_back(seconds_since(start) * 1000);
      }
      return percentile(samples, 50);
    };
    // The medians of `ours` and `theirs` run in alternation, so that load from elsewhere on the
    // machine falls on both alike.
    auto paired_median_ms = [&](size_t times, auto&& ours, auto&& theirs) {
      ours();  // warm-up
      theirs();
      std::vector<double> a, b;
      for (size_t i = 0; i < times; ++i) {
        auto start = clock_type::now();
        ours();
        a.push_back(seconds_since(start) * 1000);
        start = clock_type::now();
        theirs();
        b.push_back(seconds_since(start) * 1000);
      }
      return std::make_pair(percentile(a, 50), percentile(b, 50));
    };
    auto keys_of = [](const std::vector<eb::keyed_document>& docs) {
      std::vector<std::string> keys;
      for (auto& d : docs) keys.push_back(d.key);
      return keys;
    };
    // An indexed query beside raw point reads of the documents it returns.
    auto indexed = [&](const std::string& figure, const json& filter, double target_ms) {
      auto docs = must(db.query(filter), "query " + filter.dump());
      auto keys = keys_of(docs);
      auto [ms, raw_ms] = paired_median_ms(
          runs, [&] { docs = must(db.query(filter), "query " + filter.dump()); },
          [&] { must(replica->read_documents(keys), "raw point reads"); });
      std::string what = figure + " (" + std::to_string(docs.size()) + " of " + label + ")";
      char target[32];
      std::snprintf(target, sizeof target, "≤ %g ms", target_ms);
      add(what, fmt(ms, "ms"), "—", 0, target, ms <= target_ms);
      add(what + " beside point reads", fmt(ms, "ms"),
          fmt(raw_ms, "ms") + " RocksDB Get + decode of the same", ms / raw_ms, "≤ 1.50x",
          shown(ms / raw_ms) <= 1.5);
    };
    size_t age = ages > 20 ? 4242 % (ages - 10) : 0;  // the range's 10 ages all exist
    indexed("indexed equality", json{{"age", age}}, 1);
    indexed("indexed range", json{{"age", {{"$gte", age}, {"$lt", age + 10}}}}, 5);

    json city{{"city", "city3"}};
    uint64_t counted = 0;
    double count_ms = median_ms(runs, [&] { counted = must(db.count(city), "count"); });
    add("count through an index (" + std::to_string(counted) + " of " + label + ")",
        fmt(count_ms, "ms"), "—", 0, "≤ 20 ms", count_ms <= 20);

    // No index on name: every document is examined, beside a raw scan decoding each.
    std::string prefix = "name-" + std::to_string(1234 % n);
    json by_name{{"name", {{"$sw", prefix}}}};
    size_t found = 0;
    size_t scan_runs = n > 100000 ? 5 : 11;
    size_t raw_found = 0;
    auto [scan_ms, raw_scan_ms] = paired_median_ms(
        scan_runs, [&] { found = must(db.query(by_name), "query").size(); },
        [&] {
          raw_found = must(replica->scan_documents([&](const json& doc) {
                        auto it = doc.find("name");
                        return it != doc.end() && it->is_string() &&
                               it->get_ref<const std::string&>().rfind(prefix, 0) == 0;
                      }),
                           "raw document scan")
                          .first;
        });
    if (found != raw_found)
      die("unindexed query found " + std::to_string(found) + ", the raw scan " +
          std::to_string(raw_found));
    add("unindexed query, name $sw (" + std::to_string(found) + " of " + label + ")",
        fmt(scan_ms, "ms"), fmt(raw_scan_ms, "ms") + " RocksDB scan + decode + match",
        scan_ms / raw_scan_ms, "≤ 1.30x", shown(scan_ms / raw_scan_ms) <= 1.3);

    json top{{"sort", {{"age", -1}}}, {"limit", 10}};
    double top_ms = median_ms(runs, [&] {
      if (must(db.query(json::object(), top), "sort + limit").size() != 10) die("sort + limit");
    });
    add("sort on an indexed field + limit 10 (of " + label + ")", fmt(top_ms, "ms"), "—", 0,
        "≤ 1 ms", top_ms <= 1);
    replica.reset();
    db.close();
    import_throughput(ages);
  }

  // `eventbase import` (the client binary) of JSON lines against a node, beside in-process
  // put_async of the same documents with as many in flight (the put throughput row's way).
  void import_throughput(size_t ages) {
    const size_t m = std::min<size_t>(opts.query_docs, opts.quick ? 500 : 30000);
    const size_t window = 64;  // as `eventbase import`
    std::vector<std::string> keys;
    std::vector<json> docs;
    std::string lines;
    for (size_t i = 0; i < m; ++i) {
      keys.push_back(query_key_of(i));
      docs.push_back(query_document(i, ages));
      lines += json{{"key", keys.back()}, {"data", docs.back()}}.dump() + "\n";
    }
    auto db = must(eb::stream::open(config_for(stream("qput"), nats, path("qput"))), "open");
    double put_rate = static_cast<double>(m) / put_window(db, keys, docs, window);
    db.close();

    eb::node_config nc;
    nc.nats.servers = {nats};
    nc.data_path = path("import-node");
    nc.port = 0;
    auto node = must(eb::node::start(nc), "start node");
    auto client = std::filesystem::path(self_executable()).parent_path() / "eventbase";
    double cpu_before = children_cpu_seconds();
    auto start = clock_type::now();
    auto run = must(
        eb::subprocess::run({client.string(), "import", stream("import")}, std::chrono::minutes(30),
                            {"EVENTBASE_SERVER=127.0.0.1:" + std::to_string(node.port())}, lines),
        "eventbase import");
    double seconds = seconds_since(start);
    double client_cpu = children_cpu_seconds() - cpu_before;
    node.stop();
    std::string expected = json{{"imported", m}}.dump();
    if (run.exit_code != 0 || run.out.empty() || run.out.back() != expected) {
      std::string err;
      for (auto& l : run.err) err += l + "\n";
      die("eventbase import failed (" + std::to_string(run.exit_code) + "):\n" + err);
    }
    double rate = static_cast<double>(m) / seconds;
    add("import throughput (eventbase import to a node, " + std::to_string(m) + " documents)",
        fmt(rate, "docs/s"), fmt(put_rate, "puts/s") + " put_async, 64 in flight", rate / put_rate,
        "≥ 0.80x", shown(rate / put_rate) >= 0.8);
    // On two cores the client's CPU is taken from the node and the nats-server.
    add("CPU of the eventbase import process per document", fmt(client_cpu / m * 1e6, "µs"), "—", 0,
        "— (information)", -1);
  }
};

bool parse_size(const std::string& arg, const char* name, size_t& out) {
  std::string prefix = std::string("--") + name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  out = std::strtoull(arg.c_str() + prefix.size(), nullptr, 10);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  options opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help") {
      std::cout << kHelp;
      return 0;
    } else if (arg == "--quick") {
      opts.quick = true;
      opts.keys = 2000;
      opts.ops = 200;
      opts.small_keys = 1000;
      opts.query_docs = 5000;
    } else if (arg == "--replay-child") {
      opts.replay_child = true;
    } else if (arg == "--index-child") {
      opts.index_child = true;
    } else if (arg.rfind("--nats=", 0) == 0) {
      opts.nats = arg.substr(7);
    } else if (arg.rfind("--stream=", 0) == 0) {
      opts.stream = arg.substr(9);
    } else if (arg.rfind("--data=", 0) == 0) {
      opts.data = arg.substr(7);
    } else if (arg.rfind("--only=", 0) == 0) {
      opts.only = "," + arg.substr(7) + ",";
    } else if (arg.rfind("--work-dir=", 0) == 0) {
      opts.work_dir = arg.substr(11);
    } else if (!parse_size(arg, "keys", opts.keys) && !parse_size(arg, "ops", opts.ops) &&
               !parse_size(arg, "doc-bytes", opts.doc_bytes) &&
               !parse_size(arg, "doc-fields", opts.doc_fields) &&
               !parse_size(arg, "inflight", opts.inflight) &&
               !parse_size(arg, "query-docs", opts.query_docs)) {
      std::cerr << "eventbase-bench: unknown option " << arg << "\n" << kHelp;
      return 2;
    }
  }
  if (opts.replay_child) return replay_child(opts);
  if (opts.index_child) return index_child(opts);
  if (opts.keys < 10 || opts.ops < 10 || opts.inflight < 1 || opts.query_docs < 1000)
    die("sizes are too small");
  opts.small_keys = std::min(opts.small_keys, opts.keys);

  bench_run run;
  run.opts = opts;
  std::string work = opts.work_dir;
  bool own_work = work.empty();
  if (own_work) {
    std::string templ = "/tmp/eventbase-bench-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) die("mkdtemp failed");
    work = templ;
  }
  run.work = work;
  std::unique_ptr<eb::nats::embedded_server> server;
  run.nats = opts.nats;
  if (run.nats.empty()) {
    eb::nats::embedded_server_options so;
    so.store_dir = work + "/nats";
    server = must(eb::nats::embedded_server::start(so), "start nats-server");
    run.nats = server->url();
  }
  run.raw = must(eb::bench::raw_jetstream::connect(run.nats), "connect");
  std::cerr << "eventbase-bench: keys=" << opts.keys << " ops=" << opts.ops
            << " doc-bytes=" << opts.doc_bytes << " doc-fields=" << opts.doc_fields
            << " inflight=" << opts.inflight << " nats=" << run.nats << std::endl;
  auto started = clock_type::now();
  auto wanted = [&](const char* group) {
    return opts.only.empty() || opts.only.find(std::string(",") + group + ",") != std::string::npos;
  };
  if (wanted("puts") || wanted("remote")) run.puts();  // the remote rows compare with its gets
  if (wanted("remote")) run.remote_gets();
  if (wanted("subscription")) run.subscription_latency();
  if (wanted("open")) run.open_empty();
  if (wanted("keys")) run.small_keys();
  if (wanted("replay")) run.replay();
  if (wanted("queries")) run.queries();
  if (wanted("durability")) run.durability();
  std::cerr << "eventbase-bench: done in " << seconds_since(started) << " s" << std::endl;
  print_table();
  run.raw.reset();
  server.reset();
  if (own_work) {
    std::error_code ec;
    std::filesystem::remove_all(work, ec);
  }
  return 0;
}
