#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

namespace provbridge {

// Time is injected so that nothing in the libraries sleeps or reads the clock directly.
class Clock {
public:
    virtual ~Clock() = default;
    virtual std::chrono::system_clock::time_point wall_now() const = 0;
    virtual std::chrono::steady_clock::time_point steady_now() const = 0;
    // Returns at `at` (steady clock) or later: the one way library code waits (a rate limit's
    // turn), so that tests move time instead of sleeping.
    virtual void wait_until(std::chrono::steady_clock::time_point at) const = 0;

    std::int64_t wall_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(wall_now().time_since_epoch())
            .count();
    }
};

class SystemClock final : public Clock {
public:
    std::chrono::system_clock::time_point wall_now() const override {
        return std::chrono::system_clock::now();
    }
    std::chrono::steady_clock::time_point steady_now() const override {
        return std::chrono::steady_clock::now();
    }
    void wait_until(std::chrono::steady_clock::time_point at) const override { std::this_thread::sleep_until(at); }
};

}  // namespace provbridge
