// The deletion threshold against real parts: its scripts in redis-server (admission, staging,
// release), then the binary with the embedded broker and the SCIMMY target: a mass unassign
// beyond the threshold is staged, shown by `provbridge deletes status`, and allowed or discarded.
#include <csignal>
#include <map>
#include <set>
#include <sstream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "fakes.hpp"
#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_deletions.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/transforms/log_view.hpp"
#include "provbridge/transforms/rolling_window.hpp"
#include "redis_fixture.hpp"

namespace provbridge::test_support {
namespace {

using consumers::RedisConnection;
using consumers::RedisDeletionControl;
using consumers::RedisStateStore;
using namespace std::chrono_literals;

constexpr std::chrono::seconds kTtl = std::chrono::hours(24);
constexpr std::int64_t kNow = 1'790'000'000'000;

// The log entry of a staging, as the processor writes it.
OutcomeRecord staged_log(const std::string& user, const std::string& event_id) {
    OutcomeRecord r;
    r.event_id = event_id;
    r.source = "urn:directory:contoso";
    r.object_type = "user";
    r.object_id = user;
    r.event_type = "provisioning.user.unassigned";
    r.status = OutcomeStatus::Skipped;
    r.action = Action::Disable;
    r.code = "deletion_staged";
    r.reason = "the Disable was staged by the deletion threshold";
    return r;
}

ParkedEvent staged_event(const std::string& app, const std::string& user, const std::string& event_id) {
    ParkedEvent event;
    event.app = app;
    event.object_type = ObjectType::User;
    event.object_id = user;
    event.source = "urn:directory:contoso";
    event.event_id = event_id;
    event.parked_at_ms = kNow;
    event.deletion = DeletionHold{DeletionMark::Staged, Action::Disable, kNow};
    event.record.topic = "provisioning.events";
    event.record.partition = 0;
    event.record.offset = 7;
    event.record.key = app + "/user/" + user;
    event.record.value = R"({"id":")" + event_id + R"("})";
    return event;
}

DeletionThresholdConfig threshold(std::int64_t max, std::chrono::milliseconds window = 60min) {
    DeletionThresholdConfig t;
    t.max_operations = max;
    t.window = window;
    return t;
}

class RedisDeletionsTest : public RedisTest {
protected:
    void SetUp() override {
        RedisTest::SetUp();
        if (!HasFatalFailure()) admin_.emplace(options());
    }
    RedisStateStore make_store() { return RedisStateStore(options(), keys(), kTtl, 1000, clock_); }

    std::optional<std::string> score(const std::string& key, const std::string& user) {
        auto reply = admin_->call({"ZSCORE", key, KeyScheme::queue_member(ObjectType::User, user)});
        EXPECT_TRUE(reply) << reply.error().message;
        if (!reply || reply->is_nil()) return std::nullopt;
        return reply->str;
    }
    ParkedEvent head_of(const std::string& user) {
        const auto queue = keys().queue(app(), ObjectType::User, user);
        auto reply = admin_->call({"LINDEX", queue, "0"});
        EXPECT_TRUE(reply && reply->type == consumers::RedisValue::Type::String);
        auto event = consumers::decode_parked(reply ? reply->str : "", queue);
        EXPECT_TRUE(event) << event.error().message;
        return event ? *event : ParkedEvent{};
    }

    // Commits an outcome of the user that writes its link: an account (scim_id) or none.
    void commit_link(RedisStateStore& store, const std::string& user, const std::string& scim_id,
                     LinkStatus status = LinkStatus::Active) {
        ++events_;
        Commit commit;
        commit.record.event_id = "c" + std::to_string(events_);
        commit.record.source = "urn:directory:contoso";
        commit.record.event_type = "user.updated";
        commit.record.app = app();
        commit.record.object_type = "user";
        commit.record.object_id = user;
        commit.record.version = events_;
        commit.record.action = scim_id.empty() ? Action::Delete : Action::Create;
        commit.record.status = OutcomeStatus::Applied;
        LinkState link;
        link.scim_id = scim_id;
        link.version = events_;
        link.status = status;
        commit.link = link;
        auto status_of = store.commit(commit);
        ASSERT_TRUE(status_of) << status_of.error().message;
        EXPECT_EQ(*status_of, CommitStatus::Recorded);
    }
    std::int64_t linked_members() {
        auto reply = admin_->call({"SCARD", keys().linked(app())});
        EXPECT_TRUE(reply) << reply.error().message;
        return reply ? reply->integer : -1;
    }

    FakeClock clock_;
    std::optional<RedisConnection> admin_;
    std::int64_t events_ = 0;
};

DeletionThresholdConfig relative(std::int64_t percent, std::int64_t max = 0) {
    auto t = threshold(max);
    t.max_percent = percent;
    return t;
}

TEST_F(RedisDeletionsTest, TheRelativeLimitWaitsForTheLinkedCountThenStagesFromItsShare) {
    auto store = make_store();
    for (int i = 0; i < 20; ++i) commit_link(store, "u" + std::to_string(i), "scim-" + std::to_string(i));
    EXPECT_EQ(linked_members(), 20) << "the commit script keeps the set";
    commit_link(store, "u0", "", LinkStatus::Deleted);
    commit_link(store, "u1", "scim-1", LinkStatus::Disabled);
    EXPECT_EQ(linked_members(), 19) << "a deleted account leaves it, a disabled one stays";

    // Until a worker has counted the links an older version wrote, the count is not known.
    auto unknown = store.admit_deletion(app(), kNow, relative(10), false);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind, ErrorKind::Transient);
    EXPECT_NE(unknown.error().message.find("not counted yet"), std::string::npos) << unknown.error().message;
    RedisDeletionControl control(options(), keys());
    auto before = control.status(app(), relative(10), kNow);
    ASSERT_TRUE(before);
    EXPECT_FALSE(before->linked.has_value()) << "an incomplete set is no count";

