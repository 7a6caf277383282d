// A NATS transport for deterministic actor tests: it records what an actor publishes and lets
// the test deliver replies and stream messages to the actor's inbox by hand. Used with CAF's
// test coordinator, the whole exchange between a stream actor and "JetStream" is scripted.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "nats/transport.hpp"

namespace eventbase::test {

class scripted_transport : public nats::transport {
 public:
  struct published {
    std::string subject;
    std::string payload;
    std::string reply;
    nats::headers headers;

    std::string header(const std::string& name) const {
      for (auto& [k, v] : headers)
        if (k == name) return v;
      return {};
    }
  };

  status publish(std::string_view subject, std::string_view payload, std::string_view reply,
                 const nats::headers& hdrs) override {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!publish_failure_.ok()) return publish_failure_;
    log_.push_back(published{std::string(subject), std::string(payload), std::string(reply), hdrs});
    return status::OK();
  }

  result<std::unique_ptr<nats::inbox>> open_inbox(const std::string& prefix,
                                                  nats::message_handler handler) override {
    std::lock_guard<std::mutex> guard(mutex_);
    handlers_[prefix] = std::move(handler);
    return std::unique_ptr<nats::inbox>(new scripted_inbox(this, prefix));
  }

  int64_t max_payload() const override { return 1 << 20; }

  // The release the scripted server names (nullopt: unknown, as before the INFO line).
  std::optional<nats::server_version> release;
  std::optional<nats::server_version> server_release() const override { return release; }

  uint64_t add_reconnect_listener(std::function<void()> callback) override {
    std::lock_guard<std::mutex> guard(mutex_);
    listeners_[next_listener_] = std::move(callback);
    return next_listener_++;
  }

  void remove_reconnect_listener(uint64_t id) override {
    std::lock_guard<std::mutex> guard(mutex_);
    listeners_.erase(id);
  }

  // -- test side ------------------------------------------------------------------------------

  /// Everything published since the last call, oldest first.
  std::vector<published> take() {
    std::lock_guard<std::mutex> guard(mutex_);
    auto out = std::move(log_);
    log_.clear();
    return out;
  }

  /// The prefix of the (single) open inbox.
  std::string inbox_prefix() {
    std::lock_guard<std::mutex> guard(mutex_);
    return handlers_.empty() ? std::string() : handlers_.begin()->first;
  }

  bool has_inbox() {
    std::lock_guard<std::mutex> guard(mutex_);
    return !handlers_.empty();
  }

  /// Hands `msg` to the (first) open inbox, as a NATS thread would.
  void deliver(nats::message msg) { deliver_to(inbox_prefix(), std::move(msg)); }

  /// Hands `msg` to the inbox with `prefix`; dropped when there is none (like NATS does).
  void deliver_to(const std::string& prefix, nats::message msg) {
    nats::message_handler handler;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      auto it = handlers_.find(prefix);
      if (it == handlers_.end()) return;
      handler = it->second;
    }
    handler(std::move(msg));
  }

  /// Replies `body` to the request `to`, at its reply subject.
  void reply(const published& to, const std::string& body, int status_code = 0) {
    nats::message m;
    m.subject = to.reply;
    m.data = body;
    m.status = status_code;
    deliver_to(to.reply.substr(0, to.reply.find('.', to.reply.find('.') + 1)), std::move(m));
  }

  /// Makes every publish fail with `why` (ok: publishes work again).
  void fail_publishes(status why) {
    std::lock_guard<std::mutex> guard(mutex_);
    publish_failure_ = std::move(why);
  }

  size_t reconnect_listeners() {
    std::lock_guard<std::mutex> guard(mutex_);
    return listeners_.size();
  }

  void fire_reconnect() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      for (auto& [id, cb] : listeners_) callbacks.push_back(cb);
    }
    for (auto& cb : callbacks) cb();
  }

 private:
  class scripted_inbox : public nats::inbox {
   public:
    scripted_inbox(scripted_transport* owner, std::string prefix)
        : owner_(owner), prefix_(std::move(prefix)) {}
    ~scripted_inbox() override {
      std::lock_guard<std::mutex> guard(owner_->mutex_);
      owner_->handlers_.erase(prefix_);
    }
    const std::string& prefix() const override { return prefix_; }

   private:
    scripted_transport* owner_;
    std::string prefix_;
  };

  std::mutex mutex_;
  std::vector<published> log_;
  std::map<std::string, nats::message_handler> handlers_;
  std::map<uint64_t, std::function<void()>> listeners_;
  uint64_t next_listener_ = 1;
  status publish_failure_;
};

}  // namespace eventbase::test
