#include "provbridge/consumers/redis.hpp"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <stdexcept>
#include <utility>

#include <pthread.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "provbridge/core/redact.hpp"
#include "provbridge/core/sigpipe_guard.hpp"

namespace provbridge::consumers {
namespace {

constexpr std::string_view kErrorPrefix = "redis ";

timeval to_timeval(std::chrono::milliseconds ms) {
    if (ms.count() < 0) ms = std::chrono::milliseconds(0);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

// The one place where hiredis error codes are translated.
RedisErrorKind classify(int hiredis_err, int saved_errno) {
    switch (hiredis_err) {
        case REDIS_ERR_IO:
            if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT ||
                saved_errno == EINPROGRESS) {
                return RedisErrorKind::Timeout;
            }
            return RedisErrorKind::Io;
        case REDIS_ERR_PROTOCOL:
            return RedisErrorKind::Protocol;
        case REDIS_ERR_EOF:
        case REDIS_ERR_OOM:
        case REDIS_ERR_OTHER:
        default:
            return RedisErrorKind::Io;
    }
}

// The server closed a connection we had not used for a while: nothing of the request was
// processed, so it is safe to reconnect and send it again.
bool closed_by_peer(int hiredis_err, int saved_errno) {
    return hiredis_err == REDIS_ERR_EOF ||
           (hiredis_err == REDIS_ERR_IO && (saved_errno == ECONNRESET || saved_errno == EPIPE));
}

std::string redact(std::string text, const std::string& secret) { return Redactor({secret}).redact(std::move(text)); }

// Keeps the error's kind: only its text is rewritten.
Error redact(Error error, const std::string& secret) {
    error.message = redact(std::move(error.message), secret);
    return error;
}

std::string describe(const std::vector<RedisArgv>& commands) {
    if (commands.size() == 1 && !commands.front().empty()) return commands.front().front();
    return "pipeline of " + std::to_string(commands.size()) + " commands";
}

// Sends every command and reads as many replies. On failure `closed_idle` tells whether the
// peer had closed the socket before any reply arrived.
Result<std::vector<RedisReplyPtr>> exchange(redisContext* context,
                                            const std::vector<RedisArgv>& commands,
                                            const std::string& where, bool& closed_idle) {
    closed_idle = false;
    SigpipeGuard guard;
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& command : commands) {
        argv.clear();
        lengths.clear();
        for (const auto& arg : command) {
            argv.push_back(arg.data());
            lengths.push_back(arg.size());
        }
        if (redisAppendCommandArgv(context, static_cast<int>(argv.size()), argv.data(),
                                   lengths.data()) != REDIS_OK) {
            return make_redis_error(classify(context->err, errno), where, context->errstr);
        }
    }
    std::vector<RedisReplyPtr> replies;
    replies.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(context, &raw) != REDIS_OK) {
            const int saved_errno = errno;
            closed_idle = replies.empty() && closed_by_peer(context->err, saved_errno);
            return make_redis_error(classify(context->err, saved_errno), where, context->errstr);
        }
        replies.emplace_back(static_cast<redisReply*>(raw));
    }
    return replies;
}

std::string reply_text(const redisReply& reply) {
    if (reply.str == nullptr) return {};
    return std::string(reply.str, reply.len);
}

}  // namespace

RedisOptions redis_options(const RedisConfig& config, const std::string& password) {
    RedisOptions options;
    options.host = config.host;
    options.port = config.port;
    options.database = config.database;
    options.password = password;
    options.timeout = config.timeout;
    return options;
}

void RedisContextDeleter::operator()(redisContext* context) const {
    if (context != nullptr) redisFree(context);
}

void RedisReplyDeleter::operator()(redisReply* reply) const {
    if (reply != nullptr) freeReplyObject(reply);
}

void RedisReaderDeleter::operator()(redisReader* reader) const {
    if (reader != nullptr) redisReaderFree(reader);
}

std::string_view to_string(RedisErrorKind kind) {
    switch (kind) {
        case RedisErrorKind::Io: return "io";
        case RedisErrorKind::Timeout: return "timeout";
        case RedisErrorKind::Reply: return "reply";
        case RedisErrorKind::Protocol: return "protocol";
    }
    return "io";
}

