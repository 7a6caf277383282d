// Security (README "Security"): mutual TLS between eventbase-server and its clients, the bind
// rules, the bounds on what unauthenticated and authenticated peers cost, and NATS over TLS
// with user/password, nkey and JWT credentials. Every certificate, key and NATS identity is
// made here, in a temporary directory: the CAs with the openssl command, the nkeys and JWTs
// with Eventbase's own nkeys code (no nsc). Each NATS server is a nats-server process of the
// test with its own configuration file.
#define CAF_SUITE security
#include "caf/test/unit_test.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "nats/connection.hpp"
#include "nats/nkeys.hpp"
#include "nats/server_settings.hpp"
#include "protocol/base64.hpp"
#include "support/nats_fixture.hpp"
#include "system/processes.hpp"

using namespace eventbase;
using namespace eventbase::test;
using nlohmann::json;

namespace {

constexpr auto kQuick = std::chrono::seconds(20);

// Runs a command that must succeed (the test fails with its stderr otherwise).
void must_run(const std::vector<std::string>& argv) {
  auto r = subprocess::run(argv, kQuick).value();
  if (r.exit_code != 0) CAF_FAIL(argv[0] << " " << argv[1] << " failed: " << describe(r));
}

// A certificate authority in a directory, and certificates it signs (openssl command).
struct authority {
  std::string dir;
  std::string name;

  authority(const temp_dir& tmp, const std::string& ca_name) : dir(tmp.path()), name(ca_name) {
    must_run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", key(name), "-out", cert(name), "-days", "2", "-subj",
              "/CN=" + name});
  }

  std::string cert(const std::string& who) const { return dir + "/" + who + ".pem"; }
  std::string key(const std::string& who) const { return dir + "/" + who + ".key"; }
  std::string ca() const { return cert(name); }

  // A certificate for `who` (server and client use, SAN localhost and 127.0.0.1); days < 0
  // makes one that has expired.
  void issue(const std::string& who, int days = 2) const {
    std::string ext = dir + "/" + who + ".ext";
    std::ofstream(ext) << "extendedKeyUsage=serverAuth,clientAuth\n"
                       << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    must_run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", key(who), "-out", dir + "/" + who + ".csr", "-subj", "/CN=" + who});
    must_run({"openssl", "x509", "-req", "-in", dir + "/" + who + ".csr", "-CA", ca(), "-CAkey",
              key(name), "-CAcreateserial", "-out", cert(who), "-days", std::to_string(days),
              "-extfile", ext});
  }

  // --tls-* options presenting `who`'s certificate and trusting this CA.
  std::vector<std::string> options(const std::string& who) const {
    return {"--tls-cert=" + cert(who), "--tls-key=" + key(who), "--tls-ca=" + ca()};
  }
};

// The client with `tls` options before the command.
subprocess::completed client(const std::string& address, std::vector<std::string> tls,
                             std::vector<std::string> command) {
  tls.insert(tls.end(), command.begin(), command.end());
  return run_client(address, tls, {}, std::chrono::seconds(30));
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// Waits for a line of the server's stderr containing `what`.
bool server_logged(server_process& server, const std::string& what) {
  return server.process()
      .wait_for_stderr([&](const std::string& l) { return has(l, what); }, kQuick)
      .has_value();
}

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until the peer closes `fd` (true) or `timeout` passes (false).
bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 1))) <= 0) continue;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
  return false;
}

// A BASP client handshake header (valid for CAF) announcing `payload` bytes.
std::string basp_header(uint32_t payload) {
  std::string header(32, '\0');
  header[0] = 0x01;  // client handshake
  for (int i = 0; i < 4; ++i) header[4 + i] = static_cast<char>((payload >> (24 - 8 * i)) & 0xff);
  return header;
}

// A nats-server process of this test, started with `config` (written to a file; the
// JetStream store and `listen` are added here) on a free loopback port.
struct nats_process {
  std::unique_ptr<subprocess> process;
  int port = -1;