    auto counted = store.count_linked(app());
    ASSERT_TRUE(counted) << counted.error().message;
    EXPECT_EQ(*counted, 19);
    // 10% of 19 is 1.9: with 0 and 1 counted two are admitted; with 2 counted the third waits.
    for (std::int64_t expected : {1, 2}) {
        auto window = store.admit_deletion(app(), kNow, relative(10), false);
        ASSERT_TRUE(window) << window.error().message;
        EXPECT_EQ(window->admission, DeletionAdmission::Admitted);
        EXPECT_EQ(window->counted, expected);
        EXPECT_EQ(window->linked, 19);
    }
    auto full = store.admit_deletion(app(), kNow, relative(10), false);
    ASSERT_TRUE(full);
    EXPECT_EQ(full->admission, DeletionAdmission::Staged);
    EXPECT_EQ(full->counted, 2);
    EXPECT_EQ(full->linked, 19);
    // An allowed one passes without asking, counted; the count limit alone stays as it was.
    auto allowed = store.admit_deletion(app(), kNow, relative(10), true);
    ASSERT_TRUE(allowed);
    EXPECT_EQ(allowed->admission, DeletionAdmission::Admitted);
    auto count_only = store.admit_deletion(app(), kNow, threshold(5), false);
    ASSERT_TRUE(count_only);
    EXPECT_EQ(count_only->admission, DeletionAdmission::Admitted);
    EXPECT_EQ(count_only->counted, 4);
    auto status = control.status(app(), relative(10), kNow);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->linked, 19);
    EXPECT_EQ(status->counted, 4);
}

TEST_F(RedisDeletionsTest, CountingLinkedFindsTheLinksAnOlderVersionWroteOnce) {
    // Links as an older version left them: hashes, no set.
    for (int i = 0; i < 2500; ++i) {
        const auto key = keys().link(app(), i % 10 == 0 ? ObjectType::Group : ObjectType::User, "o" + std::to_string(i));
        const std::string scim_id = i % 7 == 0 ? "" : "scim-" + std::to_string(i);
        const std::string status = i % 11 == 0 ? "deleted" : i % 3 == 0 ? "disabled" : "active";
        ASSERT_TRUE(admin_->call({"HSET", key, "scim_id", scim_id, "version", "1", "status", status}));
    }
    std::int64_t expected = 0;
    for (int i = 0; i < 2500; ++i) expected += (i % 7 != 0 && i % 11 != 0) ? 1 : 0;
    // Another app's links are not this app's.
    ASSERT_TRUE(admin_->call({"HSET", keys().link("other-" + app(), ObjectType::User, "x"), "scim_id", "s", "status", "active"}));

    auto store = make_store();
    commit_link(store, "o1", "", LinkStatus::Deleted);  // a commit beside the count: o1 leaves
    --expected;
    auto counted = store.count_linked(app());
    ASSERT_TRUE(counted) << counted.error().message;
    EXPECT_EQ(*counted, expected);
    EXPECT_EQ(linked_members(), expected);
    auto complete = admin_->call({"EXISTS", keys().linked_complete(app())});
    ASSERT_TRUE(complete);
    EXPECT_EQ(complete->integer, 1);

    // Once complete, a start reads the set and scans nothing: a link written behind the
    // scripts' back (never by the bridge) is not found any more, a committed one is.
    ASSERT_TRUE(admin_->call({"HSET", keys().link(app(), ObjectType::User, "raw"), "scim_id", "s", "status", "active"}));
    commit_link(store, "new", "scim-new");
    auto again = store.count_linked(app());
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, expected + 1);
}

TEST_F(RedisDeletionsTest, TheWindowAdmitsUpToTheThresholdThenStagesAndAllowedOnesPassCounted) {
    auto store = make_store();
    const auto t = threshold(2);
    for (std::int64_t expected : {1, 2}) {
        auto window = store.admit_deletion(app(), kNow, t, false);
        ASSERT_TRUE(window) << window.error().message;
        EXPECT_EQ(window->admission, DeletionAdmission::Admitted);
        EXPECT_EQ(window->counted, expected);
    }
    auto full = store.admit_deletion(app(), kNow + 1000, t, false);
    ASSERT_TRUE(full);
    EXPECT_EQ(full->admission, DeletionAdmission::Staged);
    EXPECT_EQ(full->counted, 2) << "a staged operation is not counted";
    auto allowed = store.admit_deletion(app(), kNow + 2000, t, true);
    ASSERT_TRUE(allowed);
    EXPECT_EQ(allowed->admission, DeletionAdmission::Admitted);
    EXPECT_EQ(allowed->counted, 3);

    // The window slides: an hour later the buckets have left it (and expire on their own).
    auto later = store.admit_deletion(app(), kNow + 3'600'000 + 240'000, t, false);
    ASSERT_TRUE(later);
    EXPECT_EQ(later->admission, DeletionAdmission::Admitted);
    EXPECT_EQ(later->counted, 1);
    auto ttl = admin_->call({"PTTL", keys().deletions(app(), transforms::window_buckets(t.window, kNow).current)});
    ASSERT_TRUE(ttl);
    EXPECT_GT(ttl->integer, 3'600'000);
    EXPECT_LE(ttl->integer, 3'600'000 + 240'000);
}

TEST_F(RedisDeletionsTest, AStagedHeadIsNeitherDueNorClaimedAndEverythingAfterItIsStaged) {
    auto store = make_store();
    auto parked = store.park_staged(staged_event(app(), "u1", "e1"), kNow, staged_log("u1", "e1"));
    ASSERT_TRUE(parked) << parked.error().message;
    EXPECT_EQ(*parked, ParkStatus::Parked);
    // The staging is in the log, written with it; a redelivery writes nothing more.
    auto again = store.park_staged(staged_event(app(), "u1", "e1"), kNow, staged_log("u1", "e1"));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, ParkStatus::AlreadyParked);
    auto entries = admin_->call({"XRANGE", keys().log(app()), "-", "+"});
    ASSERT_TRUE(entries);
    ASSERT_EQ(entries->elements.size(), 1U);
    const auto& fields = entries->elements[0].elements.at(1).elements;
    std::map<std::string, std::string> entry;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) entry[fields[i].str] = fields[i + 1].str;
    EXPECT_EQ(entry["code"], "deletion_staged");
    EXPECT_EQ(entry["action"], "disable");
    EXPECT_EQ(entry["outcome"], "skipped");
    EXPECT_EQ(entry["event_id"], "e1");
    EXPECT_EQ(score(keys().staged(app()), "u1"), std::to_string(kNow));
    EXPECT_FALSE(score(keys().due(app()), "u1"));
    auto claimed = store.claim_due(app(), kNow + 3'600'000, 30s, 10, "w1");
    ASSERT_TRUE(claimed);
    EXPECT_TRUE(claimed->empty());
    // A later event of the object waits behind it (the load says the object is queued).
    auto behind = staged_event(app(), "u1", "e2");
    behind.deletion = {};
    auto status = store.park(behind, ParkMode::Behind, 0);
    ASSERT_TRUE(status);
    EXPECT_EQ(*status, ParkStatus::Parked);
    EXPECT_EQ(head_of("u1").event_id, "e1");
    EXPECT_EQ(head_of("u1").deletion.mark, DeletionMark::Staged);
    EXPECT_EQ(head_of("u1").deletion.action, Action::Disable);
    EXPECT_EQ(head_of("u1").deletion.staged_at_ms, kNow);

    // With something staged, the window stages whatever comes next, far below the threshold.
    auto window = store.admit_deletion(app(), kNow, threshold(100), false);
    ASSERT_TRUE(window);
    EXPECT_EQ(window->admission, DeletionAdmission::Staged);
    EXPECT_EQ(window->staged, 1);
    EXPECT_EQ(window->counted, 0);
}

