// The linearizability check of linearizability.hpp: per key, Wing & Gong's depth-first search
// for a linearization over a list of call and return entries (an operation is placed by lifting
// both its entries out of the list, and put back by unlifting them when the search backtracks),
// with Lowe's memo of the states already explored. Iterative: histories have thousands of
// operations per key.
//
// Operations of unknown outcome may take effect anywhere after their invocation or never, which
// lets a plain search place each of them in many places and fail on every combination when a
// history is not linearizable. This one keeps to one linearization per equivalence class, and
// stays exact: it places them only where something observes them (search_step), treats the
// values nothing reads alike (key_history::class_of), spends the unknown operations that put such
// values one per state (clobber_pool), and skips states no better than one that failed.
#include "support/linearizability.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iomanip>
#include <map>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace eventbase::test {
namespace {

using time_point = operation::time_point;
using wall_clock = std::chrono::steady_clock;

// ---- Text

const char* name_of(op_outcome outcome) {
  switch (outcome) {
    case op_outcome::ok:
      return "ok";
    case op_outcome::conflict:
      return "conflict";
    case op_outcome::unknown:
      return "unknown";
  }
  return "?";
}

std::string quoted(const std::string& value) {
  std::ostringstream out;
  out << std::quoted(value);
  return out.str();
}

std::string quoted(const std::optional<std::string>& value) {
  return value ? quoted(*value) : "empty";
}

std::string ms_since(time_point origin, time_point t) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f",
                std::chrono::duration<double, std::milli>(t - origin).count());
  return text;
}

// The origin of the times printed: the history's first invocation.
time_point start_of(const history& ops) {
  if (ops.empty()) return {};
  return std::min_element(
             ops.begin(), ops.end(),
             [](const operation& a, const operation& b) { return a.invoked < b.invoked; })
      ->invoked;
}

// One line: `    12.345 ..     13.002 ms  #7 p3 "k" cas("v1" -> "v7") -> conflict`; an unknown
// outcome's completion, when the client gave up, in parentheses.
std::string describe(const history& ops, std::size_t index, time_point origin) {
  const operation& op = ops[index];
  std::string completed = ms_since(origin, op.completed);
  if (op.outcome == op_outcome::unknown) completed = "(" + completed + ")";
  std::ostringstream out;
  out << std::setw(10) << ms_since(origin, op.invoked) << " .. " << std::setw(11) << completed
      << " ms  #" << index << " p" << op.process << ' ' << quoted(op.key) << ' ';
  switch (op.kind) {
    case op_kind::read:
      out << "read()";
      break;
    case op_kind::write:
      out << "write(" << quoted(op.written) << ")";
      break;
    case op_kind::cas:
      out << "cas(" << quoted(op.expected) << " -> " << quoted(op.written) << ")";
      break;
  }
  out << " -> ";
  if (op.kind == op_kind::read && op.outcome == op_outcome::ok) {
    out << quoted(op.returned);
  } else {
    out << name_of(op.outcome);
  }
  return out.str();
}

void validate(const history& ops) {
  std::unordered_map<std::string, std::size_t> writer_of;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const operation& op = ops[i];
    auto refuse = [&](const std::string& why) {
      throw std::invalid_argument("linearizability check: " + why + ": " +
                                  describe(ops, i, start_of(ops)));
    };
    if (op.outcome == op_outcome::conflict && op.kind != op_kind::cas)
      refuse("only a cas reports a conflict");
    if (op.outcome != op_outcome::unknown && op.completed < op.invoked)
      refuse("completed before it was invoked");
    if (op.kind != op_kind::read) {
      auto [writer, first] = writer_of.emplace(op.written, i);
      if (!first) refuse("#" + std::to_string(writer->second) + " writes the same value");
    }
  }
}

// ---- One key's history, values interned

using value_id = std::uint32_t;
constexpr value_id empty_register = 0;

struct key_op {
  std::size_t index = 0;  // in the history
  op_kind kind = op_kind::read;
  op_outcome outcome = op_outcome::ok;
  value_id expected = empty_register;
  value_id written = empty_register;
  value_id returned = empty_register;
  time_point invoked;
  time_point completed;

  // Of unknown outcome, putting a value no operation reads or expects: its only use to an
  // explanation is to make the register lose its value.
  bool clobber = false;

  // Outcome unknown: it returns at +infinity.
  bool pending() const { return outcome == op_outcome::unknown; }
};

