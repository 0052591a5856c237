#pragma once

#include <string>
#include <utility>
#include <variant>

namespace provbridge {

// What a caller may do about a failure, decided where it happened and carried with it, so
// nobody has to parse a message to tell a retryable failure from a final one.
enum class ErrorKind {
    Transient,  // the dependency is unreachable or timed out: the same call may succeed later
    Permanent,  // the input or the request is wrong: repeating it gives the same answer
    Auth,       // credentials were refused
    TooLarge,   // a message exceeds a size limit (a permanent failure the caller can shrink)
};

// A failure carried as a value on the hot path; exceptions are for start-up only.
struct Error {
    std::string message;
    ErrorKind kind = ErrorKind::Transient;
};

// Holds either a value or an Error. std::expected is C++23; this is the subset we need.
template <class T>
class Result {
public:
    Result(T value) : state_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
    Result(Error error) : state_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    [[nodiscard]] const Error& error() const { return std::get<1>(state_); }

private:
    std::variant<T, Error> state_;
};

inline Error make_error(std::string message, ErrorKind kind = ErrorKind::Transient) {
    return Error{std::move(message), kind};
}

}  // namespace provbridge
