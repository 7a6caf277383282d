// key_pattern on PCRE2: compile options and limits (see the header for the dialect), the
// per-thread match scratch space, the literal prefix scanner and the compiled-pattern cache.
#include "protocol/key_pattern.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>

#include "protocol/utf8.hpp"

namespace eventbase::protocol {

namespace {

/// Longest excerpt of a pattern or key quoted in an error message, in bytes.
constexpr size_t kMaxQuotedBytes = 200;

/// `text` for an error message: at most kMaxQuotedBytes bytes (then "..."), whole characters,
/// control characters and bytes that are not UTF-8 written as \xHH, so messages stay valid UTF-8.
std::string quoted(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  size_t i = 0;
  while (i < text.size() && out.size() < kMaxQuotedBytes) {
    size_t len = utf8_length(text, i);
    auto c = static_cast<unsigned char>(text[i]);
    if (len == 0 || c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xF];
      ++i;
    } else {
      out.append(text, i, len);
      i += len;
    }
  }
  if (i < text.size()) out += "...";
  return out;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof buffer);
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n));
}

// ---- literal prefix scanner ----

constexpr size_t npos = std::string_view::npos;

bool is_ascii_punct(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

/// The index of the ']' that closes the class opening at p[i] == '[', or npos when the class
/// does not close or holds a construct the scanner does not model (\Q...\E, POSIX classes).
/// As compiled (PCRE2_ALLOW_EMPTY_CLASS, like JavaScript), "[]" and "[^]" are complete classes.
size_t class_end(std::string_view p, size_t i) {
  size_t j = i + 1;
  if (j < p.size() && p[j] == '^') ++j;
  if (j < p.size() && p[j] == ']') return j;
  for (; j < p.size(); ++j) {
    char c = p[j];
    if (c == '\\') {
      if (j + 1 < p.size() && p[j + 1] == 'Q') return npos;
      j += (j + 1 < p.size() && p[j + 1] == 'c') ? 2 : 1;  // "\cX": X belongs to the escape
    } else if (c == '[' && j + 1 < p.size() && std::strchr(":.=", p[j + 1]) != nullptr) {
      return npos;  // [:alpha:] and friends
    } else if (c == ']') {
      return j;
    }
  }
  return npos;
}

/// Whether "(?" followed by p[j...] opens a group whose contents the scanner can skip like any
/// other group: non-capturing, lookaround, atomic, branch reset, named. Comments "(?#...)",
/// inline options ("(?x)" changes what '#' and spaces mean), recursion and conditionals are not.
bool plain_group_after_question_mark(std::string_view p, size_t j) {
  if (j >= p.size()) return false;
  char c = p[j];
  if (c == ':' || c == '=' || c == '!' || c == '>' || c == '|' || c == '<' || c == '\'')
    return true;
  return c == 'P' && j + 1 < p.size() && p[j + 1] == '<';
}

/// True when `p` certainly has no '|' outside every group and class, so a leading '^' anchors
/// the whole pattern.
bool no_top_level_alternation(std::string_view p) {
  int depth = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      if (i + 1 < p.size() && p[i + 1] == 'Q') return false;  // \Q...\E quotes anything
      // "\cX" is one escape of three characters, whatever X is ("\c(" opens no group).
      i += (i + 1 < p.size() && p[i + 1] == 'c') ? 2 : 1;
    } else if (c == '[') {
      i = class_end(p, i);
      if (i == npos) return false;
    } else if (c == '(') {
      if (i + 1 < p.size() && p[i + 1] == '*') return false;  // (*VERB)
      if (i + 1 < p.size() && p[i + 1] == '?' && !plain_group_after_question_mark(p, i + 2))
        return false;
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) return false;  // not a valid pattern
    } else if (c == '|' && depth == 0) {
      return false;
    }
  }
  return true;
}

struct prefix_scan {
  std::string prefix;
  bool whole_pattern = false;  // the pattern is '^' followed by exactly this literal
};