struct key_history {
  std::string key;
  std::vector<key_op> ops;                        // in history order, unknown reads left out
  std::vector<std::optional<std::string>> value;  // by value_id; [empty_register] = nullopt
  // The search's view of a value: itself if an operation reads or expects it; otherwise one
  // class for all, as to every operation one such value is like any other. The class's own
  // id, value.size(), maps to itself.
  std::vector<value_id> class_of;
  std::size_t pending = 0;
  std::size_t reads_ignored = 0;
};

key_history history_of_key(const history& ops, const std::string& key,
                           const std::vector<std::size_t>& indices) {
  key_history h;
  h.key = key;
  h.value.emplace_back(std::nullopt);
  std::unordered_map<std::string, value_id> ids;
  auto intern = [&](const std::optional<std::string>& value) -> value_id {
    if (!value) return empty_register;
    auto [it, added] = ids.emplace(*value, static_cast<value_id>(h.value.size()));
    if (added) h.value.emplace_back(value);
    return it->second;
  };
  for (std::size_t index : indices) {
    const operation& op = ops[index];
    if (op.kind == op_kind::read && op.outcome == op_outcome::unknown) {
      ++h.reads_ignored;
      continue;
    }
    key_op k;
    k.index = index;
    k.kind = op.kind;
    k.outcome = op.outcome;
    k.expected = intern(op.expected);
    if (op.kind != op_kind::read) k.written = intern(op.written);
    k.returned = intern(op.returned);
    k.invoked = op.invoked;
    k.completed = op.completed;
    if (k.pending()) ++h.pending;
    h.ops.push_back(k);
  }
  std::vector<bool> referenced(h.value.size(), false);
  referenced[empty_register] = true;
  for (const key_op& k : h.ops) {
    if (k.kind == op_kind::read) referenced[k.returned] = true;
    if (k.kind == op_kind::cas) referenced[k.expected] = true;
  }
  const auto unreferenced = static_cast<value_id>(h.value.size());  // the class: not a value
  for (value_id v = 0; v < h.value.size(); ++v) {
    h.class_of.push_back(referenced[v] ? v : unreferenced);
  }
  h.class_of.push_back(unreferenced);
  for (key_op& k : h.ops) k.clobber = k.pending() && h.class_of[k.written] == unreferenced;
  return h;
}

// ---- The model

// The register's value after `op` takes effect on `state`, or nullopt when what the client saw
// rules out that it took effect there. An operation of unknown outcome fits anywhere.
std::optional<value_id> step(const key_op& op, value_id state) {
  switch (op.kind) {
    case op_kind::read:
      if (op.returned != state) return std::nullopt;
      return state;
    case op_kind::write:
      return op.written;
    case op_kind::cas: {
      bool holds_expected = state == op.expected;
      switch (op.outcome) {
        case op_outcome::ok:
          if (!holds_expected) return std::nullopt;
          return op.written;
        case op_outcome::conflict:
          if (holds_expected) return std::nullopt;
          return state;
        case op_outcome::unknown:
          return holds_expected ? op.written : state;
      }
    }
  }
  return std::nullopt;
}

// Why `op` cannot take effect on `state` (step() returned nullopt).
std::string why_not(const key_op& op, value_id state, const key_history& h) {
  const std::string held = quoted(h.value[state]);
  if (op.kind == op_kind::read)
    return "it returned " + quoted(h.value[op.returned]) + " but the register held " + held;
  if (op.outcome == op_outcome::ok)
    return "it succeeded, so the register held " + quoted(h.value[op.expected]) + ", but it held " +
           held;
  return "it reported a conflict, but the register held the expected " + held;
}

// ---- The search

// Wing & Gong's doubly linked list of call and return entries in time order, between a head
// and a tail sentinel, of every operation but the clobbers (clobber_pool). At equal times calls
// come first: such operations are concurrent. Unknown outcomes return at +infinity, after every
// other entry.
class entry_list {
 public:
  static constexpr std::uint32_t head = 0;

