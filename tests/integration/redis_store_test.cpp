// RedisStateStore, ProvisioningLogReader and RedisConnection against a real redis-server.

#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fakes.hpp"

#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/dead_letter.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "redis_fixture.hpp"

namespace provbridge::test_support {
namespace {

using consumers::ProvisioningLogReader;
using consumers::RedisConnection;
using consumers::RedisErrorKind;
using consumers::RedisStateStore;
using consumers::RedisValue;
using consumers::StreamEntry;
using namespace std::chrono_literals;

constexpr std::chrono::seconds kTtl = std::chrono::hours(24);
constexpr const char* kSource = "urn:directory:contoso";

Event make_event(const std::string& app, const std::string& id, const std::string& object_id,
                 ObjectType type = ObjectType::User) {
    Event event;
    event.id = id;
    event.source = kSource;
    event.type = type == ObjectType::User ? EventType::UserUpdated : EventType::GroupUpdated;
    event.app = app;
    event.object_type = type;
    event.object_id = object_id;
    event.version = 3;
    return event;
}

OutcomeRecord record_for(const Event& event, Action action, OutcomeStatus status) {
    OutcomeRecord r;
    r.event_id = event.id;
    r.source = event.source;
    r.event_type = std::string(to_string(event.type));
    r.app = event.app;
    r.object_type = std::string(to_string(event.object_type));
    r.object_id = event.object_id;
    r.version = event.version;
    r.action = action;
    r.status = status;
    r.topic = "provisioning.events";
    r.partition = 2;
    r.offset = 41;
    return r;
}

Commit commit_of(OutcomeRecord record, std::optional<LinkState> link = std::nullopt,
                 bool dead_letter = false) {
    Commit commit;
    commit.record = std::move(record);
    commit.link = std::move(link);
    commit.dead_letter = dead_letter;
    return commit;
}

class RedisStoreTest : public RedisTest {
protected:
    RedisStateStore make_store(std::chrono::seconds ttl = kTtl, std::int64_t cap = 100000) {
        return RedisStateStore(options(), keys(), ttl, cap, clock_);
    }
    ProvisioningLogReader make_reader() { return ProvisioningLogReader(options(), keys()); }

    // Keys under this test's prefix, found with SCAN (never KEYS on a shared server).
    std::vector<std::string> scan_keys() {
        RedisConnection admin(options());
        std::vector<std::string> found;
        std::string cursor = "0";
        do {
            auto page = admin.call({"SCAN", cursor, "MATCH", key_prefix() + ":*", "COUNT", "1000"});
            EXPECT_TRUE(page) << page.error().message;
            if (!page) break;
            cursor = page->elements.at(0).str;
            for (const auto& key : page->elements.at(1).elements) found.push_back(key.str);
        } while (cursor != "0");
        return found;
    }

    std::int64_t ttl_of(const std::string& key) {
        RedisConnection admin(options());
        auto ttl = admin.call({"TTL", key});
        EXPECT_TRUE(ttl) << ttl.error().message;
        return ttl ? ttl->integer : -100;
    }

    SystemClock clock_;
};

TEST_F(RedisStoreTest, LoadOnEmptyStoreFindsNothing) {
    auto store = make_store();
    auto prior = store.load(make_event(app(), "e-1", "u-1"));
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_FALSE(prior->recorded.has_value());
    EXPECT_FALSE(prior->link.has_value());

    auto invalid = store.load_invalid(app(), "provisioning.events", 0, 7);
    ASSERT_TRUE(invalid) << invalid.error().message;
    EXPECT_FALSE(invalid->has_value());
}

TEST_F(RedisStoreTest, CommitThenLoadRoundTripsEveryRecordFieldAndTheLink) {
    auto store = make_store();
    const auto event = make_event(app(), "e-roundtrip", "u-42");

    OutcomeRecord record = record_for(event, Action::Update, OutcomeStatus::Applied);
    record.reason = "changed \"displayName\" and title";
    record.code = "";
    record.http_status = 200;
    record.scim_id = "scim-9f1c";
    record.scim_requests = 2;
    record.attempts = 3;
    record.changes = {
        {"displayName", "Zoë \"Z\" Smith", "Zoë Smith-Jones ✓"},
        {"title", nullptr, "Ingénieur"},
        {"phoneNumbers[type eq \"work\"].value", "+1 555", nullptr},
    };
    record.produced_at_ms = 1700000000001;
    record.started_at_ms = 1700000000002;
    record.answered_at_ms = 1700000000003;
    record.finished_at_ms = 1700000000004;
    record.duration_ms = 3;

    LinkState link;
    link.scim_id = "scim-9f1c";
    link.version = 3;
    link.status = LinkStatus::Disabled;
    link.applied = {{"displayName", "Zoë \"Z\" Smith-Jones ✓ 日本語"},
                    {"name.givenName", "Zoë"},
                    {"emails[type eq \"work\"].value", "zoe@example.com"},
                    {"active", false}};

    auto status = store.commit(commit_of(record, link));
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, CommitStatus::Recorded);

    auto prior = store.load(event);
    ASSERT_TRUE(prior) << prior.error().message;
    ASSERT_TRUE(prior->recorded.has_value());
    EXPECT_EQ(to_json(*prior->recorded), to_json(record));
    EXPECT_EQ(prior->recorded->changes.size(), 3u);
    EXPECT_EQ(prior->recorded->changes[0].new_value, "Zoë Smith-Jones ✓");
    EXPECT_TRUE(prior->recorded->changes[1].old_value.is_null());
    ASSERT_TRUE(prior->link.has_value());
    EXPECT_EQ(prior->link->scim_id, "scim-9f1c");
    EXPECT_EQ(prior->link->version, 3);
    EXPECT_EQ(prior->link->status, LinkStatus::Disabled);
    EXPECT_EQ(prior->link->applied, link.applied);

    // The operator read API sees the same data.
    auto reader = make_reader();
    auto outcome = reader.outcome(app(), kSource, "e-roundtrip");
    ASSERT_TRUE(outcome) << outcome.error().message;
    ASSERT_TRUE(outcome->has_value());
    EXPECT_EQ(to_json(**outcome), to_json(record));
    auto read_link = reader.link(app(), ObjectType::User, "u-42");
    ASSERT_TRUE(read_link) << read_link.error().message;
    ASSERT_TRUE(read_link->has_value());
    EXPECT_EQ((*read_link)->applied, link.applied);

    // Another object of the same app has no link; a group with the same id neither.
    auto other = store.load(make_event(app(), "e-other", "u-43"));
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->link.has_value());
    auto group = store.load(make_event(app(), "e-group", "u-42", ObjectType::Group));
    ASSERT_TRUE(group);
    EXPECT_FALSE(group->link.has_value());
}

TEST_F(RedisStoreTest, CommitWithoutLinkLeavesTheExistingLinkAlone) {
    auto store = make_store();
    const auto first = make_event(app(), "e-a", "u-1");
    LinkState link{"scim-1", 3, LinkStatus::Active, {{"userName", "a@example.com"}}, std::string(), nullptr};
    ASSERT_TRUE(store.commit(commit_of(record_for(first, Action::Create, OutcomeStatus::Applied), link)));

    auto second = make_event(app(), "e-b", "u-1");
    auto skipped = record_for(second, Action::None, OutcomeStatus::Skipped);
    skipped.code = "no_change";
    ASSERT_TRUE(store.commit(commit_of(skipped)));

    auto prior = store.load(second);
    ASSERT_TRUE(prior);
    ASSERT_TRUE(prior->recorded.has_value());
    EXPECT_EQ(prior->recorded->code, "no_change");
    ASSERT_TRUE(prior->link.has_value());
    EXPECT_EQ(prior->link->scim_id, "scim-1");
    EXPECT_EQ(prior->link->applied, link.applied);
}

