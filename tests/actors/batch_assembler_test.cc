// batch_assembler (actors/batch_assembler.hpp): a replica applies an atomic batch only once its
// last event has arrived, whatever the pull requests cut it into.
#define CAF_SUITE batch_assembler
#include "caf/test/unit_test.hpp"

#include "actors/batch_assembler.hpp"

using namespace eventbase;
using namespace eventbase::actors;

namespace {

inbound event(uint64_t seq, uint64_t pending, std::string batch = {}, bool commit = false) {
  inbound in;
  in.what = inbound::kind::event;
  in.stream_seq = seq;
  in.pending = pending;
  in.batch_id = std::move(batch);
  in.batch_end = commit;
  return in;
}

std::vector<uint64_t> sequences(const std::vector<inbound>& events) {
  std::vector<uint64_t> out;
  for (const auto& in : events) out.push_back(in.stream_seq);
  return out;
}

using seqs = std::vector<uint64_t>;

}  // namespace

CAF_TEST(events outside batches pass at once) {
  batch_assembler assembler;
  std::vector<inbound> ready;
  assembler.add(event(1, 5), 1, ready);
  assembler.add(event(2, 4), 1, ready);
  CAF_CHECK_EQUAL(sequences(ready), seqs({1, 2}));
  CAF_CHECK(!assembler.holding());
}

CAF_TEST(a batch is held until its commit however it was delivered) {
  batch_assembler assembler;
  std::vector<inbound> ready;
  assembler.add(event(3, 9, "B.1"), 1, ready);
  CAF_CHECK(ready.empty());  // the pull request ended here: the rest comes with the next
  assembler.add(event(4, 8, "B.1"), 1, ready);
  CAF_CHECK(ready.empty());
  CAF_CHECK(assembler.holding());
  assembler.add(event(5, 7, "B.1", true), 1, ready);
  CAF_CHECK_EQUAL(sequences(ready), seqs({3, 4, 5}));
  CAF_CHECK(ready.back().batch_end);
  CAF_CHECK(!ready.front().batch_end);
  CAF_CHECK(!assembler.holding());
}

CAF_TEST(a batch without a stored commit ends at the end of the stream or at the next message) {
  batch_assembler assembler;
  std::vector<inbound> ready;
  assembler.add(event(1, 1, "B.1"), 1, ready);
  assembler.add(event(2, 0, "B.1"), 1, ready);  // pending 0 says nothing (see the header)
  CAF_CHECK(ready.empty());
  assembler.end_of_stream(ready);  // the consumer has nothing more
  CAF_CHECK_EQUAL(sequences(ready), seqs({1, 2}));
  CAF_CHECK(ready.back().batch_end);
  ready.clear();
  assembler.add(event(3, 5, "B.2"), 1, ready);
  assembler.add(event(4, 4, "B.3"), 1, ready);  // another batch begins: B.2 ended
  CAF_CHECK_EQUAL(sequences(ready), seqs({3}));
  CAF_CHECK(ready.back().batch_end);
  assembler.add(event(5, 3), 1, ready);  // a plain message: B.3 ended too
  CAF_CHECK_EQUAL(sequences(ready), seqs({3, 4, 5}));
  CAF_CHECK(ready[1].batch_end);
}

CAF_TEST(a replaced consumer drops what was held and its events come again) {
  batch_assembler assembler;
  std::vector<inbound> ready;
  assembler.add(event(7, 2, "B.1"), 1, ready);
  assembler.add(event(8, 1, "B.1"), 1, ready);
  // Consumer generation 2 starts again at the applied sequence + 1.
  assembler.add(event(7, 2, "B.1"), 2, ready);
  assembler.add(event(8, 1, "B.1"), 2, ready);
  assembler.add(event(9, 0, "B.1", true), 2, ready);
  CAF_CHECK_EQUAL(sequences(ready), seqs({7, 8, 9}));
}
