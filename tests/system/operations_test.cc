// What an operator relies on (README "Health and metrics", "The client"): eventbase-server's
// HTTP endpoint (--http) answering /healthz and /metrics, turning unhealthy when NATS goes away
// and healthy again when it is back; its bind rules; `eventbase import`.
#define CAF_SUITE operations
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <regex>
#include <set>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "base/subprocess.hpp"
#include "nats/embedded_server.hpp"
#include "support/nats_fixture.hpp"
#include "support/temp_dir.hpp"
#include "system/processes.hpp"

using namespace eventbase;
using namespace eventbase::test;
using nlohmann::json;

namespace {

struct http_reply {
  int status = 0;  // 0: no answer
  std::string body;
};

http_reply http_get(const std::string& address, const std::string& path) {
  auto colon = address.rfind(':');
  httplib::Client client(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  auto res = client.Get(path.c_str());
  if (!res) return {};
  return {res->status, res->body};
}

// Polls `path` until its status is `status` or `timeout` passes; the last reply.
http_reply await_status(const std::string& address, const std::string& path, int status,
                        std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  http_reply last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = http_get(address, path);
    if (last.status == status) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

// The address of the server's HTTP endpoint, from its "eventbase-server http on" line.
std::string http_address(server_process& server) {
  static const std::string prefix = "eventbase-server http on ";
  auto line = server.process().wait_for_stdout(
      [](const std::string& l) { return l.rfind(prefix, 0) == 0; }, std::chrono::seconds(5));
  return line ? line->substr(prefix.size()) : std::string();
}

// Checks the exposition format's rules on `text`: every sample line is NAME{LABELS} VALUE with
// valid label syntax, and belongs to a family whose HELP and TYPE came before it.
void check_exposition(const std::string& text) {
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")"
      R"((,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN))");
  std::set<std::string> helped, typed;
  std::string line;
  std::istringstream in(text);
  size_t samples = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      helped.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    std::smatch m;
    if (!std::regex_match(line, m, sample)) {
      CAF_FAIL("not a valid sample line: " << line);
    }
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s = suffix;
      if (!typed.count(family) && family.size() > s.size() &&
          family.compare(family.size() - s.size(), s.size(), s) == 0)
        family.resize(family.size() - s.size());
    }
    CAF_CHECK(helped.count(family) == 1 && typed.count(family) == 1);
    ++samples;
  }
  CAF_CHECK_GREATER(samples, 10u);
}

}  // namespace

