// The eventbase client's commands: each talks to a server's manager over CAF's network layer
// and prints JSON, one value per line, on stdout.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "eventbase/tls.hpp"

namespace eventbase::cli {

/// Exit codes of the client.
enum exit_code : int {
  ok = 0,
  failed = 1,       // the server refused or failed the operation, or bad input
  usage = 2,        // bad command line
  unreachable = 3,  // no eventbase-server at the address, or TLS/authentication failed
};

struct options {
  std::string host = "127.0.0.1";
  uint16_t port = 4333;
  std::chrono::milliseconds timeout{15000};
  tls_options tls;  // mutual TLS with the server; none by default
  std::string command;
  std::vector<std::string> args;
};

/// Runs `opts.command`; returns the exit code. Errors are printed as one line on stderr.
int run(const options& opts);

}  // namespace eventbase::cli
