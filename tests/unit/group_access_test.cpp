// Assignment through groups, through the processor: a member of an assigned group is provisioned
// once both its membership and its snapshot are known, in any order; it leaves the app with its
// last way in (its own assignment or an assigned group); Default Access groups grant nothing; an
// app with scope "all" provisions every user; and a group change that lands while a user's event
// is being decided is not lost.
#include <set>

#include <gtest/gtest.h>

#include "fake_quarantine.hpp"
#include "fake_random.hpp"
#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "processor_setup.hpp"
#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/consumers/follow_up.hpp"
#include "provbridge/consumers/parked_source.hpp"
#include "provbridge/consumers/quarantine_gate.hpp"

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test_support::FakeScimClient;

class GroupAccessTest : public ::testing::Test {
protected:
    GroupAccessTest() {
        configure([](AppConfig&) {});
        // A target that has nothing until it is sent something: users get t-<externalId or
        // userName>, groups grp-<displayName>.
        scim_.set_handler([this](const ScimRequest& request) {
            if (request.method == HttpMethod::Get) return FakeScimClient::list();
            if (request.method == HttpMethod::Post) {
                const auto& body = *request.body;
                const bool group = request.path == "/Groups";
                const std::string id = group ? "grp-" + body.value("displayName", std::string())
                                             : "t-" + body.value("userName", std::string());
                created_.insert(id);
                return FakeScimClient::json(201, {{"id", id}});
            }
            return FakeScimClient::http(204);
        });
    }

    template <typename Edit>
    void configure(Edit edit, const std::string& profile = "generic") {
        auto app = test_support::test_app("crm", profile);
        edit(app);
        apps_ = test_support::runtimes_of(app);
        auto options = test_support::retry_options(random_, 8000ms, 3, 1h);
        options.membership = &store_;
        options.quarantine = &gate_;
        options.operations = &windows_;
        processor_ = std::make_unique<EventProcessor>(apps_, std::map<std::string, ScimClient*>{{"crm", &scim_}}, store_,
                                                      dlq_, clock_, nullptr, options);
    }

    InboundRecord event(const std::string& type, const std::string& object_type, const std::string& id,
                        std::int64_t version, json extra = json::object()) {
        ++sequence_;
        json attributes = object_type == "user"
                              ? json{{"userPrincipalName", id + "@contoso.com"}, {"mailNickname", id},
                                     {"givenName", "Name" + std::to_string(version)}, {"accountEnabled", true}}
                              : json{{"displayName", id}};
        json data = {{"app", "crm"},
                     {"object", {{"type", object_type}, {"id", id}, {"version", version}, {"attributes", attributes}}}};
        data.update(extra);
        json doc = {{"specversion", "1.0"}, {"id", "e-" + std::to_string(sequence_)}, {"source", "urn:test"},
                    {"type", "provisioning." + object_type + "." + type}, {"data", data}};
        InboundRecord r;
        r.topic = "events";
        r.offset = sequence_;
        r.key = "crm/" + object_type + "/" + id;
        r.value = doc.dump();
        return r;
    }
    InboundRecord user(const std::string& type, const std::string& id, std::int64_t version,
                       const std::string& role = "User") {
        return event(type, "user", id, version,
                     type == "assigned" ? json{{"assignment", {{"role", role}}}} : json::object());
    }
    InboundRecord group(const std::string& type, const std::string& id, std::int64_t version,
                        const std::string& role = "User") {
        return event(type, "group", id, version,
                     type == "assigned" ? json{{"assignment", {{"role", role}}}} : json::object());
    }
    InboundRecord members(const std::string& change, const std::string& id, std::int64_t version,
                          const std::vector<std::string>& users) {
        return event("members." + change, "group", id, version, json{{"members", users}});
    }

    // One record as the worker runs it: at once, or parked behind its object's queue and run
    // from there by the retry loop (which runs the follow-ups before it too).
    OutcomeRecord run(const InboundRecord& r) {
        auto result = processor_->process(r);
        if (result.status == ProcessResult::Status::Parked) {
            run_heads();
            const auto id = json::parse(r.value)["id"].get<std::string>();
            EXPECT_TRUE(by_event_.contains(id)) << id << " did not run from its queue";
            return by_event_[id];
        }
        EXPECT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
        return result.record.value_or(OutcomeRecord{});
    }

