// Holds the events of an atomic batch until its last one has arrived, so that the replica
// applies a batch whole and its readers never see part of it (internal to actors/; README
// "Atomic batches").
//
// JetStream stores a batch's messages together, at its commit, with consecutive sequences. A
// batch therefore ends at its message with Nats-Batch-Commit; should that never come (a batch
// committed without storing its commit message, nats-server 2.14's "eob"), at the next message
// that is not of it, or when the consumer says it has nothing more to deliver (end_of_stream).
// The `pending` count a delivery carries is no such signal: the first message of a batch was
// seen delivered with pending 0 while the commit was still storing the rest (2.15.1).
// Held events belong to one consumer generation: when the consumer is replaced they are
// dropped, and the new consumer delivers them again from the replica's applied sequence.
#pragma once

#include <cstdint>
#include <vector>

#include "actors/inbound.hpp"

namespace eventbase::actors {

class batch_assembler {
 public:
  /// Takes the delivered event `in` of consumer generation `generation`; appends to `ready`
  /// the events that may be applied now, in stream order. The last event of a released batch
  /// has batch_end set.
  void add(inbound&& in, uint64_t generation, std::vector<inbound>& ready);

  /// The consumer had nothing more to deliver: whatever is held is a whole batch.
  void end_of_stream(std::vector<inbound>& ready) {
    if (!held_.empty()) release(ready);
  }

  /// Whether events wait for the rest of their batch.
  bool holding() const { return !held_.empty(); }

 private:
  void release(std::vector<inbound>& ready);

  std::vector<inbound> held_;
  uint64_t generation_ = 0;
};

}  // namespace eventbase::actors
