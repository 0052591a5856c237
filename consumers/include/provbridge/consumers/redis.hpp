#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "provbridge/core/config.hpp"
#include "provbridge/core/result.hpp"

// hiredis types stay opaque here: only the adapter sources include <hiredis/hiredis.h>.
struct redisContext;
struct redisReply;
struct redisReader;

namespace provbridge::consumers {

struct RedisOptions {
    std::string host = "127.0.0.1";
    int port = 6379;
    int database = 0;
    std::string password;  // empty: no AUTH
    // Connect timeout, and read/write timeout of every command.
    std::chrono::milliseconds timeout{2000};
};

// The connection settings of a configuration; the password is resolved by the caller.
RedisOptions redis_options(const RedisConfig& config, const std::string& password);

struct RedisContextDeleter {
    void operator()(redisContext* context) const;
};
using RedisContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;

struct RedisReplyDeleter {
    void operator()(redisReply* reply) const;
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

struct RedisReaderDeleter {
    void operator()(redisReader* reader) const;
};
using RedisReaderPtr = std::unique_ptr<redisReader, RedisReaderDeleter>;

// Why a Redis call failed. Io and Timeout are transient (the connection is dropped and
// re-established on the next call); Reply is the server refusing a command (WRONGTYPE,
// NOSCRIPT, …) on a healthy connection; Protocol is a garbled stream.
enum class RedisErrorKind { Io, Timeout, Reply, Protocol };
std::string_view to_string(RedisErrorKind kind);

// Errors produced here read "redis <kind>: <context>: <detail>"; this recovers the kind.
// nullopt for an Error that did not come from this layer.
std::optional<RedisErrorKind> redis_error_kind(const Error& error);
Error make_redis_error(RedisErrorKind kind, std::string_view context, std::string_view detail);

// One command as binary-safe arguments (sent with redisCommandArgv: no format strings).
using RedisArgv = std::vector<std::string>;

// A reply copied out of hiredis into plain values, for callers outside the adapter files.
struct RedisValue {
    enum class Type { Nil, String, Status, Integer, Array, Error };
    Type type = Type::Nil;
    std::string str;  // String, Status, Error
    std::int64_t integer = 0;
    std::vector<RedisValue> elements;

    bool is_nil() const { return type == Type::Nil; }
};

RedisValue to_value(const redisReply& reply);

// Decodes one RESP2 reply from raw bytes with hiredis' reader (no connection involved).
Result<RedisValue> parse_resp(std::string_view bytes);

// One synchronous hiredis connection. Move-only; not thread-safe (one owner thread).
//
// A connection whose socket failed (I/O error, timeout, EOF, protocol error) is marked broken
// and re-established lazily on the next call. A call that finds a connection which died
// while idle (the server closed it: restart, CLIENT KILL, idle timeout) reconnects once and
// resends, so callers only see an Error when the server really cannot be reached or a
// command failed while in flight. SIGPIPE is blocked on the calling thread while writing.
class RedisConnection {
public:
    // Connects (redisConnectWithTimeout + redisSetTimeout), AUTHs when a password is set and
    // SELECTs the database. Start-up only: throws std::runtime_error naming host:port and the
    // reason (never the password).
    explicit RedisConnection(RedisOptions options);

    RedisConnection(RedisConnection&&) noexcept;
    RedisConnection& operator=(RedisConnection&&) noexcept;
    ~RedisConnection();

    // Runs one command. A REDIS_REPLY_ERROR becomes an Error of kind Reply. `extra_timeout`
    // raises the socket read timeout for this call only (for XREAD BLOCK and friends).
    Result<RedisReplyPtr> command(const RedisArgv& argv,
                                  std::chrono::milliseconds extra_timeout = {});

    // Same as command(), with the reply copied into a RedisValue.
    Result<RedisValue> call(const RedisArgv& argv, std::chrono::milliseconds extra_timeout = {});

    // Pipelining: queue commands locally, then send them all and read every reply in one round
    // trip. Replies come back in order; an error reply to one command is returned as that
    // command's reply (type REDIS_REPLY_ERROR), not as an Error. The queue is emptied either way.
    void append(RedisArgv argv);
    std::size_t pending() const { return pending_.size(); }
    Result<std::vector<RedisReplyPtr>> get_replies();

    // Drops the socket now; the next call reconnects. Used when a caller gave up mid-protocol.
    void disconnect();
    // Connects again now (closing any current socket).
    Result<bool> reconnect();

    bool broken() const;
    const RedisOptions& options() const { return options_; }
    std::string endpoint() const;  // host:port, for messages
    // How many times a socket was (re)opened after the first connect.
    std::int64_t reconnects() const { return reconnects_; }

private:
    Result<std::vector<RedisReplyPtr>> round_trip(const std::vector<RedisArgv>& commands,
                                                  std::chrono::milliseconds extra_timeout);
    Result<std::vector<RedisReplyPtr>> send_and_read(const std::vector<RedisArgv>& commands,
                                                     std::chrono::milliseconds extra_timeout,
                                                     bool& retryable);
    Result<RedisContextPtr> open() const;

    RedisOptions options_;
    RedisContextPtr context_;
    std::vector<RedisArgv> pending_;
    std::int64_t reconnects_ = 0;
};

}  // namespace provbridge::consumers
