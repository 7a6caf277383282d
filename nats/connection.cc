// The cnats connection: publishing, inboxes, reconnect listeners (see connection.hpp).
#include "nats/connection.hpp"
#include "nats/server_probe.hpp"

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <nats/nats.h>

#include "eventbase/log.hpp"
#include "nats/nkeys.hpp"

// cnats' own free of a message: exported by libnats, though not in its public headers.
extern "C" void natsMsg_free(void* object);

namespace eventbase::nats {

// Reconnect listeners; shared with cnats' callbacks through a heap-allocated shared_ptr that
// the closed-callback (always the last one) deletes.
struct connection::listeners {
  std::mutex mutex;
  uint64_t next_id = 1;
  std::map<uint64_t, std::function<void()>> on_reconnect;
  std::function<void(const status&)> on_lost;
  std::atomic<bool> closing{false};       // the connection object closes it: not a loss
  std::optional<server_version> release;  // of the server connected to (guarded by mutex)

  // Asks the server at `url` its release (a short connection of its own) and keeps it.
  void learn_release(const std::string& url) {
    auto found = probe_server_version(url, std::chrono::milliseconds(1000));
    if (!found.ok())
      EB_LOG_INFO("nats", "cannot tell the release of " << url << ": " << found.error().message());
    std::lock_guard<std::mutex> guard(mutex);
    if (found.ok())
      release = *found;
    else
      release.reset();
  }

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

status nats_error(const std::string& what, natsStatus s, errc code = errc::unavailable) {
  std::string text = what + ": " + natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0' && std::strstr(text.c_str(), last) == nullptr)
    text += std::string(" (") + last + ")";
  return status(code, text);
}

bool contains(const std::string& text, const char* what) {
  return text.find(what) != std::string::npos;
}

// A failed connect, classified: a refusal of the credentials (the server's "Authorization
// Violation", or an expired or revoked JWT) and a failed TLS handshake are unauthenticated, so
// the caller can say "authorization failed" rather than "unreachable".
status connect_error(const std::string& servers, natsStatus s) {
  const char* last_c = nats_GetLastError(nullptr);
  std::string last = last_c != nullptr ? last_c : "";
  std::string lower;
  for (char c : last) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED ||
      contains(lower, "authorization violation") || contains(lower, "authentication") ||
      contains(lower, "user authentication expired") || contains(lower, "revoked"))
    return nats_error("NATS authorization failed at " + servers +
                          " (check the user/password, token, creds or nkey)",
                      s, errc::unauthenticated);
  // The server hung up without a word after the connection was set up: what nats-server does
  // to a TLS client without the client certificate it requires (--tlsverify).
  if (contains(lower, "expected 'pong', got ''"))
    return nats_error("NATS at " + servers +
                          " closed the connection during the handshake (does it require a TLS "
                          "client certificate?)",
                      s, errc::unauthenticated);
  if (s == NATS_SSL_ERROR || contains(lower, "ssl") || contains(lower, "certificate"))
    return nats_error("NATS TLS handshake failed with " + servers +
                          " (check the TLS CA, the client certificate and the URL)",
                      s, errc::unauthenticated);
  return nats_error("cannot connect to NATS at " + servers, s);
}

// Security options: TLS files, credentials file, nkey seed. Files are checked here, so a bad
// path is an invalid_argument naming it, not a failed connect.
status apply_security(natsOptions* opts, const connect_options& options) {
  // cnats 3.4 writes these into its CONNECT message's JSON without escaping them: a quote or a
  // backslash corrupts it and the server hangs up, which would read as a TLS problem.
  for (auto* secret : {&options.user, &options.password, &options.token})
    for (char c : *secret)
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
        return status(errc::invalid_argument,
                      "NATS user names, passwords and tokens cannot contain '\"', '\\' or control "
                      "characters (the NATS client library sends them unescaped)");
  natsStatus s = NATS_OK;
  bool tls = !options.tls_ca.empty() || !options.tls_cert.empty() || !options.tls_key.empty();
  for (auto& server : options.servers) tls = tls || server.rfind("tls://", 0) == 0;
  if (tls) s = natsOptions_SetSecure(opts, true);
  if (s == NATS_OK && !options.tls_ca.empty()) {
    s = natsOptions_LoadCATrustedCertificates(opts, options.tls_ca.c_str());
    if (s != NATS_OK)
      return nats_error("cannot use NATS TLS CA file '" + options.tls_ca + "'", s,
                        errc::invalid_argument);
  }
  if (s == NATS_OK && (!options.tls_cert.empty() || !options.tls_key.empty())) {
    if (options.tls_cert.empty() || options.tls_key.empty())
      return status(errc::invalid_argument, "a NATS TLS client certificate needs its key");
    s = natsOptions_LoadCertificatesChain(opts, options.tls_cert.c_str(), options.tls_key.c_str());
    if (s != NATS_OK)
      return nats_error("cannot use NATS TLS certificate '" + options.tls_cert + "' with key '" +
                            options.tls_key + "'",
                        s, errc::invalid_argument);
  }
  if (s != NATS_OK) return nats_error("invalid NATS TLS options", s);
  if (!options.creds.empty() && !options.nkey.empty())
    return status(errc::invalid_argument, "give NATS either a creds file or an nkey, not both");
  if (!options.creds.empty()) {
    // cnats reads the file at each connect; check it now for a clear error.
    auto seed = read_nkey_seed(options.creds);
    if (!seed.ok())
      return status(errc::invalid_argument,
                    "NATS creds file '" + options.creds + "': " + seed.error().message());
    s = natsOptions_SetUserCredentialsFromFiles(opts, options.creds.c_str(), nullptr);
    if (s != NATS_OK)
      return nats_error("cannot use NATS creds file '" + options.creds + "'", s,
                        errc::invalid_argument);
  }
  if (!options.nkey.empty()) {
    auto seed = read_nkey_seed(options.nkey);
    if (!seed.ok()) return seed.error();
    auto pub = nkey_public_key(*seed);
    if (!pub.ok()) return pub.error();
    s = natsOptions_SetNKeyFromSeed(opts, pub->c_str(), options.nkey.c_str());
    if (s != NATS_OK)
      return nats_error("cannot use NATS nkey seed file '" + options.nkey + "'", s,
                        errc::invalid_argument);
  }
  return status::OK();
}

void on_disconnected(natsConnection* nc, void*) {
  if (!natsConnection_IsClosed(nc)) EB_LOG_WARN("nats", "disconnected; reconnecting");
}

void on_reconnected(natsConnection* nc, void* closure) {
  char url[256] = "?";
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  auto& shared = *static_cast<shared_listeners*>(closure);
  shared->learn_release(url);  // another server may run another release
  EB_LOG_INFO("nats", "reconnected to " << url);
  shared->notify_reconnect();
}

void on_closed(natsConnection* nc, void* closure) {
  std::unique_ptr<shared_listeners> shared(static_cast<shared_listeners*>(closure));
  auto& l = **shared;
  if (l.closing) return;
  const char* text = nullptr;
  natsStatus s = natsConnection_GetLastError(nc, &text);
  std::string why =
      "the NATS connection was closed for good (the client library gave up "
      "reconnecting): " +
      std::string(text != nullptr && *text != '\0' ? text : natsStatus_GetText(s));
  EB_LOG_ERROR("nats", why);
  std::function<void(const status&)> callback;
  {
    std::lock_guard<std::mutex> guard(l.mutex);
    callback = std::move(l.on_lost);
  }
  if (callback)
    callback(
        status(s == NATS_CONNECTION_AUTH_FAILED ? errc::unauthenticated : errc::unavailable, why));
}

void on_async_error(natsConnection*, natsSubscription*, natsStatus err, void*) {
  EB_LOG_WARN("nats", "asynchronous error: " << natsStatus_GetText(err));
}

// Destroys `msg` on this thread. natsMsg_Destroy hands every message to cnats' garbage-collector
// thread and wakes it: a futex wake and two context switches per message, twice per put (the
// publish and the delivery). A natsMsg begins with its collector link {next, freeCb} (cnats
// 3.x, src/msg.h); a freeCb of null makes natsMsg_Destroy free it at once. The link is changed
// only when it holds exactly natsMsg_free, so a cnats with another layout gets the usual path.
void destroy_now(natsMsg* msg) {
  if (msg == nullptr) return;
  auto** collector_link = reinterpret_cast<void**>(msg);
  if (collector_link[1] == reinterpret_cast<void*>(&natsMsg_free)) collector_link[1] = nullptr;
  natsMsg_Destroy(msg);
}

// The local port of socket `fd`, or -1 (not a socket, not TCP/IP).
int local_port_of(int fd) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return -1;
  if (local.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  if (local.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  return -1;
}

// The descriptor of this process's connected TCP socket with local port `port`, or -1.
int find_connected_socket(int port) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || local_port_of(static_cast<int>(fd)) != port)
      continue;
    int type = 0;
    socklen_t type_len = sizeof type;
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 &&
        type == SOCK_STREAM &&
        ::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) {
      found = static_cast<int>(fd);
      break;
    }
  }
  ::closedir(dir);
  return found;
}

