// The linearizability checker of the cluster test (tests/support/linearizability.hpp): exact
// verdicts on small histories built by hand to be linearizable or not, on large random ones
// that are linearizable by construction and on copies corrupted so that they provably are not,
// and what the explanation names.
#define CAF_SUITE linearizability
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/linearizability.hpp"

using namespace eventbase::test;

namespace {

// Operations on key "k" by process `p` from `from` to `to` ms.

operation::time_point at_ms(int ms) {
  return operation::time_point(std::chrono::milliseconds(ms));
}

operation make_op(int p, int from, int to, op_kind kind) {
  operation op;
  op.process = p;
  op.key = "k";
  op.kind = kind;
  op.invoked = at_ms(from);
  op.completed = at_ms(to);
  return op;
}

operation read_op(int p, int from, int to, std::optional<std::string> returned) {
  operation op = make_op(p, from, to, op_kind::read);
  op.returned = std::move(returned);
  return op;
}

operation write_op(int p, int from, int to, std::string value) {
  operation op = make_op(p, from, to, op_kind::write);
  op.written = std::move(value);
  return op;
}

operation cas_op(int p, int from, int to, std::optional<std::string> expected, std::string value,
                 op_outcome outcome = op_outcome::ok) {
  operation op = make_op(p, from, to, op_kind::cas);
  op.expected = std::move(expected);
  op.written = std::move(value);
  op.outcome = outcome;
  return op;
}

operation unknown(operation op) {
  op.outcome = op_outcome::unknown;
  return op;
}

operation on(std::string key, operation op) {
  op.key = std::move(key);
  return op;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Whether check() refuses `h` as breaking its contract.
bool refused(const history& h) {
  try {
    check(h);
  } catch (const std::invalid_argument&) {
    return true;
  }
  return false;
}

constexpr auto conflict = op_outcome::conflict;

}  // namespace

CAF_TEST(an empty history is linearizable) {
  CAF_CHECK(check({}).linearizable());
  CAF_CHECK_EQUAL(check({}).explanation, "");
}

CAF_TEST(a sequential history is linearizable) {
  history h = {read_op(1, 0, 1, std::nullopt),
               write_op(1, 2, 3, "a"),
               read_op(2, 4, 5, "a"),
               cas_op(2, 6, 7, "a", "b"),
               cas_op(1, 8, 9, "a", "c", conflict),
               read_op(1, 10, 11, "b"),
               cas_op(1, 12, 13, std::nullopt, "d", conflict),
               write_op(2, 14, 15, "e"),
               read_op(1, 16, 17, "e")};
  auto r = check(h);
  CAF_CHECK(r.decision == verdict::linearizable);
  CAF_CHECK_EQUAL(r.explanation, "");
}

CAF_TEST(a read concurrent with a write sees the old or the new value) {
  history base = {write_op(1, 0, 1, "a"), write_op(1, 2, 10, "b")};
  for (const char* seen : {"a", "b"}) {
    history h = base;
    h.push_back(read_op(2, 3, 4, std::string(seen)));
    CAF_CHECK(check(h).linearizable());
  }
  // Both, in the order the write allows.
  history h = base;
  h.push_back(read_op(2, 3, 4, std::string("a")));
  h.push_back(read_op(2, 5, 6, std::string("b")));
  CAF_CHECK(check(h).linearizable());
}

CAF_TEST(reads of an empty register before and during the first write) {
  CAF_CHECK(check({read_op(1, 0, 1, std::nullopt), read_op(2, 0, 1, std::nullopt)}).linearizable());
  CAF_CHECK(check({write_op(1, 0, 10, "a"), read_op(2, 1, 2, std::nullopt), read_op(2, 3, 4, "a")})
                .linearizable());
  CAF_CHECK(check({cas_op(1, 0, 1, std::nullopt, "a"), read_op(2, 2, 3, "a")}).linearizable());
}

CAF_TEST(of two concurrent cas with the same expected value one wins) {
  for (bool first_wins : {true, false}) {
    history h = {write_op(1, 0, 1, "a"),
                 cas_op(2, 2, 5, "a", "b", first_wins ? op_outcome::ok : conflict),
                 cas_op(3, 3, 6, "a", "c", first_wins ? conflict : op_outcome::ok),
                 read_op(1, 7, 8, std::string(first_wins ? "b" : "c"))};
    CAF_CHECK(check(h).linearizable());
  }
}

CAF_TEST(a cas conflicts when another write got in first) {
  // p2 read "a" and asks for "a" -> "c" while p3 writes "b".
  history h = {write_op(1, 0, 1, "a"), read_op(2, 2, 3, "a"), write_op(3, 4, 6, "b"),
               cas_op(2, 5, 7, "a", "c", conflict), read_op(2, 8, 9, "b")};
  CAF_CHECK(check(h).linearizable());
  // The same with a write whose outcome is unknown: it may have got in.
  h[2] = unknown(h[2]);
  h.pop_back();
  CAF_CHECK(check(h).linearizable());
}

CAF_TEST(a value written by an operation of unknown outcome may be read) {
  // The writer gave up at 1 ms; the write took effect after that.
  history h = {unknown(write_op(1, 0, 1, "a")), read_op(2, 2, 3, std::nullopt),
               read_op(2, 4, 5, "a"), read_op(3, 6, 7, "a")};
  CAF_CHECK(check(h).linearizable());
  // Also through an unknown cas.
  history chain = {write_op(1, 0, 1, "a"), unknown(cas_op(2, 2, 3, "a", "b")),
                   read_op(3, 10, 11, "b")};
  CAF_CHECK(check(chain).linearizable());
}

CAF_TEST(an operation of unknown outcome may never take effect) {
  history h = {write_op(1, 0, 1, "a"), unknown(write_op(2, 2, 3, "b")),
               read_op(1, 4, 5, "a"),  unknown(cas_op(3, 6, 7, "a", "c")),
               read_op(1, 8, 9, "a"),  unknown(read_op(3, 10, 11, std::string("never written"))),
               read_op(1, 12, 13, "a")};
  CAF_CHECK(check(h).linearizable());
}

CAF_TEST(an unknown write nobody reads may explain a conflict but not before it began) {
  history h = {write_op(1, 0, 1, "a"), unknown(write_op(2, 2, 3, "x")),
               cas_op(1, 4, 5, "a", "c", conflict), write_op(1, 6, 7, "d"), read_op(1, 8, 9, "d")};
  CAF_CHECK(check(h).linearizable());
  h[1].invoked = at_ms(6);  // after the conflict returned
  CAF_CHECK(check(h).decision == verdict::not_linearizable);
}

CAF_TEST(unknown operations nobody reads are spent where only they fit) {
  // Two conflicts need the register to have lost its value: one while it holds "a", which the
  // unknown cas or the unknown write can explain, then one while it holds "b", which only the
  // write can.
  history h = {unknown(cas_op(1, 0, 1, "a", "x")),
               unknown(write_op(2, 0, 1, "y")),
               write_op(3, 2, 3, "a"),
               cas_op(3, 4, 5, "a", "c", conflict),
               write_op(3, 6, 7, "b"),
               cas_op(3, 8, 9, "b", "d", conflict)};
  CAF_CHECK(check(h).linearizable());
  // Without the write, the second conflict is unexplained.
  h.erase(h.begin() + 1);
  CAF_CHECK(check(h).decision == verdict::not_linearizable);
}

CAF_TEST(a read of a value never written is not linearizable) {
  history h = {write_op(1, 0, 1, "a"), read_op(2, 2, 3, "ghost")};
  auto r = check(h);
  CAF_CHECK(r.decision == verdict::not_linearizable);
  CAF_CHECK(contains(r.explanation, "it returned \"ghost\" but the register held \"a\""));
}

CAF_TEST(a stale read is not linearizable) {
  history h = {write_op(1, 0, 1, "v1"), write_op(1, 2, 3, "v2"), read_op(2, 4, 5, "v1")};
  auto r = check(h);
  CAF_CHECK(r.decision == verdict::not_linearizable);
  CAF_CHECK(contains(r.explanation, "key \"k\": not linearizable (3 operations, 0 of unknown"));
  CAF_CHECK(contains(r.explanation, "places 2 of the 3 operations of known outcome"));
  CAF_CHECK(contains(r.explanation,
                     "     2.000 ..       3.000 ms  #1 p1 \"k\" write(\"v2\") -> ok  => "
                     "\"v2\""));
  CAF_CHECK(contains(r.explanation,
                     "#2 p2 \"k\" read() -> \"v1\"\n      it returned \"v1\" but "
                     "the register held \"v2\""));
}

CAF_TEST(two successful cas with the same expected value are not linearizable) {
  history h = {write_op(1, 0, 1, "a"), cas_op(2, 2, 5, "a", "b"), cas_op(3, 3, 6, "a", "c")};
  CAF_CHECK(check(h).decision == verdict::not_linearizable);
  // Nor when one of them has an unknown outcome, but a read shows it took effect.
  history seen = {write_op(1, 0, 1, "a"), cas_op(2, 2, 5, "a", "b"),
                  unknown(cas_op(3, 3, 4, "a", "c")), read_op(1, 6, 7, "b"), read_op(1, 8, 9, "c")};
  CAF_CHECK(check(seen).decision == verdict::not_linearizable);
}

CAF_TEST(a conflict while the register holds the expected value is not linearizable) {
  history h = {write_op(1, 0, 1, "a"), cas_op(2, 2, 3, "a", "b", conflict), read_op(1, 4, 5, "a")};
  auto r = check(h);
  CAF_CHECK(r.decision == verdict::not_linearizable);
  CAF_CHECK(
      contains(r.explanation, "it reported a conflict, but the register held the expected \"a\""));
  CAF_CHECK(check({cas_op(1, 0, 1, std::nullopt, "a", conflict)}).decision ==
            verdict::not_linearizable);
}

CAF_TEST(a read of a value whose write began after the read ended is not linearizable) {
  CAF_CHECK(check({read_op(1, 0, 1, "a"), write_op(2, 2, 3, "a")}).decision ==
            verdict::not_linearizable);
  // Also when the write's outcome is unknown: it may take effect late, not early.
  CAF_CHECK(check({read_op(1, 0, 1, "a"), unknown(write_op(2, 2, 3, "a"))}).decision ==
            verdict::not_linearizable);
  // Touching at an instant is concurrent.
  CAF_CHECK(check({read_op(1, 0, 2, "a"), write_op(2, 2, 3, "a")}).linearizable());
}

CAF_TEST(a value does not come back once a later one was read) {
  // "v1" completed before the first read, which saw "v2": "v2" was written after "v1" and stays.
  history h = {write_op(1, 0, 5, "v1"), write_op(2, 3, 20, "v2"), read_op(3, 6, 7, "v2"),
               read_op(3, 8, 9, "v1")};
  CAF_CHECK(check(h).decision == verdict::not_linearizable);
  // Without the first read, "v2" may be written after the second one.
  h.erase(h.begin() + 2);
  CAF_CHECK(check(h).linearizable());
}

CAF_TEST(keys are checked apart and the explanation names the key that failed) {
  history h = {on("k1", write_op(1, 0, 1, "a")), on("k2", write_op(2, 0, 1, "b")),
               on("k1", read_op(1, 2, 3, "a")),  on("k2", write_op(2, 2, 3, "c")),
               on("k2", read_op(3, 4, 5, "c")),  on("k1", cas_op(3, 6, 7, "a", "d"))};
  CAF_CHECK(check(h).linearizable());
  // A value of another key is never written on this one.
  history crossed = h;
  crossed.push_back(on("k1", read_op(1, 8, 9, "c")));
  auto r = check(crossed);
  CAF_CHECK(r.decision == verdict::not_linearizable);
  CAF_CHECK(contains(r.explanation, "key \"k1\": not linearizable"));
  CAF_CHECK(!contains(r.explanation, "key \"k2\""));
  // A stale read on k2 instead.
  history stale = h;
  stale.push_back(on("k2", read_op(1, 8, 9, "b")));
  r = check(stale);
  CAF_CHECK(r.decision == verdict::not_linearizable);
  CAF_CHECK(contains(r.explanation, "key \"k2\": not linearizable"));
  CAF_CHECK(!contains(r.explanation, "key \"k1\""));
}

CAF_TEST(a history that breaks the contract is refused) {
  CAF_CHECK(refused({write_op(1, 0, 1, "a"), write_op(2, 2, 3, "a")}));
  operation conflicting_read = read_op(1, 0, 1, std::nullopt);
  conflicting_read.outcome = conflict;
  CAF_CHECK(refused({conflicting_read}));
  CAF_CHECK(refused({write_op(1, 5, 4, "a")}));
  // An unknown outcome's completion is not checked: only printed.
  CAF_CHECK(check({unknown(write_op(1, 5, 4, "a"))}).linearizable());
}

CAF_TEST(render prints one operation per line in order of invocation) {
  history h = {read_op(2, 3, 4, "b"), write_op(1, 1, 2, "a"),
               unknown(cas_op(3, 2, 6, std::nullopt, "b"))};
  CAF_CHECK_EQUAL(render(h),
                  "# 3 operations, in ms since the first invocation; (t): the outcome is unknown, "
                  "the client gave up at t\n"
                  "     0.000 ..       1.000 ms  #1 p1 \"k\" write(\"a\") -> ok\n"
                  "     1.000 ..     (5.000) ms  #2 p3 \"k\" cas(empty -> \"b\") -> unknown\n"
                  "     2.000 ..       3.000 ms  #0 p2 \"k\" read() -> \"b\"\n");
}

// ---- Random histories

namespace {

// A random history of `count` operations by `processes` clients on key "k", linearizable by
// construction: each operation takes effect on a simulated register at a random instant between
// its invocation and its completion. An operation of unknown outcome takes effect or not.
history random_history(std::mt19937& rng, int processes, int count, double unknown_share) {
  struct client {
    bool busy = false;
    bool applied = false;       // the operation in flight took effect
    bool takes_effect = false;  // it will (always, unless its outcome is unknown)
    std::size_t op = 0;
  };
  std::vector<client> clients(static_cast<std::size_t>(processes));
  std::optional<std::string> reg;
  std::vector<std::optional<std::string>> values = {std::nullopt};  // every value so far
  history h;
  std::int64_t now_us = 0;
  int started = 0;
  int busy = 0;
  auto chance = [&](double p) { return std::uniform_real_distribution<>(0, 1)(rng) < p; };
  while (started < count || busy > 0) {
    now_us += std::uniform_int_distribution<>(1, 1000)(rng);
    auto now = operation::time_point(std::chrono::microseconds(now_us));
    auto p = std::uniform_int_distribution<std::size_t>(0, clients.size() - 1)(rng);
    client& c = clients[p];
    if (!c.busy) {
      if (started == count) continue;
      operation op;
      op.process = static_cast<int>(p) + 1;
      op.key = "k";
      op.invoked = now;
      int kind = std::uniform_int_distribution<>(0, 9)(rng);
      op.kind = kind < 4 ? op_kind::read : kind < 6 ? op_kind::write : op_kind::cas;
      if (op.kind != op_kind::read) op.written = "v" + std::to_string(started);
      // Mostly what the register holds now (the client read it), else any earlier value.
      op.expected =
          chance(0.7)
              ? reg
              : values[std::uniform_int_distribution<std::size_t>(0, values.size() - 1)(rng)];
      if (op.kind != op_kind::cas) op.expected.reset();
      op.outcome = chance(unknown_share) ? op_outcome::unknown : op_outcome::ok;
      c = {true, false, op.outcome == op_outcome::ok || chance(0.5), h.size()};
      h.push_back(op);
      ++started;
      ++busy;
    } else if (!c.applied) {
      operation& op = h[c.op];
      c.applied = true;
      if (!c.takes_effect) continue;
      if (op.kind == op_kind::read) {
        op.returned = reg;
      } else if (op.kind == op_kind::write || reg == op.expected) {
        reg = op.written;
        values.push_back(reg);
      } else if (op.outcome == op_outcome::ok) {
        op.outcome = op_outcome::conflict;
      }
    } else {
      h[c.op].completed = now;
      c.busy = false;
      --busy;
    }
  }
  return h;
}

bool puts_value(const operation& op) {
  return op.outcome == op_outcome::ok && op.kind != op_kind::read;
}

// Whether the register provably no longer holds `value` (nullopt: empty) when `target` is
// invoked: after the operation that put it completed, another one that took effect put
// something else and completed before `target` was invoked. No value is put twice.
bool provably_stale(const history& h, const std::optional<std::string>& value,
                    const operation& target) {
  const operation* writer = nullptr;
  for (const operation& op : h) {
    if (value && puts_value(op) && op.written == *value) writer = &op;
  }
  if (value && writer == nullptr) return false;
  for (const operation& later : h) {
    if (puts_value(later) && later.written != value && later.completed < target.invoked &&
        (writer == nullptr || writer->completed < later.invoked))
      return true;
  }
  return false;
}

}  // namespace

CAF_TEST(random linearizable histories pass and corrupted copies fail) {
  for (unsigned seed = 1; seed <= 6; ++seed) {
    std::mt19937 rng(seed);
    history h = random_history(rng, 4, 500, 0.05);
    auto start = std::chrono::steady_clock::now();
    auto r = check(h);
    CAF_CHECK(r.linearizable());
    if (!r.linearizable()) CAF_MESSAGE("seed " << seed << ":\n" << r.explanation << render(h));
    // A read in the second half returns a stale value instead.
    history stale_read = h;
    bool corrupted = false;
    for (std::size_t i = h.size() / 2; i < h.size() && !corrupted; ++i) {
      operation& op = stale_read[i];
      if (op.kind != op_kind::read || op.outcome != op_outcome::ok) continue;
      for (const operation& writer : h) {
        if (puts_value(writer) && provably_stale(h, writer.written, op)) {
          op.returned = writer.written;
          corrupted = true;
          break;
        }
      }
    }
    CAF_REQUIRE(corrupted);
    CAF_CHECK(check(stale_read).decision == verdict::not_linearizable);
    // A cas that conflicted on a stale expected value succeeds instead.
    history stale_cas = h;
    corrupted = false;
    for (std::size_t i = h.size() / 2; i < h.size() && !corrupted; ++i) {
      operation& op = stale_cas[i];
      if (op.kind != op_kind::cas || op.outcome != op_outcome::conflict) continue;
      if (provably_stale(h, op.expected, op)) {
        op.outcome = op_outcome::ok;
        corrupted = true;
      }
    }
    CAF_REQUIRE(corrupted);
    CAF_CHECK(check(stale_cas).decision == verdict::not_linearizable);
    CAF_MESSAGE("seed " << seed << ": three checks of 500 operations in "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - start)
                               .count()
                        << " ms");
  }
}