Error make_redis_error(RedisErrorKind kind, std::string_view context, std::string_view detail) {
    std::string message(kErrorPrefix);
    message.append(to_string(kind)).append(": ").append(context);
    if (!detail.empty()) message.append(": ").append(detail);
    // A server that cannot be reached may be back on the next call; a refused command is not.
    const bool transient = kind == RedisErrorKind::Io || kind == RedisErrorKind::Timeout;
    return make_error(std::move(message), transient ? ErrorKind::Transient : ErrorKind::Permanent);
}

std::optional<RedisErrorKind> redis_error_kind(const Error& error) {
    std::string_view message = error.message;
    if (!message.starts_with(kErrorPrefix)) return std::nullopt;
    message.remove_prefix(kErrorPrefix.size());
    for (const auto kind : {RedisErrorKind::Io, RedisErrorKind::Timeout, RedisErrorKind::Reply,
                            RedisErrorKind::Protocol}) {
        const auto name = to_string(kind);
        if (message.starts_with(name) && message.substr(name.size()).starts_with(":")) return kind;
    }
    return std::nullopt;
}

RedisValue to_value(const redisReply& reply) {
    RedisValue value;
    switch (reply.type) {
        case REDIS_REPLY_STRING:
            value.type = RedisValue::Type::String;
            value.str = reply_text(reply);
            break;
        case REDIS_REPLY_STATUS:
            value.type = RedisValue::Type::Status;
            value.str = reply_text(reply);
            break;
        case REDIS_REPLY_ERROR:
            value.type = RedisValue::Type::Error;
            value.str = reply_text(reply);
            break;
        case REDIS_REPLY_INTEGER:
            value.type = RedisValue::Type::Integer;
            value.integer = reply.integer;
            break;
        case REDIS_REPLY_ARRAY:
            value.type = RedisValue::Type::Array;
            value.elements.reserve(reply.elements);
            for (std::size_t i = 0; i < reply.elements; ++i) {
                value.elements.push_back(to_value(*reply.element[i]));
            }
            break;
        case REDIS_REPLY_NIL:
        default:
            value.type = RedisValue::Type::Nil;
            break;
    }
    return value;
}

Result<RedisValue> parse_resp(std::string_view bytes) {
    RedisReaderPtr reader(redisReaderCreate());
    if (!reader) return make_redis_error(RedisErrorKind::Io, "parse", "cannot allocate a reader");
    if (redisReaderFeed(reader.get(), bytes.data(), bytes.size()) != REDIS_OK) {
        return make_redis_error(RedisErrorKind::Protocol, "parse", reader->errstr);
    }
    void* raw = nullptr;
    if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
        return make_redis_error(RedisErrorKind::Protocol, "parse", reader->errstr);
    }
    if (raw == nullptr) {
        return make_redis_error(RedisErrorKind::Protocol, "parse", "incomplete reply");
    }
    const RedisReplyPtr reply(static_cast<redisReply*>(raw));
    return to_value(*reply);
}

RedisConnection::RedisConnection(RedisOptions options) : options_(std::move(options)) {
    auto context = open();
    if (!context) {
        throw std::runtime_error("cannot connect to Redis at " + endpoint() + ": " +
                                 context.error().message);
    }
    context_ = std::move(context).value();
}

RedisConnection::RedisConnection(RedisConnection&&) noexcept = default;
RedisConnection& RedisConnection::operator=(RedisConnection&&) noexcept = default;
RedisConnection::~RedisConnection() = default;

std::string RedisConnection::endpoint() const {
    return options_.host + ":" + std::to_string(options_.port);
}

bool RedisConnection::broken() const { return !context_ || context_->err != 0; }

void RedisConnection::disconnect() { context_.reset(); }