TEST_F(RedisStoreTest, SecondCommitOfTheSameEventIsAlreadyRecordedAndWritesNothing) {
    auto store = make_store();
    auto reader = make_reader();
    const auto event = make_event(app(), "e-dup", "u-7");
    const auto first = record_for(event, Action::Create, OutcomeStatus::Applied);
    LinkState link{"scim-first", 3, LinkStatus::Active, {{"userName", "first"}}, std::string(), nullptr};
    auto status = store.commit(commit_of(first, link));
    ASSERT_TRUE(status) << status.error().message;
    ASSERT_EQ(*status, CommitStatus::Recorded);

    auto stats_before = reader.stats(app());
    ASSERT_TRUE(stats_before);
    auto log_before = reader.count_log(app());
    ASSERT_TRUE(log_before);
    EXPECT_EQ(*log_before, 1);

    // A racing delivery decided something else; none of it may land.
    auto second = record_for(event, Action::Delete, OutcomeStatus::DeadLettered);
    second.reason = "should not be written";
    LinkState other_link{"scim-second", 4, LinkStatus::Deleted, {{"userName", "second"}}, std::string(), nullptr};
    auto again = store.commit(commit_of(second, other_link, true));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*again, CommitStatus::AlreadyRecorded);

    auto stats_after = reader.stats(app());
    ASSERT_TRUE(stats_after);
    EXPECT_EQ(*stats_after, *stats_before);
    EXPECT_EQ(stats_after->at("events"), 1);
    EXPECT_EQ(stats_after->at("created"), 1);
    EXPECT_EQ(stats_after->count("deleted"), 0u);
    auto log_after = reader.count_log(app());
    ASSERT_TRUE(log_after);
    EXPECT_EQ(*log_after, 1);
    auto dlq = reader.dead_letters(app(), 10);
    ASSERT_TRUE(dlq);
    EXPECT_TRUE(dlq->empty());

    auto prior = store.load(event);
    ASSERT_TRUE(prior);
    ASSERT_TRUE(prior->recorded.has_value());
    EXPECT_EQ(to_json(*prior->recorded), to_json(first));
    ASSERT_TRUE(prior->link.has_value());
    EXPECT_EQ(prior->link->scim_id, "scim-first");
    EXPECT_EQ(prior->link->version, 3);
}

TEST_F(RedisStoreTest, OlderVersionRecordsItsOutcomeOnceButKeepsTheNewerLinkAndOwner) {
    auto store = make_store();
    auto reader = make_reader();
    auto newer_event = make_event(app(), "e-v5", "u-race");
    newer_event.version = 5;
    LinkState newer{"scim-new", 5, LinkStatus::Active, {{"userName", "new@example.com"}}, std::string(), nullptr};
    auto first = store.commit(commit_of(record_for(newer_event, Action::Update, OutcomeStatus::Applied), newer));
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_EQ(*first, CommitStatus::Recorded);

    // An older event of the same object whose worker loaded the link before v5 was committed
    // (a revoke that timed out, say) commits afterwards.
    auto older_event = make_event(app(), "e-v3", "u-race");
    older_event.version = 3;
    LinkState older{"scim-old", 3, LinkStatus::Disabled, {{"userName", "old@example.com"}}, std::string(), nullptr};
    const auto older_record = record_for(older_event, Action::Create, OutcomeStatus::Applied);
    auto second = store.commit(commit_of(older_record, older));
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(*second, CommitStatus::RecordedLinkKept);

    auto link = reader.link(app(), ObjectType::User, "u-race");
    ASSERT_TRUE(link) << link.error().message;
    ASSERT_TRUE(link->has_value());
    EXPECT_EQ((*link)->scim_id, "scim-new");
    EXPECT_EQ((*link)->version, 5);
    EXPECT_EQ((*link)->status, LinkStatus::Active);
    EXPECT_EQ((*link)->applied, newer.applied);
    auto owner_new = store.load_owner(app(), ObjectType::User, "scim-new");
    ASSERT_TRUE(owner_new) << owner_new.error().message;
    EXPECT_EQ(*owner_new, std::optional<std::string>("u-race"));
    auto owner_old = store.load_owner(app(), ObjectType::User, "scim-old");
    ASSERT_TRUE(owner_old) << owner_old.error().message;
    EXPECT_FALSE(owner_old->has_value()) << "the owner index points at a link that was not written";

    // The outcome itself is recorded, once, and says in the log that the link was kept.
    auto outcome = reader.outcome(app(), kSource, "e-v3");
    ASSERT_TRUE(outcome) << outcome.error().message;
    ASSERT_TRUE(outcome->has_value());
    EXPECT_EQ(to_json(**outcome), to_json(older_record));
    auto again = store.commit(commit_of(older_record, older));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*again, CommitStatus::AlreadyRecorded);
    auto log = reader.log_since(app(), "0-0", 100, 0ms);
    ASSERT_TRUE(log) << log.error().message;
    ASSERT_EQ(log->size(), 2u);
    EXPECT_EQ(log->at(0).fields.count("link"), 0u);
    EXPECT_EQ(log->at(1).record.event_id, "e-v3");
    EXPECT_EQ(log->at(1).fields.at("link"), "kept_newer");
    auto stats = reader.stats(app());
    ASSERT_TRUE(stats) << stats.error().message;
    EXPECT_EQ(stats->at("events"), 2);
    EXPECT_EQ(stats->at("updated"), 1);
    EXPECT_EQ(stats->at("created"), 1);
}

TEST_F(RedisStoreTest, LinkVersionsCompareAsIntegersAndAnEqualVersionOverwrites) {
    auto store = make_store();
    int n = 0;
    // Commits a link of `version` for u-v and returns the status.
    auto commit_version = [&](std::int64_t version, const std::string& scim_id) {
        auto event = make_event(app(), "e-" + std::to_string(n++), "u-v");
        event.version = version;
        auto status = store.commit(commit_of(record_for(event, Action::Update, OutcomeStatus::Applied),
                                             LinkState{scim_id, version, LinkStatus::Active, {}, std::string(), nullptr}));
        EXPECT_TRUE(status) << status.error().message;
        return status ? *status : CommitStatus::AlreadyRecorded;
    };
    auto stored = [&] {
        auto link = store.load_link(app(), ObjectType::User, "u-v");
        EXPECT_TRUE(link && link->has_value());
        return link && link->has_value() ? (*link)->scim_id : std::string();
    };
    EXPECT_EQ(commit_version(-1, "minus-one"), CommitStatus::Recorded);
    EXPECT_EQ(commit_version(-5, "minus-five"), CommitStatus::RecordedLinkKept);
    EXPECT_EQ(stored(), "minus-one");
    EXPECT_EQ(commit_version(9, "nine"), CommitStatus::Recorded);
    EXPECT_EQ(commit_version(10, "ten"), CommitStatus::Recorded);  // "10" < "9" as text
    EXPECT_EQ(commit_version(9, "nine-again"), CommitStatus::RecordedLinkKept);
    EXPECT_EQ(stored(), "ten");
    EXPECT_EQ(commit_version(10, "ten-again"), CommitStatus::Recorded);  // same version: overwrite
    EXPECT_EQ(stored(), "ten-again");
    // Above 2^53 a double cannot tell these apart.
    EXPECT_EQ(commit_version(9007199254740993, "big"), CommitStatus::Recorded);
    EXPECT_EQ(commit_version(9007199254740992, "big-minus-one"), CommitStatus::RecordedLinkKept);
    EXPECT_EQ(stored(), "big");
    EXPECT_EQ(commit_version(-5, "negative"), CommitStatus::RecordedLinkKept);
    EXPECT_EQ(stored(), "big");
}

TEST_F(RedisStoreTest, DeadLetterCommitIsIndexedInTheDeadLetterStream) {
    auto store = make_store();
    auto reader = make_reader();
    const auto event = make_event(app(), "e-dlq", "u-9");
    auto record = record_for(event, Action::Create, OutcomeStatus::DeadLettered);
    record.code = "DuplicateTargetEntries";
    record.reason = "two accounts match userName";
    record.http_status = 409;
    ASSERT_TRUE(store.commit(commit_of(record, std::nullopt, true)));
    // An ordinary outcome is not indexed.
    ASSERT_TRUE(store.commit(commit_of(
        record_for(make_event(app(), "e-ok", "u-10"), Action::Create, OutcomeStatus::Applied))));

    auto dlq = reader.dead_letters(app(), 10);
    ASSERT_TRUE(dlq) << dlq.error().message;
    ASSERT_EQ(dlq->size(), 1u);
    const auto& entry = dlq->front();
    EXPECT_EQ(entry.fields.at("event_id"), "e-dlq");
    EXPECT_EQ(entry.fields.at("reason"), "two accounts match userName");
    EXPECT_EQ(entry.fields.at("code"), "DuplicateTargetEntries");
    EXPECT_EQ(entry.fields.at("topic"), "provisioning.events");
    EXPECT_EQ(entry.fields.at("partition"), "2");
    EXPECT_EQ(entry.fields.at("offset"), "41");
    EXPECT_EQ(to_json(entry.record), to_json(record));

    auto stats = reader.stats(app());
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->at("dead_lettered"), 1);
    EXPECT_EQ(stats->at("created"), 1);
    EXPECT_EQ(stats->at("events"), 2);
}

