#include <gtest/gtest.h>

#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "provbridge/consumers/event_processor.hpp"

namespace provbridge::consumers {
namespace {

using nlohmann::json;
using test_support::FakeScimClient;

json ada_attributes() {
    return {{"userPrincipalName", "ada@contoso.com"}, {"mail", "ada@contoso.com"}, {"mailNickname", "ada"},
            {"givenName", "Ada"}, {"surname", "Lovelace"}, {"displayName", "Ada Lovelace"},
            {"jobTitle", "Engineer"}, {"accountEnabled", true}};
}

class EventProcessorTest : public ::testing::Test {
protected:
    EventProcessorTest() { configure(nullptr); }

    // Rebuilds the processor with the generic profile and these user mapping overrides.
    void configure(json user_mappings) {
        AppConfig app;
        app.id = "leapsome";
        app.hard_delete_after_days = hard_delete_after_days_;
        app.scim.base_url = "https://scim.example/scim/v2";
        if (!user_mappings.is_null()) app.mappings = ConfigFragment{{{"users", user_mappings}}, "test.json", "apps[0].mappings"};
        Config config;
        config.source = "test.json";
        config.apps.push_back(app);
        apps_ = build_app_runtimes(config);
        processor_ = std::make_unique<EventProcessor>(apps_, std::map<std::string, ScimClient*>{{"leapsome", &scim_}},
                                                      store_, dlq_, clock_, nullptr);
    }

    InboundRecord record(const std::string& type, std::int64_t version, json attributes = ada_attributes(),
                         std::string role = "User", std::string id = "") {
        json event = {{"specversion", "1.0"},
                      {"id", id.empty() ? "evt-" + std::to_string(++sequence_) : id},
                      {"source", "urn:directory:contoso"},
                      {"type", "provisioning.user." + type},
                      {"data",
                       {{"app", "leapsome"},
                        {"object", {{"type", "user"}, {"id", "u1"}, {"version", version}, {"attributes", attributes}}},
                        {"assignment", {{"role", role}}}}}};
        InboundRecord r;
        r.topic = "provisioning.events";
        r.partition = 2;
        r.offset = 100 + sequence_;
        r.key = "leapsome/user/u1";
        r.value = event.dump();
        return r;
    }

    // The record key of an event whose object the test changed: <app>/<type>/<id>.
    static void rekey(InboundRecord& r) {
        const auto doc = json::parse(r.value);
        const auto& data = doc["data"];
        r.key = data["app"].get<std::string>() + "/" + data["object"]["type"].get<std::string>() + "/" +
                data["object"]["id"].get<std::string>();
    }

    OutcomeRecord run(const InboundRecord& r) {
        auto result = processor_->process(r);
        EXPECT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
        return result.record.value_or(OutcomeRecord{});
    }

    // Provisions u1 through a create so that later tests start from a linked account.
    void provision_ada() {
        scim_.push(FakeScimClient::list());
        scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}, {"userName", "ada@contoso.com"}}));
        ASSERT_EQ(run(record("assigned", 1)).action, Action::Create);
        baseline_requests_ = scim_.requests().size();
    }

    std::vector<ScimRequest> new_requests() const {
        const auto all = scim_.requests();
        return {all.begin() + static_cast<long>(baseline_requests_), all.end()};
    }

    FakeScimClient scim_;
    test_support::FakeStateStore store_;
    test_support::FakeDeadLetterSink dlq_;
    test_support::FakeClock clock_;
    int hard_delete_after_days_ = 30;
    std::vector<AppRuntime> apps_;
    std::unique_ptr<EventProcessor> processor_;
    int sequence_ = 0;
    std::size_t baseline_requests_ = 0;
};

TEST_F(EventProcessorTest, AssignedUserIsMatchedThenCreated) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    const auto out = run(record("assigned", 1));
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    EXPECT_EQ(out.action, Action::Create);
    EXPECT_EQ(out.scim_id, "scim-1");
    EXPECT_EQ(out.http_status, 201);
    EXPECT_EQ(out.scim_requests, 2);

    const auto requests = scim_.requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[0].method, HttpMethod::Get);
    EXPECT_EQ(requests[0].query[0].second, R"(userName eq "ada@contoso.com")");
    EXPECT_EQ(requests[1].method, HttpMethod::Post);
    EXPECT_EQ(requests[1].path, "/Users");
    const json& body = *requests[1].body;
    EXPECT_EQ(body["userName"], "ada@contoso.com");
    EXPECT_EQ(body["active"], true);
    EXPECT_EQ(body["externalId"], "ada");

    const auto link = store_.link("leapsome", "u1");
    ASSERT_TRUE(link.has_value());
    EXPECT_EQ(link->scim_id, "scim-1");
    EXPECT_EQ(link->version, 1);
    EXPECT_EQ(link->status, LinkStatus::Active);
    EXPECT_EQ(link->applied["title"], "Engineer");
    ASSERT_EQ(store_.log.size(), 1U);
}