  // On `at_port`, or a free port when it is -1.
  nats_process(const temp_dir& tmp, const std::string& name, const std::string& config,
               int at_port = -1) {
    std::string path = tmp.sub(name + ".conf");
    std::ofstream(path) << "host: \"127.0.0.1\"\nport: " << at_port << "\njetstream { store_dir: \""
                        << tmp.sub(name + "-store") << "\" }\n"
                        << config;
    process = subprocess::start({nats::default_server_executable(), "-c", path}).value();
    auto ready = process->wait_for_stderr(
        [](const std::string& l) { return has(l, "Server is ready") || has(l, "[FTL]"); }, kQuick);
    static const std::string kListening = "Listening for client connections on ";
    for (auto& line : process->errors())
      if (has(line, kListening)) port = std::atoi(line.c_str() + line.rfind(':') + 1);
    if (!ready || port <= 0) {
      std::string log;
      for (auto& l : process->errors()) log += l + "\n";
      CAF_FAIL("nats-server did not start:\n" << log);
    }
  }

  std::string url(const std::string& scheme = "tls") const {
    return scheme + "://127.0.0.1:" + std::to_string(port);
  }
};

// The nats-server configuration block for TLS with client certificates (--tlsverify).
std::string nats_tls_block(const authority& ca, const std::string& who) {
  return "tls { cert_file: \"" + ca.cert(who) + "\", key_file: \"" + ca.key(who) +
         "\", ca_file: \"" + ca.ca() + "\", verify: true }\n";
}

// --nats-tls-* options of a client of such a server.
std::vector<std::string> nats_tls_options(const authority& ca, const std::string& who) {
  return {"--nats-tls-ca=" + ca.ca(), "--nats-tls-cert=" + ca.cert(who),
          "--nats-tls-key=" + ca.key(who)};
}

// A server with `options`, or the reason it did not start (exit code and stderr).
struct outcome {
  int exit_code = -1;
  std::string errors;
  std::chrono::milliseconds took{0};
};

outcome run_server_to_exit(const std::string& db, std::vector<std::string> options) {
  std::vector<std::string> argv = {EVENTBASE_SERVER_BIN, "--db=" + db, "--port=0"};
  argv.insert(argv.end(), options.begin(), options.end());
  auto start = std::chrono::steady_clock::now();
  auto r = subprocess::run(argv, std::chrono::seconds(30)).value();
  return {r.exit_code,
          all_errors(r) + "\n" +
              [&] {
                std::string out;
                for (auto& l : r.out) out += l + "\n";
                return out;
              }(),
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                start)};
}

// --- JWTs for nats-server's operator mode, signed with nkeys (what nsc does). ---

std::string base64url(const std::string& bytes) {
  std::string out = protocol::base64_encode(bytes);
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

// A JWT with `claims` ("iss" and "sub" added), signed by `issuer_seed`.
std::string make_jwt(const std::string& issuer_seed, const std::string& subject, json claims) {
  static int serial = 0;
  claims["iss"] = nats::nkey_public_key(issuer_seed).value();
  claims["sub"] = subject;
  claims["iat"] = 1700000000;
  claims["jti"] = "EVENTBASETEST" + std::to_string(++serial);
  std::string signing_input =
      base64url(R"({"typ":"JWT","alg":"ed25519-nkey"})") + "." + base64url(claims.dump());
  return signing_input + "." + base64url(nats::nkey_sign(issuer_seed, signing_input).value());
}

}  // namespace

