// Embedding Eventbase in a CAF application: talk to an eventbase-server from another node with
// the same typed messages local code uses.
//
//   build/examples/remote_watch --host=127.0.0.1 --port=4333
//   build/examples/remote_watch --port=4333 --tls-cert=client.pem --tls-key=client.key
//                               --tls-ca=ca.pem       (all on one line: mutual TLS)
//
// It opens the stream "example", subscribes its own actor to "greeting:*", puts a document and
// prints the change the server pushes back across the network, then exits.
#include <iostream>
#include <string>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "eventbase/actors.hpp"     // typed handles, atoms, message types
#include "eventbase/eventbase.hpp"  // decode_record, change_to_json (optional helpers)
#include "eventbase/network.hpp"    // configure_network, connect_manager
#include "eventbase/request.hpp"    // ask: a request and its reply, from a thread

namespace {

struct config : caf::actor_system_config {
  std::string host = "127.0.0.1";
  uint16_t port = 4333;

  config() {
    // Every node that talks to Eventbase nodes: message types, heartbeats, a unique node id,
    // and TLS when the configuration has a certificate when the actor system starts. (A program
    // that knows its files before this point passes them in network_options::tls instead.)
    eventbase::configure_network(*this);
    opt_group{custom_options_, "global"}
        .add(host, "host", "eventbase-server host")
        .add(port, "port", "eventbase-server port")
        // CAF's OpenSSL settings under the names eventbase's tools use.
        .add(openssl_certificate, "tls-cert", "PEM certificate of this node (mutual TLS)")
        .add(openssl_key, "tls-key", "PEM private key of --tls-cert")
        .add(openssl_passphrase, "tls-key-password", "passphrase of an encrypted --tls-key")
        .add(openssl_cafile, "tls-ca", "PEM CA file the server's certificate must chain to");
  }
};

// Our subscriber: prints the first change, acknowledges it (the server bounds what a subscriber
// has not acknowledged) and stops.
eventbase::subscriber_actor::behavior_type watcher(eventbase::subscriber_actor::pointer self) {
  return {
      [self](eventbase::change_atom, const eventbase::change& c) {
        std::cout << "change: " << eventbase::change_to_json(c).dump() << std::endl;
        self->quit();
        return eventbase::ok_atom::value;
      },
      [self](eventbase::ended_atom, uint64_t, const caf::error& why) {
        std::cerr << "subscription ended: " << eventbase::to_status(why).to_string() << std::endl;
        self->quit();
      },
  };
}

void caf_main(caf::actor_system& sys, const config& cfg) {
  auto timeout = std::chrono::seconds(10);
  auto manager = eventbase::connect_manager(sys, cfg.host, cfg.port, timeout);
  if (!manager.ok()) {
    std::cerr << "cannot connect: " << manager.error().to_string() << std::endl;
    return;
  }
  caf::scoped_actor self{sys};
  using eventbase::ask;
  auto stream = ask<eventbase::stream_actor>(*self, *manager, timeout, eventbase::open_atom::value,
                                             std::string("example"));
  if (!stream.ok()) {
    std::cerr << "error: " << stream.error().to_string() << std::endl;
    return;
  }
  auto w = sys.spawn(watcher);
  auto subscribed = ask<uint64_t>(*self, *stream, timeout, eventbase::subscribe_atom::value,
                                  std::string("greeting:*"), w);
  auto put = ask<eventbase::entry>(*self, *stream, timeout, eventbase::put_atom::value,
                                   std::string("greeting:1"), std::string(R"({"text":"hello"})"));
  if (!subscribed.ok() || !put.ok()) {
    auto why = subscribed.ok() ? put.error() : subscribed.error();
    std::cerr << "error: " << why.to_string() << std::endl;
    self->send_exit(w, caf::exit_reason::user_shutdown);  // no change will come
    return;
  }
  self->wait_for(w);  // the watcher stops after the first change
  auto doc = eventbase::decode_record(put->record);
  if (doc.ok() && *doc) std::cout << "put: " << (*doc)->to_json().dump() << std::endl;
}

}  // namespace

CAF_MAIN(caf::io::middleman)
