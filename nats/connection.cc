#include "nats/connection.hpp"

#include <atomic>
#include <cstring>

#include <nats/nats.h>

#include "eventbase/log.hpp"

namespace eventbase::nats {

// Reconnect listeners; shared with cnats' callbacks through a heap-allocated shared_ptr that
// the closed-callback (always the last one) deletes.
struct connection::listeners {
  std::mutex mutex;
  uint64_t next_id = 1;
  std::map<uint64_t, std::function<void()>> on_reconnect;

  void notify_reconnect() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard<std::mutex> guard(mutex);
      for (auto& [id, cb] : on_reconnect) callbacks.push_back(cb);
    }
    for (auto& cb : callbacks) cb();
  }
};

namespace {

using shared_listeners = std::shared_ptr<connection::listeners>;

status nats_error(const std::string& what, natsStatus s) {
  std::string text = what + ": " + natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0' && std::strstr(text.c_str(), last) == nullptr)
    text += std::string(" (") + last + ")";
  return status(errc::unavailable, text);
}

void on_disconnected(natsConnection* nc, void*) {
  if (!natsConnection_IsClosed(nc)) EB_LOG_WARN("nats", "disconnected; reconnecting");
}

void on_reconnected(natsConnection* nc, void* closure) {
  char url[256] = "?";
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  EB_LOG_INFO("nats", "reconnected to " << url);
  (*static_cast<shared_listeners*>(closure))->notify_reconnect();
}

void on_closed(natsConnection*, void* closure) {
  delete static_cast<shared_listeners*>(closure);
}

void on_async_error(natsConnection*, natsSubscription*, natsStatus err, void*) {
  EB_LOG_WARN("nats", "asynchronous error: " << natsStatus_GetText(err));
}

// One subscription on "<prefix>.>" whose messages go to a handler.
class nats_inbox final : public inbox {
 public:
  struct state {
    message_handler handler;
  };

  nats_inbox(std::shared_ptr<connection> owner, std::string prefix, natsSubscription* sub)
      : owner_(std::move(owner)), prefix_(std::move(prefix)), sub_(sub) {}

  ~nats_inbox() override {
    // The completion callback frees the handler state once cnats is done with it.
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }

  const std::string& prefix() const override { return prefix_; }

  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* st = static_cast<state*>(closure);
    message m;
    m.subject = natsMsg_GetSubject(msg);
    if (const char* reply = natsMsg_GetReply(msg)) m.reply = reply;
    m.data.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, "Status", &value) == NATS_OK && value != nullptr)
      m.status = std::atoi(value);
    if (natsMsgHeader_Get(msg, "Description", &value) == NATS_OK && value != nullptr)
      m.description = value;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &value) == NATS_OK && value != nullptr)
      m.msg_id = value;
    natsMsg_Destroy(msg);
    st->handler(std::move(m));
  }

  static void on_complete(void* closure) { delete static_cast<state*>(closure); }

 private:
  std::shared_ptr<connection> owner_;  // the subscription must not outlive the connection
  std::string prefix_;
  natsSubscription* sub_;
};

}  // namespace

connection::connection(private_tag, natsConnection* conn, std::shared_ptr<listeners> shared)
    : conn_(conn), listeners_(std::move(shared)) {}