    // Runs every due head (follow-ups) until none is left; the outcomes by object id.
    std::map<std::string, std::vector<OutcomeRecord>> run_heads() {
        std::map<std::string, std::vector<OutcomeRecord>> out;
        for (const auto& [head, result] : test_support::run_due_heads(*processor_, store_, clock_, "crm")) {
            EXPECT_EQ(result.status, ProcessResult::Status::Recorded) << head.event.event_id;
            out[head.lease.object_id].push_back(result.record.value_or(OutcomeRecord{}));
            by_event_[head.event.event_id] = result.record.value_or(OutcomeRecord{});
        }
        return out;
    }

    std::optional<LinkState> user_link(const std::string& id) const {
        const auto found = store_.links.find(KeyScheme("pb").link("crm", ObjectType::User, id));
        return found == store_.links.end() ? std::nullopt : std::optional<LinkState>(found->second);
    }

    // The requests sent for one user's account, as "METHOD path".
    std::vector<std::string> user_requests(const std::string& id) const {
        std::vector<std::string> out;
        for (const auto& r : scim_.requests()) {
            const bool about = r.path == "/Users/t-" + id + "@contoso.com" ||
                               (r.path == "/Users" && r.body && r.body->value("userName", "") == id + "@contoso.com");
            if (about) out.push_back(std::string(to_string(r.method)) + " " + r.path);
        }
        return out;
    }

    bool disabled_in_target(const std::string& id) const {
        for (const auto& r : scim_.requests()) {
            if (r.method == HttpMethod::Patch && r.path == "/Users/t-" + id + "@contoso.com" &&
                r.body->dump().find(R"("value":false)") != std::string::npos) {
                return true;
            }
        }
        return false;
    }

    // What the worker's retry loop does before it claims: turns the reference deadlines that
    // passed into reference checks in their objects' queues. The checks' outcomes by object id.
    std::map<std::string, std::vector<OutcomeRecord>> sweep() {
        StoreParkedSource parked(store_, {"crm"}, 60s, clock_, "w1");
        parked.set_reference_deadlines(store_);
        EXPECT_TRUE(parked.claim(0, {}).ok());
        return run_heads();
    }

    std::int64_t failures_counted() {
        std::int64_t failed = 0;
        for (const auto& op : windows_.operations["crm"]) failed += op.failed ? 1 : 0;
        return failed;
    }

    InboundRecord report_of(const std::string& id, const std::string& manager, std::int64_t version,
                            const std::string& type = "assigned") {
        auto r = user(type, id, version);
        auto doc = json::parse(r.value);
        doc["data"]["object"]["attributes"]["manager"] = manager;
        r.value = doc.dump();
        return r;
    }

    FakeScimClient scim_;
    test_support::FakeStateStore store_;
    test_support::FakeDeadLetterSink dlq_;
    test_support::FakeClock clock_;
    test_support::FakeRandom random_ = test_support::FakeRandom::always_bound();
    test_support::FakeQuarantineStore quarantine_store_;
    test_support::FakeQuarantineStore windows_;
    QuarantineGate gate_{quarantine_store_, QuarantineConfig{}, clock_, nullptr};
    std::vector<AppRuntime> apps_;
    std::unique_ptr<EventProcessor> processor_;
    std::set<std::string> created_;
    std::map<std::string, OutcomeRecord> by_event_;
    int sequence_ = 0;
};

TEST_F(GroupAccessTest, SnapshotFirstThenTheGroupAndItsMembers) {
    const auto early = run(user("updated", "ada", 1));
    EXPECT_EQ(early.code, "not_assigned");
    EXPECT_TRUE(scim_.requests().empty());
    ASSERT_TRUE(user_link("ada"));
    EXPECT_TRUE(user_link("ada")->snapshot.is_object()) << "the snapshot is kept for later";
    EXPECT_FALSE(user_link("ada")->assigned_role);

    run(group("assigned", "eng", 1));
    run_heads();
    run(members("added", "eng", 2, {"ada"}));
    const auto ran = run_heads();
    ASSERT_EQ(ran.at("ada").size(), 1U);
    EXPECT_EQ(ran.at("ada")[0].action, Action::Create) << ran.at("ada")[0].reason;
    EXPECT_EQ(ran.at("ada")[0].event_type, "provisioning.user.reevaluate");
    EXPECT_TRUE(created_.contains("t-ada@contoso.com"));
    // The POST carries the snapshot the user.updated brought.
    for (const auto& r : scim_.requests()) {
        if (r.method == HttpMethod::Post && r.path == "/Users") {
            EXPECT_EQ((*r.body)["name"]["givenName"], "Name1");
        }
    }
    // And the group's members follow-up sends the new member to the group in the target.
    EXPECT_EQ((store_.applied_members[{"crm", "eng"}].at("ada")), "t-ada@contoso.com");
}

