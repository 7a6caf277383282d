// A queue that hands items from other threads to one consumer (an actor) with as few wake-ups
// as possible: producers append, the consumer takes everything at once, and only the first
// urgent push after a take asks the producer to wake the consumer. A busy consumer thus gets one
// wake-up per batch instead of one per item, and handles the batch in one go.
#pragma once

#include <mutex>
#include <utility>
#include <vector>

namespace eventbase {

template <class T>
class handover_queue {
 public:
  /// Appends; true when the caller must wake the consumer: `urgent`, and no wake-up is pending
  /// since the last take(). Items that are not urgent wait for the next wake-up.
  bool push(T item, bool urgent = true) {
    std::lock_guard<std::mutex> guard(mutex_);
    items_.push_back(std::move(item));
    if (!urgent || wake_pending_) return false;
    wake_pending_ = true;
    return true;
  }

  /// Everything queued, in arrival order; the next urgent push wakes the consumer again.
  std::vector<T> take() {
    std::vector<T> out;
    take(out);
    return out;
  }

  /// As take(), into `out` (cleared first), whose storage the queue keeps for the next pushes:
  /// a consumer that hands the same buffers back spares the producers an allocation per batch.
  void take(std::vector<T>& out) {
    out.clear();
    std::lock_guard<std::mutex> guard(mutex_);
    out.swap(items_);
    wake_pending_ = false;
  }

 private:
  std::mutex mutex_;
  std::vector<T> items_;
  bool wake_pending_ = false;
};

}  // namespace eventbase