// Appends every header of `msg`, with its first value, to `out`.
void copy_headers(natsMsg* msg, headers& out) {
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK) return;  // none
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK)
      out.emplace_back(keys[i], value != nullptr ? value : "");
  }
  std::free(static_cast<void*>(keys));
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

  static void on_message(natsConnection*, natsSubscription* sub, natsMsg* msg, void* closure) {
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
    copy_headers(msg, m.all_headers);
    int waiting = 0;
    m.more_queued = natsSubscription_GetPending(sub, &waiting, nullptr) == NATS_OK && waiting > 0;
    destroy_now(msg);
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
  if (auto secured = apply_security(opts, options); !secured.ok()) return secured;

  auto shared = std::make_shared<listeners>();
  auto* closure = new shared_listeners(shared);
  natsOptions_SetDisconnectedCB(opts, on_disconnected, nullptr);
  natsOptions_SetReconnectedCB(opts, on_reconnected, closure);
  natsOptions_SetClosedCB(opts, on_closed, closure);
  natsOptions_SetErrorHandler(opts, on_async_error, nullptr);

  natsConnection* conn = nullptr;
  s = natsConnection_Connect(&conn, opts);
  // cnats 3.4 drops a signature whose first byte is 0 from its CONNECT (its base64 encoder takes
  // that for an empty input; fixed upstream after 3.4.1, nats.c#705), so one nkey or creds
  // connect in 256 is refused as an authorization violation. The server's nonce, hence the
  // signature, is new on every connect: a few more tries tell that apart from a wrong key
  // (all of them refused: 2^-32 for a right one).
  bool signs = !options.creds.empty() || !options.nkey.empty();
  for (int tries = 1; signs && tries < 5 && s == NATS_CONNECTION_AUTH_FAILED; ++tries)
    s = natsConnection_Connect(&conn, opts);
  if (s != NATS_OK) {
    delete closure;  // no connection, no callbacks
    std::string list;
    for (auto& server : options.servers) list += (list.empty() ? "" : ",") + server;
    return connect_error(list.empty() ? "nats://127.0.0.1:4222" : list, s);
  }
  auto opened = std::make_shared<connection>(private_tag{}, conn, std::move(shared));
  opened->listeners_->learn_release(opened->connected_url());
  return opened;
}

