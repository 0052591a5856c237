// Group lifecycle through the processor: matched by displayName without members, created,
// PATCHed minimally, deleted (or left alone where the app keeps its groups), and, where the app
// never creates groups (Genesys), a missing group waits for a retry that does not count against
// the app's health.
#include <set>

#include <gtest/gtest.h>

#include "fake_quarantine.hpp"
#include "fake_random.hpp"
#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "processor_setup.hpp"
#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/transforms/user_rules.hpp"

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test_support::FakeScimClient;

QuarantineConfig quarantine_policy() {
    QuarantineConfig q;
    q.failure_ratio = 0.4;
    q.min_operations = 50;
    return q;
}

class GroupTest : public ::testing::Test {
protected:
    GroupTest() { configure("generic"); }

    void configure(const std::string& profile, int hard_delete_after_days = 30) {
        auto app = test_support::test_app("crm", profile);
        app.hard_delete_after_days = hard_delete_after_days;
        apps_ = test_support::runtimes_of(app);
        auto options = test_support::retry_options(random_, 8000ms, 3, 1h);
        options.quarantine = &gate_;
        options.operations = &windows_;
        options.membership = &store_;
        processor_ = std::make_unique<EventProcessor>(apps_, std::map<std::string, ScimClient*>{{"crm", &scim_}}, store_,
                                                      dlq_, clock_, nullptr, options);
    }

    InboundRecord record(const std::string& type, std::int64_t version, const std::string& name = "Engineering",
                         const std::string& role = "User") {
        ++sequence_;
        json event = {{"specversion", "1.0"}, {"id", "g-" + std::to_string(sequence_)}, {"source", "urn:test"},
                      {"type", "provisioning.group." + type},
                      {"data", {{"app", "crm"},
                                {"object", {{"type", "group"}, {"id", "g1"}, {"version", version},
                                            {"attributes", {{"displayName", name}}}}},
                                {"assignment", {{"role", role}}}}}};
        InboundRecord r;
        r.topic = "events";
        r.offset = sequence_;
        r.key = "crm/group/g1";
        r.value = event.dump();
        return r;
    }

    InboundRecord members(const std::string& change, std::int64_t version, const std::vector<std::string>& users) {
        auto r = record("members." + change, version);
        auto doc = json::parse(r.value);
        doc["data"]["members"] = users;
        r.value = doc.dump();
        return r;
    }

    InboundRecord user(const std::string& id, std::int64_t version = 1) {
        ++sequence_;
        json event = {{"specversion", "1.0"}, {"id", "u-" + std::to_string(sequence_)}, {"source", "urn:test"},
                      {"type", "provisioning.user.assigned"},
                      {"data", {{"app", "crm"},
                                {"object", {{"type", "user"}, {"id", id}, {"version", version},
                                            {"attributes", {{"userPrincipalName", id + "@contoso.com"},
                                                            {"mailNickname", id}, {"accountEnabled", true}}}}},
                                {"assignment", {{"role", "User"}}}}}};
        InboundRecord r;
        r.topic = "events";
        r.offset = sequence_;
        r.key = "crm/user/" + id;
        r.value = event.dump();
        return r;
    }

    // Users already provisioned: links to t-<id>.
    void linked_users(const std::vector<std::string>& ids) {
        for (const auto& id : ids) {
            store_.links[KeyScheme("pb").link("crm", ObjectType::User, id)] = LinkState{"t-" + id, 1, LinkStatus::Active, {}, std::string(), nullptr};
        }
    }

    // Runs the due heads (follow-ups) until none is left; returns the outcomes by object id.
    std::map<std::string, std::vector<OutcomeRecord>> run_heads() {
        std::map<std::string, std::vector<OutcomeRecord>> out;
        for (const auto& [head, result] : test_support::run_due_heads(*processor_, store_, clock_, "crm")) {
            EXPECT_EQ(result.status, ProcessResult::Status::Recorded) << head.event.event_id << ": " << result.fatal_reason;
            out[head.lease.object_id].push_back(result.record.value_or(OutcomeRecord{}));
        }
        return out;
    }

    // Runs the due heads and returns the outcome of the group's one (a members follow-up).
    OutcomeRecord run_group_head() {
        auto ran = run_heads();
        if (ran["g1"].size() != 1) {
            ADD_FAILURE() << "expected one head of the group, ran " << ran["g1"].size();
            return {};
        }
        return ran["g1"].front();
    }

    std::set<std::string> applied() {
        std::set<std::string> out;
        for (const auto& [member, id] : store_.applied_members[{"crm", "g1"}]) out.insert(member + "=" + id);
        return out;
    }