TEST_F(EventProcessorTest, UserNameWithQuoteAndBackslashIsEscapedInTheFilter) {
    auto attributes = ada_attributes();
    attributes["userPrincipalName"] = R"(o"brien\ops@contoso.com)";
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-9"}}));
    run(record("assigned", 1, attributes));
    EXPECT_EQ(scim_.requests()[0].query[0].second, R"(userName eq "o\"brien\\ops@contoso.com")");
}

TEST_F(EventProcessorTest, ExistingAccountIsLinkedAndOnlyDifferencesArePatched) {
    json existing = {{"id", "scim-7"}, {"userName", "ada@contoso.com"}, {"active", true},
                     {"displayName", "Ada Lovelace"}, {"title", "Intern"}, {"externalId", "ada"},
                     {"name", {{"givenName", "Ada"}, {"familyName", "Lovelace"}, {"formatted", "Ada Lovelace"}}},
                     {"emails", json::array({{{"type", "work"}, {"value", "ada@contoso.com"}}})}};
    scim_.push(FakeScimClient::list(json::array({existing})));
    scim_.push(FakeScimClient::json(200, existing));
    const auto out = run(record("assigned", 1));
    EXPECT_EQ(out.action, Action::Update);
    EXPECT_EQ(out.scim_id, "scim-7");
    const auto requests = scim_.requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[1].method, HttpMethod::Patch);
    EXPECT_EQ(requests[1].path, "/Users/scim-7");
    EXPECT_EQ((*requests[1].body)["Operations"],
              json::array({{{"op", "replace"}, {"path", "title"}, {"value", "Engineer"}}}));
    ASSERT_EQ(out.changes.size(), 1U);
    EXPECT_EQ(out.changes[0].old_value, "Intern");
}

TEST_F(EventProcessorTest, ExistingAccountWithTheSameValuesIsLinkedWithoutARequest) {
    json existing = {{"id", "scim-7"}, {"userName", "ada@contoso.com"}, {"active", true},
                     {"displayName", "Ada Lovelace"}, {"title", "Engineer"}, {"externalId", "ada"},
                     {"name", {{"givenName", "Ada"}, {"familyName", "Lovelace"}, {"formatted", "Ada Lovelace"}}},
                     {"emails", json::array({{{"type", "work"}, {"value", "ada@contoso.com"}}})}};
    scim_.push(FakeScimClient::list(json::array({existing})));
    const auto out = run(record("assigned", 1));
    EXPECT_EQ(out.action, Action::Link);
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    EXPECT_EQ(scim_.requests().size(), 1U);
    EXPECT_EQ(store_.link("leapsome", "u1")->scim_id, "scim-7");
}

TEST_F(EventProcessorTest, ConflictOnCreateLooksUpAndLinks) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(409, "userName already exists", "uniqueness"));
    scim_.push(FakeScimClient::list(json::array({{{"id", "scim-3"}, {"userName", "ADA@contoso.com"}}})));
    scim_.push(FakeScimClient::json(200, {{"id", "scim-3"}}));
    const auto out = run(record("assigned", 1));
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    EXPECT_EQ(out.scim_id, "scim-3");
    EXPECT_NE(out.reason.find("409"), std::string::npos);
    EXPECT_EQ(store_.link("leapsome", "u1")->scim_id, "scim-3");
    EXPECT_TRUE(dlq_.published.empty());
}

TEST_F(EventProcessorTest, SeveralMatchesAreDeadLettered) {
    scim_.push(FakeScimClient::list(json::array({{{"id", "a"}}, {{"id", "b"}}})));
    const auto out = run(record("assigned", 1));
    EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(out.code, "DuplicateTargetEntries");
    ASSERT_EQ(dlq_.published.size(), 1U);
    EXPECT_EQ(dlq_.published[0].reason.code, "DuplicateTargetEntries");
    EXPECT_EQ(store_.dead_letter_index.size(), 1U);
    EXPECT_FALSE(store_.link("leapsome", "u1").has_value());
}