CAF_TEST(mutual TLS serves clients with a certificate of the CA and refuses all others) {
  temp_dir tmp;
  authority ca(tmp, "ca");
  authority other(tmp, "other-ca");
  ca.issue("server");
  ca.issue("client");
  ca.issue("expired", -1);
  other.issue("stranger");
  auto server = must_start(tmp.sub("data"), ca.options("server"));
  auto s = unique_name("tls");
  // The right certificate: put and get work.
  auto put = client(server->address(), ca.options("client"), {"put", s, "k", R"({"v":1})"});
  CAF_CHECK_EQUAL(field(single_json_line(put), "/data/v"), json(1));
  auto got = client(server->address(), ca.options("client"), {"get", s, "k"});
  CAF_CHECK_EQUAL(field(single_json_line(got), "/data/v"), json(1));

  // No TLS at all, another CA's certificate, an expired one, a certificate of our CA with a
  // CA file that does not know the server's: each exits 3 saying TLS/authentication failed,
  // and stores nothing.
  struct attempt {
    std::string what;
    std::vector<std::string> tls;
    std::string says;
  };
  std::vector<attempt> attempts = {
      {"no certificate", {}, "requires TLS"},
      {"another CA's certificate",
       {"--tls-cert=" + other.cert("stranger"), "--tls-key=" + other.key("stranger"),
        "--tls-ca=" + ca.ca()},
       "refused this client's certificate"},
      {"an expired certificate",
       {"--tls-cert=" + ca.cert("expired"), "--tls-key=" + ca.key("expired"),
        "--tls-ca=" + ca.ca()},
       "expired"},
      {"a CA that did not sign the server",
       {"--tls-cert=" + ca.cert("client"), "--tls-key=" + ca.key("client"),
        "--tls-ca=" + other.ca()},
       "not signed by our CA"},
  };
  for (auto& a : attempts) {
    CAF_MESSAGE("client with " << a.what);
    // A client timeout of 60 s: a refusal must end the client well before it, not the timeout
    // (the bound is loose because ctest runs this beside the load suite's 4,000 clients; the
    // refusal took 6 s there once, 0.1 s alone).
    auto start = std::chrono::steady_clock::now();
    auto tls = a.tls;
    tls.insert(tls.begin(), "--timeout=60");
    auto r = client(server->address(), tls, {"put", s, "bad", "1"});
    CAF_CHECK_EQUAL(r.exit_code, 3);
    CAF_CHECK(has(all_errors(r), "TLS/authentication failed"));
    CAF_CHECK(has(all_errors(r), a.says));
    CAF_CHECK_LESS(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  }
  // The same through the environment.
  auto env =
      subprocess::run({EVENTBASE_CLI_BIN, "--server=" + server->address(), "get", s, "bad"}, kQuick,
                      {"EVENTBASE_TLS_CERT=" + ca.cert("client"),
                       "EVENTBASE_TLS_KEY=" + ca.key("client"), "EVENTBASE_TLS_CA=" + ca.ca()})
          .value();
  CAF_CHECK_EQUAL(single_json_line(env), json(nullptr));  // nothing was stored
  // A TLS client without a certificate (openssl s_client, kept running until the server has
  // answered): refused and logged.
  auto bare = subprocess::start({"openssl", "s_client", "-connect",
                                 "127.0.0.1:" + std::to_string(server->port()), "-CAfile", ca.ca()})
                  .value();
  CAF_CHECK(server_logged(*server, "presented no certificate"));
  bare->stop();
  CAF_CHECK(server_logged(*server, "does not speak TLS"));
  CAF_CHECK(server_logged(*server, "is not signed by our CA or is not valid now"));
  // An incomplete option set is a usage error.
  auto partial = client(server->address(), {"--tls-ca=" + ca.ca()}, {"streams"});
  CAF_CHECK_EQUAL(partial.exit_code, 2);
  // The embedding example connects with the same settings.
  auto example = subprocess::run({EVENTBASE_EXAMPLE_BIN, "--port=" + std::to_string(server->port()),
                                  "--tls-cert=" + ca.cert("client"),
                                  "--tls-key=" + ca.key("client"), "--tls-ca=" + ca.ca()},
                                 std::chrono::seconds(30))
                     .value();
  CAF_CHECK(has(example.out.empty() ? "" : example.out.front(), "greeting:1"));
  CAF_CHECK_EQUAL(server->process().stop(), 0);
}

CAF_TEST(garbage and stalled handshakes on a TLS port are closed and the node keeps serving) {
  temp_dir tmp;
  authority ca(tmp, "ca");
  ca.issue("server");
  ca.issue("client");
  auto options = ca.options("server");
  options.push_back("--connection-timeout=3000");
  auto server = must_start(tmp.sub("data"), options);
  // Plaintext: an HTTP request, random bytes, a BASP header claiming 1 GiB. Each is closed at
  // once (not a TLS record).
  std::string random(100000, '\0');
  for (size_t i = 0; i < random.size(); ++i) random[i] = static_cast<char>((i * 7919) % 251);
  for (const std::string& garbage :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), random, basp_header(1u << 30)}) {
    int fd = connect_to(server->port());
    CAF_REQUIRE(fd >= 0);
    ::send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
    CAF_CHECK(closed_by_peer(fd, std::chrono::seconds(2)));
    ::close(fd);
  }
  // Silent, and a TLS record header that never gets its body: closed after the handshake
  // deadline (--connection-timeout), not kept for ever.
  int silent = connect_to(server->port());
  int stalled = connect_to(server->port());
  CAF_REQUIRE(silent >= 0 && stalled >= 0);
  const char record[] = {0x16, 0x03, 0x01, 0x02, 0x00};
  ::send(stalled, record, sizeof record, MSG_NOSIGNAL);
  // Meanwhile they cost no CPU: libcaf_openssl's own scribe polled such a connection for
  // writability in a loop (a whole core per waiting connection).
  auto cpu_seconds = [&] {
    std::ifstream stat("/proc/" + std::to_string(server->process().pid()) + "/stat");
    std::string field;
    long ticks = 0;
    for (int i = 1; i <= 15 && stat >> field; ++i)
      if (i == 14 || i == 15) ticks += std::atol(field.c_str());
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  };
  double before = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CAF_CHECK_LESS(cpu_seconds() - before, 0.5);
  CAF_CHECK(closed_by_peer(silent, std::chrono::seconds(10)));
  CAF_CHECK(closed_by_peer(stalled, std::chrono::seconds(10)));
  ::close(silent);
  ::close(stalled);
  CAF_CHECK(server_logged(*server, "no TLS handshake within 3000 ms"));
  // Still serving.
  auto s = unique_name("garbage");
  auto put = client(server->address(), ca.options("client"), {"put", s, "k", "2"});
  CAF_CHECK_EQUAL(field(single_json_line(put), "/data"), json(2));
  CAF_CHECK_EQUAL(server->process().stop(), 0);
}

