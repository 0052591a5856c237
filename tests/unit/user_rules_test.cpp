#include <gtest/gtest.h>

#include "provbridge/transforms/user_rules.hpp"
#include "provbridge/transforms/scoping.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;
using Step = UserDecision::Step;

class UserRulesTest : public ::testing::Test {
protected:
    Event event(EventType type, std::int64_t version, std::optional<std::string> role = "User") {
        Event e;
        e.id = "e" + std::to_string(version);
        e.source = "urn:directory:contoso";
        e.type = type;
        e.app = "app";
        e.object_type = ObjectType::User;
        e.object_id = "u1";
        e.version = version;
        e.role = std::move(role);
        e.attributes = {{"userPrincipalName", "ada@contoso.com"}, {"displayName", "Ada"}, {"accountEnabled", true}};
        return e;
    }

    LinkState link(LinkStatus status, std::int64_t version = 5, std::string id = "scim-1") {
        LinkState l;
        l.scim_id = std::move(id);
        l.version = version;
        l.status = status;
        // As user.assigned records it: the user is assigned directly unless it was unassigned.
        if (status == LinkStatus::Active || status == LinkStatus::OutOfScope) l.assigned_role = "User";
        if (status == LinkStatus::NotEntitled) l.assigned_role = "Default Access";
        return l;
    }

    UserDecision decide(const Event& e, const std::optional<LinkState>& l) {
        return decide_user(e, l, rules_, users_);
    }

    AppRules rules_;
    ObjectProfile users_ = builtin_profile("generic").users;
};

TEST_F(UserRulesTest, AssignedWithoutLinkProvisionsAndMatchesOnUserName) {
    const auto d = decide(event(EventType::UserAssigned, 1), std::nullopt);
    ASSERT_EQ(d.step, Step::Provision);
    ASSERT_EQ(d.match_candidates.size(), 1U);
    EXPECT_EQ(d.match_candidates[0].mapping->target.to_string(), "userName");
    EXPECT_EQ(d.match_candidates[0].value, "ada@contoso.com");
    EXPECT_EQ(d.desired_create["active"], true);
}

