// Retries against the real binary, redis-server, the embedded broker and the SCIMMY target:
// throttled and failing calls are parked in Redis and applied later, in per-object order, and
// a parked retry survives the worker that parked it.
#include <csignal>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "provbridge/consumers/redis.hpp"
#include "redis_fixture.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kSource = "urn:directory:retry";

std::string user_event(const std::string& event_id, const std::string& type, const std::string& user,
                       std::int64_t version, const json& attributes) {
    return json{{"specversion", "1.0"}, {"id", event_id}, {"source", kSource}, {"type", "provisioning.user." + type},
                {"data", {{"app", "crm"},
                          {"object", {{"type", "user"}, {"id", user}, {"version", version}, {"attributes", attributes}}},
                          {"assignment", {{"role", "User"}}}}}}
        .dump();
}

json person(const std::string& user, const std::string& title = "Engineer") {
    return {{"userPrincipalName", user + "@contoso.com"}, {"mailNickname", user}, {"givenName", user},
            {"surname", "Tester"}, {"displayName", user + " Tester"}, {"jobTitle", title}, {"accountEnabled", true}};
}

BridgeHarness::Options crm(const std::string& group) {
    BridgeHarness::Options options;
    options.app = "crm";
    options.group = group;
    options.partitions = 2;
    return options;
}

void fault(BridgeHarness& bridge, json rule) { bridge.admin(HttpMethod::Post, "/_admin/faults", {}, std::move(rule)); }

