#pragma once

#include <array>
#include <cstdint>

namespace provbridge::transforms {

// A token bucket with reservations: every caller takes a token at once, even one not yet
// refilled, and is told how long to wait before sending. Callers queue in the order they
// reserved, and the sends never exceed `burst` at once plus `rate` per second, however many
// callers there are. Times are milliseconds on one monotonic clock, passed in.
class TokenBucket {
public:
    // rate_per_second 0: unlimited, every reservation is immediate. The bucket starts full.
    TokenBucket(double rate_per_second, double burst, std::int64_t now_ms);

    // Takes a token; returns how long the caller must wait before sending (0: send now).
    std::int64_t reserve(std::int64_t now_ms);
    // From now on; what was reserved stands. From unlimited, the bucket starts full.
    void set_rate(double rate_per_second, std::int64_t now_ms);
    void set_burst(double burst, std::int64_t now_ms);
    // Gives up what was saved while idle (reservations already made stand): after a 429 the
    // app gets the lowered rate, not a burst at once.
    void drain(std::int64_t now_ms);

    double rate() const { return rate_; }
    double burst() const { return burst_; }
    // Tokens at now_ms; negative when reservations run ahead of the refill.
    double available(std::int64_t now_ms) const;

private:
    void refill(std::int64_t now_ms);

    double rate_;
    double burst_;
    double tokens_;
    std::int64_t at_ms_;
};

// The request rate of the last second, in ten slots of 100 ms.
class RateMeter {
public:
    void note(std::int64_t now_ms);
    double per_second(std::int64_t now_ms) const;

private:
    static constexpr int kSlots = 10;
    static constexpr std::int64_t kSlotMs = 100;
    void advance(std::int64_t now_ms);

    std::array<std::int64_t, kSlots> counts_{};
    std::int64_t slot_ = 0;  // absolute index (now_ms / kSlotMs) of the newest slot
};

struct AdaptiveRatePolicy {
    // A 429 multiplies the rate by the share of recent requests that were accepted, but by no
    // less than this: a target refusing what is over its quota is answered by its quota, and
    // the odd 429 of a busy target costs little.
    double decrease_factor = 0.5;
    std::int64_t min_interval_ms = 1000;  // at most one decrease per interval
    // Never below floor_fraction of the base rate, nor below floor_min requests/s (unless the
    // base itself is lower: such a rate is not lowered).
    double floor_fraction = 0.05;
    double floor_min = 1.0;
    double recovery_fraction = 0.1;  // of the base rate, added per second without a 429
};

// AIMD on an app's 429s: each one (at most one per second) lowers the rate to send at by the
// share of the last second's requests that were refused (halving it at most), never below the
// floor; every second without one adds back 10 % of the base rate, up to the base.
// The base is the configured rate, or for an app without a limit the request rate measured at
// its first 429; once recovered, such an app is unlimited again.
class AdaptiveRate {
public:
    // configured_rate 0: no configured limit.
    explicit AdaptiveRate(double configured_rate, AdaptiveRatePolicy policy = {});

    // The rate to send at: the configured one (0: unlimited) unless lowered by 429s.
    double rate(std::int64_t now_ms);
    // The app answered 429. measured_rate: the recent request rate, the base of an app without
    // a limit; refused_share: the part of the recent requests answered 429 (1: all of them).
    // True when the rate was lowered (or held at the floor, restarting the recovery); false when
    // a decrease happened less than min_interval_ms ago.
    bool throttled(std::int64_t now_ms, double measured_rate, double refused_share = 1.0);
    // The configured rate changed (the live workers' share): a lowered rate keeps its proportion.
    void set_configured(double configured_rate, std::int64_t now_ms);

    bool lowered(std::int64_t now_ms);
    double configured() const { return configured_; }
    double base() const { return base_; }
    double floor() const;

private:
    AdaptiveRatePolicy policy_;
    double configured_;
    double base_ = 0;           // what recovery goes back to
    double lowered_ = 0;        // the rate right after the last decrease
    std::int64_t lowered_at_ms_ = 0;
    bool active_ = false;       // lowered and not yet recovered
};

}  // namespace provbridge::transforms