TEST_F(UserRulesTest, AnOlderAssignmentIsDecidedWithTheNewestSnapshotTheBridgeHolds) {
    // The assignment (v1) failed; the directory then disabled the user (v2), kept as a snapshot
    // while the user was not assigned. Replayed, v1 counts as the assignment, with v2's attributes.
    LinkState kept;
    kept.snapshot = json{{"version", 2}, {"attributes", {{"userPrincipalName", "ada@contoso.com"},
                                                         {"displayName", "Ada v2"},
                                                         {"accountEnabled", false}}}};
    const auto replayed = event(EventType::UserAssigned, 1);
    std::optional<Event> storage;
    const auto& decided = with_latest_snapshot(replayed, kept, {}, users_, storage);
    ASSERT_TRUE(storage.has_value());
    EXPECT_EQ(decided.version, 1) << "still that event";
    EXPECT_EQ(decided.role, "User") << "the assignment still counts";
    EXPECT_EQ(decided.attributes["accountEnabled"], false);
    EXPECT_EQ(decided.attributes["displayName"], "Ada v2");
    const auto d = decide(decided, kept);
    ASSERT_EQ(d.step, Step::Provision);
    EXPECT_EQ(d.desired_create["active"], false) << d.desired_create.to_json().dump();

    // A newer update waiting behind a retried head beats an older snapshot.
    auto waiting = event(EventType::UserUpdated, 3);
    waiting.attributes["displayName"] = "Ada v3";
    const auto newest = newest_snapshot(kept, {waiting, event(EventType::UserUnassigned, 4)});
    ASSERT_TRUE(newest.has_value());
    EXPECT_EQ(newest->version, 3) << "only assigned and updated events carry attributes";
    EXPECT_EQ(newest->attributes["displayName"], "Ada v3");

    // An event as new as the newest snapshot, one that carries no attributes, and one older than
    // what was applied (stale, and skipped as such) are decided as they are.
    std::optional<Event> unused;
    const auto current = event(EventType::UserUpdated, 3);
    EXPECT_EQ(&with_latest_snapshot(current, kept, {waiting}, users_, unused), &current);
    auto unassigned = event(EventType::UserUnassigned, 1);
    EXPECT_EQ(&with_latest_snapshot(unassigned, kept, {waiting}, users_, unused), &unassigned);
    auto applied = link(LinkStatus::Active, 5);
    applied.snapshot = json{{"version", 5}, {"attributes", {{"displayName", "Ada v5"}}}};
    const auto late = event(EventType::UserUpdated, 4);
    EXPECT_EQ(&with_latest_snapshot(late, applied, {}, users_, unused), &late);
    EXPECT_EQ(decide(late, applied).code, "stale");
    EXPECT_FALSE(unused.has_value());

    // A waiting event its own turn will refuse (a userPrincipalName that is an object) offers
    // nothing: the head is decided with the newest usable attributes.
    auto broken = event(EventType::UserUpdated, 6);
    broken.attributes["userPrincipalName"] = json{{"nested", true}};
    std::int64_t from = 0;
    const auto& chosen = with_latest_snapshot(replayed, kept, {waiting, broken}, users_, storage, &from);
    EXPECT_EQ(from, 3);
    EXPECT_EQ(chosen.attributes["displayName"], "Ada v3");
    EXPECT_FALSE(newest_snapshot(std::nullopt, {}).has_value());

    // An update behind an unassignment is one the user's turn only keeps: a create retried while
    // the unassignment and that update wait behind it is sent as it was assigned, not with it.
    const auto retried = event(EventType::UserAssigned, 2);
    auto after_unassign = event(EventType::UserUpdated, 4);
    after_unassign.attributes["displayName"] = "Ada v4";
    std::optional<Event> none;
    EXPECT_EQ(&with_latest_snapshot(retried, std::nullopt, {event(EventType::UserUnassigned, 3), after_unassign},
                                    users_, none),
              &retried);
    EXPECT_FALSE(none.has_value());
    EXPECT_EQ(&with_latest_snapshot(retried, std::nullopt, {event(EventType::UserDeleted, 3), after_unassign}, users_,
                                    none),
              &retried);
    EXPECT_EQ(&with_latest_snapshot(retried, std::nullopt,
                                    {event(EventType::UserAssigned, 3, "Default Access"), after_unassign}, users_, none),
              &retried)
        << "an assignment with another role changes the access: the run ends there";
    EXPECT_FALSE(none.has_value());
    // The same assignment re-sent with new values continues the run.
    auto resent = event(EventType::UserAssigned, 3);
    resent.attributes["displayName"] = "Ada v3 again";
    EXPECT_EQ(with_latest_snapshot(retried, std::nullopt, {resent}, users_, none).attributes["displayName"],
              "Ada v3 again");
}

TEST_F(UserRulesTest, OlderVersionIsStale) {
    const auto d = decide(event(EventType::UserUpdated, 4), link(LinkStatus::Active, 5));
    EXPECT_EQ(d.step, Step::Skip);
    EXPECT_EQ(d.code, "stale");
    EXPECT_FALSE(d.link_on_skip.has_value());
    // Equal versions are not stale (a re-sent snapshot); it simply has no change to apply.
    EXPECT_EQ(decide(event(EventType::UserUpdated, 5), link(LinkStatus::Active, 5)).step, Step::Provision);
}

TEST_F(UserRulesTest, DefaultAccessIsNotEntitledWhileTheSwitchIsOn) {
    const auto d = decide(event(EventType::UserAssigned, 2, "Default Access"), std::nullopt);
    EXPECT_EQ(d.step, Step::Skip);
    EXPECT_EQ(d.code, "not_entitled");
    ASSERT_TRUE(d.link_on_skip.has_value());
    EXPECT_EQ(d.link_on_skip->status, LinkStatus::NotEntitled);
    EXPECT_EQ(d.link_on_skip->version, 2);

    rules_.skip_default_access = false;
    EXPECT_EQ(decide(event(EventType::UserAssigned, 2, "Default Access"), std::nullopt).step, Step::Provision);
}

TEST_F(UserRulesTest, RoleChangedToDefaultAccessDisablesAnActiveAccount) {
    const auto d = decide(event(EventType::UserAssigned, 7, "default access"), link(LinkStatus::Active));
    EXPECT_EQ(d.step, Step::Disable);
    EXPECT_EQ(d.code, "not_entitled");
}

