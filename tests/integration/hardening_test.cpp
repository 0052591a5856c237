// Hostile records and a target that echoes the token, against the real binary, the embedded
// broker, redis-server and the SCIMMY target.
#include <algorithm>
#include <csignal>
#include <string>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "broker_fixture.hpp"
#include "provbridge/consumers/kafka_consumer.hpp"
#include "provbridge/consumers/redis.hpp"
#include "redis_fixture.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kSource = "urn:directory:hostile";

std::string user_event(const std::string& event_id, const std::string& user, const json& attributes,
                       const std::string& app = "crm") {
    return json{{"specversion", "1.0"}, {"id", event_id}, {"source", kSource}, {"type", "provisioning.user.assigned"},
                {"data", {{"app", app},
                          {"object", {{"type", "user"}, {"id", user}, {"version", 1}, {"attributes", attributes}}},
                          {"assignment", {{"role", "User"}}}}}}
        .dump();
}

// Everything Redis holds, as text: strings, hashes, streams, sets and lists.
std::string all_redis_text(int port) {
    consumers::RedisConnection redis(test_support::redis_options_for_port(port));
    std::string text;
    const auto append = [&](const consumers::RedisValue& v, const auto& self) -> void {
        text += v.str + "\n";
        for (const auto& e : v.elements) self(e, self);
    };
    auto keys = redis.call({"KEYS", "*"});
    EXPECT_TRUE(keys.ok());
    if (!keys.ok()) return text;
    for (const auto& key : keys->elements) {
        text += key.str + "\n";
        auto type = redis.call({"TYPE", key.str});
        if (!type.ok()) continue;
        consumers::RedisArgv read;
        if (type->str == "string") read = {"GET", key.str};
        if (type->str == "hash") read = {"HGETALL", key.str};
        if (type->str == "stream") read = {"XRANGE", key.str, "-", "+"};
        if (type->str == "set") read = {"SMEMBERS", key.str};
        if (type->str == "zset") read = {"ZRANGE", key.str, "0", "-1", "WITHSCORES"};
        if (type->str == "list") read = {"LRANGE", key.str, "0", "-1"};
        if (read.empty()) continue;
        if (auto value = redis.call(read); value.ok()) append(*value, append);
    }
    return text;
}

std::vector<InboundRecord> dead_letters(test_support::BridgeHarness& bridge, std::size_t n) {
    test_support::RecordingListener listener;
    consumers::KafkaConsumer consumer(
        test_support::consumer_properties(bridge.broker().bootstrap_servers(), "hardening-dlq-" + std::to_string(n)),
        {test_support::BridgeHarness::kDeadLetterTopic}, listener, test_support::test_logger("dlq"));
    return test_support::consume(consumer, n, 60s);
}

std::string header(const InboundRecord& record, const std::string& name) {
    for (const auto& h : record.headers) {
        if (h.name == name) return h.value;
    }
    return {};
}

