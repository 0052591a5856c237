#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <thread>

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
        if (reassign_requested_) {
            // An eager rebalance that hands this member the same partitions back. Like
            // librdkafka, the partitions' pause survives it.
            reassign_requested_ = false;
            lock.unlock();
            listener_.on_revoked(partitions_);
            listener_.on_assigned(partitions_);
            lock.lock();
            reassigned_ = true;
            cv_.notify_all();
        }
        if (revoke_requested_) {
            revoke_requested_ = false;
            const auto revoking = revoke_only_.empty() ? partitions_ : revoke_only_;
            lock.unlock();
            if (before_revoke) before_revoke();
            listener_.on_revoked(revoking);
            lock.lock();
            revoked_ = true;
            const auto it = stored_.find(revoking[0]);
            stored_when_revoke_returned_ = it == stored_.end() ? -1 : it->second;
            cv_.notify_all();
        }
        cv_.wait_for(lock, timeout,
                     [&] { return (!queue_.empty() && !paused_) || revoke_requested_ || reassign_requested_; });
        if (queue_.empty() || paused_) return std::nullopt;
        InboundRecord r = std::move(queue_.front());
        queue_.pop_front();
        cv_.notify_all();
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
    // Like rd_kafka_consumer_close: the assignment is revoked (listener called) before leaving.
    void close() override {
        listener_.on_revoked(partitions_);
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    std::optional<std::string> fatal_error() const override { return std::nullopt; }

    void add(InboundRecord r) {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(r));
        cv_.notify_all();
    }
    void request_reassign() {
        std::lock_guard lock(mutex_);
        reassign_requested_ = true;
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
    std::vector<TopicPartition> revoke_only_;  // empty: a revoke takes every partition
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<InboundRecord> queue_;
    std::map<TopicPartition, std::int64_t> stored_;
    bool assigned_ = false;
    bool paused_ = false;
    int pauses_ = 0;
    bool closed_ = false;
    bool revoke_requested_ = false;
    bool reassign_requested_ = false;
    bool reassigned_ = false;
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
    std::set<std::int64_t> park_offsets;  // handle() answers Parked for these
    std::vector<std::string> heads;       // claimed heads run, as object#token
    std::vector<std::int64_t> held;       // handle_held() was called for these
    std::set<std::thread::id> head_threads;
};

// Hands out scripted batches of due heads, one batch per claim, and remembers what was asked.
class FakeParkedSource final : public ParkedWorkSource {
public:
    explicit FakeParkedSource(std::deque<std::vector<ClaimedHead>> batches) : batches_(std::move(batches)) {}
    Result<std::vector<ClaimedHead>> claim(std::size_t max, const AppRoom& room) override {
        std::lock_guard lock(mutex_);
        asked_.push_back(max);
        if (!room_of_.empty()) rooms_.push_back(room(room_of_));
        claimed_cv_.notify_all();
        if (batches_.empty()) return std::vector<ClaimedHead>{};
        auto batch = std::move(batches_.front());
        batches_.pop_front();
        return batch;
    }
    std::mutex mutex_;
    std::deque<std::vector<ClaimedHead>> batches_;
    std::vector<std::size_t> asked_;
    std::string room_of_;            // an app whose room each claim notes
    std::vector<std::size_t> rooms_;
    std::condition_variable claimed_cv_;
};

