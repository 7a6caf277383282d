// Unit tests of replica_horizon: the replica's consistent sequence C, held back by the gaps
// compaction leaves in the delivered sequences until something proves every replacement of the
// skipped messages was applied (actors/replica_horizon.hpp).
#define CAF_SUITE horizon
#include "caf/test/unit_test.hpp"

#include "actors/replica_horizon.hpp"

using eventbase::actors::replica_horizon;

namespace {

// Delivers and applies `seq` of consumer `generation` with `pending` after it, as the stream
// actor does (the delivery first, then the commit).
void apply(replica_horizon& h, uint64_t seq, uint64_t pending, uint64_t generation = 1) {
  h.on_delivery(seq, pending, generation);
  h.on_applied(seq);
}

}  // namespace

CAF_TEST(an empty replica is consistent at zero and wants nothing) {
  replica_horizon h(0);
  CAF_CHECK_EQUAL(h.consistent(), 0u);
  CAF_CHECK_EQUAL(h.applied(), 0u);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK(!h.wants_stream_last());
}

CAF_TEST(contiguous deliveries advance the consistent sequence with the applied one) {
  replica_horizon h(0);
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    apply(h, seq, 100 - seq);  // the consumer never runs dry: no gap needs it
    CAF_CHECK_EQUAL(h.consistent(), seq);
    CAF_CHECK_EQUAL(h.applied(), seq);
  }
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK(!h.wants_stream_last());
  // Delivered is not applied: C follows the commits.
  h.on_delivery(6, 10, 1);
  h.on_delivery(7, 9, 1);
  CAF_CHECK_EQUAL(h.consistent(), 5u);
  h.on_applied(7);
  CAF_CHECK_EQUAL(h.consistent(), 7u);
}

CAF_TEST(a gap holds the consistent sequence at the position before it) {
  replica_horizon h(0);
  apply(h, 1, 10);
  apply(h, 2, 9);
  apply(h, 5, 8);  // 3 and 4 were removed before the consumer reached them
  CAF_CHECK_EQUAL(h.applied(), 5u);
  CAF_CHECK_EQUAL(h.consistent(), 2u);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  CAF_CHECK(h.wants_stream_last());
  apply(h, 6, 7);
  apply(h, 7, 6);
  CAF_CHECK_EQUAL(h.applied(), 7u);
  CAF_CHECK_EQUAL(h.consistent(), 2u);
  // Delivered before applied: C is never above the applied sequence.
  replica_horizon early(0);
  early.on_delivery(1, 5, 1);
  early.on_delivery(2, 4, 1);
  early.on_delivery(4, 3, 1);  // the gap is at 2, nothing applied yet
  CAF_CHECK_EQUAL(early.consistent(), 0u);
  early.on_applied(2);
  CAF_CHECK_EQUAL(early.consistent(), 2u);
  early.on_applied(4);
  CAF_CHECK_EQUAL(early.consistent(), 2u);
}

CAF_TEST(nothing pending from the same consumer resolves its gap) {
  replica_horizon h(0);
  apply(h, 1, 10, 3);
  apply(h, 4, 5, 3);
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  apply(h, 5, 0, 3);  // the consumer's server holds nothing beyond what it delivered
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 5u);
  CAF_CHECK(!h.wants_stream_last());
  // The delivery that opens the gap may itself have nothing pending.
  apply(h, 9, 0, 3);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 9u);
}

CAF_TEST(an idle heartbeat from the same consumer resolves its gap) {
  replica_horizon h(0);
  apply(h, 1, 10, 2);
  apply(h, 3, 4, 2);
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  h.on_idle(2);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 3u);
}

CAF_TEST(nothing pending or idle from another consumer does not resolve a gap) {
  replica_horizon h(0);
  apply(h, 1, 10, 1);
  apply(h, 3, 4, 1);  // consumer 1 skipped 2
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  // Consumer 2, recreated on another server, may lag the first one: its word is not enough.
  apply(h, 4, 0, 2);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  h.on_idle(2);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  h.on_idle(0);  // no consumer's generation
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  // The consumer that skipped says it is dry, late as it is: resolved.
  h.on_idle(1);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 4u);
}