prefix_scan scan_literal_prefix(std::string_view p) {
  prefix_scan out;
  if (p.empty() || p[0] != '^' || !no_top_level_alternation(p)) return out;
  size_t last = npos;  // where the last whole character starts in out.prefix
  size_t i = 1;
  while (i < p.size()) {
    char c = p[i];
    // Constructs PCRE2 reads as nothing at all (\E outside \Q, a comment, an option setting)
    // let a quantifier after them apply to the character before them ("^b\E*" is "^b*"):
    // that character is not required.
    bool nothing = (c == '\\' && i + 1 < p.size() && p[i + 1] == 'E') ||
                   (c == '(' && i + 2 < p.size() && p[i + 1] == '?' &&
                    std::strchr(":=!<|>", p[i + 2]) == nullptr);
    if (nothing) {
      if (last != npos) out.prefix.resize(last);
      return out;
    }
    if (c == '\\') {
      if (i + 1 < p.size() && is_ascii_punct(p[i + 1])) {  // "\." is a literal '.'
        last = out.prefix.size();
        out.prefix += p[i + 1];
        i += 2;
        continue;
      }
      return out;  // \d, \u0041, \1, ...: not a literal this scanner reads
    }
    if (c == '?' || c == '*' || c == '{') {
      // The quantifier makes the last character optional (or repeats it an unknown number of
      // times, perhaps zero): it is not required.
      if (last != npos) out.prefix.resize(last);
      return out;
    }
    if (std::strchr("^$.|+()[]}", c) != nullptr) return out;  // '+' keeps the last character
    size_t len = utf8_length(p, i);
    if (len == 0) return out;  // not UTF-8: such a pattern does not compile anyway
    // U+FFFD also matches the bytes of a key that are not UTF-8, which do not start with it.
    if (p.compare(i, len, "\xEF\xBF\xBD") == 0) return out;
    last = out.prefix.size();
    out.prefix.append(p, i, len);
    i += len;
  }
  out.whole_pattern = true;
  return out;
}

// ---- PCRE2 compile and match ----

constexpr uint32_t kCompileOptions = PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY |
                                     PCRE2_ALLOW_EMPTY_CLASS | PCRE2_MATCH_UNSET_BACKREF |
                                     PCRE2_NEVER_BACKSLASH_C | PCRE2_NEVER_UCP;

/// Shared by every compilation; PCRE2 only reads it. Never freed.
pcre2_compile_context* compile_context() {
  static pcre2_compile_context* context = [] {
    pcre2_compile_context* c = pcre2_compile_context_create(nullptr);
    if (c == nullptr) return c;
    pcre2_set_compile_extra_options(c, PCRE2_EXTRA_ALT_BSUX);
    pcre2_set_newline(c, PCRE2_NEWLINE_ANYCRLF);
    pcre2_set_parens_nest_limit(c, kMaxParensNesting);
    pcre2_set_max_pattern_length(c, kMaxPatternBytes);
    return c;
  }();
  return context;
}

/// What one thread needs to match: a match data with one ovector pair (only "did it match" is
/// asked), a match context with the limits, the JIT stack it points to, and a buffer for keys
/// that are not UTF-8. Made on a thread's first match, freed when the thread ends; never shared
/// between threads.
struct match_scratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  std::string repaired_key;

  match_scratch() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(kJitStackStartBytes, kJitStackMaxBytes, nullptr);
    if (context != nullptr) {
      pcre2_set_match_limit(context, kMatchLimit);
      pcre2_set_depth_limit(context, kDepthLimit);
      pcre2_set_heap_limit(context, kHeapLimitKiB);
      // Without a stack of its own JIT code uses 32 KiB of the machine stack.
      if (jit_stack != nullptr) pcre2_jit_stack_assign(context, nullptr, jit_stack);
    }
  }
  ~match_scratch() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
  match_scratch(const match_scratch&) = delete;
  match_scratch& operator=(const match_scratch&) = delete;
};

match_scratch* thread_scratch() {
  thread_local match_scratch scratch;
  return scratch.data != nullptr && scratch.context != nullptr ? &scratch : nullptr;
}

