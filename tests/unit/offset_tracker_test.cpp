#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "provbridge/consumers/offset_tracker.hpp"

namespace provbridge::consumers {
namespace {

const TopicPartition kP0{"events", 0};
const TopicPartition kP1{"events", 1};

TEST(OffsetTracker, CommitsOnlyUpToTheLowestUnfinishedOffset) {
    OffsetTracker t;
    for (std::int64_t o = 10; o < 15; ++o) t.begin(kP0, o);
    t.complete(kP0, 11);
    t.complete(kP0, 12);
    auto c = t.take_committable();
    ASSERT_EQ(c.size(), 1U);
    EXPECT_EQ(c[0].second, 10);  // 10 is still in flight: nothing past it may be committed
    t.complete(kP0, 10);
    c = t.take_committable();
    ASSERT_EQ(c.size(), 1U);
    EXPECT_EQ(c[0].second, 13);
    t.complete(kP0, 14);
    t.complete(kP0, 13);
    c = t.take_committable();
    ASSERT_EQ(c.size(), 1U);
    EXPECT_EQ(c[0].second, 15);  // next offset to consume
    EXPECT_TRUE(t.take_committable().empty());  // unchanged: nothing new to store
}

TEST(OffsetTracker, PartitionsAreIndependent) {
    OffsetTracker t;
    t.begin(kP0, 0);
    t.begin(kP1, 100);
    t.complete(kP1, 100);
    EXPECT_EQ(t.in_flight(), 1U);
    EXPECT_EQ(t.in_flight({kP1}), 0U);
    EXPECT_EQ(t.in_flight({kP0}), 1U);
    auto c = t.take_committable();
    ASSERT_EQ(c.size(), 2U);
    EXPECT_EQ(c[0], std::make_pair(kP0, std::int64_t{0}));
    EXPECT_EQ(c[1], std::make_pair(kP1, std::int64_t{101}));
}

TEST(OffsetTracker, ForgetDropsRevokedPartitions) {
    OffsetTracker t;
    t.begin(kP0, 1);
    t.begin(kP1, 1);
    t.forget({kP0});
    EXPECT_EQ(t.in_flight(), 1U);
    t.complete(kP0, 1);  // a late completion for a revoked partition is ignored
    EXPECT_EQ(t.in_flight(), 1U);
}

TEST(OffsetTracker, ALateCompletionFromAnEarlierAssignmentLeavesTheNewOneAlone) {
    OffsetTracker t;
    const auto first = t.begin(kP0, 5);
    t.forget({kP0});
    // Assigned again: offset 5 is redelivered and queued, not finished yet.
    const auto second = t.begin(kP0, 5);
    EXPECT_NE(first, second);
    EXPECT_FALSE(t.complete(kP0, 5, first));  // the old assignment's lane finishing late
    EXPECT_EQ(t.in_flight({kP0}), 1U);
    auto c = t.take_committable();
    ASSERT_EQ(c.size(), 1U);
    EXPECT_EQ(c[0].second, 5);  // not 6: the redelivered record has no outcome yet
    EXPECT_TRUE(t.complete(kP0, 5, second));
    EXPECT_FALSE(t.complete(kP0, 5, second));  // once
    EXPECT_EQ(t.take_committable()[0].second, 6);
}

TEST(OffsetTracker, WaitBelowGivesUpWhenTheFlagIsSet) {
    OffsetTracker t;
    t.begin(kP0, 1);
    std::atomic<bool> give_up{false};
    std::thread fatal([&] {
        give_up = true;
        t.notify();
    });
    EXPECT_FALSE(t.wait_below(1, {kP0}, std::chrono::steady_clock::now() + std::chrono::hours(1), &give_up));
    fatal.join();
    EXPECT_EQ(t.in_flight(), 1U);
}

TEST(OffsetTracker, WaitBelowReturnsWhenWorkCompletes) {
    OffsetTracker t;
    t.begin(kP0, 1);
    EXPECT_FALSE(t.wait_below(1, {kP0}, std::chrono::steady_clock::now()));
    std::thread done([&] { t.complete(kP0, 1); });
    EXPECT_TRUE(t.wait_below(1, {kP0}, std::chrono::steady_clock::now() + std::chrono::seconds(30)));
    done.join();
}

}  // namespace
}  // namespace provbridge::consumers
