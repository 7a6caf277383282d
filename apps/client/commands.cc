// The eventbase client's commands (see commands.hpp).
#include "client/commands.hpp"

#include "client/session.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "eventbase/actors.hpp"
#include "eventbase/eventbase.hpp"
#include "eventbase/network.hpp"
#include "eventbase/request.hpp"
#include "protocol/batch.hpp"
#include "protocol/event.hpp"

namespace eventbase::cli {
namespace {

using nlohmann::json;

// The document of a put or get as the JS library returns it, or null.
result<nlohmann::ordered_json> entry_to_json(const entry& e) {
  auto doc = decode_record(e.record);
  if (!doc.ok()) return doc.error();
  return *doc ? (*doc)->to_json() : nlohmann::ordered_json(nullptr);
}

// The text of a JSON argument, from stdin when it is "-".
std::string argument_text(const std::string& arg) {
  if (arg != "-") return arg;
  std::ostringstream in;
  in << std::cin.rdbuf();
  return in.str();
}

// The stream `name` and the JSON argument `arg` (from stdin when it is "-"), checked here for
// a clear error before asking the server, which uses the text as given.
struct stream_and_text {
  stream_actor stream;
  std::string text;
};
result<stream_and_text> stream_with_json(session& s, const std::string& name,
                                         const std::string& arg) {
  std::string text = argument_text(arg);
  if (auto doc = parse_document(text); !doc.ok()) return doc.error();
  auto stream = s.stream(name);
  if (!stream.ok()) return stream.error();
  return stream_and_text{std::move(*stream), std::move(text)};
}

int put(session& s, const std::vector<std::string>& args, const flags& with) {
  auto target = stream_with_json(s, args[0], args[2]);
  if (!target.ok()) return report(target.error());
  auto reply =
      with.ttl > 0 ? s.ask<entry>(target->stream, put_atom::value, args[1], target->text,
                                  with.condition, ttl_atom::value, with.ttl)
      : with.condition.conditional()
          ? s.ask<entry>(target->stream, put_atom::value, args[1], target->text, with.condition)
          : s.ask<entry>(target->stream, put_atom::value, args[1], target->text);
  if (!reply.ok()) return report(reply.error());
  auto out = entry_to_json(*reply);
  if (!out.ok()) return report(out.error());
  print(*out);
  return ok;
}

// insert STREAM JSON: put under a new random UUID v4 -> {"id","data","meta"} (the JS library's
// insert).
int insert(session& s, const std::vector<std::string>& args, const flags&) {
  auto target = stream_with_json(s, args[0], args[1]);
  if (!target.ok()) return report(target.error());
  std::string id = random_uuid();
  auto reply = s.ask<entry>(target->stream, put_atom::value, id, target->text);
  if (!reply.ok()) return report(reply.error());
  auto doc = decode_record(reply->record);
  if (!doc.ok()) return report(doc.error());
  if (!*doc) return report(status(errc::internal, "the put returned no record"));
  nlohmann::ordered_json out;
  out["id"] = id;
  out["data"] = (*doc)->data;
  out["meta"] = (*doc)->meta.to_json();
  print(out);
  return ok;
}

// query [--sort=JSON] [--limit=N] [--offset=N] [--project=JSON] [--explain] STREAM FILTER: one
// line {"key","data","meta"} per result, in order; with --explain, the plan object instead.
int query(session& s, const std::vector<std::string>& args, const flags& with) {
  auto target = stream_with_json(s, args[0], args[1]);
  if (!target.ok()) return report(target.error());
  if (with.explain) {
    auto plan = s.ask<std::string>(target->stream, explain_atom::value, target->text,
                                   stringify(with.query_options));
    if (!plan.ok()) return report(plan.error());
    auto parsed = parse_document(*plan);
    if (!parsed.ok()) return report(parsed.error());
    print(*parsed);
    return ok;
  }
  auto options = stringify(with.query_options);
  auto reply = with.consistent
                   ? s.ask<query_reply>(target->stream, query_atom::value, target->text, options,
                                        consistent_atom::value)
                   : s.ask<query_reply>(target->stream, query_atom::value, target->text, options);
  if (!reply.ok()) return report(reply.error());
  auto docs = decode_query_reply(*reply);
  if (!docs.ok()) return report(docs.error());
  for (const auto& doc : *docs) print(doc.to_json());
  return ok;
}

// count [--consistent] STREAM FILTER -> the number of matching documents.
int count(session& s, const std::vector<std::string>& args, const flags& with) {
  auto target = stream_with_json(s, args[0], args[1]);
  if (!target.ok()) return report(target.error());
  auto n = with.consistent ? s.ask<uint64_t>(target->stream, count_atom::value, target->text,
                                             consistent_atom::value)
                           : s.ask<uint64_t>(target->stream, count_atom::value, target->text);
  if (!n.ok()) return report(n.error());
  print(*n);
  return ok;
}

nlohmann::ordered_json index_to_json(const index_info& index) {
  nlohmann::ordered_json out;
  out["field"] = index.field;
  out["state"] = index.state;
  out["multikey"] = index.multikey;
  out["progress"] = index.progress;
  return out;
}

// index create [--no-wait] STREAM FIELD -> the index once ready (or at once with --no-wait);
// index drop STREAM FIELD -> {"dropped":FIELD}; index list STREAM -> a JSON array.
int index(session& s, const std::vector<std::string>& given, const flags&) {
  std::vector<std::string> args;
  bool wait = true;
  for (const auto& arg : given) {
    if (arg == "--no-wait")
      wait = false;
    else
      args.push_back(arg);
  }
  const std::string& action = args[0];
  bool create = action == "create", drop = action == "drop", list = action == "list";
  if ((!create && !drop && !list) || args.size() != (list ? 2u : 3u) || (!wait && !create)) {
    std::cerr << "eventbase: usage: eventbase index create [--no-wait] STREAM FIELD | index drop "
                 "STREAM FIELD | index list STREAM"
              << std::endl;
    return usage;
  }
  auto stream = s.stream(args[1]);
  if (!stream.ok()) return report(stream.error());
  if (list) {
    auto indexes = s.ask<std::vector<index_info>>(*stream, index_list_atom::value);
    if (!indexes.ok()) return report(indexes.error());
    auto out = nlohmann::ordered_json::array();
    for (const auto& i : *indexes) out.push_back(index_to_json(i));
    print(out);
    return ok;
  }
  if (drop) {
    auto done = s.ask<ok_atom>(*stream, index_drop_atom::value, args[2]);
    if (!done.ok()) return report(done.error());
    print(nlohmann::ordered_json{{"dropped", args[2]}});
    return ok;
  }
  auto made = s.ask<index_info>(*stream, index_create_atom::value, args[2], wait);
  if (!made.ok()) {
    if (made.error().code() == errc::timeout)
      return report(
          status(errc::timeout, "the index on '" + args[2] +
                                    "' is still building (its progress: eventbase index list " +
                                    args[1] + "; --timeout=SECONDS waits longer)"));
    return report(made.error());
  }
  print(index_to_json(*made));
  return ok;
}

int get(session& s, const std::vector<std::string>& args, const flags& with) {
  if (with.consistent && with.revision) {
    std::cerr << "eventbase: get takes --consistent or --revision, not both" << std::endl;
    return usage;
  }
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  auto reply =
      with.revision
          ? s.ask<entry>(*stream, get_atom::value, args[1], revision_atom::value, *with.revision)
      : with.consistent ? s.ask<entry>(*stream, get_atom::value, args[1], consistent_atom::value)
                        : s.ask<entry>(*stream, get_atom::value, args[1]);
  if (!reply.ok()) return report(reply.error());
  auto out = entry_to_json(*reply);
  if (!out.ok()) return report(out.error());
  print(*out);
  return ok;
}

// history [--limit=N] STREAM KEY -> the key's kept events, newest first, one line each.
int history(session& s, const std::vector<std::string>& args, const flags& with) {
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  auto reply = s.ask<key_history_reply>(*stream, history_atom::value, args[1], with.limit);
  if (!reply.ok()) return report(reply.error());
  auto events = decode_history(*reply);
  if (!events.ok()) return report(events.error());
  for (const auto& ev : *events) print(ev.to_json());
  return ok;
}

int erase(session& s, const std::vector<std::string>& args, const flags& with) {
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  auto purged = with.condition.conditional()
                    ? s.ask<uint64_t>(*stream, erase_atom::value, args[1], with.condition)
                    : s.ask<uint64_t>(*stream, erase_atom::value, args[1]);
  if (!purged.ok()) return report(purged.error());
  print(json{{"purged", *purged}});
  return ok;
}

// batch STREAM: JSON lines from stdin, written atomically -> {"applied":N,"revision":R}.
int batch(session& s, const std::vector<std::string>& args, const flags&) {
  std::ostringstream in;
  in << std::cin.rdbuf();
  auto ops = protocol::parse_batch(in.str());  // the server checks again; this names the line
  if (!ops.ok()) return report(ops.error());
  // One message to the server: past its --max-message-bytes (1 MB + 64 KiB by default) it
  // would close the connection rather than answer, so a larger batch is refused here.
  constexpr size_t kMaxBatchText = size_t{1} << 20;
  auto lines = protocol::batch_lines(*ops);
  if (lines.size() > kMaxBatchText)
    return report(
        status(errc::too_large, "the batch is " + std::to_string(lines.size()) +
                                    " bytes; one request to the server carries at most " +
                                    std::to_string(kMaxBatchText) +
                                    ": split it, or write it from C++ in the server's process"));
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  auto reply = s.ask<batch_result>(*stream, batch_atom::value, std::move(lines));
  if (!reply.ok()) return report(reply.error());
  print(nlohmann::ordered_json{{"applied", reply->applied}, {"revision", reply->revision}});
  return ok;
}

int keys(session& s, const std::vector<std::string>& args, const flags& with) {
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  std::string pattern = args.size() > 1 ? args[1] : std::string();
  auto keys = with.consistent ? s.ask<std::vector<std::string>>(*stream, keys_atom::value, pattern,
                                                                consistent_atom::value)
                              : s.ask<std::vector<std::string>>(*stream, keys_atom::value, pattern);
  if (!keys.ok()) return report(keys.error());
  print(json(*keys));
  return ok;
}

int streams(session& s, const std::vector<std::string>&, const flags&) {
  auto names = s.ask<std::vector<std::string>>(s.manager(), list_atom::value);
  if (!names.ok()) return report(names.error());
  print(json(*names));
  return ok;
}

// Asks the manager, not the stream: a stream that is still replaying answers at once, with its
// progress.
int stream_state(session& s, const std::vector<std::string>& args, const flags&) {
  auto st = s.ask<stream_status>(s.manager(), status_atom::value, args[0]);
  if (!st.ok()) return report(st.error());
  using ordered = nlohmann::ordered_json;  // fields in the order listed here
  ordered out{
      {"name", st->name},
      {"ready", st->ready},
      {"appliedSequence", st->applied_sequence},
      {"skippedEvents", st->skipped_events},
      {"subscriptions", st->subscriptions},
      {"pendingWrites", st->pending_writes},
      {"slowSubscriptionsEnded", st->slow_subscriptions_ended},
      {"lastKnownSequence", st->last_known_sequence},
      {"lag", st->lag},
      {"lastContactMs", st->last_contact_ms >= 0 ? ordered(st->last_contact_ms) : ordered(nullptr)},
      {"stale", st->stale},
      {"consumer", st->consumer},
      {"consistentSequence", st->consistent_sequence},
      {"replicaStalls", st->replica_stalls},
      {"replicaRebuilds", st->replica_rebuilds},
      {"history", st->history > 0 ? ordered(st->history) : ordered(nullptr)}};
  if (!st->ready && st->replay_target > 0)
    out["replay"] = {
        {"applied", st->applied_sequence},
        {"target", st->replay_target},
        {"eventsPerSecond", st->replay_rate},
        {"etaSeconds",
         st->replay_eta_ms < 0 ? ordered(nullptr) : ordered((st->replay_eta_ms + 999) / 1000)}};
  print(out);
  return ok;
}

// Prints every change it gets; tells the main thread (through `wake`) when the stream is gone
// or has ended the subscription (`ended` then holds why).
subscriber_actor::behavior_type printer(subscriber_actor::pointer self, stream_actor stream,
                                        int wake, std::shared_ptr<status> ended) {
  auto wake_up = [wake] {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake, &one, sizeof one);
  };
  self->monitor(stream);
  self->set_down_handler([wake_up](caf::down_msg&) { wake_up(); });
  return {
      [](change_atom, change& c) {
        print(change_to_json(c));
        return ok_atom::value;
      },
      [self, wake_up, ended](ended_atom, uint64_t, caf::error& why) {
        *ended = to_status(why);
        wake_up();
        self->quit();
      },
  };
}

// watch STREAM GLOB, or watch --query=FILTER STREAM (a live query).
int watch(session& s, const std::vector<std::string>& args, const flags& with,
          const sigset_t& stop_signals) {
  if (with.live_query) {
    if (auto filter = parse_document(*with.live_query); !filter.ok())
      return report(status(errc::invalid_argument, "--query: " + filter.error().message()));
  }
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  int wake = ::eventfd(0, EFD_CLOEXEC);
  int signals = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  auto ended = std::make_shared<status>();
  auto subscriber = s.system().spawn(printer, *stream, wake, ended);
  if (with.live_query && with.revision) {
    std::cerr << "eventbase: watch --from-revision takes a GLOB, not --query" << std::endl;
    return usage;
  }
  auto id = with.live_query ? s.ask<uint64_t>(*stream, subscribe_atom::value, query_atom::value,
                                              *with.live_query, subscriber)
            : with.revision ? s.ask<uint64_t>(*stream, subscribe_atom::value, args[1], subscriber,
                                              revision_atom::value, *with.revision)
                            : s.ask<uint64_t>(*stream, subscribe_atom::value, args[1], subscriber);
  int code = ok;
  if (!id.ok()) {
    code = report(id.error());
  } else {
    std::cerr << "eventbase: watching " << args[0] << " for "
              << (with.live_query ? "documents matching " + *with.live_query : args[1])
              << std::endl;
    pollfd fds[2] = {{signals, POLLIN, 0}, {wake, POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
    }
    if (fds[1].revents & POLLIN) {
      code = report(!ended->ok()
                        ? *ended
                        : status(errc::closed, "the server closed the stream or the connection"));
    } else {
      s.ask<ok_atom>(*stream, unsubscribe_atom::value, *id);  // best effort: we are leaving
    }
  }
  caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
  ::close(signals);
  ::close(wake);
  return code;
}

// Parses a decimal count of at most 19 digits (a revision, a limit); nullopt otherwise.
std::optional<uint64_t> parse_count(const std::string& value) {
  if (value.empty() || value.size() > 19 ||
      value.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(value);
}

struct command {
  int (*run)(session&, const std::vector<std::string>&, const flags&);
  size_t min_args;
  size_t max_args;
  const char* usage;
  bool takes_consistent = false;
  bool takes_query_options = false;
  bool takes_live_query = false;
  enum { none, revision, revision_or_absent } takes_condition = none;
  const char* revision_option = nullptr;  // "--revision=", "--from-revision=": takes R
  bool takes_limit = false;               // --limit=N
};

// Parses --if-revision=R (and --if-absent where the command takes it) into `with`; false when
// `arg` is neither, or with a message on stderr when its value is bad.
bool parse_condition(const std::string& arg, const command& cmd, flags& with, bool& bad) {
  if (cmd.takes_condition == command::none) return false;
  if (arg == "--if-absent" && cmd.takes_condition == command::revision_or_absent) {
    with.condition = write_condition::if_absent();
    return true;
  }
  static const std::string kRevision = "--if-revision=";
  if (arg.compare(0, kRevision.size(), kRevision) != 0) return false;
  std::string value = arg.substr(kRevision.size());
  auto revision = parse_count(value);
  if (!revision || *revision == 0) {
    std::cerr << "eventbase: --if-revision takes a revision (a positive integer, a record's "
                 "meta.revision), not '"
              << value << "'" << std::endl;
    bad = true;
    return true;
  }
  with.condition = write_condition::if_revision(*revision);
  return true;
}

// Parses the query option `arg` ("--limit=10", "--sort={...}") into `with`; false with a
// message on stderr when it is not one or its value is bad.
bool parse_query_option(const std::string& arg, flags& with) {
  auto eq = arg.find('=');
  if (eq == std::string::npos) return false;
  std::string name = arg.substr(2, eq - 2), value = arg.substr(eq + 1);
  if (name == "limit" || name == "offset") {
    auto count = parse_count(value);
    if (!count) {
      std::cerr << "eventbase: --" << name << " takes a non-negative integer, not '" << value << "'"
                << std::endl;
      return false;
    }
    with.query_options[name] = *count;
    return true;
  }
  if (name == "sort" || name == "project") {
    auto parsed = parse_document(value);
    if (!parsed.ok()) {
      std::cerr << "eventbase: --" << name << ": " << parsed.error().message() << std::endl;
      return false;
    }
    with.query_options[name] = std::move(*parsed);
    return true;
  }
  return false;
}

const std::map<std::string, command>& commands() {
  static const std::map<std::string, command> table = {
      {"put",
       {put, 3, 3, "put [--if-revision=R | --if-absent] [--ttl=SECONDS] STREAM KEY JSON", false,
        false, false, command::revision_or_absent}},
      {"get",
       {get, 2, 2, "get [--consistent | --revision=R] STREAM KEY", true, false, false,
        command::none, "--revision="}},
      {"history",
       {history, 2, 2, "history [--limit=N] STREAM KEY", false, false, false, command::none,
        nullptr, true}},
      {"delete",
       {erase, 2, 2, "delete [--if-revision=R] STREAM KEY", false, false, false,
        command::revision}},
      {"batch", {batch, 1, 1, "batch STREAM < JSON-LINES"}},
      {"keys", {keys, 1, 2, "keys [--consistent] STREAM [REGEX]", true}},
      {"insert", {insert, 2, 2, "insert STREAM JSON"}},
      {"query",
       {query, 2, 2,
        "query [--consistent] [--sort=JSON] [--limit=N] [--offset=N] [--project=JSON] "
        "[--explain] STREAM FILTER",
        true, true}},
      {"index",
       {index, 2, 4,
        "index create [--no-wait] STREAM FIELD | index drop STREAM FIELD | index list STREAM"}},
      {"count", {count, 2, 2, "count [--consistent] STREAM FILTER", true}},
      {"streams", {streams, 0, 0, "streams"}},
      {"status", {stream_state, 1, 1, "status STREAM"}},
      {"import", {import_documents, 1, 1, "import STREAM < JSON-LINES"}},
      {"export", {export_documents, 1, 1, "export [--consistent] STREAM > JSON-LINES", true}},
      {"watch",
       {nullptr, 1, 2, "watch [--from-revision=R] STREAM GLOB | watch --query=FILTER STREAM", false,
        false, true, command::none, "--from-revision="}},
  };
  return table;
}

}  // namespace

int run(const options& opts) {
  auto it = commands().find(opts.command);
  if (it == commands().end()) {
    std::cerr << "eventbase: unknown command '" << opts.command << "' (see eventbase --help)"
              << std::endl;
    return usage;
  }
  const command& cmd = it->second;
  // Options of the command come first after its name; "--" ends them.
  flags with;
  std::vector<std::string> args = opts.args;
  while (!args.empty() && args.front().size() > 2 && args.front().compare(0, 2, "--") == 0) {
    bool bad = false;
    if (parse_condition(args.front(), cmd, with, bad)) {
      if (bad) return usage;
    } else if (cmd.revision_option && args.front().rfind(cmd.revision_option, 0) == 0) {
      std::string name(cmd.revision_option);
      auto value = parse_count(args.front().substr(name.size()));
      if (!value) {
        std::cerr << "eventbase: " << name.substr(0, name.size() - 1)
                  << " takes a revision (a non-negative integer, a record's meta.revision), not '"
                  << args.front().substr(name.size()) << "'" << std::endl;
        return usage;
      }
      with.revision = *value;
    } else if (opts.command == "put" && args.front().rfind("--ttl=", 0) == 0) {
      auto value = parse_count(args.front().substr(6));
      if (!value || *value == 0 || *value > protocol::kMaxTtlSeconds) {
        std::cerr << "eventbase: --ttl takes whole seconds from 1 to " << protocol::kMaxTtlSeconds
                  << " (ten years), not '" << args.front().substr(6) << "'" << std::endl;
        return usage;
      }
      with.ttl = *value;
    } else if (cmd.takes_limit && args.front().rfind("--limit=", 0) == 0) {
      auto value = parse_count(args.front().substr(8));
      if (!value) {
        std::cerr << "eventbase: --limit takes a non-negative integer, not '"
                  << args.front().substr(8) << "'" << std::endl;
        return usage;
      }
      with.limit = *value;
    } else if (args.front() == "--consistent" && cmd.takes_consistent) {
      with.consistent = true;
    } else if (args.front() == "--explain" && cmd.takes_query_options) {
      with.explain = true;
    } else if (cmd.takes_query_options && parse_query_option(args.front(), with)) {
      // taken
    } else if (cmd.takes_live_query && args.front().rfind("--query=", 0) == 0) {
      with.live_query = args.front().substr(8);
    } else {
      std::cerr << "eventbase: unknown option '" << args.front() << "' for " << opts.command
                << " (usage: eventbase " << cmd.usage << ")" << std::endl;
      return usage;
    }
    args.erase(args.begin());
  }
  if (!args.empty() && args.front() == "--") args.erase(args.begin());
  // watch takes a GLOB or --query, not both
  size_t max_args = cmd.max_args - (with.live_query ? 1 : 0);
  size_t min_args = cmd.takes_live_query && !with.live_query ? cmd.max_args : cmd.min_args;
  if (args.size() < min_args || args.size() > max_args) {
    std::cerr << "eventbase: usage: eventbase " << cmd.usage << std::endl;
    return usage;
  }
  // watch waits for SIGINT/SIGTERM: block them before any thread starts, so none takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (opts.command == "watch") pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (opts.tls.enabled() &&
      (opts.tls.certificate.empty() || opts.tls.key.empty() || opts.tls.ca.empty())) {
    std::cerr << "eventbase: --tls-cert, --tls-key and --tls-ca go together (or "
                 "EVENTBASE_TLS_CERT, EVENTBASE_TLS_KEY, EVENTBASE_TLS_CA)"
              << std::endl;
    return usage;
  }
  if (auto st = check_tls(opts.tls); !st.ok()) {
    std::cerr << "eventbase: " << st.message() << std::endl;
    return usage;
  }
  caf::actor_system_config cfg;
  network_options net;
  net.tls = opts.tls;
  configure_network(cfg, net);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  int code;
  {
    session s(sys, opts);
    if (auto st = s.connect(); !st.ok()) return report(st, unreachable);
    code = cmd.run ? cmd.run(s, args, with) : watch(s, args, with, stop_signals);
  }
  return code;
}

}  // namespace eventbase::cli