  explicit entry_list(const std::vector<key_op>& ops) {
    struct entry {
      bool is_return;
      time_point time;
      std::uint32_t op;
    };
    std::vector<entry> entries;
    for (std::uint32_t i = 0; i < ops.size(); ++i) {
      if (ops[i].clobber) continue;
      entries.push_back({false, ops[i].invoked, i});
      entries.push_back({true, ops[i].pending() ? time_point::max() : ops[i].completed, i});
    }
    std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
      return std::tie(a.time, a.is_return, a.op) < std::tie(b.time, b.is_return, b.op);
    });
    auto nodes = static_cast<std::uint32_t>(entries.size() + 2);  // with the sentinels
    next_.resize(nodes);
    prev_.resize(nodes);
    op_.resize(nodes);
    return_of_.assign(nodes, 0);
    std::vector<std::uint32_t> call_of(ops.size());
    for (std::uint32_t node = 1; node + 1 < nodes; ++node) {
      const entry& e = entries[node - 1];
      op_[node] = e.op;
      if (e.is_return) {
        return_of_[call_of[e.op]] = node;
      } else {
        call_of[e.op] = node;
      }
    }
    for (std::uint32_t node = 0; node < nodes; ++node) {  // the sentinels point at themselves
      next_[node] = std::min(node + 1, nodes - 1);
      prev_[node] = node == 0 ? 0 : node - 1;
    }
  }

  std::uint32_t first() const { return next_[head]; }
  std::uint32_t next(std::uint32_t node) const { return next_[node]; }
  bool is_call(std::uint32_t node) const { return return_of_[node] != 0; }
  std::uint32_t op(std::uint32_t node) const { return op_[node]; }

  // Takes the operation of call entry `call` out: its call and its return entry.
  void lift(std::uint32_t call) {
    unlink(call);
    unlink(return_of_[call]);
  }

  // Puts back what the last lift() took out.
  void unlift(std::uint32_t call) {
    relink(return_of_[call]);
    relink(call);
  }

 private:
  void unlink(std::uint32_t node) {
    next_[prev_[node]] = next_[node];
    prev_[next_[node]] = prev_[node];
  }
  void relink(std::uint32_t node) {
    next_[prev_[node]] = node;
    prev_[next_[node]] = node;
  }

  std::vector<std::uint32_t> next_, prev_, op_;
  std::vector<std::uint32_t> return_of_;  // of a call entry; 0 for return entries and sentinels
};

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The set of placed operations, with a hash kept up to date as operations come and go
// (Zobrist: the XOR of a random number per member).
class op_set {
 public:
  explicit op_set(std::size_t ops) : words_((ops + 63) / 64) {}

  void flip(std::size_t op) {
    words_[op / 64] ^= std::uint64_t{1} << (op % 64);
    hash_ ^= mix(op);
  }
  const std::vector<std::uint64_t>& words() const { return words_; }
  std::uint64_t hash() const { return hash_; }

 private:
  std::vector<std::uint64_t> words_;
  std::uint64_t hash_ = 0;
};

// Lowe's memo: the search states explored, each (the placed operations, a number standing for
// the rest of the state). The sets are stored back to back in one array, found by hash.
class memo {
 public:
  explicit memo(std::size_t words) : words_(words) {}

  bool contains(const op_set& placed, std::uint64_t rest) const {
    auto [from, to] = slots_.equal_range(hash_of(placed, rest));
    for (auto it = from; it != to; ++it) {
      std::size_t slot = it->second;
      if (rests_[slot] == rest &&
          std::equal(placed.words().begin(), placed.words().end(), sets_.begin() + slot * words_))
        return true;
    }
    return false;
  }

  // Remembers (placed, rest); false if it was there already.
  bool insert(const op_set& placed, std::uint64_t rest) {
    if (contains(placed, rest)) return false;
    slots_.emplace(hash_of(placed, rest), rests_.size());
    sets_.insert(sets_.end(), placed.words().begin(), placed.words().end());
    rests_.push_back(rest);
    return true;
  }

  std::size_t size() const { return rests_.size(); }

 private:
  static std::uint64_t hash_of(const op_set& placed, std::uint64_t rest) {
    return placed.hash() ^ mix(rest ^ 0x5bd1e995);
  }

  std::size_t words_;
  std::vector<std::uint64_t> sets_;
  std::vector<std::uint64_t> rests_;
  std::unordered_multimap<std::uint64_t, std::size_t> slots_;  // hash -> index in rests_
};

// The step the search takes, or nullopt where it does not place `op`. Any linearization can be
// brought to a normal form by moving operations of unknown outcome later, or to the end, where
// nothing observes them (they return at +infinity, and their results are unconstrained); the
// search keeps to that form, which spares it exploring where else they could go:
// - one is placed only where it changes the register (else it can go last);
// - a run of them starting at `chain_start` (nullopt: the last placed has a known outcome) is
//   followed by one of known outcome that would not fit without it: one that would is a read or
//   a conflict, which the run can follow instead, or a write or a successful cas, whose result
//   does not depend on the run, which can go last.
// Successful checks thus place only what was observed.
std::optional<value_id> search_step(const key_op& op, value_id state,
                                    std::optional<value_id> chain_start, const key_history& h) {
  auto after = step(op, state);
  if (!after) return std::nullopt;
  after = h.class_of[*after];
  if (op.pending() ? *after == state : chain_start && step(op, *chain_start)) return std::nullopt;
  return after;
}

