#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>

#include <gtest/gtest.h>

#include "provbridge/consumers/worker.hpp"

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;

// A scripted consumer-group member: hands out queued records and remembers what the worker
// stored, paused and resumed.
class FakeSource final : public RecordSource {
public:
    explicit FakeSource(RebalanceListener& listener) : listener_(listener) {}

    std::optional<InboundRecord> poll(std::chrono::milliseconds timeout) override {
        std::unique_lock lock(mutex_);
        if (!assigned_) {
            assigned_ = true;
            lock.unlock();
            listener_.on_assigned(partitions_);
            lock.lock();
        }
        if (revoke_requested_) {
            revoke_requested_ = false;
            lock.unlock();
            if (before_revoke) before_revoke();
            listener_.on_revoked(partitions_);
            lock.lock();
            revoked_ = true;
            const auto it = stored_.find(partitions_[0]);
            stored_when_revoke_returned_ = it == stored_.end() ? -1 : it->second;
        }
        cv_.wait_for(lock, timeout, [&] { return (!queue_.empty() && !paused_) || revoke_requested_; });
        if (queue_.empty() || paused_) return std::nullopt;
        InboundRecord r = std::move(queue_.front());
        queue_.pop_front();
        return r;
    }
    void pause(const std::vector<TopicPartition>&) override {
        std::lock_guard lock(mutex_);
        paused_ = true;
        ++pauses_;
        cv_.notify_all();
    }
    void resume(const std::vector<TopicPartition>&) override {
        std::lock_guard lock(mutex_);
        paused_ = false;
        cv_.notify_all();
    }
    void store_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& offsets) override {
        std::lock_guard lock(mutex_);
        for (const auto& [tp, o] : offsets) stored_[tp] = o;
    }
    std::vector<TopicPartition> assignment() const override { return partitions_; }
    void close() override {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    std::optional<std::string> fatal_error() const override { return std::nullopt; }

    void add(InboundRecord r) {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(r));
        cv_.notify_all();
    }
    void request_revoke() {
        std::lock_guard lock(mutex_);
        revoke_requested_ = true;
        cv_.notify_all();
    }
    std::optional<std::int64_t> stored(const TopicPartition& tp) {
        std::lock_guard lock(mutex_);
        const auto it = stored_.find(tp);
        return it == stored_.end() ? std::nullopt : std::optional(it->second);
    }

    RebalanceListener& listener_;
    std::vector<TopicPartition> partitions_{{"events", 0}, {"events", 1}};
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<InboundRecord> queue_;
    std::map<TopicPartition, std::int64_t> stored_;
    bool assigned_ = false;
    bool paused_ = false;
    int pauses_ = 0;
    bool closed_ = false;
    bool revoke_requested_ = false;
    bool revoked_ = false;
    std::int64_t stored_when_revoke_returned_ = -1;
    std::function<void()> before_revoke;
};

// The worker owns (and destroys) its source when run() returns; the test keeps the fake and
// hands the worker this forwarder, so assertions can read the fake afterwards.
class ForwardingSource final : public RecordSource {
public:
    explicit ForwardingSource(FakeSource& fake) : fake_(fake) {}
    std::optional<InboundRecord> poll(std::chrono::milliseconds timeout) override { return fake_.poll(timeout); }
    void pause(const std::vector<TopicPartition>& p) override { fake_.pause(p); }
    void resume(const std::vector<TopicPartition>& p) override { fake_.resume(p); }
    void store_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& o) override { fake_.store_offsets(o); }
    std::vector<TopicPartition> assignment() const override { return fake_.assignment(); }
    void close() override { fake_.close(); }
    std::optional<std::string> fatal_error() const override { return fake_.fatal_error(); }

private:
    FakeSource& fake_;
};

