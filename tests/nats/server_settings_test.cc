// nats-server's release as `--version` names it, and the JetStream sync settings
// (nats/server_settings.hpp): what is accepted, what is refused, what a configuration gets.
#define CAF_SUITE nats_server_settings
#include "caf/test/unit_test.hpp"

#include <cstdlib>

#include "nats/server_settings.hpp"

using namespace eventbase;
using eventbase::nats::server_version;

namespace {

server_version parsed(const std::string& text) {
  auto v = nats::parse_server_version(text);
  if (!v.ok()) CAF_FAIL("'" << text << "' did not parse: " << v.error().message());
  return *v;
}

}  // namespace

CAF_TEST(the version line of each release parses) {
  auto v = parsed("nats-server: v2.9.10");
  CAF_CHECK_EQUAL(v.major, 2);
  CAF_CHECK_EQUAL(v.minor, 9);
  CAF_CHECK_EQUAL(v.patch, 10);
  CAF_CHECK_EQUAL(v.to_string(), "2.9.10");
  CAF_CHECK_EQUAL(parsed("nats-server: v2.10.27\n").to_string(), "2.10.27");
  CAF_CHECK_EQUAL(parsed("  nats-server: v2.15.1  \n").to_string(), "2.15.1");
  CAF_CHECK_EQUAL(parsed("nats-server: v2.11.0-RC.1").to_string(), "2.11.0");
  CAF_CHECK_EQUAL(parsed("nats-server: v2.12.3+build7").to_string(), "2.12.3");
  CAF_CHECK_EQUAL(parsed("nats-server: 2.10.1").to_string(), "2.10.1");
}

CAF_TEST(anything else is not a version) {
  for (const char* text :
       {"", "nats-server", "nats-server: v", "nats-server: v2", "nats-server: v2.9",
        "nats-server: v2.9.", "nats-server: v2.x.1", "nats-server: v2.9.10x", "gnatsd: v1.4.1",
        "nats-server: v2.9.10.1", "nats-server: v1234567.0.0", "Version: 2.9.10"}) {
    auto v = nats::parse_server_version(text);
    CAF_CHECK(!v.ok());
    if (!v.ok()) {
      CAF_CHECK_EQUAL(v.error().code(), errc::invalid_argument);
      CAF_CHECK(v.error().message().find("is not a nats-server version") != std::string::npos);
    }
  }
}

CAF_TEST(versions order by major minor and patch) {
  server_version v2_9_10{2, 9, 10}, v2_10_0{2, 10, 0}, v2_10_27{2, 10, 27}, v3_0_0{3, 0, 0};
  CAF_CHECK(v2_9_10 < v2_10_0);  // numerically, not as text
  CAF_CHECK(v2_10_0 < v2_10_27);
  CAF_CHECK(v2_10_27 < v3_0_0);
  CAF_CHECK(v2_10_0 == nats::kSyncIntervalSince);
  CAF_CHECK(v2_10_27 >= nats::kSyncIntervalSince);
  CAF_CHECK(v2_9_10 < nats::kSyncIntervalSince);
  CAF_CHECK(v3_0_0 > v2_9_10 && v2_9_10 <= v2_9_10 && v2_9_10 != v2_10_0);
}

CAF_TEST(sync takes always or a positive duration with a unit) {
  for (const char* ok : {"", "always", "1ms", "500ms", "10s", "2m", "1h", "0010s"})
    if (!nats::check_sync(ok).ok()) CAF_ERROR("'" << ok << "' was refused");
  for (const char* bad :
       {"Always", "never", "10", "s", "10S", "1.5s", "1h30m", "10 s", " 10s", "-5s", "10us", "10ns",
        "0s", "0ms", "\"10s\"", "99999999999h", "9999999999999999999s"}) {
    auto st = nats::check_sync(bad);
    if (st.ok()) CAF_ERROR("'" << bad << "' was accepted");
    CAF_CHECK_EQUAL(st.code(), errc::invalid_argument);
    CAF_CHECK(st.message().find("use always, or a duration of digits followed by ms, s, m or h") !=
              std::string::npos);
  }
}

CAF_TEST(the configuration names sync_interval only from 2.10 on) {
  server_version old_one{2, 9, 10}, first{2, 10, 0}, new_one{2, 15, 1};
  CAF_CHECK_EQUAL(nats::sync_interval_setting("always", new_one), "  sync_interval: always\n");
  CAF_CHECK_EQUAL(nats::sync_interval_setting("always", first), "  sync_interval: always\n");
  CAF_CHECK_EQUAL(nats::sync_interval_setting("10s", new_one), "  sync_interval: \"10s\"\n");
  CAF_CHECK_EQUAL(nats::sync_interval_setting("", new_one), "");
  CAF_CHECK_EQUAL(nats::sync_interval_setting("always", old_one), "");
  CAF_CHECK_EQUAL(nats::sync_interval_setting("2m", old_one), "");
}

CAF_TEST(the default program is EVENTBASE_NATS_SERVER or nats - server) {
  const char* before = std::getenv("EVENTBASE_NATS_SERVER");
  std::string saved = before != nullptr ? before : "";
  ::unsetenv("EVENTBASE_NATS_SERVER");
  CAF_CHECK_EQUAL(nats::default_server_executable(), "nats-server");
  ::setenv("EVENTBASE_NATS_SERVER", "", 1);
  CAF_CHECK_EQUAL(nats::default_server_executable(), "nats-server");
  ::setenv("EVENTBASE_NATS_SERVER", "/opt/nats/nats-server", 1);
  CAF_CHECK_EQUAL(nats::default_server_executable(), "/opt/nats/nats-server");
  if (before != nullptr)
    ::setenv("EVENTBASE_NATS_SERVER", saved.c_str(), 1);
  else
    ::unsetenv("EVENTBASE_NATS_SERVER");
}

CAF_TEST(the release is read from a servers INFO line) {
  auto v = nats::parse_info_version(
      R"(INFO {"server_id":"NABC","version":"2.15.1","go":"go1.24","headers":true})");
  CAF_REQUIRE(v.ok());
  CAF_CHECK_EQUAL(v->to_string(), "2.15.1");
  CAF_CHECK_EQUAL(nats::parse_info_version("INFO {\"version\":\"2.11.0-RC.1\"}\r\n")->to_string(),
                  "2.11.0");
  for (std::string bad : {"", "PING", R"(INFO {"server_id":"x"})", R"(+OK {"version":"2.9.10"})",
                          R"(INFO {"version":"two"})", R"(INFO {"version":"2.9)"}) {
    auto st = nats::parse_info_version(bad).error();
    CAF_CHECK_EQUAL(st.code(), errc::invalid_argument);
  }
}

CAF_TEST(a feature of a newer release is refused naming both releases) {
  server_version old_one{2, 9, 10}, new_one{2, 15, 1};
  CAF_CHECK(nats::require(new_one, nats::kMessageTtlSince, "per-message TTL").ok());
  CAF_CHECK(nats::require(nats::kMessageTtlSince, nats::kMessageTtlSince, "x").ok());
  auto st = nats::require(old_one, nats::kMessageTtlSince, "per-message TTL");
  CAF_CHECK_EQUAL(st.code(), errc::unavailable);
  CAF_CHECK_EQUAL(st.message(),
                  "per-message TTL needs nats-server 2.11.0 or newer; the server "
                  "is 2.9.10");
  CAF_CHECK(!nats::require(server_version{2, 10, 18}, nats::kAtomicSubjectCheckSince, "x").ok());
  CAF_CHECK(nats::require(server_version{2, 10, 19}, nats::kAtomicSubjectCheckSince, "x").ok());
}