CAF_TEST(a peer announcing a huge message is disconnected before the node allocates it) {
  temp_dir tmp;
  authority ca(tmp, "ca");
  ca.issue("server");
  ca.issue("client");
  // Plaintext on loopback: the bound holds before any authentication.
  auto plain = must_start(tmp.sub("plain"), {"--nats=" + nats_server().url()});
  int fd = connect_to(plain->port());
  CAF_REQUIRE(fd >= 0);
  auto header = basp_header(1u << 30);
  CAF_REQUIRE_EQUAL(::send(fd, header.data(), header.size(), MSG_NOSIGNAL), 32);
  CAF_CHECK(closed_by_peer(fd, std::chrono::seconds(2)));  // at once, not at a timeout
  ::close(fd);
  CAF_CHECK(server_logged(*plain, "announced a message of 1073741824 bytes"));
  CAF_CHECK_EQUAL(plain->process().stop(), 0);
  // Over TLS, from a peer with a valid certificate (openssl s_client sends the header once the
  // handshake is done), with a bound of our own.
  auto options = ca.options("server");
  options.push_back("--max-message-bytes=100000");
  auto tls = must_start(tmp.sub("tls"), options);
  auto r = subprocess::run({"openssl", "s_client", "-quiet", "-connect",
                            "127.0.0.1:" + std::to_string(tls->port()), "-cert", ca.cert("client"),
                            "-key", ca.key("client"), "-CAfile", ca.ca()},
                           kQuick, {}, basp_header(200000))
               .value();
  CAF_CHECK_NOT_EQUAL(r.exit_code, -1);  // the server closed the connection: s_client ended
  CAF_CHECK(
      server_logged(*tls, "announced a message of 200000 bytes, more than the limit of 100000"));
  // A document of 50,000 bytes still fits.
  auto s = unique_name("bound");
  std::string doc = "\"" + std::string(50000, 'x') + "\"";
  auto put = client(tls->address(), ca.options("client"), {"put", s, "k", doc});
  CAF_CHECK_EQUAL(put.exit_code, 0);
  CAF_CHECK_EQUAL(tls->process().stop(), 0);
}

CAF_TEST(binding beyond loopback needs TLS or --insecure) {
  temp_dir tmp;
  authority ca(tmp, "ca");
  ca.issue("server");
  ca.issue("client");
  auto nats = "--nats=" + nats_server().url();
  auto refused = run_server_to_exit(tmp.sub("a"), {nats, "--bind=0.0.0.0"});
  CAF_CHECK_EQUAL(refused.exit_code, 2);
  CAF_CHECK(has(refused.errors, "--insecure"));
  auto incomplete = run_server_to_exit(tmp.sub("a"), {nats, "--tls-cert=" + ca.cert("server")});
  CAF_CHECK_EQUAL(incomplete.exit_code, 2);
  auto wrong_key =
      run_server_to_exit(tmp.sub("a"), {nats, "--tls-cert=" + ca.cert("server"),
                                        "--tls-key=" + ca.key("client"), "--tls-ca=" + ca.ca()});
  CAF_CHECK_EQUAL(wrong_key.exit_code, 2);
  CAF_CHECK(has(wrong_key.errors, "does not belong to certificate"));
  // --insecure: served in plaintext on every address.
  auto insecure = must_start(tmp.sub("b"), {nats, "--bind=0.0.0.0", "--insecure"});
  auto s = unique_name("bind");
  auto put = run_client("127.0.0.1:" + std::to_string(insecure->port()), {"put", s, "k", "3"});
  CAF_CHECK_EQUAL(field(single_json_line(put), "/data"), json(3));
  CAF_CHECK_EQUAL(insecure->process().stop(), 0);
  // With TLS, no --insecure needed.
  auto options = ca.options("server");
  options.insert(options.end(), {nats, "--bind=0.0.0.0"});
  auto secure = must_start(tmp.sub("c"), options);
  auto got =
      client("127.0.0.1:" + std::to_string(secure->port()), ca.options("client"), {"get", s, "k"});
  CAF_CHECK_EQUAL(field(single_json_line(got), "/data"), json(3));
  CAF_CHECK_EQUAL(secure->process().stop(), 0);
}

