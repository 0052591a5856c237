#include "provbridge/consumers/rate_limiter.hpp"

#include <algorithm>

namespace provbridge::consumers {
namespace {

double share_of(int total, int workers) {
    return total <= 0 ? 0.0 : static_cast<double>(total) / static_cast<double>(std::max(1, workers));
}

double burst_share(int burst, int workers) {
    return std::max(1.0, static_cast<double>(burst) / static_cast<double>(std::max(1, workers)));
}

}  // namespace

AppRateLimiter::AppRateLimiter(std::string app, RateLimitConfig config, const Clock& clock,
                               std::shared_ptr<spdlog::logger> log)
    : app_(std::move(app)),
      config_(config),
      clock_(clock),
      log_(std::move(log)),
      bucket_(share_of(config.requests_per_second, 1), config.burst, now_ms()),
      adaptive_(share_of(config.requests_per_second, 1)) {}

std::int64_t AppRateLimiter::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now().time_since_epoch()).count();
}

void AppRateLimiter::follow(std::int64_t now) {
    const double rate = adaptive_.rate(now);
    if (rate != bucket_.rate()) {
        bucket_.set_rate(rate, now);
        // An app without a configured limit has no burst of its own: a tenth of a second's worth
        // lets its lanes send side by side, as they did before the 429.
        if (config_.requests_per_second == 0) bucket_.set_burst(std::max(1.0, rate / 10.0), now);
    }
    const bool lowered = adaptive_.lowered(now);
    if (lowered_ && !lowered && log_) {
        if (config_.requests_per_second > 0) {
            log_->info("app {}: no 429 for a while, back to {:.4g} requests/s", app_, rate);
        } else {
            log_->info("app {}: no 429 for a while, no rate limit again", app_);
        }
    }
    lowered_ = lowered;
}

std::chrono::steady_clock::time_point AppRateLimiter::reserve() {
    std::lock_guard lock(mutex_);
    // The clock is read under the lock: turns are handed out in time order, so a wait is never
    // counted from a moment before the previous reservation.
    const auto now = clock_.steady_now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    follow(ms);
    meter_.note(ms);
    ++requests_;
    const std::int64_t wait = bucket_.reserve(ms);
    if (wait > 0) ++delayed_;
    return now + std::chrono::milliseconds(wait);
}

void AppRateLimiter::throttled() {
    std::lock_guard lock(mutex_);
    const auto now = now_ms();
    ++throttled_;
    refused_.note(now);
    follow(now);
    const double before = bucket_.rate();
    const double sent = meter_.per_second(now);
    const double share = sent > 0 ? refused_.per_second(now) / sent : 1.0;
    // An app without a configured limit is slowed only when it refuses a real share of what it
    // gets: the odd 429 of a busy target is answered by parking that request until its
    // Retry-After, and slowing every lane for it cost two thirds of the throughput (measured).
    if (config_.requests_per_second == 0 && share < kUnlimitedSlowdownShare) return;
    if (!adaptive_.throttled(now, sent, share)) return;
    ++slowdowns_;
    bucket_.set_rate(adaptive_.rate(now), now);
    // The app is overloaded now: what was saved up while idle must not go out at once.
    bucket_.drain(now);
    lowered_ = true;
    if (log_) {
        log_->info("app {} answered 429: sending at most {:.4g} requests/s (was {}), adding {:.4g} per second "
                   "without a 429",
                   app_, bucket_.rate(), before > 0 ? fmt::format("{:.4g}", before) : std::string("unlimited"),
                   0.1 * adaptive_.base());
    }
}

void AppRateLimiter::set_workers(int n) {
    n = std::max(1, n);
    std::lock_guard lock(mutex_);
    if (n == workers_) return;
    workers_ = n;
    if (config_.requests_per_second <= 0) return;  // nothing to split
    const auto now = now_ms();
    adaptive_.set_configured(share_of(config_.requests_per_second, n), now);
    bucket_.set_burst(burst_share(config_.burst, n), now);
    bucket_.set_rate(adaptive_.rate(now), now);
}

RateLimitSnapshot AppRateLimiter::snapshot() const {
    std::lock_guard lock(mutex_);
    const auto now = now_ms();
    auto adaptive = adaptive_;  // reading the recovery must not move the limiter's own state
    RateLimitSnapshot out;
    out.configured = config_.requests_per_second;
    out.burst = config_.burst;
    out.workers = workers_;
    out.share = share_of(config_.requests_per_second, workers_);
    out.rate = adaptive.rate(now);
    out.lowered = adaptive.lowered(now);
    out.requests = requests_;
    out.delayed = delayed_;
    out.throttled = throttled_;
    out.slowdowns = slowdowns_;
    return out;
}

RateShare::RateShare(std::vector<AppRateLimiter*> limiters, std::shared_ptr<spdlog::logger> log)
    : limiters_(std::move(limiters)), log_(std::move(log)) {}

int RateShare::update(const Result<int>& live_workers) {
    if (!live_workers) {
        if (!failing_ && log_) {
            log_->warn("the worker heartbeat failed ({}); rate limits stay split across {} worker(s)",
                       live_workers.error().message, workers_);
        }
        failing_ = true;
        return workers_;
    }
    failing_ = false;
    const int n = std::max(1, *live_workers);
    if (n != workers_ && log_) {
        log_->info("{} live worker(s) in the group: each sends 1/{} of every app's rate limit", n, n);
    }
    workers_ = n;
    for (auto* limiter : limiters_) limiter->set_workers(n);
    return workers_;
}

}  // namespace provbridge::consumers
