// eventbase: the command-line client of eventbase-server (see --help).
#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>

#include "client/commands.hpp"

namespace {

constexpr const char* kHelp =
    R"(usage: eventbase [--server=HOST:PORT] [--timeout=SECONDS]
                 [--tls-cert=PEM --tls-key=PEM --tls-ca=PEM [--tls-key-password=P]]
                 COMMAND [ARGS]

Talks to an eventbase-server (default 127.0.0.1:4333, or $EVENTBASE_SERVER) and prints
JSON, one value per line, on stdout. --timeout (default 15) bounds connecting, the handshake
and each request. With --tls-cert, --tls-key and --tls-ca (or $EVENTBASE_TLS_CERT,
$EVENTBASE_TLS_KEY, $EVENTBASE_TLS_CA; the key's passphrase, if any, in --tls-key-password or
$EVENTBASE_TLS_KEY_PASSWORD) the connection is mutual TLS: the client presents its
certificate and accepts only a server whose certificate the CA signed.

commands:
  put [--if-revision=R | --if-absent] [--ttl=SECONDS] STREAM KEY JSON
                          store JSON (use - to read it from stdin) under KEY; with --ttl the
                          key is deleted on every server SECONDS after the put (watchers get
                          one DELETE line with "expired":true) unless written again before
                          -> {"data":...,"meta":{"dateCreated":...,"dateModified":...,"changes":N,
                              "revision":R}}
                          with --if-revision=R only if KEY exists at revision R (meta.revision,
                          the same on every server), with --if-absent only if KEY does not
                          exist; otherwise nothing is written and it fails with "conflict: ..."
                          naming KEY's revision (exit 1)
  get [--consistent] STREAM KEY
                          -> the same, or null when KEY is absent
  get --revision=R STREAM KEY
                          -> KEY as it was at revision R (its version with the largest
                             revision <= R; null when absent then), read from the events the
                             stream keeps (eventbase-server --history); exit 1 "compacted: ..."
                             naming the oldest revision still readable when it no longer has it
  history [--limit=N] STREAM KEY
                          -> KEY's kept events, newest first, one line each
                             {"revision":R,"type":"PUT"|"DELETE","data":...,"timestamp":ms}
                             ("data" only for a PUT); at most N with --limit
  delete [--if-revision=R] STREAM KEY
                          -> {"purged":N}; with --if-revision=R only if KEY exists at revision
                             R, else "conflict: ..." (exit 1) and nothing is deleted
  batch STREAM < JSON-LINES
                          write atomically, one write per line: {"op":"put","key":K,"data":D}
                          or {"op":"delete","key":K}, each with optional "ifRevision":R or
                          ("put" only) "ifAbsent":true and "ttl":SECONDS; at most 1,000 writes
                          of distinct keys -> {"applied":N,"revision":R} (R: the last write's)
                          all are stored or none: "conflict: ..." (exit 1) when a condition
                          does not hold, "invalid_argument: line N: ..." for a bad line; needs
                          nats-server 2.12 or newer
  keys [--consistent] STREAM [REGEX]
                          -> a JSON array of the keys matching the ECMAScript REGEX, sorted
  insert STREAM JSON      store JSON under a new random UUID v4
                          -> {"id":...,"data":...,"meta":...}
  query [--consistent] [--sort=JSON] [--limit=N] [--offset=N] [--project=JSON] STREAM FILTER
                          -> one line {"key":...,"data":...,"meta":...} per document matching
                             the MongoDB-style FILTER (README "Queries"), in key order or as
                             --sort says ({"field":1 or -1,...}); --project={"field":1,...}
                             keeps only those fields of each document's data
  query --explain [...] STREAM FILTER
                          -> {"plan":{"index":FIELD or null,"type":...,"sort":...},
                             "examined":N,"returned":M}: how the query ran (README "Indexes")
  count [--consistent] STREAM FILTER
                          -> the number of documents matching FILTER
  index create [--no-wait] STREAM FIELD
                          declare a secondary index on the dotted FIELD, built in the
                          background; waits until it is ready (at most --timeout, then exit 1
                          while the build goes on) unless --no-wait; an existing index is
                          returned as it is -> {"field","state","multikey","progress"}
  index drop STREAM FIELD -> {"dropped":FIELD}; exit 1 (not_found) when there is none
  index list STREAM       -> a JSON array of the stream's indexes on the server
                             [{"field":...,"state":"building"|"ready","multikey":...,
                             "progress":N}]
  watch [--from-revision=R] STREAM GLOB
                          -> one line per change of a key matching GLOB ('*' matches any run),
                             {"key":...,"data":...,"meta":...,"event":{...},"revision":R} (data
                             and meta null for a delete); with --from-revision=R first every
                             change after revision R (the latest version of each key changed
                             since, the delete of each key deleted since), in revision order,
                             then the live ones without a gap; until SIGINT or SIGTERM (exit 0),
                             or until the
                             server ends the subscription because this process fell too far
                             behind (exit 1, "too slow: N changes outstanding")
  watch --query=FILTER STREAM
                          -> a live query: the same lines for every change of a document that
                             matched FILTER before the change or matches it after (entering,
                             changing in, leaving, or deleted from the set: event.oldData is
                             the document before, data after); a FILTER whose $regex exceeds
                             its limits on a change ends the watch (exit 1, "live query ended")
  streams                 -> a JSON array of the streams open on the server
  status STREAM           -> the stream's replica state: appliedSequence, lastKnownSequence,
                             lag (events), lastContactMs (with its consumer), stale, ...;
                             while it replays after opening, "replay":{"applied","target",
                             "eventsPerSecond","etaSeconds"}
  import STREAM           put every line {"key":...,"data":...} of stdin ("meta" is ignored),
                          64 in flight, with a progress line on stderr when it is a terminal
                          -> {"imported":N}; stops at the first bad line or failed put, naming
                          its line number (exit 1): the lines before it stay imported
  export [--consistent] STREAM
                          -> every document, in key order, as one line
                             {"key":...,"data":...,"meta":...}: a backup that import restores

Reads (get, keys, query, count, export) are local by default: fast, and possibly behind
writes made through other servers. With --consistent (after the command name) a read first learns the stream's last sequence
from JetStream and waits until the server's replica has applied it: it reflects every write
acknowledged before it began, or fails when JetStream cannot answer within the timeout.

exit codes: 0 success, 1 the operation failed (bad JSON, invalid regex, server-side error),
2 bad command line, 3 the server cannot be reached or TLS/authentication failed. Errors are
one line on stderr.
)";

int usage_error(const std::string& message) {
  std::cerr << "eventbase: " << message << " (see eventbase --help)" << std::endl;
  return eventbase::cli::usage;
}

bool parse_server(const std::string& text, eventbase::cli::options& opts) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  char* end = nullptr;
  long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) return false;
  opts.host = text.substr(0, colon);
  opts.port = static_cast<uint16_t>(port);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  eventbase::cli::options opts;
  if (const char* env = std::getenv("EVENTBASE_SERVER"); env != nullptr && *env != '\0') {
    if (!parse_server(env, opts)) return usage_error("EVENTBASE_SERVER must be HOST:PORT");
  }
  auto from_env = [](const char* name, std::string& into) {
    if (const char* value = std::getenv(name); value != nullptr) into = value;
  };
  from_env("EVENTBASE_TLS_CERT", opts.tls.certificate);
  from_env("EVENTBASE_TLS_KEY", opts.tls.key);
  from_env("EVENTBASE_TLS_CA", opts.tls.ca);
  from_env("EVENTBASE_TLS_KEY_PASSWORD", opts.tls.key_password);
  // --name=VALUE for the TLS options; true when `arg` was one of them.
  auto tls_option = [&](const std::string& arg) {
    static const std::pair<const char*, std::string eventbase::tls_options::*> names[] = {
        {"--tls-cert=", &eventbase::tls_options::certificate},
        {"--tls-key=", &eventbase::tls_options::key},
        {"--tls-ca=", &eventbase::tls_options::ca},
        {"--tls-key-password=", &eventbase::tls_options::key_password},
    };
    for (auto& [prefix, member] : names) {
      std::string p = prefix;
      if (arg.rfind(p, 0) == 0) {
        opts.tls.*member = arg.substr(p.size());
        return true;
      }
    }
    return false;
  };
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kHelp;
      return eventbase::cli::ok;
    }
    if (arg.rfind("--server=", 0) == 0) {
      if (!parse_server(arg.substr(9), opts)) return usage_error("--server must be HOST:PORT");
    } else if (arg.rfind("--timeout=", 0) == 0) {
      char* end = nullptr;
      double seconds = std::strtod(arg.c_str() + 10, &end);
      if (*end != '\0' || seconds <= 0) return usage_error("--timeout must be a positive number");
      opts.timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    } else if (tls_option(arg)) {
      // taken
    } else if (arg.rfind("--", 0) == 0) {
      return usage_error("unknown option " + arg);
    } else {
      break;
    }
  }
  if (i >= argc) return usage_error("no command given");
  opts.command = argv[i++];
  for (; i < argc; ++i) opts.args.emplace_back(argv[i]);
  return eventbase::cli::run(opts);
}