    OutcomeRecord run(const InboundRecord& r) {
        auto result = processor_->process(r);
        EXPECT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
        return result.record.value_or(OutcomeRecord{});
    }

    std::optional<LinkState> link() const {
        const auto found = store_.links.find(KeyScheme("pb").link("crm", ObjectType::Group, "g1"));
        return found == store_.links.end() ? std::nullopt : std::optional<LinkState>(found->second);
    }

    // g1 created as group-1 in the target.
    void create_group() {
        scim_.push(FakeScimClient::list());
        scim_.push(FakeScimClient::json(201, {{"id", "group-1"}, {"displayName", "Engineering"}}));
        ASSERT_EQ(run(record("assigned", 1)).action, Action::Create);
        drain_follow_up();
        baseline_ = scim_.requests().size();
    }

    // A group that got an account parks a members follow-up in its own queue; with no members
    // recorded it sends nothing.
    void drain_follow_up() {
        ASSERT_EQ(store_.queue("crm", ObjectType::Group, "g1").size(), 1U);
        EXPECT_EQ(run_group_head().code, "no_change");
    }

    std::vector<ScimRequest> new_requests() const {
        const auto all = scim_.requests();
        return {all.begin() + static_cast<long>(baseline_), all.end()};
    }

    FakeScimClient scim_;
    test_support::FakeStateStore store_;
    test_support::FakeDeadLetterSink dlq_;
    test_support::FakeClock clock_;
    test_support::FakeRandom random_ = test_support::FakeRandom::always_bound();
    test_support::FakeQuarantineStore quarantine_store_;
    test_support::FakeQuarantineStore windows_;
    QuarantineGate gate_{quarantine_store_, quarantine_policy(), clock_, nullptr};
    std::vector<AppRuntime> apps_;
    std::unique_ptr<EventProcessor> processor_;
    int sequence_ = 0;
    std::size_t baseline_ = 0;
};

TEST_F(GroupTest, AnAssignedGroupIsMatchedByDisplayNameWithoutMembersThenCreated) {
    create_group();
    const auto requests = scim_.requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[0].method, HttpMethod::Get);
    EXPECT_EQ(requests[0].path, "/Groups");
    ASSERT_EQ(requests[0].query.size(), 2U);
    EXPECT_EQ(requests[0].query[0].second, R"(displayName eq "Engineering")");
    EXPECT_EQ(requests[0].query[1], (std::pair<std::string, std::string>{"excludedAttributes", "members"}));
    EXPECT_EQ(requests[1].method, HttpMethod::Post);
    EXPECT_EQ(requests[1].path, "/Groups");
    EXPECT_EQ((*requests[1].body)["displayName"], "Engineering");
    EXPECT_EQ((*requests[1].body)["externalId"], "g1");
    const auto l = link();
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(l->scim_id, "group-1");
    EXPECT_EQ(l->status, LinkStatus::Active);
}

TEST_F(GroupTest, AGroupThatExistsIsLinkedAndOnlyWhatDiffersIsPatched) {
    scim_.push(FakeScimClient::list(json::array({{{"id", "group-7"}, {"displayName", "Engineering"}}})));
    scim_.push(FakeScimClient::json(200, {{"id", "group-7"}}));
    const auto out = run(record("assigned", 1));
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    EXPECT_EQ(out.scim_id, "group-7");
    EXPECT_NE(out.reason.find("matched an existing group by displayName"), std::string::npos) << out.reason;
    const auto requests = scim_.requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[1].method, HttpMethod::Patch);
    EXPECT_EQ(requests[1].path, "/Groups/group-7");
    EXPECT_EQ(requests[1].body->dump().find("displayName"), std::string::npos) << "only externalId differed";
}

TEST_F(GroupTest, AnUpdateIsAMinimalPatchAndNoChangeSendsNothing) {
    create_group();
    scim_.push(FakeScimClient::json(200, {{"id", "group-1"}, {"displayName", "Engineering EU"}}));
    const auto renamed = run(record("updated", 2, "Engineering EU"));
    EXPECT_EQ(renamed.action, Action::Update);
    auto requests = new_requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].method, HttpMethod::Patch);
    EXPECT_EQ(requests[0].path, "/Groups/group-1");
    ASSERT_EQ(renamed.changes.size(), 1U);
    EXPECT_EQ(renamed.changes[0].path, "displayName");
    EXPECT_EQ(renamed.changes[0].new_value, "Engineering EU");

    baseline_ = scim_.requests().size();
    EXPECT_EQ(run(record("updated", 3, "Engineering EU")).code, "no_change");
    EXPECT_TRUE(new_requests().empty());
    EXPECT_EQ(run(record("updated", 1, "Old")).code, "stale");
}