TEST_F(RedisStoreTest, InvalidRecordIsRecordedByWhereItWasRead) {
    auto store = make_store();
    auto reader = make_reader();

    OutcomeRecord invalid;
    invalid.app = std::string(KeyScheme::kInvalidApp);
    invalid.status = OutcomeStatus::DeadLettered;
    invalid.code = "InvalidEvent";
    invalid.reason = "not JSON";
    invalid.topic = "provisioning.events";
    invalid.partition = 4;
    invalid.offset = 1234;
    auto status = store.commit(commit_of(invalid, std::nullopt, true));
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, CommitStatus::Recorded);

    auto loaded = store.load_invalid(std::string(KeyScheme::kInvalidApp), "provisioning.events", 4, 1234);
    ASSERT_TRUE(loaded) << loaded.error().message;
    ASSERT_TRUE(loaded->has_value());
    EXPECT_EQ(to_json(**loaded), to_json(invalid));
    // The next offset is another record.
    auto next = store.load_invalid(std::string(KeyScheme::kInvalidApp), "provisioning.events", 4, 1235);
    ASSERT_TRUE(next);
    EXPECT_FALSE(next->has_value());

    // A redelivery of the same bad record is recognised.
    auto again = store.commit(commit_of(invalid, std::nullopt, true));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, CommitStatus::AlreadyRecorded);

    // A malformed record that still named its app is counted under that app.
    OutcomeRecord named = invalid;
    named.app = app();
    named.offset = 1300;
    ASSERT_TRUE(store.commit(commit_of(named, std::nullopt, true)));
    auto named_loaded = store.load_invalid(app(), "provisioning.events", 4, 1300);
    ASSERT_TRUE(named_loaded);
    ASSERT_TRUE(named_loaded->has_value());
    EXPECT_EQ((*named_loaded)->app, app());
    auto not_under_invalid =
        store.load_invalid(std::string(KeyScheme::kInvalidApp), "provisioning.events", 4, 1300);
    ASSERT_TRUE(not_under_invalid);
    EXPECT_FALSE(not_under_invalid->has_value());

    auto invalid_stats = reader.stats(std::string(KeyScheme::kInvalidApp));
    ASSERT_TRUE(invalid_stats);
    EXPECT_EQ(invalid_stats->at("dead_lettered"), 1);
    EXPECT_EQ(invalid_stats->at("events"), 1);
    auto app_stats = reader.stats(app());
    ASSERT_TRUE(app_stats);
    EXPECT_EQ(app_stats->at("dead_lettered"), 1);
    auto invalid_dlq = reader.dead_letters(std::string(KeyScheme::kInvalidApp), 10);
    ASSERT_TRUE(invalid_dlq);
    ASSERT_EQ(invalid_dlq->size(), 1u);
    EXPECT_EQ(invalid_dlq->front().fields.at("offset"), "1234");
    EXPECT_EQ(invalid_dlq->front().fields.at("event_id"), "");
}

TEST_F(RedisStoreTest, StatsCountEachOutcomeAndDuplicates) {
    auto store = make_store();
    auto reader = make_reader();
    struct Case {
        Action action;
        OutcomeStatus status;
    };
    const std::vector<Case> cases = {
        {Action::Create, OutcomeStatus::Applied},  {Action::Create, OutcomeStatus::Applied},
        {Action::Update, OutcomeStatus::Applied},  {Action::Disable, OutcomeStatus::Applied},
        {Action::Delete, OutcomeStatus::Applied},  {Action::Link, OutcomeStatus::Applied},
        {Action::None, OutcomeStatus::Applied},    {Action::None, OutcomeStatus::Skipped},
        {Action::Update, OutcomeStatus::Skipped},  {Action::Create, OutcomeStatus::DeadLettered},
    };
    int n = 0;
    for (const auto& c : cases) {
        const auto event = make_event(app(), "e-" + std::to_string(n), "u-" + std::to_string(n));
        ++n;
        auto status = store.commit(commit_of(record_for(event, c.action, c.status)));
        ASSERT_TRUE(status) << status.error().message;
        ASSERT_EQ(*status, CommitStatus::Recorded);
    }
    ASSERT_TRUE(store.count_duplicate(app()));
    ASSERT_TRUE(store.count_duplicate(app()));

    auto stats = reader.stats(app());
    ASSERT_TRUE(stats) << stats.error().message;
    EXPECT_GT(stats->at("last_applied_ms"), 0) << "the app's last success";
    stats->erase("last_applied_ms");
    const std::map<std::string, std::int64_t> expected = {
        {"events", 10},  {"created", 2},       {"updated", 1}, {"disabled", 1},
        {"deleted", 1},  {"linked", 1},        {"applied_other", 1},
        {"skipped", 2},  {"dead_lettered", 1}, {"duplicates", 2},
    };
    EXPECT_EQ(*stats, expected);
}

TEST_F(RedisStoreTest, LogEntriesCarryTheRecordFieldsAndRecentLogIsNewestFirst) {
    auto store = make_store();
    auto reader = make_reader();
    for (int i = 0; i < 5; ++i) {
        auto record = record_for(make_event(app(), "e-" + std::to_string(i), "u-" + std::to_string(i)),
                                 Action::Update, OutcomeStatus::Applied);
        record.http_status = 200;
        record.scim_id = "scim-" + std::to_string(i);
        record.duration_ms = 10 + i;
        ASSERT_TRUE(store.commit(commit_of(record)));
    }
    auto recent = reader.recent_log(app(), 3);
    ASSERT_TRUE(recent) << recent.error().message;
    ASSERT_EQ(recent->size(), 3u);
    EXPECT_EQ((*recent)[0].event_id, "e-4");
    EXPECT_EQ((*recent)[1].event_id, "e-3");
    EXPECT_EQ((*recent)[2].event_id, "e-2");

    auto all = reader.log_since(app(), "0-0", 100, 0ms);
    ASSERT_TRUE(all) << all.error().message;
    ASSERT_EQ(all->size(), 5u);
    const auto& fields = all->front().fields;
    EXPECT_EQ(fields.at("event_id"), "e-0");
    EXPECT_EQ(fields.at("app"), app());
    EXPECT_EQ(fields.at("object_type"), "user");
    EXPECT_EQ(fields.at("object_id"), "u-0");
    EXPECT_EQ(fields.at("event_type"), "provisioning.user.updated");
    EXPECT_EQ(fields.at("action"), "update");
    EXPECT_EQ(fields.at("outcome"), "applied");
    EXPECT_EQ(fields.at("code"), "");
    EXPECT_EQ(fields.at("reason"), "");
    EXPECT_EQ(fields.at("http_status"), "200");
    EXPECT_EQ(fields.at("scim_id"), "scim-0");
    EXPECT_EQ(fields.at("duration_ms"), "10");
    EXPECT_EQ(fields.at("version"), "3");
    EXPECT_EQ(all->front().record.scim_id, "scim-0");
    EXPECT_TRUE(fields.contains("json"));

    auto last = reader.last_log_id(app());
    ASSERT_TRUE(last);
    EXPECT_EQ(*last, all->back().id);
    auto after_last = reader.log_since(app(), *last, 100, 0ms);
    ASSERT_TRUE(after_last);
    EXPECT_TRUE(after_last->empty());
}

TEST_F(RedisStoreTest, LogIsCappedApproximately) {
    auto store = make_store(kTtl, 10);
    auto reader = make_reader();
    for (int i = 0; i < 500; ++i) {
        ASSERT_TRUE(store.commit(commit_of(record_for(make_event(app(), "e-" + std::to_string(i), "u"),
                                                      Action::Update, OutcomeStatus::Applied))));
    }
    auto length = reader.count_log(app());
    ASSERT_TRUE(length);
    // MAXLEN ~ trims whole radix-tree nodes (100 entries by default), so "about 10".
    EXPECT_LT(*length, 500);
    EXPECT_GE(*length, 10);
}

