// The parking half of RedisStateStore (per-object queues, due heads, leases) against a real
// redis-server. Time is passed explicitly (now_ms) or comes from a FakeClock: nothing sleeps.

#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fakes.hpp"
#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/json_util.hpp"
#include "redis_fixture.hpp"

namespace provbridge::test_support {
namespace {

using consumers::ProvisioningLogReader;
using consumers::RedisConnection;
using consumers::RedisStateStore;
using namespace std::chrono_literals;
using namespace std::string_literals;

constexpr std::chrono::seconds kTtl = std::chrono::hours(24);
constexpr const char* kSource = "urn:directory:contoso";
constexpr std::chrono::milliseconds kLease = 30s;

ParkedEvent parked_event(const std::string& app, const std::string& object_id, const std::string& event_id,
                         ObjectType type = ObjectType::User) {
    ParkedEvent event;
    event.app = app;
    event.object_type = type;
    event.object_id = object_id;
    event.source = kSource;
    event.event_id = event_id;
    event.parked_at_ms = 1'000;
    event.record.topic = "provisioning.events";
    event.record.partition = 1;
    event.record.offset = 77;
    event.record.key = app + "/" + std::string(to_string(type)) + "/" + object_id;
    event.record.value = R"({"specversion":"1.0","id":")" + event_id + R"("})";
    event.record.headers = {{"content-type", "application/cloudevents+json"}};
    event.record.timestamp_ms = 1'700'000'000'000;
    return event;
}

Event event_of(const ParkedEvent& parked) {
    Event event;
    event.id = parked.event_id;
    event.source = parked.source;
    event.type = parked.object_type == ObjectType::User ? EventType::UserUpdated : EventType::GroupUpdated;
    event.app = parked.app;
    event.object_type = parked.object_type;
    event.object_id = parked.object_id;
    event.version = 1;
    return event;
}

OutcomeRecord record_of(const ParkedEvent& parked, OutcomeStatus status = OutcomeStatus::Applied) {
    OutcomeRecord r;
    r.event_id = parked.event_id;
    r.source = parked.source;
    r.event_type = std::string(to_string(event_of(parked).type));
    r.app = parked.app;
    r.object_type = std::string(to_string(parked.object_type));
    r.object_id = parked.object_id;
    r.version = 1;
    r.action = status == OutcomeStatus::Applied ? Action::Update : Action::None;
    r.status = status;
    r.topic = parked.record.topic;
    r.partition = parked.record.partition;
    r.offset = parked.record.offset;
    r.attempts = parked.attempts + 1;
    return r;
}

Commit head_commit(const ClaimedHead& head, OutcomeStatus status = OutcomeStatus::Applied) {
    Commit commit;
    commit.record = record_of(head.event, status);
    commit.dead_letter = status == OutcomeStatus::DeadLettered;
    commit.head = head.lease;
    return commit;
}

// The fields of a parked event, compared one by one so a failure names the field.
void expect_same(const ParkedEvent& got, const ParkedEvent& want) {
    EXPECT_EQ(got.app, want.app);
    EXPECT_EQ(got.object_type, want.object_type);
    EXPECT_EQ(got.object_id, want.object_id);
    EXPECT_EQ(got.source, want.source);
    EXPECT_EQ(got.event_id, want.event_id);
    EXPECT_EQ(got.attempts, want.attempts);
    EXPECT_EQ(got.parked_at_ms, want.parked_at_ms);
    EXPECT_EQ(got.first_failure_ms, want.first_failure_ms);
    ASSERT_EQ(got.trail.size(), want.trail.size());
    for (std::size_t i = 0; i < got.trail.size(); ++i) {
        EXPECT_EQ(got.trail[i].at_ms, want.trail[i].at_ms) << i;
        EXPECT_EQ(got.trail[i].code, want.trail[i].code) << i;
        EXPECT_EQ(got.trail[i].http_status, want.trail[i].http_status) << i;
        EXPECT_EQ(got.trail[i].detail, want.trail[i].detail) << i;
    }
    EXPECT_EQ(got.record.topic, want.record.topic);
    EXPECT_EQ(got.record.partition, want.record.partition);
    EXPECT_EQ(got.record.offset, want.record.offset);
    EXPECT_EQ(got.record.timestamp_ms, want.record.timestamp_ms);
    EXPECT_EQ(got.record.key, want.record.key);
    EXPECT_EQ(got.record.value, want.record.value);
    ASSERT_EQ(got.record.headers.size(), want.record.headers.size());
    for (std::size_t i = 0; i < got.record.headers.size(); ++i) {
        EXPECT_EQ(got.record.headers[i].name, want.record.headers[i].name) << i;
        EXPECT_EQ(got.record.headers[i].value, want.record.headers[i].value) << i;
    }
}

std::vector<std::string> ids_of(const std::vector<ClaimedHead>& heads) {
    std::vector<std::string> ids;
    for (const auto& head : heads) ids.push_back(head.lease.object_id);
    return ids;
}

class RedisParkingTest : public RedisTest {
protected:
    void SetUp() override {
        RedisTest::SetUp();
        if (!HasFatalFailure()) admin_.emplace(options());
    }

