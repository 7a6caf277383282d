// A linearizability checker for histories of concurrent operations on key-value registers with
// compare-and-set: Wing & Gong's search with Lowe's memoization, as Porcupine and Knossos do it.
// The cluster test records what its clients did while faults were injected and fails on any
// history this does not accept. Plain C++17: no CAF, no NATS.
//
// The model, per key (keys are independent: a history is linearizable iff every key's
// sub-history is): a register holding a value or nothing (initially nothing), on which
//   read()           returns the value,
//   write(v)         puts v,
//   cas(expected, v) puts v iff the register holds `expected` (nullopt: iff it is empty), and
//                    otherwise fails with a conflict and changes nothing.
// Every write and cas of a history puts a value no other operation puts, so a value names the
// operation that wrote it (the database's "revision == R" condition is then "value == the value
// read at R").
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace eventbase::test {

enum class op_kind {
  read,   ///< returns the register's value
  write,  ///< puts `written`
  cas,    ///< puts `written` iff the register holds `expected`
};

/// What the client learned of an operation.
enum class op_outcome {
  ok,        ///< it took effect: a read returned `returned`, a write or cas put its value
  conflict,  ///< cas only: the register did not hold `expected`; nothing was written
  /// Timeout or lost connection: it may have taken effect at any time after `invoked`, or never;
  /// a read's result is unknown, so the check ignores the read.
  unknown,
};

/// One operation as a client recorded it. An operation the client refused before sending it
/// is not recorded at all.
struct operation {
  using time_point = std::chrono::steady_clock::time_point;

  int process = 0;  ///< the client (only printed)
  std::string key;
  op_kind kind = op_kind::read;
  std::optional<std::string> expected;  ///< cas: the value required; nullopt: "empty"
  std::string written;                  ///< write, cas: the value put, unique in the history
  std::optional<std::string> returned;  ///< read with outcome ok: the value; nullopt: empty
  op_outcome outcome = op_outcome::ok;
  /// Taken before the request left the client and after its answer arrived. Operations whose
  /// intervals overlap, end points included, are concurrent. With outcome unknown, `completed`
  /// is when the client gave up: printed, otherwise ignored (the operation may take effect
  /// later).
  time_point invoked;
  time_point completed;
};

using history = std::vector<operation>;

enum class verdict {
  linearizable,
  not_linearizable,
  gave_up,  ///< a limit was reached before the search could decide: a failed check too
};

/// Bounds on the search, which is exponential in the worst case.
struct check_limits {
  /// Search states remembered per key; each takes about (the key's operations / 8 + 64) bytes,
  /// so at most about 210 MB for 3,000 operations. Random linearizable histories of 3,000
  /// operations by 4 clients took under 6,000; by 8, under 20,000; by 16 with 10% unknown
  /// outcomes, up to 500,000.
  std::size_t max_states = 500'000;
  /// For the whole check, all keys together.
  std::chrono::milliseconds time_budget{60'000};
};

struct check_result {
  verdict decision = verdict::linearizable;
  /// Empty when linearizable. Otherwise, for each key that failed: how many of its operations
  /// the longest linearizable prefix found places, its last operations, the register's value
  /// there, and why each operation that could come next cannot; times in ms since the
  /// history's first invocation, as render() prints them.
  std::string explanation;

  bool linearizable() const { return decision == verdict::linearizable; }
};

/// Checks `ops` (in any order). Throws std::invalid_argument for a history that breaks the
/// contract above: a conflict on a read or write, a completion before the invocation, a value
/// written twice.
check_result check(const history& ops, const check_limits& limits = {});

/// The history as text, one operation per line in order of invocation, numbered by position
/// in `ops` (the explanation's numbers): for a file to read when a check fails.
std::string render(const history& ops);

}  // namespace eventbase::test
