// configure_network (see include/eventbase/network.hpp).
#include "eventbase/network.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/node_id.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <caf/io/basp_broker.hpp>
#include <caf/io/network/default_multiplexer.hpp>

#include "api/transport.hpp"
#include "eventbase/actors.hpp"

namespace eventbase {
namespace {

// Replaces the node id the middleman computed with one whose host part is random.
//
// CAF 0.17 has no setting for the node id: the middleman's init() computes it and stores it in
// the actor system. Modules are initialised in the order of their ids, so a module in a later
// slot runs after the middleman, before any actor exists (actors copy the node id when they are
// spawned, and the BASP broker when it starts). This module takes the slot of CAF's
// `network_manager`, a module CAF 0.17 defines an id for but does not implement, and does
// nothing else.
class node_identity final : public caf::actor_system::module {
 public:
  explicit node_identity(caf::actor_system& sys) : sys_(sys) {}

  void start() override {}
  void stop() override {}

  void init(caf::actor_system_config&) override {
    caf::node_id::default_data::host_id_type host;
    std::random_device entropy;
    for (auto& byte : host) byte = static_cast<uint8_t>(entropy());
    // The actor system owns its node id as a plain member and exposes it read-only; this is
    // the one place that writes it, before anything has read it.
    const_cast<caf::node_id&>(sys_.node()) =
        caf::make_node_id(static_cast<uint32_t>(::getpid()), host);
  }

  id_t id() const override { return network_manager; }
  void* subtype_ptr() override { return this; }

 private:
  caf::actor_system& sys_;
};

int pem_password(char* buf, int size, int, void* password) {
  auto* text = static_cast<const std::string*>(password);
  if (size <= 0) return 0;
  int n = static_cast<int>(std::min<size_t>(text->size(), static_cast<size_t>(size) - 1));
  std::memcpy(buf, text->data(), static_cast<size_t>(n));
  return n;
}

// Why a connection attempt failed, as the caller should see it: TLS failures (recorded by the
// scribe) are unauthenticated, and so is a close during CAF's handshake, which is what a TLS
// server does to a peer that does not speak TLS.
status connect_failure(const caf::error& err, const std::string& where,
                       std::chrono::milliseconds timeout, const api::connection_state* state,
                       caf::actor_system& sys) {
  std::string tls_failure = state != nullptr ? state->failure() : std::string();
  if (!tls_failure.empty())
    return status(errc::unauthenticated,
                  "TLS/authentication failed with " + where + ": " + tls_failure);
  if (err == caf::sec::request_timeout)
    return status(errc::timeout, "no handshake with " + where + " within " +
                                     std::to_string(timeout.count()) + " ms");
  if (err == caf::sec::disconnect_during_handshake)
    return status(errc::unauthenticated,
                  "TLS/authentication failed with " + where +
                      ": the server closed the connection during the handshake" +
                      (state == nullptr
                           ? " (it probably requires TLS: give this client a certificate, its key "
                             "and the CA)"
                           : ""));
  return status(errc::unavailable, "cannot reach " + where + ": " + sys.render(err));
}

}  // namespace

status check_tls(const tls_options& tls) {
  if (!tls.enabled()) return status::OK();
  if (tls.certificate.empty() || tls.key.empty() || tls.ca.empty())
    return status(errc::invalid_argument,
                  "TLS needs a certificate, its key and a CA file (got" +
                      std::string(tls.certificate.empty() ? "" : " a certificate") +
                      (tls.key.empty() ? "" : " a key") + (tls.ca.empty() ? "" : " a CA") + ")");
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return status(errc::internal, "cannot create an OpenSSL context");
  std::string password = tls.key_password;
  SSL_CTX_set_default_passwd_cb(ctx, pem_password);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, &password);
  auto fail = [&](const std::string& what) {
    std::string why = api::take_ssl_errors();
    SSL_CTX_free(ctx);
    return status(errc::invalid_argument, what + (why.empty() ? "" : ": " + why));
  };
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.certificate.c_str()) != 1)
    return fail("cannot use TLS certificate '" + tls.certificate + "'");
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
      return fail("TLS key '" + tls.key + "' does not belong to certificate '" + tls.certificate +
                  "'");
    return fail("cannot use TLS key '" + tls.key + "'" +
                (tls.key_password.empty() ? " (is it encrypted? give its password)" : ""));
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    return fail("TLS key '" + tls.key + "' does not belong to certificate '" + tls.certificate +
                "'");
  if (SSL_CTX_load_verify_locations(ctx, tls.ca.c_str(), nullptr) != 1)
    return fail("cannot use TLS CA file '" + tls.ca + "'");
  SSL_CTX_free(ctx);
  return status::OK();
}