TEST_F(GroupTest, AnUpdateOfAGroupThatIsNotAssignedIsRecordedNotSent) {
    const auto out = run(record("updated", 1));
    EXPECT_EQ(out.status, OutcomeStatus::Skipped);
    EXPECT_EQ(out.code, "not_assigned");
    EXPECT_TRUE(scim_.requests().empty());
}

TEST_F(GroupTest, UnassignedOrDeletedGroupsAreDeletedInTheTarget) {
    create_group();
    scim_.push(FakeScimClient::http(204, ""));
    const auto out = run(record("unassigned", 2));
    EXPECT_EQ(out.action, Action::Delete);
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    auto requests = new_requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].method, HttpMethod::Delete);
    EXPECT_EQ(requests[0].path, "/Groups/group-1");
    EXPECT_FALSE(transforms::has_target_account(link()));

    baseline_ = scim_.requests().size();
    const auto again = run(record("deleted", 3));
    EXPECT_EQ(again.code, "not_provisioned");
    EXPECT_TRUE(new_requests().empty());
}

TEST_F(GroupTest, DefaultAccessIsNotProvisionedForGroupsEither) {
    const auto out = run(record("assigned", 1, "Engineering", "Default Access"));
    EXPECT_EQ(out.code, "not_entitled");
    EXPECT_TRUE(scim_.requests().empty());
}

TEST_F(GroupTest, GenesysMatchesExistingGroupsAndNeverDeletesThem) {
    configure("genesys");
    scim_.push(FakeScimClient::list(json::array({{{"id", "gen-1"}, {"displayName", "Engineering"}}})));
    scim_.push(FakeScimClient::json(200, {{"id", "gen-1"}}));
    EXPECT_EQ(run(record("assigned", 1)).status, OutcomeStatus::Applied);
    drain_follow_up();
    baseline_ = scim_.requests().size();
    const auto out = run(record("deleted", 2));
    EXPECT_EQ(out.status, OutcomeStatus::Skipped);
    EXPECT_EQ(out.code, "delete_not_supported");
    EXPECT_NE(out.reason.find("gen-1 stays in the app"), std::string::npos) << out.reason;
    EXPECT_TRUE(new_requests().empty());
}

TEST_F(GroupTest, AMissingGenesysGroupWaitsForARetryThatDoesNotCountAgainstTheApp) {
    configure("genesys");
    scim_.push(FakeScimClient::list());
    auto result = processor_->process(record("assigned", 1));
    ASSERT_EQ(result.status, ProcessResult::Status::Parked);
    ASSERT_EQ(scim_.requests().size(), 1U) << "never a POST /Groups";
    const auto queue = store_.queue("crm", ObjectType::Group, "g1");
    ASSERT_EQ(queue.size(), 1U);
    ASSERT_EQ(queue[0].trail.size(), 1U);
    EXPECT_EQ(queue[0].trail[0].code, "GroupNotFoundInTarget");
    EXPECT_NE(queue[0].trail[0].detail.find("create the group in the app first, with the same name"),
              std::string::npos)
        << queue[0].trail[0].detail;
    EXPECT_TRUE(windows_.operations["crm"].empty()) << "a missing group says nothing about the app's health";
    EXPECT_FALSE(gate_.held("crm"));

    // The operator creates it; the retry finds and links it.
    clock_.advance(10s);
    auto heads = store_.claim_due("crm", clock_.wall_ms(), 60s, 10, "w1");
    ASSERT_TRUE(heads.ok());
    ASSERT_EQ(heads->size(), 1U);
    scim_.push(FakeScimClient::list(json::array({{{"id", "gen-9"}, {"displayName", "Engineering"}}})));
    scim_.push(FakeScimClient::json(200, {{"id", "gen-9"}}));
    const auto retried = processor_->process_parked(heads->front());
    ASSERT_EQ(retried.status, ProcessResult::Status::Recorded) << retried.fatal_reason;
    EXPECT_EQ(retried.record->status, OutcomeStatus::Applied);
    EXPECT_EQ(retried.record->scim_id, "gen-9");
    EXPECT_EQ(retried.record->attempts, 2);
}