TEST_F(RedisStoreTest, LogEntriesOlderThanTheMaxAgeAreDropped) {
    test_support::FakeClock clock;
    const auto behind = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() -
                                                                              clock.wall_now());
    clock.advance(behind);  // the stream's ids are the server's time: start from it
    RedisStateStore store(options(), keys(), kTtl, 100000, clock);
    store.set_log_max_age(std::chrono::hours(1));
    auto reader = make_reader();
    const auto commit_n = [&](int from, int n) {
        for (int i = from; i < from + n; ++i) {
            ASSERT_TRUE(store.commit(commit_of(record_for(make_event(app(), "e-age-" + std::to_string(i), "u"),
                                                          Action::Update, OutcomeStatus::Applied))));
        }
    };
    commit_n(0, 250);
    EXPECT_EQ(*reader.count_log(app()), 250) << "none is an hour old";
    clock.advance(std::chrono::hours(2));
    commit_n(250, 1);
    // MINID ~ trims whole radix-tree nodes (100 entries by default): the old ones are gone but
    // for at most a node's worth (the new one too: its id is the server's time, which this
    // clock is two hours ahead of).
    EXPECT_LT(*reader.count_log(app()), 101);
}

TEST_F(RedisStoreTest, LogSinceWakesUpForOutcomesRecordedWhileItWaits) {
    auto store = make_store();
    auto reader = make_reader();
    auto start = reader.last_log_id(app());
    ASSERT_TRUE(start) << start.error().message;

    std::promise<void> connected;
    auto waited = std::async(std::launch::async, [&, from = *start] {
        // Its own connection: a worker's store is never held up by a blocked reader.
        ProvisioningLogReader waiter(options(), keys());
        connected.set_value();
        std::vector<StreamEntry> got;
        std::string id = from;
        while (got.size() < 3) {
            // A long block: an empty batch can only mean nothing arrived in time.
            auto batch = waiter.log_since(app(), id, 10, 20s);
            if (!batch || batch->empty()) break;
            for (auto& entry : *batch) {
                id = entry.id;
                got.push_back(std::move(entry));
            }
        }
        return got;
    });
    connected.get_future().wait();
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(store.commit(commit_of(record_for(
            make_event(app(), "e-live-" + std::to_string(i), "u-" + std::to_string(i)),
            Action::Create, OutcomeStatus::Applied))));
    }
    const auto got = waited.get();
    ASSERT_EQ(got.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(got[static_cast<std::size_t>(i)].record.event_id, "e-live-" + std::to_string(i));
    }
}

TEST_F(RedisStoreTest, LogSinceReturnsEmptyWhenTheBlockTimesOut) {
    auto reader = make_reader();
    auto start = reader.last_log_id(app());
    ASSERT_TRUE(start);
    const auto began = std::chrono::steady_clock::now();
    auto batch = reader.log_since(app(), *start, 10, 50ms);
    const auto waited = std::chrono::steady_clock::now() - began;
    ASSERT_TRUE(batch) << batch.error().message;
    EXPECT_TRUE(batch->empty());
    // It did wait on the server (BLOCK), rather than return at once.
    EXPECT_GE(waited, 45ms);
}

TEST_F(RedisStoreTest, BlockLongerThanTheSocketTimeoutIsNotATimeout) {
    auto short_timeout = options();
    short_timeout.timeout = 100ms;
    ProvisioningLogReader reader(short_timeout, keys());
    auto batch = reader.log_since(app(), "$", 10, 400ms);
    ASSERT_TRUE(batch) << batch.error().message;
    EXPECT_TRUE(batch->empty());
    // The socket timeout is back to normal afterwards: a blocking command longer than it fails.
    auto blocked = reader.connection().call({"BLPOP", key_prefix() + ":nothing", "1"});
    ASSERT_FALSE(blocked);
    EXPECT_EQ(consumers::redis_error_kind(blocked.error()), RedisErrorKind::Timeout)
        << blocked.error().message;
}

TEST_F(RedisStoreTest, DedupeKeyExpiresAndTheLinkDoesNot) {
    constexpr std::chrono::seconds ttl = 3600s;
    auto store = make_store(ttl);
    const auto event = make_event(app(), "e-ttl", "u-ttl");
    ASSERT_TRUE(store.commit(commit_of(record_for(event, Action::Create, OutcomeStatus::Applied),
                                       LinkState{"scim-ttl", 3, LinkStatus::Active, {}, std::string(), nullptr})));
    const auto outcome_ttl = ttl_of(keys().event(app(), kSource, "e-ttl"));
    EXPECT_GT(outcome_ttl, 0);
    EXPECT_LE(outcome_ttl, ttl.count());
    EXPECT_EQ(ttl_of(keys().link(app(), ObjectType::User, "u-ttl")), -1);  // no expiry
}

TEST_F(RedisStoreTest, EveryKeyCarriesTheAppHashTag) {
    auto store = make_store();
    const auto event = make_event(app(), "e-tag", "u-tag");
    ASSERT_TRUE(store.commit(commit_of(record_for(event, Action::Create, OutcomeStatus::DeadLettered),
                                       LinkState{"scim", 3, LinkStatus::Active, {}, std::string(), nullptr}, true)));
    ASSERT_TRUE(store.count_duplicate(app()));
    OutcomeRecord invalid;
    invalid.app = std::string(KeyScheme::kInvalidApp);
    invalid.status = OutcomeStatus::DeadLettered;
    invalid.topic = "provisioning.events";
    invalid.offset = 5;
    ASSERT_TRUE(store.commit(commit_of(invalid, std::nullopt, true)));

    const auto keys_found = scan_keys();
    const std::string app_base = key_prefix() + ":{" + app() + "}:";
    const std::string invalid_base = key_prefix() + ":{_invalid}:";
    std::set<std::string> kinds;
    for (const auto& key : keys_found) {
        if (key.starts_with(app_base)) {
            kinds.insert(key.substr(app_base.size(), key.find(':', app_base.size()) - app_base.size()));
        } else {
            EXPECT_TRUE(key.starts_with(invalid_base)) << key;
        }
    }
    // linked: the app's linked set, kept with the link (deletion_threshold.max_percent)
    EXPECT_EQ(kinds, (std::set<std::string>{"evt", "link", "linked", "owner", "log", "stats", "dlq", "minute"}));
    // outcome, log, stats, minute counters and dead-letter index of the invalid record (a commit
    // may straddle a minute: one more minute key each)
    EXPECT_GE(keys_found.size(), 8u + 5u);
    EXPECT_LE(keys_found.size(), 9u + 6u);
}

TEST_F(RedisStoreTest, LinksAndOwnersCanBeReadByOtherObjects) {
    auto store = make_store();
    const auto event = make_event(app(), "e-owner", "u-owner");
    auto none = store.load_owner(app(), ObjectType::User, "scim-owned");
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(store.commit(commit_of(record_for(event, Action::Create, OutcomeStatus::Applied),
                                       LinkState{"scim-owned", 7, LinkStatus::Active, {{"userName", "o@x"}}, std::string(), nullptr})));
    auto owner = store.load_owner(app(), ObjectType::User, "scim-owned");
    ASSERT_TRUE(owner.ok() && owner->has_value());
    EXPECT_EQ(**owner, "u-owner");
    auto link = store.load_link(app(), ObjectType::User, "u-owner");
    ASSERT_TRUE(link.ok() && link->has_value());
    EXPECT_EQ((*link)->scim_id, "scim-owned");
    EXPECT_EQ((*link)->version, 7);
    EXPECT_EQ((*link)->applied["userName"], "o@x");
    auto missing = store.load_link(app(), ObjectType::User, "nobody");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
}