void configure_network(caf::actor_system_config& cfg, const network_options& options) {
  cfg.module_factories.push_back(
      [](caf::actor_system& sys) -> caf::actor_system::module* { return new node_identity(sys); });
  cfg.module_factories.push_back(api::make_tls_module);
  add_message_types(cfg);
  cfg.set("middleman.heartbeat-interval", caf::timespan(options.heartbeat));
  cfg.set("middleman.connection-timeout", caf::timespan(options.connection_timeout));
  if (options.tls.enabled()) {
    // CAF's OpenSSL module reads these when it makes a session (for every connection).
    cfg.openssl_certificate = options.tls.certificate;
    cfg.openssl_key = options.tls.key;
    cfg.openssl_passphrase = options.tls.key_password;
    cfg.openssl_cafile = options.tls.ca;
  }
}

namespace {

// What middleman::remote_actor does, with a deadline (CAF 0.17.6, middleman.cpp).
result<manager_actor> connect_plain(caf::actor_system& sys, const std::string& host, uint16_t port,
                                    std::chrono::milliseconds timeout) {
  std::string where = host + ":" + std::to_string(port);
  result<manager_actor> out = status(errc::internal, "no reply from CAF's middleman");
  caf::scoped_actor self{sys};
  self->request(sys.middleman().actor_handle(), timeout, caf::connect_atom::value, host, port)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
              const std::set<std::string>& interface) {
            if (!ptr)
              out = status(errc::unavailable, "nothing is published at " + where);
            else if (!sys.assignable<manager_actor>(interface))
              out = status(errc::unavailable, where + " is not an eventbase-server");
            else
              out = caf::actor_cast<manager_actor>(std::move(ptr));
          },
          [&](caf::error& err) { out = connect_failure(err, where, timeout, nullptr, sys); });
  return out;
}

// What libcaf_openssl's middleman actor does for connect_atom (a TLS session on a new
// connection, then the BASP broker's handshake), with Eventbase's scribe, which records why a
// TLS handshake failed, and a deadline for all of it.
result<manager_actor> connect_tls(caf::actor_system& sys, const std::string& host, uint16_t port,
                                  std::chrono::milliseconds timeout) {
  std::string where = host + ":" + std::to_string(port);
  auto* mpx = dynamic_cast<caf::io::network::default_multiplexer*>(&sys.middleman().backend());
  if (mpx == nullptr) return status(errc::internal, "CAF runs with an unknown network backend");
  auto start = std::chrono::steady_clock::now();
  auto fd = api::tcp_connect(host, port, timeout);
  if (!fd.ok()) return fd.error();
  auto state = std::make_shared<api::connection_state>(where, /*is_server=*/false, /*is_tls=*/true);
  // No bound on what the server sends: it is authenticated, and a reply may be large (keys).
  auto scribe = api::make_scribe(sys, *mpx, *fd, /*max_message=*/0, state);
  if (!scribe.ok()) {
    if (scribe.error().code() == errc::unauthenticated)
      return status(errc::unauthenticated,
                    "TLS/authentication failed with " + where + ": " + scribe.error().message());
    return scribe.error();
  }
  auto left = std::max(std::chrono::milliseconds(1),
                       timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - start));
  result<manager_actor> out = status(errc::internal, "no reply from CAF's BASP broker");
  caf::scoped_actor self{sys};
  auto basp = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  self->request(basp, left, caf::connect_atom::value, std::move(*scribe), port)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
              const std::set<std::string>& interface) {
            if (!ptr)
              out = status(errc::unavailable, "nothing is published at " + where);
            else if (!sys.assignable<manager_actor>(interface))
              out = status(errc::unavailable, where + " is not an eventbase-server");
            else
              out = caf::actor_cast<manager_actor>(std::move(ptr));
          },
          [&](caf::error& err) { out = connect_failure(err, where, timeout, state.get(), sys); });
  return out;
}

}  // namespace

result<manager_actor> connect_manager(caf::actor_system& sys, const std::string& host,
                                      uint16_t port, std::chrono::milliseconds timeout) {
  if (api::tls_configured(sys.config())) return connect_tls(sys, host, port, timeout);
  return connect_plain(sys, host, port, timeout);
}

}  // namespace eventbase
