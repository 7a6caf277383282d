// Explicit errors for every Eventbase operation.
//
// A `status` is either ok or carries an error code and a human-readable message that names the
// offending input ("key must not be empty", "invalid regex 'a(': ..."). Operations that produce a
// value return `result<T>`, which holds either the value or a non-ok status. Nothing in Eventbase
// throws across its public API except `result<T>::value()` on an error (bad_result_access), for
// callers who prefer exceptions.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace eventbase {

/// What went wrong. The numeric values are part of the wire protocol (they travel inside
/// caf::error between nodes): append new codes, never renumber.
enum class errc : uint8_t {
  ok = 0,
  invalid_argument = 1,  // bad key, document, regex, glob, stream name or option
  too_large = 2,         // key or document over its documented limit
  closed = 3,            // the instance or stream was closed
  not_ready = 4,         // the stream is still opening
  timeout = 5,           // no answer within the operation timeout; the outcome may be unknown
  unavailable = 6,       // NATS or JetStream cannot be reached or refused the request
  storage = 7,           // the local RocksDB replica failed
  corrupt = 8,           // stored or received data could not be decoded
  internal = 9,          // a bug: an invariant did not hold
  not_found = 10,        // a named stream or subscription does not exist
  unauthenticated = 11,  // TLS or credentials refused: a peer's certificate, a NATS password
  conflict = 12,         // a conditional write's condition did not hold: nothing was written
  compacted = 13,        // a read at a revision the stream's history no longer holds
};

/// Stable lower-case name of a code, e.g. "invalid_argument".
const char* to_string(errc code);

class status {
 public:
  status() = default;
  status(errc code, std::string message) : code_(code), message_(std::move(message)) {}

  /// The ok status (LevelDB's Status::OK()): OK() builds one, ok() tests one.
  static status OK() { return status(); }

  bool ok() const { return code_ == errc::ok; }
  explicit operator bool() const { return ok(); }
  errc code() const { return code_; }
  const std::string& message() const { return message_; }

  /// "invalid_argument: key must not be empty", or "ok".
  std::string to_string() const;

 private:
  errc code_ = errc::ok;
  std::string message_;
};

/// Thrown only by `result<T>::value()` when the result holds an error.
class bad_result_access : public std::runtime_error {
 public:
  explicit bad_result_access(status st)
      : std::runtime_error(st.to_string()), status_(std::move(st)) {}
  const status& error() const { return status_; }

 private:
  status status_;
};

/// A value of type T or the status that explains why there is none.
template <class T>
class result {
 public:
  result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  result(status st) : state_(std::move(st)) {    // NOLINT: implicit by design
    if (std::get<status>(state_).ok())
      state_ = status(errc::internal, "result constructed from an ok status");
  }

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  /// The error; an ok status when the result holds a value.
  status error() const { return ok() ? status() : std::get<status>(state_); }

  /// The value; throws bad_result_access when the result holds an error.
  T& value() & {
    throw_if_error();
    return std::get<T>(state_);
  }
  const T& value() const& {
    throw_if_error();
    return std::get<T>(state_);
  }
  T value() && {  // by value: no reference into a temporary result can dangle
    throw_if_error();
    return std::get<T>(std::move(state_));
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void throw_if_error() const {
    if (!ok()) throw bad_result_access(std::get<status>(state_));
  }

  std::variant<T, status> state_;
};

}  // namespace eventbase
