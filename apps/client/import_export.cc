// eventbase import and export: a stream's documents as JSON lines, {"key","data","meta"} out
// and {"key","data"} (with "meta" ignored) in, so that an export is a backup that import
// restores, documents in their member order.
#include <unistd.h>

#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "base/progress_line.hpp"
#include "client/session.hpp"
#include "protocol/document.hpp"
#include "protocol/js_json.hpp"

namespace eventbase::cli {
namespace {

// How many puts import keeps in flight, and how many documents an export page holds.
constexpr uint64_t kImportWindow = 64;
constexpr uint64_t kExportPage = 1000;

// The key and the data (as JSON text, JavaScript's form) of an import line, or why the line is
// not {"key":"...","data":...} (a "meta" member is ignored: export writes it).
struct import_item {
  std::string key;
  std::string data;
};

result<import_item> parse_import_line(const std::string& line) {
  // The document sits one level down in the line.
  auto parsed = protocol::parse_json(line, protocol::kMaxDocumentDepth + 1);
  if (!parsed.ok()) return parsed.error();
  auto& item = *parsed;
  if (!item.is_object()) return status(errc::invalid_argument, "not a JSON object");
  import_item out;
  bool has_key = false, has_data = false;
  for (auto it = item.begin(); it != item.end(); ++it) {
    if (it.key() == "key") {
      if (!it.value().is_string()) return status(errc::invalid_argument, "\"key\" is no string");
      out.key = it.value().get<std::string>();
      has_key = true;
    } else if (it.key() == "data") {
      if (auto st = protocol::stringify(it.value(), out.data); !st.ok()) return st;
      has_data = true;
    } else if (it.key() != "meta") {
      return status(errc::invalid_argument, "unknown member \"" + it.key() + "\"");
    }
  }
  if (!has_key || !has_data)
    return status(errc::invalid_argument, std::string("no \"") + (has_key ? "data" : "key") + "\"");
  return out;
}

}  // namespace

// import STREAM: JSON lines {"key":K,"data":D} from stdin, each put, up to kImportWindow in
// flight; a progress line on stderr when it is a terminal; {"imported":N} at the end. Stops at
// the first bad line or failed put (exit 1, naming its line; what was put before stays).
int import_documents(session& s, const std::vector<std::string>& args, const flags&) {
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
  auto completed = [state](uint64_t line, const status& st) {
    std::lock_guard<std::mutex> guard(state->mutex);
    --state->in_flight;
    if (st.ok())
      ++state->done;
    else if (!state->failed)
      state->failed = status(st.code(), "line " + std::to_string(line) + ": " + st.message());
    state->changed.notify_all();
  };
  // Sends the puts and counts their replies.
  auto sender = s.system().spawn([target = *stream, completed, timeout = s.timeout()](
                                     caf::event_based_actor* self) -> caf::behavior {
    return {[=](put_atom, uint64_t line, std::string& key, std::string& doc) {
      self->request(target, timeout, put_atom::value, std::move(key), std::move(doc))
          .then([completed, line](entry&) { completed(line, status::OK()); },
                [completed, line](caf::error& err) { completed(line, to_status(err)); });
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
    auto item = parse_import_line(line);
    if (!item.ok()) {
      bad_line = status(errc::invalid_argument,
                        "line " + std::to_string(number) +
                            " is not {\"key\":\"...\",\"data\":...}: " + item.error().message());
      break;
    }
    wait([&] { return state->in_flight < kImportWindow || state->failed; });
    {
      std::lock_guard<std::mutex> guard(state->mutex);
      if (state->failed) break;
      ++state->in_flight;
    }
    caf::anon_send(sender, put_atom::value, number, std::move(item->key), std::move(item->data));
  }
  wait([&] { return state->in_flight == 0; });
  caf::anon_send_exit(sender, caf::exit_reason::user_shutdown);
  progress.finish("eventbase: imported", state->done);
  if (bad_line || state->failed) {
    status why = state->failed ? *state->failed : *bad_line;  // the earlier line
    return report(status(why.code(), why.message() + " (" + std::to_string(state->done) +
                                         " documents imported before)"));
  }
  print(nlohmann::ordered_json{{"imported", state->done}});
  return ok;
}

// export [--consistent] STREAM: every document, in key order, as {"key","data","meta"} lines,
// read through a query cursor a page at a time (bounded memory on both sides).
int export_documents(session& s, const std::vector<std::string>& args, const flags& with) {
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  const std::string all = "{}", no_options;
  auto page = with.consistent
                  ? s.ask<query_page>(*stream, cursor_atom::value, open_atom::value, all,
                                      no_options, kExportPage, consistent_atom::value)
                  : s.ask<query_page>(*stream, cursor_atom::value, open_atom::value, all,
                                      no_options, kExportPage);
  while (true) {
    if (!page.ok()) return report(page.error());
    uint64_t next = page->cursor;
    auto docs = decode_query_reply(query_reply{std::move(page->keys), std::move(page->records)});
    if (!docs.ok()) {
      if (next != 0) s.ask<ok_atom>(*stream, cursor_atom::value, close_atom::value, next);
      return report(docs.error());
    }
    for (const auto& doc : *docs) std::cout << stringify(doc.to_json()) << '\n';
    if (next == 0) break;
    page = s.ask<query_page>(*stream, cursor_atom::value, next);
  }
  std::cout << std::flush;
  return std::cout ? ok : report(status(errc::internal, "cannot write to stdout"));
}

}  // namespace eventbase::cli
