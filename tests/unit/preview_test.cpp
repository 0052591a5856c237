#include <sstream>

#include <gtest/gtest.h>

#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "provbridge/ops/preview.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;
using test_support::FakeScimClient;

class PreviewTest : public ::testing::Test {
protected:
    PreviewTest() {
        AppConfig app;
        app.id = "crm";
        app.scim.base_url = "https://scim.example/v2";
        Config config;
        config.apps.push_back(app);
        apps_ = consumers::build_app_runtimes(config);
        record_.topic = "provisioning.events";
        record_.value = json{{"specversion", "1.0"}, {"id", "p-1"}, {"source", "urn:directory:x"},
                             {"type", "provisioning.user.assigned"},
                             {"data", {{"app", "crm"}, {"object", {{"type", "user"}, {"id", "u1"}, {"version", 2},
                                                                    {"attributes", {{"userPrincipalName", "a@x"}, {"jobTitle", "Countess"}}}}},
                                       {"assignment", {{"role", "User"}}}}}}
                            .dump();
    }
    std::vector<consumers::AppRuntime> apps_;
    InboundRecord record_;
    FakeScimClient reads_;
    test_support::FakeStateStore state_;
};

TEST_F(PreviewTest, OfflineShowsTheCreateWithoutSendingAnything) {
    const auto r = preview_event(apps_[0], apps_, record_, nullptr, nullptr);
    ASSERT_TRUE(r.outcome.has_value());
    EXPECT_EQ(r.outcome->action, Action::Create);
    ASSERT_EQ(r.exchanges.size(), 2U);
    EXPECT_FALSE(r.exchanges[0].sent);  // the filter query: not checked offline
    EXPECT_EQ(r.exchanges[1].request.method, HttpMethod::Post);
    EXPECT_FALSE(r.exchanges[1].sent);
    EXPECT_EQ((*r.exchanges[1].request.body)["title"], "Countess");
}

TEST_F(PreviewTest, LiveSendsReadsOnlyAndStillDecidesAnEventThatHasAnOutcome) {
    // The event was processed already: the account exists and the link is stored.
    Commit done;
    done.record.event_id = "p-1";
    done.record.source = "urn:directory:x";
    done.record.app = "crm";
    done.record.object_type = "user";
    done.record.object_id = "u1";
    done.record.status = OutcomeStatus::Applied;
    done.link = LinkState{"scim-1", 1, LinkStatus::Active, {{"userName", "a@x"}, {"title", "Engineer"}, {"active", true}}, std::string(), nullptr};
    ASSERT_TRUE(state_.commit(done).ok());

    const auto r = preview_event(apps_[0], apps_, record_, &reads_, &state_);
    ASSERT_TRUE(r.already.has_value());
    EXPECT_EQ(r.already->status, OutcomeStatus::Applied);
    ASSERT_TRUE(r.outcome.has_value());
    EXPECT_EQ(r.outcome->action, Action::Update);
    ASSERT_EQ(r.exchanges.size(), 1U);
    EXPECT_EQ(r.exchanges[0].request.method, HttpMethod::Patch);
    EXPECT_FALSE(r.exchanges[0].sent);
    EXPECT_TRUE(reads_.requests().empty());  // nothing reached the target
    EXPECT_EQ(state_.log.size(), 1U);        // and nothing was recorded
}

TEST_F(PreviewTest, AGroupEventIsPreviewedLikeAUserEventAndAWaitIsSaidWithItsReason) {
    InboundRecord group;
    group.topic = "provisioning.events";
    group.value = json{{"specversion", "1.0"}, {"id", "p-2"}, {"source", "urn:directory:x"},
                       {"type", "provisioning.group.assigned"},
                       {"data", {{"app", "crm"}, {"object", {{"type", "group"}, {"id", "g1"}, {"version", 1},
                                                              {"attributes", {{"displayName", "Sales"}}}}}}}}
                      .dump();
    const auto created = preview_event(apps_[0], apps_, group, nullptr, nullptr);
    ASSERT_EQ(created.decision.match_candidates.size(), 1U);
    ASSERT_TRUE(created.outcome.has_value());
    EXPECT_EQ(created.outcome->action, Action::Create);
    ASSERT_EQ(created.exchanges.size(), 2U);
    EXPECT_EQ(created.exchanges[1].request.path, "/Groups");
    EXPECT_EQ((*created.exchanges[1].request.body)["externalId"], "g1");

    // Genesys creates no groups: offline nothing matches, so the event would wait, and says why.
    AppConfig genesys;
    genesys.id = "crm";
    genesys.profile = "genesys";
    genesys.scim.base_url = "https://scim.example/v2";
    Config config;
    config.apps.push_back(genesys);
    const auto apps = consumers::build_app_runtimes(config);
    const auto waits = preview_event(apps[0], apps, group, nullptr, nullptr);
    EXPECT_FALSE(waits.outcome.has_value());
    ASSERT_TRUE(waits.waits.has_value());
    EXPECT_EQ(waits.waits->code, "GroupNotFoundInTarget");
    std::ostringstream printed;
    print_preview(waits, "https://scim.example/v2", printed);
    EXPECT_NE(printed.str().find("it would wait for a retry (GroupNotFoundInTarget)"), std::string::npos)
        << printed.str();
}

}  // namespace
}  // namespace provbridge::ops
