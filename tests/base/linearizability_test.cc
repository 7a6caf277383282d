// The linearizability checker of the cluster test (tests/support/linearizability.hpp): exact
// verdicts on small histories built by hand to be linearizable or not, and what the
// explanation names.
#define CAF_SUITE linearizability
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <optional>
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