TEST_F(GroupAccessTest, MembershipFirstThenTheSnapshot) {
    run(group("assigned", "eng", 1));
    run_heads();
    run(members("added", "eng", 2, {"ada"}));
    const auto waiting = run_heads();
    ASSERT_EQ(waiting.at("ada").size(), 1U);
    EXPECT_EQ(waiting.at("ada")[0].code, "awaiting_snapshot") << "deferred, not dropped";
    EXPECT_FALSE(created_.contains("t-ada@contoso.com"));

    const auto update = run(user("updated", "ada", 1));
    EXPECT_EQ(update.action, Action::Create) << update.reason;
    EXPECT_TRUE(created_.contains("t-ada@contoso.com"));
}

TEST_F(GroupAccessTest, MembersOfAGroupAssignedLaterAreProvisionedThen) {
    run(members("added", "eng", 1, {"ada", "bob"}));
    EXPECT_TRUE(store_.queue("crm", ObjectType::User, "ada").empty()) << "an unassigned group grants nothing";
    run(user("updated", "ada", 1));
    run(user("updated", "bob", 1));
    EXPECT_TRUE(created_.empty());
    run(group("assigned", "eng", 2));
    const auto ran = run_heads();
    EXPECT_EQ(ran.at("ada").at(0).action, Action::Create);
    EXPECT_EQ(ran.at("bob").at(0).action, Action::Create);
}

TEST_F(GroupAccessTest, RemovedFromTheLastAssignedGroupTheUserIsDisabled) {
    run(user("updated", "ada", 1));
    run(group("assigned", "eng", 1));
    run(group("assigned", "ops", 1));
    run(members("added", "eng", 2, {"ada"}));
    run(members("added", "ops", 2, {"ada"}));
    run_heads();
    ASSERT_TRUE(created_.contains("t-ada@contoso.com"));

    run(members("removed", "eng", 3, {"ada"}));
    auto ran = run_heads();
    EXPECT_EQ(ran.at("ada").at(0).action, Action::None) << "still in ops";
    EXPECT_FALSE(disabled_in_target("ada"));

    run(members("removed", "ops", 3, {"ada"}));
    ran = run_heads();
    EXPECT_EQ(ran.at("ada").at(0).action, Action::Disable) << ran.at("ada").at(0).reason;
    EXPECT_TRUE(disabled_in_target("ada"));
    EXPECT_EQ(user_link("ada")->status, LinkStatus::Disabled);
    // An update of a user in no assigned group is recorded, not sent.
    const auto later = run(user("updated", "ada", 2));
    EXPECT_EQ(later.code, "not_assigned");
}

TEST_F(GroupAccessTest, AGroupUnassignedTakesItsMembersOutWhereTheAppDeletes) {
    configure([](AppConfig& app) { app.unassign_action = UnassignAction::Delete; });
    run(user("updated", "ada", 1));
    run(group("assigned", "eng", 1));
    run(members("added", "eng", 2, {"ada"}));
    run_heads();
    ASSERT_TRUE(created_.contains("t-ada@contoso.com"));
    run(group("unassigned", "eng", 3));
    const auto ran = run_heads();
    EXPECT_EQ(ran.at("ada").at(0).action, Action::Delete) << ran.at("ada").at(0).reason;
    EXPECT_EQ(user_link("ada")->status, LinkStatus::Deleted);
}

TEST_F(GroupAccessTest, AssignedDirectlyAndThroughAGroupTheUserStaysUntilBothAreGone) {
    run(user("assigned", "ada", 1));
    run(group("assigned", "eng", 1));
    run_heads();
    run(members("added", "eng", 2, {"ada"}));
    EXPECT_EQ(run_heads().at("ada").at(0).code, "no_change");

    const auto unassigned = run(user("unassigned", "ada", 2));
    EXPECT_EQ(unassigned.code, "still_assigned");
    EXPECT_NE(unassigned.reason.find("group eng"), std::string::npos) << unassigned.reason;
    EXPECT_FALSE(disabled_in_target("ada"));
    EXPECT_FALSE(user_link("ada")->assigned_role) << "the direct assignment is gone";

    run(members("removed", "eng", 3, {"ada"}));
    EXPECT_EQ(run_heads().at("ada").at(0).action, Action::Disable);
    EXPECT_TRUE(disabled_in_target("ada"));
}

