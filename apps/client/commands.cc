// The eventbase client's commands (see commands.hpp).
#include "client/commands.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "base/progress_line.hpp"
#include "eventbase/actors.hpp"
#include "eventbase/eventbase.hpp"
#include "eventbase/network.hpp"
#include "eventbase/request.hpp"

namespace eventbase::cli {
namespace {

using nlohmann::json;

// One line of output, written as JavaScript's JSON.stringify writes it.
void print(const nlohmann::ordered_json& value) {
  std::cout << stringify(value) << '\n' << std::flush;
}

int report(const status& st, int code = failed) {
  std::cerr << "eventbase: " << st.to_string() << std::endl;
  return code;
}

// The connection to a server and blocking requests over it.
class session {
 public:
  session(caf::actor_system& sys, const options& opts) : self_(sys), opts_(opts) {}

  status connect() {
    auto manager = connect_manager(self_->system(), opts_.host, opts_.port, opts_.timeout);
    if (!manager.ok()) return manager.error();
    manager_ = *manager;
    return status::OK();
  }

  template <class T, class Handle, class... Ts>
  result<T> ask(const Handle& target, Ts&&... xs) {
    return eventbase::ask<T>(*self_, target, opts_.timeout, std::forward<Ts>(xs)...);
  }

  result<stream_actor> stream(const std::string& name) {
    return ask<stream_actor>(manager_, open_atom::value, name);
  }

  const manager_actor& manager() const { return manager_; }
  std::chrono::milliseconds timeout() const { return opts_.timeout; }
  caf::actor_system& system() { return self_->system(); }

