// The stream actor's query cursors (cursor_atom) and live queries (subscribe_atom + query_atom),
// on CAF's deterministic scheduler: pages equal the one-shot answer, cursors are bounded in
// number and expire, live queries see documents enter, leave and go.
#define CAF_SUITE query_cursors
#include "actors/stream_actor_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;

namespace {

// Records every change (key and whether it came with a new record) and how the subscription
// ended.
struct live_log {
  std::vector<std::string> keys;
  std::string ended;
};

subscriber_actor spawn_logger(caf::actor_system& sys, std::shared_ptr<live_log> log) {
  return sys.spawn([log](subscriber_actor::pointer) -> subscriber_actor::behavior_type {
    return {
        [log](change_atom, change& c) {
          log->keys.push_back(c.key + (c.record.empty() ? " deleted" : ""));
          return ok_atom::value;
        },
        [log](ended_atom, uint64_t, caf::error& why) { log->ended = to_status(why).to_string(); },
    };
  });
}

struct cursor_fixture : stream_actor_fixture {
  uint64_t seq = 0;

  // Stores `n` documents k100.. with {"n": i % 7, "i": i}.
  void fill(int n) {
    for (int i = 0; i < n; ++i)
      deliver(++seq, "orders.a-put",
              js_put("k" + std::to_string(100 + i),
                     R"({"n":)" + std::to_string(i % 7) + R"(,"i":)" + std::to_string(i) + "}"));
  }

  void put(const std::string& key, const std::string& data) {
    deliver(++seq, "orders.a-put", js_put(key, data));
  }

  void erase(const std::string& key) {
    deliver(++seq, "orders.a-delete", R"({"type":"DELETE","id":")" + key + R"(","timestamp":1})");
  }

  // Every page of a cursor for (filter, options), concatenated: keys and data.
  std::pair<std::vector<std::string>, std::vector<json>> paged(const std::string& filter,
                                                               const std::string& query_options,
                                                               uint64_t page_size) {
    std::pair<std::vector<std::string>, std::vector<json>> out;
    auto page =
        ask<query_page>(cursor_atom::value, open_atom::value, filter, query_options, page_size);
    for (int pages = 0; pages < 1000; ++pages) {
      CAF_REQUIRE(page.ok());
      auto got = page.value();
      CAF_CHECK_LESS_OR_EQUAL(got.keys.size(), page_size);
      for (size_t i = 0; i < got.keys.size(); ++i) {
        out.first.push_back(got.keys[i]);
        out.second.push_back(data_of(got.records[i]));
      }
      if (got.cursor == 0) break;
      page = ask<query_page>(cursor_atom::value, got.cursor);
    }
    return out;
  }