struct search_result {
  verdict decision = verdict::linearizable;
  std::string why_gave_up;
  // The longest linearizable prefix found (the most operations of known outcome placed), as
  // positions in the key's operations.
  std::vector<std::uint32_t> deepest;
  std::size_t states = 0;
};

// A search state is the set of operations placed, the register's value, and, after operations
// of unknown outcome, the value before them (search_step() depends on it). The memo holds the
// first as a set and the others as a number.
std::uint64_t rest_of(value_id value, std::optional<value_id> chain_start) {
  return (std::uint64_t{value} << 32) + (chain_start ? std::uint64_t{*chain_start} + 1 : 0);
}

// The clobbers, kept out of the entry list. Those invoked by the time the next operation must
// be are all available from then on, so which one is spent does not matter: the search tries
// one per state, a cas that expects the register's value before a write (the write can be spent
// wherever the cas could, not the other way round), the last invoked of its kind.
class clobber_pool {
 public:
  explicit clobber_pool(const std::vector<key_op>& ops) : ops_(ops), used_(ops.size(), false) {
    for (std::uint32_t i = 0; i < ops.size(); ++i) {
      if (!ops[i].clobber) continue;
      (ops[i].kind == op_kind::write ? writes_ : cas_by_expected_[ops[i].expected]).push_back(i);
    }
    auto by_invocation = [&](std::uint32_t a, std::uint32_t b) {
      return ops[a].invoked < ops[b].invoked;
    };
    std::stable_sort(writes_.begin(), writes_.end(), by_invocation);
    for (auto& group : cas_by_expected_) {
      std::stable_sort(group.second.begin(), group.second.end(), by_invocation);
    }
  }

  // The clobber to try where the register holds `state` and the next operation must be invoked
  // by `deadline`.
  std::optional<std::uint32_t> pick(value_id state, time_point deadline) const {
    auto group = cas_by_expected_.find(state);
    if (group != cas_by_expected_.end()) {
      if (auto cas = last_unused(group->second, deadline)) return cas;
    }
    return last_unused(writes_, deadline);
  }

  void use(std::uint32_t op) { used_[op] = true; }
  void release(std::uint32_t op) { used_[op] = false; }

 private:
  std::optional<std::uint32_t> last_unused(const std::vector<std::uint32_t>& group,
                                           time_point deadline) const {
    auto end =
        std::upper_bound(group.begin(), group.end(), deadline,
                         [&](time_point t, std::uint32_t op) { return t < ops_[op].invoked; });
    for (auto it = end; it != group.begin();) {
      --it;
      if (!used_[*it]) return *it;
    }
    return std::nullopt;
  }

  const std::vector<key_op>& ops_;
  std::vector<bool> used_;
  std::vector<std::uint32_t> writes_;  // by invocation
  std::unordered_map<value_id, std::vector<std::uint32_t>> cas_by_expected_;
};

