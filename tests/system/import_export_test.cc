// `eventbase export`, `eventbase import` and `eventbase watch --query` exactly as README names
// them, through the real client against eventbase-server and a real nats-server: an export is
// a backup that import restores (documents in their member order, JavaScript's number forms),
// over several cursor pages; a bad line stops an import with its line number, the lines before
// it imported; a live query prints the changes of documents entering, leaving and deleted.
#define CAF_SUITE import_export
#include "caf/test/unit_test.hpp"

#include <csignal>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/subprocess.hpp"
#include "support/nats_fixture.hpp"
#include "support/temp_dir.hpp"
#include "system/processes.hpp"

using namespace eventbase;
using namespace eventbase::test;
using ordered = nlohmann::ordered_json;

namespace {

constexpr int kDocuments = 2500;  // three export pages of 1,000

// The import line of document i: members deliberately not in alphabetical order, and values
// whose text JavaScript writes in one way only.
std::string import_line(int i) {
  return R"({"key":"k)" + std::to_string(10000 + i) + R"(","data":{"zeta":)" + std::to_string(i) +
         R"(,"alpha":{"y":[1,0.1,1e+21],"x":"é\n"},"mid":)" + (i % 2 ? "true" : "null") + "}}";
}

// The "data" text of document i as an export must print it.
std::string data_text(int i) {
  return R"({"zeta":)" + std::to_string(i) + R"(,"alpha":{"y":[1,0.1,1e+21],"x":"é\n"},"mid":)" +
         (i % 2 ? "true" : "null") + "}";
}

// The export lines without their "meta" (its dates differ between two imports), as text.
std::vector<std::string> without_meta(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (auto& line : lines) {
    auto doc = ordered::parse(line);
    doc.erase("meta");
    out.push_back(doc.dump());
  }
  return out;
}

}  // namespace

CAF_TEST(export is a backup that import restores) {
  temp_dir dir;
  auto server = must_start(dir.sub("db"), {"--nats=" + nats_server().url()});
  std::string a = unique_name("export"), b = unique_name("restore");
  std::string input;
  for (int i = 0; i < kDocuments; ++i) input += import_line(i) + "\n";
  auto imported = run_client(server->address(), {"import", a}, input);
  CAF_REQUIRE_EQUAL(imported.exit_code, 0);
  CAF_CHECK_EQUAL(imported.out, std::vector<std::string>{R"({"imported":2500})"});
  auto exported = run_client(server->address(), {"export", a});
  CAF_REQUIRE_EQUAL(exported.exit_code, 0);
  CAF_REQUIRE_EQUAL(exported.out.size(), size_t{kDocuments});
  for (int i = 0; i < kDocuments; ++i) {
    // Key order, members in their order, meta last.
    const auto& line = exported.out[static_cast<size_t>(i)];
    std::string head = R"({"key":"k)" + std::to_string(10000 + i) + R"(","data":)" + data_text(i) +
                       R"(,"meta":{"dateCreated":")";
    if (line.rfind(head, 0) != 0) CAF_FAIL("line " << i << ": " << line << " is not " << head);
  }
  // The export, fed to import (with its "meta", which import ignores), restores the documents.
  std::string backup;
  for (auto& line : exported.out) backup += line + "\n";
  auto restored = run_client(server->address(), {"import", b}, backup);
  CAF_CHECK_EQUAL(restored.out, std::vector<std::string>{R"({"imported":2500})"});
  auto again = run_client(server->address(), {"export", "--consistent", b});
  CAF_REQUIRE_EQUAL(again.exit_code, 0);
  CAF_CHECK(without_meta(again.out) == without_meta(exported.out));
  // An empty stream exports nothing.
  auto empty = run_client(server->address(), {"export", unique_name("empty")});
  CAF_CHECK_EQUAL(empty.exit_code, 0);
  CAF_CHECK(empty.out.empty());
  server->process().stop();
}

// Import sends many lines per message; with large documents its batches still fit in the
// messages a server accepts (--max-message-bytes, about 1 MiB by default).
CAF_TEST(large documents import in messages the server accepts) {
  temp_dir dir;
  auto server = must_start(dir.sub("db"), {"--nats=" + nats_server().url()});
  std::string s = unique_name("large");
  const int documents = 24;  // 200 KB each: 4.8 MB in all, 256 lines would be one message
  std::string input;
  for (int i = 0; i < documents; ++i)
    input += R"({"key":"big)" + std::to_string(i) + R"(","data":")" +
             std::string(200000, static_cast<char>('a' + i % 26)) + "\"}\n";
  auto imported = run_client(server->address(), {"import", s}, input);
  CAF_CHECK_EQUAL(imported.exit_code, 0);
  CAF_CHECK_EQUAL(imported.out, std::vector<std::string>{R"({"imported":24})"});
  auto counted = run_client(server->address(), {"count", "--consistent", s, "{}"});
  CAF_CHECK_EQUAL(counted.out, std::vector<std::string>{std::to_string(documents)});
  server->process().stop();
}

