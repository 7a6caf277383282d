// Mutual TLS settings of a CAF node (eventbase-server's --tls-* options, the client's, an
// embedding application's): which certificate this node presents and which CA its peers'
// certificates must be signed by. Used by eventbase/network.hpp and eventbase/node.hpp; no CAF
// here, so it is cheap to include.
#pragma once

#include <string>

#include "eventbase/status.hpp"

namespace eventbase {

/// Mutual TLS on CAF connections (README "Security"). All three files, or none.
struct tls_options {
  /// PEM file with this node's certificate, followed by any intermediate CA certificates.
  /// Default empty: no TLS.
  std::string certificate;
  /// PEM file with the private key of `certificate`. Default empty.
  std::string key;
  /// Passphrase of an encrypted `key`. Default empty: the key is not encrypted.
  std::string key_password;
  /// PEM file with the CA certificate(s) a peer's certificate must chain to; the peer's
  /// certificate must also be within its validity period. Any certificate the CA signed is
  /// accepted, whatever its name: the CA defines who belongs to the deployment. Default empty.
  std::string ca;

  /// True when any of certificate, key or ca is set.
  bool enabled() const { return !certificate.empty() || !key.empty() || !ca.empty(); }
};

/// Checks that `tls` names a readable certificate, a key that matches it (decrypted with
/// key_password when set) and a loadable CA file; invalid_argument naming the file and what is
/// wrong otherwise. configure_network does not check (it cannot fail); call this first for a
/// clear error instead of a refused handshake.
status check_tls(const tls_options& tls);

}  // namespace eventbase