connection::~connection() {
  listeners_->closing = true;
  natsConnection_FlushTimeout(conn_, 2000);
  natsConnection_Destroy(conn_);  // closes; the closed callback frees the listeners closure
}

void connection::hold_sends() {
  std::lock_guard<std::mutex> guard(cork_mutex_);
  if (holds_++ > 0) return;
  // The socket may have changed since (a reconnect): the port says whether it is still ours.
  if (socket_.fd < 0 || local_port_of(socket_.fd) != socket_.port) {
    socket_.fd = -1;
    char* ip = nullptr;
    int port = 0;
    if (natsConnection_GetLocalIPAndPort(conn_, &ip, &port) != NATS_OK) return;
    std::free(ip);
    if (port == socket_.searched) return;  // searched for it already, in vain
    socket_.searched = port;
    socket_.fd = find_connected_socket(port);
    socket_.port = port;
    if (socket_.fd < 0) return;
  }
  int on = 1;
  corked_ = ::setsockopt(socket_.fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0;
}

void connection::release_sends() {
  std::lock_guard<std::mutex> guard(cork_mutex_);
  if (holds_ == 0 || --holds_ > 0 || !corked_) return;
  corked_ = false;
  int off = 0;  // sends what the cork held
  ::setsockopt(socket_.fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
}

bool connection::sends_held() {
  std::lock_guard<std::mutex> guard(cork_mutex_);
  return corked_;
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
    destroy_now(msg);
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

void connection::on_lost(std::function<void(const status&)> callback) {
  std::lock_guard<std::mutex> guard(listeners_->mutex);
  listeners_->on_lost = std::move(callback);
}

void connection::remove_reconnect_listener(uint64_t id) {
  std::lock_guard<std::mutex> guard(listeners_->mutex);
  listeners_->on_reconnect.erase(id);
}

std::optional<server_version> connection::server_release() const {
  std::lock_guard<std::mutex> guard(listeners_->mutex);
  return listeners_->release;
}

std::string connection::connected_url() const {
  char url[256] = "";
  natsConnection_GetConnectedUrl(conn_, url, sizeof url);
  return url;
}

std::string connection::state() const {
  switch (natsConnection_Status(conn_)) {
    case NATS_CONN_STATUS_CONNECTED:
      return "connected";
    case NATS_CONN_STATUS_RECONNECTING:
      return "reconnecting";
    case NATS_CONN_STATUS_CONNECTING:
      return "connecting";
    case NATS_CONN_STATUS_DRAINING_SUBS:
    case NATS_CONN_STATUS_DRAINING_PUBS:
      return "draining";
    default:
      return "closed";
  }
}

uint64_t connection::reconnects() const {
  natsStatistics* stats = nullptr;
  uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0, reconnected = 0;
  if (natsStatistics_Create(&stats) != NATS_OK) return 0;
  if (natsConnection_GetStats(conn_, stats) == NATS_OK)
    natsStatistics_GetCounts(stats, &in_msgs, &in_bytes, &out_msgs, &out_bytes, &reconnected);
  natsStatistics_Destroy(stats);
  return reconnected;
}

result<std::string> connection::request(const std::string& subject, std::string_view payload,
                                        std::chrono::milliseconds timeout) {
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, conn_, subject.c_str(), payload.data(),
                                        static_cast<int>(payload.size()), timeout.count());
  if (s == NATS_TIMEOUT)
    return status(errc::timeout,
                  "no reply to " + subject + " within " + std::to_string(timeout.count()) + " ms");
  if (s != NATS_OK) return nats_error("request to " + subject + " failed", s);
  std::string data(natsMsg_GetData(reply), static_cast<size_t>(natsMsg_GetDataLength(reply)));
  destroy_now(reply);
  return data;
}

}  // namespace eventbase::nats