TEST_F(UserRulesTest, UpdatesFlowOnlyToActiveAccounts) {
    EXPECT_EQ(decide(event(EventType::UserUpdated, 6), link(LinkStatus::Active)).step, Step::Provision);
    const auto unlinked = decide(event(EventType::UserUpdated, 6), std::nullopt);
    EXPECT_EQ(unlinked.step, Step::Skip);
    EXPECT_EQ(unlinked.code, "not_assigned");
    EXPECT_EQ(decide(event(EventType::UserUpdated, 6), link(LinkStatus::Disabled)).code, "not_assigned");
}

TEST_F(UserRulesTest, UnassignDisablesOrDeletesPerApp) {
    EXPECT_EQ(decide(event(EventType::UserUnassigned, 6), link(LinkStatus::Active)).step, Step::Disable);
    rules_.unassign_action = UnassignAction::Delete;
    EXPECT_EQ(decide(event(EventType::UserUnassigned, 6), link(LinkStatus::Active)).step, Step::Delete);
    EXPECT_EQ(decide(event(EventType::UserUnassigned, 6), link(LinkStatus::Disabled)).step, Step::Delete);
}

TEST_F(UserRulesTest, UnassignWithoutAccountIsSkipped) {
    const auto d = decide(event(EventType::UserUnassigned, 6), std::nullopt);
    EXPECT_EQ(d.step, Step::Skip);
    EXPECT_EQ(d.code, "not_provisioned");
    const auto again = decide(event(EventType::UserUnassigned, 6), link(LinkStatus::Disabled));
    EXPECT_EQ(again.code, "no_change");
}

TEST_F(UserRulesTest, DeleteRemovesTheAccountOrRemembersTheDeletion) {
    EXPECT_EQ(decide(event(EventType::UserDeleted, 6), link(LinkStatus::Disabled)).step, Step::Delete);
    const auto d = decide(event(EventType::UserDeleted, 6), std::nullopt);
    EXPECT_EQ(d.step, Step::Skip);
    ASSERT_TRUE(d.link_on_skip.has_value());
    EXPECT_EQ(d.link_on_skip->status, LinkStatus::Deleted);
    EXPECT_EQ(d.link_on_skip->version, 6);
    // An older assignment replayed afterwards is now stale.
    EXPECT_EQ(decide(event(EventType::UserAssigned, 3), d.link_on_skip).code, "stale");
}

TEST_F(UserRulesTest, MissingMatchingAttributeIsSkippedWithTheReason) {
    auto e = event(EventType::UserAssigned, 1);
    e.attributes.erase("userPrincipalName");
    const auto d = decide(e, std::nullopt);
    EXPECT_EQ(d.step, Step::Skip);
    EXPECT_EQ(d.code, "missing_matching_attribute");
    EXPECT_NE(d.reason.find("userPrincipalName"), std::string::npos);
}

TEST_F(UserRulesTest, DisabledDirectoryAccountIsProvisionedInactive) {
    auto e = event(EventType::UserAssigned, 1);
    e.attributes["accountEnabled"] = false;
    const auto d = decide(e, std::nullopt);
    ASSERT_EQ(d.step, Step::Provision);
    EXPECT_EQ(d.desired_create["active"], false);
}

class GroupRulesTest : public ::testing::Test {
protected:
    Event event(EventType type, std::int64_t version, std::string name = "Engineering") {
        Event e;
        e.id = "g" + std::to_string(version);
        e.source = "urn:directory:contoso";
        e.type = type;
        e.app = "app";
        e.object_type = ObjectType::Group;
        e.object_id = "g1";
        e.version = version;
        e.role = "User";
        e.attributes = {{"displayName", std::move(name)}};
        return e;
    }
    static LinkState linked(std::int64_t version = 1) {
        LinkState l;
        l.scim_id = "group-1";
        l.version = version;
        l.status = LinkStatus::Active;
        return l;
    }
    UserDecision decide(const Event& e, const std::optional<LinkState>& l) {
        std::optional<Event> enriched;
        return decide_group(with_object_id(e, groups_, enriched), l, rules_, groups_);
    }
    void scope_to_engineering() {
        auto parsed = parse_scoping(json::array(
            {{{"name", "eng"},
              {"clauses", json::array({{{"attribute", "displayName"}, {"operator", "EQUALS"}, {"value", "Engineering"}}})}}}));
        groups_.scoping = std::get<Scoping>(std::move(parsed));
    }