    RedisStateStore make_store(std::int64_t cap = 100000) {
        return RedisStateStore(options(), keys(), kTtl, cap, clock_);
    }
    ProvisioningLogReader make_reader() { return ProvisioningLogReader(options(), keys()); }

    std::string member(const std::string& id, ObjectType type = ObjectType::User) {
        return KeyScheme::queue_member(type, id);
    }
    std::string queue_key(const std::string& id, ObjectType type = ObjectType::User) {
        return keys().queue(app(), type, id);
    }

    std::int64_t integer(const consumers::RedisArgv& argv) {
        auto reply = admin_->call(argv);
        EXPECT_TRUE(reply) << reply.error().message;
        return reply ? reply->integer : -1;
    }
    std::int64_t queue_length(const std::string& id) { return integer({"LLEN", queue_key(id)}); }
    std::int64_t parked_count() { return integer({"HLEN", keys().parked(app())}); }
    std::int64_t lease_count() { return integer({"HLEN", keys().leases(app())}); }
    // The due score of an object's head as Redis prints it; nullopt when it is not in the set.
    std::optional<std::string> due_score(const std::string& id) {
        auto reply = admin_->call({"ZSCORE", keys().due(app()), member(id)});
        EXPECT_TRUE(reply) << reply.error().message;
        if (!reply || reply->is_nil()) return std::nullopt;
        return reply->str;
    }
    std::optional<std::string> lease_token(const std::string& id) {
        auto reply = admin_->call({"HGET", keys().leases(app()), member(id)});
        EXPECT_TRUE(reply) << reply.error().message;
        if (!reply || reply->is_nil()) return std::nullopt;
        return reply->str;
    }
    // The event id of each entry of an object's queue, head first.
    std::vector<std::string> queued_ids(const std::string& id) {
        auto reply = admin_->call({"LRANGE", queue_key(id), "0", "-1"});
        EXPECT_TRUE(reply) << reply.error().message;
        std::vector<std::string> ids;
        if (!reply) return ids;
        for (const auto& entry : reply->elements) {
            auto event = consumers::decode_parked(entry.str, queue_key(id));
            EXPECT_TRUE(event) << event.error().message;
            ids.push_back(event ? event->event_id : "?");
        }
        return ids;
    }

    Result<std::vector<ClaimedHead>> claim(RedisStateStore& store, std::int64_t now_ms, std::size_t max = 100,
                                           const std::string& owner = "w1") {
        return store.claim_due(app(), now_ms, kLease, max, owner);
    }

    FakeClock clock_;
    std::optional<RedisConnection> admin_;
};

TEST_F(RedisParkingTest, ParkAsHeadBehindItNotQueuedAndAlreadyParked) {
    auto store = make_store();
    const auto e1 = parked_event(app(), "u-1", "e-1");
    const auto e2 = parked_event(app(), "u-1", "e-2");
    const auto e3 = parked_event(app(), "u-1", "e-3");

    // Behind an empty queue: nothing to wait for, and nothing is written.
    auto status = store.park(e1, ParkMode::Behind, 1'000);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, ParkStatus::NotQueued);
    EXPECT_EQ(queue_length("u-1"), 0);
    EXPECT_EQ(parked_count(), 0);
    EXPECT_FALSE(due_score("u-1"));

    status = store.park(e1, ParkMode::Anywhere, 1'000);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, ParkStatus::Parked);
    EXPECT_EQ(due_score("u-1"), "1000");

    // A redelivery of a parked event changes nothing, in either mode.
    for (const auto mode : {ParkMode::Anywhere, ParkMode::Behind}) {
        status = store.park(e1, mode, 5);
        ASSERT_TRUE(status) << status.error().message;
        EXPECT_EQ(*status, ParkStatus::AlreadyParked);
    }

    status = store.park(e2, ParkMode::Behind, 2);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, ParkStatus::Parked);
    status = store.park(e3, ParkMode::Anywhere, 3);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, ParkStatus::Parked);
    status = store.park(e2, ParkMode::Behind, 2);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, ParkStatus::AlreadyParked);

    EXPECT_EQ(queued_ids("u-1"), (std::vector<std::string>{"e-1", "e-2", "e-3"}));
    // Only a new head sets the due time.
    EXPECT_EQ(due_score("u-1"), "1000");
    EXPECT_EQ(parked_count(), 3);

    // The same event id from another source is another event.
    auto other_source = e1;
    other_source.source = "urn:directory:fabrikam";
    status = store.park(other_source, ParkMode::Behind, 0);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, ParkStatus::Parked);

    // Another object of the app has its own queue; a group with the same id too.
    status = store.park(parked_event(app(), "u-2", "e-9"), ParkMode::Behind, 0);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, ParkStatus::NotQueued);
    status = store.park(parked_event(app(), "u-1", "e-g", ObjectType::Group), ParkMode::Behind, 0);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, ParkStatus::NotQueued);
}