TEST_F(GroupTest, AMissingGenesysGroupIsDeadLetteredWithItsReasonOnceTheRetriesRunOut) {
    configure("genesys");
    scim_.push(FakeScimClient::list());
    ASSERT_EQ(processor_->process(record("assigned", 1)).status, ProcessResult::Status::Parked);
    ProcessResult last;
    for (int attempt = 2; attempt <= 3; ++attempt) {
        clock_.advance(10s);
        auto heads = store_.claim_due("crm", clock_.wall_ms(), 60s, 10, "w1");
        ASSERT_TRUE(heads.ok());
        ASSERT_EQ(heads->size(), 1U);
        scim_.push(FakeScimClient::list());
        last = processor_->process_parked(heads->front());
    }
    ASSERT_EQ(last.status, ProcessResult::Status::Recorded);
    EXPECT_EQ(last.record->status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(last.record->code, "GroupNotFoundInTarget");
    EXPECT_EQ(last.record->error_class, "reference");
    EXPECT_EQ(dlq_.published.size(), 1U);
}

TEST_F(GroupTest, EliumSkipsGroupEvents) {
    configure("elium");
    const auto out = run(record("assigned", 1));
    EXPECT_EQ(out.code, "not_supported_by_app");
    EXPECT_TRUE(scim_.requests().empty());
}

std::vector<std::string> users(std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back("u" + std::to_string(i));
    return out;
}

TEST_F(GroupTest, MembersOfAProvisionedGroupArePatchedInBatchesOfAHundred) {
    create_group();
    linked_users(users(250));
    for (int i = 0; i < 3; ++i) scim_.push(FakeScimClient::http(204));
    const auto out = run(members("added", 2, users(250)));
    EXPECT_EQ(out.status, OutcomeStatus::Applied) << out.reason;
    EXPECT_EQ(out.action, Action::Update);
    EXPECT_EQ(out.reason, "added 250 members, removed 0");
    const auto requests = new_requests();
    ASSERT_EQ(requests.size(), 3U);
    std::set<std::string> sent;
    for (const auto& r : requests) {
        EXPECT_EQ(r.method, HttpMethod::Patch);
        EXPECT_EQ(r.path, "/Groups/group-1");
        const auto& ops = (*r.body)["Operations"];
        ASSERT_EQ(ops.size(), 1U);
        EXPECT_EQ(ops[0]["op"], "add");
        EXPECT_LE(ops[0]["value"].size(), 100U);
        for (const auto& v : ops[0]["value"]) sent.insert(v["value"].get<std::string>());
    }
    EXPECT_EQ(sent.size(), 250U);
    EXPECT_TRUE(sent.contains("t-u249"));
    EXPECT_EQ(applied().size(), 250U);

    // A delta that repeats what the group has sends nothing.
    baseline_ = scim_.requests().size();
    EXPECT_EQ(processor_->process(members("added", 3, {"u1"})).record->code, "no_change");
    EXPECT_TRUE(new_requests().empty());
}

TEST_F(GroupTest, RemovedMembersAreTakenOutByValueFilter) {
    create_group();
    linked_users({"u1", "u2"});
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(run(members("added", 2, {"u1", "u2"})).status, OutcomeStatus::Applied);
    baseline_ = scim_.requests().size();
    scim_.push(FakeScimClient::http(204));
    const auto out = run(members("removed", 3, {"u2"}));
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    const auto requests = new_requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ((*requests[0].body)["Operations"][0], json({{"op", "remove"}, {"path", R"(members[value eq "t-u2"])"}}));
    EXPECT_EQ(applied(), (std::set<std::string>{"u1=t-u1"}));
    // An older delta replayed after it is stale, never applied over the newer one.
    EXPECT_EQ(run(members("added", 2, {"u2"})).code, "stale");
}

TEST_F(GroupTest, AMemberWhoIsNotProvisionedYetIsSentOnceTheUserIs) {
    create_group();
    const auto waiting = run(members("added", 2, {"ada"}));
    EXPECT_EQ(waiting.code, "no_change");
    EXPECT_NE(waiting.reason.find("1 member not provisioned yet"), std::string::npos) << waiting.reason;
    EXPECT_TRUE(new_requests().empty());
    // The group is assigned: the new member's access is decided again, and waits for its snapshot.
    auto reevaluated = run_heads();
    ASSERT_EQ(reevaluated["ada"].size(), 1U);
    EXPECT_EQ(reevaluated["ada"][0].code, "awaiting_snapshot") << reevaluated["ada"][0].reason;

    // The user's create parks a follow-up in the group's queue, which sends the member.
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "t-ada"}}));
    ASSERT_EQ(run(user("ada")).action, Action::Create);
    const auto queued = store_.queue("crm", ObjectType::Group, "g1");
    ASSERT_EQ(queued.size(), 1U);
    EXPECT_EQ(queued[0].event_id.rfind("sync:g1:", 0), 0U) << queued[0].event_id;
    baseline_ = scim_.requests().size();
    scim_.push(FakeScimClient::http(204));
    const auto synced = run_group_head();
    EXPECT_EQ(synced.status, OutcomeStatus::Applied) << synced.reason;
    const auto requests = new_requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ((*requests[0].body)["Operations"][0]["value"], json::array({{{"value", "t-ada"}}}));
    EXPECT_EQ(applied(), (std::set<std::string>{"ada=t-ada"}));
    EXPECT_TRUE(store_.queue("crm", ObjectType::Group, "g1").empty());
}