    AppRules rules_;
    ObjectProfile groups_ = builtin_profile("generic").groups;
};

TEST_F(GroupRulesTest, AnAssignedGroupIsMatchedOnDisplayName) {
    const auto d = decide(event(EventType::GroupAssigned, 1), std::nullopt);
    ASSERT_EQ(d.step, Step::Provision);
    ASSERT_EQ(d.match_candidates.size(), 1U);
    EXPECT_EQ(d.match_candidates[0].mapping->target.to_string(), "displayName");
    EXPECT_EQ(d.match_candidates[0].value, "Engineering");
    EXPECT_EQ(d.desired_create["externalId"], "g1");
}

TEST_F(GroupRulesTest, AGroupLeavingItsScopeIsDeletedUnlessTheAppSaysToLeaveIt) {
    scope_to_engineering();
    EXPECT_EQ(decide(event(EventType::GroupAssigned, 1, "Sales"), std::nullopt).code, "out_of_scope");
    const auto d = decide(event(EventType::GroupUpdated, 2, "Sales"), linked());
    EXPECT_EQ(d.step, Step::Delete);
    EXPECT_EQ(d.code, "out_of_scope");
    rules_.skip_out_of_scope_deletions = true;
    const auto kept = decide(event(EventType::GroupUpdated, 2, "Sales"), linked());
    EXPECT_EQ(kept.step, Step::Skip);
    ASSERT_TRUE(kept.link_on_skip.has_value());
    EXPECT_EQ(kept.link_on_skip->status, LinkStatus::OutOfScope);
    // Back in scope, an update provisions it again.
    EXPECT_EQ(decide(event(EventType::GroupUpdated, 3), kept.link_on_skip).step, Step::Provision);
}

TEST_F(GroupRulesTest, AnAppThatKeepsItsGroupsIsNeverAskedToDeleteOne) {
    groups_.rules.remove = false;
    const auto d = decide(event(EventType::GroupDeleted, 2), linked());
    EXPECT_EQ(d.step, Step::Skip);
    EXPECT_EQ(d.code, "delete_not_supported");
    ASSERT_TRUE(d.link_on_skip.has_value());
    EXPECT_EQ(d.link_on_skip->status, LinkStatus::Deleted);
    EXPECT_EQ(d.link_on_skip->version, 2);
    EXPECT_EQ(decide(event(EventType::GroupUnassigned, 2), std::nullopt).code, "not_provisioned");
}

TEST_F(GroupRulesTest, AWrongAttributeTypeIsRefusedBeforeAnythingIsSent) {
    auto e = event(EventType::GroupAssigned, 1);
    e.attributes["displayName"] = json::array({"a", "b"});
    EXPECT_EQ(decide(e, std::nullopt).step, Step::Refuse);
}

// Assignment through groups, decided from what the lookup answers.
class FixedGrants final : public AssignmentLookup {
public:
    explicit FixedGrants(std::vector<GroupGrant> grants) : grants_(std::move(grants)) {}
    std::vector<GroupGrant> group_grants(const std::string&) override {
        ++asked_;
        return grants_;
    }
    std::vector<GroupGrant> grants_;
    int asked_ = 0;
};

TEST_F(UserRulesTest, AccessComesFromTheOwnAssignmentThenAGroupThenTheScope) {
    FixedGrants grants(std::vector<GroupGrant>{{"g1", "Default Access"}, {"g2", "Admin"}});
    auto own = link(LinkStatus::Active);
    // Its own assignment decides without asking for groups.
    auto access = access_of(event(EventType::UserUpdated, 6), own, rules_, &grants);
    EXPECT_TRUE(access.entitled);
    EXPECT_EQ(access.via, "");
    EXPECT_EQ(access.role, "User");
    EXPECT_EQ(grants.asked_, 0);
    // Unassigned: the first group whose role is not Default Access.
    access = access_of(event(EventType::UserUnassigned, 6), own, rules_, &grants);
    EXPECT_TRUE(access.entitled);
    EXPECT_EQ(access.via, "group g2");
    EXPECT_EQ(access.role, "Admin");
    // A Default Access role of its own counts for nothing, nor does a Default Access group.
    grants.grants_ = {{"g1", "Default Access"}};
    access = access_of(event(EventType::UserAssigned, 6, "Default Access"), std::nullopt, rules_, &grants);
    EXPECT_FALSE(access.entitled);
    EXPECT_TRUE(access.default_access);
    // Unless the app provisions Default Access.
    rules_.skip_default_access = false;
    EXPECT_TRUE(access_of(event(EventType::UserAssigned, 6, "Default Access"), std::nullopt, rules_, &grants).entitled);
    rules_.skip_default_access = true;
    // Scope "all": everyone.
    rules_.sync_all = true;
    access = access_of(event(EventType::UserUpdated, 6), std::nullopt, rules_, &grants);
    EXPECT_TRUE(access.entitled);
    EXPECT_EQ(access.via, "scope all");
}