TEST_F(EventProcessorTest, UpdateSendsAMinimalPatchFromTheStoredState) {
    provision_ada();
    auto attributes = ada_attributes();
    attributes["jobTitle"] = "Countess";
    scim_.push(FakeScimClient::json(200, {{"id", "scim-1"}}));
    const auto out = run(record("updated", 2, attributes));
    EXPECT_EQ(out.action, Action::Update);
    const auto requests = new_requests();
    ASSERT_EQ(requests.size(), 1U);  // no read of the target first
    EXPECT_EQ((*requests[0].body)["Operations"],
              json::array({{{"op", "replace"}, {"path", "title"}, {"value", "Countess"}}}));
    EXPECT_EQ(store_.link("leapsome", "u1")->applied["title"], "Countess");
    EXPECT_EQ(store_.link("leapsome", "u1")->version, 2);
}

TEST_F(EventProcessorTest, UpdateWithoutChangeSendsNothing) {
    provision_ada();
    const auto out = run(record("updated", 2));
    EXPECT_EQ(out.status, OutcomeStatus::Skipped);
    EXPECT_EQ(out.code, "no_change");
    EXPECT_TRUE(new_requests().empty());
    EXPECT_EQ(store_.link("leapsome", "u1")->version, 2);
}

TEST_F(EventProcessorTest, UnassignDisablesWithABooleanFalse) {
    provision_ada();
    scim_.push(FakeScimClient::json(200, {{"id", "scim-1"}}));
    const auto out = run(record("unassigned", 2));
    EXPECT_EQ(out.action, Action::Disable);
    const auto requests = new_requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].method, HttpMethod::Patch);
    const json& ops = (*requests[0].body)["Operations"];
    EXPECT_EQ(ops, json::array({{{"op", "replace"}, {"path", "active"}, {"value", false}}}));
    EXPECT_TRUE(ops[0]["value"].is_boolean());
    EXPECT_EQ(store_.link("leapsome", "u1")->status, LinkStatus::Disabled);

    // Re-assigning turns the account back on with a PATCH, not a new create.
    scim_.push(FakeScimClient::json(200, {{"id", "scim-1"}}));
    const auto again = run(record("assigned", 3));
    EXPECT_EQ(again.action, Action::Update);
    EXPECT_EQ((*new_requests().back().body)["Operations"],
              json::array({{{"op", "replace"}, {"path", "active"}, {"value", true}}}));
}

TEST_F(EventProcessorTest, DeleteIsIdempotent) {
    hard_delete_after_days_ = 0;  // deleted at once (the grace period has tests of its own)
    configure(nullptr);
    provision_ada();
    scim_.push(FakeScimClient::error(404, "not found"));  // already gone, e.g. after a crash
    const auto out = run(record("deleted", 2));
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    EXPECT_EQ(out.action, Action::Delete);
    ASSERT_EQ(new_requests().size(), 1U);
    EXPECT_EQ(new_requests()[0].method, HttpMethod::Delete);
    EXPECT_EQ(new_requests()[0].path, "/Users/scim-1");
    const auto link = store_.link("leapsome", "u1");
    EXPECT_EQ(link->status, LinkStatus::Deleted);
    EXPECT_TRUE(link->scim_id.empty());
}

TEST_F(EventProcessorTest, SameEventIdIsAppliedOnce) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    const auto first = record("assigned", 1, ada_attributes(), "User", "fixed-id");
    run(first);
    auto again = first;
    again.offset += 1000;  // re-produced: a new offset, the same event
    const auto result = processor_->process(again);
    EXPECT_EQ(result.status, ProcessResult::Status::Duplicate);
    EXPECT_EQ(scim_.requests().size(), 2U);
    EXPECT_EQ(store_.log.size(), 1U);
    EXPECT_EQ(store_.duplicates["leapsome"], 1);
}

TEST_F(EventProcessorTest, StaleVersionIsSkipped) {
    provision_ada();
    scim_.push(FakeScimClient::json(200, {}));
    auto attributes = ada_attributes();
    attributes["jobTitle"] = "v5";
    run(record("updated", 5, attributes));
    attributes["jobTitle"] = "v3";
    const auto out = run(record("updated", 3, attributes));
    EXPECT_EQ(out.code, "stale");
    EXPECT_EQ(store_.link("leapsome", "u1")->applied["title"], "v5");
}

TEST_F(EventProcessorTest, DefaultAccessIsNotProvisioned) {
    const auto out = run(record("assigned", 1, ada_attributes(), "Default Access"));
    EXPECT_EQ(out.status, OutcomeStatus::Skipped);
    EXPECT_EQ(out.code, "not_entitled");
    EXPECT_TRUE(scim_.requests().empty());
}