result<std::shared_ptr<connection>> connection::open(const connect_options& options) {
  natsOptions* opts = nullptr;
  if (natsOptions_Create(&opts) != NATS_OK)
    return status(errc::internal, "cannot allocate NATS options");
  struct opts_guard {
    natsOptions* o;
    ~opts_guard() { natsOptions_Destroy(o); }
  } guard{opts};

  std::vector<const char*> servers;
  for (auto& s : options.servers) servers.push_back(s.c_str());
  natsStatus s = NATS_OK;
  if (!servers.empty())
    s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK && !options.user.empty())
    s = natsOptions_SetUserInfo(opts, options.user.c_str(), options.password.c_str());
  if (s == NATS_OK && !options.token.empty()) s = natsOptions_SetToken(opts, options.token.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts, options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, options.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, options.reconnect_wait.count());
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 64 * 1024 * 1024);
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(opts, false);
  // Inbox handlers of all streams share the library's delivery threads instead of one thread
  // per subscription (a node may serve thousands of streams).
  if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(opts, true);
  // Write each publish to the socket at once: cnats' flusher thread otherwise waits up to 1 ms
  // for more data before it writes, which would add that to every write's latency.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
  if (s != NATS_OK) return nats_error("invalid NATS options", s);

  auto shared = std::make_shared<listeners>();
  auto* closure = new shared_listeners(shared);
  natsOptions_SetDisconnectedCB(opts, on_disconnected, nullptr);
  natsOptions_SetReconnectedCB(opts, on_reconnected, closure);
  natsOptions_SetClosedCB(opts, on_closed, closure);
  natsOptions_SetErrorHandler(opts, on_async_error, nullptr);

  natsConnection* conn = nullptr;
  s = natsConnection_Connect(&conn, opts);
  if (s != NATS_OK) {
    delete closure;  // no connection, no callbacks
    std::string list;
    for (auto& server : options.servers) list += (list.empty() ? "" : ",") + server;
    return nats_error(
        "cannot connect to NATS at " + (list.empty() ? "nats://127.0.0.1:4222" : list), s);
  }
  return std::make_shared<connection>(private_tag{}, conn, std::move(shared));
}

connection::~connection() {
  natsConnection_FlushTimeout(conn_, 2000);
  natsConnection_Destroy(conn_);  // closes; the closed callback frees the listeners closure
}

status connection::publish(std::string_view subject, std::string_view payload,
                           std::string_view reply, const headers& hdrs) {
  std::string subj(subject);
  std::string rep(reply);
  natsStatus s;
  const char* reply_or_null = rep.empty() ? nullptr : rep.c_str();
  if (hdrs.empty()) {
    if (reply_or_null == nullptr)
      s = natsConnection_Publish(conn_, subj.c_str(), payload.data(),
                                 static_cast<int>(payload.size()));
    else
      s = natsConnection_PublishRequest(conn_, subj.c_str(), reply_or_null, payload.data(),
                                        static_cast<int>(payload.size()));
  } else {
    natsMsg* msg = nullptr;
    s = natsMsg_Create(&msg, subj.c_str(), reply_or_null, payload.data(),
                       static_cast<int>(payload.size()));
    for (auto it = hdrs.begin(); s == NATS_OK && it != hdrs.end(); ++it)
      s = natsMsgHeader_Set(msg, it->first.c_str(), it->second.c_str());
    if (s == NATS_OK) s = natsConnection_PublishMsg(conn_, msg);
    natsMsg_Destroy(msg);
  }
  if (s != NATS_OK) return nats_error("cannot publish to " + subj, s);
  return status::OK();
}

result<std::unique_ptr<inbox>> connection::open_inbox(const std::string& prefix,
                                                      message_handler handler) {
  auto* st = new nats_inbox::state{std::move(handler)};
  natsSubscription* sub = nullptr;
  std::string wildcard = prefix + ".>";
  natsStatus s =
      natsConnection_Subscribe(&sub, conn_, wildcard.c_str(), nats_inbox::on_message, st);
  if (s == NATS_OK) s = natsSubscription_SetOnCompleteCB(sub, nats_inbox::on_complete, st);
  // Flow control bounds what a stream has outstanding; these limits only guard against bugs.
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, 1 << 20, 1 << 30);
  if (s != NATS_OK) {
    if (sub != nullptr) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
    delete st;
    return nats_error("cannot subscribe to " + wildcard, s);
  }
  return std::unique_ptr<inbox>(new nats_inbox(shared_from_this(), prefix, sub));
}

int64_t connection::max_payload() const {
  return natsConnection_GetMaxPayload(conn_);
}

uint64_t connection::add_reconnect_listener(std::function<void()> callback) {
  std::lock_guard<std::mutex> guard(listeners_->mutex);
  uint64_t id = listeners_->next_id++;
  listeners_->on_reconnect.emplace(id, std::move(callback));
  return id;
}

void connection::remove_reconnect_listener(uint64_t id) {
  std::lock_guard<std::mutex> guard(listeners_->mutex);
  listeners_->on_reconnect.erase(id);
}

std::string connection::connected_url() const {
  char url[256] = "";
  natsConnection_GetConnectedUrl(conn_, url, sizeof url);
  return url;
}

}  // namespace eventbase::nats