bool is_limit_error(int rc) {
  return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
         rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT;
}

bool is_complexity_compile_error(int code) {
  return code == PCRE2_ERROR_PARENTHESES_NEST_TOO_DEEP || code == PCRE2_ERROR_PATTERN_TOO_LARGE ||
         code == PCRE2_ERROR_PATTERN_TOO_COMPLICATED || code == PCRE2_ERROR_HEAP_FAILED;
}

}  // namespace

struct key_pattern::compiled {
  enum class kind { all, prefix, regex };

  std::string pattern;
  std::string prefix;
  kind how = kind::all;
  pcre2_code* code = nullptr;  // only for kind::regex
  bool jit = false;            // code is JIT-compiled: match with pcre2_jit_match

  compiled() = default;
  compiled(const compiled&) = delete;
  compiled& operator=(const compiled&) = delete;
  ~compiled() { pcre2_code_free(code); }
};

std::string regex_literal_prefix(std::string_view pattern) {
  return scan_literal_prefix(pattern).prefix;
}

key_pattern::key_pattern() {
  static const std::shared_ptr<const compiled> empty = std::make_shared<const compiled>();
  impl_ = empty;
}

result<key_pattern> key_pattern::compile(std::string pattern) {
  if (pattern.empty()) return key_pattern();
  if (pattern.size() > kMaxPatternBytes) {
    return status(errc::invalid_argument,
                  "regex too complex: the pattern is " + std::to_string(pattern.size()) +
                      " bytes, the limit is " + std::to_string(kMaxPatternBytes) + " bytes: '" +
                      quoted(pattern) + "'");
  }
  if (pattern.compare(0, 2, "(*") == 0) {
    // Start-of-pattern settings: (*NO_JIT) would run the interpreter, ten times slower per
    // backtracking step, (*NO_START_OPT) would drop the optimisations that answer many
    // catastrophic patterns at once. Not JavaScript either ("(*" is a syntax error there).
    return status(errc::invalid_argument,
                  "invalid regex '" + quoted(pattern) +
                      "': PCRE2 start-of-pattern settings such as (*NO_JIT) are not accepted at "
                      "offset 0");
  }
  pcre2_compile_context* context = compile_context();
  if (context == nullptr) return status(errc::internal, "cannot allocate a PCRE2 compile context");
  auto out = std::make_shared<compiled>();
  out->pattern = std::move(pattern);
  // Compiled even when it is a plain prefix: that validates it (UTF-8, syntax).
  int code = 0;
  PCRE2_SIZE offset = 0;
  out->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(out->pattern.data()), out->pattern.size(),
                            kCompileOptions, &code, &offset, context);
  if (out->code == nullptr) {
    std::string message = "invalid regex '" + quoted(out->pattern) + "': " + pcre2_message(code) +
                          " at offset " + std::to_string(offset);
    if (code == PCRE2_ERROR_PARENTHESES_NEST_TOO_DEEP) {
      message += " (regex too complex: groups nest at most " + std::to_string(kMaxParensNesting) +
                 " deep)";
    } else if (is_complexity_compile_error(code)) {
      message += " (regex too complex)";
    }
    return status(errc::invalid_argument, std::move(message));
  }
  prefix_scan scan = scan_literal_prefix(out->pattern);
  out->prefix = std::move(scan.prefix);
  if (scan.whole_pattern) {
    // "^user:": matching is a prefix test ("^": every key).
    out->how = out->prefix.empty() ? compiled::kind::all : compiled::kind::prefix;
    pcre2_code_free(out->code);
    out->code = nullptr;
  } else {
    out->how = compiled::kind::regex;
    // Without JIT (unsupported platform or pattern, out of memory) the interpreter runs under
    // the same limits. pcre2_jit_compile can succeed without making JIT code (it does for
    // "(*NO_JIT)"), and pcre2_jit_match must never run on code that has none: ask for its size.
    size_t jit_size = 0;
    out->jit = pcre2_jit_compile(out->code, PCRE2_JIT_COMPLETE) == 0 &&
               pcre2_pattern_info(out->code, PCRE2_INFO_JITSIZE, &jit_size) == 0 && jit_size > 0;
  }
  return key_pattern(std::move(out));
}