TEST_F(GroupTest, MembersRecordedBeforeTheGroupExistsAreSentAfterItIsCreated) {
    linked_users({"u1", "u2"});
    const auto early = run(members("added", 1, {"u1", "u2"}));
    EXPECT_EQ(early.code, "group_not_provisioned");
    EXPECT_TRUE(scim_.requests().empty());
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "group-1"}}));
    ASSERT_EQ(run(record("assigned", 2)).action, Action::Create);
    baseline_ = scim_.requests().size();
    scim_.push(FakeScimClient::http(204));
    const auto synced = run_group_head();
    EXPECT_EQ(synced.status, OutcomeStatus::Applied) << synced.reason;
    EXPECT_EQ(new_requests().size(), 1U);
    EXPECT_EQ(applied(), (std::set<std::string>{"u1=t-u1", "u2=t-u2"}));
}

TEST_F(GroupTest, AFailedBatchIsRetriedAndOnlyWhatIsLeftIsSent) {
    create_group();
    linked_users(users(250));
    scim_.push(FakeScimClient::http(204));
    scim_.push(FakeScimClient::error(503, "busy"));
    ASSERT_EQ(processor_->process(members("added", 2, users(250))).status, ProcessResult::Status::Parked);
    EXPECT_EQ(applied().size(), 100U) << "the accepted batch is recorded";
    clock_.advance(10s);
    baseline_ = scim_.requests().size();
    scim_.push(FakeScimClient::http(204));
    scim_.push(FakeScimClient::http(204));
    const auto retried = run_group_head();
    EXPECT_EQ(retried.status, OutcomeStatus::Applied) << retried.reason;
    EXPECT_EQ(retried.reason, "added 150 members, removed 0");
    EXPECT_EQ(new_requests().size(), 2U);
    EXPECT_EQ(applied().size(), 250U);
}

TEST_F(GroupTest, AGroupDeletedAndCreatedAgainIsSentItsMembersAgain) {
    create_group();
    linked_users({"u1"});
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(run(members("added", 2, {"u1"})).status, OutcomeStatus::Applied);
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(run(record("unassigned", 3)).action, Action::Delete);
    EXPECT_TRUE(applied().empty()) << "what the deleted group had says nothing about a new one";

    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "group-2"}}));
    ASSERT_EQ(run(record("assigned", 4)).action, Action::Create);
    baseline_ = scim_.requests().size();
    scim_.push(FakeScimClient::http(204));
    EXPECT_EQ(run_group_head().status, OutcomeStatus::Applied);
    const auto requests = new_requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].path, "/Groups/group-2");
    EXPECT_EQ(applied(), (std::set<std::string>{"u1=t-u1"}));
}

TEST_F(GroupTest, AUserWhoseAccountIsGoneIsNoLongerCountedAsAMember) {
    configure("generic", /*hard_delete_after_days=*/0);  // the account goes at the deletion
    create_group();
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "t-ada"}}));
    ASSERT_EQ(run(user("ada")).action, Action::Create);
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(run(members("added", 2, {"ada"})).status, OutcomeStatus::Applied);
    ASSERT_EQ(applied(), (std::set<std::string>{"ada=t-ada"}));
    EXPECT_EQ(run_heads()["ada"].at(0).code, "no_change") << "assigned directly: the group changes nothing";
    // The user is deleted in the directory: the target drops the membership with the account.
    auto deleted = user("ada", 2);
    auto doc = json::parse(deleted.value);
    doc["type"] = "provisioning.user.deleted";
    deleted.value = doc.dump();
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(run(deleted).action, Action::Delete);
    EXPECT_TRUE(applied().empty());
    EXPECT_TRUE(store_.queue("crm", ObjectType::Group, "g1").empty()) << "no follow-up for an account that is gone";
}

}  // namespace
}  // namespace provbridge::consumers