TEST_F(RedisDeletionsTest, AClaimedHeadIsStagedUnderItsLeaseOnly) {
    auto store = make_store();
    auto event = staged_event(app(), "u2", "e1");
    event.deletion = {};
    ASSERT_TRUE(store.park(event, ParkMode::Anywhere, kNow));
    auto claimed = store.claim_due(app(), kNow, 30s, 10, "w1");
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->size(), 1U);
    auto head = claimed->front();
    auto updated = head.event;
    updated.deletion = DeletionHold{DeletionMark::Staged, Action::Delete, kNow + 5};

    auto stale = head.lease;
    stale.token = "someone-else";
    auto lost = store.stage(stale, updated, kNow + 5, staged_log("u2", "e1"));
    ASSERT_TRUE(lost);
    EXPECT_EQ(*lost, LeaseStatus::Lost);
    EXPECT_FALSE(score(keys().staged(app()), "u2"));
    const auto log_length = [&] {
        auto n = admin_->call({"XLEN", keys().log(app())});
        return n ? n->integer : -1;
    };
    EXPECT_EQ(log_length(), 0) << "a staging under a lost lease writes nothing, its log entry neither";

    auto held = store.stage(head.lease, updated, kNow + 5, staged_log("u2", "e1"));
    ASSERT_TRUE(held) << held.error().message;
    EXPECT_EQ(*held, LeaseStatus::Held);
    EXPECT_EQ(log_length(), 1);
    EXPECT_EQ(score(keys().staged(app()), "u2"), std::to_string(kNow + 5));
    EXPECT_FALSE(score(keys().due(app()), "u2"));
    auto lease = admin_->call({"HEXISTS", keys().leases(app()), KeyScheme::queue_member(ObjectType::User, "u2")});
    ASSERT_TRUE(lease);
    EXPECT_EQ(lease->integer, 0);
    EXPECT_EQ(head_of("u2").deletion.action, Action::Delete);
}

TEST_F(RedisDeletionsTest, StatusListsTheStagedAndReleaseMakesThemDueWithTheirMark) {
    auto store = make_store();
    ASSERT_TRUE(store.admit_deletion(app(), kNow, threshold(5), false));
    ASSERT_TRUE(store.park_staged(staged_event(app(), "u1", "e1"), kNow + 1, staged_log("u1", "e1")));
    ASSERT_TRUE(store.park_staged(staged_event(app(), "u2", "e2"), kNow + 2, staged_log("u2", "e2")));
    auto behind = staged_event(app(), "u2", "e3");
    behind.deletion = {};
    ASSERT_TRUE(store.park(behind, ParkMode::Behind, 0));

    RedisDeletionControl control(options(), keys());
    auto status = control.status(app(), threshold(5), kNow + 10);
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(status->counted, 1);
    EXPECT_EQ(status->staged, 2);
    EXPECT_EQ(status->oldest_staged_ms, kNow);
    ASSERT_EQ(status->operations.size(), 2U);
    EXPECT_EQ(status->operations[0].object_id, "u1");
    EXPECT_EQ(status->operations[0].action, Action::Disable);
    EXPECT_EQ(status->operations[0].event_id, "e1");
    EXPECT_EQ(status->operations[0].waiting_behind, 0);
    EXPECT_EQ(status->operations[1].object_id, "u2");
    EXPECT_EQ(status->operations[1].waiting_behind, 1);
    EXPECT_TRUE(status->unreadable.empty());

    // One object, then the rest.
    auto one = control.release(app(), QueueMember{ObjectType::User, "u2"}, DeletionMark::Discarded, kNow + 20);
    ASSERT_TRUE(one) << one.error().message;
    ASSERT_EQ(one->size(), 1U);
    EXPECT_EQ(one->front().event_id, "e2");
    EXPECT_EQ(score(keys().due(app()), "u2"), std::to_string(kNow + 20));
    EXPECT_EQ(head_of("u2").deletion.mark, DeletionMark::Discarded);
    EXPECT_EQ(head_of("u2").event_id, "e2");
    auto again = control.release(app(), QueueMember{ObjectType::User, "u2"}, DeletionMark::Allowed, kNow + 21);
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->empty()) << "no longer staged";
    EXPECT_EQ(head_of("u2").deletion.mark, DeletionMark::Discarded);

    auto rest = control.release(app(), std::nullopt, DeletionMark::Allowed, kNow + 30);
    ASSERT_TRUE(rest);
    ASSERT_EQ(rest->size(), 1U);
    EXPECT_EQ(head_of("u1").deletion.mark, DeletionMark::Allowed);
    auto claimed = store.claim_due(app(), kNow + 30, 30s, 10, "w1");
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->size(), 2U);
    for (const auto& head : *claimed) {
        EXPECT_EQ(head.event.deletion.mark,
                  head.lease.object_id == "u1" ? DeletionMark::Allowed : DeletionMark::Discarded);
    }
    auto empty = control.status(app(), threshold(5), kNow + 40);
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->staged, 0);
    EXPECT_TRUE(empty->operations.empty());
}