CAF_TEST(health and metrics follow nats going away and coming back) {
  temp_dir dir;
  nats::embedded_server_options nats_options;
  nats_options.store_dir = dir.sub("nats");
  auto nats = nats::embedded_server::start(nats_options).value();
  auto server = must_start(dir.sub("db"), {"--nats=" + nats->url(), "--http=127.0.0.1:0"});
  auto http = http_address(*server);
  CAF_REQUIRE(!http.empty());

  auto healthy = http_get(http, "/healthz");
  CAF_CHECK_EQUAL(healthy.status, 200);
  CAF_CHECK_EQUAL(json::parse(healthy.body, nullptr, false), json({{"status", "ok"}}));

  std::string s = unique_name("ops");
  CAF_REQUIRE_EQUAL(run_client(server->address(), {"put", s, "k1", "1"}).exit_code, 0);
  CAF_REQUIRE_EQUAL(run_client(server->address(), {"put", s, "k2", "2"}).exit_code, 0);
  CAF_REQUIRE_EQUAL(run_client(server->address(), {"get", s, "k1"}).exit_code, 0);
  auto started = std::chrono::steady_clock::now();
  auto metrics = http_get(http, "/metrics");
  auto took = std::chrono::steady_clock::now() - started;
  CAF_MESSAGE("GET /metrics took "
              << std::chrono::duration_cast<std::chrono::microseconds>(took).count() << " us");
  CAF_CHECK_EQUAL(metrics.status, 200);
  check_exposition(metrics.body);
  std::string label = "stream=\"" + s + "\"";
  std::string missing;
  for (const std::string& expected : std::vector<std::string>{
           "# TYPE eventbase_operations_total counter\n",
           "eventbase_operations_total{" + label + ",operation=\"put\"} 2\n",
           "eventbase_operations_total{" + label + ",operation=\"get\"} 1\n",
           "# TYPE eventbase_operation_duration_seconds histogram\n",
           "eventbase_operation_duration_seconds_bucket{" + label +
               ",operation=\"put\",le=\"+Inf\"} 2\n",
           "eventbase_operation_duration_seconds_count{" + label + ",operation=\"put\"} 2\n",
           "eventbase_operation_duration_seconds_sum{" + label + ",operation=\"put\"} ",
           "eventbase_stream_applied_sequence{" + label + "} 2\n",
           "eventbase_stream_subscriptions{" + label + "} 0\n",
           "eventbase_streams{state=\"open\"} 1\n",
           "eventbase_nats_connected 1\n",
           "eventbase_nats_reconnects_total 0\n",
           "eventbase_rocksdb_size_bytes ",
       })
    if (!contains(metrics.body, expected)) missing += expected;
  CAF_CHECK_EQUAL(missing, "");

  // NATS goes away: unhealthy within a few seconds, saying why.
  nats->stop();
  auto lost_at = std::chrono::steady_clock::now();
  auto unhealthy = await_status(http, "/healthz", 503, std::chrono::seconds(10));
  auto noticed = std::chrono::steady_clock::now() - lost_at;
  CAF_MESSAGE("503 after " << std::chrono::duration_cast<std::chrono::milliseconds>(noticed).count()
                           << " ms");
  CAF_REQUIRE_EQUAL(unhealthy.status, 503);
  CAF_CHECK(contains(unhealthy.body, R"({"reason":")"));  // and which part is missing
  CAF_CHECK(contains(unhealthy.body, "NATS"));
  CAF_CHECK(contains(unhealthy.body, R"("status":"unavailable")"));
  CAF_CHECK_LESS(noticed, std::chrono::seconds(5));
  CAF_CHECK(contains(http_get(http, "/metrics").body, "eventbase_nats_connected 0\n"));

  // ...and comes back: healthy again, one reconnect counted.
  CAF_REQUIRE(nats->restart().ok());
  CAF_CHECK_EQUAL(await_status(http, "/healthz", 200, std::chrono::seconds(20)).status, 200);
  CAF_CHECK(contains(http_get(http, "/metrics").body, "eventbase_nats_reconnects_total 1\n"));
  CAF_CHECK_EQUAL(http_get(http, "/nothing").status, 404);
  CAF_CHECK_EQUAL(server->stop(), 0);
}

CAF_TEST(the http endpoint follows the bind rules of the port) {
  temp_dir dir;
  auto refused = [&](const std::string& http, const std::string& says) {
    auto run = subprocess::run({EVENTBASE_SERVER_BIN, "--db=" + dir.sub("db"), "--port=0",
                                "--nats=" + nats_server().url(), "--http=" + http},
                               std::chrono::seconds(30));
    CAF_REQUIRE(run.ok());
    std::string err;
    for (auto& l : run->err) err += l + "\n";
    CAF_CHECK_EQUAL(run->exit_code, 2);
    CAF_CHECK_EQUAL(contains(err, says) ? says : "--http=" + http + ": " + err, says);
  };
  refused("0.0.0.0:0", "is not a loopback address");
  refused("no-port", "--http must be ADDR:PORT");
  refused("127.0.0.1:70000", "--http must be ADDR:PORT");
  refused(":8080", "--http must be ADDR:PORT");
  refused("no-such-host.invalid:8080", "resolvable host name");
  // Asked for explicitly: served on every interface.
  auto open = must_start(dir.sub("db2"),
                         {"--nats=" + nats_server().url(), "--http=0.0.0.0:0", "--insecure"});
  auto http = http_address(*open);
  CAF_REQUIRE(!http.empty());
  CAF_CHECK_EQUAL(http_get("127.0.0.1" + http.substr(http.rfind(':')), "/healthz").status, 200);
  CAF_CHECK_EQUAL(open->stop(), 0);
}

CAF_TEST(import puts json lines and counts them) {
  temp_dir dir;
  auto server = must_start(dir.sub("db"), {"--nats=" + nats_server().url()});
  std::string s = unique_name("import");
  std::string input;
  for (int i = 0; i < 500; ++i)
    input += json({{"key", "k" + std::to_string(i)}, {"data", {{"n", i}}}}).dump() + "\n";
  auto imported = run_client(server->address(), {"import", s}, input);
  CAF_CHECK_EQUAL(single_json_line(imported), json({{"imported", 500}}));
  for (auto& line : imported.err)  // not a terminal: no progress line
    CAF_CHECK_EQUAL(line, "");
  auto got = single_json_line(run_client(server->address(), {"get", s, "k499"}));
  CAF_CHECK(contains(got.dump(), R"("data":{"n":499})"));
  auto bad = run_client(server->address(), {"import", s}, R"({"key":"a","data":1}
{"key":"b","data":2}
not json
{"key":"c","data":3}
)");
  CAF_CHECK_EQUAL(bad.exit_code, 1);
  CAF_CHECK(!bad.err.empty() && contains(bad.err[0], "line 3") &&
            contains(bad.err[0], "2 documents imported before"));
  CAF_CHECK_EQUAL(single_json_line(run_client(server->address(), {"get", s, "c"})), json());
}