TEST_F(RedisParkingTest, LoadTellsWhetherTheObjectAndTheEventAreParked) {
    auto store = make_store();
    const auto e1 = parked_event(app(), "u-1", "e-1");
    ASSERT_TRUE(store.park(e1, ParkMode::Anywhere, 1'000));

    // load() reads these flags in the same pipelined exchange as the outcome and the link.
    auto prior = store.load(event_of(e1));
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_TRUE(prior->object_queued);
    EXPECT_TRUE(prior->event_parked);
    EXPECT_FALSE(prior->recorded.has_value());
    EXPECT_FALSE(prior->link.has_value());

    prior = store.load(event_of(parked_event(app(), "u-1", "e-2")));
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_TRUE(prior->object_queued);
    EXPECT_FALSE(prior->event_parked);

    prior = store.load(event_of(parked_event(app(), "u-2", "e-3")));
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_FALSE(prior->object_queued);
    EXPECT_FALSE(prior->event_parked);

    // An event is identified by app, source and id, as its outcome is; its object's queue by
    // type and id.
    prior = store.load(event_of(parked_event(app(), "u-1", "e-1", ObjectType::Group)));
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_FALSE(prior->object_queued);
    EXPECT_TRUE(prior->event_parked);
}

TEST_F(RedisParkingTest, ClaimsOnlyDueHeadsOldestFirstAndUpToMax) {
    auto store = make_store();
    ASSERT_TRUE(store.park(parked_event(app(), "u-a", "e-a"), ParkMode::Anywhere, 3'000));
    ASSERT_TRUE(store.park(parked_event(app(), "u-b", "e-b"), ParkMode::Anywhere, 1'000));
    ASSERT_TRUE(store.park(parked_event(app(), "u-c", "e-c"), ParkMode::Anywhere, 2'000));
    ASSERT_TRUE(store.park(parked_event(app(), "u-d", "e-d"), ParkMode::Anywhere, 9'000));
    // Only the head of u-b's queue may be claimed, never the event behind it.
    ASSERT_TRUE(store.park(parked_event(app(), "u-b", "e-b2"), ParkMode::Behind, 0));

    auto none = claim(store, 999);
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_TRUE(none->empty());

    auto first = claim(store, 5'000, 2);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(ids_of(*first), (std::vector<std::string>{"u-b", "u-c"}));
    ASSERT_EQ(first->size(), 2u);
    const auto& head = first->front();
    EXPECT_EQ(head.event.event_id, "e-b");
    EXPECT_EQ(head.lease.app, app());
    EXPECT_EQ(head.lease.object_type, ObjectType::User);
    EXPECT_TRUE(head.lease.token.starts_with("w1:")) << head.lease.token;
    EXPECT_NE(head.lease.token, (*first)[1].lease.token);
    EXPECT_EQ(head.lease_until_ms, 5'000 + kLease.count());
    expect_same(head.event, parked_event(app(), "u-b", "e-b"));
    // While claimed, the due score is the end of the lease.
    EXPECT_EQ(due_score("u-b"), std::to_string(5'000 + kLease.count()));
    EXPECT_EQ(lease_token("u-b"), head.lease.token);

    auto second = claim(store, 5'000, 2);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(ids_of(*second), (std::vector<std::string>{"u-a"}));
    auto third = claim(store, 5'000);
    ASSERT_TRUE(third) << third.error().message;
    EXPECT_TRUE(third->empty()) << "claimed heads are not due again before their lease ends";

    auto zero = claim(store, 100'000, 0);
    ASSERT_TRUE(zero) << zero.error().message;
    EXPECT_TRUE(zero->empty());
    EXPECT_EQ(due_score("u-d"), "9000") << "max 0 claims nothing";
    auto unlimited = claim(store, 20'000, std::numeric_limits<std::size_t>::max());
    ASSERT_TRUE(unlimited) << unlimited.error().message;
    EXPECT_EQ(ids_of(*unlimited), (std::vector<std::string>{"u-d"}));
}

TEST_F(RedisParkingTest, AnExpiredLeaseIsTakenOverAndTheFirstOwnerLosesItWithoutWriting) {
    auto first_worker = make_store();
    auto second_worker = make_store();
    auto reader = make_reader();
    ASSERT_TRUE(first_worker.park(parked_event(app(), "u-1", "e-1"), ParkMode::Anywhere, 0));
    ASSERT_TRUE(first_worker.park(parked_event(app(), "u-1", "e-2"), ParkMode::Behind, 0));

    auto mine = first_worker.claim_due(app(), 1'000, kLease, 10, "w1");
    ASSERT_TRUE(mine) << mine.error().message;
    ASSERT_EQ(mine->size(), 1u);
    auto early = second_worker.claim_due(app(), 1'000 + kLease.count() - 1, kLease, 10, "w2");
    ASSERT_TRUE(early) << early.error().message;
    EXPECT_TRUE(early->empty());

    // The first worker is gone for longer than its lease: the head is due again.
    const std::int64_t later = 1'000 + kLease.count();
    auto theirs = second_worker.claim_due(app(), later, kLease, 10, "w2");
    ASSERT_TRUE(theirs) << theirs.error().message;
    ASSERT_EQ(theirs->size(), 1u);
    EXPECT_EQ(theirs->front().event.event_id, "e-1");
    EXPECT_NE(theirs->front().lease.token, mine->front().lease.token);
    EXPECT_TRUE(theirs->front().lease.token.starts_with("w2:"));

    // The first worker comes back: whatever it decided is not written.
    auto updated = mine->front().event;
    updated.attempts = 5;
    auto rescheduled = first_worker.reschedule(mine->front().lease, updated, 99);
    ASSERT_TRUE(rescheduled) << rescheduled.error().message;
    EXPECT_EQ(*rescheduled, LeaseStatus::Lost);
    auto committed = first_worker.commit(head_commit(mine->front(), OutcomeStatus::DeadLettered));
    ASSERT_TRUE(committed) << committed.error().message;
    EXPECT_EQ(*committed, CommitStatus::LeaseLost);

    auto prior = first_worker.load(event_of(parked_event(app(), "u-1", "e-1")));
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_FALSE(prior->recorded.has_value());
    EXPECT_TRUE(prior->event_parked);
    auto log = reader.count_log(app());
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_EQ(*log, 0);
    auto stats = reader.stats(app());
    ASSERT_TRUE(stats) << stats.error().message;
    EXPECT_TRUE(stats->empty());
    auto dlq = reader.dead_letters(app(), 10);
    ASSERT_TRUE(dlq) << dlq.error().message;
    EXPECT_TRUE(dlq->empty());
    EXPECT_EQ(queued_ids("u-1"), (std::vector<std::string>{"e-1", "e-2"}));
    EXPECT_EQ(due_score("u-1"), std::to_string(later + kLease.count()));
    EXPECT_EQ(lease_token("u-1"), theirs->front().lease.token);
    {
        auto head = admin_->call({"LINDEX", queue_key("u-1"), "0"});
        ASSERT_TRUE(head);
        auto decoded = consumers::decode_parked(head->str, "head");
        ASSERT_TRUE(decoded) << decoded.error().message;
        EXPECT_EQ(decoded->attempts, 0) << "a lost reschedule must not update the head";
    }

    // The new owner's commit stands.
    auto stands = second_worker.commit(head_commit(theirs->front()));
    ASSERT_TRUE(stands) << stands.error().message;
    EXPECT_EQ(*stands, CommitStatus::Recorded);
    EXPECT_EQ(queued_ids("u-1"), (std::vector<std::string>{"e-2"}));
    // A lease is good for one finish only.
    auto twice = second_worker.commit(head_commit(theirs->front()));
    ASSERT_TRUE(twice) << twice.error().message;
    EXPECT_EQ(*twice, CommitStatus::LeaseLost);
    EXPECT_EQ(queued_ids("u-1"), (std::vector<std::string>{"e-2"}));
}

TEST_F(RedisParkingTest, CommitOfTheHeadPopsItAndTheNextRunsAtOnceUntilTheQueueIsGone) {
    auto store = make_store();
    auto reader = make_reader();
    const auto e1 = parked_event(app(), "u-1", "e-1");
    const auto e2 = parked_event(app(), "u-1", "e-2");
    const auto e3 = parked_event(app(), "u-1", "e-3");
    ASSERT_TRUE(store.park(e1, ParkMode::Anywhere, 100));
    ASSERT_TRUE(store.park(e2, ParkMode::Behind, 0));
    ASSERT_TRUE(store.park(e3, ParkMode::Behind, 0));

    auto claimed = claim(store, 100);
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->size(), 1u);
    auto commit = head_commit(claimed->front());
    commit.link = LinkState{"scim-1", 1, LinkStatus::Active, {{"userName", "u1@example.com"}}, std::string(), nullptr};
    auto status = store.commit(commit);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, CommitStatus::Recorded);

    EXPECT_EQ(queued_ids("u-1"), (std::vector<std::string>{"e-2", "e-3"}));
    // Due at once: at the store clock's now, not after any backoff.
    EXPECT_EQ(due_score("u-1"), std::to_string(clock_.wall_ms()));
    EXPECT_EQ(lease_count(), 0);
    EXPECT_EQ(parked_count(), 2);
    auto prior = store.load(event_of(e1));
    ASSERT_TRUE(prior) << prior.error().message;
    ASSERT_TRUE(prior->recorded.has_value());
    EXPECT_FALSE(prior->event_parked);
    EXPECT_TRUE(prior->object_queued);
    ASSERT_TRUE(prior->link.has_value());
    EXPECT_EQ(prior->link->scim_id, "scim-1");

    // The next head; this one is dead-lettered, which indexes it as ever.
    claimed = claim(store, clock_.wall_ms());
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->size(), 1u);
    EXPECT_EQ(claimed->front().event.event_id, "e-2");
    status = store.commit(head_commit(claimed->front(), OutcomeStatus::DeadLettered));
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, CommitStatus::Recorded);
    auto dlq = reader.dead_letters(app(), 10);
    ASSERT_TRUE(dlq) << dlq.error().message;
    ASSERT_EQ(dlq->size(), 1u);
    EXPECT_EQ(dlq->front().fields.at("event_id"), "e-2");

    clock_.advance(5ms);
    claimed = claim(store, clock_.wall_ms());
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->size(), 1u);
    EXPECT_EQ(claimed->front().event.event_id, "e-3");
    status = store.commit(head_commit(claimed->front()));
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, CommitStatus::Recorded);

    // The last one leaves nothing behind.
    EXPECT_EQ(integer({"EXISTS", queue_key("u-1")}), 0);
    EXPECT_FALSE(due_score("u-1"));
    EXPECT_EQ(parked_count(), 0);
    EXPECT_EQ(lease_count(), 0);
    prior = store.load(event_of(e3));
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_FALSE(prior->object_queued);
    EXPECT_FALSE(prior->event_parked);
    auto log = reader.count_log(app());
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_EQ(*log, 3);
    // A new event of the object is not held up by anything.
    auto next = store.park(parked_event(app(), "u-1", "e-4"), ParkMode::Behind, 0);
    ASSERT_TRUE(next) << next.error().message;
    EXPECT_EQ(*next, ParkStatus::NotQueued);
}

TEST_F(RedisParkingTest, AHeadWhoseOutcomeIsAlreadyRecordedIsPoppedAnyway) {
    auto store = make_store();
    auto reader = make_reader();
    const auto e1 = parked_event(app(), "u-1", "e-1");
    ASSERT_TRUE(store.park(e1, ParkMode::Anywhere, 0));
    ASSERT_TRUE(store.park(parked_event(app(), "u-1", "e-2"), ParkMode::Behind, 0));
    // Another delivery of e-1 recorded an outcome meanwhile (a re-produced event, say).
    Commit earlier;
    earlier.record = record_of(e1);
    earlier.record.reason = "first";
    ASSERT_TRUE(store.commit(earlier));

    auto claimed = claim(store, 10);
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->size(), 1u);
    auto commit = head_commit(claimed->front());
    commit.record.reason = "second";
    auto status = store.commit(commit);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, CommitStatus::AlreadyRecorded);

    EXPECT_EQ(queued_ids("u-1"), (std::vector<std::string>{"e-2"}));
    EXPECT_EQ(due_score("u-1"), std::to_string(clock_.wall_ms()));
    EXPECT_EQ(lease_count(), 0);
    EXPECT_EQ(parked_count(), 1);
    auto log = reader.count_log(app());
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_EQ(*log, 1);
    auto outcome = reader.outcome(app(), kSource, "e-1");
    ASSERT_TRUE(outcome && outcome->has_value());
    EXPECT_EQ((*outcome)->reason, "first");
}

TEST_F(RedisParkingTest, RescheduleUpdatesTheHeadAndReleasesTheLease) {
    auto store = make_store();
    ASSERT_TRUE(store.park(parked_event(app(), "u-1", "e-1"), ParkMode::Anywhere, 0));
    ASSERT_TRUE(store.park(parked_event(app(), "u-1", "e-2"), ParkMode::Behind, 0));
    auto claimed = claim(store, 1'000);
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->size(), 1u);

    auto updated = claimed->front().event;
    updated.attempts = 1;
    updated.first_failure_ms = 1'000;
    updated.trail.push_back({1'000, "ServiceUnavailable", 503, "the target said: try later"});
    auto status = store.reschedule(claimed->front().lease, updated, 50'000);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, LeaseStatus::Held);
    EXPECT_EQ(lease_count(), 0);
    EXPECT_EQ(due_score("u-1"), "50000");
    EXPECT_EQ(queued_ids("u-1"), (std::vector<std::string>{"e-1", "e-2"}));
    // The lease was released: using it again changes nothing.
    auto again = store.reschedule(claimed->front().lease, updated, 1);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*again, LeaseStatus::Lost);
    EXPECT_EQ(due_score("u-1"), "50000");

    auto early = claim(store, 49'999);
    ASSERT_TRUE(early) << early.error().message;
    EXPECT_TRUE(early->empty());
    auto retry = claim(store, 50'000);
    ASSERT_TRUE(retry) << retry.error().message;
    ASSERT_EQ(retry->size(), 1u);
    expect_same(retry->front().event, updated);

    // A second failure appends to the trail.
    auto twice = retry->front().event;
    twice.attempts = 2;
    twice.trail.push_back({50'000, "ConnectionFailed", 0, "connection refused"});
    ASSERT_TRUE(store.reschedule(retry->front().lease, twice, 90'000));
    auto third = claim(store, 90'000);
    ASSERT_TRUE(third) << third.error().message;
    ASSERT_EQ(third->size(), 1u);
    expect_same(third->front().event, twice);

    // A reschedule must name the head it holds.
    auto wrong = twice;
    wrong.object_id = "u-2";
    auto refused = store.reschedule(third->front().lease, wrong, 1);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::Permanent);
}

TEST_F(RedisParkingTest, ARecordWithAnyBytesRoundTripsExactly) {
    auto store = make_store();
    const auto raw_key = "k\0\xff\xfe\x80 /"s;
    const auto raw_value = "{\"a\":\"\xc3\x28\"}\0\x01\xed\xa0\x80"s;  // bad UTF-8, a NUL, a surrogate
    const auto bad_utf8_source = "urn:dir:\xc3\x28\xff"s;
    auto event = parked_event(app(), "u:日本/\"x\"", "e-\x01\x7f");
    event.source = bad_utf8_source;
    event.record.key = raw_key;
    event.record.value = raw_value;
    event.record.headers = {{"ce_id", "\0\0"s}, {"n\xff"s, "\xf0\x9f\x98\x80 ok"s}, {"empty", ""}};
    event.record.topic = "topic.\xe2\x82";
    event.trail = {{7, "TooManyRequests", 429, "detail \xc0\xaf overlong"s}};
    event.attempts = 1;
    event.first_failure_ms = 7;
    ASSERT_TRUE(store.park(event, ParkMode::Anywhere, 0));

    // What is stored is a JSON document (no raw bytes), as operators and scripts can read it.
    auto stored = admin_->call({"LINDEX", keys().queue(app(), ObjectType::User, event.object_id), "0"});
    ASSERT_TRUE(stored) << stored.error().message;
    ASSERT_FALSE(stored->is_nil());
    auto doc = parse_json(stored->str);
    ASSERT_TRUE(doc) << doc.error().message;
    EXPECT_EQ(stored->str.find(raw_key), std::string::npos);
    EXPECT_EQ(doc->at("record").at("key"), "awD//oAgLw==");

    auto prior = store.load(event_of(event));
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_TRUE(prior->event_parked) << "the event key is made of the very same bytes";

    auto claimed = claim(store, 1);
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->size(), 1u);
    EXPECT_EQ(claimed->front().lease.object_id, event.object_id);
    expect_same(claimed->front().event, event);

    // Large values cross the base64 chunk size in both directions.
    auto large = parked_event(app(), "u-large", "e-large");
    large.record.value.clear();
    for (int i = 0; i < 100'003; ++i) large.record.value.push_back(static_cast<char>((i * 7919) % 256));
    large.record.headers = {{"h", large.record.value.substr(0, 12'289)}};
    ASSERT_TRUE(store.park(large, ParkMode::Anywhere, 0));

    // A record without a key keeps having none (not an empty one).
    auto keyless = parked_event(app(), "u-keyless", "e-k");
    keyless.record.key.reset();
    keyless.record.value.clear();
    keyless.record.headers.clear();
    ASSERT_TRUE(store.park(keyless, ParkMode::Anywhere, 0));

    auto status = store.commit(head_commit(claimed->front()));
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, CommitStatus::Recorded);
    EXPECT_EQ(parked_count(), 2) << "the head's parked entry went with it (large and keyless stay)";

    auto second = claim(store, 2);
    ASSERT_TRUE(second) << second.error().message;
    ASSERT_EQ(second->size(), 2u);
    // Both were due at 0: a tie is broken by member, "user:u-keyless" < "user:u-large".
    EXPECT_FALSE(second->at(0).event.record.key.has_value());
    expect_same(second->at(0).event, keyless);
    expect_same(second->at(1).event, large);
}

TEST(ParkedEventEncoding, RefusesWhatIsNotAParkedEventWithoutThrowing) {
    const auto good = consumers::encode_parked(parked_event("app", "u-1", "e-1"));
    ASSERT_TRUE(consumers::decode_parked(good, "here"));
    auto doc = parse_json(good);
    ASSERT_TRUE(doc);
    const auto with = [&](const std::function<void(nlohmann::json&)>& change) {
        auto copy = *doc;
        change(copy);
        return copy.dump();
    };
    const std::vector<std::string> bad = {
        "",
        "[]",
        "{\"format\":1}",
        with([](auto& d) { d["format"] = 2; }),
        with([](auto& d) { d["attempts"] = "one"; }),
        with([](auto& d) { d["object_type"] = "printer"; }),
        with([](auto& d) { d["trail"] = "none"; }),
        with([](auto& d) { d["trail"] = nlohmann::json::array({1}); }),
        with([](auto& d) { d["record"]["value"] = "not base64!"; }),
        with([](auto& d) { d["record"]["value"] = "QQ="; }),
        with([](auto& d) { d["record"]["value"] = "Q=Q="; }),
        with([](auto& d) { d["record"]["value"] = " QUFB"; }),
        with([](auto& d) { d["record"]["headers"] = nlohmann::json::object(); }),
        with([](auto& d) { d["source"] = nlohmann::json{{"base64", "@@@@"}}; }),
        with([](auto& d) { d["source"] = 5; }),
        with([](auto& d) { d.erase("record"); }),
    };
    for (const auto& text : bad) {
        Result<ParkedEvent> decoded = make_error("not called");
        EXPECT_NO_THROW(decoded = consumers::decode_parked(text, "pb:{a}:queue:user:u-1"));
        ASSERT_FALSE(decoded) << text;
        EXPECT_NE(decoded.error().message.find("pb:{a}:queue:user:u-1"), std::string::npos) << decoded.error().message;
        EXPECT_EQ(decoded.error().kind, ErrorKind::Permanent);
    }
    // Padding is exact: "QQ==" is one byte, "QUE=" two.
    auto one = consumers::decode_parked(with([](auto& d) { d["record"]["value"] = "QQ=="; }), "x");
    ASSERT_TRUE(one) << one.error().message;
    EXPECT_EQ(one->record.value, "A");
    auto two = consumers::decode_parked(with([](auto& d) { d["record"]["value"] = "QUE="; }), "x");
    ASSERT_TRUE(two) << two.error().message;
    EXPECT_EQ(two->record.value, "AA");
}

TEST_F(RedisParkingTest, TheDeadLetterIndexIsNeverTrimmedWhileTheLogIs) {
    auto store = make_store(10);
    auto reader = make_reader();
    constexpr int kDeadLetters = 300;
    for (int i = 0; i < kDeadLetters; ++i) {
        Commit commit;
        commit.record = record_of(parked_event(app(), "u-" + std::to_string(i), "e-" + std::to_string(i)),
                                  OutcomeStatus::DeadLettered);
        commit.dead_letter = true;
        auto status = store.commit(commit);
        ASSERT_TRUE(status) << status.error().message;
    }
    auto log = reader.count_log(app());
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_LT(*log, kDeadLetters);
    auto dlq = integer({"XLEN", keys().dead_letters(app())});
    EXPECT_EQ(dlq, kDeadLetters);
    auto oldest = reader.dead_letters(app(), 1);
    ASSERT_TRUE(oldest) << oldest.error().message;
    ASSERT_EQ(oldest->size(), 1u);
    EXPECT_EQ(oldest->front().fields.at("event_id"), "e-0");
}

TEST_F(RedisParkingTest, ACorruptHeadIsSkippedAndStaysClaimedWhileTheOthersRun) {
    auto store = make_store();
    for (const auto* id : {"u-1", "u-2", "u-3"}) {
        ASSERT_TRUE(store.park(parked_event(app(), id, std::string("e-") + id), ParkMode::Anywhere, 100));
    }
    ASSERT_TRUE(admin_->call({"LSET", queue_key("u-2"), "0", "{not json"}));
    // A member that names no object, and one whose queue is gone.
    ASSERT_TRUE(admin_->call({"ZADD", keys().due(app()), "50", "printer:p1"}));
    ASSERT_TRUE(admin_->call({"RPUSH", keys().queue_prefix(app()) + "printer:p1", "{}"}));
    ASSERT_TRUE(admin_->call({"ZADD", keys().due(app()), "60", member("ghost")}));

    auto claimed = claim(store, 1'000);
    ASSERT_TRUE(claimed) << claimed.error().message;
    EXPECT_EQ(ids_of(*claimed), (std::vector<std::string>{"u-1", "u-3"}));
    EXPECT_EQ(store.corrupt_heads(), 2);
    ASSERT_TRUE(store.last_corrupt_head().has_value());
    EXPECT_NE(store.last_corrupt_head()->message.find(queue_key("u-2")), std::string::npos)
        << store.last_corrupt_head()->message;
    EXPECT_FALSE(due_score("ghost")) << "a due member without a queue is dropped";

    // The corrupt head is not lost: it stays claimed and comes back when its lease runs out.
    EXPECT_TRUE(lease_token("u-2").has_value());
    auto still = claim(store, 1'000);
    ASSERT_TRUE(still) << still.error().message;
    EXPECT_TRUE(still->empty());
    EXPECT_EQ(store.corrupt_heads(), 2);
    auto later = claim(store, 1'000 + kLease.count());
    ASSERT_TRUE(later) << later.error().message;
    EXPECT_EQ(ids_of(*later), (std::vector<std::string>{"u-1", "u-3"}));
    EXPECT_EQ(store.corrupt_heads(), 4);
    EXPECT_EQ(queue_length("u-2"), 1);
}

TEST_F(RedisParkingTest, TwoWorkersClaimingAtOnceGetEachHeadExactlyOnce) {
    constexpr int kObjects = 300;
    {
        auto store = make_store();
        for (int i = 0; i < kObjects; ++i) {
            ASSERT_TRUE(store.park(parked_event(app(), "u-" + std::to_string(i), "e-" + std::to_string(i)),
                                   ParkMode::Anywhere, i));
        }
    }
    // Read on this thread: the test's name (and so its keys) comes from gtest's current test.
    const auto app_id = app();
    const auto connect = options();
    const auto key_scheme = keys();
    const auto work = [&](const std::string& owner) {
        // Each worker thread has its own store (one connection each), as in the worker.
        RedisStateStore store(connect, key_scheme, kTtl, 100000, clock_);
        std::vector<ClaimedHead> mine;
        std::vector<std::string> errors;
        while (true) {
            auto batch = store.claim_due(app_id, 1'000'000, 10min, 7, owner);
            if (!batch) {
                errors.push_back(batch.error().message);
                break;
            }
            if (batch->empty()) break;
            for (auto& head : *batch) {
                auto status = store.commit(head_commit(head));
                if (!status) {
                    errors.push_back(status.error().message);
                } else if (*status != CommitStatus::Recorded) {
                    errors.push_back("commit of " + head.lease.object_id + ": " +
                                     std::to_string(static_cast<int>(*status)));
                }
                mine.push_back(std::move(head));
            }
        }
        return std::make_pair(mine, errors);
    };
    auto first = std::async(std::launch::async, work, "w1");
    auto second = std::async(std::launch::async, work, "w2");
    const auto [one, one_errors] = first.get();
    const auto [two, two_errors] = second.get();
    EXPECT_TRUE(one_errors.empty()) << one_errors.front();
    EXPECT_TRUE(two_errors.empty()) << two_errors.front();

    std::map<std::string, int> claims;
    for (const auto* heads : {&one, &two}) {
        for (const auto& head : *heads) ++claims[head.lease.object_id];
    }
    EXPECT_EQ(claims.size(), static_cast<std::size_t>(kObjects));
    for (const auto& [id, count] : claims) EXPECT_EQ(count, 1) << id;
    EXPECT_EQ(one.size() + two.size(), static_cast<std::size_t>(kObjects));
    std::printf("[ figure   ] %zu heads claimed by w1, %zu by w2\n", one.size(), two.size());
    EXPECT_EQ(integer({"ZCARD", keys().due(app())}), 0);
    EXPECT_EQ(parked_count(), 0);
    EXPECT_EQ(lease_count(), 0);
}

TEST_F(RedisParkingTest, EveryScriptSurvivesALostScriptCache) {
    auto store = make_store();
    ASSERT_TRUE(admin_->call({"SCRIPT", "FLUSH"}));
    auto parked = store.park(parked_event(app(), "u-1", "e-1"), ParkMode::Anywhere, 0);
    ASSERT_TRUE(parked) << parked.error().message;
    EXPECT_EQ(*parked, ParkStatus::Parked);
    ASSERT_TRUE(store.park(parked_event(app(), "u-1", "e-2"), ParkMode::Behind, 0));

    ASSERT_TRUE(admin_->call({"SCRIPT", "FLUSH"}));
    auto claimed = claim(store, 10);
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->size(), 1u);

    ASSERT_TRUE(admin_->call({"SCRIPT", "FLUSH"}));
    auto rescheduled = store.reschedule(claimed->front().lease, claimed->front().event, 20);
    ASSERT_TRUE(rescheduled) << rescheduled.error().message;
    EXPECT_EQ(*rescheduled, LeaseStatus::Held);

    claimed = claim(store, 20);
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->size(), 1u);
    ASSERT_TRUE(admin_->call({"SCRIPT", "FLUSH"}));
    auto committed = store.commit(head_commit(claimed->front()));
    ASSERT_TRUE(committed) << committed.error().message;
    EXPECT_EQ(*committed, CommitStatus::Recorded);
    EXPECT_EQ(queued_ids("u-1"), (std::vector<std::string>{"e-2"}));
}

TEST_F(RedisParkingTest, ACommitNamingAnotherObjectsHeadIsRefusedWithoutWriting) {
    auto store = make_store();
    auto reader = make_reader();
    ASSERT_TRUE(store.park(parked_event(app(), "u-1", "e-1"), ParkMode::Anywhere, 0));
    auto claimed = claim(store, 10);
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->size(), 1u);
    Commit commit;
    commit.record = record_of(parked_event(app(), "u-2", "e-2"));
    commit.head = claimed->front().lease;
    auto status = store.commit(commit);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().kind, ErrorKind::Permanent);
    auto log = reader.count_log(app());
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_EQ(*log, 0);
    EXPECT_EQ(queue_length("u-1"), 1);
    EXPECT_EQ(lease_token("u-1"), claimed->front().lease.token);
}

TEST_F(RedisParkingTest, EveryParkingKeyCarriesTheAppHashTag) {
    auto store = make_store();
    ASSERT_TRUE(store.park(parked_event(app(), "u-1", "e-1"), ParkMode::Anywhere, 0));
    ASSERT_TRUE(store.park(parked_event(app(), "g-1", "e-2", ObjectType::Group), ParkMode::Anywhere, 0));
    auto claimed = claim(store, 10, 1);
    ASSERT_TRUE(claimed && claimed->size() == 1u);

    std::set<std::string> kinds;
    const std::string app_base = key_prefix() + ":{" + app() + "}:";
    std::string cursor = "0";
    do {
        auto page = admin_->call({"SCAN", cursor, "MATCH", key_prefix() + ":*", "COUNT", "1000"});
        ASSERT_TRUE(page) << page.error().message;
        cursor = page->elements.at(0).str;
        for (const auto& key : page->elements.at(1).elements) {
            ASSERT_TRUE(key.str.starts_with(app_base)) << key.str;
            kinds.insert(key.str.substr(app_base.size(), key.str.find(':', app_base.size()) - app_base.size()));
        }
    } while (cursor != "0");
    EXPECT_EQ(kinds, (std::set<std::string>{"queue", "due", "parked", "leases", "leaseseq"}));
}

}  // namespace
}  // namespace provbridge::test_support
