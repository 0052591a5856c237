// Membership PatchOps: batched adds of members and one remove per member by value filter.
#include <gtest/gtest.h>

#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

std::vector<std::string> ids(std::size_t n, const std::string& prefix = "u") {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
    return out;
}

std::size_t members_in(const json& operations) {
    std::size_t n = 0;
    for (const auto& op : operations) n += op["op"] == "add" ? op["value"].size() : 1;
    return n;
}

TEST(MembershipOperations, AdditionsAreOneAddOfMembersPerBatch) {
    const auto lists = membership_operations(ids(250), {}, 100);
    ASSERT_EQ(lists.size(), 3U);
    EXPECT_EQ(lists[0], json::array({{{"op", "add"}, {"path", "members"}, {"value", lists[0][0]["value"]}}}));
    EXPECT_EQ(lists[0][0]["value"].size(), 100U);
    EXPECT_EQ(lists[0][0]["value"][0], json({{"value", "u0"}}));
    EXPECT_EQ(lists[2][0]["value"].size(), 50U);
    EXPECT_EQ(lists[2][0]["value"][49], json({{"value", "u249"}}));
}

TEST(MembershipOperations, RemovalsNameEachMemberByAValueFilterAndShareTheLastBatch) {
    const auto lists = membership_operations(ids(150), {"gone-1", "o\"brien"}, 100);
    ASSERT_EQ(lists.size(), 2U);
    ASSERT_EQ(lists[1].size(), 3U) << lists[1].dump();
    EXPECT_EQ(lists[1][0]["value"].size(), 50U);
    EXPECT_EQ(lists[1][1], json({{"op", "remove"}, {"path", R"(members[value eq "gone-1"])"}}));
    EXPECT_EQ(lists[1][2]["path"], R"(members[value eq "o\"brien"])") << "the id is a SCIM string literal";
    for (const auto& list : lists) EXPECT_LE(members_in(list), 100U);
}

TEST(MembershipOperations, TenThousandMembersTakeOneHundredPatches) {
    const auto lists = membership_operations(ids(10000), {}, 100);
    EXPECT_EQ(lists.size(), 100U);
    std::size_t total = 0;
    for (const auto& list : lists) total += members_in(list);
    EXPECT_EQ(total, 10000U);
}

TEST(MembershipOperations, NothingToChangeIsNoPatchAndABatchOfZeroMeansOne) {
    EXPECT_TRUE(membership_operations({}, {}, 100).empty());
    const auto lists = membership_operations({"a"}, {"b"}, 0);
    ASSERT_EQ(lists.size(), 2U);
    EXPECT_EQ(members_in(lists[0]), 1U);
    EXPECT_EQ(lists[1][0]["op"], "remove");
}

}  // namespace
}  // namespace provbridge::transforms