result<bool> key_pattern::matches(std::string_view key) const {
  const compiled& c = *impl_;
  if (c.how == compiled::kind::all) return true;
  if (c.how == compiled::kind::prefix) {
    return key.size() >= c.prefix.size() &&
           std::memcmp(key.data(), c.prefix.data(), c.prefix.size()) == 0;
  }
  match_scratch* scratch = thread_scratch();
  if (scratch == nullptr) return status(errc::internal, "cannot allocate PCRE2 match data");
  // PCRE2 only ever sees valid UTF-8 (pcre2_jit_match does not check, and its behaviour on
  // invalid input is undefined): bytes that are not UTF-8 are read as U+FFFD, as a JavaScript
  // node decoding the key would.
  std::string_view text = key.data() != nullptr ? key : std::string_view("", 0);
  size_t bad = first_invalid_utf8(text);
  if (bad != text.size()) text = replace_invalid_utf8(text, bad, scratch->repaired_key);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc =
      c.jit ? pcre2_jit_match(c.code, subject, text.size(), 0, 0, scratch->data, scratch->context)
            : pcre2_match(c.code, subject, text.size(), 0, PCRE2_NO_UTF_CHECK, scratch->data,
                          scratch->context);
  if (rc >= 0) return true;  // 0: matched, the ovector was too small for the groups
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (is_limit_error(rc)) {
    return status(errc::invalid_argument, "regex too complex: '" + quoted(c.pattern) +
                                              "' exceeded the match limit on key '" + quoted(key) +
                                              "' (" + pcre2_message(rc) + ")");
  }
  return status(errc::invalid_argument, "regex '" + quoted(c.pattern) +
                                            "' could not be evaluated on key '" + quoted(key) +
                                            "': " + pcre2_message(rc));
}

const std::string& key_pattern::literal_prefix() const {
  return impl_->prefix;
}

bool key_pattern::matches_all() const {
  return impl_->how == compiled::kind::all;
}

const std::string& key_pattern::pattern() const {
  return impl_->pattern;
}

// ---- cache ----

struct key_pattern_cache::state {
  mutable std::mutex mutex;
  std::list<key_pattern> lru;  // most recently used first
  // Keys view the pattern text inside the compiled patterns held by `lru`.
  std::unordered_map<std::string_view, std::list<key_pattern>::iterator> index;
};

key_pattern_cache::key_pattern_cache(size_t capacity)
    : capacity_(capacity), state_(std::make_unique<state>()) {}

key_pattern_cache::~key_pattern_cache() = default;

result<key_pattern> key_pattern_cache::compile(const std::string& pattern) {
  state& s = *state_;
  {
    std::lock_guard<std::mutex> guard(s.mutex);
    auto found = s.index.find(pattern);
    if (found != s.index.end()) {
      s.lru.splice(s.lru.begin(), s.lru, found->second);
      return *found->second;
    }
  }
  // Compiled outside the lock: JIT compilation of a large pattern takes a while.
  auto compiled = key_pattern::compile(pattern);
  if (!compiled.ok() || capacity_ == 0) return compiled;
  std::lock_guard<std::mutex> guard(s.mutex);
  auto found = s.index.find(pattern);
  if (found != s.index.end()) {  // another thread compiled it meanwhile: share one
    s.lru.splice(s.lru.begin(), s.lru, found->second);
    return *found->second;
  }
  s.lru.push_front(*compiled);
  s.index.emplace(s.lru.front().pattern(), s.lru.begin());
  if (s.lru.size() > capacity_) {
    s.index.erase(s.lru.back().pattern());
    s.lru.pop_back();
  }
  return compiled;
}

size_t key_pattern_cache::size() const {
  std::lock_guard<std::mutex> guard(state_->mutex);
  return state_->lru.size();
}

}  // namespace eventbase::protocol
