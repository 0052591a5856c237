#include "provbridge/consumers/worker_heartbeat.hpp"

#include <algorithm>

namespace provbridge::consumers {
namespace {

// KEYS: 1 the workers zset. ARGV: owner, live window ms, forget after ms. Returns the live count.
// The server's clock scores every member, so one skewed worker cannot hide or revive another.
constexpr const char* kBeatScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[2]), '+inf')
)lua";

}  // namespace

RedisWorkerHeartbeat::RedisWorkerHeartbeat(RedisOptions options, KeyScheme keys, std::string owner,
                                           std::chrono::milliseconds interval)
    : connection_(std::move(options)),
      keys_(std::move(keys)),
      owner_(std::move(owner)),
      interval_(std::max(interval, std::chrono::milliseconds(1))) {}

Result<int> RedisWorkerHeartbeat::beat() {
    const auto window = 3 * interval_.count();
    // Members long gone are removed, not merely left uncounted; a worker with a longer interval
    // (another configuration) is still kept for a while.
    const auto forget = std::max<std::int64_t>(10 * window, 60000);
    auto reply = connection_.call({"EVAL", kBeatScript, "1", keys_.workers(), owner_, std::to_string(window),
                                   std::to_string(forget)});
    if (!reply) return reply.error();
    if (reply->type != RedisValue::Type::Integer) return make_error("unexpected reply to the worker heartbeat script");
    return static_cast<int>(std::max<std::int64_t>(1, reply->integer));
}

Result<bool> RedisWorkerHeartbeat::leave() {
    auto reply = connection_.call({"ZREM", keys_.workers(), owner_});
    if (!reply) return reply.error();
    return reply->integer > 0;
}

}  // namespace provbridge::consumers
