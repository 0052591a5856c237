// The membership PatchOps the bridge builds (transforms::membership_operations), sent to the
// SCIMMY target: batched adds land every member once, removes by value filter take exactly the
// named members, and ids that need escaping in a filter still match.
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/core/json_util.hpp"
#include "provbridge/transforms/scim_protocol.hpp"
#include "scim_target_fixture.hpp"

namespace provbridge {
namespace {

using nlohmann::json;

class MembershipPatchTest : public test_support::ScimTargetTest {
protected:
    json send(const ScimRequest& request, long expected) {
        const auto response = client_.send(request);
        EXPECT_EQ(response.status, expected) << to_string(request.method) << " " << request.path << ": "
                                             << response.body;
        auto doc = parse_json(response.body);
        return doc.ok() ? *doc : json();
    }
    std::string create(const std::string& path, json resource) {
        return send(transforms::create_request(path, std::move(resource)), 201).value("id", "");
    }
    std::set<std::string> members_of(const std::string& group) {
        ScimRequest get;
        get.path = "/Groups/" + group;
        const json doc = send(get, 200);
        std::set<std::string> out;
        for (const auto& m : doc.value("members", json::array())) out.insert(m["value"].get<std::string>());
        return out;
    }

    consumers::CurlScimClient client_{client_options()};
};

TEST_F(MembershipPatchTest, BatchedAddsAndValueFilteredRemovesLeaveExactlyTheWantedMembers) {
    std::vector<std::string> users;
    for (int i = 0; i < 25; ++i) {
        users.push_back(create("/Users", {{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:User"}},
                                          {"userName", "member" + std::to_string(i) + "@contoso.com"}}));
        ASSERT_FALSE(users.back().empty());
    }
    const std::string group =
        create("/Groups", {{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:Group"}}, {"displayName", "Engineering"}});
    ASSERT_FALSE(group.empty());

    // 25 members in batches of 10: three PATCHes.
    const auto adds = transforms::membership_operations(users, {}, 10);
    ASSERT_EQ(adds.size(), 3U);
    for (const auto& ops : adds) send(transforms::patch_request("/Groups", group, ops), 200);
    EXPECT_EQ(members_of(group), std::set<std::string>(users.begin(), users.end()));

    // Remove three, two to a PATCH.
    const std::vector<std::string> gone = {users[0], users[12], users[24]};
    for (const auto& ops : transforms::membership_operations({}, gone, 2)) {
        send(transforms::patch_request("/Groups", group, ops), 200);
    }
    std::set<std::string> expected(users.begin(), users.end());
    for (const auto& g : gone) expected.erase(g);
    EXPECT_EQ(members_of(group), expected);

    // Adding a member who is already there changes nothing (a retried batch is harmless).
    for (const auto& ops : transforms::membership_operations({users[1], users[2]}, {}, 10)) {
        send(transforms::patch_request("/Groups", group, ops), 200);
    }
    EXPECT_EQ(members_of(group), expected);
}

}  // namespace
}  // namespace provbridge