CAF_TEST(a bad line stops the import with its number and keeps the lines before) {
  temp_dir dir;
  auto server = must_start(dir.sub("db"), {"--nats=" + nats_server().url()});
  std::string s = unique_name("badline");
  std::string input;
  for (int i = 0; i < 100; ++i) input += import_line(i) + "\n";
  input += "\n";  // blank lines are skipped, but counted
  input += R"({"key":"x","data":1,"extra":2})"
           "\n";  // line 102
  input += import_line(200) + "\n";
  auto bad = run_client(server->address(), {"import", s}, input);
  CAF_CHECK_EQUAL(bad.exit_code, 1);
  CAF_CHECK(bad.out.empty());
  CAF_REQUIRE_EQUAL(bad.err.size(), 1u);
  CAF_CHECK(contains(bad.err[0], "line 102"));
  CAF_CHECK(contains(bad.err[0], "unknown member \"extra\""));
  CAF_CHECK(contains(bad.err[0], "100 documents imported before"));
  auto counted = run_client(server->address(), {"count", "--consistent", s, "{}"});
  CAF_CHECK_EQUAL(counted.out, std::vector<std::string>{"100"});
  // Other bad lines: no JSON, no key, a key that is no string, no data.
  for (auto [line, why] : std::vector<std::pair<std::string, std::string>>{
           {"{not json", "line 1"},
           {R"({"data":1})", "no \"key\""},
           {R"({"key":7,"data":1})", "\"key\" is no string"},
           {R"({"key":"k"})", "no \"data\""},
           {"[1,2]", "not a JSON object"}}) {
    auto r = run_client(server->address(), {"import", s}, line + "\n");
    CAF_CHECK_EQUAL(r.exit_code, 1);
    CAF_CHECK(!r.err.empty() && contains(r.err[0], why) && contains(r.err[0], "line 1"));
  }
  server->process().stop();
}

CAF_TEST(watch query prints documents entering leaving and deleted) {
  temp_dir dir;
  auto server = must_start(dir.sub("db"), {"--nats=" + nats_server().url()});
  std::string s = unique_name("livequery");
  auto put = [&](const std::string& key, const std::string& doc) {
    CAF_CHECK_EQUAL(run_client(server->address(), {"put", s, key, doc}).exit_code, 0);
  };
  put("in", R"({"age":50})");
  auto watch = start_watch(server->address(), {"--query={\"age\":{\"$gte\":30}}", s});
  put("out", R"({"age":5})");  // not delivered
  put("y", R"({"age":40})");   // enters
  put("y", R"({"age":20})");   // leaves
  put("y", R"({"age":21})");   // not delivered
  CAF_CHECK_EQUAL(run_client(server->address(), {"delete", s, "in"}).exit_code, 0);  // deleted
  put("end", R"({"age":99})");
  auto last = watch->wait_for_stdout(
      [](const std::string& l) { return contains(l, R"("key":"end")"); }, std::chrono::seconds(20));
  CAF_REQUIRE(last.has_value());
  std::vector<std::string> seen;
  for (auto& line : watch->output()) {
    auto change = ordered::parse(line);
    seen.push_back(change["key"].get<std::string>() + " " + change["data"].dump() + " " +
                   change["event"]["oldData"].dump());
  }
  CAF_CHECK_EQUAL(seen,
                  (std::vector<std::string>{R"(y {"age":40} null)", R"(y {"age":20} {"age":40})",
                                            R"(in null {"age":50})", R"(end {"age":99} null)"}));
  watch->signal(SIGINT);
  CAF_CHECK_EQUAL(watch->wait(std::chrono::seconds(20)).value_or(-1), 0);
  // A bad filter: exit 1 with the filter's error; a glob and --query together: usage.
  auto bad = run_client(server->address(), {"watch", "--query={\"age\":{\"$nope\":1}}", s});
  CAF_CHECK_EQUAL(bad.exit_code, 1);
  CAF_CHECK(!bad.err.empty() && contains(bad.err[0], "unknown operator '$nope'"));
  auto both = run_client(server->address(), {"watch", "--query={}", s, "*"});
  CAF_CHECK_EQUAL(both.exit_code, 2);
  server->process().stop();
}
