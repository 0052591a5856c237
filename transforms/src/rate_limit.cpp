#include "provbridge/transforms/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace provbridge::transforms {

TokenBucket::TokenBucket(double rate_per_second, double burst, std::int64_t now_ms)
    : rate_(std::max(0.0, rate_per_second)), burst_(std::max(1.0, burst)), tokens_(burst_), at_ms_(now_ms) {}

void TokenBucket::refill(std::int64_t now_ms) {
    if (now_ms <= at_ms_) return;
    if (rate_ > 0) tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ms - at_ms_) * rate_ / 1000.0);
    at_ms_ = now_ms;
}

double TokenBucket::available(std::int64_t now_ms) const {
    if (rate_ <= 0 || now_ms <= at_ms_) return tokens_;
    return std::min(burst_, tokens_ + static_cast<double>(now_ms - at_ms_) * rate_ / 1000.0);
}

std::int64_t TokenBucket::reserve(std::int64_t now_ms) {
    if (rate_ <= 0) return 0;
    refill(now_ms);
    tokens_ -= 1.0;
    if (tokens_ >= 0) return 0;
    // Rounded up: a caller may send late, never early.
    return static_cast<std::int64_t>(std::ceil(-tokens_ * 1000.0 / rate_));
}

void TokenBucket::set_rate(double rate_per_second, std::int64_t now_ms) {
    refill(now_ms);
    rate_per_second = std::max(0.0, rate_per_second);
    if (rate_ <= 0 && rate_per_second > 0) tokens_ = burst_;
    rate_ = rate_per_second;
    at_ms_ = std::max(at_ms_, now_ms);
}

void TokenBucket::set_burst(double burst, std::int64_t now_ms) {
    refill(now_ms);
    burst_ = std::max(1.0, burst);
    tokens_ = std::min(tokens_, burst_);
}

void TokenBucket::drain(std::int64_t now_ms) {
    refill(now_ms);
    tokens_ = std::min(tokens_, 0.0);
}

void RateMeter::advance(std::int64_t now_ms) {
    const std::int64_t slot = now_ms / kSlotMs;
    if (slot <= slot_) return;
    const std::int64_t cleared = std::min<std::int64_t>(slot - slot_, kSlots);
    for (std::int64_t i = 1; i <= cleared; ++i) counts_[static_cast<std::size_t>((slot_ + i) % kSlots)] = 0;
    slot_ = slot;
}

void RateMeter::note(std::int64_t now_ms) {
    advance(now_ms);
    ++counts_[static_cast<std::size_t>(slot_ % kSlots)];
}

double RateMeter::per_second(std::int64_t now_ms) const {
    const std::int64_t slot = std::max(now_ms / kSlotMs, slot_);
    std::int64_t sum = 0;
    for (std::int64_t j = std::max(slot - kSlots + 1, slot_ - kSlots + 1); j <= slot_; ++j) {
        sum += counts_[static_cast<std::size_t>(((j % kSlots) + kSlots) % kSlots)];
    }
    return static_cast<double>(sum) * 1000.0 / static_cast<double>(kSlots * kSlotMs);
}

AdaptiveRate::AdaptiveRate(double configured_rate, AdaptiveRatePolicy policy)
    : policy_(policy), configured_(std::max(0.0, configured_rate)) {}

double AdaptiveRate::floor() const {
    return std::min(base_, std::max(base_ * policy_.floor_fraction, policy_.floor_min));
}

double AdaptiveRate::rate(std::int64_t now_ms) {
    if (!active_) return configured_;
    const double elapsed_s = static_cast<double>(std::max<std::int64_t>(0, now_ms - lowered_at_ms_)) / 1000.0;
    const double recovered = lowered_ + policy_.recovery_fraction * base_ * elapsed_s;
    if (recovered >= base_) {
        active_ = false;
        return configured_;
    }
    return recovered;
}

bool AdaptiveRate::lowered(std::int64_t now_ms) {
    (void)rate(now_ms);
    return active_;
}

bool AdaptiveRate::throttled(std::int64_t now_ms, double measured_rate, double refused_share) {
    double current = rate(now_ms);
    if (active_) {
        // The 429s of one overload arrive together; one decrease per interval answers them all.
        if (now_ms - lowered_at_ms_ < policy_.min_interval_ms) return false;
    } else {
        // Without a configured limit the app's own pace is the base. A 429 answered after a long
        // request may find no request in the last second: the base is then what the decrease
        // turns into the minimum, so that the app is still held back while it recovers.
        // The pace an unlimited app has been seen to manage stays its base: measured again after
        // a slowdown, it would be what the slowdown left, and each 429 would ratchet it down.
        base_ = configured_ > 0 ? configured_
                                : std::max({base_, measured_rate, policy_.floor_min / policy_.decrease_factor});
        current = base_;
    }
    const double factor = std::max(policy_.decrease_factor, 1.0 - std::clamp(refused_share, 0.0, 1.0));
    lowered_ = std::max(floor(), current * factor);
    lowered_at_ms_ = now_ms;
    active_ = true;
    return true;
}

void AdaptiveRate::set_configured(double configured_rate, std::int64_t now_ms) {
    configured_rate = std::max(0.0, configured_rate);
    (void)rate(now_ms);
    if (active_ && configured_ > 0 && configured_rate > 0) {
        const double factor = configured_rate / configured_;
        base_ *= factor;
        lowered_ *= factor;
    }
    configured_ = configured_rate;
}

}  // namespace provbridge::transforms
