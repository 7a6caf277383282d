// NATS nkeys (see nkeys.hpp): base32 + CRC16 framing as in github.com/nats-io/nkeys, Ed25519
// from OpenSSL's libcrypto.
#include "nats/nkeys.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <vector>

namespace eventbase::nats {
namespace {

constexpr unsigned char kSeedPrefix = 18 << 3;  // 'S'
constexpr const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// CRC-16/XMODEM (polynomial 0x1021, initial 0), as nkeys computes it.
uint16_t crc16(const std::string& data) {
  uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc ^= static_cast<uint16_t>(byte << 8);
    for (int i = 0; i < 8; ++i)
      crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<uint16_t>(crc << 1);
  }
  return crc;
}

std::string base32_encode(const std::string& data) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

bool base32_decode(const std::string& text, std::string& out) {
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= '2' && c <= '7')
      v = c - '2' + 26;
    else
      return false;
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return true;
}

// Appends the CRC16 (little endian) and encodes.
std::string frame(std::string raw) {
  uint16_t crc = crc16(raw);
  raw += static_cast<char>(crc & 0xff);
  raw += static_cast<char>(crc >> 8);
  return base32_encode(raw);
}

// The type byte and the 32 raw seed bytes of an encoded seed.
result<std::pair<unsigned char, std::string>> decode_seed(const std::string& seed) {
  std::string raw;
  if (seed.size() < 10 || !base32_decode(seed, raw) || raw.size() != 36)
    return status(errc::invalid_argument, "not an nkey seed");
  std::string body = raw.substr(0, 34);
  uint16_t crc = static_cast<uint16_t>(static_cast<unsigned char>(raw[34]) |
                                       (static_cast<unsigned char>(raw[35]) << 8));
  if (crc16(body) != crc) return status(errc::invalid_argument, "nkey seed checksum mismatch");
  auto b0 = static_cast<unsigned char>(body[0]);
  auto b1 = static_cast<unsigned char>(body[1]);
  if ((b0 & 0xf8) != kSeedPrefix) return status(errc::invalid_argument, "not an nkey seed");
  auto type = static_cast<unsigned char>(((b0 & 7) << 5) | ((b1 & 0xf8) >> 3));
  return std::make_pair(type, body.substr(2, 32));
}

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

pkey_ptr private_key(const std::string& raw_seed) {
  return pkey_ptr(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                   reinterpret_cast<const unsigned char*>(raw_seed.data()), 32),
      &EVP_PKEY_free);
}

}  // namespace

result<std::string> read_nkey_seed(const std::string& path) {
  std::ifstream in(path);
  if (!in) return status(errc::invalid_argument, "cannot read nkey seed file '" + path + "'");
  std::string line;
  while (std::getline(in, line)) {
    auto start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos) continue;
    auto end = line.find_last_not_of(" \t\r");
    std::string word = line.substr(start, end - start + 1);
    if (word.size() > 2 && word[0] == 'S' && nkey_public_key(word).ok()) return word;
  }
  return status(errc::invalid_argument, "no nkey seed (S...) in '" + path + "'");
}

result<std::string> nkey_public_key(const std::string& seed) {
  auto decoded = decode_seed(seed);
  if (!decoded.ok()) return decoded.error();
  auto key = private_key(decoded->second);
  unsigned char pub[32];
  size_t len = sizeof pub;
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), pub, &len) != 1 || len != 32)
    return status(errc::invalid_argument, "invalid Ed25519 seed");
  std::string raw(1, static_cast<char>(decoded->first));
  raw.append(reinterpret_cast<const char*>(pub), 32);
  return frame(raw);
}

std::string make_nkey_seed(nkey_type type) {
  unsigned char seed[32];
  RAND_bytes(seed, sizeof seed);
  auto t = static_cast<unsigned char>(type);
  std::string raw;
  raw += static_cast<char>(kSeedPrefix | (t >> 5));
  raw += static_cast<char>((t & 31) << 3);
  raw.append(reinterpret_cast<const char*>(seed), sizeof seed);
  return frame(raw);
}

result<std::string> nkey_sign(const std::string& seed, const std::string& data) {
  auto decoded = decode_seed(seed);
  if (!decoded.ok()) return decoded.error();
  auto key = private_key(decoded->second);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char sig[64];
  size_t len = sizeof sig;
  if (!key || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1)
    return status(errc::internal, "Ed25519 signing failed");
  return std::string(reinterpret_cast<const char*>(sig), len);
}

}  // namespace eventbase::nats