Result<RedisContextPtr> RedisConnection::open() const {
    const auto where = "connect " + endpoint();
    RedisContextPtr context(
        redisConnectWithTimeout(options_.host.c_str(), options_.port, to_timeval(options_.timeout)));
    if (!context) return make_redis_error(RedisErrorKind::Io, where, "cannot allocate a context");
    if (context->err != 0) {
        return make_redis_error(classify(context->err, errno), where, context->errstr);
    }
    if (redisSetTimeout(context.get(), to_timeval(options_.timeout)) != REDIS_OK) {
        return make_redis_error(classify(context->err, errno), where, context->errstr);
    }
    // Keepalive lets the kernel notice a peer that vanished without closing the socket.
    redisEnableKeepAlive(context.get());

    std::vector<RedisArgv> hello;
    if (!options_.password.empty()) hello.push_back({"AUTH", options_.password});
    if (options_.database != 0) hello.push_back({"SELECT", std::to_string(options_.database)});
    if (hello.empty()) return context;

    bool closed_idle = false;
    auto replies = exchange(context.get(), hello, where, closed_idle);
    if (!replies) return redact(replies.error(), options_.password);
    for (std::size_t i = 0; i < replies->size(); ++i) {
        const auto& reply = *(*replies)[i];
        if (reply.type == REDIS_REPLY_ERROR) {
            const std::string step = hello[i].front() == "AUTH" ? "AUTH" : "SELECT";
            return make_redis_error(RedisErrorKind::Reply, where + ": " + step,
                                    redact(reply_text(reply), options_.password));
        }
    }
    return context;
}

Result<bool> RedisConnection::reconnect() {
    context_.reset();
    auto context = open();
    if (!context) return context.error();
    context_ = std::move(context).value();
    ++reconnects_;
    return true;
}

Result<std::vector<RedisReplyPtr>> RedisConnection::send_and_read(
    const std::vector<RedisArgv>& commands, std::chrono::milliseconds extra_timeout,
    bool& retryable) {
    const bool widened = extra_timeout.count() > 0;
    if (widened && redisSetTimeout(context_.get(), to_timeval(options_.timeout + extra_timeout)) !=
                       REDIS_OK) {
        const auto error = make_redis_error(classify(context_->err, errno), endpoint(),
                                            context_->errstr);
        context_.reset();
        return error;
    }
    auto replies = exchange(context_.get(), commands, endpoint() + ": " + describe(commands),
                            retryable);
    if (!replies) {
        // The stream position is unknown after a failure, so the socket cannot be reused.
        context_.reset();
        return redact(replies.error(), options_.password);
    }
    if (widened && redisSetTimeout(context_.get(), to_timeval(options_.timeout)) != REDIS_OK) {
        context_.reset();
    }
    return replies;
}

Result<std::vector<RedisReplyPtr>> RedisConnection::round_trip(
    const std::vector<RedisArgv>& commands, std::chrono::milliseconds extra_timeout) {
    bool fresh = false;
    if (broken()) {
        auto connected = reconnect();
        if (!connected) return connected.error();
        fresh = true;
    }
    bool closed_idle = false;
    auto replies = send_and_read(commands, extra_timeout, closed_idle);
    if (replies || fresh || !closed_idle) return replies;
    auto connected = reconnect();
    if (!connected) return connected.error();
    return send_and_read(commands, extra_timeout, closed_idle);
}

Result<RedisReplyPtr> RedisConnection::command(const RedisArgv& argv,
                                               std::chrono::milliseconds extra_timeout) {
    if (argv.empty()) return make_redis_error(RedisErrorKind::Reply, endpoint(), "empty command");
    auto replies = round_trip({argv}, extra_timeout);
    if (!replies) return replies.error();
    RedisReplyPtr reply = std::move(replies->front());
    if (reply->type == REDIS_REPLY_ERROR) {
        return make_redis_error(RedisErrorKind::Reply, endpoint() + ": " + argv.front(),
                                redact(reply_text(*reply), options_.password));
    }
    return reply;
}

Result<RedisValue> RedisConnection::call(const RedisArgv& argv,
                                         std::chrono::milliseconds extra_timeout) {
    auto reply = command(argv, extra_timeout);
    if (!reply) return reply.error();
    return to_value(**reply);
}

void RedisConnection::append(RedisArgv argv) { pending_.push_back(std::move(argv)); }

Result<std::vector<RedisReplyPtr>> RedisConnection::get_replies() {
    std::vector<RedisArgv> commands;
    commands.swap(pending_);
    if (commands.empty()) return std::vector<RedisReplyPtr>{};
    return round_trip(commands, {});
}

}  // namespace provbridge::consumers
