// `provbridge logs` filters: Entra's names, any case, and objects by source id, TYPE/ID or
// target id.
#include <gtest/gtest.h>

#include "provbridge/ops/logs_command.hpp"

namespace provbridge::ops {
namespace {

OutcomeRecord created() {
    OutcomeRecord r;
    r.status = OutcomeStatus::Applied;
    r.action = Action::Create;
    r.object_type = "user";
    r.object_id = "ada";
    r.scim_id = "t-1";
    r.scim_requests = 2;
    return r;
}

TEST(LogsFilter, StatusAndActionAreEntrasNamesInAnyCase) {
    EXPECT_TRUE(log_matches({"success", "", ""}, created()));
    EXPECT_TRUE(log_matches({"Success", "CREATE", ""}, created()));
    EXPECT_FALSE(log_matches({"Failure", "", ""}, created()));
    EXPECT_FALSE(log_matches({"", "Update", ""}, created()));
    auto failed = created();
    failed.status = OutcomeStatus::DeadLettered;
    EXPECT_TRUE(log_matches({"failure", "", ""}, failed));
}

TEST(LogsFilter, AnObjectIsFoundBySourceIdTypeAndIdOrTargetId) {
    EXPECT_TRUE(log_matches({"", "", "ada"}, created()));
    EXPECT_TRUE(log_matches({"", "", "user/ada"}, created()));
    EXPECT_TRUE(log_matches({"", "", "t-1"}, created()));
    EXPECT_FALSE(log_matches({"", "", "group/ada"}, created()));
    EXPECT_FALSE(log_matches({"", "", "ad"}, created()));
}

TEST(LogsFilter, UnknownNamesAreRefusedWithTheNamesItTakes) {
    EXPECT_EQ(log_filter_problem({}), "");
    const auto status = log_filter_problem({"Broken", "", ""});
    EXPECT_NE(status.find("Success, Failure, Skipped, Warning"), std::string::npos) << status;
    const auto action = log_filter_problem({"", "Rename", ""});
    EXPECT_NE(action.find("StagedDelete"), std::string::npos) << action;
}

}  // namespace
}  // namespace provbridge::ops