TEST_F(RedisDeletionsTest, ReleaseMarksTheHeadAsItIsNowAndDropsLeftoverMembers) {
    auto store = make_store();
    ASSERT_TRUE(store.park_staged(staged_event(app(), "u1", "e1"), kNow, staged_log("u1", "e1")));
    RedisDeletionControl control(options(), keys());
    // The head entry changes after a status was read: release reads it again and marks the entry
    // as it is now, keeping everything else it holds.
    auto status = control.status(app(), threshold(5), kNow);
    ASSERT_TRUE(status);
    auto replaced = staged_event(app(), "u1", "e1");
    replaced.attempts = 3;
    ASSERT_TRUE(admin_->call({"LSET", keys().queue(app(), ObjectType::User, "u1"), "0", consumers::encode_parked(replaced)}));
    auto released = control.release(app(), std::nullopt, DeletionMark::Allowed, kNow);
    ASSERT_TRUE(released);
    ASSERT_EQ(released->size(), 1U);
    EXPECT_EQ(head_of("u1").attempts, 3);
    EXPECT_EQ(head_of("u1").deletion.mark, DeletionMark::Allowed);

    // A staged member whose queue is gone is reported, not released.
    auto orphan = admin_->call({"ZADD", keys().staged(app()), "5", KeyScheme::queue_member(ObjectType::User, "gone")});
    ASSERT_TRUE(orphan);
    auto listed = control.status(app(), threshold(5), kNow);
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->staged, 1);
    ASSERT_EQ(listed->unreadable.size(), 1U);
    EXPECT_NE(listed->unreadable[0].find("queue is empty"), std::string::npos) << listed->unreadable[0];
    auto none = control.release(app(), std::nullopt, DeletionMark::Allowed, kNow);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    EXPECT_FALSE(score(keys().staged(app()), "gone")) << "the release script drops the leftover member";
}

}  // namespace
}  // namespace provbridge::test_support

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kSource = "urn:directory:deletes";

std::string user_event(const std::string& event_id, const std::string& type, const std::string& user,
                       std::int64_t version, const std::string& title = "Engineer", bool enabled = true) {
    json data = {{"app", "crm"},
                 {"object",
                  {{"type", "user"},
                   {"id", user},
                   {"version", version},
                   {"attributes",
                    {{"userPrincipalName", user + "@contoso.com"}, {"mailNickname", user}, {"givenName", user},
                     {"surname", "Tester"}, {"displayName", user + " Tester"}, {"jobTitle", title},
                     {"accountEnabled", enabled}}}}}};
    if (type != "unassigned") data["assignment"] = {{"role", "User"}};
    return json{{"specversion", "1.0"}, {"id", event_id}, {"source", kSource}, {"type", "provisioning.user." + type},
                {"data", data}}
        .dump();
}

BridgeHarness::Options crm(const std::string& group, std::int64_t max_operations) {
    BridgeHarness::Options options;
    options.app = "crm";
    options.group = group;
    options.partitions = 2;
    options.app_extra = {{"deletion_threshold", {{"max_operations", max_operations}, {"window_minutes", 60}}}};
    return options;
}

std::string user_of(int i) { return "u" + std::to_string(i); }

// `deletes status --json` for crm: the one report of the array.
json deletes_status(const BridgeHarness& bridge) {
    const auto result = bridge.cli({"deletes", "status", "--app", "crm", "--json"});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    const auto at = result.output.find('[');
    const json report = at == std::string::npos ? json() : json::parse(result.output.substr(at), nullptr, false);
    EXPECT_TRUE(report.is_array() && report.size() == 1) << result.output;
    return report.is_array() && report.size() == 1 ? report[0] : json::object();
}

// userName → the account in the target.
std::map<std::string, json> accounts(BridgeHarness& bridge) {
    std::map<std::string, json> out;
    for (const auto& u : bridge.users()) out[u["userName"].get<std::string>()] = u;
    return out;
}