TEST_F(GroupAccessTest, AGroupLeavingDoesNotTouchADirectlyAssignedUser) {
    run(user("assigned", "ada", 1));
    run(group("assigned", "eng", 1));
    run(members("added", "eng", 2, {"ada"}));
    run_heads();
    run(group("unassigned", "eng", 3));
    EXPECT_EQ(run_heads().at("ada").at(0).code, "no_change");
    EXPECT_FALSE(disabled_in_target("ada"));
}

TEST_F(GroupAccessTest, ADefaultAccessGroupGrantsNothing) {
    run(user("updated", "ada", 1));
    run(group("assigned", "eng", 1, "Default Access"));
    run(members("added", "eng", 2, {"ada"}));
    const auto ran = run_heads();
    EXPECT_EQ(ran.at("ada").at(0).code, "not_assigned");
    EXPECT_FALSE(created_.contains("t-ada@contoso.com"));
    // The group's role changes: its members come in.
    run(group("assigned", "eng", 3, "User"));
    EXPECT_EQ(run_heads().at("ada").at(0).action, Action::Create);
}

TEST_F(GroupAccessTest, ScopeAllProvisionsEveryUserTheDirectorySends) {
    configure([](AppConfig& app) { app.scope = SyncScope::All; });
    const auto update = run(user("updated", "ada", 1));
    EXPECT_EQ(update.action, Action::Create) << update.reason;
    const auto unassigned = run(user("unassigned", "ada", 2));
    EXPECT_EQ(unassigned.code, "still_assigned");
    EXPECT_NE(unassigned.reason.find("scope all"), std::string::npos);
    EXPECT_FALSE(disabled_in_target("ada"));
}

TEST_F(GroupAccessTest, AnAppThatDoesNotProvisionGroupsStillTakesTheirMembers) {
    configure([](AppConfig&) {}, "elium");
    run(user("updated", "ada", 1));
    const auto assigned = run(group("assigned", "eng", 1));
    EXPECT_EQ(assigned.code, "not_supported_by_app");
    const auto added = run(members("added", "eng", 2, {"ada"}));
    EXPECT_EQ(added.code, "not_supported_by_app");
    EXPECT_EQ(run_heads().at("ada").at(0).action, Action::Create);
    for (const auto& r : scim_.requests()) EXPECT_NE(r.path.rfind("/Groups", 0), 0U) << r.path;
    // An older group event replayed later is stale: it does not assign the group again.
    run(group("unassigned", "eng", 3));
    EXPECT_EQ(run_heads().at("ada").at(0).action, Action::Disable);
    const auto replayed = run(group("assigned", "eng", 1));
    EXPECT_EQ(replayed.code, "not_supported_by_app");
    EXPECT_TRUE(store_.queue("crm", ObjectType::User, "ada").empty()) << "a stale assignment grants nothing";
}

TEST_F(GroupAccessTest, AGroupChangeThatLandsWhileAUsersEventDecidesIsNotLost) {
    run(group("assigned", "eng", 1));
    // Another worker records ada as a member of eng, and runs ada's reevaluation (no snapshot yet),
    // after this user.updated read ada's groups and before it commits.
    store_.before_commit = [this] {
        store_.before_commit = nullptr;
        (void)store_.change_members("crm", "eng", {"ada"}, {});
    };
    const auto update = run(user("updated", "ada", 1));
    EXPECT_EQ(update.code, "not_assigned");
    const auto queued = store_.queue("crm", ObjectType::User, "ada");
    ASSERT_EQ(queued.size(), 1U) << "the commit read ada's groups again and saw the change";
    EXPECT_EQ(queued[0].event_id.rfind("reevaluate:ada:", 0), 0U) << queued[0].event_id;
    EXPECT_EQ(run_heads().at("ada").at(0).action, Action::Create);
}