CAF_TEST(the search gives up at its limits with a clear message) {
  std::mt19937 rng(7);
  history h = random_history(rng, 4, 300, 0.05);
  check_limits tight;
  tight.max_states = 10;
  auto r = check(h, tight);
  CAF_CHECK(r.decision == verdict::gave_up);
  CAF_CHECK(contains(r.explanation,
                     "key \"k\": undecided: the search gave up when it explored "
                     "check_limits::max_states = 10 search states"));
  check_limits no_time;
  no_time.time_budget = std::chrono::milliseconds(0);
  r = check(h, no_time);
  CAF_CHECK(r.decision == verdict::gave_up);
  CAF_CHECK(contains(r.explanation, "the time budget (check_limits::time_budget) ran out"));
}

namespace {

// The definition itself, by exhaustive search (small histories only): an order of the operations
// of known outcome and some of unknown outcome that respects real time and in which each one's
// result is the register's. Its own model, on purpose.
bool linearizable_by_brute_force(const history& h) {
  std::vector<bool> placed(h.size(), false);
  std::size_t known = 0;
  for (const operation& op : h) known += op.outcome != op_outcome::unknown;
  std::function<bool(const std::optional<std::string>&, std::size_t)> extend =
      [&](const std::optional<std::string>& reg, std::size_t placed_known) {
        if (placed_known == known) return true;
        for (std::size_t i = 0; i < h.size(); ++i) {
          const operation& op = h[i];
          bool sure = op.outcome != op_outcome::unknown;
          if (placed[i] || (!sure && op.kind == op_kind::read)) continue;
          bool after_a_return = false;  // an operation not placed returned before op began
          for (std::size_t j = 0; j < h.size(); ++j) {
            after_a_return |=
                !placed[j] && h[j].outcome != op_outcome::unknown && h[j].completed < op.invoked;
          }
          if (after_a_return) continue;
          std::optional<std::string> next = reg;
          if (op.kind == op_kind::read) {
            if (op.returned != reg) continue;
          } else if (op.kind == op_kind::write) {
            next = op.written;
          } else if (op.outcome == op_outcome::conflict) {
            if (reg == op.expected) continue;
          } else if (reg == op.expected) {
            next = op.written;
          } else if (sure) {
            continue;
          }
          placed[i] = true;
          if (extend(next, placed_known + sure)) return true;
          placed[i] = false;
        }
        return false;
      };
  return extend(std::nullopt, 0);
}

// A small history of anything at all: overlapping operations by three clients, reads and cas
// naming values that may or may not be written, any outcomes.
history arbitrary_history(std::mt19937& rng, int count) {
  auto pick = [&](int n) { return std::uniform_int_distribution<>(0, n - 1)(rng); };
  auto some_value = [&]() -> std::optional<std::string> {
    int v = pick(count + 1);
    if (v == count) return std::nullopt;
    return "w" + std::to_string(v);
  };
  history h;
  for (int i = 0; i < count; ++i) {
    int from = pick(20);
    int to = from + pick(8);
    int kind = pick(3);
    int outcome = pick(6);  // mostly ok
    if (kind == 0) {
      h.push_back(read_op(1 + pick(3), from, to, some_value()));
    } else if (kind == 1) {
      h.push_back(write_op(1 + pick(3), from, to, "w" + std::to_string(i)));
    } else {
      h.push_back(cas_op(1 + pick(3), from, to, some_value(), "w" + std::to_string(i),
                         outcome < 2 ? op_outcome::conflict : op_outcome::ok));
    }
    if (outcome == 5) h.back() = unknown(h.back());
  }
  return h;
}

}  // namespace

CAF_TEST(verdicts agree with an exhaustive search on small arbitrary histories) {
  std::mt19937 rng(11);
  int linearizable = 0;
  int not_linearizable = 0;
  int disagreements = 0;
  for (int round = 0; round < 4000; ++round) {
    history h = arbitrary_history(rng, 2 + round % 6);
    bool expected = linearizable_by_brute_force(h);
    auto r = check(h);
    (expected ? linearizable : not_linearizable)++;
    if (r.linearizable() != expected && ++disagreements <= 3)
      CAF_MESSAGE("exhaustive search says " << expected << ", check says:\n"
                                            << r.explanation << render(h));
  }
  CAF_CHECK_EQUAL(disagreements, 0);
  // Both verdicts are well represented, so the agreement means something.
  CAF_MESSAGE(linearizable << " linearizable, " << not_linearizable << " not");
  CAF_CHECK_GREATER(linearizable, 800);
  CAF_CHECK_GREATER(not_linearizable, 800);
}
