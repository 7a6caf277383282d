// What Eventbase knows of the nats-server program without starting it: which one to run, its
// release as `nats-server --version` names it, and the JetStream sync settings that release
// takes. Plain functions, no processes (nats/embedded_server.cc runs the program), so that they
// are unit-tested on their own.
#pragma once

#include <string>

#include "eventbase/status.hpp"

namespace eventbase::nats {

/// A nats-server release, e.g. 2.9.10. Ordered by major, then minor, then patch.
struct server_version {
  int major = 0;
  int minor = 0;
  int patch = 0;

  /// "2.9.10".
  std::string to_string() const;
};

bool operator==(const server_version& a, const server_version& b);
bool operator!=(const server_version& a, const server_version& b);
bool operator<(const server_version& a, const server_version& b);
bool operator<=(const server_version& a, const server_version& b);
bool operator>(const server_version& a, const server_version& b);
bool operator>=(const server_version& a, const server_version& b);

/// The first release with JetStream's `sync_interval` (and its value `always`): before it,
/// nats-server flushes its store every 2 minutes and refuses a configuration that names the
/// setting ("unknown field").
inline constexpr server_version kSyncIntervalSince{2, 10, 0};

/// Reads what `nats-server --version` prints: "nats-server: v2.9.10". White space around it
/// and a pre-release or build suffix after the patch number ("v2.11.0-RC.1") are accepted, the
/// suffix dropped. Anything else is invalid_argument quoting the text.
result<server_version> parse_server_version(const std::string& output);

/// Checks a JetStream sync setting as embedded_server_options::sync takes it: "" (keep
/// nats-server's default), "always", or a positive duration of digits followed by ms, s, m or h
/// ("500ms", "10s", "2m"; at most what nats-server's 64-bit nanoseconds hold). OK, or
/// invalid_argument saying what is accepted.
status check_sync(const std::string& sync);

/// What the jetstream block of a configuration for `version` gets for a valid `sync`: the line
/// "  sync_interval: always\n" (a duration quoted: "  sync_interval: \"10s\"\n"), or "" when
/// `sync` is empty or `version` is older than kSyncIntervalSince.
std::string sync_interval_setting(const std::string& sync, const server_version& version);

/// The nats-server program to run when none is named: $EVENTBASE_NATS_SERVER when it is set
/// and not empty, else "nats-server" (searched in PATH and the sbin directories).
std::string default_server_executable();

/// Reads the release a server names in the INFO line it sends every client first
/// (`INFO {"server_id":...,"version":"2.15.1",...}`); invalid_argument for anything else.
result<server_version> parse_info_version(const std::string& line);

// -- features by release ------------------------------------------------------------------------
// What Eventbase uses that not every nats-server has. A feature that needs a newer release than
// the server's is refused with require()'s error, or replaced by a fallback where there is one.

/// `sync_interval` (syncing before acknowledging): kSyncIntervalSince.
/// `Nats-Expected-Last-Subject-Sequence` checked on every replica, not only on the leader before
/// replicating, so that two writes of one key through different nodes cannot both pass.
inline constexpr server_version kAtomicSubjectCheckSince{2, 10, 19};
/// Per-message TTL (`Nats-TTL`, ADR-43).
inline constexpr server_version kMessageTtlSince{2, 11, 0};
/// Atomic batch publish (ADR-50).
inline constexpr server_version kAtomicBatchSince{2, 12, 0};

/// OK when `found` has `feature`, which arrived in `needed`; otherwise unavailable naming both:
/// "<feature> needs nats-server 2.11.0 or newer; the server is 2.9.10".
status require(const server_version& found, const server_version& needed,
               const std::string& feature);

}  // namespace eventbase::nats