search_result search(const key_history& h, std::size_t max_states,
                     wall_clock::time_point deadline) {
  const std::vector<key_op>& ops = h.ops;
  const std::size_t must_place = ops.size() - h.pending;
  entry_list list(ops);
  clobber_pool clobbers(ops);
  op_set placed(ops.size());
  memo explored(placed.words().size());
  struct frame {
    std::uint32_t op;
    // Where the search goes on at this depth once it is back: the operation's call entry, or,
    // for a clobber, the return entry that ended the scan of the list.
    std::uint32_t entry;
    value_id before;  // the register's value before the operation
  };
  std::vector<frame> stack;
  value_id state = empty_register;
  std::size_t placed_known = 0;  // operations of known outcome placed
  std::size_t deepest_known = 0;
  search_result result;
  auto gave_up = [&](std::string why) {
    result.decision = verdict::gave_up;
    result.why_gave_up = std::move(why);
  };
  // The register's value before the run of operations of unknown outcome the stack ends with.
  auto chain_start = [&]() -> std::optional<value_id> {
    std::optional<value_id> start;
    for (auto f = stack.rbegin(); f != stack.rend() && ops[f->op].pending(); ++f) start = f->before;
    return start;
  };
  std::vector<std::uint32_t> clobbers_placed;
  // Whether (placed, value) failed already in effect: a state it cannot do better than failed,
  // the same without one of the clobbers placed (which could then still come later, or never)
  // and with no restriction on the next step. Such a state in the memo is no ancestor of this
  // one (the only candidate, its parent, would have reached it by a step that changed nothing).
  // Clobbers are the last candidates tried: the states without them tend to come first.
  auto dominated = [&](value_id value) {
    for (std::uint32_t q : clobbers_placed) {
      placed.flip(q);
      bool failed = explored.contains(placed, rest_of(value, std::nullopt));
      placed.flip(q);
      if (failed) return true;
    }
    return false;
  };
  // Places ops[i] if it fits and leads to a state not explored yet.
  auto place = [&](std::uint32_t i, std::uint32_t entry) {
    const key_op& op = ops[i];
    std::optional<value_id> start = chain_start();
    std::optional<value_id> after = search_step(op, state, start, h);
    if (!after) return false;
    placed.flip(i);
    if (op.clobber) clobbers_placed.push_back(i);
    std::optional<value_id> next_start;
    if (op.pending()) next_start = start ? *start : state;
    if (!explored.insert(placed, rest_of(*after, next_start)) || dominated(*after)) {
      placed.flip(i);
      if (op.clobber) clobbers_placed.pop_back();
      return false;
    }
    stack.push_back({i, entry, state});
    state = *after;
    if (op.clobber) {
      clobbers.use(i);
    } else {
      list.lift(entry);
    }
    if (!op.pending()) ++placed_known;
    if (placed_known > deepest_known) {
      deepest_known = placed_known;
      result.deepest.clear();
      for (const frame& f : stack) result.deepest.push_back(f.op);
    }
    return true;
  };

  // The candidates for the next step: the list's up to its first return entry, then a clobber.
  std::uint32_t entry = list.first();
  bool clobber_tried = false;
  for (std::size_t round = 0; placed_known < must_place; ++round) {
    if (round % 1024 == 0 && wall_clock::now() >= deadline) {
      gave_up("the time budget (check_limits::time_budget) ran out");
      break;
    }
    if (explored.size() > max_states) {
      gave_up("it explored check_limits::max_states = " + std::to_string(max_states) +
              " search states");
      break;
    }
    // While operations of known outcome are left, so are their return entries, all before
    // those of unknown outcomes and the tail: `entry` is no further than the first of them.
    if (list.is_call(entry)) {
      if (place(list.op(entry), entry)) {
        entry = list.first();
      } else {
        entry = list.next(entry);
      }
      continue;
    }
    // The return entry of an operation not placed yet: whatever is placed next must have been
    // invoked by the time it returned.
    if (!clobber_tried) {
      clobber_tried = true;
      auto clobber = clobbers.pick(state, ops[list.op(entry)].completed);
      if (clobber && place(*clobber, entry)) {
        clobber_tried = false;
        entry = list.first();
      }
      continue;
    }
    // Each candidate was tried: backtrack.
    if (stack.empty()) {
      result.decision = verdict::not_linearizable;
      break;
    }
    frame top = stack.back();
    stack.pop_back();
    const key_op& op = ops[top.op];
    placed.flip(top.op);
    if (!op.pending()) --placed_known;
    state = top.before;
    if (op.clobber) {
      clobbers.release(top.op);
      clobbers_placed.pop_back();
      entry = top.entry;  // the clobber was the last candidate here
      clobber_tried = true;
    } else {
      list.unlift(top.entry);
      entry = list.next(top.entry);
      clobber_tried = false;
    }
  }
  result.states = explored.size();
  return result;
}

