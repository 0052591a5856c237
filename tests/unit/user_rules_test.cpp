#include <gtest/gtest.h>

#include "provbridge/transforms/user_rules.hpp"

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

}  // namespace
}  // namespace provbridge::transforms
