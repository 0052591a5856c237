// The pure rate limit parts with explicit times: token bucket reservations, the request meter
// and AIMD on 429s.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "provbridge/transforms/rate_limit.hpp"

namespace provbridge::transforms {
namespace {

TEST(TokenBucket, ABurstGoesAtOnceThenTheSteadyRate) {
    TokenBucket bucket(20, 5, 1000);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(bucket.reserve(1000), 0) << "burst request " << i;
    // Every further reservation waits one more 50 ms step: callers queue in reservation order.
    EXPECT_EQ(bucket.reserve(1000), 50);
    EXPECT_EQ(bucket.reserve(1000), 100);
    EXPECT_EQ(bucket.reserve(1000), 150);
    // 150 ms later the three reserved tokens have been refilled; the next waits one step.
    EXPECT_EQ(bucket.reserve(1150), 50);
}

TEST(TokenBucket, SendingAtTheReservedTimesNeverExceedsRateTimesWindowPlusBurst) {
    TokenBucket bucket(20, 5, 0);
    std::vector<std::int64_t> sent;
    // 16 callers reserve as fast as they can; each sends when told and reserves again at once.
    // Reservations happen in time order, as under the limiter's lock on a monotonic clock.
    std::vector<std::int64_t> next(16, 0);
    for (int round = 0; round < 400; ++round) {
        const auto lane = static_cast<std::size_t>(std::min_element(next.begin(), next.end()) - next.begin());
        const std::int64_t now = next[lane];
        const std::int64_t at = now + bucket.reserve(now);
        sent.push_back(at);
        next[lane] = at;
    }
    std::sort(sent.begin(), sent.end());
    for (const std::int64_t window : {100, 1000, 5000}) {
        for (std::size_t i = 0; i < sent.size(); ++i) {
            std::size_t in = 0;
            for (std::size_t j = i; j < sent.size() && sent[j] < sent[i] + window; ++j) ++in;
            EXPECT_LE(static_cast<double>(in), 20.0 * static_cast<double>(window) / 1000.0 + 5)
                << in << " sends in " << window << " ms from " << sent[i];
        }
    }
    // And the rate is exact: 400 sends after a burst of 5 take 395 steps of 50 ms.
    EXPECT_EQ(sent.back(), 395 * 50);
}

TEST(TokenBucket, IdleTimeRefillsUpToTheBurstOnly) {
    TokenBucket bucket(10, 3, 0);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.reserve(0), 0);
    EXPECT_DOUBLE_EQ(bucket.available(0), 0);
    EXPECT_DOUBLE_EQ(bucket.available(60000), 3) << "a minute idle saves up three, not 600";
    for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.reserve(60000), 0);
    EXPECT_EQ(bucket.reserve(60000), 100);
}

TEST(TokenBucket, UnlimitedNeverWaitsAndALimitStartsFull) {
    TokenBucket bucket(0, 1, 0);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(bucket.reserve(0), 0);
    bucket.set_rate(2, 10);
    EXPECT_EQ(bucket.reserve(10), 0);
    EXPECT_EQ(bucket.reserve(10), 500);
}

TEST(TokenBucket, ARateChangeKeepsTheReservationsMadeAndAppliesToTheNextOnes) {
    TokenBucket bucket(10, 1, 0);
    EXPECT_EQ(bucket.reserve(0), 0);
    EXPECT_EQ(bucket.reserve(0), 100);  // told: send at 100
    bucket.set_rate(5, 0);
    // The token owed at 100 ms now takes 200 ms to refill, and the new one 200 ms more.
    EXPECT_EQ(bucket.reserve(0), 400);
}

TEST(TokenBucket, DrainGivesUpWhatWasSavedButNotTheQueue) {
    TokenBucket bucket(10, 10, 0);
    bucket.drain(0);
    EXPECT_EQ(bucket.reserve(0), 100) << "no burst right after a drain";
    bucket.set_burst(2, 5000);
    EXPECT_DOUBLE_EQ(bucket.available(5000), 2);
}