TEST_F(GroupAccessTest, AStoreThatCannotTellTheUsersGroupsIsARetryNotAnAnswer) {
    run(user("updated", "ada", 1));
    run(group("assigned", "eng", 1));
    run_heads();
    run(members("added", "eng", 2, {"ada"}));
    store_.fail_grants = true;
    auto heads = store_.claim_due("crm", clock_.wall_ms(), 60s, 100, "w1");
    ASSERT_TRUE(heads.ok());
    ASSERT_EQ(heads->size(), 1U);
    EXPECT_EQ(heads->front().lease.object_id, "ada");
    const auto result = processor_->process_parked(heads->front());
    EXPECT_EQ(result.status, ProcessResult::Status::Parked) << "retried: never taken as 'in no group'";
    EXPECT_FALSE(created_.contains("t-ada@contoso.com"));
    store_.fail_grants = false;
    clock_.advance(10s);
    EXPECT_EQ(run_heads().at("ada").at(0).action, Action::Create);
}

TEST_F(GroupAccessTest, ARedeliveredGroupAssignmentParksNothingTwice) {
    run(user("updated", "ada", 1));
    const auto assignment = group("assigned", "eng", 1);
    run(members("added", "eng", 1, {"ada"}));
    run(assignment);
    EXPECT_EQ(store_.queue("crm", ObjectType::User, "ada").size(), 1U);
    EXPECT_EQ(processor_->process(assignment).status, ProcessResult::Status::Duplicate);
    EXPECT_EQ(store_.queue("crm", ObjectType::User, "ada").size(), 1U);
    EXPECT_EQ(run_heads().at("ada").size(), 1U);
    EXPECT_EQ(user_requests("ada"), std::vector<std::string>{"POST /Users"}) << "created once";
}

// References in any order: a report provisioned before its manager gets the manager once the
// manager has an account, with no replay.
TEST_F(GroupAccessTest, AReportProvisionedBeforeItsManagerGetsTheManagerWhenTheManagerArrives) {
    constexpr const char* kEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    auto report = user("assigned", "ada", 1);
    auto doc = json::parse(report.value);
    doc["data"]["object"]["attributes"]["manager"] = "boss";
    report.value = doc.dump();
    const auto created = run(report);
    EXPECT_EQ(created.action, Action::Create);
    EXPECT_NE(created.reason.find("boss"), std::string::npos) << "the outcome says what is missing: " << created.reason;
    EXPECT_EQ((store_.pending_refs[{"crm", "boss"}].count("ada")), 1U) << "recorded as pending, not dropped";

    const auto manager = run(user("assigned", "boss", 1));
    EXPECT_EQ(manager.action, Action::Create);
    const auto queued = store_.queue("crm", ObjectType::User, "ada");
    ASSERT_EQ(queued.size(), 1U);
    EXPECT_EQ(queued[0].event_id.rfind("reference:ada:", 0), 0U) << queued[0].event_id;
    EXPECT_TRUE((store_.pending_refs[{"crm", "boss"}].empty()));

    const auto ran = run_heads();
    EXPECT_EQ(ran.at("ada").at(0).action, Action::Update) << ran.at("ada").at(0).reason;
    const auto last = scim_.requests().back();
    EXPECT_EQ(last.method, HttpMethod::Patch);
    EXPECT_EQ(last.path, "/Users/t-ada@contoso.com");
    const auto ops = (*last.body)["Operations"].dump();
    EXPECT_NE(ops.find(std::string(kEnterprise) + ":manager"), std::string::npos) << ops;
    EXPECT_NE(ops.find(R"({"value":"t-boss@contoso.com"})"), std::string::npos) << ops;
    // The report's next update, the same attributes, has nothing left to send.
    auto again = user("updated", "ada", 2);
    auto again_doc = json::parse(again.value);
    again_doc["data"]["object"]["attributes"]["manager"] = "boss";
    again_doc["data"]["object"]["attributes"]["givenName"] = "Name1";
    again.value = again_doc.dump();
    EXPECT_EQ(run(again).code, "no_change");
}