TEST_F(RedisStoreTest, MembershipIsKeptAsDeltasWithTheReverseIndexAndWhatTheTargetHas) {
    auto store = make_store();
    ASSERT_TRUE(store.change_members(app(), "g1", {"u2", "u1", "u3"}, {}).ok());
    ASSERT_TRUE(store.change_members(app(), "g1", {"u1"}, {}).ok()) << "adding again changes nothing";
    ASSERT_TRUE(store.change_members(app(), "g1", {}, {"u3"}).ok());
    ASSERT_TRUE(store.change_members(app(), "g2", {"u1"}, {}).ok());
    auto membership = store.load_membership(app(), "g1");
    ASSERT_TRUE(membership.ok()) << membership.error().message;
    EXPECT_EQ(membership->members, (std::vector<std::string>{"u1", "u2"}));
    EXPECT_TRUE(membership->applied.empty());
    auto groups = store.groups_of(app(), "u1");
    ASSERT_TRUE(groups.ok());
    EXPECT_EQ(*groups, (std::vector<std::string>{"g1", "g2"}));
    EXPECT_TRUE(store.groups_of(app(), "u3")->empty()) << "the reverse index follows the removal";

    ASSERT_TRUE(store.record_applied(app(), "g1", {{"u1", "t-1"}, {"u2", "t-2"}}, {}).ok());
    ASSERT_TRUE(store.record_applied(app(), "g1", {}, {"u2"}).ok());
    EXPECT_EQ(store.load_membership(app(), "g1")->applied, (std::map<std::string, std::string>{{"u1", "t-1"}}));
    ASSERT_TRUE(store.forget_applied(app(), "g1").ok());
    EXPECT_TRUE(store.load_membership(app(), "g1")->applied.empty());

    // Links of many users in one go, in the order asked, more than one slice of them.
    const auto event = make_event(app(), "e-member", "u1");
    ASSERT_TRUE(store.commit(commit_of(record_for(event, Action::Create, OutcomeStatus::Applied),
                                       LinkState{"t-1", 1, LinkStatus::Active, {}, std::string(), nullptr})));
    std::vector<std::string> asked;
    for (int i = 0; i < 1200; ++i) asked.push_back("nobody-" + std::to_string(i));
    asked[700] = "u1";
    auto links = store.load_user_links(app(), asked);
    ASSERT_TRUE(links.ok()) << links.error().message;
    ASSERT_EQ(links->size(), asked.size());
    ASSERT_TRUE((*links)[700].has_value());
    EXPECT_EQ((*links)[700]->scim_id, "t-1");
    EXPECT_FALSE((*links)[0].has_value());
    EXPECT_FALSE((*links)[1199].has_value());
}

TEST_F(RedisStoreTest, GroupAssignmentsGrantTheirMembersAndLinksKeepTheAssignmentAndSnapshot) {
    auto store = make_store();
    ASSERT_TRUE(store.change_members(app(), "g1", {"u1"}, {}).ok());
    ASSERT_TRUE(store.change_members(app(), "g2", {"u1"}, {}).ok());
    ASSERT_TRUE(store.change_members(app(), "g3", {"u1"}, {}).ok());
    EXPECT_TRUE(store.group_grants(app(), "u1")->empty()) << "no group is assigned yet";
    EXPECT_TRUE(store.group_grants(app(), "nobody")->empty());
    ASSERT_TRUE(store.set_group_assignment(app(), "g3", "Admin").ok());
    ASSERT_TRUE(store.set_group_assignment(app(), "g1", "").ok());
    ASSERT_TRUE(store.set_group_assignment(app(), "g9", "User").ok());
    auto grants = store.group_grants(app(), "u1");
    ASSERT_TRUE(grants.ok()) << grants.error().message;
    EXPECT_EQ(*grants, (std::vector<GroupGrant>{{"g1", ""}, {"g3", "Admin"}}));
    EXPECT_EQ(*store.group_assignment(app(), "g3"), std::optional<std::string>("Admin"));
    ASSERT_TRUE(store.set_group_assignment(app(), "g3", std::nullopt).ok());
    EXPECT_FALSE(store.group_assignment(app(), "g3")->has_value());
    EXPECT_EQ(*store.group_grants(app(), "u1"), (std::vector<GroupGrant>{{"g1", ""}}));

    // The link round-trips the user's own assignment (none, or a role, "" included) and snapshot.
    const nlohmann::json snapshot = {{"version", 4}, {"attributes", {{"displayName", "Zoë \"Z\""}}}};
    for (const auto& role : {std::optional<std::string>(), std::optional<std::string>(""),
                             std::optional<std::string>("Default Access")}) {
        const auto event = make_event(app(), "e-snap-" + role.value_or("none"), "u-snap");
        LinkState link{"t-1", 4, LinkStatus::Active, {}, role, snapshot};
        ASSERT_TRUE(store.commit(commit_of(record_for(event, Action::Update, OutcomeStatus::Applied), link)));
        auto stored = store.load_link(app(), ObjectType::User, "u-snap");
        ASSERT_TRUE(stored.ok() && stored->has_value());
        EXPECT_EQ((*stored)->assigned_role, role);
        EXPECT_EQ((*stored)->snapshot, snapshot);
    }
}

TEST_F(RedisStoreTest, ReferenceDeadlinesAreArmedOnceDueOldestFirstAndDropped) {
    auto store = make_store();
    EXPECT_TRUE(*store.arm_reference_deadline(app(), ObjectType::User, "ada", 5000));
    EXPECT_FALSE(*store.arm_reference_deadline(app(), ObjectType::User, "ada", 9000)) << "the first wait counts";
    EXPECT_TRUE(*store.arm_reference_deadline(app(), ObjectType::Group, "eng:ops", 3000));
    EXPECT_TRUE(*store.arm_reference_deadline(app(), ObjectType::User, "bob", 8000));
    auto due = store.due_reference_deadlines(app(), 6000, 10);
    ASSERT_TRUE(due.ok()) << due.error().message;
    EXPECT_EQ(*due, (std::vector<ReferenceDeadline>{{ObjectType::Group, "eng:ops", 3000}, {ObjectType::User, "ada", 5000}}));
    EXPECT_EQ(store.due_reference_deadlines(app(), 6000, 1)->size(), 1U);
    ASSERT_TRUE(store.drop_reference_deadline(app(), due->front()).ok());
    EXPECT_EQ(*store.due_reference_deadlines(app(), 9000, 10),
              (std::vector<ReferenceDeadline>{{ObjectType::User, "ada", 5000}, {ObjectType::User, "bob", 8000}}));
    // Dropped, it can be armed again (a later wait of the same object).
    EXPECT_TRUE(*store.arm_reference_deadline(app(), ObjectType::Group, "eng:ops", 20000));
    // A member that names no object is dropped, not an error that would stop every sweep.
    RedisConnection admin(options());
    ASSERT_TRUE(admin.call({"ZADD", keys().reference_deadlines(app()), "1", "nonsense"}).ok());
    auto after = store.due_reference_deadlines(app(), 9000, 10);
    ASSERT_TRUE(after.ok()) << after.error().message;
    EXPECT_EQ(after->size(), 2U);
    EXPECT_EQ(admin.call({"ZSCORE", keys().reference_deadlines(app()), "nonsense"})->type, RedisValue::Type::Nil);
}

TEST_F(RedisStoreTest, ReconnectsAfterTheServerClosedTheConnection) {
    auto store = make_store();
    auto reader = make_reader();
    const auto event = make_event(app(), "e-kill", "u-kill");
    ASSERT_TRUE(store.commit(commit_of(record_for(event, Action::Create, OutcomeStatus::Applied))));
    EXPECT_EQ(store.reconnects(), 0);

    RedisConnection admin(options());
    auto killed = admin.call({"CLIENT", "KILL", "TYPE", "normal"});  // SKIPME yes: not admin
    ASSERT_TRUE(killed) << killed.error().message;
    EXPECT_GE(killed->integer, 2);

    auto prior = store.load(event);
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_TRUE(prior->recorded.has_value());
    EXPECT_EQ(store.reconnects(), 1);
    auto status = store.commit(commit_of(
        record_for(make_event(app(), "e-after-kill", "u-kill"), Action::Update, OutcomeStatus::Applied)));
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, CommitStatus::Recorded);

    // The reader's connection was killed too; its next call also recovers.
    auto count = reader.count_log(app());
    ASSERT_TRUE(count) << count.error().message;
    EXPECT_EQ(*count, 2);
}