// Reads the worker's progress until `finished` and `parked` have both reached their counts (the
// worker prints a line when its counters change, so one line must show both).
json wait_progress(ops::ChildProcess& worker, std::uint64_t finished, std::uint64_t parked,
                   std::chrono::seconds timeout = 120s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json last;
    while (std::chrono::steady_clock::now() < deadline) {
        auto line = worker.read_line(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
        if (!line) break;
        auto doc = json::parse(*line, nullptr, false);
        if (doc.is_discarded() || !doc.contains("finished")) continue;
        last = doc;
        if (doc["finished"].get<std::uint64_t>() >= finished && doc["parked"].get<std::uint64_t>() >= parked) return doc;
    }
    ADD_FAILURE() << "the worker did not reach " << finished << " finished and " << parked
                  << " parked; last progress: " << last.dump();
    return last;
}

// Provisions u0..u(n-1) and unassigns them all; returns the users left staged (by the report).
std::set<std::string> unassign_beyond_threshold(BridgeHarness& bridge, ops::ChildProcess& worker, int n,
                                                int max_operations) {
    for (int i = 0; i < n; ++i) bridge.send("crm/user/" + user_of(i), user_event("a" + std::to_string(i), "assigned", user_of(i), 1));
    BridgeHarness::wait_finished(worker, static_cast<std::uint64_t>(n), 120s);
    for (int i = 0; i < n; ++i) {
        bridge.send("crm/user/" + user_of(i), user_event("d" + std::to_string(i), "unassigned", user_of(i), 2));
    }
    wait_progress(worker, static_cast<std::uint64_t>(n + max_operations), static_cast<std::uint64_t>(n - max_operations));
    const json status = deletes_status(bridge);
    std::set<std::string> staged;
    for (const auto& op : status.value("operations", json::array())) staged.insert(op["object_id"].get<std::string>());
    return staged;
}

TEST(DeletionThreshold, AMassUnassignBeyondTheThresholdIsStagedAndAllowedByAnOperator) {
    BridgeHarness bridge(crm("deletes-allow", 5));
    auto worker = bridge.start_worker();
    const auto staged = unassign_beyond_threshold(bridge, *worker, 8, 5);
    ASSERT_FALSE(::testing::Test::HasFailure());
    ASSERT_EQ(staged.size(), 3U);

    json status = deletes_status(bridge);
    EXPECT_EQ(status["threshold"]["max_operations"], 5);
    EXPECT_EQ(status["in_window"], 5);
    EXPECT_EQ(status["staged"], 3);
    EXPECT_FALSE(status["oldest_staged"].is_null());
    for (const auto& op : status["operations"]) {
        EXPECT_EQ(op["action"], "disable");
        EXPECT_EQ(op["object_type"], "user");
        EXPECT_EQ(op["event_id"], "d" + op["object_id"].get<std::string>().substr(1));
        EXPECT_EQ(op["waiting_behind"], 0);
    }
    // 5 disabled, the 3 staged still active: nothing was sent for them.
    auto target = accounts(bridge);
    ASSERT_EQ(target.size(), 8U);
    for (int i = 0; i < 8; ++i) {
        const bool waits = staged.count(user_of(i)) > 0;
        EXPECT_EQ(target[user_of(i) + "@contoso.com"]["active"], waits) << user_of(i);
    }
    const auto plain = bridge.cli({"deletes", "status", "--app", "crm"});
    EXPECT_EQ(plain.exit_code, 0);
    EXPECT_NE(plain.output.find("5 of 5 disables and deletes within 60 min, 3 staged"), std::string::npos) << plain.output;

    // A later event of a staged user waits behind its staged disable, unsent.
    const std::string waiting = *staged.begin();
    bridge.send("crm/user/" + waiting, user_event("late", "updated", waiting, 3, "Countess"));
    BridgeHarness::wait_counter(*worker, "parked", 4, 60s);
    status = deletes_status(bridge);
    for (const auto& op : status["operations"]) {
        EXPECT_EQ(op["waiting_behind"], op["object_id"] == waiting ? 1 : 0) << op.dump();
    }
    EXPECT_EQ(accounts(bridge)[waiting + "@contoso.com"]["title"], "Engineer");

    const auto allowed = bridge.cli({"deletes", "allow", "--app", "crm"});
    EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
    EXPECT_NE(allowed.output.find("3 staged operation(s) allowed"), std::string::npos) << allowed.output;
    // The three disables, then the update behind one of them (not assigned any more: skipped).
    const json progress = BridgeHarness::wait_finished(*worker, 8 + 8 + 1, 120s);
    EXPECT_EQ(progress["applied"], 16) << progress.dump();
    EXPECT_EQ(progress["skipped"], 1) << progress.dump();
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();

    target = accounts(bridge);
    ASSERT_EQ(target.size(), 8U);
    for (const auto& [name, account] : target) {
        EXPECT_EQ(account["active"], false) << name;
        EXPECT_EQ(account["title"], "Engineer") << name;
    }
    auto late = bridge.reader().outcome("crm", kSource, "late");
    ASSERT_TRUE(late.ok());
    ASSERT_TRUE(late->has_value());
    EXPECT_EQ((*late)->code, "not_assigned");
    for (const auto& user : staged) {
        auto out = bridge.reader().outcome("crm", kSource, "d" + user.substr(1));
        ASSERT_TRUE(out.ok());
        ASSERT_TRUE(out->has_value()) << user;
        EXPECT_EQ((*out)->action, Action::Disable);
        EXPECT_EQ((*out)->status, OutcomeStatus::Applied);
        EXPECT_NE((*out)->reason.find("allowed by an operator"), std::string::npos) << (*out)->reason;
    }
    status = deletes_status(bridge);
    EXPECT_EQ(status["staged"], 0);
    EXPECT_EQ(status["in_window"], 8) << "allowed operations are counted";
    // 17 outcomes, and the 3 stagings logged when they happened (Entra's StagedDelete).
    EXPECT_EQ(bridge.log_length(), 20);
    const auto staged_log = bridge.cli({"logs", "--app", "crm", "--action", "StagedDelete", "--json"});
    EXPECT_EQ(staged_log.exit_code, 0) << staged_log.output;
    std::set<std::string> logged;
    std::istringstream lines(staged_log.output);
    for (std::string line; std::getline(lines, line);) {
        const auto entry = json::parse(line, nullptr, false);
        if (entry.is_discarded()) continue;
        EXPECT_EQ(entry.value("skip_reason", ""), "deletion_staged") << line;
        EXPECT_EQ(entry.value("status", ""), "Skipped") << line;
        logged.insert(entry.value("event_id", ""));
    }
    EXPECT_EQ(logged.size(), staged.size()) << staged_log.output;
    for (const auto& user : staged) EXPECT_EQ(logged.count("d" + user.substr(1)), 1U) << user << staged_log.output;
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

// Reads the worker's progress until every one of `n` events is finished or parked (staged);
// returns that line. Waiting for the sum, not for a split, lets a wrong split fail at once.
json wait_accounted(ops::ChildProcess& worker, std::uint64_t n, std::chrono::seconds timeout = 300s,
                    std::string* transcript = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json last;
    while (std::chrono::steady_clock::now() < deadline) {
        auto line = worker.read_line(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
        if (!line) break;
        if (transcript != nullptr) transcript->append(*line).append("\n");
        auto doc = json::parse(*line, nullptr, false);
        if (doc.is_discarded() || !doc.contains("finished")) continue;
        last = doc;
        if (doc["finished"].get<std::uint64_t>() + doc["parked"].get<std::uint64_t>() >= n) return doc;
    }
    ADD_FAILURE() << "the worker did not finish or park " << n << " events; last progress: " << last.dump();
    return last;
}

// The ops server's JSON for one app (GET /api/v1/apps/{app}), as the dashboard reads it.
json ops_app(const std::string& url, const std::string& app) {
    static const std::regex re(R"(^http://([^:/]+):([0-9]+)/$)");
    std::smatch m;
    EXPECT_TRUE(std::regex_match(url, m, re)) << url;
    if (m.empty()) return nullptr;
    httplib::Client client(m[1].str(), std::stoi(m[2].str()));
    client.set_read_timeout(60, 0);
    auto res = client.Get(("/api/v1/apps/" + app).c_str());
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) return nullptr;
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false);
}

// Lines of user events, keyed as produce keys them: one per user of [first, last).
std::vector<std::string> user_events(const std::string& prefix, const std::string& type, int first, int last,
                                     std::int64_t version, const std::string& title, bool enabled) {
    std::vector<std::string> lines;
    for (int i = first; i < last; ++i) {
        lines.push_back(user_event(prefix + std::to_string(i), type, user_of(i), version, title, enabled));
    }
    return lines;
}

// Issue 21: a broken HR feed sends accountEnabled false for everyone. Those updates disable
// accounts as surely as unassignments do, so the threshold holds them the same way: exactly 500
// sent, the rest staged whole (their new title waits too) until an operator answers.
TEST(DeletionThreshold, UpdatesThatDisableAccountsAreHeldByTheThresholdLikeUnassignments) {
    constexpr int kUsers = 800;
    constexpr int kMax = 500;  // Entra's default, as the app's default
    BridgeHarness::Options options = crm("deletes-updates", kMax);
    options.app_extra = json::object();  // the default threshold (500 within 60 min) is kMax
    BridgeHarness bridge(options);
    // Errors only: a warning per staged operation (310 of them) would bury the test's output.
    auto worker = bridge.start_worker(false, "error");
    const auto url = BridgeHarness::wait_ops_url(*worker);
    bridge.produce_lines(user_events("a", "assigned", 0, kUsers, 1, "Engineer", true));
    json progress = BridgeHarness::wait_finished(*worker, kUsers, 300s);
    ASSERT_EQ(progress["applied"], kUsers) << progress.dump();

    bridge.produce_lines(user_events("x", "updated", 0, kUsers, 2, "Countess", false));
    progress = wait_accounted(*worker, 2 * kUsers);
    EXPECT_EQ(progress["finished"], kUsers + kMax) << progress.dump();
    // Fatal: without anything staged, the operator's part below would only wait for nothing.
    ASSERT_EQ(progress["parked"], kUsers - kMax) << progress.dump();
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();

    // Exactly 500 accounts disabled in the target, each with its new title; 300 untouched.
    std::set<std::string> disabled;
    for (const auto& [name, account] : accounts(bridge)) {
        const bool inactive = account["active"] == false;
        if (inactive) disabled.insert(name.substr(0, name.find('@')));
        EXPECT_EQ(account["title"], inactive ? "Countess" : "Engineer") << name << ": a staged update waits whole";
    }
    EXPECT_EQ(disabled.size(), static_cast<std::size_t>(kMax));

    // Listed by `deletes status` (every one with --json) and by the ops API the page reads.
    json status = deletes_status(bridge);
    EXPECT_EQ(status["in_window"], kMax);
    EXPECT_EQ(status["staged"], kUsers - kMax);
    std::set<std::string> staged;
    for (const auto& op : status.value("operations", json::array())) {
        EXPECT_EQ(op["action"], "disable") << op.dump();
        EXPECT_EQ(op["event_id"], "x" + op["object_id"].get<std::string>().substr(1)) << op.dump();
        staged.insert(op["object_id"].get<std::string>());
    }
    EXPECT_EQ(staged.size(), static_cast<std::size_t>(kUsers - kMax));
    for (const auto& user : staged) EXPECT_EQ(disabled.count(user), 0U) << user << " is staged and was sent";
    const auto plain = bridge.cli({"deletes", "status", "--app", "crm"});
    EXPECT_NE(plain.output.find("500 of 500 disables and deletes within 60 min, 300 staged"), std::string::npos)
        << plain.output;
    const json page = ops_app(url, "crm");
    EXPECT_EQ(page["staged"]["counted"], kMax);
    EXPECT_EQ(page["staged"]["operations"].size(), static_cast<std::size_t>(kUsers - kMax));
    EXPECT_EQ(page["app"]["staged_deletes"], kUsers - kMax);

    // The 500 sent are logged as disables (Entra's action for them), not as updates.
    for (const auto& user : {*disabled.begin(), *disabled.rbegin()}) {
        const auto out = bridge.wait_outcome(kSource, "x" + user.substr(1));
        EXPECT_EQ(out.action, Action::Disable) << user;
        EXPECT_EQ(out.status, OutcomeStatus::Applied) << user;
    }

    // Allowed: the staged updates are sent whole (active and title), counted.
    const auto allowed = bridge.cli({"deletes", "allow", "--app", "crm"});
    EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
    progress = BridgeHarness::wait_finished(*worker, 2 * kUsers, 300s);
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();
    for (const auto& [name, account] : accounts(bridge)) {
        EXPECT_EQ(account["active"], false) << name;
        EXPECT_EQ(account["title"], "Countess") << name;
    }
    const auto one = bridge.wait_outcome(kSource, "x" + staged.begin()->substr(1));
    EXPECT_EQ(one.action, Action::Disable);
    EXPECT_NE(one.reason.find("allowed by an operator"), std::string::npos) << one.reason;
    status = deletes_status(bridge);
    EXPECT_EQ(status["staged"], 0);
    EXPECT_EQ(status["in_window"], kUsers);

    // Ten accounts enabled again (an update that enables is never held), then disabled once
    // more by the feed: the window is past the threshold, so all ten are staged; discarded,
    // they stay active with their title, and nothing of them was sent.
    constexpr int kAgain = 10;
    bridge.produce_lines(user_events("e", "updated", 0, kAgain, 3, "Engineer", true));
    progress = BridgeHarness::wait_finished(*worker, 2 * kUsers + kAgain, 120s);
    bridge.produce_lines(user_events("y", "updated", 0, kAgain, 4, "Duchess", false));
    progress = wait_progress(*worker, 2 * kUsers + kAgain, kUsers - kMax + kAgain);
    EXPECT_EQ(progress["finished"], 2 * kUsers + kAgain) << progress.dump();
    EXPECT_EQ(deletes_status(bridge)["staged"], kAgain);
    const auto discarded = bridge.cli({"deletes", "discard", "--app", "crm"});
    EXPECT_EQ(discarded.exit_code, 0) << discarded.output;
    progress = BridgeHarness::wait_finished(*worker, 2 * kUsers + 2 * kAgain, 120s);
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();
    auto target = accounts(bridge);
    for (int i = 0; i < kAgain; ++i) {
        const auto& account = target[user_of(i) + "@contoso.com"];
        EXPECT_EQ(account["active"], true) << user_of(i) << ": discarded, the account stays active";
        EXPECT_EQ(account["title"], "Engineer") << user_of(i) << ": discarded whole";
        const auto out = bridge.wait_outcome(kSource, "y" + std::to_string(i));
        EXPECT_EQ(out.status, OutcomeStatus::Skipped) << user_of(i);
        EXPECT_EQ(out.code, "deletion_discarded") << user_of(i);
        EXPECT_EQ(out.scim_requests, 0) << user_of(i);
    }
    EXPECT_EQ(deletes_status(bridge)["staged"], 0);
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

// max_percent alone: the worker counts the app's linked accounts at start (none yet), its
// commits keep the count, and the window stages from the share of them.
TEST(DeletionThreshold, TheRelativeLimitHoldsAShareOfTheAppsLinkedAccounts) {
    constexpr int kUsers = 40;
    BridgeHarness::Options options = crm("deletes-percent", 0);
    options.app_extra = {{"deletion_threshold", {{"max_operations", 0}, {"max_percent", 10}}}};
    BridgeHarness bridge(options);
    auto worker = bridge.start_worker(true, "info");
    bridge.produce_lines(user_events("a", "assigned", 0, kUsers, 1, "Engineer", true));
    std::string transcript;
    BridgeHarness::wait_finished(*worker, kUsers, 120s, &transcript);
    EXPECT_NE(transcript.find("app crm: 0 linked accounts"), std::string::npos) << transcript;
    EXPECT_EQ(deletes_status(bridge)["linked"], kUsers);

    // 10% of 40: four disables go out, the other six wait.
    bridge.produce_lines(user_events("x", "updated", 0, 10, 2, "Countess", false));
    const json progress = wait_accounted(*worker, kUsers + 10, 120s, &transcript);
    EXPECT_EQ(progress["finished"], kUsers + 4) << progress.dump();
    EXPECT_EQ(progress["parked"], 6) << progress.dump();
    const json status = deletes_status(bridge);
    EXPECT_EQ(status["threshold"]["max_percent"], 10);
    EXPECT_EQ(status["staged"], 6);
    EXPECT_EQ(status["linked"], kUsers) << "a disabled account is still linked";
    const auto plain = bridge.cli({"deletes", "status", "--app", "crm"});
    EXPECT_NE(plain.output.find("4 disables and deletes within 60 min (limit 10% of 40 linked accounts), 6 staged"),
              std::string::npos)
        << plain.output;
    worker->signal(SIGTERM);
    std::string rest;
    while (auto line = worker->read_line(30s)) rest += *line + "\n";
    EXPECT_NE((transcript + rest).find("reached 10% of the app's 40 linked accounts"), std::string::npos)
        << transcript << rest;
    EXPECT_TRUE(worker->wait(60s).has_value());
}

TEST(DeletionThreshold, DiscardedOperationsAreRecordedSkippedAndTheAccountsLeftAlone) {
    BridgeHarness bridge(crm("deletes-discard", 2));
    auto worker = bridge.start_worker();
    const auto staged = unassign_beyond_threshold(bridge, *worker, 5, 2);
    ASSERT_FALSE(::testing::Test::HasFailure());
    ASSERT_EQ(staged.size(), 3U);

    // Refused arguments, and nothing staged for an object, are told apart by the exit code.
    EXPECT_EQ(bridge.cli({"deletes", "allow", "--app", "nope"}).exit_code, 2);
    EXPECT_EQ(bridge.cli({"deletes", "allow", "--app", "crm", "--object", "printer/p1"}).exit_code, 2);
    EXPECT_EQ(bridge.cli({"deletes", "discard"}).exit_code, 2);
    EXPECT_EQ(bridge.cli({"deletes", "allow", "--app", "crm", "--object", "user/nobody"}).exit_code, 1);

    // One staged operation allowed by name, the others discarded.
    const std::string first = *staged.begin();
    const auto one = bridge.cli({"deletes", "allow", "--app", "crm", "--object", "user/" + first});
    EXPECT_EQ(one.exit_code, 0) << one.output;
    BridgeHarness::wait_finished(*worker, 5 + 2 + 1, 60s);
    const auto discarded = bridge.cli({"deletes", "discard", "--app", "crm", "--json"});
    EXPECT_EQ(discarded.exit_code, 0) << discarded.output;
    const json report = json::parse(discarded.output.substr(discarded.output.find('{')), nullptr, false);
    EXPECT_EQ(report.value("released", 0), 2) << discarded.output;
    EXPECT_EQ(report.value("mark", ""), "discarded");
    const json progress = BridgeHarness::wait_finished(*worker, 5 + 5, 60s);
    EXPECT_EQ(progress["skipped"], 2) << progress.dump();

    auto target = accounts(bridge);
    ASSERT_EQ(target.size(), 5U);
    for (int i = 0; i < 5; ++i) {
        const std::string user = user_of(i);
        const bool untouched = staged.count(user) > 0 && user != first;
        EXPECT_EQ(target[user + "@contoso.com"]["active"], untouched) << user;
        auto out = bridge.reader().outcome("crm", kSource, "d" + std::to_string(i));
        ASSERT_TRUE(out.ok());
        ASSERT_TRUE(out->has_value()) << user;
        if (untouched) {
            EXPECT_EQ((*out)->status, OutcomeStatus::Skipped) << user;
            EXPECT_EQ((*out)->code, "deletion_discarded") << user;
            EXPECT_EQ((*out)->scim_requests, 0) << user;
        } else {
            EXPECT_EQ((*out)->action, Action::Disable) << user;
        }
    }
    EXPECT_EQ(deletes_status(bridge)["staged"], 0);
    EXPECT_EQ(bridge.cli({"deletes", "discard", "--app", "crm"}).exit_code, 1) << "nothing left to discard";
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

// Issue 21: a deletion is reversible for apps[].hard_delete_after_days (default 30, as here):
// the account is disabled and its hard delete scheduled; a restore re-enables the same account
// and cancels it; an operator can delete early (through the threshold) or never.
TEST(GracePeriod, ADeletedUsersAccountIsKeptDisabledUntilItsHardDeleteAndARestoreKeepsTheSameAccount) {
    BridgeHarness bridge(crm("deletes-grace", 100));
    auto worker = bridge.start_worker();
    const auto url = BridgeHarness::wait_ops_url(*worker);
    for (int i = 0; i < 4; ++i) bridge.send("crm/user/" + user_of(i), user_event("a" + std::to_string(i), "assigned", user_of(i), 1));
    BridgeHarness::wait_finished(*worker, 4, 120s);
    auto before = accounts(bridge);
    ASSERT_EQ(before.size(), 4U);
    for (int i = 0; i < 4; ++i) bridge.send("crm/user/" + user_of(i), user_event("d" + std::to_string(i), "deleted", user_of(i), 2));
    BridgeHarness::wait_finished(*worker, 8, 120s);

    auto target = accounts(bridge);
    ASSERT_EQ(target.size(), 4U) << "nothing deleted yet";
    for (int i = 0; i < 4; ++i) {
        const auto name = user_of(i) + "@contoso.com";
        EXPECT_EQ(target[name]["active"], false) << name;
        EXPECT_EQ(target[name]["id"], before[name]["id"]) << name;
        auto out = bridge.reader().outcome("crm", kSource, "d" + std::to_string(i));
        ASSERT_TRUE(out.ok() && out->has_value());
        EXPECT_EQ((*out)->action, Action::ScheduledDelete) << (*out)->reason;
        EXPECT_NE((*out)->reason.find("deleted for good on"), std::string::npos) << (*out)->reason;
    }
    json status = deletes_status(bridge);
    EXPECT_EQ(status["hard_delete_after_days"], 30);
    ASSERT_EQ(status["scheduled"].size(), 4U) << status.dump();
    EXPECT_EQ(status["in_window"], 4) << "each disable is counted";
    const auto plain = bridge.cli({"deletes", "status", "--app", "crm"});
    EXPECT_NE(plain.output.find("4 hard delete(s) scheduled"), std::string::npos) << plain.output;

    // u0 is restored within the grace period: the same account, active again; its schedule goes.
    bridge.send("crm/user/u0", user_event("r0", "assigned", "u0", 3, "Restored"));
    BridgeHarness::wait_finished(*worker, 9, 60s);
    target = accounts(bridge);
    EXPECT_EQ(target.size(), 4U) << "never a second account";
    EXPECT_EQ(target["u0@contoso.com"]["id"], before["u0@contoso.com"]["id"]);
    EXPECT_EQ(target["u0@contoso.com"]["active"], true);
    EXPECT_EQ(target["u0@contoso.com"]["title"], "Restored");

    // u1 deleted early by an operator, u2 never: the first through the threshold, the second
    // recorded skipped.
    EXPECT_EQ(bridge.cli({"deletes", "allow", "--scheduled", "--app", "crm", "--object", "group/g1"}).exit_code, 2);
    EXPECT_EQ(bridge.cli({"deletes", "allow", "--scheduled", "--app", "crm", "--object", "user/u0"}).exit_code, 1)
        << "u0's schedule was cancelled by its restore";
    const auto allowed = bridge.cli({"deletes", "allow", "--scheduled", "--app", "crm", "--object", "user/u1"});
    EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
    BridgeHarness::wait_finished(*worker, 10, 60s);
    const auto discarded = bridge.cli({"deletes", "discard", "--scheduled", "--app", "crm", "--object", "user/u2"});
    EXPECT_EQ(discarded.exit_code, 0) << discarded.output;
    BridgeHarness::wait_finished(*worker, 11, 60s);
    target = accounts(bridge);
    EXPECT_EQ(target.count("u1@contoso.com"), 0U) << "hard-deleted";
    ASSERT_EQ(target.count("u2@contoso.com"), 1U);
    EXPECT_EQ(target["u2@contoso.com"]["active"], false);
    EXPECT_EQ(target["u3@contoso.com"]["active"], false);
    status = deletes_status(bridge);
    ASSERT_EQ(status["scheduled"].size(), 1U) << status.dump();
    EXPECT_EQ(status["scheduled"][0]["object_id"], "u3");
    EXPECT_EQ(status["in_window"], 5) << "the hard delete is counted too";
    std::map<std::string, std::string> hard_deletes;  // user → log action of its hard delete
    auto log = bridge.reader().recent_log("crm", 50);
    ASSERT_TRUE(log.ok());
    for (const auto& r : *log) {
        if (r.event_type == "provisioning.user.hard_delete") {
            hard_deletes[r.object_id] = std::string(transforms::log_view(r).action) + "/" + r.code;
        }
    }
    EXPECT_EQ(hard_deletes["u1"], "Delete/");
    EXPECT_EQ(hard_deletes["u2"], "ScheduledDelete/deletion_discarded");

    // The page's document and the metrics say the same.
    const json page = ops_app(url, "crm");
    EXPECT_EQ(page["app"]["scheduled_hard_deletes"], 1) << page.dump();
    ASSERT_EQ(page["staged"]["scheduled"].size(), 1U) << page.dump();
    EXPECT_EQ(page["staged"]["scheduled"][0]["object"], "user/u3");
    const auto at = url.find("//") + 2;
    httplib::Client client(url.substr(at, url.rfind(':') - at), std::stoi(url.substr(url.rfind(':') + 1)));
    auto metrics = client.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("provbridge_scheduled_hard_deletes{app=\"crm\"} 1"), std::string::npos);
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

}  // namespace
}  // namespace provbridge