TEST_F(GroupAccessTest, AManagerStillMissingAfterTheTimeoutIsAReferenceFailureThatDoesNotCountForQuarantine) {
    configure([](AppConfig& app) { app.reference_timeout_seconds = 600; });
    const auto created = run(report_of("ada", "boss", 1));
    ASSERT_EQ(created.action, Action::Create);
    EXPECT_TRUE(sweep().empty()) << "nothing is due before the timeout";
    clock_.advance(599s);
    EXPECT_TRUE(sweep().empty());
    // An update meanwhile finds the same wait: the timeout runs from the first.
    run(report_of("ada", "boss", 2, "updated"));
    clock_.advance(2s);
    const auto checked = sweep();
    ASSERT_EQ(checked.at("ada").size(), 1U);
    const auto& check = checked.at("ada")[0];
    EXPECT_EQ(check.status, OutcomeStatus::Warning);
    EXPECT_EQ(check.code, "UnresolvedReference");
    EXPECT_EQ(check.error_class, "reference");
    EXPECT_EQ(check.source, kFollowUpSource);
    EXPECT_NE(check.reason.find("boss"), std::string::npos) << check.reason;
    EXPECT_NE(check.reason.find("600 s"), std::string::npos) << check.reason;
    EXPECT_EQ(failures_counted(), 0) << "a reference failure is not the app's";
    EXPECT_FALSE(gate_.held("crm"));
    // One reference failure per wait: the check does not arm the next one.
    clock_.advance(1h);
    EXPECT_TRUE(sweep().empty());
    // The reference still resolves by itself when the manager gets an account.
    EXPECT_EQ((store_.pending_refs[{"crm", "boss"}].count("ada")), 1U) << "still pending after the failure";
    run(user("assigned", "boss", 1));
    const auto healed = run_heads();
    EXPECT_EQ(healed.at("ada").at(0).action, Action::Update) << healed.at("ada").at(0).reason;
    EXPECT_NE(scim_.requests().back().body->dump().find(R"({"value":"t-boss@contoso.com"})"), std::string::npos);
}

TEST_F(GroupAccessTest, AReferenceResolvedBeforeItsCheckRunsIsNoFailure) {
    configure([](AppConfig& app) { app.reference_timeout_seconds = 60; });
    run(report_of("ada", "boss", 1));
    run(user("assigned", "boss", 1));
    run_heads();  // the report gets its manager
    clock_.advance(61s);
    const auto checked = sweep();
    ASSERT_EQ(checked.at("ada").size(), 1U);
    EXPECT_EQ(checked.at("ada")[0].status, OutcomeStatus::Skipped) << checked.at("ada")[0].reason;
    EXPECT_EQ(checked.at("ada")[0].code, "no_change");
}

TEST_F(GroupAccessTest, AMemberStillWithoutAnAccountAfterTheTimeoutIsAReferenceFailureOfTheGroup) {
    configure([](AppConfig& app) { app.reference_timeout_seconds = 60; });
    run(group("assigned", "eng", 1));
    run_heads();
    run(user("updated", "bob", 1));
    run(members("added", "eng", 2, {"ada", "bob"}));  // ada's attributes have not arrived
    run_heads();
    clock_.advance(61s);
    const auto checked = sweep();
    ASSERT_EQ(checked.at("eng").size(), 1U);
    const auto& check = checked.at("eng")[0];
    EXPECT_EQ(check.status, OutcomeStatus::Warning) << check.reason;
    EXPECT_EQ(check.code, "UnresolvedReference");
    EXPECT_NE(check.reason.find("1 member"), std::string::npos) << check.reason;
    EXPECT_NE(check.reason.find("ada"), std::string::npos) << check.reason;
    EXPECT_EQ(check.reason.find("bob"), std::string::npos) << "bob is in the group: " << check.reason;
    EXPECT_EQ(failures_counted(), 0);
    // ada's attributes arrive: provisioned, and the group's sync adds her.
    EXPECT_EQ(run(user("updated", "ada", 1)).action, Action::Create);
    const auto synced = run_heads();
    EXPECT_EQ(synced.at("eng").at(0).action, Action::Update) << synced.at("eng").at(0).reason;
    EXPECT_NE(scim_.requests().back().body->dump().find("t-ada@contoso.com"), std::string::npos);
}

TEST_F(GroupAccessTest, ADeadlineIsCheckedOnceEvenWhenTwoWorkersSweepIt) {
    configure([](AppConfig& app) { app.reference_timeout_seconds = 60; });
    run(report_of("ada", "boss", 1));
    clock_.advance(61s);
    // A worker that parked the check and died before dropping the deadline: the next sweep
    // parks the same check (same id), which is already waiting.
    auto due = store_.due_reference_deadlines("crm", clock_.wall_ms(), 10);
    ASSERT_TRUE(due.ok());
    ASSERT_EQ(due->size(), 1U);
    ASSERT_TRUE(store_.park(reference_check_event("crm", due->front(), clock_.wall_ms()), ParkMode::Anywhere,
                            clock_.wall_ms())
                    .ok());
    const auto checked = sweep();
    ASSERT_EQ(checked.at("ada").size(), 1U);
    EXPECT_EQ(checked.at("ada")[0].status, OutcomeStatus::Warning);
}

}  // namespace
}  // namespace provbridge::consumers