TEST_F(RedisStoreTest, CallsWhileTheServerIsDownReturnErrorsAndRecoverAfterARestart) {
    auto own = std::make_unique<ops::LocalRedis>();
    const int port = own->port();
    RedisStateStore store(redis_options_for_port(port), keys(), kTtl, 1000, clock_);
    const auto first = make_event(app(), "e-1", "u-1");
    ASSERT_TRUE(store.commit(commit_of(record_for(first, Action::Create, OutcomeStatus::Applied))));

    own->process().stop();
    Result<PriorState> down = make_error("not called");
    EXPECT_NO_THROW(down = store.load(first));
    ASSERT_FALSE(down);
    EXPECT_EQ(consumers::redis_error_kind(down.error()), RedisErrorKind::Io) << down.error().message;
    EXPECT_NE(down.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << down.error().message;
    const auto second = make_event(app(), "e-2", "u-1");
    Result<CommitStatus> refused = make_error("not called");
    EXPECT_NO_THROW(refused = store.commit(
                        commit_of(record_for(second, Action::Update, OutcomeStatus::Applied))));
    ASSERT_FALSE(refused);
    EXPECT_EQ(consumers::redis_error_kind(refused.error()), RedisErrorKind::Io);
    own.reset();

    // A new, empty server on the same port: no data and no cached script (NOSCRIPT path).
    ops::TempDir dir("provbridge-redis-restart-");
    ops::ChildProcess::Options restart;
    restart.argv = {"redis-server", "--port",     std::to_string(port), "--bind", "127.0.0.1",
                    "--dir",        dir.path(),   "--save",             "",       "--appendonly",
                    "no",           "--protected-mode", "no",           "--logfile", ""};
    ops::ChildProcess restarted(restart);
    ASSERT_TRUE(restarted.wait_for_line("Ready to accept connections", 20s));

    auto prior = store.load(first);
    ASSERT_TRUE(prior) << prior.error().message;
    EXPECT_FALSE(prior->recorded.has_value());
    auto status = store.commit(commit_of(record_for(second, Action::Update, OutcomeStatus::Applied)));
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, CommitStatus::Recorded);
    auto third = store.commit(commit_of(
        record_for(make_event(app(), "e-3", "u-1"), Action::Update, OutcomeStatus::Applied)));
    ASSERT_TRUE(third) << third.error().message;
    EXPECT_EQ(*third, CommitStatus::Recorded);
    auto again = store.commit(commit_of(record_for(second, Action::Update, OutcomeStatus::Applied)));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, CommitStatus::AlreadyRecorded);
}

TEST_F(RedisStoreTest, UsesTheConfiguredDatabase) {
    auto in_db2 = options();
    in_db2.database = 2;
    RedisStateStore store(in_db2, keys(), kTtl, 1000, clock_);
    const auto event = make_event(app(), "e-db", "u-db");
    ASSERT_TRUE(store.commit(commit_of(record_for(event, Action::Create, OutcomeStatus::Applied))));

    RedisConnection db0(options());
    auto exists0 = db0.call({"EXISTS", keys().event(app(), kSource, "e-db")});
    ASSERT_TRUE(exists0);
    EXPECT_EQ(exists0->integer, 0);
    RedisConnection db2(in_db2);
    auto exists2 = db2.call({"EXISTS", keys().event(app(), kSource, "e-db")});
    ASSERT_TRUE(exists2);
    EXPECT_EQ(exists2->integer, 1);
}

TEST_F(RedisStoreTest, LinkForAnUnknownObjectTypeIsRefusedWithoutWriting) {
    auto store = make_store();
    auto reader = make_reader();
    auto record = record_for(make_event(app(), "e-bad", "u"), Action::Create, OutcomeStatus::Applied);
    record.object_type = "printer";
    auto status = store.commit(commit_of(record, LinkState{"s", 1, LinkStatus::Active, {}, std::string(), nullptr}));
    ASSERT_FALSE(status);
    auto count = reader.count_log(app());
    ASSERT_TRUE(count);
    EXPECT_EQ(*count, 0);
}

// Not an assertion on time: prints the figure for the report.
// A record with every kind of byte: NUL, bytes that are not UTF-8, a binary key and headers.
InboundRecord binary_record() {
    InboundRecord r;
    r.topic = "provisioning.events";
    r.partition = 2;
    r.offset = 41;
    r.timestamp_ms = 1714557600123;
    r.key = std::string("app/user/\xff\x00z", 12);
    r.value = std::string("{\"id\":\"e\"}\x00\xc3\x28\xfe", 14);
    r.headers = {{"traceparent", "00-abc-01"}, {"bin", std::string("\x00\x01\xff", 3)}, {"empty", ""},
                 {std::string("n\xff" "ame"), "v"}};
    return r;
}

void expect_same_record(const InboundRecord& a, const InboundRecord& b) {
    EXPECT_EQ(a.topic, b.topic);
    EXPECT_EQ(a.partition, b.partition);
    EXPECT_EQ(a.offset, b.offset);
    EXPECT_EQ(a.timestamp_ms, b.timestamp_ms);
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.value, b.value);
    ASSERT_EQ(a.headers.size(), b.headers.size());
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        EXPECT_EQ(a.headers[i].name, b.headers[i].name);
        EXPECT_EQ(a.headers[i].value, b.headers[i].value);
    }
}

TEST_F(RedisStoreTest, DeadLetterKeepsTheOriginalRecordByteExactly) {
    auto store = make_store();
    auto reader = make_reader();
    auto record = record_for(make_event(app(), "e-orig", "u-1"), Action::Create, OutcomeStatus::DeadLettered);
    record.code = "BadRequest";
    auto commit = commit_of(record, std::nullopt, true);
    commit.original = binary_record();
    ASSERT_TRUE(store.commit(commit));

    auto dlq = reader.dead_letters(app(), 10);
    ASSERT_TRUE(dlq) << dlq.error().message;
    ASSERT_EQ(dlq->size(), 1u);
    auto original = consumers::original_record(dlq->front());
    ASSERT_TRUE(original) << original.error().message;
    ASSERT_TRUE(original->has_value());
    expect_same_record(**original, binary_record());

    // The codec on its own, and its refusals.
    auto round = consumers::decode_record_bytes(consumers::encode_record(binary_record()), "test");
    ASSERT_TRUE(round) << round.error().message;
    expect_same_record(*round, binary_record());
    EXPECT_FALSE(consumers::decode_record_bytes("{\"format\":1}", "test"));
    EXPECT_FALSE(consumers::decode_record_bytes("not json", "test"));

    // An entry without the field (written before originals were kept) has no original.
    StreamEntry older;
    older.id = "1-0";
    auto none = consumers::original_record(older);
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
}

TEST_F(RedisStoreTest, AnOriginalOverTheLimitIsNotIndexedButItsSizeIs) {
    auto store = make_store();
    auto reader = make_reader();
    auto record = record_for(make_event(app(), "e-big", "u-1"), Action::None, OutcomeStatus::DeadLettered);
    auto commit = commit_of(record, std::nullopt, true);
    InboundRecord big;
    big.value.assign(RedisStateStore::kMaxIndexedRecordBytes + 1, 'x');
    commit.original = big;
    ASSERT_TRUE(store.commit(commit));
    auto dlq = reader.dead_letters(app(), 10);
    ASSERT_TRUE(dlq);
    ASSERT_EQ(dlq->size(), 1u);
    EXPECT_EQ(dlq->front().fields.count("record"), 0u);
    EXPECT_EQ(dlq->front().fields.at("record_omitted"), std::to_string(RedisStateStore::kMaxIndexedRecordBytes + 1));
}

