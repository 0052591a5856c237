#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "provbridge/core/random.hpp"

namespace provbridge::test_support {

// Randomness a test decides. Each call records the bound it was asked for, then answers with
// the next scripted value if any are left, else by the mode: the bound itself (the longest
// jitter), zero (the shortest), or bound * numerator / denominator.
class FakeRandom final : public Random {
public:
    enum class Mode { Bound, Zero, Fraction };

    static FakeRandom always_bound() { return FakeRandom(Mode::Bound); }
    static FakeRandom always_zero() { return FakeRandom(Mode::Zero); }
    static FakeRandom fraction(std::int64_t numerator, std::int64_t denominator) {
        FakeRandom random(Mode::Fraction);
        random.numerator_ = numerator;
        random.denominator_ = denominator;
        return random;
    }
    // Answers the given values in order; returns the bound once they run out.
    static FakeRandom scripted(std::vector<std::int64_t> values) {
        FakeRandom random(Mode::Bound);
        random.script_.assign(values.begin(), values.end());
        return random;
    }

    std::int64_t uniform(std::int64_t bound) override {
        bounds_.push_back(bound);
        if (!script_.empty()) {
            const std::int64_t value = script_.front();
            script_.pop_front();
            return value;
        }
        if (bound <= 0) return 0;
        switch (mode_) {
            case Mode::Bound: return bound;
            case Mode::Zero: return 0;
            // Divides first so that a bound near INT64_MAX cannot overflow.
            case Mode::Fraction:
                return bound / denominator_ * numerator_ + bound % denominator_ * numerator_ / denominator_;
        }
        return 0;
    }

    // Every bound asked for, in order: what full jitter drew from.
    const std::vector<std::int64_t>& bounds() const { return bounds_; }

private:
    explicit FakeRandom(Mode mode) : mode_(mode) {}

    Mode mode_;
    std::int64_t numerator_ = 0;
    std::int64_t denominator_ = 1;
    std::deque<std::int64_t> script_;
    std::vector<std::int64_t> bounds_;
};

}  // namespace provbridge::test_support