ClaimedHead head_of(std::string object_id, std::string token) {
    ClaimedHead head;
    head.event.app = "app";
    head.event.object_id = object_id;
    head.lease.app = "app";
    head.lease.object_id = std::move(object_id);
    head.lease.token = std::move(token);
    return head;
}

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
        if (j_.park_offsets.count(r.offset) > 0) return {ProcessResult::Status::Parked, {}, {}};
        OutcomeRecord out;
        out.status = OutcomeStatus::Applied;
        return {ProcessResult::Status::Recorded, {}, out};
    }
    ProcessResult handle_held(const InboundRecord& r) override {
        std::lock_guard lock(j_.mutex);
        j_.held.push_back(r.offset);
        j_.cv.notify_all();
        return {ProcessResult::Status::Parked, {}, {}};
    }
    ProcessResult handle_parked(const ClaimedHead& head) override {
        std::lock_guard lock(j_.mutex);
        j_.heads.push_back(head.event.object_id + "#" + head.lease.token);
        j_.head_threads.insert(std::this_thread::get_id());
        OutcomeRecord out;
        out.status = OutcomeStatus::Applied;
        return {ProcessResult::Status::Recorded, {}, out};
    }
    Journal& j_;
};

// What the hardening tests' handler does per offset (offsets there are unique across
// partitions), and what it saw.
struct Script {
    std::mutex mutex;
    std::condition_variable cv;
    std::set<std::int64_t> hold;  // wait in handle() until released
    std::set<std::int64_t> released;
    std::set<std::int64_t> fatal;
    std::set<std::int64_t> duplicate;
    std::set<std::int64_t> throws;
    bool override_failure = true;  // false: RecordHandler's default handle_failure
    bool failure_throws = false;
    std::multiset<std::int64_t> started;
    std::vector<std::int64_t> handled;   // handle() returned for these, in order
    std::vector<std::int64_t> failures;  // handle_failure() was called for these
    std::vector<std::string> failure_reasons;

    void release(std::int64_t offset) {
        std::lock_guard lock(mutex);
        released.insert(offset);
        cv.notify_all();
    }
    void wait_started(std::int64_t offset) {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return started.count(offset) > 0; });
    }
};

class ScriptedHandler final : public RecordHandler {
public:
    explicit ScriptedHandler(Script& s) : s_(s) {}
    ProcessResult handle(const InboundRecord& r) override {
        std::unique_lock lock(s_.mutex);
        s_.started.insert(r.offset);
        s_.cv.notify_all();
        if (s_.hold.count(r.offset) > 0) s_.cv.wait(lock, [&] { return s_.released.count(r.offset) > 0; });
        if (s_.throws.count(r.offset) > 0) {
            throw std::runtime_error("mapping blew up at offset " + std::to_string(r.offset));
        }
        if (s_.fatal.count(r.offset) > 0) return {ProcessResult::Status::Fatal, "store down", {}};
        s_.handled.push_back(r.offset);
        if (s_.duplicate.count(r.offset) > 0) return {ProcessResult::Status::Duplicate, {}, {}};
        OutcomeRecord out;
        out.status = OutcomeStatus::Applied;
        return {ProcessResult::Status::Recorded, {}, out};
    }
    ProcessResult handle_failure(const InboundRecord& r, std::string_view what) override {
        if (!s_.override_failure) return RecordHandler::handle_failure(r, what);
        std::lock_guard lock(s_.mutex);
        s_.failures.push_back(r.offset);
        s_.failure_reasons.emplace_back(what);
        if (s_.failure_throws) throw 42;  // not even a std::exception
        OutcomeRecord out;
        out.status = OutcomeStatus::DeadLettered;
        out.code = "InternalError";
        return {ProcessResult::Status::Recorded, {}, out};
    }

private:
    Script& s_;
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
    void start(WorkerOptions options, std::uint64_t stop_after, bool scripted = false,
               std::unique_ptr<ParkedWorkSource> parked = nullptr) {
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
            [this, scripted](int) -> std::unique_ptr<RecordHandler> {
                if (scripted) return std::make_unique<ScriptedHandler>(script_);
                return std::make_unique<JournalHandler>(journal_);
            },
            nullptr);
        if (parked) worker_->set_parked_source(std::move(parked));
        worker_->set_observer([this, stop_after](const ProcessResult&) {
            if (worker_->counters().finished() >= stop_after) worker_->request_stop();
            {
                std::lock_guard lock(journal_.mutex);
                journal_.cv.notify_all();
            }
            std::lock_guard lock(script_.mutex);
            script_.cv.notify_all();
        });
        thread_ = std::thread([this] { result_ = worker_->run(); });
        std::unique_lock lock(ready_mutex_);
        ready_cv_.wait(lock, [&] { return source_ != nullptr; });
    }
    void join() { thread_.join(); }

    // Every queued record has been polled: the worker has handed them all to lanes by the time
    // it polls again, which is when a requested revoke runs.
    void wait_all_polled() {
        std::unique_lock lock(source_->mutex_);
        source_->cv_.wait(lock, [&] { return source_->queue_.empty(); });
    }
    void revoke_and_wait(std::vector<TopicPartition> partitions) {
        {
            std::lock_guard lock(source_->mutex_);
            source_->revoke_only_ = std::move(partitions);
        }
        source_->request_revoke();
        std::unique_lock lock(source_->mutex_);
        source_->cv_.wait(lock, [&] { return source_->revoked_; });
    }

    std::vector<InboundRecord> pending_;
    Journal journal_;
    Script script_;
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