// What went wrong with one key, for a CI log: where the deepest linearizable prefix found ends,
// and why nothing could follow it.
std::string explain(const history& ops, time_point origin, const key_history& h,
                    const search_result& r) {
  constexpr std::size_t prefix_shown = 8;
  constexpr std::size_t candidates_shown = 24;
  std::ostringstream out;
  out << "key " << quoted(h.key) << ": ";
  if (r.decision == verdict::not_linearizable) {
    out << "not linearizable";
  } else {
    out << "undecided: the search gave up when " << r.why_gave_up;
  }
  out << " (" << h.ops.size() << " operations, " << h.pending << " of unknown outcome";
  if (h.reads_ignored > 0) out << "; " << h.reads_ignored << " reads of unknown outcome ignored";
  out << ", " << r.states << " search states).\n";

  std::vector<bool> in_prefix(h.ops.size(), false);
  std::vector<value_id> value_after;
  value_id state = empty_register;
  for (std::uint32_t i : r.deepest) {
    in_prefix[i] = true;
    state = step(h.ops[i], state).value();  // the search placed it there
    value_after.push_back(state);
  }
  std::size_t known = 0;
  for (std::uint32_t i : r.deepest) known += !h.ops[i].pending();
  out << "  The longest linearizable prefix found places " << known << " of the "
      << h.ops.size() - h.pending << " operations of known outcome";
  std::size_t from = r.deepest.size() - std::min(r.deepest.size(), prefix_shown);
  if (from > 0) out << "; its last " << prefix_shown;
  out << (r.deepest.empty() ? ".\n" : ", with the register's value after each:\n");
  for (std::size_t k = from; k < r.deepest.size(); ++k) {
    out << "    " << describe(ops, h.ops[r.deepest[k]].index, origin) << "  => "
        << quoted(h.value[value_after[k]]) << "\n";
  }
  out << "  There the register holds " << quoted(h.value[state]) << ".\n";

  // The next operation must come before the first return of an operation not placed.
  const key_op* first_return = nullptr;
  for (std::size_t i = 0; i < h.ops.size(); ++i) {
    const key_op& op = h.ops[i];
    if (in_prefix[i] || op.pending()) continue;
    if (first_return == nullptr || op.completed < first_return->completed) first_return = &op;
  }
  if (first_return == nullptr) return out.str();  // cannot be: that prefix would be complete
  std::vector<const key_op*> candidates;
  for (std::size_t i = 0; i < h.ops.size(); ++i) {
    if (!in_prefix[i] && h.ops[i].invoked <= first_return->completed)
      candidates.push_back(&h.ops[i]);
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const key_op* a, const key_op* b) { return a->invoked < b->invoked; });
  out << "  What comes next must have been invoked by the time #" << first_return->index
      << " returned, at " << ms_since(origin, first_return->completed)
      << " ms; none of these leads on:\n";
  std::size_t shown = 0;
  std::size_t idle = 0;  // of unknown outcome, changing nothing anyone reads: only counted
  for (const key_op* op : candidates) {
    auto after = step(*op, state);
    if (op->pending() && (op->clobber || h.class_of[*after] == h.class_of[state])) {
      ++idle;
      continue;
    }
    if (++shown > candidates_shown) continue;
    std::string why;
    if (!after) {
      why = why_not(*op, state, h);
    } else if (r.decision == verdict::not_linearizable) {
      why = "it fits here, but every way on after it fails";
    } else {
      why = "it fits here, but no way on after it was found";
    }
    out << "    " << describe(ops, op->index, origin) << "\n      " << why << "\n";
  }
  if (shown > candidates_shown) out << "    ... and " << shown - candidates_shown << " more\n";
  if (idle > 0) {
    out << "    and " << idle
        << " of unknown outcome that would change nothing here, or nothing any operation reads "
           "or expects\n";
  }
  return out.str();
}

}  // namespace

check_result check(const history& ops, const check_limits& limits) {
  validate(ops);
  const wall_clock::time_point deadline = wall_clock::now() + limits.time_budget;
  const time_point origin = start_of(ops);
  std::map<std::string, std::vector<std::size_t>> by_key;  // ordered: a stable explanation
  for (std::size_t i = 0; i < ops.size(); ++i) by_key[ops[i].key].push_back(i);
  check_result result;
  for (const auto& [key, indices] : by_key) {
    key_history h = history_of_key(ops, key, indices);
    search_result r = search(h, limits.max_states, deadline);
    if (r.decision == verdict::linearizable) continue;
    // One key not linearizable settles it; one undecided leaves it undecided at best.
    if (result.decision != verdict::not_linearizable) result.decision = r.decision;
    result.explanation += explain(ops, origin, h, r);
  }
  return result;
}

std::string render(const history& ops) {
  const time_point origin = start_of(ops);
  std::vector<std::size_t> order(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return ops[a].invoked < ops[b].invoked; });
  std::string text = "# " + std::to_string(ops.size()) +
                     " operations, in ms since the first invocation; (t): the outcome is unknown, "
                     "the client gave up at t\n";
  for (std::size_t i : order) text += describe(ops, i, origin) + "\n";
  return text;
}

}  // namespace eventbase::test