CAF_TEST(a stream last sequence asked before the gap was seen does not bound it) {
  replica_horizon h(0);
  apply(h, 1, 10);
  uint64_t before = h.ask();
  apply(h, 3, 10);  // the gap at 1 is seen after the question went out
  h.on_stream_last(before, 3);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  CAF_CHECK(h.wants_stream_last());
  apply(h, 4, 10);
  apply(h, 50, 10);
  h.on_stream_last(before, 3);  // however far the replica gets
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  CAF_CHECK(h.wants_stream_last());
}

CAF_TEST(a stream last sequence asked after the gap bounds it until applied reaches it) {
  replica_horizon h(0);
  apply(h, 1, 10);
  apply(h, 3, 10);
  uint64_t after = h.ask();
  CAF_CHECK(h.wants_stream_last());  // asking is not answering
  h.on_stream_last(after, 6);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);  // bounded, not resolved: applied is 3
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  CAF_CHECK(!h.wants_stream_last());  // one asked now would not help
  apply(h, 4, 10);
  apply(h, 5, 10);
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  apply(h, 6, 10);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 6u);
}

CAF_TEST(an answer at or below the applied sequence resolves a gap at once) {
  replica_horizon h(0);
  apply(h, 2, 10);  // 1 skipped
  apply(h, 3, 10);
  uint64_t t = h.ask();
  h.on_stream_last(t, 3);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 3u);
}

CAF_TEST(the lowest bound of the answers asked after a gap counts whatever their order) {
  replica_horizon h(0);
  apply(h, 1, 10);
  apply(h, 4, 10);  // gap at 1
  uint64_t first = h.ask();
  uint64_t second = h.ask();
  CAF_CHECK_LESS(first, second);
  h.on_stream_last(second, 9);  // answers may come in any order
  h.on_stream_last(first, 7);
  for (uint64_t seq = 5; seq <= 7; ++seq) apply(h, seq, 10);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 7u);
  // A later, higher answer does not raise a bound already set.
  apply(h, 9, 10);  // gap at 7
  uint64_t low = h.ask();
  uint64_t high = h.ask();
  h.on_stream_last(low, 10);
  h.on_stream_last(high, 20);
  apply(h, 10, 10);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 10u);
}

CAF_TEST(with several gaps the consistent sequence is the oldest open one) {
  replica_horizon h(0);
  apply(h, 1, 20, 1);
  apply(h, 3, 20, 1);  // gap A at 1, consumer 1
  uint64_t between = h.ask();
  apply(h, 4, 20, 2);
  apply(h, 6, 20, 2);  // gap B at 4, consumer 2
  apply(h, 7, 20, 2);
  CAF_CHECK_EQUAL(h.open_gaps(), 2u);
  CAF_CHECK_EQUAL(h.consistent(), 1u);
  // An answer to a question asked between the two bounds only the first.
  h.on_stream_last(between, 7);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);  // A: bound 7, applied 7
  CAF_CHECK_EQUAL(h.consistent(), 4u);
  CAF_CHECK(h.wants_stream_last());  // B has no bound
  h.on_idle(2);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 7u);
}

CAF_TEST(a newer gap resolved first leaves the older one holding) {
  replica_horizon h(0);
  apply(h, 2, 20, 1);  // gap at 0, consumer 1
  apply(h, 3, 20, 2);
  apply(h, 5, 20, 2);  // gap at 3, consumer 2
  CAF_CHECK_EQUAL(h.consistent(), 0u);
  h.on_idle(2);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  CAF_CHECK_EQUAL(h.consistent(), 0u);
  h.on_idle(1);
  CAF_CHECK_EQUAL(h.consistent(), 5u);
  // And the older one resolved first: C moves to the newer one's position.
  apply(h, 7, 20, 3);  // gap at 5
  apply(h, 8, 20, 4);
  apply(h, 10, 20, 4);  // gap at 8
  h.on_idle(3);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  CAF_CHECK_EQUAL(h.consistent(), 8u);
  h.on_idle(4);
  CAF_CHECK_EQUAL(h.consistent(), 10u);
}

CAF_TEST(what an earlier run applied needs a later stream last sequence) {
  replica_horizon h(10);
  CAF_CHECK_EQUAL(h.applied(), 10u);
  CAF_CHECK_EQUAL(h.consistent(), 10u);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  CAF_CHECK(h.wants_stream_last());
  apply(h, 11, 0, 1);
  apply(h, 12, 0, 1);  // a consumer's word covers only what it skipped itself
  h.on_idle(1);
  CAF_CHECK_EQUAL(h.applied(), 12u);
  CAF_CHECK_EQUAL(h.consistent(), 10u);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  uint64_t t = h.ask();
  h.on_stream_last(t, 13);
  CAF_CHECK_EQUAL(h.consistent(), 10u);
  apply(h, 13, 0, 1);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 13u);
}