TEST_F(RedisStoreTest, TheOutcomeOfAReplayRemovesTheEntryItReplays) {
    auto store = make_store();
    auto reader = make_reader();
    const auto event = make_event(app(), "e-r", "u-1");
    auto failed = record_for(event, Action::Create, OutcomeStatus::DeadLettered);
    failed.code = "BadRequest";
    auto first = commit_of(failed, std::nullopt, true);
    first.original = binary_record();
    ASSERT_TRUE(store.commit(first));
    auto other = commit_of(record_for(make_event(app(), "e-other", "u-2"), Action::Create, OutcomeStatus::DeadLettered),
                           std::nullopt, true);
    ASSERT_TRUE(store.commit(other));
    auto index = reader.dead_letters(app(), 10);
    ASSERT_TRUE(index);
    ASSERT_EQ(index->size(), 2u);
    const std::string entry = index->front().id;

    // The replay fails again: a new entry replaces the one it replays, in one step.
    auto again = record_for(event, Action::Create, OutcomeStatus::DeadLettered);
    again.event_id = replay_event_id("e-r", entry);
    again.code = "Conflict";
    auto second = commit_of(again, std::nullopt, true);
    second.original = binary_record();
    second.replay_of = entry;
    ASSERT_EQ(*store.commit(second), CommitStatus::Recorded);
    index = reader.dead_letters(app(), 10);
    ASSERT_TRUE(index);
    ASSERT_EQ(index->size(), 2u);
    EXPECT_EQ(index->at(0).fields.at("event_id"), "e-other");
    EXPECT_EQ(index->at(1).fields.at("event_id"), again.event_id);
    EXPECT_EQ(index->at(1).fields.at("code"), "Conflict");
    const std::string second_entry = index->at(1).id;

    // The replay of the replay is applied: its entry is gone, nothing is added.
    auto applied = record_for(event, Action::Create, OutcomeStatus::Applied);
    applied.event_id = replay_event_id("e-r", second_entry);
    auto third = commit_of(applied);
    third.replay_of = second_entry;
    ASSERT_EQ(*store.commit(third), CommitStatus::Recorded);
    index = reader.dead_letters(app(), 10);
    ASSERT_TRUE(index);
    ASSERT_EQ(index->size(), 1u);
    EXPECT_EQ(index->front().fields.at("event_id"), "e-other");

    // Every outcome stays in the log, the original failure included.
    EXPECT_EQ(*reader.count_log(app()), 4);
    auto original = reader.outcome(app(), kSource, "e-r");
    ASSERT_TRUE(original && original->has_value());
    EXPECT_EQ((*original)->status, OutcomeStatus::DeadLettered);

    // A replay mark that is not a stream id (any producer can set the header) changes nothing
    // and does not fail the commit.
    auto odd = record_for(make_event(app(), "e-odd", "u-3"), Action::Create, OutcomeStatus::Applied);
    auto fourth = commit_of(odd);
    fourth.replay_of = "not-an-id";
    EXPECT_EQ(*store.commit(fourth), CommitStatus::Recorded);
    fourth.record.event_id = "e-odd2";
    fourth.replay_of = index->front().id + "x";
    EXPECT_EQ(*store.commit(fourth), CommitStatus::Recorded);
    EXPECT_EQ(*reader.count_dead_letters(app()), 1);
}

TEST_F(RedisStoreTest, DeadLettersAreListedInPagesFilteredFoundByIdAndDeleted) {
    auto store = make_store();
    auto reader = make_reader();
    for (int i = 0; i < 25; ++i) {
        auto record = record_for(make_event(app(), "e-" + std::to_string(i), "u-" + std::to_string(i)), Action::Create,
                                 OutcomeStatus::DeadLettered);
        record.code = i % 5 == 0 ? "Conflict" : "BadRequest";
        ASSERT_TRUE(store.commit(commit_of(record, std::nullopt, true)));
    }
    // A damaged entry is listed, not fatal to the listing.
    RedisConnection admin(options());
    ASSERT_TRUE(admin.call({"XADD", keys().dead_letters(app()), "*", "event_id", "broken", "code", "BadRequest", "json",
                            "{not json"}));

    auto all = reader.all_dead_letters(app(), {}, 4);
    ASSERT_TRUE(all) << all.error().message;
    ASSERT_EQ(all->size(), 26u);
    for (std::size_t i = 0; i < 25; ++i) EXPECT_EQ(all->at(i).fields.at("event_id"), "e-" + std::to_string(i));
    EXPECT_TRUE(all->at(24).decode_error.empty());
    EXPECT_FALSE(all->at(25).decode_error.empty());
    std::set<std::string> ids;
    for (const auto& e : *all) ids.insert(e.id);
    EXPECT_EQ(ids.size(), 26u) << "a page boundary repeated an entry";

    consumers::DeadLetterFilter conflicts;
    conflicts.code = "Conflict";
    auto filtered = reader.all_dead_letters(app(), conflicts, 3);
    ASSERT_TRUE(filtered);
    EXPECT_EQ(filtered->size(), 5u);
    consumers::DeadLetterFilter later;
    later.since_ms = *consumers::stream_id_ms(all->at(25).id) + 1;
    auto none = reader.all_dead_letters(app(), later);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());

    auto one = reader.dead_letter(app(), all->at(7).id);
    ASSERT_TRUE(one) << one.error().message;
    ASSERT_TRUE(one->has_value());
    EXPECT_EQ((*one)->fields.at("event_id"), "e-7");
    auto unknown = reader.dead_letter(app(), "1-0");
    ASSERT_TRUE(unknown);
    EXPECT_FALSE(unknown->has_value());
    EXPECT_FALSE(reader.dead_letter(app(), "seven"));

    EXPECT_EQ(*reader.count_dead_letters(app()), 26);
    auto removed = reader.delete_dead_letters(app(), {all->at(7).id, all->at(8).id, "1-0"});
    ASSERT_TRUE(removed) << removed.error().message;
    EXPECT_EQ(*removed, 2);
    EXPECT_EQ(*reader.count_dead_letters(app()), 24);
    EXPECT_FALSE(reader.delete_dead_letters(app(), {"x"}));

    EXPECT_TRUE(consumers::is_stream_id("1712345678901-0"));
    EXPECT_FALSE(consumers::is_stream_id("1712345678901"));
    EXPECT_FALSE(consumers::is_stream_id("-1"));
    EXPECT_FALSE(consumers::is_stream_id("1-2-3"));
    EXPECT_EQ(ProvisioningLogReader::next_start("5-9"), "5-10");
    EXPECT_EQ(ProvisioningLogReader::next_start("5-18446744073709551615"), "6-0");
}

TEST_F(RedisStoreTest, TenThousandLoadCommitPairsOnOneConnection) {
    auto store = make_store();
    constexpr int kPairs = 10000;
    const auto began = std::chrono::steady_clock::now();
    for (int i = 0; i < kPairs; ++i) {
        const auto event = make_event(app(), "e-" + std::to_string(i), "u-" + std::to_string(i % 500));
        auto prior = store.load(event);
        ASSERT_TRUE(prior) << prior.error().message;
        LinkState link{"scim-" + std::to_string(i), 3, LinkStatus::Active, {{"userName", "u"}}, std::string(), nullptr};
        auto status =
            store.commit(commit_of(record_for(event, Action::Update, OutcomeStatus::Applied), link));
        ASSERT_TRUE(status) << status.error().message;
    }
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
    std::printf("[ figure   ] %d load+commit pairs on one connection: %lld ms (%.1f pairs/s)\n", kPairs,
                static_cast<long long>(elapsed.count()),
                elapsed.count() > 0 ? kPairs * 1000.0 / static_cast<double>(elapsed.count()) : 0.0);
    auto reader = make_reader();
    auto stats = reader.stats(app());
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->at("events"), kPairs);
}

TEST_F(RedisStoreTest, OffsetGapsAreKeptPerPartitionWithTheirTotalsAndListedInOrder) {
    auto log = std::make_shared<spdlog::logger>("gaps-test");  // no sinks: the errors are expected
    consumers::RedisOffsetGapStore store(options(), keys(), clock_, log);
    std::vector<consumers::OffsetGap> observed;
    store.set_observer([&](const consumers::OffsetGap& gap) { observed.push_back(gap); });
    const TopicPartition p3{"provisioning.events", 3};
    const TopicPartition p0{"provisioning.events", 0};
    // Offsets and times beyond 14 digits: nothing may pass through a lossy number encoding.
    constexpr std::int64_t kBig = 123456789012345678;
    auto first = store.record("provbridge", p3, {kBig, kBig + 997, 997}, 1700000000123);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(first->gaps, 1);
    EXPECT_EQ(first->total_lost, 997);
    EXPECT_EQ(first->first_detected_at_ms, 1700000000123);
    auto second = store.record("provbridge", p3, {kBig + 2000, kBig + 2500, 500}, 1700000999999);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(second->gap, (consumers::OffsetGap{kBig + 2000, kBig + 2500, 500}));
    EXPECT_EQ(second->detected_at_ms, 1700000999999);
    EXPECT_EQ(second->gaps, 2);
    EXPECT_EQ(second->total_lost, 1497);
    EXPECT_EQ(second->first_detected_at_ms, 1700000000123);
    store.on_offset_gap("other \"group\"", p0, {3, 1000, 997});
    ASSERT_EQ(observed.size(), 1U);
    EXPECT_EQ(observed[0], (consumers::OffsetGap{3, 1000, 997}));

    RedisConnection admin(options());
    ASSERT_TRUE(admin.call({"HSET", keys().offset_gaps(), "broken/7", "not json"}));
    auto reader = make_reader();
    auto gaps = reader.offset_gaps();
    ASSERT_TRUE(gaps) << gaps.error().message;
    ASSERT_EQ(gaps->size(), 3U);
    EXPECT_EQ((*gaps)[0].topic, "broken");
    EXPECT_EQ((*gaps)[0].partition, 7);
    EXPECT_NE((*gaps)[0].decode_error.find("broken/7"), std::string::npos) << (*gaps)[0].decode_error;
    EXPECT_EQ((*gaps)[1].partition, 0);
    EXPECT_EQ((*gaps)[1].group, "other \"group\"");
    EXPECT_EQ((*gaps)[1].gap.lost, 997);
    EXPECT_GT((*gaps)[1].detected_at_ms, 1700000999999) << "recorded at the clock's time";
    EXPECT_EQ((*gaps)[2].partition, 3);
    EXPECT_EQ((*gaps)[2].gap.committed, kBig + 2000);
    EXPECT_EQ((*gaps)[2].total_lost, 1497);
    EXPECT_TRUE((*gaps)[2].decode_error.empty());

    // A value that is not one of ours is replaced, counted as the first gap.
    auto over = store.record("provbridge", {"broken", 7}, {1, 2, 1}, 5);
    ASSERT_TRUE(over) << over.error().message;
    EXPECT_EQ(over->gaps, 1);
    EXPECT_EQ(over->total_lost, 1);
}

