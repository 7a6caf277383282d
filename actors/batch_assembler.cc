// batch_assembler (see batch_assembler.hpp).
#include "actors/batch_assembler.hpp"

namespace eventbase::actors {

void batch_assembler::add(inbound&& in, uint64_t generation, std::vector<inbound>& ready) {
  if (!held_.empty() && generation != generation_) held_.clear();  // delivered again
  // Not of the held batch: it ended before. (A gap in the sequences is no end: a later write of
  // one of the batch's keys may have replaced one of its messages.)
  if (!held_.empty() && in.batch_id != held_.front().batch_id) release(ready);
  if (in.batch_id.empty()) {
    ready.push_back(std::move(in));
    return;
  }
  generation_ = generation;
  bool ends = in.batch_end;  // not pending == 0: see the header
  held_.push_back(std::move(in));
  if (ends) release(ready);
}

void batch_assembler::release(std::vector<inbound>& ready) {
  held_.back().batch_end = true;
  for (auto& in : held_) ready.push_back(std::move(in));
  held_.clear();
}

}  // namespace eventbase::actors