CAF_TEST(a reset forgets everything and only a question asked after it bounds its state) {
  replica_horizon h(0);
  apply(h, 1, 10);
  apply(h, 4, 10);  // a gap at 1
  uint64_t before = h.ask();
  h.reset(20);                         // opened anew at 20
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);  // the startup gap only
  CAF_CHECK_EQUAL(h.applied(), 20u);
  CAF_CHECK_EQUAL(h.consistent(), 20u);
  h.on_stream_last(before, 20);  // asked before the reset
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  apply(h, 21, 10);
  CAF_CHECK_EQUAL(h.consistent(), 20u);
  uint64_t after = h.ask();
  h.on_stream_last(after, 21);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 21u);
}

CAF_TEST(a reset to zero has no startup gap) {
  replica_horizon h(7);
  apply(h, 9, 5);  // another gap, at 7
  CAF_CHECK_EQUAL(h.open_gaps(), 2u);
  h.reset(0);  // cleared to be rebuilt
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.applied(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 0u);
  CAF_CHECK(!h.wants_stream_last());
  // Delivered from the start again, the earlier sequences are not duplicates.
  apply(h, 1, 5);
  apply(h, 2, 5);
  CAF_CHECK_EQUAL(h.consistent(), 2u);
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
}

CAF_TEST(wants a stream last sequence exactly while a gap lacks a bound) {
  replica_horizon h(0);
  CAF_CHECK(!h.wants_stream_last());
  apply(h, 1, 10);
  CAF_CHECK(!h.wants_stream_last());
  apply(h, 3, 10);  // gap at 1
  CAF_CHECK(h.wants_stream_last());
  uint64_t t = h.ask();
  CAF_CHECK(h.wants_stream_last());
  h.on_stream_last(t, 8);
  CAF_CHECK(!h.wants_stream_last());  // bounded (at 8), still open
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  apply(h, 5, 10);  // a second gap, at 3: unbounded
  CAF_CHECK(h.wants_stream_last());
  h.on_stream_last(h.ask(), 9);
  CAF_CHECK(!h.wants_stream_last());
  CAF_CHECK_EQUAL(h.open_gaps(), 2u);
  for (uint64_t seq = 6; seq <= 8; ++seq) apply(h, seq, 10);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);  // the first bound is reached
  CAF_CHECK_EQUAL(h.consistent(), 3u);
  apply(h, 9, 10);  // and the second
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK(!h.wants_stream_last());
  CAF_CHECK_EQUAL(h.consistent(), 9u);
}

CAF_TEST(deliveries at or below the last delivered sequence are ignored) {
  replica_horizon h(0);
  apply(h, 1, 10);
  apply(h, 2, 10);
  apply(h, 3, 10);
  h.on_delivery(3, 10, 1);  // a duplicate
  h.on_delivery(2, 10, 1);  // an old one
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  CAF_CHECK_EQUAL(h.consistent(), 3u);
  apply(h, 4, 10);  // still contiguous
  CAF_CHECK_EQUAL(h.open_gaps(), 0u);
  apply(h, 6, 10);  // gap at 4
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  h.on_delivery(6, 0, 1);  // a duplicate says nothing, not even that nothing is pending
  h.on_delivery(5, 0, 1);
  CAF_CHECK_EQUAL(h.open_gaps(), 1u);
  CAF_CHECK_EQUAL(h.consistent(), 4u);
  // What was applied counts as delivered: a replica at 8 expects 9 next.
  replica_horizon later(0);
  later.on_applied(8);
  later.on_delivery(9, 10, 1);
  CAF_CHECK_EQUAL(later.open_gaps(), 0u);
  later.on_applied(9);
  CAF_CHECK_EQUAL(later.consistent(), 9u);
  // The applied sequence never goes back.
  later.on_applied(4);
  CAF_CHECK_EQUAL(later.applied(), 9u);
  CAF_CHECK_EQUAL(later.consistent(), 9u);
}
