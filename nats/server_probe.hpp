// Which release a NATS server runs, asked the way every client learns it: a server sends an INFO
// line, naming its version, to each connection before anything else (cnats keeps it to itself).
// A short connection of its own reads that line and closes again; nothing is sent, so no
// credentials are needed and none are exposed, and a TLS server still sends its INFO in the
// clear first.
#pragma once

#include <chrono>
#include <string>

#include "eventbase/status.hpp"
#include "nats/server_settings.hpp"

namespace eventbase::nats {

/// The release of the server at `url` ("nats://host:port", "tls://user:pass@host:port",
/// "host:port", IPv6 hosts in brackets): unavailable when it cannot be reached or says nothing
/// within `timeout`, invalid_argument for a URL without a host or an INFO without a version.
result<server_version> probe_server_version(const std::string& url,
                                            std::chrono::milliseconds timeout);

}  // namespace eventbase::nats
