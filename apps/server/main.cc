// eventbase-server: serves a node's streams to other CAF nodes (see README "The server").
//
// Options come from CAF's configuration: the command line (--name=value) and an INI file
// (--config-file=PATH; configs/eventbase-server.ini documents every option).
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdint>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>

#include "api/http_endpoint.hpp"
#include "eventbase/log.hpp"
#include "eventbase/node.hpp"
#include "nats/server_settings.hpp"

namespace {

struct server_config : caf::actor_system_config {
  std::string nats;
  std::string db = "./data";
  int64_t port = 4333;
  std::string bind = "127.0.0.1";
  int64_t keep_alive = 3600;
  int64_t cleanup_interval = 60000;
  int64_t timeout = 10000;
  int64_t replicas = 1;
  int64_t history = 1;
  int64_t connection_timeout = 15000;
  int64_t subscriber_max_pending = 10000;
  int64_t subscriber_max_pending_bytes = int64_t{64} << 20;
  int64_t audit_interval = 5000;
  std::string stats_suffix;
  std::string nats_user;
  std::string nats_password;
  std::string nats_token;
  std::string nats_tls_ca;
  std::string nats_tls_cert;
  std::string nats_tls_key;
  std::string nats_creds;
  std::string nats_nkey;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  std::string tls_key_password;
  std::string http;
  bool insecure = false;  // --insecure: see take_insecure()
  int64_t max_message_bytes = 0;
  int64_t nats_wait = 30;
  int64_t consumer_replicas = 1;
  std::string nats_server_bin;
  std::string nats_sync;  // empty: not given; the owned nats-server then syncs "always"

  server_config() {
    opt_group{custom_options_, "global"}
        .add(nats, "nats", "NATS server URLs, comma separated (default: start a local nats-server)")
        .add(nats_wait, "nats-wait",
             "seconds to keep trying to reach --nats at start, with backoff; 0: fail at once (30)")
        .add(nats_server_bin, "nats-server-bin",
             "the nats-server program started without --nats ($EVENTBASE_NATS_SERVER, else "
             "nats-server from PATH)")
        .add(nats_sync, "nats-sync",
             "how the nats-server started without --nats syncs JetStream to disk: always, or a "
             "duration like 10s or 2m (always)")
        .add(db, "db", "data path: replica in <db>/replica, own NATS in <db>/nats (./data)")
        .add(port, "port", "port to serve the manager on, 0 for any (4333)")
        .add(bind, "bind",
             "address to serve on (127.0.0.1; 0.0.0.0 for all, which needs --tls-* or "
             "--insecure)")
        .add(keep_alive, "keep-alive", "seconds without activity before a stream closes (3600)")
        .add(cleanup_interval, "cleanup-interval", "milliseconds between idleness checks (60000)")
        .add(timeout, "timeout", "milliseconds an operation may take (10000)")
        .add(stats_suffix, "stats-suffix", "when set, stream S publishes stats to S<suffix>")
        .add(replicas, "replicas", "JetStream replicas of streams this node creates (1)")
        .add(history, "history",
             "events kept per key (PUTs and DELETEs each) by streams this node creates, 1..64 "
             "(1)")
        .add(consumer_replicas, "consumer-replicas",
             "JetStream replicas of each stream's consumer, at most the stream's (1)")
        .add(connection_timeout, "connection-timeout",
             "milliseconds after which a silent connection, or one that has not completed its "
             "handshake, is closed (15000)")
        .add(subscriber_max_pending, "subscriber-max-pending",
             "changes a subscriber may leave unacknowledged before its subscription ends (10000)")
        .add(subscriber_max_pending_bytes, "subscriber-max-pending-bytes",
             "bytes of changes a subscriber may leave unacknowledged (67108864)")
        .add(audit_interval, "audit-interval",
             "milliseconds a replica may apply nothing before it is audited against its stream "
             "(stalled consumer, divergent replica); 0: never (5000)")
        .add(nats_user, "nats-user", "NATS user name")
        .add(nats_password, "nats-password", "NATS password (better in the config file)")
        .add(nats_token, "nats-token", "NATS authentication token")
        .add(nats_tls_ca, "nats-tls-ca", "PEM CA file verifying the NATS servers (turns on TLS)")
        .add(nats_tls_cert, "nats-tls-cert",
             "PEM client certificate for NATS (with --nats-tls-key)")
        .add(nats_tls_key, "nats-tls-key", "PEM key of --nats-tls-cert")
        .add(nats_creds, "nats-creds", "NATS credentials file (user JWT and nkey seed)")
        .add(nats_nkey, "nats-nkey", "file with a NATS user nkey seed (SU...)")
        .add(tls_cert, "tls-cert", "PEM certificate of this node: mutual TLS on the port")
        .add(tls_key, "tls-key", "PEM private key of --tls-cert")
        .add(tls_ca, "tls-ca", "PEM CA file: peers must present a certificate it signed")
        .add(tls_key_password, "tls-key-password", "passphrase of an encrypted --tls-key")
        .add(http, "http",
             "ADDR:PORT of the HTTP endpoint: GET /healthz and /metrics (off; an address that "
             "is not loopback needs --insecure)")
        .add(max_message_bytes, "max-message-bytes",
             "largest message a peer may send; 0: NATS max_payload + 64 KiB (0)");
  }
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int fail(const std::string& message, int code) {
  std::cerr << "eventbase-server: " << message << std::endl;
  return code;
}

// True when `host` is an IP address or a name that resolves to one.
bool resolvable(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  ::freeaddrinfo(found);
  return true;
}

// A server holds a descriptor per connection and per open file: take what the system allows.
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

// --insecure (or --insecure=true|false) is taken off the command line before CAF parses it,
// and `insecure=true` is read from the INI file as a plain value: a boolean option of CAF 0.17
// crashes a program built with clang (the sanitizer build), since its option metadata is an
// inline static that the gcc-built libcaf_core shares and leaves empty. Returns the arguments
// CAF gets; `flag` is set when the command line had it.
std::vector<char*> take_insecure(int argc, char** argv, std::optional<bool>& flag,
                                 std::string& bad) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && (arg == "--insecure" || arg.rfind("--insecure=", 0) == 0)) {
      std::string value = arg == "--insecure" ? "true" : arg.substr(11);
      if (value == "true" || value == "1")
        flag = true;
      else if (value == "false" || value == "0")
        flag = false;
      else
        bad = arg;
      continue;
    }
    rest.push_back(argv[i]);
  }
  rest.push_back(nullptr);
  return rest;
}

