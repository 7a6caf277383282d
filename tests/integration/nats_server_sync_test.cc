// The embedded nats-server's JetStream sync (embedded_server_options::sync) against real
// nats-server programs: the newest this checkout has (scripts/nats-server-path.sh: one that
// scripts/setup.sh fetched, 2.10+) gets `sync_interval` in its configuration and serves writes
// with it; the system's 2.9, which refuses that field, starts without it and a warning says
// acknowledged writes are not synced. Each check is skipped, with a message, when no program of
// its kind is there.
#define CAF_SUITE nats_server_sync
#include "caf/test/unit_test.hpp"

#include <fstream>
#include <mutex>
#include <sstream>

#include "base/subprocess.hpp"
#include "eventbase/eventbase.hpp"
#include "eventbase/log.hpp"
#include "nats/embedded_server.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string read_file(const std::string& path) {
  std::ostringstream text;
  text << std::ifstream(path).rdbuf();
  return text.str();
}

// The newest nats-server of this checkout, as scripts/nats-server-path.sh prints it.
std::string newest_program() {
  auto ran = subprocess::run({EVENTBASE_SOURCE_DIR "/scripts/nats-server-path.sh"});
  if (!ran.ok() || ran->exit_code != 0 || ran->out.empty()) return "nats-server";
  return ran->out.front();
}

// Warnings logged while it lives.
struct captured_warnings {
  std::mutex mutex;
  std::vector<std::string> lines;

  captured_warnings() {
    log::set_sink([this](log::level lvl, std::string_view component, std::string_view message) {
      if (lvl != log::level::warning) return;
      std::lock_guard<std::mutex> guard(mutex);
      lines.push_back(std::string(component) + ": " + std::string(message));
    });
  }
  ~captured_warnings() { log::set_sink(nullptr); }

  std::string all() {
    std::lock_guard<std::mutex> guard(mutex);
    std::string out;
    for (auto& l : lines) out += l + "\n";
    return out;
  }
};

// A stream on `server` takes writes and reads them back: JetStream works with its settings.
void check_serves_writes(const nats::embedded_server& server, const temp_dir& dir) {
  stream_config config;
  config.stream_name = unique_name("sync");
  config.nats.servers = {server.url()};
  config.data_path = dir.sub("replica");
  auto db = stream::open(config);
  CAF_REQUIRE(db.ok());
  for (int i = 0; i < 20; ++i) CAF_REQUIRE(db->put("k" + std::to_string(i), i).ok());
  CAF_CHECK_EQUAL(data_of(*db, "k19"), nlohmann::ordered_json(19));
  db->close();
}

result<std::unique_ptr<nats::embedded_server>> start(const temp_dir& dir,
                                                     const std::string& program,
                                                     const std::string& sync) {
  nats::embedded_server_options options;
  options.executable = program;
  options.store_dir = dir.sub("nats");
  options.sync = sync;
  return nats::embedded_server::start(options);
}

}  // namespace

CAF_TEST(release 2.10 or newer syncs always) {
  auto program = newest_program();
  temp_dir dir;
  captured_warnings warnings;
  auto server = start(dir, program, "always");
  CAF_REQUIRE(server.ok());
  auto& s = **server;
  CAF_MESSAGE("nats-server " << s.version().to_string() << " at " << s.executable());
  if (s.version() < nats::kSyncIntervalSince) {
    CAF_MESSAGE("skipped: the newest nats-server here is " << s.version().to_string()
                                                           << " (scripts/setup.sh fetches 2.10+)");
    return;
  }
  auto config = read_file(s.config_path());
  CAF_CHECK(contains(config, "jetstream {"));
  CAF_CHECK(contains(config, "\n  sync_interval: always\n"));
  CAF_CHECK(s.syncs());
  CAF_CHECK_EQUAL(s.sync_description(), "always");
  check_serves_writes(s, dir);
  // The setting survives a restart (the configuration is written again).
  CAF_REQUIRE(s.restart().ok());
  CAF_CHECK(contains(read_file(s.config_path()), "\n  sync_interval: always\n"));
  CAF_CHECK_EQUAL(warnings.all(), "");
}

