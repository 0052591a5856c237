#pragma once

#include <cstdint>
#include <mutex>
#include <random>

namespace provbridge {

// Randomness is injected like time, so backoff jitter can be tested exactly.
class Random {
public:
    virtual ~Random() = default;
    // A uniformly distributed integer in [0, bound]; 0 when bound <= 0.
    virtual std::int64_t uniform(std::int64_t bound) = 0;
};

// A seeded Mersenne Twister behind a mutex: lanes share one instance.
class SystemRandom final : public Random {
public:
    SystemRandom() : engine_(std::random_device{}()) {}
    std::int64_t uniform(std::int64_t bound) override {
        if (bound <= 0) return 0;
        std::lock_guard lock(mutex_);
        return std::uniform_int_distribution<std::int64_t>(0, bound)(engine_);
    }

private:
    std::mutex mutex_;
    std::mt19937_64 engine_;
};

}  // namespace provbridge
