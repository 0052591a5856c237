#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/core/clock.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/result.hpp"
#include "provbridge/transforms/rate_limit.hpp"

namespace provbridge::consumers {

// What an app's limiter is doing and did, for progress reports and tests.
struct RateLimitSnapshot {
    int configured = 0;            // requests/s for the whole group (0: no limit)
    int burst = 1;                 // configured burst for the whole group
    int workers = 1;               // live workers sharing them
    double share = 0;              // this worker's part of `configured` (0: no limit)
    double rate = 0;               // what it sends at now: the share, or less after 429s (0: no limit)
    bool lowered = false;          // slowed down by 429s and not yet recovered
    std::uint64_t requests = 0;    // turns taken
    std::uint64_t delayed = 0;     // requests that waited for their turn
    std::uint64_t throttled = 0;   // 429 answers seen
    std::uint64_t slowdowns = 0;   // 429s that lowered the rate (at most one a second)
};

// One app's rate limit in this worker, shared by every lane that sends to it: a token bucket at
// this worker's share of the configured rate, lowered on 429s and recovering gradually
// (transforms::AdaptiveRate). Thread-safe: the pure parts run under a mutex; the wait itself
// is the caller's (Clock::wait_until), outside it, so lanes queue in the order they reserved.
// The share of an unlimited app's requests of the last second that must be answered 429 before
// it is slowed down.
inline constexpr double kUnlimitedSlowdownShare = 0.2;

class AppRateLimiter {
public:
    AppRateLimiter(std::string app, RateLimitConfig config, const Clock& clock,
                   std::shared_ptr<spdlog::logger> log = nullptr);

    // Takes the next turn and returns when the caller may send: now, or later when the turns
    // saved up (the burst) are used up.
    std::chrono::steady_clock::time_point reserve();
    // The app answered 429.
    void throttled();
    // n live workers share the configured rate and burst (fewer than 1 counts as 1).
    void set_workers(int n);

    RateLimitSnapshot snapshot() const;
    const std::string& app() const { return app_; }

private:
    std::int64_t now_ms() const;
    // The bucket follows the adaptive rate (which recovers with time).
    void follow(std::int64_t now_ms);

    const std::string app_;
    const RateLimitConfig config_;
    const Clock& clock_;
    std::shared_ptr<spdlog::logger> log_;
    mutable std::mutex mutex_;
    int workers_ = 1;
    transforms::TokenBucket bucket_;
    transforms::AdaptiveRate adaptive_;
    transforms::RateMeter meter_;
    transforms::RateMeter refused_;  // 429 answers of the last second
    bool lowered_ = false;
    std::uint64_t requests_ = 0, delayed_ = 0, throttled_ = 0, slowdowns_ = 0;
};

// Splits the apps' configured rates across the live workers of the group: each heartbeat's
// count goes to every limiter, and a failed heartbeat (Redis unreachable) keeps the last count.
class RateShare {
public:
    RateShare(std::vector<AppRateLimiter*> limiters, std::shared_ptr<spdlog::logger> log = nullptr);
    // The outcome of one heartbeat; returns the count in use.
    int update(const Result<int>& live_workers);
    int workers() const { return workers_; }

private:
    std::vector<AppRateLimiter*> limiters_;
    std::shared_ptr<spdlog::logger> log_;
    int workers_ = 1;
    bool failing_ = false;
};

}  // namespace provbridge::consumers