int main(int argc, char** argv) {
  server_config cfg;
  std::optional<bool> insecure_flag;
  std::string bad_flag;
  auto args = take_insecure(argc, argv, insecure_flag, bad_flag);
  if (!bad_flag.empty()) return fail("--insecure takes no value, or true or false", 2);
  if (auto err = cfg.parse(static_cast<int>(args.size()) - 1, args.data()))
    return fail(caf::to_string(err), 2);
  if (cfg.cli_helptext_printed) {
    std::cout << "  --insecure : serve without TLS on an address that is not loopback (false)"
              << std::endl;
    return 0;
  }
  cfg.insecure = insecure_flag.value_or(caf::get_or(cfg, "insecure", false));
  if (!cfg.remainder.empty()) return fail("unexpected argument '" + cfg.remainder.front() + "'", 2);
  if (cfg.port < 0 || cfg.port > 65535) return fail("--port must be within 0..65535", 2);
  if (cfg.keep_alive <= 0) return fail("--keep-alive must be positive", 2);
  if (cfg.cleanup_interval <= 0) return fail("--cleanup-interval must be positive", 2);
  if (cfg.timeout <= 0) return fail("--timeout must be positive", 2);
  if (cfg.replicas < 1 || cfg.replicas > 5) return fail("--replicas must be within 1..5", 2);
  if (cfg.history < 1 || cfg.history > 64)
    return fail(
        "--history must be within 1..64 (events kept per key), not " + std::to_string(cfg.history),
        2);
  if (cfg.consumer_replicas < 1 || cfg.consumer_replicas > 5)
    return fail("--consumer-replicas must be within 1..5", 2);
  if (cfg.bind.empty()) return fail("--bind must not be empty (127.0.0.1, or 0.0.0.0 for all)", 2);
  if (!resolvable(cfg.bind))
    return fail("--bind must be an IP address or a resolvable host name, not '" + cfg.bind + "'",
                2);
  if (cfg.connection_timeout != 0 && cfg.connection_timeout < 3000)
    return fail(
        "--connection-timeout must be 0 (never) or at least 3000 ms: clients send a "
        "heartbeat every second",
        2);
  if (cfg.subscriber_max_pending <= 0 || cfg.subscriber_max_pending_bytes <= 0)
    return fail("--subscriber-max-pending and --subscriber-max-pending-bytes must be positive", 2);
  if (cfg.max_message_bytes < 0) return fail("--max-message-bytes must not be negative", 2);
  if (cfg.audit_interval < 0 || (cfg.audit_interval > 0 && cfg.audit_interval < 1000))
    return fail("--audit-interval must be 0 (never) or at least 1000 ms", 2);
  if (cfg.nats_wait < 0 || cfg.nats_wait > 86400)
    return fail("--nats-wait must be within 0..86400 seconds", 2);
  eventbase::tls_options tls;
  tls.certificate = cfg.tls_cert;
  tls.key = cfg.tls_key;
  tls.ca = cfg.tls_ca;
  tls.key_password = cfg.tls_key_password;
  if (tls.enabled() && (tls.certificate.empty() || tls.key.empty() || tls.ca.empty()))
    return fail("--tls-cert, --tls-key and --tls-ca go together (mutual TLS needs all three)", 2);
  if (auto st = eventbase::check_tls(tls); !st.ok()) return fail(st.message(), 2);
  if (!tls.enabled() && !cfg.insecure && !eventbase::is_loopback_address(cfg.bind))
    return fail("--bind=" + cfg.bind +
                    " is not a loopback address and the port has no TLS: anyone who reaches it "
                    "could read, write and delete every stream. Give --tls-cert, --tls-key and "
                    "--tls-ca, or --insecure to serve it in plaintext anyway",
                2);
  std::optional<eventbase::api::http_options> http;
  if (!cfg.http.empty()) {
    auto address = eventbase::api::parse_http_address(cfg.http);
    if (!address.ok()) return fail(address.error().message(), 2);
    if (!resolvable(address->first))
      return fail(
          "--http must name an IP address or a resolvable host name, not '" + address->first + "'",
          2);
    if (!cfg.insecure && !eventbase::is_loopback_address(address->first))
      return fail("--http=" + cfg.http +
                      " is not a loopback address: the HTTP endpoint has neither TLS nor "
                      "authentication, and its metrics name every stream. Give --insecure to "
                      "serve it there anyway (a trusted management network), or keep it on "
                      "loopback behind a TLS proxy",
                  2);
    http.emplace();
    http->host = address->first;
    http->port = address->second;
  }
  if (cfg.nats.empty() &&
      (!cfg.nats_tls_ca.empty() || !cfg.nats_tls_cert.empty() || !cfg.nats_tls_key.empty() ||
       !cfg.nats_creds.empty() || !cfg.nats_nkey.empty()))
    return fail(
        "--nats-tls-ca, --nats-tls-cert, --nats-tls-key, --nats-creds and --nats-nkey apply to "
        "the servers of --nats (the owned nats-server takes --nats-user/--nats-password or "
        "--nats-token)",
        2);
  if (!cfg.nats_creds.empty() && !cfg.nats_nkey.empty())
    return fail("--nats-creds and --nats-nkey exclude each other", 2);
  if (!cfg.nats.empty() && !cfg.nats_sync.empty())
    return fail(
        "--nats-sync applies to the nats-server this server starts without --nats; the servers "
        "of --nats must be configured themselves, with `jetstream { sync_interval: always }` "
        "(nats-server 2.10 or newer)",
        2);
  if (auto st = eventbase::nats::check_sync(cfg.nats_sync); !st.ok())
    return fail("--nats-sync: " + st.message(), 2);
  raise_descriptor_limit();

  eventbase::node_config config;
  config.nats.servers = split_list(cfg.nats);
  config.nats.user = cfg.nats_user;
  config.nats.password = cfg.nats_password;
  config.nats.token = cfg.nats_token;
  config.nats.tls_ca = cfg.nats_tls_ca;
  config.nats.tls_cert = cfg.nats_tls_cert;
  config.nats.tls_key = cfg.nats_tls_key;
  config.nats.creds = cfg.nats_creds;
  config.nats.nkey = cfg.nats_nkey;
  config.nats_server_bin = cfg.nats_server_bin;
  if (!cfg.nats_sync.empty()) config.nats_sync = cfg.nats_sync;
  config.tls = tls;
  config.insecure = cfg.insecure;
  config.max_message_bytes = static_cast<uint64_t>(cfg.max_message_bytes);
  config.data_path = cfg.db;
  config.bind = cfg.bind;
  config.port = static_cast<uint16_t>(cfg.port);
  config.keep_alive = std::chrono::seconds(cfg.keep_alive);
  config.cleanup_interval = std::chrono::milliseconds(cfg.cleanup_interval);
  config.timeout = std::chrono::milliseconds(cfg.timeout);
  if (!cfg.stats_suffix.empty())
    config.stats_stream_name = [suffix = cfg.stats_suffix](const std::string& name) {
      return name + suffix;
    };
  config.replicas = static_cast<int>(cfg.replicas);
  config.history = cfg.history;
  config.nats_wait = std::chrono::seconds(cfg.nats_wait);
  config.consumer_replicas = static_cast<int>(cfg.consumer_replicas);
  config.connection_timeout = std::chrono::milliseconds(cfg.connection_timeout);
  config.subscriber_max_pending = static_cast<uint64_t>(cfg.subscriber_max_pending);
  config.subscriber_max_pending_bytes = static_cast<uint64_t>(cfg.subscriber_max_pending_bytes);
  config.audit_interval = std::chrono::milliseconds(cfg.audit_interval);

  // Block the shutdown signals in every thread (threads inherit the mask) and take them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A NATS connection lost for good ends the server like a signal, with the reason and code 1.
  struct lost_connection {
    std::mutex mutex;
    std::optional<eventbase::status> why;
  };
  auto lost = std::make_shared<lost_connection>();
  config.on_nats_lost = [lost, main_thread = pthread_self()](const eventbase::status& why) {
    {
      std::lock_guard<std::mutex> guard(lost->mutex);
      lost->why = why;
    }
    pthread_kill(main_thread, SIGTERM);
  };

  auto node = eventbase::node::start(config);
  if (!node.ok()) {
    // A setting the node refused (e.g. an unusable NATS creds file) is a bad command line.
    bool bad_option = node.error().code() == eventbase::errc::invalid_argument;
    return fail(node.error().to_string(), bad_option ? 2 : 1);
  }
  std::unique_ptr<eventbase::api::http_endpoint> endpoint;
  if (http) {
    auto started = eventbase::api::http_endpoint::start(
        *http, [n = *node]() mutable { return n.health(); },
        [n = *node]() mutable { return n.metrics(); });
    if (!started.ok()) {
      node->stop();
      return fail(started.error().to_string(), 1);
    }
    endpoint = std::move(*started);
    std::cout << "eventbase-server http on " << http->host << ":" << endpoint->port() << std::endl;
  }
  std::cout << "eventbase-server listening on " << node->bind() << ":" << node->port() << std::endl;
  EB_LOG_INFO("server", "NATS at " << node->nats_url());

  int signo = 0;
  sigwait(&stop_signals, &signo);
  std::optional<eventbase::status> nats_lost;
  {
    std::lock_guard<std::mutex> guard(lost->mutex);
    nats_lost = lost->why;
  }
  if (nats_lost)
    EB_LOG_ERROR("server", "shutting down: " << nats_lost->message());
  else
    EB_LOG_INFO("server", "signal " << signo << ": shutting down");
  if (endpoint) endpoint->stop();  // before the node it asks
  auto stopped = node->stop();
  if (nats_lost) return fail(nats_lost->to_string(), 1);
  if (!stopped.ok()) return fail("shutdown: " + stopped.to_string(), 1);
  return 0;
}