TEST(RateMeter, CountsTheLastSecond) {
    RateMeter meter;
    EXPECT_DOUBLE_EQ(meter.per_second(0), 0);
    for (int i = 0; i < 30; ++i) meter.note(10'000 + i * 20);  // 30 in 600 ms
    EXPECT_DOUBLE_EQ(meter.per_second(10'600), 30);
    EXPECT_DOUBLE_EQ(meter.per_second(11'150), 20) << "the notes before 10.2 s have left the window";
    EXPECT_DOUBLE_EQ(meter.per_second(12'000), 0);
    meter.note(50'000);
    EXPECT_DOUBLE_EQ(meter.per_second(50'000), 1);
}

TEST(AdaptiveRate, A429HalvesTheRateAtMostOncePerSecond) {
    AdaptiveRate aimd(20);
    EXPECT_DOUBLE_EQ(aimd.rate(0), 20);
    EXPECT_TRUE(aimd.throttled(1000, 0));
    EXPECT_DOUBLE_EQ(aimd.rate(1000), 10);
    // The rest of the same overload's 429s.
    EXPECT_FALSE(aimd.throttled(1200, 0));
    EXPECT_FALSE(aimd.throttled(1999, 0));
    EXPECT_NEAR(aimd.rate(1999), 10 + 2 * 0.999, 1e-9);
    // A second later the rate (recovered a little meanwhile) is halved again.
    EXPECT_TRUE(aimd.throttled(2000, 0));
    EXPECT_DOUBLE_EQ(aimd.rate(2000), 6);
    EXPECT_TRUE(aimd.lowered(2000));
}

TEST(AdaptiveRate, LowersByTheShareRefusedSoTheOdd429CostsLittle) {
    AdaptiveRate aimd(100);
    // A target whose quota is 60 of the 100 sent: the rate goes to what it accepted.
    EXPECT_TRUE(aimd.throttled(1000, 100, 0.4));
    EXPECT_DOUBLE_EQ(aimd.rate(1000), 60);
    // One request in twenty refused, every second (a busy target, not a quota): 5 % off, and
    // the recovery of 10 % of the base per second more than makes up for it.
    AdaptiveRate busy(100);
    for (int i = 1; i <= 20; ++i) busy.throttled(i * 1000, 100, 0.05);
    EXPECT_GE(busy.rate(20'000), 94.9);
    // Everything refused: halved, no more.
    AdaptiveRate refused(100);
    EXPECT_TRUE(refused.throttled(0, 100, 1.0));
    EXPECT_DOUBLE_EQ(refused.rate(0), 50);
}

TEST(AdaptiveRate, NeverGoesBelowTheFloor) {
    // Without recovery, so that only the halving and the floor count.
    AdaptiveRatePolicy no_recovery;
    no_recovery.recovery_fraction = 0;
    AdaptiveRate small(20, no_recovery);
    for (int i = 0; i < 10; ++i) small.throttled(i * 1000, 0);
    // 5 % of 20 is 1, and 1 request/s is the least anyway.
    EXPECT_DOUBLE_EQ(small.rate(9000), 1);
    EXPECT_DOUBLE_EQ(small.floor(), 1);

    AdaptiveRate large(1000, no_recovery);
    for (int i = 0; i < 10; ++i) large.throttled(i * 1000, 0);
    EXPECT_DOUBLE_EQ(large.rate(9000), 50) << "5 % of the configured rate";

    AdaptiveRate tiny(1);
    EXPECT_TRUE(tiny.throttled(0, 0));
    EXPECT_DOUBLE_EQ(tiny.rate(0), 1) << "a limit of 1 request/s is not lowered";
}

TEST(AdaptiveRate, RecoversAdditivelyBackToTheConfiguredRate) {
    AdaptiveRate aimd(20);
    aimd.throttled(0, 0);
    EXPECT_DOUBLE_EQ(aimd.rate(0), 10);
    // +10 % of 20 = 2 requests/s per second without a 429.
    EXPECT_DOUBLE_EQ(aimd.rate(1000), 12);
    EXPECT_DOUBLE_EQ(aimd.rate(2500), 15);
    EXPECT_TRUE(aimd.lowered(4999));
    EXPECT_DOUBLE_EQ(aimd.rate(5000), 20);
    EXPECT_FALSE(aimd.lowered(5000));
    EXPECT_DOUBLE_EQ(aimd.rate(60000), 20) << "never above the configured rate";
    // Recovered: the next 429 halves the configured rate again at once.
    EXPECT_TRUE(aimd.throttled(5100, 0));
    EXPECT_DOUBLE_EQ(aimd.rate(5100), 10);
}

TEST(AdaptiveRate, AnAppWithoutALimitIsSlowedFromItsMeasuredRateAndIsUnlimitedOnceRecovered) {
    AdaptiveRate aimd(0);
    EXPECT_DOUBLE_EQ(aimd.rate(0), 0) << "unlimited";
    EXPECT_TRUE(aimd.throttled(1000, 80));
    EXPECT_DOUBLE_EQ(aimd.base(), 80);
    EXPECT_DOUBLE_EQ(aimd.rate(1000), 40);
    EXPECT_TRUE(aimd.throttled(2000, 35));  // measured no longer matters: halves the current rate
    EXPECT_DOUBLE_EQ(aimd.rate(2000), 24);  // (40 + 8) / 2
    // +8 requests/s per second (10 % of the 80 before the first 429) up to 80, then unlimited.
    EXPECT_DOUBLE_EQ(aimd.rate(4000), 40);
    EXPECT_TRUE(aimd.lowered(8999));
    EXPECT_DOUBLE_EQ(aimd.rate(9000), 0);
    EXPECT_FALSE(aimd.lowered(9000));
    // A new overload starts from the rate measured then.
    EXPECT_TRUE(aimd.throttled(9500, 200));
    EXPECT_DOUBLE_EQ(aimd.rate(9500), 100);
}

TEST(AdaptiveRate, AnUnlimitedAppWithNoRecentRequestsIsSlowedToTheMinimum) {
    AdaptiveRate aimd(0);
    EXPECT_TRUE(aimd.throttled(0, 0));
    EXPECT_DOUBLE_EQ(aimd.rate(0), 1);
    EXPECT_TRUE(aimd.lowered(4999)) << "held back while it recovers";
    EXPECT_DOUBLE_EQ(aimd.rate(5000), 0);
}

TEST(AdaptiveRate, AShareChangeKeepsTheLoweredProportion) {
    AdaptiveRate aimd(20);
    aimd.throttled(0, 0);
    aimd.set_configured(10, 0);  // a second worker joined
    EXPECT_DOUBLE_EQ(aimd.configured(), 10);
    EXPECT_DOUBLE_EQ(aimd.rate(0), 5);
    EXPECT_DOUBLE_EQ(aimd.rate(1000), 6);
    EXPECT_DOUBLE_EQ(aimd.rate(5000), 10);
    AdaptiveRate calm(20);
    calm.set_configured(5, 0);
    EXPECT_DOUBLE_EQ(calm.rate(0), 5);
}

}  // namespace
}  // namespace provbridge::transforms