TEST(Retries, ThrottledAndFailingCallsAreRetriedUntilEveryAccountExists) {
    BridgeHarness bridge(crm("retry-basic"));
    fault(bridge, {{"status", 429}, {"count", 3}, {"match", "GET /Users"}, {"retryAfter", "1"}});
    fault(bridge, {{"status", 503}, {"count", 3}, {"match", "POST /Users"}});
    fault(bridge, {{"status", 502}, {"count", 1}, {"match", "POST /Users"}});
    auto worker = bridge.start_worker();
    for (int i = 0; i < 6; ++i) {
        const std::string user = "u" + std::to_string(i);
        bridge.send("crm/user/" + user, user_event("e" + std::to_string(i), "assigned", user, 1, person(user)));
    }
    const json progress = BridgeHarness::wait_finished(*worker, 6, 120s);
    EXPECT_EQ(progress["applied"], 6) << progress.dump();
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();
    EXPECT_GE(progress["parked"].get<int>(), 1) << progress.dump();
    EXPECT_EQ(bridge.users().size(), 6U) << "one account per user, none twice";

    auto log = bridge.reader().recent_log("crm", 100);
    ASSERT_TRUE(log.ok());
    int retried = 0;
    for (const auto& out : *log) {
        if (out.attempts > 1) {
            ++retried;
            EXPECT_EQ(out.trail.size(), static_cast<std::size_t>(out.attempts - 1)) << to_json(out).dump();
        }
    }
    EXPECT_GE(retried, 1) << "no outcome shows a retry";
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

TEST(Retries, LaterEventsOfAnObjectWaitBehindItsFailedCreate) {
    BridgeHarness bridge(crm("retry-order"));
    // The create fails twice: the update and the unassign must neither run before it nor be
    // skipped as "not assigned".
    fault(bridge, {{"status", 503}, {"count", 2}, {"match", "POST /Users"}});
    auto worker = bridge.start_worker();
    bridge.send("crm/user/ada", user_event("a1", "assigned", "ada", 1, person("ada")));
    bridge.send("crm/user/ada", user_event("a2", "updated", "ada", 2, person("ada", "Countess")));
    bridge.send("crm/user/ada", user_event("a3", "unassigned", "ada", 3, person("ada", "Countess")));
    const json progress = BridgeHarness::wait_finished(*worker, 3, 120s);
    // The create, retried with the update waiting behind it, is sent with the update's title:
    // the update then finds nothing to change.
    EXPECT_EQ(progress["applied"], 2) << progress.dump();
    EXPECT_EQ(progress["skipped"], 1) << progress.dump();
    // Parked four times: the create after each of its two failures, and the two events behind it.
    EXPECT_EQ(progress["parked"].get<int>(), 4) << progress.dump();

    const json account = bridge.user_named("ada@contoso.com");
    ASSERT_FALSE(account.is_null());
    EXPECT_EQ(account["title"], "Countess");
    EXPECT_EQ(account["active"], false);
    auto log = bridge.reader().recent_log("crm", 10);
    ASSERT_TRUE(log.ok());
    ASSERT_EQ(log->size(), 3U);
    // Newest first: the unassign, the update, the create, each once, in version order.
    EXPECT_EQ((*log)[0].version, 3);
    EXPECT_EQ((*log)[0].action, Action::Disable);
    EXPECT_EQ((*log)[1].version, 2);
    EXPECT_EQ((*log)[1].status, OutcomeStatus::Skipped);
    EXPECT_EQ((*log)[1].code, "no_change");
    EXPECT_EQ((*log)[2].version, 1);
    EXPECT_EQ((*log)[2].action, Action::Create);
    EXPECT_EQ((*log)[2].attempts, 3);
    EXPECT_NE((*log)[2].reason.find("attributes of version 2"), std::string::npos) << (*log)[2].reason;
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

TEST(Retries, AParkedRetryOutlivesItsWorkerAndTheNextWorkerAppliesIt) {
    auto options = crm("retry-kill");
    // Short SCIM timeouts make the retry lease short (4 x (connect + timeout) = 10 s), so the
    // next worker takes over a claim the killed one held.
    options.scim_extra = {{"connect_timeout_ms", 500}, {"timeout_ms", 2000}};
    options.retry["max_attempts"] = 1000;
    BridgeHarness bridge(options);
    fault(bridge, {{"status", 503}, {"count", 100000}, {"match", "POST /Users"}});
    auto first = bridge.start_worker();
    bridge.send("crm/user/bob", user_event("b1", "assigned", "bob", 1, person("bob")));
    BridgeHarness::wait_counter(*first, "retried", 2, 60s);
    ASSERT_FALSE(::testing::Test::HasFailure());
    first->signal(SIGKILL);
    ASSERT_TRUE(first->wait(30s).has_value());
    EXPECT_TRUE(bridge.user_named("bob@contoso.com").is_null());
    bridge.admin(HttpMethod::Delete, "/_admin/faults");

    // The event is in Redis, not only in Kafka: the new worker applies it whether or not the
    // killed one's offset was committed (a redelivery is recognised as already parked).
    auto second = bridge.start_worker();
    auto seen = bridge.reader().log_since("crm", "0-0", 10, 60s);
    ASSERT_TRUE(seen.ok()) << seen.error().message;
    ASSERT_EQ(seen->size(), 1U);
    EXPECT_EQ(seen->front().record.status, OutcomeStatus::Applied);
    EXPECT_EQ(seen->front().record.action, Action::Create);
    EXPECT_GE(seen->front().record.attempts, 3);
    EXPECT_FALSE(bridge.user_named("bob@contoso.com").is_null());
    EXPECT_EQ(bridge.users().size(), 1U);
    second->signal(SIGTERM);
    EXPECT_TRUE(second->wait(60s).has_value());
}

TEST(Retries, ExhaustedRetriesAreDeadLetteredWithTheirTrail) {
    auto options = crm("retry-exhausted");
    options.retry["max_attempts"] = 3;
    BridgeHarness bridge(options);
    fault(bridge, {{"status", 500}, {"count", 100}, {"match", "POST /Users"}, {"detail", "database on fire"}});
    auto worker = bridge.start_worker();
    bridge.send("crm/user/cy", user_event("c1", "assigned", "cy", 1, person("cy")));
    const json progress = BridgeHarness::wait_finished(*worker, 1, 120s);
    EXPECT_EQ(progress["dead_lettered"], 1) << progress.dump();
    auto index = bridge.reader().dead_letters("crm", 10);
    ASSERT_TRUE(index.ok());
    ASSERT_EQ(index->size(), 1U);
    const auto& out = index->front().record;
    EXPECT_EQ(out.code, "InternalServerError");
    EXPECT_EQ(out.error_class, "transient");
    EXPECT_EQ(out.attempts, 3);
    ASSERT_EQ(out.trail.size(), 3U);
    EXPECT_NE(out.trail[0].detail.find("database on fire"), std::string::npos) << out.trail[0].detail;
    EXPECT_NE(out.reason.find("gave up after 3 attempts"), std::string::npos) << out.reason;
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

}  // namespace
}  // namespace provbridge

namespace provbridge {
namespace {

TEST(Quarantine, ARotatedTokenQuarantinesTheAppAndTheFixedTokenLiftsItWithNothingLost) {
    BridgeHarness bridge(crm("quarantine"));
    auto worker = bridge.start_worker();
    bridge.send("crm/user/ann", user_event("q0", "assigned", "ann", 1, person("ann")));
    BridgeHarness::wait_finished(*worker, 1, 60s);
    ASSERT_EQ(bridge.users().size(), 1U);

    // The app's token is rotated behind the bridge's back: every call now gets 401.
    bridge.admin(HttpMethod::Put, "/_admin/token", {}, json{{"token", "rotated-" + bridge.token()}});
    bridge.send("crm/user/ann", user_event("q1", "updated", "ann", 2, person("ann", "Lead")));
    bridge.send("crm/user/ben", user_event("q2", "assigned", "ben", 1, person("ben")));
    bridge.send("crm/user/ben", user_event("q3", "updated", "ben", 2, person("ben", "Chief")));
    bridge.send("crm/user/ann", user_event("q4", "unassigned", "ann", 3, person("ann", "Lead")));
    BridgeHarness::wait_counter(*worker, "parked", 4, 60s);
    ASSERT_FALSE(::testing::Test::HasFailure());

    consumers::RedisConnection redis(test_support::redis_options_for_port(bridge.redis().port()));
    auto state = redis.call({"HGETALL", "pb:{crm}:quarantine"});
    ASSERT_TRUE(state.ok());
    std::map<std::string, std::string> fields;
    for (std::size_t i = 0; i + 1 < state->elements.size(); i += 2) fields[state->elements[i].str] = state->elements[i + 1].str;
    EXPECT_EQ(fields["code"], "Unauthorized");
    EXPECT_EQ(fields["reason"].find(bridge.token()), std::string::npos);
    const auto status = bridge.cli({"quarantine", "status", "--app", "crm", "--json"});
    EXPECT_EQ(status.exit_code, 0) << status.output;
    const json status_doc = json::parse(status.output.substr(status.output.find('{')), nullptr, false);
    ASSERT_TRUE(status_doc.is_object()) << status.output;
    EXPECT_EQ(status_doc["offset_gaps"], json::array()) << status.output;
    const json& report = status_doc["apps"];
    ASSERT_TRUE(report.is_array() && report.size() == 1) << status.output;
    EXPECT_EQ(report[0]["quarantined"], true);
    EXPECT_EQ(report[0]["code"], "Unauthorized");
    EXPECT_GE(report[0]["waiting_events"].get<int>(), 1) << status.output;
    // `provbridge status` is a probe: a quarantined app is red and the exit code says so.
    const auto probe = bridge.cli({"status", "--json"});
    EXPECT_EQ(probe.exit_code, 1) << probe.output;
    const json probe_doc = json::parse(probe.output.substr(probe.output.find('{')), nullptr, false);
    ASSERT_TRUE(probe_doc.is_object()) << probe.output;
    EXPECT_EQ(probe_doc["apps"][0]["state"], "quarantined") << probe.output;
    EXPECT_EQ(probe_doc["apps"][0]["quarantine"]["code"], "Unauthorized") << probe.output;
    EXPECT_GE(probe_doc["apps"][0]["parked"].get<int>(), 1) << probe.output;
    EXPECT_EQ(probe.output.find(bridge.token()), std::string::npos);

    bridge.admin(HttpMethod::Delete, "/_admin/token");  // the token is fixed
    const json progress = BridgeHarness::wait_finished(*worker, 5, 60s);
    // ben's create ran after the lift with its update waiting behind it: sent with the update's
    // title, which then changes nothing.
    EXPECT_EQ(progress["applied"], 4) << progress.dump();
    EXPECT_EQ(progress["skipped"], 1) << progress.dump();
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();
    auto lifted = redis.call({"EXISTS", "pb:{crm}:quarantine"});
    ASSERT_TRUE(lifted.ok());
    EXPECT_EQ(lifted->integer, 0);
    const auto cleared = bridge.cli({"quarantine", "clear", "--app", "crm"});
    EXPECT_EQ(cleared.exit_code, 1) << "nothing left to clear: " << cleared.output;

    const json ann = bridge.user_named("ann@contoso.com");
    const json ben = bridge.user_named("ben@contoso.com");
    ASSERT_FALSE(ann.is_null());
    ASSERT_FALSE(ben.is_null());
    EXPECT_EQ(ann["title"], "Lead");
    EXPECT_EQ(ann["active"], false);
    EXPECT_EQ(ben["title"], "Chief");
    EXPECT_EQ(bridge.users().size(), 2U);
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

}  // namespace
}  // namespace provbridge