CAF_TEST(release 2.10 or newer syncs at an interval) {
  auto program = newest_program();
  temp_dir dir;
  auto server = start(dir, program, "10s");
  CAF_REQUIRE(server.ok());
  auto& s = **server;
  if (s.version() < nats::kSyncIntervalSince) {
    CAF_MESSAGE("skipped: the newest nats-server here is " << s.version().to_string());
    return;
  }
  CAF_CHECK(contains(read_file(s.config_path()), "\n  sync_interval: \"10s\"\n"));
  CAF_CHECK_EQUAL(s.sync_description(), "every 10s");
  check_serves_writes(s, dir);
}

CAF_TEST(without sync the configuration keeps the default) {
  temp_dir dir;
  auto server = start(dir, newest_program(), "");
  CAF_REQUIRE(server.ok());
  CAF_CHECK(!contains(read_file((*server)->config_path()), "sync_interval"));
  CAF_CHECK(!(*server)->syncs());
}

CAF_TEST(release 2.9 starts without sync_interval and a warning says so) {
  // The system's program, whatever $EVENTBASE_NATS_SERVER says.
  auto program = find_executable("nats-server");
  if (program.empty()) {
    CAF_MESSAGE("skipped: no nats-server in PATH");
    return;
  }
  temp_dir dir;
  captured_warnings warnings;
  auto server = start(dir, program, "always");
  CAF_REQUIRE(server.ok());
  auto& s = **server;
  if (s.version() >= nats::kSyncIntervalSince) {
    CAF_MESSAGE("skipped: the system's nats-server is " << s.version().to_string());
    return;
  }
  auto config = read_file(s.config_path());
  CAF_CHECK(contains(config, "jetstream {"));
  CAF_CHECK(!contains(config, "sync_interval"));  // 2.9 refuses the field: "unknown field"
  CAF_CHECK(!s.syncs());
  auto logged = warnings.all();
  CAF_CHECK(contains(logged, "nats-server " + s.version().to_string()));
  CAF_CHECK(contains(logged, "cannot sync JetStream writes to disk before acknowledging them"));
  CAF_CHECK(contains(logged, "needs nats-server 2.10 or newer"));
  check_serves_writes(s, dir);
  // Logged once per start, not again at a restart.
  CAF_REQUIRE(s.restart().ok());
  CAF_CHECK_EQUAL(warnings.all(), logged);
}

CAF_TEST(the release comes from the program itself) {
  auto program = newest_program();
  temp_dir dir;
  auto server = start(dir, program, "");
  CAF_REQUIRE(server.ok());
  auto said = subprocess::run({(*server)->executable(), "--version"}).value();
  CAF_REQUIRE(!said.out.empty());
  CAF_CHECK_EQUAL(said.out.front(), "nats-server: v" + (*server)->version().to_string());
  CAF_CHECK_EQUAL((*server)->executable().front(), '/');
}

CAF_TEST(an invalid sync or program is refused before anything starts) {
  temp_dir dir;
  auto bad = start(dir, newest_program(), "soon");
  CAF_REQUIRE(!bad.ok());
  CAF_CHECK_EQUAL(bad.error().code(), errc::invalid_argument);
  CAF_CHECK(contains(bad.error().message(), "'soon' is not a JetStream sync setting"));
  auto missing = start(dir, dir.sub("no-such-nats-server"), "");
  CAF_REQUIRE(!missing.ok());
  CAF_CHECK_EQUAL(missing.error().code(), errc::unavailable);
  CAF_CHECK(contains(missing.error().message(), "cannot find"));
  auto not_nats = start(dir, "true", "");
  CAF_REQUIRE(!not_nats.ok());
  CAF_CHECK(contains(not_nats.error().message(), "is not a nats-server version"));
}