TEST_F(EventProcessorTest, AccountDeletedInTheTargetIsRecreated) {
    provision_ada();
    auto attributes = ada_attributes();
    attributes["jobTitle"] = "Countess";
    scim_.push(FakeScimClient::error(404, "no such user"));
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-2"}}));
    const auto out = run(record("updated", 2, attributes));
    EXPECT_EQ(out.action, Action::Create);
    EXPECT_EQ(out.scim_id, "scim-2");
    EXPECT_NE(out.reason.find("no longer existed"), std::string::npos);
    EXPECT_EQ(store_.link("leapsome", "u1")->scim_id, "scim-2");
}

TEST_F(EventProcessorTest, PermanentErrorIsDeadLetteredWithItsStatus) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(422, "title is too long"));
    const auto r = record("assigned", 1);
    const auto out = run(r);
    EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(out.code, "UnprocessableEntity");
    EXPECT_EQ(out.http_status, 422);
    EXPECT_EQ(out.error_class, "permanent");
    ASSERT_EQ(dlq_.published.size(), 1U);
    EXPECT_EQ(dlq_.published[0].record.value, r.value);  // original bytes
    EXPECT_EQ(dlq_.published[0].reason.attempts, 1);
}

TEST_F(EventProcessorTest, MalformedRecordIsDeadLetteredOnce) {
    InboundRecord bad;
    bad.topic = "provisioning.events";
    bad.partition = 0;
    bad.offset = 7;
    bad.value = "{\"specversion\":\"1.0\",";
    bad.headers = {{"trace", "abc"}};
    const auto out = run(bad);
    EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(out.code, "InvalidEvent");
    EXPECT_EQ(out.app, "_invalid");
    EXPECT_NE(out.reason.find("invalid JSON"), std::string::npos);
    ASSERT_EQ(dlq_.published.size(), 1U);
    EXPECT_EQ(dlq_.published[0].record.value, bad.value);
    EXPECT_EQ(dlq_.published[0].record.headers[0].value, "abc");
    EXPECT_EQ(dlq_.published[0].reason.stage, "parse");
    // Redelivered after a crash: recognised, not dead-lettered twice.
    EXPECT_EQ(processor_->process(bad).status, ProcessResult::Status::Duplicate);
    EXPECT_EQ(dlq_.published.size(), 1U);
}

TEST_F(EventProcessorTest, MalformedRecordNamingAnAppGoesToThatAppsLog) {
    InboundRecord bad = record("assigned", 1);
    auto doc = json::parse(bad.value);
    doc["data"]["object"].erase("version");
    bad.value = doc.dump();
    const auto out = run(bad);
    EXPECT_EQ(out.app, "leapsome");
    EXPECT_NE(out.reason.find("data.object.version"), std::string::npos);
}

TEST_F(EventProcessorTest, UnknownAppIsDeadLettered) {
    auto r = record("assigned", 1);
    auto doc = json::parse(r.value);
    doc["data"]["app"] = "salesforce";
    r.value = doc.dump();
    const auto out = run(r);
    EXPECT_EQ(out.code, "UnknownApp");
    EXPECT_NE(out.reason.find("salesforce"), std::string::npos);
    EXPECT_EQ(dlq_.published.size(), 1U);
}

TEST_F(EventProcessorTest, UnavailableStoreOrDeadLetterTopicIsFatal) {
    store_.down = true;
    EXPECT_EQ(processor_->process(record("assigned", 1)).status, ProcessResult::Status::Fatal);
    store_.down = false;
    dlq_.down = true;
    scim_.push(FakeScimClient::error(400, "bad"));
    scim_.push(FakeScimClient::error(400, "bad"));
    const auto result = processor_->process(record("assigned", 1));
    EXPECT_EQ(result.status, ProcessResult::Status::Fatal);
    EXPECT_NE(result.fatal_reason.find("dead-letter"), std::string::npos);
    EXPECT_TRUE(store_.log.empty());  // nothing recorded: the event will be redelivered
}

TEST_F(EventProcessorTest, AnAccountLinkedToAnotherSourceUserIsNotTakenOver) {
    provision_ada();  // u1 owns scim-1
    auto twin = record("assigned", 1, ada_attributes());
    auto doc = json::parse(twin.value);
    doc["data"]["object"]["id"] = "u2";
    twin.value = doc.dump();
    rekey(twin);
    scim_.push(FakeScimClient::list(json::array({{{"id", "scim-1"}, {"userName", "ada@contoso.com"}}})));
    const auto out = run(twin);
    EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(out.code, "DuplicateSourceEntries");
    EXPECT_NE(out.reason.find("already linked to source user u1"), std::string::npos) << out.reason;
    EXPECT_EQ(new_requests().size(), 1U);  // the filter query only: no PATCH of u1's account
}