CAF_TEST(NATS over TLS with client certificates and a user and password) {
  temp_dir tmp;
  authority ca(tmp, "ca");
  ca.issue("nats");
  ca.issue("server");
  ca.issue("client");
  nats_process nats(tmp, "nats",
                    nats_tls_block(ca, "nats") +
                        "authorization { user: \"eb\", password: \"s3cret with $pace\" }\n");
  // TLS on both sides: NATS and the CAF port.
  auto options = nats_tls_options(ca, "server");
  options.insert(options.end(),
                 {"--nats=" + nats.url(), "--nats-user=eb", "--nats-password=s3cret with $pace"});
  auto with_tls = ca.options("server");
  with_tls.insert(with_tls.end(), options.begin(), options.end());
  auto server = must_start(tmp.sub("data"), with_tls);
  auto s = unique_name("natstls");
  auto put = client(server->address(), ca.options("client"), {"put", s, "k", R"({"tls":true})"});
  CAF_CHECK_EQUAL(field(single_json_line(put), "/data/tls"), json(true));
  auto got = client(server->address(), ca.options("client"), {"get", s, "k"});
  CAF_CHECK_EQUAL(field(single_json_line(got), "/data/tls"), json(true));
  CAF_CHECK_EQUAL(server->process().stop(), 0);

  // A wrong password: a quick non-zero exit that says authorization failed.
  auto wrong = nats_tls_options(ca, "server");
  wrong.insert(wrong.end(), {"--nats=" + nats.url(), "--nats-user=eb", "--nats-password=nope"});
  auto denied = run_server_to_exit(tmp.sub("data"), wrong);
  CAF_CHECK_NOT_EQUAL(denied.exit_code, 0);
  CAF_CHECK(has(denied.errors, "authorization failed"));
  CAF_CHECK_LESS(denied.took, std::chrono::seconds(5));
  // No password at all.
  auto none = nats_tls_options(ca, "server");
  none.push_back("--nats=" + nats.url());
  auto anonymous = run_server_to_exit(tmp.sub("data"), none);
  CAF_CHECK_NOT_EQUAL(anonymous.exit_code, 0);
  CAF_CHECK(has(anonymous.errors, "authorization failed"));
  // No client certificate: the server hangs up; that is said too.
  auto no_cert =
      run_server_to_exit(tmp.sub("data"), {"--nats=" + nats.url(), "--nats-tls-ca=" + ca.ca(),
                                           "--nats-user=eb", "--nats-password=s3cret with $pace"});
  CAF_CHECK_NOT_EQUAL(no_cert.exit_code, 0);
  CAF_CHECK(has(no_cert.errors, "client certificate"));
  CAF_CHECK_LESS(no_cert.took, std::chrono::seconds(5));
  // A NATS server whose certificate another CA signed.
  authority other(tmp, "other-ca");
  auto untrusted = nats_tls_options(ca, "server");
  untrusted[0] = "--nats-tls-ca=" + other.ca();
  untrusted.insert(untrusted.end(),
                   {"--nats=" + nats.url(), "--nats-user=eb", "--nats-password=s3cret with $pace"});
  auto mistrust = run_server_to_exit(tmp.sub("data"), untrusted);
  CAF_CHECK_NOT_EQUAL(mistrust.exit_code, 0);
  CAF_CHECK(has(mistrust.errors, "TLS handshake failed"));
}

