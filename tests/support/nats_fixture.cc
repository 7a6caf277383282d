#include "support/nats_fixture.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include <nats/nats.h>

namespace eventbase::test {

nats::embedded_server& nats_server() {
  static temp_dir store("eventbase-test-nats");
  static std::unique_ptr<nats::embedded_server> server = [] {
    nats::embedded_server_options options;
    options.store_dir = store.path();
    auto started = nats::embedded_server::start(options);
    if (!started.ok())
      throw std::runtime_error("cannot start nats-server: " + started.error().to_string());
    return std::move(*started);
  }();
  return *server;
}

nats_options test_nats() {
  nats_options options;
  options.servers = {nats_server().url()};
  return options;
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

stream_config make_config(const std::string& name, const temp_dir& dir, const std::string& sub) {
  stream_config config;
  config.stream_name = name;
  config.nats = test_nats();
  config.data_path = dir.sub(sub);
  return config;
}

nlohmann::ordered_json data_of(stream& db, const std::string& key) {
  auto got = db.get(key);
  if (!got.ok() || !got->has_value()) return nullptr;
  return (*got)->data;
}

meta meta_of(stream& db, const std::string& key) {
  auto got = db.get(key);
  if (!got.ok() || !got->has_value()) return meta{};
  return (*got)->meta;
}

subscription collect(stream& db, const std::string& glob, collector<callback_args>& into) {
  return db
      .subscribe(glob,
                 [&into](const std::string& key, const nlohmann::ordered_json& data,
                         const std::optional<meta>& m, const nlohmann::ordered_json& event) {
                   into.add(callback_args{key, data, m, event});
                 })
      .value();
}

struct raw_client::impl {
  natsConnection* conn = nullptr;
  std::vector<natsSubscription*> subs;
  collector<std::string> messages;

  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<impl*>(closure);
    self->messages.add(std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
  }
};

raw_client::raw_client() : impl_(std::make_unique<impl>()) {
  if (natsConnection_ConnectTo(&impl_->conn, nats_server().url().c_str()) != NATS_OK)
    throw std::runtime_error("raw client cannot connect");
}

raw_client::~raw_client() {
  for (auto* sub : impl_->subs) {
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  }
  natsConnection_Destroy(impl_->conn);
}

void raw_client::publish(const std::string& subject, const std::string& payload) {
  natsConnection_Publish(impl_->conn, subject.c_str(), payload.data(),
                         static_cast<int>(payload.size()));
  natsConnection_Flush(impl_->conn);
}

void raw_client::subscribe(const std::string& subject) {
  natsSubscription* sub = nullptr;
  if (natsConnection_Subscribe(&sub, impl_->conn, subject.c_str(), impl::on_message, impl_.get()) !=
      NATS_OK)
    throw std::runtime_error("raw client cannot subscribe to " + subject);
  natsConnection_Flush(impl_->conn);
  impl_->subs.push_back(sub);
}

std::vector<std::string> raw_client::wait_for(size_t n, std::chrono::milliseconds timeout) {
  return impl_->messages.wait_for(n, timeout);
}

std::vector<std::string> raw_client::received() {
  return impl_->messages.items();
}

std::string raw_client::request(const std::string& subject, const std::string& body) {
  natsMsg* reply = nullptr;
  if (natsConnection_RequestString(&reply, impl_->conn, subject.c_str(), body.c_str(), 5000) !=
      NATS_OK)
    throw std::runtime_error("request to " + subject + " failed");
  std::string out(natsMsg_GetData(reply), natsMsg_GetDataLength(reply));
  natsMsg_Destroy(reply);
  return out;
}

std::optional<std::string> raw_client::stored_message::header(const std::string& name) const {
  for (auto& [key, value] : headers)
    if (key == name) return value;
  return std::nullopt;
}

std::optional<raw_client::stored_message> raw_client::last_message(const std::string& stream,
                                                                   const std::string& subject) {
  jsCtx* js = nullptr;
  if (natsConnection_JetStream(&js, impl_->conn, nullptr) != NATS_OK)
    throw std::runtime_error("raw client has no JetStream context");
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetLastMsg(&msg, js, stream.c_str(), subject.c_str(), nullptr, &code);
  jsCtx_Destroy(js);
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) return std::nullopt;
  if (s != NATS_OK) throw std::runtime_error("cannot read the last message on " + subject);
  stored_message out;
  out.sequence = natsMsg_GetSequence(msg);
  out.data.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
    for (int i = 0; i < count; ++i) {
      const char* value = nullptr;
      if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK)
        out.headers.emplace_back(keys[i], value != nullptr ? value : "");
    }
    std::free(static_cast<void*>(keys));
  }
  natsMsg_Destroy(msg);
  return out;
}

}  // namespace eventbase::test
