#pragma once

#include <chrono>
#include <string>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/result.hpp"

namespace provbridge::consumers {

// Counts the live workers of the group through Redis, for splitting rate limits: every worker
// adds itself to one sorted set (KeyScheme::workers(), member = its owner id, score = the Redis
// server's time of its last beat, so workers' clocks need not agree) and counts the members
// that beat within the last 3 intervals. One small script a beat, nothing per request. Not
// thread-safe: one owner thread.
class RedisWorkerHeartbeat {
public:
    // Connects; throws std::runtime_error at start-up like RedisConnection.
    RedisWorkerHeartbeat(RedisOptions options, KeyScheme keys, std::string owner, std::chrono::milliseconds interval);

    // Records this worker as alive and returns how many workers are (itself included).
    Result<int> beat();
    // A clean stop: the others stop counting this worker at their next beat, not 3 intervals on.
    Result<bool> leave();

    const std::string& owner() const { return owner_; }
    std::chrono::milliseconds interval() const { return interval_; }

private:
    RedisConnection connection_;
    KeyScheme keys_;
    std::string owner_;
    std::chrono::milliseconds interval_;
};

}  // namespace provbridge::consumers