TEST_F(UserRulesTest, AnUpdateOfAUserInAnAssignedGroupProvisionsIt) {
    FixedGrants grants(std::vector<GroupGrant>{{"g2", "User"}});
    const auto d = decide_user(event(EventType::UserUpdated, 6), std::nullopt, rules_, users_, {nullptr, nullptr, &grants});
    EXPECT_EQ(d.step, Step::Provision);
    EXPECT_FALSE(d.desired_create.empty());
    // In no group, it is recorded (the processor keeps its snapshot) but not applied: the link
    // keeps its version, so that the assignment, older or not, still applies.
    grants.grants_.clear();
    const auto not_assigned = decide_user(event(EventType::UserUpdated, 6), std::nullopt, rules_, users_,
                                          {nullptr, nullptr, &grants});
    EXPECT_EQ(not_assigned.code, "not_assigned");
    ASSERT_TRUE(not_assigned.link_on_skip);
    EXPECT_EQ(not_assigned.link_on_skip->version, -1);
    EXPECT_EQ(not_assigned.link_on_skip->status, LinkStatus::Disabled);
}

TEST_F(UserRulesTest, AReevaluationDecidesOnTheStoredSnapshot) {
    FixedGrants grants(std::vector<GroupGrant>{{"g2", "User"}});
    LinkState known;
    known.status = LinkStatus::Disabled;
    known.version = 3;
    const Event follow_up = event(EventType::UserReevaluate, 0, std::nullopt);
    // No snapshot yet: it waits for one.
    auto d = decide_user(reevaluation_event(follow_up, known), known, rules_, users_, {nullptr, nullptr, &grants});
    EXPECT_EQ(d.code, "awaiting_snapshot");
    record_assignment(event(EventType::UserUpdated, 4), known);
    ASSERT_TRUE(known.snapshot.is_object());
    const Event reevaluated = reevaluation_event(follow_up, known);
    EXPECT_EQ(reevaluated.version, 3) << "the link's version: nothing new is applied";
    EXPECT_EQ(reevaluated.attributes["displayName"], "Ada");
    d = decide_user(reevaluated, known, rules_, users_, {nullptr, nullptr, &grants});
    EXPECT_EQ(d.step, Step::Provision);
    // Out of every assigned group, an active account is disabled.
    grants.grants_.clear();
    auto active = link(LinkStatus::Active);
    active.assigned_role.reset();
    active.snapshot = known.snapshot;
    d = decide_user(reevaluation_event(follow_up, active), active, rules_, users_, {nullptr, nullptr, &grants});
    EXPECT_EQ(d.step, Step::Disable);
    EXPECT_EQ(d.status_after, LinkStatus::Disabled);
}

TEST_F(UserRulesTest, OnlyANewerSnapshotReplacesTheOneKept) {
    LinkState l;
    auto newer = event(EventType::UserUpdated, 7);
    newer.attributes["displayName"] = "Newer";
    record_assignment(newer, l);
    record_assignment(event(EventType::UserAssigned, 5), l);
    EXPECT_EQ(l.snapshot["attributes"]["displayName"], "Newer");
    EXPECT_EQ(l.assigned_role, "User") << "the assignment is recorded even so";
    record_assignment(event(EventType::UserUnassigned, 8), l);
    EXPECT_FALSE(l.assigned_role);
    record_assignment(event(EventType::UserDeleted, 9), l);
    EXPECT_TRUE(l.snapshot.is_null());
}

}  // namespace
}  // namespace provbridge::transforms
