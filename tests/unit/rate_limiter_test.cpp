// The thread-safe app limiter, the share across workers and the processor's use of them, on a
// fake clock: a wait moves the clock, nothing sleeps.
#include <gtest/gtest.h>

#include "fake_random.hpp"
#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "processor_setup.hpp"
#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/consumers/rate_limiter.hpp"

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test_support::FakeClock;
using test_support::FakeScimClient;

RateLimitConfig limit(int rate, int burst) { return RateLimitConfig{rate, burst}; }

std::chrono::milliseconds after(const FakeClock& clock, std::chrono::steady_clock::time_point at) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(at - clock.steady_now());
}

TEST(AppRateLimiter, HandsOutTheBurstThenTurnsAtTheRate) {
    FakeClock clock;
    AppRateLimiter limiter("crm", limit(20, 5), clock);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(after(clock, limiter.reserve()), 0ms);
    EXPECT_EQ(after(clock, limiter.reserve()), 50ms);
    EXPECT_EQ(after(clock, limiter.reserve()), 100ms);
    const auto s = limiter.snapshot();
    EXPECT_EQ(s.configured, 20);
    EXPECT_DOUBLE_EQ(s.rate, 20);
    EXPECT_EQ(s.requests, 7U);
    EXPECT_EQ(s.delayed, 2U);
    EXPECT_FALSE(s.lowered);
}

TEST(AppRateLimiter, A429LowersTheRateAndItRecoversWithTime) {
    FakeClock clock;
    AppRateLimiter limiter("crm", limit(20, 5), clock);
    limiter.throttled();
    limiter.throttled();  // the same overload
    auto s = limiter.snapshot();
    EXPECT_DOUBLE_EQ(s.rate, 10);
    EXPECT_TRUE(s.lowered);
    EXPECT_EQ(s.throttled, 2U);
    EXPECT_EQ(s.slowdowns, 1U);
    // Drained: no burst right after the 429, turns come at the lowered rate.
    EXPECT_EQ(after(clock, limiter.reserve()), 100ms);
    EXPECT_EQ(after(clock, limiter.reserve()), 200ms);
    clock.advance(2500ms);
    EXPECT_DOUBLE_EQ(limiter.snapshot().rate, 15);
    clock.advance(2500ms);
    s = limiter.snapshot();
    EXPECT_DOUBLE_EQ(s.rate, 20);
    EXPECT_FALSE(s.lowered);
}

TEST(AppRateLimiter, AnAppWithoutALimitIsSlowedFromItsOwnPaceThenUnlimitedAgain) {
    FakeClock clock;
    AppRateLimiter limiter("crm", RateLimitConfig{}, clock);
    for (int i = 0; i < 40; ++i) {
        EXPECT_EQ(after(clock, limiter.reserve()), 0ms);
        clock.advance(10ms);  // 100 requests/s
    }
    EXPECT_DOUBLE_EQ(limiter.snapshot().rate, 0) << "unlimited";
    // The odd 429 does not slow an app without a limit: it refuses too little of what it gets.
    for (int i = 0; i < 7; ++i) limiter.throttled();
    EXPECT_FALSE(limiter.snapshot().lowered) << "7 of the 40 requests of the last second refused";
    // The 8th makes it a fifth: the pace of 40/s less the fifth refused.
    limiter.throttled();
    auto s = limiter.snapshot();
    EXPECT_TRUE(s.lowered);
    EXPECT_DOUBLE_EQ(s.rate, 32);
    EXPECT_EQ(after(clock, limiter.reserve()), 32ms);  // 1000 / 32, rounded up
    clock.advance(10s);
    s = limiter.snapshot();
    EXPECT_FALSE(s.lowered);
    EXPECT_DOUBLE_EQ(s.rate, 0);
    const auto now = clock.steady_now();
    for (int i = 0; i < 100; ++i) ASSERT_EQ(limiter.reserve(), now);
}

TEST(AppRateLimiter, LiveWorkersSplitTheRateAndTheBurst) {
    FakeClock clock;
    AppRateLimiter limiter("crm", limit(20, 5), clock);
    limiter.set_workers(2);
    auto s = limiter.snapshot();
    EXPECT_EQ(s.workers, 2);
    EXPECT_DOUBLE_EQ(s.share, 10);
    EXPECT_DOUBLE_EQ(s.rate, 10);
    // 2.5 turns saved up: two now, the third half a turn (50 ms) later, then every 100 ms.
    EXPECT_EQ(after(clock, limiter.reserve()), 0ms);
    EXPECT_EQ(after(clock, limiter.reserve()), 0ms);
    EXPECT_EQ(after(clock, limiter.reserve()), 50ms);
    EXPECT_EQ(after(clock, limiter.reserve()), 150ms);
    // A 429 for one of the 4 requests of the last second takes a quarter off this worker's
    // share, and its recovery is back to the share.
    limiter.throttled();
    EXPECT_DOUBLE_EQ(limiter.snapshot().rate, 7.5);
    limiter.set_workers(1);  // the other worker left: the lowered rate keeps its proportion
    EXPECT_DOUBLE_EQ(limiter.snapshot().rate, 15);
    clock.advance(10s);
    EXPECT_DOUBLE_EQ(limiter.snapshot().rate, 20);
}