CAF_TEST(NATS with an nkey and with a creds file in operator mode) {
  temp_dir tmp;
  // nkey: the server lists the user's public key.
  auto user_seed = nats::make_nkey_seed(nats::nkey_type::user);
  auto user_pub = nats::nkey_public_key(user_seed).value();
  std::ofstream(tmp.sub("user.nk")) << user_seed << "\n";
  nats_process by_nkey(tmp, "nkey", "authorization { users = [ { nkey: " + user_pub + " } ] }\n");
  auto server = must_start(tmp.sub("data-nkey"),
                           {"--nats=" + by_nkey.url("nats"), "--nats-nkey=" + tmp.sub("user.nk")});
  auto s = unique_name("nkey");
  CAF_CHECK_EQUAL(
      field(single_json_line(run_client(server->address(), {"put", s, "k", "4"})), "/data"),
      json(4));
  CAF_CHECK_EQUAL(server->process().stop(), 0);
  auto stranger = nats::make_nkey_seed(nats::nkey_type::user);
  std::ofstream(tmp.sub("stranger.nk")) << stranger << "\n";
  auto denied = run_server_to_exit(tmp.sub("data-nkey"), {"--nats=" + by_nkey.url("nats"),
                                                          "--nats-nkey=" + tmp.sub("stranger.nk")});
  CAF_CHECK_NOT_EQUAL(denied.exit_code, 0);
  CAF_CHECK(has(denied.errors, "authorization failed"));

  // JWT: an operator, a system account, an account with JetStream and a user, as nsc would
  // make them; the server trusts the operator and preloads the accounts.
  auto op = nats::make_nkey_seed(nats::nkey_type::operator_key);
  auto sys = nats::make_nkey_seed(nats::nkey_type::account);
  auto acc = nats::make_nkey_seed(nats::nkey_type::account);
  auto pub = [](const std::string& seed) { return nats::nkey_public_key(seed).value(); };
  auto operator_jwt =
      make_jwt(op, pub(op), {{"name", "op"}, {"nats", {{"type", "operator"}, {"version", 2}}}});
  json unlimited = {{"subs", -1},        {"data", -1},         {"payload", -1}, {"imports", -1},
                    {"exports", -1},     {"wildcards", true},  {"conn", -1},    {"leaf", -1},
                    {"mem_storage", -1}, {"disk_storage", -1}, {"streams", -1}, {"consumer", -1}};
  auto account_claims = [&](const std::string& name, bool jetstream) {
    json limits = unlimited;
    if (!jetstream) limits["mem_storage"] = limits["disk_storage"] = 0;
    return json{{"name", name},
                {"nats",
                 {{"limits", limits},
                  {"default_permissions", {{"pub", json::object()}, {"sub", json::object()}}},
                  {"type", "account"},
                  {"version", 2}}}};
  };
  auto sys_jwt = make_jwt(op, pub(sys), account_claims("SYS", false));
  auto acc_jwt = make_jwt(op, pub(acc), account_claims("app", true));
  auto user_jwt = make_jwt(acc, user_pub,
                           {{"name", "eventbase"},
                            {"nats",
                             {{"pub", json::object()},
                              {"sub", json::object()},
                              {"subs", -1},
                              {"data", -1},
                              {"payload", -1},
                              {"type", "user"},
                              {"version", 2}}}});
  std::ofstream(tmp.sub("user.creds"))
      << "-----BEGIN NATS USER JWT-----\n"
      << user_jwt << "\n------END NATS USER JWT------\n\n"
      << "************************* IMPORTANT *************************\n"
      << "NKEY Seed printed below can be used to sign and prove identity.\n\n"
      << "-----BEGIN USER NKEY SEED-----\n"
      << user_seed << "\n------END USER NKEY SEED------\n";
  nats_process by_jwt(tmp, "jwt",
                      "operator: \"" + operator_jwt + "\"\nsystem_account: \"" + pub(sys) +
                          "\"\nresolver: MEMORY\nresolver_preload: {\n  " + pub(sys) + ": \"" +
                          sys_jwt + "\"\n  " + pub(acc) + ": \"" + acc_jwt + "\"\n}\n");
  auto jwt_server = must_start(tmp.sub("data-jwt"), {"--nats=" + by_jwt.url("nats"),
                                                     "--nats-creds=" + tmp.sub("user.creds")});
  auto j = unique_name("jwt");
  CAF_CHECK_EQUAL(
      field(single_json_line(run_client(jwt_server->address(), {"put", j, "k", "5"})), "/data"),
      json(5));
  CAF_CHECK_EQUAL(jwt_server->process().stop(), 0);
  // Without the creds: refused.
  auto anonymous = run_server_to_exit(tmp.sub("data-jwt"), {"--nats=" + by_jwt.url("nats")});
  CAF_CHECK_NOT_EQUAL(anonymous.exit_code, 0);
  CAF_CHECK(has(anonymous.errors, "authorization failed"));
}

