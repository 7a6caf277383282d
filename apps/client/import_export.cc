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
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "base/progress_line.hpp"
#include "client/session.hpp"
#include "protocol/document.hpp"
#include "protocol/js_json.hpp"

namespace eventbase::cli {
namespace {

// Import sends its puts in batches (one message each way per batch: a put per message costs
// the client ~60 us of CPU, most of it the message), and keeps a few batches in flight; an
// export page holds kExportPage documents.
constexpr size_t kImportBatch = 256;
// A batch's keys and documents stay under this many bytes (a batch holds at least one line),
// well inside the message size a server accepts (eventbase-server --max-message-bytes, 1 MiB
// and 64 KiB by default).
constexpr size_t kImportBatchBytes = 256 << 10;
constexpr uint64_t kImportWindow = 4;
constexpr uint64_t kExportPage = 1000;

// The lines of one batch of puts: their numbers, keys and documents.
struct import_batch {
  std::vector<uint64_t> lines;
  std::vector<std::string> keys;
  std::vector<std::string> documents;
  size_t bytes = 0;  // of the keys and documents
};

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
}  // namespace eventbase::cli

// Handed from the reading thread to the sending actor, in this process only.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<eventbase::cli::import_batch>)

namespace eventbase::cli {

// import STREAM: JSON lines {"key":K,"data":D} from stdin, put in batches of kImportBatch lines
// (or kImportBatchBytes), up to kImportWindow batches in flight; a progress line on stderr when
// it is a terminal; {"imported":N} at the end. Stops at the first bad line or failed put (exit
// 1, naming its line; what was put before stays: the lines before a bad one are sent first).
int import_documents(session& s, const std::vector<std::string>& args, const flags&) {
  auto stream = s.stream(args[0]);
  if (!stream.ok()) return report(stream.error());
  struct progress_state {
    std::mutex mutex;
    std::condition_variable changed;
    uint64_t batches_in_flight = 0;
    uint64_t done = 0;
    uint64_t failed_line = 0;  // the first line that failed, of those reported so far
    std::optional<status> failed;
  };
  auto state = std::make_shared<progress_state>();
  // Counts a batch's outcomes: errors[i] (or `all_failed`) for the put of lines[i].
  auto completed = [state](const std::vector<uint64_t>& lines,
                           const std::vector<caf::error>* errors, const status& all_failed) {
    std::lock_guard<std::mutex> guard(state->mutex);
    --state->batches_in_flight;
    for (size_t i = 0; i < lines.size(); ++i) {
      status st = all_failed;
      if (st.ok() && (errors == nullptr || i >= errors->size()))
        st = status(errc::internal, "no outcome in the batch reply");
      else if (st.ok() && (*errors)[i])
        st = to_status((*errors)[i]);
      if (st.ok()) {
        ++state->done;
      } else if (!state->failed || lines[i] < state->failed_line) {
        state->failed_line = lines[i];
        state->failed = status(st.code(), "line " + std::to_string(lines[i]) + ": " + st.message());
      }
    }
    state->changed.notify_all();
  };
  // Sends the batches and counts their replies.
  auto sender = s.system().spawn([target = *stream, completed, timeout = s.timeout()](
                                     caf::event_based_actor* self) -> caf::behavior {
    return {[=](put_atom, std::shared_ptr<import_batch>& batch) {
      self->request(target, timeout, put_atom::value, std::move(batch->keys),
                    std::move(batch->documents))
          .then(
              [completed, batch](put_batch_reply& reply) {
                completed(batch->lines, &reply.errors, status::OK());
              },
              [completed, batch](caf::error& err) {
                completed(batch->lines, nullptr, to_status(err));
              });
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
  // Sends `batch` once fewer than kImportWindow are in flight; false once a put failed.
  auto send = [&](std::shared_ptr<import_batch>& batch) {
    wait([&] { return state->batches_in_flight < kImportWindow || state->failed; });
    {
      std::lock_guard<std::mutex> guard(state->mutex);
      if (state->failed) return false;
      ++state->batches_in_flight;
    }
    caf::anon_send(sender, put_atom::value, std::move(batch));
    batch = std::make_shared<import_batch>();
    return true;
  };
  std::optional<status> bad_line;
  std::string line;
  auto batch = std::make_shared<import_batch>();
  for (uint64_t number = 1; std::getline(std::cin, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto item = parse_import_line(line);
    if (!item.ok()) {
      bad_line = status(errc::invalid_argument,
                        "line " + std::to_string(number) +
                            " is not {\"key\":\"...\",\"data\":...}: " + item.error().message());
      break;
    }
    size_t bytes = item->key.size() + item->data.size();
    if (!batch->keys.empty() && batch->bytes + bytes > kImportBatchBytes && !send(batch)) break;
    batch->lines.push_back(number);
    batch->keys.push_back(std::move(item->key));
    batch->documents.push_back(std::move(item->data));
    batch->bytes += bytes;
    if (batch->keys.size() == kImportBatch && !send(batch)) break;
  }
  if (!batch->keys.empty()) send(batch);  // the lines before the end or before a bad line
  wait([&] { return state->batches_in_flight == 0; });
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