// Records the order each key was handled in; can hold a given offset until released.
struct Journal {
    std::mutex mutex;
    std::condition_variable cv;
    std::map<std::string, std::vector<std::int64_t>> by_key;
    std::int64_t hold_offset = -1;
    bool released = false;
    bool holding = false;
    std::int64_t fatal_offset = -1;
};

class JournalHandler final : public RecordHandler {
public:
    explicit JournalHandler(Journal& j) : j_(j) {}
    ProcessResult handle(const InboundRecord& r) override {
        std::unique_lock lock(j_.mutex);
        if (r.offset == j_.hold_offset) {
            j_.holding = true;
            j_.cv.notify_all();
            j_.cv.wait(lock, [&] { return j_.released; });
        }
        j_.by_key[r.key.value_or("")].push_back(r.offset);
        if (r.offset == j_.fatal_offset) return {ProcessResult::Status::Fatal, "store down", {}};
        OutcomeRecord out;
        out.status = OutcomeStatus::Applied;
        return {ProcessResult::Status::Recorded, {}, out};
    }
    Journal& j_;
};

InboundRecord record(std::int32_t partition, std::int64_t offset, std::string key) {
    InboundRecord r;
    r.topic = "events";
    r.partition = partition;
    r.offset = offset;
    r.key = std::move(key);
    return r;
}

class WorkerTest : public ::testing::Test {
protected:
    void start(WorkerOptions options, std::uint64_t stop_after) {
        options.poll_timeout = 20ms;
        worker_ = std::make_unique<Worker>(
            options,
            [this](RebalanceListener& l) {
                std::lock_guard lock(ready_mutex_);
                fake_ = std::make_unique<FakeSource>(l);
                for (auto& r : pending_) fake_->add(std::move(r));
                source_ = fake_.get();
                ready_cv_.notify_all();
                return std::make_unique<ForwardingSource>(*fake_);
            },
            [this](int) { return std::make_unique<JournalHandler>(journal_); }, nullptr);
        worker_->set_observer([this, stop_after](const ProcessResult&) {
            if (worker_->counters().finished() >= stop_after) worker_->request_stop();
            std::lock_guard lock(journal_.mutex);
            journal_.cv.notify_all();
        });
        thread_ = std::thread([this] { result_ = worker_->run(); });
        std::unique_lock lock(ready_mutex_);
        ready_cv_.wait(lock, [&] { return source_ != nullptr; });
    }
    void join() { thread_.join(); }

    std::vector<InboundRecord> pending_;
    Journal journal_;
    std::unique_ptr<FakeSource> fake_;
    std::unique_ptr<Worker> worker_;
    FakeSource* source_ = nullptr;
    std::mutex ready_mutex_;
    std::condition_variable ready_cv_;
    std::thread thread_;
    std::optional<std::string> result_;
};

TEST_F(WorkerTest, KeepsPerObjectOrderAcrossManyLanes) {
    std::int64_t offset = 0;
    for (int round = 0; round < 20; ++round) {
        for (int key = 0; key < 10; ++key) {
            pending_.push_back(record(key % 2, offset++, "app/user/" + std::to_string(key)));
        }
    }
    start(WorkerOptions{8, 1000}, 200);
    join();
    EXPECT_FALSE(result_.has_value());
    ASSERT_EQ(journal_.by_key.size(), 10U);
    for (const auto& [key, offsets] : journal_.by_key) {
        EXPECT_EQ(offsets.size(), 20U) << key;
        EXPECT_TRUE(std::is_sorted(offsets.begin(), offsets.end())) << key;
    }
    EXPECT_EQ(worker_->counters().applied, 200U);
    EXPECT_TRUE(source_->closed_);
    EXPECT_EQ(source_->stored({"events", 0}), 199);  // next offsets after the last of each partition
    EXPECT_EQ(source_->stored({"events", 1}), 200);
}