// ---------------------------------------------------------------------------------------------

class RedisConnectionTest : public RedisTest {};

TEST_F(RedisConnectionTest, PipelineSendsManyCommandsAndReturnsRepliesInOrder) {
    RedisConnection connection(options());
    const auto key = key_prefix() + ":{x}:counter";
    for (int i = 0; i < 100; ++i) connection.append({"INCR", key});
    connection.append({"HSET", key, "f", "v"});  // WRONGTYPE: an error reply, not an Error
    connection.append({"GET", key});
    EXPECT_EQ(connection.pending(), 102u);
    auto replies = connection.get_replies();
    ASSERT_TRUE(replies) << replies.error().message;
    EXPECT_EQ(connection.pending(), 0u);
    ASSERT_EQ(replies->size(), 102u);
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(consumers::to_value(*(*replies)[static_cast<std::size_t>(i)]).integer, i + 1);
    }
    const auto wrong = consumers::to_value(*(*replies)[100]);
    EXPECT_EQ(wrong.type, RedisValue::Type::Error);
    EXPECT_TRUE(wrong.str.starts_with("WRONGTYPE")) << wrong.str;
    EXPECT_EQ(consumers::to_value(*(*replies)[101]).str, "100");
}

TEST_F(RedisConnectionTest, ErrorReplyIsAReplyErrorAndKeepsTheConnection) {
    RedisConnection connection(options());
    const auto key = key_prefix() + ":{x}:hash";
    ASSERT_TRUE(connection.call({"HSET", key, "f", "v"}));
    auto wrong = connection.call({"INCR", key});
    ASSERT_FALSE(wrong);
    EXPECT_EQ(consumers::redis_error_kind(wrong.error()), RedisErrorKind::Reply);
    EXPECT_NE(wrong.error().message.find("WRONGTYPE"), std::string::npos);
    EXPECT_FALSE(connection.broken());
    auto ping = connection.call({"PING"});
    ASSERT_TRUE(ping);
    EXPECT_EQ(ping->str, "PONG");
    EXPECT_EQ(connection.reconnects(), 0);
}

TEST_F(RedisConnectionTest, ArgumentsAreBinarySafe) {
    RedisConnection connection(options());
    const auto key = key_prefix() + ":{x}:bin";
    constexpr char kRaw[] = "a\0b\r\n%s %d *3\r\n";
    const std::string value(kRaw, sizeof(kRaw) - 1);
    ASSERT_EQ(value.size(), 15u);
    ASSERT_TRUE(connection.call({"SET", key, value}));
    auto got = connection.call({"GET", key});
    ASSERT_TRUE(got);
    EXPECT_EQ(got->str, value);
}

TEST_F(RedisConnectionTest, ReadTimeoutIsATimeoutAndTheNextCallReconnects) {
    auto quick = options();
    quick.timeout = 100ms;
    RedisConnection connection(quick);
    auto blocked = connection.call({"BLPOP", key_prefix() + ":{x}:empty", "2"});
    ASSERT_FALSE(blocked);
    EXPECT_EQ(consumers::redis_error_kind(blocked.error()), RedisErrorKind::Timeout)
        << blocked.error().message;
    EXPECT_TRUE(connection.broken());
    auto ping = connection.call({"PING"});
    ASSERT_TRUE(ping) << ping.error().message;
    EXPECT_EQ(connection.reconnects(), 1);
}

TEST_F(RedisConnectionTest, WritingABigRequestToAClosedConnectionNeitherKillsNorFails) {
    RedisConnection connection(options());
    ASSERT_TRUE(connection.call({"PING"}));
    RedisConnection admin(options());
    ASSERT_TRUE(admin.call({"CLIENT", "KILL", "TYPE", "normal"}));
    // Far more than a socket buffer: the peer's reset arrives while we are still writing, so
    // write(2) fails with EPIPE and, unless blocked, SIGPIPE would end this process.
    const std::string big(16 << 20, 'x');
    const auto key = key_prefix() + ":{x}:big";
    auto set = connection.call({"SET", key, big});
    ASSERT_TRUE(set) << set.error().message;
    EXPECT_EQ(connection.reconnects(), 1);
    auto length = connection.call({"STRLEN", key});
    ASSERT_TRUE(length);
    EXPECT_EQ(length->integer, static_cast<std::int64_t>(big.size()));
}

TEST_F(RedisConnectionTest, FirstConnectFailureThrowsWithTheEndpoint) {
    const int port = ops::pick_free_port();  // nothing listens there
    try {
        RedisConnection connection(redis_options_for_port(port));
        FAIL() << "connected to a port with no server";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
            << e.what();
    }
}

TEST_F(RedisConnectionTest, AuthenticatesAndNeverReportsThePassword) {
    ops::LocalRedis own;
    const std::string password = "pw-" + key_prefix() + "-s3cr3t";
    {
        RedisConnection admin(redis_options_for_port(own.port()));
        ASSERT_TRUE(admin.call({"CONFIG", "SET", "requirepass", password}));
    }

    auto wrong = redis_options_for_port(own.port());
    wrong.password = "wrong-" + password;
    try {
        RedisConnection connection(wrong);
        FAIL() << "AUTH with a wrong password succeeded";
    } catch (const std::runtime_error& e) {
        const std::string message = e.what();
        EXPECT_EQ(message.find(wrong.password), std::string::npos) << message;
        EXPECT_EQ(message.find(password), std::string::npos) << message;
        EXPECT_NE(message.find("AUTH"), std::string::npos) << message;
    }

    auto right = redis_options_for_port(own.port());
    right.password = password;
    SystemClock clock;
    RedisStateStore store(right, keys(), kTtl, 1000, clock);
    const auto event = make_event(app(), "e-auth", "u");
    ASSERT_TRUE(store.commit(commit_of(record_for(event, Action::Create, OutcomeStatus::Applied))));

    // The password changes under a running store: the reconnect fails, as a value.
    RedisConnection admin(right);
    ASSERT_TRUE(admin.call({"CONFIG", "SET", "requirepass", password + "-rotated"}));
    ASSERT_TRUE(admin.call({"CLIENT", "KILL", "TYPE", "normal"}));
    auto prior = store.load(event);
    ASSERT_FALSE(prior);
    EXPECT_EQ(prior.error().message.find(password), std::string::npos) << prior.error().message;
    EXPECT_EQ(consumers::redis_error_kind(prior.error()), RedisErrorKind::Reply)
        << prior.error().message;

    // Rotated back: the next call reconnects and authenticates again.
    ASSERT_TRUE(admin.call({"CONFIG", "SET", "requirepass", password}));
    auto recovered = store.load(event);
    ASSERT_TRUE(recovered) << recovered.error().message;
    EXPECT_TRUE(recovered->recorded.has_value());
}

}  // namespace
}  // namespace provbridge::test_support