TEST(Hardening, PoisonRecordsAreDeadLetteredWithTheirReasonAndTheWorkerGoesOn) {
    test_support::BridgeHarness::Options options;
    options.app = "crm";
    options.group = "hardening";
    options.partitions = 1;  // every record below shares one partition: one poison must not block it
    test_support::BridgeHarness bridge(options);
    auto worker = bridge.start_worker();

    const std::string deep = std::string(100'000, '[') + "\"x\"" + std::string(100'000, ']');
    const std::string nested_record =
        user_event("deep", "p1", json::object()).replace(user_event("deep", "p1", json::object()).find("{}"), 2,
                                                         R"({"givenName":)" + deep + "}");
    bridge.send("crm/user/p1", nested_record);
    bridge.send("crm/user/p2", user_event("object", "p2", {{"userPrincipalName", {{"x", "y"}}}}));
    bridge.send("crm/user/p3", user_event("nul", "p3", {{"userPrincipalName", std::string("nul\0@x", 6)}}));
    bridge.send("crm/user/p4", user_event("bel", "p4", {{"userPrincipalName", "bel\a@x"}}));
    bridge.send("crm/user/zzz", user_event("other-object", "p6", {{"userPrincipalName", "p6@x"}}));
    bridge.send("hr/user/p7", user_event("other-app", "p7", {{"userPrincipalName", "p7@x"}}));
    bridge.send(std::nullopt, user_event("no-key", "p8", {{"userPrincipalName", "p8@x"}}));
    bridge.send("crm/user/good", user_event("good", "good", {{"userPrincipalName", "good@x"}}));

    const json progress = test_support::BridgeHarness::wait_finished(*worker, 8, 120s);
    EXPECT_EQ(progress["dead_lettered"], 7) << progress.dump();
    EXPECT_EQ(progress["applied"], 1) << progress.dump();

    const std::map<std::string, std::string> expected{{"object", "InvalidAttributeType"},
                                                      {"nul", "InvalidIdentifier"},   {"bel", "InvalidIdentifier"},
                                                      {"other-object", "KeyMismatch"}, {"other-app", "KeyMismatch"},
                                                      {"no-key", "KeyMismatch"}};
    for (const auto& [event_id, code] : expected) {
        auto outcome = bridge.reader().outcome("crm", kSource, event_id);
        ASSERT_TRUE(outcome.ok() && outcome->has_value()) << event_id;
        EXPECT_EQ((*outcome)->status, OutcomeStatus::DeadLettered) << event_id;
        EXPECT_EQ((*outcome)->code, code) << event_id << ": " << (*outcome)->reason;
    }
    // The deep record cannot be read at all, so it is recorded by its place in the topic, in the
    // log of the app its key names.
    auto log = bridge.reader().recent_log("crm", 20);
    ASSERT_TRUE(log.ok());
    const auto deep_outcome = std::find_if(log->begin(), log->end(), [](const OutcomeRecord& r) {
        return r.code == "InvalidEvent" && r.offset == 0;
    });
    ASSERT_NE(deep_outcome, log->end());
    EXPECT_NE(deep_outcome->reason.find("deeper than 32"), std::string::npos) << deep_outcome->reason;

    // Only the good record reached the target.
    const json users = bridge.users();
    ASSERT_EQ(users.size(), 1U) << users.dump();
    EXPECT_EQ(users[0]["userName"], "good@x");
    for (const auto& r : bridge.requests()) {
        EXPECT_EQ(r.dump().find("p6@x"), std::string::npos) << "a mis-keyed record was sent: " << r.dump();
    }

    // The dead letters carry the original bytes and the reason.
    const auto dead = dead_letters(bridge, 7);
    ASSERT_EQ(dead.size(), 7U);
    std::size_t deep_found = 0;
    for (const auto& rec : dead) {
        if (header(rec, "provbridge.error.code") == "InvalidEvent") {
            ++deep_found;
            EXPECT_EQ(rec.value, nested_record);
        }
    }
    EXPECT_EQ(deep_found, 1U);

    // Still running and healthy: a restart does not trip over anything either.
    worker->signal(SIGTERM);
    const auto status = worker->wait(30s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "the worker did not stop cleanly";
    auto again = bridge.start_worker();
    bridge.send("crm/user/after", user_event("after", "after", {{"userPrincipalName", "after@x"}}));
    const json later = test_support::BridgeHarness::wait_finished(*again, 1, 120s);
    EXPECT_EQ(later["applied"], 1) << later.dump();
    EXPECT_EQ(bridge.users().size(), 2U);
}

// One app, "crm", on one partition, for a consumer group of the test's own.
test_support::BridgeHarness::Options crm_on_one_partition(const std::string& group) {
    test_support::BridgeHarness::Options options;
    options.app = "crm";
    options.group = group;
    options.partitions = 1;
    return options;
}

TEST(Hardening, ATokenEchoedByTheTargetReachesNoLogRedisOrDeadLetter) {
    test_support::BridgeHarness bridge(crm_on_one_partition("echo"));
    // The target quotes the Authorization header back in a 400 and a 401.
    bridge.admin(HttpMethod::Post, "/_admin/faults", {},
                 json{{"status", 400}, {"count", 1}, {"match", "POST /Users"}, {"scimType", "invalidValue"},
                      {"detail", "rejected"}, {"echoAuthorization", true}});
    bridge.admin(HttpMethod::Post, "/_admin/faults", {},
                 json{{"status", 401}, {"count", 1}, {"match", "GET /Users"}, {"detail", "not you"},
                      {"echoAuthorization", true}});
    auto worker = bridge.start_worker(/*merge_stderr=*/true, "debug");
    std::string transcript;
    bridge.send("crm/user/e1", user_event("e1", "e1", {{"userPrincipalName", "e1@x"}}));
    test_support::BridgeHarness::wait_finished(*worker, 1, 60s, &transcript);
    bridge.send("crm/user/e2", user_event("e2", "e2", {{"userPrincipalName", "e2@x"}}));
    const json progress = test_support::BridgeHarness::wait_finished(*worker, 2, 60s, &transcript);
    // The 400 is permanent; the 401 parks the event, whose retry then succeeds.
    EXPECT_EQ(progress["dead_lettered"], 1) << progress.dump();
    EXPECT_EQ(progress["applied"], 1) << progress.dump();
    EXPECT_EQ(progress["parked"], 1) << progress.dump();

    const auto dead = dead_letters(bridge, 1);
    ASSERT_EQ(dead.size(), 1U);
    for (const auto& rec : dead) {
        for (const auto& h : rec.headers) EXPECT_EQ(h.value.find(bridge.token()), std::string::npos) << h.name;
        EXPECT_EQ(rec.value.find(bridge.token()), std::string::npos);
        EXPECT_NE(header(rec, "provbridge.error.reason").find("[redacted]"), std::string::npos)
            << header(rec, "provbridge.error.reason");
    }
    const std::string stored = all_redis_text(bridge.redis().port());
    // The echo did happen and its text was kept, with the token masked.
    EXPECT_NE(stored.find("received Authorization: Bearer [redacted]"), std::string::npos) << "no echo was stored";
    EXPECT_EQ(stored.find(bridge.token()), std::string::npos) << "the token is in Redis";

    worker->signal(SIGTERM);
    while (auto line = worker->read_line(30s)) transcript += *line + "\n";
    ASSERT_TRUE(worker->wait(30s).has_value());
    EXPECT_NE(transcript.find("dead-lettered"), std::string::npos) << "the worker's log was not captured";
    EXPECT_EQ(transcript.find(bridge.token()), std::string::npos) << "the token is in the worker's log";
}

// A compromised or broken target answers ids that are paths ("../../Groups/x") or carry a query:
// used as they are, the next PATCH or DELETE, with the app's token, would go to another resource.
// Such an id is refused as a permanent error naming the app and the request, and nothing is linked.
TEST(Hardening, AServerIdThatIsAPathIsRefusedAndNeverPutIntoAUrl) {
    test_support::BridgeHarness bridge(crm_on_one_partition("hostile-ids"));
    const json user_schema = {"urn:ietf:params:scim:schemas:core:2.0:User"};
    bridge.admin(HttpMethod::Post, "/_admin/faults", {},
                 json{{"status", 201}, {"count", 1}, {"match", "POST /Users"},
                      {"body", {{"schemas", user_schema}, {"id", "../../Groups/x"}, {"userName", "i1@x"}}}});
    auto worker = bridge.start_worker(/*merge_stderr=*/false, "warn");
    bridge.send("crm/user/i1", user_event("i1", "i1", {{"userPrincipalName", "i1@x"}}));
    const auto created = bridge.wait_outcome(kSource, "i1");
    EXPECT_EQ(created.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(created.code, "ServiceIncompatible");
    EXPECT_NE(created.reason.find("app crm: POST /Users answered the id of its new resource \"../../Groups/x\""),
              std::string::npos)
        << created.reason;
    EXPECT_TRUE(created.scim_id.empty()) << "nothing is linked";

    // A match whose id carries a query is refused the same way.
    bridge.admin(HttpMethod::Post, "/_admin/faults", {},
                 json{{"status", 200}, {"count", 1}, {"match", "GET /Users"},
                      {"body", {{"schemas", {"urn:ietf:params:scim:api:messages:2.0:ListResponse"}},
                                {"totalResults", 1}, {"itemsPerPage", 1}, {"startIndex", 1},
                                {"Resources", {{{"schemas", user_schema}, {"id", "u1?attributes=password"},
                                                {"userName", "i2@x"}}}}}}});
    bridge.send("crm/user/i2", user_event("i2", "i2", {{"userPrincipalName", "i2@x"}}));
    const auto matched = bridge.wait_outcome(kSource, "i2");
    EXPECT_EQ(matched.status, OutcomeStatus::DeadLettered);
    EXPECT_NE(matched.reason.find("contains '?'"), std::string::npos) << matched.reason;

    // The unassignment that follows finds no account to disable: no request is built from the id.
    auto unassign = json::parse(user_event("i1-off", "i1", {{"userPrincipalName", "i1@x"}}));
    unassign["type"] = "provisioning.user.unassigned";
    unassign["data"]["object"]["version"] = 2;
    bridge.send("crm/user/i1", unassign.dump());
    const auto unassigned = bridge.wait_outcome(kSource, "i1-off");
    EXPECT_EQ(unassigned.status, OutcomeStatus::Skipped) << unassigned.reason;

    // Nothing addressed a path built from either id.
    for (const auto& request : bridge.requests()) {
        const auto path = request.value("path", "");
        EXPECT_EQ(path.find(".."), std::string::npos) << path;
        EXPECT_EQ(path.find("/Groups"), std::string::npos) << path;
    }
    worker->signal(SIGTERM);
    ASSERT_TRUE(worker->wait(30s).has_value());
}

}  // namespace
}  // namespace provbridge