TEST_F(EventProcessorTest, ManagerIsSentAsTheManagersIdInTheTarget) {
    // The manager first: u-boss gets scim-boss.
    auto boss = record("assigned", 1, {{"userPrincipalName", "boss@contoso.com"}});
    auto doc = json::parse(boss.value);
    doc["data"]["object"]["id"] = "u-boss";
    boss.value = doc.dump();
    rekey(boss);
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-boss"}}));
    run(boss);
    auto attributes = ada_attributes();
    attributes["manager"] = "u-boss";
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    run(record("assigned", 1, attributes));
    const ScimRequest post = scim_.requests().back();
    EXPECT_EQ((*post.body)["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"],
              json({{"value", "scim-boss"}}));

    // A manager with no account yet is left out, and the outcome says so.
    attributes["manager"] = "u-unknown";
    attributes["jobTitle"] = "Countess";
    scim_.push(FakeScimClient::json(200, {}));
    const auto out = run(record("updated", 2, attributes));
    EXPECT_NE(out.reason.find("u-unknown has no account in the app yet"), std::string::npos) << out.reason;
    const auto last = scim_.requests().back();
    EXPECT_EQ(last.method, HttpMethod::Patch);
    const json ops = (*last.body)["Operations"];
    EXPECT_NE(ops.dump().find("\"remove\""), std::string::npos) << "the stale manager must be removed: " << ops.dump();
}

TEST_F(EventProcessorTest, MatchingAttributesAreTriedInPrecedenceOrder) {
    configure(json::array({{{"target", "externalId"}, {"source", "mailNickname"}, {"match", 2}}}));
    scim_.push(FakeScimClient::list());  // nobody with this userName
    scim_.push(FakeScimClient::list(json::array({{{"id", "scim-ext"}, {"userName", "old@contoso.com"},
                                                   {"externalId", "ada"}}})));
    scim_.push(FakeScimClient::json(200, {{"id", "scim-ext"}}));
    const auto out = run(record("assigned", 1));
    EXPECT_EQ(out.scim_id, "scim-ext");
    EXPECT_NE(out.reason.find("matched an existing account by externalId"), std::string::npos) << out.reason;
    const auto requests = scim_.requests();
    ASSERT_EQ(requests.size(), 3U);
    EXPECT_EQ(requests[0].query[0].second, R"(userName eq "ada@contoso.com")");
    EXPECT_EQ(requests[1].query[0].second, R"(externalId eq "ada")");
    EXPECT_EQ(requests[2].method, HttpMethod::Patch);  // no POST: the second attribute found it
}

TEST_F(EventProcessorTest, SelectUniqueValueAsksTheTargetForEachCandidate) {
    configure(json::array({{{"target", "userName"},
                            {"expression", R"(SelectUniqueValue(Join("@", [mailNickname], "contoso.com"), Join("@", Join(".", [mailNickname], "2"), "contoso.com")))"},
                            {"apply", "on_create"},
                            {"match", 1}}}));
    scim_.push(FakeScimClient::list(json::array({{{"id", "someone-else"}}})));  // ada@contoso.com is taken
    scim_.push(FakeScimClient::list());                                          // ada.2@contoso.com is free
    scim_.push(FakeScimClient::list());                                          // the match finds nothing
    scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    const auto out = run(record("assigned", 1));
    EXPECT_EQ(out.action, Action::Create) << to_json(out).dump();
    const auto requests = scim_.requests();
    ASSERT_EQ(requests.size(), 4U);
    EXPECT_EQ(requests[0].query[0].second, R"(userName eq "ada@contoso.com")");
    EXPECT_EQ(requests[1].query[0].second, R"(userName eq "ada.2@contoso.com")");
    EXPECT_EQ((*requests[3].body)["userName"], "ada.2@contoso.com");
}

TEST_F(EventProcessorTest, TimestampsAndDurationComeFromTheClock) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    auto r = record("assigned", 1);
    r.timestamp_ms = clock_.wall_ms() - 40;
    const auto out = run(r);
    EXPECT_EQ(out.produced_at_ms, r.timestamp_ms);
    EXPECT_EQ(out.started_at_ms, clock_.wall_ms());
    EXPECT_EQ(out.answered_at_ms, clock_.wall_ms());
    EXPECT_EQ(out.duration_ms, 0);
}

}  // namespace
}  // namespace provbridge::consumers