TEST(RateShare, GivesTheLiveCountToEveryLimiterAndKeepsItWhenTheHeartbeatFails) {
    FakeClock clock;
    AppRateLimiter crm("crm", limit(30, 3), clock);
    AppRateLimiter hr("hr", RateLimitConfig{}, clock);
    RateShare share({&crm, &hr});
    EXPECT_EQ(share.update(Result<int>(3)), 3);
    EXPECT_DOUBLE_EQ(crm.snapshot().share, 10);
    EXPECT_EQ(hr.snapshot().workers, 3);
    EXPECT_DOUBLE_EQ(hr.snapshot().share, 0) << "no limit is split into no limit";
    EXPECT_EQ(share.update(Result<int>(make_error("connection refused"))), 3);
    EXPECT_DOUBLE_EQ(crm.snapshot().share, 10);
    EXPECT_EQ(share.update(Result<int>(1)), 1);
    EXPECT_DOUBLE_EQ(crm.snapshot().share, 30);
}

class RateLimitedProcessingTest : public ::testing::Test {
protected:
    RateLimitedProcessingTest() {
        apps_ = test_support::runtimes_of(test_support::test_app("crm"));
        ProcessorOptions options;
        options.random = &random_;
        options.rate_limiters = {{"crm", &limiter_}};
        processor_ = std::make_unique<EventProcessor>(apps_, std::map<std::string, ScimClient*>{{"crm", &scim_}}, store_,
                                                      dlq_, clock_, nullptr, options);
    }

    InboundRecord assigned(const std::string& user) {
        ++sequence_;
        json event = {{"specversion", "1.0"}, {"id", "e" + std::to_string(sequence_)}, {"source", "urn:test"},
                      {"type", "provisioning.user.assigned"},
                      {"data", {{"app", "crm"},
                                {"object", {{"type", "user"}, {"id", user}, {"version", 1},
                                            {"attributes", {{"userPrincipalName", user + "@contoso.com"},
                                                            {"mailNickname", user}, {"givenName", user},
                                                            {"surname", "Tester"}, {"displayName", user + " Tester"},
                                                            {"accountEnabled", true}}}}},
                                {"assignment", {{"role", "User"}}}}}};
        InboundRecord r;
        r.topic = "events";
        r.offset = sequence_;
        r.key = "crm/user/" + user;
        r.value = event.dump();
        return r;
    }

    FakeScimClient scim_;
    test_support::FakeStateStore store_;
    test_support::FakeDeadLetterSink dlq_;
    FakeClock clock_;
    test_support::FakeRandom random_ = test_support::FakeRandom::always_bound();
    AppRateLimiter limiter_{"crm", RateLimitConfig{2, 1}, clock_};
    std::vector<AppRuntime> apps_;
    std::unique_ptr<EventProcessor> processor_;
    int sequence_ = 0;
};

TEST_F(RateLimitedProcessingTest, EveryRequestWaitsForItsTurnThroughTheClock) {
    // Each create is a match (GET) and a POST: six requests at 2 per second, one at once.
    std::vector<std::chrono::steady_clock::time_point> sent;
    scim_.set_handler([&](const ScimRequest& request) {
        sent.push_back(clock_.steady_now());
        if (request.method == HttpMethod::Get) return FakeScimClient::list();
        return FakeScimClient::json(201, {{"id", "scim-" + std::to_string(sent.size())}});
    });
    const auto start = clock_.steady_now();
    for (const auto* user : {"ada", "bob", "cy"}) {
        const auto result = processor_->process(assigned(user));
        ASSERT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
        EXPECT_EQ(result.record->action, Action::Create);
    }
    ASSERT_EQ(sent.size(), 6U);
    for (std::size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(sent[i] - start, std::chrono::milliseconds(500 * static_cast<long>(i))) << "request " << i;
    }
    EXPECT_EQ(clock_.waits.size(), 5U) << "the first request had its turn at once";
    EXPECT_EQ(limiter_.snapshot().delayed, 5U);
}

TEST_F(RateLimitedProcessingTest, A429SlowsTheAppDownAndTheEventWaitsForItsRetry) {
    scim_.push(FakeScimClient::error(429, "slow down"));
    const auto result = processor_->process(assigned("ada"));
    EXPECT_EQ(result.status, ProcessResult::Status::Parked);
    const auto s = limiter_.snapshot();
    EXPECT_EQ(s.throttled, 1U);
    EXPECT_EQ(s.slowdowns, 1U);
    EXPECT_TRUE(s.lowered);
    EXPECT_DOUBLE_EQ(s.rate, 1);
}

}  // namespace
}  // namespace provbridge::consumers