TEST_F(WorkerTest, NeverStoresAnOffsetPastUnfinishedWork) {
    journal_.hold_offset = 2;
    for (std::int64_t o = 0; o < 6; ++o) pending_.push_back(record(0, o, "app/user/" + std::to_string(o)));
    start(WorkerOptions{4, 1000}, 6);
    {
        std::unique_lock lock(journal_.mutex);
        journal_.cv.wait(lock, [&] { return journal_.holding; });
    }
    // Wait until the other five have finished, then check what the worker stored.
    {
        std::unique_lock lock(journal_.mutex);
        journal_.cv.wait(lock, [&] { return worker_->counters().finished() >= 5; });
    }
    const auto stored_while_held = source_->stored({"events", 0});
    {
        std::lock_guard lock(journal_.mutex);
        journal_.released = true;
    }
    journal_.cv.notify_all();
    join();
    ASSERT_TRUE(!stored_while_held || *stored_while_held <= 2);
    EXPECT_EQ(source_->stored({"events", 0}), 6);
}

TEST_F(WorkerTest, PausesWhenTooMuchIsInFlight) {
    journal_.hold_offset = 0;
    for (std::int64_t o = 0; o < 10; ++o) pending_.push_back(record(0, o, "app/user/same"));
    start(WorkerOptions{2, 3}, 10);
    {
        std::unique_lock lock(journal_.mutex);
        journal_.cv.wait(lock, [&] { return journal_.holding; });
    }
    // With one record held and a limit of 3, the worker must pause before taking everything.
    {
        std::unique_lock lock(source_->mutex_);
        source_->cv_.wait(lock, [&] { return source_->pauses_ > 0; });
        EXPECT_GE(source_->queue_.size(), 6U);
    }
    {
        std::lock_guard lock(journal_.mutex);
        journal_.released = true;
    }
    journal_.cv.notify_all();
    join();
    EXPECT_EQ(worker_->counters().applied, 10U);
    EXPECT_EQ(journal_.by_key["app/user/same"], (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_F(WorkerTest, FatalErrorStopsWithoutCommittingTheFailedRecord) {
    journal_.fatal_offset = 3;
    for (std::int64_t o = 0; o < 3; ++o) pending_.push_back(record(0, o, "app/user/a"));
    pending_.push_back(record(0, 3, "app/user/a"));
    start(WorkerOptions{1, 100}, 1000);
    join();
    ASSERT_TRUE(result_.has_value());
    EXPECT_EQ(*result_, "store down");
    EXPECT_EQ(source_->stored({"events", 0}), 3);  // 3 will be redelivered
    EXPECT_TRUE(source_->closed_);
}

TEST_F(WorkerTest, RevokeWaitsForInFlightWorkAndStoresItsOffsets) {
    journal_.hold_offset = 1;
    for (std::int64_t o = 0; o < 3; ++o) pending_.push_back(record(0, o, "app/user/" + std::to_string(o)));
    start(WorkerOptions{4, 100}, 3);
    {
        std::unique_lock lock(journal_.mutex);
        journal_.cv.wait(lock, [&] { return journal_.holding; });
    }
    // Release the held record only once the revoke has started: the revoke must wait for it.
    std::thread release;
    std::uint64_t consumed_at_revoke = 0;
    source_->before_revoke = [&] {
        consumed_at_revoke = worker_->counters().consumed;  // stable: we are on the polling thread
        release = std::thread([&] {
            std::lock_guard lock(journal_.mutex);
            journal_.released = true;
            journal_.cv.notify_all();
        });
    };
    source_->request_revoke();
    join();
    release.join();
    EXPECT_TRUE(source_->revoked_);
    // Everything consumed before the revoke, including the held record, was finished and stored.
    EXPECT_EQ(source_->stored_when_revoke_returned_, static_cast<std::int64_t>(consumed_at_revoke));
    EXPECT_GE(consumed_at_revoke, 2U);
    EXPECT_EQ(source_->stored({"events", 0}), 3);
    EXPECT_EQ(worker_->counters().applied, 3U);
}

}  // namespace
}  // namespace provbridge::consumers