TEST(WorkerStart, AConsumerThatCannotBeCreatedIsReportedNotThrown) {
    Worker worker(
        WorkerOptions{2, 10},
        [](RebalanceListener&) -> std::unique_ptr<RecordSource> {
            throw std::runtime_error("kafka property \"group.id\": missing");
        },
        [](int) -> std::unique_ptr<RecordHandler> { return nullptr; }, nullptr);
    const auto result = worker.run();
    ASSERT_TRUE(result.has_value());
    EXPECT_NE(result->find("group.id"), std::string::npos) << *result;
}

TEST_F(WorkerTest, RevokeWaitsForInFlightWorkAndStoresItsOffsets) {
    journal_.hold_offset = 1;
    for (std::int64_t o = 0; o < 3; ++o) pending_.push_back(record(0, o, "app/user/" + std::to_string(o)));
    start(WorkerOptions{4, 100}, 3);
    // Only the held record is left: a record still queued in a lane would be given back by the
    // revoke (see RevokeGivesQueuedRecordsBack...), and this fake does not redeliver.
    {
        std::unique_lock lock(journal_.mutex);
        journal_.cv.wait(lock, [&] { return journal_.holding && worker_->counters().finished() >= 2; });
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
    EXPECT_EQ(consumed_at_revoke, 3U);
    EXPECT_EQ(source_->stored({"events", 0}), 3);
    EXPECT_EQ(worker_->counters().applied, 3U);
}

// --- Stops, revokes and throwing handlers -----------------------------------------------------

const TopicPartition kP0{"events", 0};
const TopicPartition kP1{"events", 1};

// A revoke timeout no test may run into: waiting for it would hang the test.
constexpr std::chrono::milliseconds kForever = std::chrono::hours(1);

TEST_F(WorkerTest, FatalStopNeitherWaitsForAbandonedRecordsNorCommitsThem) {
    script_.fatal = {1};
    for (std::int64_t o = 0; o < 4; ++o) pending_.push_back(record(0, o, "app/user/a"));
    WorkerOptions options{1, 100};
    options.revoke_timeout = kForever;
    start(options, 1000, true);
    join();  // the close revokes everything; offsets 1-3 never finish and it must not wait
    ASSERT_TRUE(result_.has_value());
    EXPECT_EQ(*result_, "store down");
    EXPECT_EQ(script_.handled, (std::vector<std::int64_t>{0}));  // 2 and 3 were abandoned
    EXPECT_EQ(source_->stored(kP0), 1);
    EXPECT_TRUE(source_->closed_);
}

TEST_F(WorkerTest, FatalErrorWhileDrainingForAStopEndsTheDrain) {
    script_.hold = {0};
    script_.fatal = {0};
    for (std::int64_t o = 0; o < 3; ++o) pending_.push_back(record(0, o, "app/user/a"));
    WorkerOptions options{1, 100};
    options.revoke_timeout = kForever;
    start(options, 1000, true);
    script_.wait_started(0);
    wait_all_polled();
    worker_->request_stop();  // 1 and 2 are queued behind the held record: the drain waits
    script_.release(0);
    join();
    ASSERT_TRUE(result_.has_value());
    EXPECT_EQ(*result_, "store down");
    EXPECT_TRUE(script_.handled.empty());
    EXPECT_EQ(script_.started.count(1) + script_.started.count(2), 0U);
    EXPECT_EQ(source_->stored(kP0).value_or(0), 0);
}

TEST_F(WorkerTest, FatalErrorDuringARevokeEndsItsWait) {
    script_.hold = {0};
    script_.fatal = {0};
    pending_.push_back(record(0, 0, "app/user/a"));
    WorkerOptions options{1, 100};
    options.revoke_timeout = kForever;
    start(options, 1000, true);
    script_.wait_started(0);
    wait_all_polled();
    // The held record turns fatal as the revoke starts; either the revoke sees the fatal flag
    // at once or its wait is woken by it. It must not wait for a record that will never finish.
    source_->before_revoke = [&] { script_.release(0); };
    revoke_and_wait({kP0});
    join();
    ASSERT_TRUE(result_.has_value());
    EXPECT_EQ(*result_, "store down");
    EXPECT_EQ(source_->stored(kP0).value_or(0), 0);
}

TEST_F(WorkerTest, RevokeGivesQueuedRecordsBackAtOnceAndKeepsOtherPartitions) {
    // One lane: the partition-1 record is running (held) and the revoked partition's records
    // are queued behind it, so a revoke that waited for them would never return.
    script_.hold = {100};
    pending_.push_back(record(1, 100, "app/user/d"));
    pending_.push_back(record(0, 0, "app/user/a"));
    pending_.push_back(record(0, 1, "app/user/b"));
    pending_.push_back(record(1, 101, "app/user/e"));
    WorkerOptions options{1, 100};
    options.revoke_timeout = kForever;
    start(options, 2, true);
    script_.wait_started(100);
    wait_all_polled();
    revoke_and_wait({kP0});
    // Nothing of partition 0 is durable: its new owner starts from 0.
    EXPECT_EQ(source_->stored_when_revoke_returned_, 0);
    script_.release(100);
    join();
    EXPECT_FALSE(result_.has_value());
    EXPECT_EQ(script_.handled, (std::vector<std::int64_t>{100, 101}));
    EXPECT_EQ(source_->stored(kP0), 0);
    EXPECT_EQ(source_->stored(kP1), 102);
    EXPECT_EQ(worker_->counters().consumed, 4U);
    EXPECT_EQ(worker_->counters().applied, 2U);
}

TEST_F(WorkerTest, RecordFinishingAfterItsRevokeTimedOutStoresNothingForThatPartition) {
    script_.hold = {0};
    pending_.push_back(record(0, 0, "app/user/a"));
    WorkerOptions options{2, 100};
    options.revoke_timeout = 1ms;  // the held record cannot finish in time, however long this is
    start(options, 2, true);
    script_.wait_started(0);
    wait_all_polled();
    revoke_and_wait({kP0});
    EXPECT_EQ(source_->stored_when_revoke_returned_, 0);  // 0 was still running
    script_.release(0);
    {
        std::unique_lock lock(script_.mutex);
        script_.cv.wait(lock, [&] { return worker_->counters().finished() >= 1; });
    }
    // The worker keeps going, and once partition 1's offset is stored any offset the late
    // record could have produced would have been stored with it.
    source_->add(record(1, 100, "app/user/b"));
    join();
    EXPECT_FALSE(result_.has_value());
    EXPECT_EQ(source_->stored(kP1), 101);
    EXPECT_EQ(source_->stored(kP0), 0);
    // Its outcome is recorded, so it counts, once.
    EXPECT_EQ(worker_->counters().applied, 2U);
}

TEST_F(WorkerTest, DuplicateCountsAsADuplicateAndAdvancesTheOffset) {
    script_.duplicate = {1};
    for (std::int64_t o = 0; o < 3; ++o) pending_.push_back(record(0, o, "app/user/a"));
    start(WorkerOptions{2, 100}, 3, true);
    join();
    EXPECT_FALSE(result_.has_value());
    const auto c = worker_->counters();
    EXPECT_EQ(c.duplicates, 1U);
    EXPECT_EQ(c.applied, 2U);
    EXPECT_EQ(source_->stored(kP0), 3);
}

TEST_F(WorkerTest, ThrowingHandlerGetsHandleFailureAndThePartitionGoesOn) {
    script_.throws = {1};
    for (std::int64_t o = 0; o < 3; ++o) pending_.push_back(record(0, o, "app/user/a"));
    start(WorkerOptions{2, 100}, 3, true);
    join();
    EXPECT_FALSE(result_.has_value());
    EXPECT_EQ(script_.failures, (std::vector<std::int64_t>{1}));
    ASSERT_EQ(script_.failure_reasons.size(), 1U);
    EXPECT_NE(script_.failure_reasons[0].find("mapping blew up at offset 1"), std::string::npos);
    EXPECT_EQ(script_.handled, (std::vector<std::int64_t>{0, 2}));  // the next record ran
    const auto c = worker_->counters();
    EXPECT_EQ(c.applied, 2U);
    EXPECT_EQ(c.dead_lettered, 1U);
    EXPECT_EQ(source_->stored(kP0), 3);
}

TEST_F(WorkerTest, ThrowingHandlerWithoutAFailurePathStopsWithoutCommittingTheRecord) {
    script_.throws = {1};
    script_.override_failure = false;
    for (std::int64_t o = 0; o < 3; ++o) pending_.push_back(record(0, o, "app/user/a"));
    start(WorkerOptions{1, 100}, 1000, true);
    join();
    ASSERT_TRUE(result_.has_value());
    EXPECT_NE(result_->find("events[0]@1"), std::string::npos) << *result_;
    EXPECT_NE(result_->find("mapping blew up at offset 1"), std::string::npos) << *result_;
    EXPECT_EQ(script_.handled, (std::vector<std::int64_t>{0}));
    EXPECT_EQ(source_->stored(kP0), 1);
}

TEST_F(WorkerTest, FailurePathThatThrowsTooStopsWithoutCommittingTheRecord) {
    script_.throws = {1};
    script_.failure_throws = true;
    for (std::int64_t o = 0; o < 3; ++o) pending_.push_back(record(0, o, "app/user/a"));
    start(WorkerOptions{1, 100}, 1000, true);
    join();
    ASSERT_TRUE(result_.has_value());
    EXPECT_NE(result_->find("mapping blew up at offset 1"), std::string::npos) << *result_;
    EXPECT_EQ(script_.failures, (std::vector<std::int64_t>{1}));
    EXPECT_EQ(script_.handled, (std::vector<std::int64_t>{0}));  // 2 was not started
    EXPECT_EQ(script_.started.count(2), 0U);
    EXPECT_EQ(source_->stored(kP0), 1);
    EXPECT_TRUE(source_->closed_);
}

TEST_F(WorkerTest, ClaimedRetriesRunBesideConsumedRecordsAndAParkedRecordIsCommitted) {
    journal_.park_offsets = {1};
    for (std::int64_t o = 0; o < 3; ++o) pending_.push_back(record(0, o, "app/user/k" + std::to_string(o)));
    std::deque<std::vector<ClaimedHead>> batches;
    batches.push_back({head_of("r1", "t1"), head_of("r2", "t2")});
    batches.push_back({head_of("r3", "t3")});
    auto parked = std::make_unique<FakeParkedSource>(std::move(batches));
    auto* fake_parked = parked.get();
    WorkerOptions options{4, 1000};
    options.parked_poll_interval = 1ms;
    options.max_parked_in_flight = 2;
    // Two consumed records reach outcomes (one is parked) plus three claimed heads.
    start(options, 5, false, std::move(parked));
    join();
    EXPECT_FALSE(result_.has_value()) << *result_;
    const auto c = worker_->counters();
    EXPECT_EQ(c.applied, 5U);
    EXPECT_EQ(c.parked, 1U);
    EXPECT_EQ(c.retried, 3U);
    std::lock_guard lock(journal_.mutex);
    ASSERT_EQ(journal_.heads.size(), 3U);
    std::set<std::string> heads(journal_.heads.begin(), journal_.heads.end());
    EXPECT_EQ(heads, (std::set<std::string>{"r1#t1", "r2#t2", "r3#t3"}));
    // The parked record's offset counts as done: everything up to the last record is stored.
    EXPECT_EQ(source_->stored({"events", 0}), 3);
    std::lock_guard claims(fake_parked->mutex_);
    ASSERT_FALSE(fake_parked->asked_.empty());
    for (const auto asked : fake_parked->asked_) EXPECT_LE(asked, 2U) << "never more in flight than allowed";
}

TEST_F(WorkerTest, WithoutRetrySupportAClaimedHeadStopsTheWorker) {
    std::deque<std::vector<ClaimedHead>> batches;
    batches.push_back({head_of("r1", "t1")});
    WorkerOptions options{2, 1000};
    options.parked_poll_interval = 1ms;
    start(options, 1000, /*scripted=*/true, std::make_unique<FakeParkedSource>(std::move(batches)));
    join();
    ASSERT_TRUE(result_.has_value());
    EXPECT_NE(result_->find("does not run retries"), std::string::npos) << *result_;
}

TEST_F(WorkerTest, PartitionsPausedForBackPressureDeliverAgainAfterARebalanceGivesThemBack) {
    journal_.hold_offset = 0;
    for (std::int64_t o = 0; o < 12; ++o) pending_.push_back(record(0, o, "app/user/k" + std::to_string(o)));
    WorkerOptions options{1, 4};
    options.revoke_timeout = 100ms;  // the held record is not waited for
    start(options, 1000);
    {
        std::unique_lock lock(source_->mutex_);
        source_->cv_.wait(lock, [&] { return source_->paused_; });  // four in flight: paused
    }
    source_->request_reassign();
    {
        std::unique_lock lock(source_->mutex_);
        source_->cv_.wait(lock, [&] { return source_->reassigned_; });
    }
    {
        std::lock_guard lock(journal_.mutex);
        journal_.released = true;
    }
    journal_.cv.notify_all();
    // Without the resume the partitions stay paused and the records after the pause never
    // arrive. (The queued ones the revoke gave back would come again from Kafka's committed
    // offset; this fake does not redeliver, so only 4..11 are awaited.)
    {
        std::unique_lock lock(journal_.mutex);
        const bool all = journal_.cv.wait_for(lock, 30s, [&] {
            for (std::int64_t o = 4; o < 12; ++o) {
                if (journal_.by_key.count("app/user/k" + std::to_string(o)) == 0) return false;
            }
            return true;
        });
        EXPECT_TRUE(all) << "only " << worker_->counters().finished() << " records finished";
    }
    worker_->request_stop();
    join();
    EXPECT_FALSE(result_.has_value());
}

WorkerOptions two_apps(std::chrono::milliseconds spill_after) {
    WorkerOptions options{2, 1000};
    options.apps = {AppLanes{"slow", 1, 1}, AppLanes{"fast", 2, 16}};  // fast never fills
    options.spill_after = spill_after;
    return options;
}

TEST_F(WorkerTest, ASlowAppDoesNotHoldUpAnotherAppAndItsBacklogIsParkedUnrun) {
    journal_.hold_offset = 0;  // the slow app's request that does not come back
    pending_.push_back(record(0, 0, "slow/user/1"));
    pending_.push_back(record(0, 1, "slow/user/2"));
    pending_.push_back(record(0, 2, "slow/user/1"));  // behind its own object's running record
    for (std::int64_t o = 3; o < 13; ++o) pending_.push_back(record(0, o, "fast/user/" + std::to_string(o)));
    pending_.push_back(record(0, 13, "slow/user/2"));  // follows its object's first into Redis
    auto parked = std::make_unique<FakeParkedSource>(std::deque<std::vector<ClaimedHead>>{});
    parked->room_of_ = "slow";
    auto* claims = parked.get();
    // spill_after 0: an app with anything waiting counts as behind, so the test needs no clock.
    start(two_apps(0ms), 12, false, std::move(parked));
    {
        std::unique_lock lock(journal_.mutex);
        // A deadline only so that a broken worker fails instead of hanging; nothing here is timed.
        ASSERT_TRUE(journal_.cv.wait_for(lock, 60s, [&] {
            return journal_.holding && worker_->counters().applied >= 10 && journal_.held.size() >= 2;
        }));
        // Every fast event ran while the slow app's first request was still out.
        for (std::int64_t o = 3; o < 13; ++o) {
            EXPECT_EQ(journal_.by_key["fast/user/" + std::to_string(o)], std::vector<std::int64_t>{o});
        }
        // The other slow object's events were parked unrun, in order; the running object's second
        // event waits in memory behind its first (it may not overtake it through Redis).
        EXPECT_EQ(journal_.held, (std::vector<std::int64_t>{1, 13}));
        EXPECT_TRUE(journal_.by_key["slow/user/1"].empty());
    }
    {
        // No due retries are claimed for an app that is behind (the claims go on meanwhile).
        std::unique_lock lock(claims->mutex_);
        EXPECT_TRUE(claims->claimed_cv_.wait_for(lock, 60s, [&] {
            return !claims->rooms_.empty() && claims->rooms_.back() == 0U;
        }));
    }
    {
        std::lock_guard lock(journal_.mutex);
        journal_.released = true;
    }
    journal_.cv.notify_all();
    join();
    EXPECT_FALSE(result_.has_value());
    EXPECT_EQ(journal_.by_key["slow/user/1"], (std::vector<std::int64_t>{0, 2}));
    EXPECT_EQ(worker_->counters().held, 2U);
    EXPECT_EQ(worker_->counters().parked, 2U);
    EXPECT_EQ(source_->stored({"events", 0}), 14);  // the parked ones are committed too
}

TEST_F(WorkerTest, AnAppThatIsNotBehindKeepsItsRecordsInMemoryAndOthersStillRun) {
    journal_.hold_offset = 0;
    pending_.push_back(record(0, 0, "slow/user/1"));
    pending_.push_back(record(0, 1, "slow/user/2"));  // over the slow app's max_queued of 1
    pending_.push_back(record(0, 2, "slow/user/3"));
    for (std::int64_t o = 3; o < 8; ++o) pending_.push_back(record(0, o, "fast/user/" + std::to_string(o)));
    start(two_apps(std::chrono::hours(1)), 8);
    {
        std::unique_lock lock(journal_.mutex);
        ASSERT_TRUE(journal_.cv.wait_for(lock, 60s, [&] { return worker_->counters().applied >= 5; }));
        EXPECT_TRUE(journal_.by_key["slow/user/2"].empty());
        journal_.released = true;
    }
    journal_.cv.notify_all();
    join();
    EXPECT_FALSE(result_.has_value());
    EXPECT_TRUE(journal_.held.empty()) << "nothing waited long enough to be parked";
    EXPECT_EQ(worker_->counters().applied, 8U);
    EXPECT_EQ(source_->pauses_, 0) << "no back-pressure below max_in_flight";
    EXPECT_EQ(source_->stored({"events", 0}), 8);
}

}  // namespace
}  // namespace provbridge::consumers