// cnats 3.4 leaves out a signature that starts with a 0 byte, one in 256 (connection.cc): an
// nkey user must connect anyway, every time. 1,000 connects without the retry all succeed with a
// chance of 2%.
CAF_TEST(an nkey user connects every time though the NATS library drops one signature in 256) {
  temp_dir tmp;
  auto seed = nats::make_nkey_seed(nats::nkey_type::user);
  std::ofstream(tmp.sub("user.nk")) << seed << "\n";
  nats_process server(
      tmp, "nkey",
      "authorization { users = [ { nkey: " + nats::nkey_public_key(seed).value() + " } ] }\n");
  nats::connect_options options;
  options.servers = {server.url("nats")};
  options.nkey = tmp.sub("user.nk");
  int refused = 0;
  for (int i = 0; i < 1000; ++i)
    if (!nats::connection::open(options).ok()) ++refused;
  CAF_CHECK_EQUAL(refused, 0);
}

// The NATS client library reconnects forever, except when the server refuses the credentials
// twice in a row: then it closes the connection for good and the node could do nothing more.
CAF_TEST(a node whose NATS server refuses its credentials after a restart exits saying so) {
  temp_dir tmp;
  auto nats = std::make_unique<nats_process>(
      tmp, "nats", "authorization { user: \"eb\", password: \"first\" }\n");
  int port = nats->port;
  auto server = must_start(
      tmp.sub("data"), {"--nats=" + nats->url("nats"), "--nats-user=eb", "--nats-password=first"});
  auto s = unique_name("rotated");
  CAF_CHECK_EQUAL(
      field(single_json_line(run_client(server->address(), {"put", s, "k", "1"})), "/data"),
      json(1));
  // The same server, restarted with another password (rotated credentials).
  nats->process->stop();
  nats = std::make_unique<nats_process>(
      tmp, "nats2", "authorization { user: \"eb\", password: \"second\" }\n", port);
  auto code = server->process().wait(std::chrono::seconds(60));
  CAF_REQUIRE(code.has_value());
  CAF_CHECK_EQUAL(*code, 1);
  auto errors = server->diagnostics();
  CAF_CHECK(has(errors, "closed for good"));
  CAF_CHECK(has(errors, "Authorization Violation"));
}

CAF_TEST(the owned nats - server gets its secrets through a 0600 file and not its command line) {
  temp_dir tmp;
  auto server = must_start(tmp.sub("data"), {"--nats-password=do-not-show-me", "--nats-user=eb"});
  int pid = owned_nats_pid(*server);
  CAF_REQUIRE(pid > 0);
  std::stringstream cmdline_text;
  cmdline_text << std::ifstream("/proc/" + std::to_string(pid) + "/cmdline").rdbuf();
  std::string cmdline = cmdline_text.str();
  CAF_CHECK(!has(cmdline, "do-not-show-me"));
  CAF_CHECK(!has(cmdline, "--pass"));
  struct stat st {};
  auto conf = tmp.sub("data") + "/nats/nats-server.conf";
  CAF_REQUIRE_EQUAL(::stat(conf.c_str(), &st), 0);
  CAF_CHECK_EQUAL(st.st_mode & 0777, 0600u);
  // Without credentials the owned server still gets a password (a random one).
  auto other = must_start(tmp.sub("data2"));
  std::ifstream conf2(tmp.sub("data2") + "/nats/nats-server.conf");
  std::stringstream text;
  text << conf2.rdbuf();
  CAF_CHECK(has(text.str(), "password"));
  CAF_CHECK_EQUAL(run_client(other->address(), {"streams"}).exit_code, 0);
  CAF_CHECK_EQUAL(other->process().stop(), 0);
  CAF_CHECK_EQUAL(server->process().stop(), 0);
  CAF_CHECK_NOT_EQUAL(::stat(conf.c_str(), &st), 0);  // removed on stop
}