  std::pair<std::vector<std::string>, std::vector<json>> whole(const std::string& filter,
                                                               const std::string& query_options) {
    auto reply = ask<query_reply>(query_atom::value, filter, query_options).value();
    std::pair<std::vector<std::string>, std::vector<json>> out;
    out.first = reply.keys;
    for (auto& record : reply.records) out.second.push_back(data_of(record));
    return out;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(query_cursor_tests, cursor_fixture)

CAF_TEST(cursor pages give the one shot answer in order) {
  open();
  fill(50);
  const std::pair<std::string, std::string> cases[] = {
      {"{}", "{}"},
      {R"({"n":3})", "{}"},
      {R"({"n":{"$gte":2}})", R"({"offset":4,"limit":11})"},
      {R"({"n":{"$lt":5}})", R"({"sort":{"n":-1,"i":1}})"},
      {R"({"n":{"$lt":5}})", R"({"sort":{"n":1},"limit":9,"offset":2,"project":{"i":1}})"},
      {R"({"n":{"$ne":1}})", R"({"project":{"n":1},"offset":45})"},
      {R"({"n":99})", "{}"},
  };
  for (auto& [filter, query_options] : cases) {
    auto expected = whole(filter, query_options);
    for (uint64_t page_size : {1, 3, 8, 1000}) {
      CAF_MESSAGE(filter << " " << query_options << " in pages of " << page_size);
      auto got = paged(filter, query_options, page_size);
      CAF_CHECK_EQUAL(got.first, expected.first);
      CAF_CHECK(got.second == expected.second);
    }
  }
}

CAF_TEST(a cursor reads the replica as it was when it opened) {
  open();
  fill(10);
  auto first = ask<query_page>(cursor_atom::value, open_atom::value, std::string("{}"),
                               std::string(""), uint64_t{4});
  CAF_REQUIRE(first.ok());
  put("k000", "{}");  // before every key: not in the snapshot
  auto second = ask<query_page>(cursor_atom::value, first.value().cursor).value();
  CAF_CHECK_EQUAL(second.keys.front(), "k104");
}

CAF_TEST(cursors are bounded in number and closed when idle) {
  options.max_cursors = 2;
  options.cursor_idle_timeout = std::chrono::seconds(5);
  open();
  fill(10);
  auto open_one = [&] {
    return ask<query_page>(cursor_atom::value, open_atom::value, std::string("{}"), std::string(""),
                           uint64_t{2});
  };
  auto a = open_one(), b = open_one(), c = open_one();
  CAF_REQUIRE(a.ok() && b.ok());
  CAF_CHECK_EQUAL(c.error_code(), errc::unavailable);
  CAF_CHECK(ask<ok_atom>(cursor_atom::value, close_atom::value, a.value().cursor).ok());
  auto d = open_one();
  CAF_REQUIRE(d.ok());
  auto closed_twice = ask<ok_atom>(cursor_atom::value, close_atom::value, a.value().cursor);
  CAF_CHECK_EQUAL(closed_twice.error_code(), errc::not_found);
  // b is used now and then, d never again: only d expires.
  advance_time(std::chrono::seconds(3));
  CAF_CHECK(ask<query_page>(cursor_atom::value, b.value().cursor).ok());
  advance_time(std::chrono::seconds(3));
  auto expired = ask<query_page>(cursor_atom::value, d.value().cursor);
  CAF_CHECK_EQUAL(expired.error_code(), errc::not_found);
  CAF_CHECK(ask<query_page>(cursor_atom::value, b.value().cursor).ok());
  // An exhausted cursor is closed by its last page.
  auto rest = ask<query_page>(cursor_atom::value, open_atom::value, std::string("{}"),
                              std::string(""), uint64_t{100});
  auto last = rest.value();
  CAF_CHECK_EQUAL(last.cursor, 0u);
  CAF_CHECK_EQUAL(last.keys.size(), 10u);
}

// What a query asked through the actor may hold at once is bounded (a peer's sort, or a query
// without limit, would otherwise hold a whole stream): beyond it, too_large; within it, or
// paged without a sort, the same answers as ever.
CAF_TEST(a query holding more than its bound fails while unsorted paging works) {
  options.max_query_bytes = 600;  // about 15 of fill()'s records (keys and records)
  open();
  fill(50);
  auto expect_too_large = [](const auto& reply) {
    CAF_REQUIRE(reply.arrived());
    CAF_REQUIRE(!reply.ok());
    CAF_CHECK_EQUAL(reply.error_code(), errc::too_large);
  };
  auto everything = ask<query_reply>(query_atom::value, std::string("{}"), std::string("{}"));
  expect_too_large(everything);
  auto sorted = ask<query_page>(cursor_atom::value, open_atom::value, std::string("{}"),
                                std::string(R"({"sort":{"i":-1}})"), uint64_t{5});
  expect_too_large(sorted);
  auto explained = ask<std::string>(explain_atom::value, std::string("{}"), std::string("{}"));
  expect_too_large(explained);
  // Within the bound: a limit, a sort with a limit (it keeps twice the answer at most), a count.
  auto limited =
      ask<query_reply>(query_atom::value, std::string("{}"), std::string(R"({"limit":5})"));
  CAF_REQUIRE(limited.ok());
  CAF_CHECK_EQUAL(limited.value().keys.size(), 5u);
  auto top = ask<query_reply>(query_atom::value, std::string("{}"),
                              std::string(R"({"sort":{"i":-1},"limit":3})"));
  CAF_REQUIRE(top.ok());
  CAF_CHECK_EQUAL(top.value().keys, (std::vector<std::string>{"k149", "k148", "k147"}));
  CAF_CHECK_EQUAL(ask<uint64_t>(count_atom::value, std::string("{}")).value(), 50u);
  // An unsorted cursor hands over page by page: all 50.
  auto pages = paged("{}", "{}", 5);
  CAF_CHECK_EQUAL(pages.first.size(), 50u);
}

CAF_TEST(a bad filter fails the cursor open) {
  open();
  auto bad = ask<query_page>(cursor_atom::value, open_atom::value, std::string(R"({"$x":1})"),
                             std::string(""), uint64_t{10});
  CAF_CHECK_EQUAL(bad.error_code(), errc::invalid_argument);
}

CAF_TEST(live queries get documents entering changing leaving and deleted) {
  open();
  put("before", R"({"age":50})");
  auto log = std::make_shared<live_log>();
  auto who = spawn_logger(sys, log);
  CAF_REQUIRE(ask<uint64_t>(subscribe_atom::value, query_atom::value,
                            std::string(R"({"age":{"$gte":30}})"), who)
                  .ok());
  put("x", R"({"age":10})");      // outside before and after: not delivered
  put("y", R"({"age":40})");      // enters
  put("y", R"({"age":45})");      // changes inside
  put("y", R"({"age":20})");      // leaves
  put("y", R"({"age":25})");      // outside again: not delivered
  erase("before");                // deleted from the set
  erase("x");                     // deleted outside: not delivered
  put("z", R"({"name":"Ada"})");  // no age at all: not delivered
  CAF_CHECK_EQUAL(log->keys, (std::vector<std::string>{"y", "y", "y", "before deleted"}));
  CAF_CHECK_EQUAL(log->ended, "");
}

CAF_TEST(a stream holds a bounded number of live queries) {
  options.max_live_queries = 2;
  open();
  auto log = std::make_shared<live_log>();
  auto who = spawn_logger(sys, log);
  auto subscribe = [&] {
    return ask<uint64_t>(subscribe_atom::value, query_atom::value, std::string("{}"), who);
  };
  auto first = subscribe();
  CAF_REQUIRE(first.ok() && subscribe().ok());
  CAF_CHECK_EQUAL(subscribe().error_code(), errc::unavailable);
  CAF_CHECK(ask<uint64_t>(subscribe_atom::value, std::string("*"), who).ok());  // globs: no
  CAF_CHECK(ask<ok_atom>(unsubscribe_atom::value, first.value()).ok());
  CAF_CHECK(subscribe().ok());
}

CAF_TEST(live queries refuse bad filters and end when matching fails) {
  open();
  auto log = std::make_shared<live_log>();
  auto who = spawn_logger(sys, log);
  auto bad = ask<uint64_t>(subscribe_atom::value, query_atom::value,
                           std::string(R"({"age":{"$near":1}})"), who);
  CAF_CHECK_EQUAL(bad.error_code(), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(bad.error_message().find("$near"), std::string::npos);
  CAF_REQUIRE(ask<uint64_t>(subscribe_atom::value, query_atom::value,
                            std::string(R"({"s":{"$regex":"^(a+)+$"}})"), who)
                  .ok());
  put("fine", R"({"s":"aaa"})");
  put("slow", R"({"s":")" + std::string(40, 'a') + R"(!"})");
  put("later", R"({"s":"a"})");
  CAF_CHECK_EQUAL(log->keys, (std::vector<std::string>{"fine"}));
  CAF_CHECK_NOT_EQUAL(log->ended.find("live query ended"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(log->ended.find("regex too complex"), std::string::npos);
  auto st = status();
  CAF_CHECK_EQUAL(st.subscriptions, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
