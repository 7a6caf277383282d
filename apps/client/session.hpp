// What the eventbase client's commands share (internal to the client): printing, error lines,
// the connection to a server, and a command's options.
#pragma once

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "client/commands.hpp"
#include "eventbase/actors.hpp"
#include "eventbase/eventbase.hpp"
#include "eventbase/network.hpp"
#include "eventbase/request.hpp"
#include "eventbase/write_condition.hpp"

namespace eventbase::cli {

// One line of output, written as JavaScript's JSON.stringify writes it.
inline void print(const nlohmann::ordered_json& value) {
  std::cout << stringify(value) << '\n' << std::flush;
}

inline int report(const status& st, int code = failed) {
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
  // watch --query=FILTER: the live query's filter, as given
  std::optional<std::string> live_query;
  // put --if-revision=R / --if-absent, delete --if-revision=R
  write_condition condition;
  // get --revision=R, watch --from-revision=R
  std::optional<uint64_t> revision;
  // history --limit=N (0: all)
  uint64_t limit = 0;
  // put --ttl=SECONDS (0: none)
  uint64_t ttl = 0;
};

// import STREAM (import_export.cc): JSON lines {"key","data"} from stdin, put pipelined.
int import_documents(session& s, const std::vector<std::string>& args, const flags& with);

// export STREAM (import_export.cc): every document as a line {"key","data","meta"}.
int export_documents(session& s, const std::vector<std::string>& args, const flags& with);

}  // namespace eventbase::cli
