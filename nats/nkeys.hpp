// NATS nkeys: the Ed25519 keys NATS uses for nkey and JWT authentication, in their text form
// (base32 with a type prefix and a CRC16). Eventbase needs the public key of a user seed, which
// cnats asks for with the seed file (natsOptions_SetNKeyFromSeed); the tests also make keys and
// sign JWTs with them (no nsc needed).
#pragma once

#include <string>

#include "eventbase/status.hpp"

namespace eventbase::nats {

/// The kinds of nkeys (the first letter of the public key).
enum class nkey_type : unsigned char {
  operator_key = 14 << 3,  // 'O'
  account = 0,             // 'A'
  user = 20 << 3,          // 'U'
};

/// The seed ("S" + type letter + ...) in the file at `path`: the first line that looks like one,
/// so both a bare seed file and a credentials file work. invalid_argument when there is none.
result<std::string> read_nkey_seed(const std::string& path);

/// The public key ("U...", "A...", "O...") of `seed`; invalid_argument when it is not a valid
/// seed (bad base32, checksum or prefix).
result<std::string> nkey_public_key(const std::string& seed);

/// A new random seed of `type` (tests and tools).
std::string make_nkey_seed(nkey_type type);

/// The Ed25519 signature of `data` with `seed`, raw bytes.
result<std::string> nkey_sign(const std::string& seed, const std::string& data);

}  // namespace eventbase::nats