 private:
  caf::scoped_actor self_;
  options opts_;
  manager_actor manager_;
};

// The command's options (after its name), e.g. --consistent.
struct flags {
  bool consistent = false;
  bool explain = false;  // query --explain
  // query: {"sort","limit","offset","project"} as given by --sort=JSON, --limit=N, ...
  nlohmann::ordered_json query_options = nlohmann::ordered_json::object();
};

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

int put(session& s, const std::vector<std::string>& args, const flags&) {
  auto target = stream_with_json(s, args[0], args[2]);
  if (!target.ok()) return report(target.error());
  auto reply = s.ask<entry>(target->stream, put_atom::value, args[1], target->text);
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
  auto reply = s.ask<query_reply>(target->stream, query_atom::value, target->text,
                                  stringify(with.query_options));
  if (!reply.ok()) return report(reply.error());
  auto docs = decode_query_reply(*reply);
  if (!docs.ok()) return report(docs.error());
  for (const auto& doc : *docs) print(doc.to_json());
  return ok;
}

// count STREAM FILTER -> the number of matching documents.
int count(session& s, const std::vector<std::string>& args, const flags&) {
  auto target = stream_with_json(s, args[0], args[1]);
  if (!target.ok()) return report(target.error());
  auto n = s.ask<uint64_t>(target->stream, count_atom::value, target->text);
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
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  auto reply = with.consistent
                   ? s.ask<entry>(*stream, get_atom::value, args[1], consistent_atom::value)
                   : s.ask<entry>(*stream, get_atom::value, args[1]);
  if (!reply.ok()) return report(reply.error());
  auto out = entry_to_json(*reply);
  if (!out.ok()) return report(out.error());
  print(*out);
  return ok;
}

int erase(session& s, const std::vector<std::string>& args, const flags&) {
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  auto purged = s.ask<uint64_t>(*stream, erase_atom::value, args[1]);
  if (!purged.ok()) return report(purged.error());
  print(json{{"purged", *purged}});
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
      {"consumer", st->consumer}};
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

// import STREAM: JSON lines {"key":K,"data":D} from stdin, each put, up to kImportWindow in
// flight; a progress line on stderr when it is a terminal; {"imported":N} at the end. Stops at
// the first bad line or failed put (exit 1, naming it; what was put before stays).
int import(session& s, const std::vector<std::string>& args, const flags&) {
  constexpr uint64_t kImportWindow = 64;
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  struct progress_state {
    std::mutex mutex;
    std::condition_variable changed;
    uint64_t in_flight = 0;
    uint64_t done = 0;
    std::optional<status> failed;
  };
  auto state = std::make_shared<progress_state>();
  auto completed = [state](const status& st) {
    std::lock_guard<std::mutex> guard(state->mutex);
    --state->in_flight;
    if (st.ok())
      ++state->done;
    else if (!state->failed)
      state->failed = st;
    state->changed.notify_all();
  };
  // Sends the puts and counts their replies.
  auto sender = s.system().spawn([target = *stream, completed, timeout = s.timeout()](
                                     caf::event_based_actor* self) -> caf::behavior {
    return {[=](put_atom, std::string& key, std::string& doc) {
      self->request(target, timeout, put_atom::value, std::move(key), std::move(doc))
          .then([completed](entry&) { completed(status::OK()); },
                [completed](caf::error& err) { completed(to_status(err)); });
    }};
  });
  progress_line progress(std::cerr, is_terminal(STDERR_FILENO));
  // Waits until `ready` holds, updating the progress line meanwhile.
  auto wait = [&](auto ready) {
    std::unique_lock<std::mutex> lock(state->mutex);
    while (!ready()) {
      state->changed.wait_for(lock, std::chrono::milliseconds(250));
      uint64_t done = state->done;
      lock.unlock();
      progress.update("eventbase: imported", done);
      lock.lock();
    }
  };
  std::optional<status> bad_line;
  std::string line;
  for (uint64_t number = 1; std::getline(std::cin, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto item = nlohmann::ordered_json::parse(line, nullptr, false);
    if (item.is_discarded() || !item.is_object() || !item.contains("key") ||
        !item["key"].is_string() || !item.contains("data")) {
      bad_line = status(errc::invalid_argument,
                        "line " + std::to_string(number) +
                            " is not a JSON object {\"key\":\"...\",\"data\":...}");
      break;
    }
    wait([&] { return state->in_flight < kImportWindow || state->failed; });
    {
      std::lock_guard<std::mutex> guard(state->mutex);
      if (state->failed) break;
      ++state->in_flight;
    }
    caf::anon_send(sender, put_atom::value, item["key"].get<std::string>(), item["data"].dump());
  }
  wait([&] { return state->in_flight == 0; });
  caf::anon_send_exit(sender, caf::exit_reason::user_shutdown);
  progress.finish("eventbase: imported", state->done);
  if (bad_line || state->failed) {
    status why = bad_line ? *bad_line : *state->failed;
    return report(status(why.code(), why.message() + " (" + std::to_string(state->done) +
                                         " documents imported before)"));
  }
  print(json{{"imported", state->done}});
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

int watch(session& s, const std::vector<std::string>& args, const sigset_t& stop_signals) {
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  int wake = ::eventfd(0, EFD_CLOEXEC);
  int signals = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  auto ended = std::make_shared<status>();
  auto subscriber = s.system().spawn(printer, *stream, wake, ended);
  auto id = s.ask<uint64_t>(*stream, subscribe_atom::value, args[1], subscriber);
  int code = ok;
  if (!id.ok()) {
    code = report(id.error());
  } else {
    std::cerr << "eventbase: watching " << args[0] << " for " << args[1] << std::endl;
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

struct command {
  int (*run)(session&, const std::vector<std::string>&, const flags&);
  size_t min_args;
  size_t max_args;
  const char* usage;
  bool takes_consistent = false;
  bool takes_query_options = false;
};

// Parses the query option `arg` ("--limit=10", "--sort={...}") into `with`; false with a
// message on stderr when it is not one or its value is bad.
bool parse_query_option(const std::string& arg, flags& with) {
  auto eq = arg.find('=');
  if (eq == std::string::npos) return false;
  std::string name = arg.substr(2, eq - 2), value = arg.substr(eq + 1);
  if (name == "limit" || name == "offset") {
    if (value.empty() || value.size() > 19 ||
        value.find_first_not_of("0123456789") != std::string::npos) {
      std::cerr << "eventbase: --" << name << " takes a non-negative integer, not '" << value << "'"
                << std::endl;
      return false;
    }
    with.query_options[name] = std::stoull(value);
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
      {"put", {put, 3, 3, "put STREAM KEY JSON"}},
      {"get", {get, 2, 2, "get [--consistent] STREAM KEY", true}},
      {"delete", {erase, 2, 2, "delete STREAM KEY"}},
      {"keys", {keys, 1, 2, "keys [--consistent] STREAM [REGEX]", true}},
      {"insert", {insert, 2, 2, "insert STREAM JSON"}},
      {"query",
       {query, 2, 2,
        "query [--sort=JSON] [--limit=N] [--offset=N] [--project=JSON] [--explain] STREAM FILTER",
        false, true}},
      {"index",
       {index, 2, 4,
        "index create [--no-wait] STREAM FIELD | index drop STREAM FIELD | index list STREAM"}},
      {"count", {count, 2, 2, "count STREAM FILTER"}},
      {"streams", {streams, 0, 0, "streams"}},
      {"status", {stream_state, 1, 1, "status STREAM"}},
      {"import", {import, 1, 1, "import STREAM < JSON-LINES"}},
      {"watch", {nullptr, 2, 2, "watch STREAM GLOB"}},
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
    if (args.front() == "--consistent" && cmd.takes_consistent) {
      with.consistent = true;
    } else if (args.front() == "--explain" && cmd.takes_query_options) {
      with.explain = true;
    } else if (cmd.takes_query_options && parse_query_option(args.front(), with)) {
      // taken
    } else {
      std::cerr << "eventbase: unknown option '" << args.front() << "' for " << opts.command
                << " (usage: eventbase " << cmd.usage << ")" << std::endl;
      return usage;
    }
    args.erase(args.begin());
  }
  if (!args.empty() && args.front() == "--") args.erase(args.begin());
  if (args.size() < cmd.min_args || args.size() > cmd.max_args) {
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
    code = cmd.run ? cmd.run(s, args, with) : watch(s, args, stop_signals);
  }
  return code;
}

}  // namespace eventbase::cli
