// The deletion threshold against real parts: its scripts in redis-server (admission, staging,
// release), then the binary with the embedded broker and the SCIMMY target: a mass unassign
// beyond the threshold is staged, shown by `provbridge deletes status`, and allowed or discarded.
#include <csignal>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "fakes.hpp"
#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_deletions.hpp"
#include "provbridge/consumers/redis_store.hpp"
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

    FakeClock clock_;
    std::optional<RedisConnection> admin_;
};

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
    auto parked = store.park(staged_event(app(), "u1", "e1"), ParkMode::Staged, kNow);
    ASSERT_TRUE(parked) << parked.error().message;
    EXPECT_EQ(*parked, ParkStatus::Parked);
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
    auto lost = store.stage(stale, updated, kNow + 5);
    ASSERT_TRUE(lost);
    EXPECT_EQ(*lost, LeaseStatus::Lost);
    EXPECT_FALSE(score(keys().staged(app()), "u2"));

    auto held = store.stage(head.lease, updated, kNow + 5);
    ASSERT_TRUE(held) << held.error().message;
    EXPECT_EQ(*held, LeaseStatus::Held);
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
    ASSERT_TRUE(store.park(staged_event(app(), "u1", "e1"), ParkMode::Staged, kNow + 1));
    ASSERT_TRUE(store.park(staged_event(app(), "u2", "e2"), ParkMode::Staged, kNow + 2));
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
    ASSERT_TRUE(store.park(staged_event(app(), "u1", "e1"), ParkMode::Staged, kNow));
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
                       std::int64_t version, const std::string& title = "Engineer") {
    json data = {{"app", "crm"},
                 {"object",
                  {{"type", "user"},
                   {"id", user},
                   {"version", version},
                   {"attributes",
                    {{"userPrincipalName", user + "@contoso.com"}, {"mailNickname", user}, {"givenName", user},
                     {"surname", "Tester"}, {"displayName", user + " Tester"}, {"jobTitle", title},
                     {"accountEnabled", true}}}}}};
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
    EXPECT_EQ(bridge.log_length(), 17);
    worker->signal(SIGTERM);
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

}  // namespace
}  // namespace provbridge
