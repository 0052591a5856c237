#include <gtest/gtest.h>

#include "provbridge/transforms/scim_path.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

ScimPath parse(const std::string& text) {
    auto p = parse_scim_path(text);
    EXPECT_TRUE(p.ok()) << text << ": " << (p.ok() ? "" : p.error().message);
    return p.ok() ? *p : ScimPath{};
}

TEST(ScimPath, ParsesTheFormsMappingsUse) {
    auto simple = parse("displayName");
    EXPECT_EQ(simple.attribute, "displayName");
    EXPECT_TRUE(simple.urn.empty());

    auto sub = parse("name.givenName");
    EXPECT_EQ(sub.attribute, "name");
    EXPECT_EQ(sub.sub_attribute, "givenName");

    auto filtered = parse(R"(emails[type eq "work"].value)");
    EXPECT_EQ(filtered.attribute, "emails");
    EXPECT_EQ(filtered.filter_attribute, "type");
    EXPECT_EQ(filtered.filter_value, "work");
    EXPECT_EQ(filtered.sub_attribute, "value");

    auto ext = parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department");
    EXPECT_EQ(ext.urn, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
    EXPECT_EQ(ext.attribute, "department");

    auto manager = parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
    EXPECT_EQ(manager.attribute, "manager");
    EXPECT_EQ(manager.sub_attribute, "value");

    auto primary = parse(R"(roles[primary eq "True"].value)");
    EXPECT_EQ(primary.filter_value, "True");
    auto boolean = parse("roles[primary eq true].value");
    EXPECT_EQ(boolean.filter_value, true);
}

TEST(ScimPath, CanonicalTextRoundTrips) {
    for (const char* text : {"userName", "name.familyName", R"(phoneNumbers[type eq "mobile"].value)",
                             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                             R"(addresses[type eq "work"])"}) {
        EXPECT_EQ(parse(text).to_string(), text);
    }
    EXPECT_EQ(parse(R"(emails[type  EQ  "work"].value)").to_string(), R"(emails[type eq "work"].value)");
    EXPECT_EQ(parse(R"(emails[type eq "work"].value)").removal_path(), R"(emails[type eq "work"])");
    EXPECT_EQ(parse("name.givenName").removal_path(), "name.givenName");
}

TEST(ScimPath, RejectsMalformedPathsWithAColumn) {
    for (const char* text : {"", "1abc", "emails[type eq \"work\"", "emails[type co \"w\"].value",
                             "emails[type eq work].value", "name.", "name.given Name", "urn:x:", "a..b"}) {
        auto p = parse_scim_path(text);
        EXPECT_FALSE(p.ok()) << "accepted: " << text;
        if (!p.ok()) EXPECT_NE(p.error().message.find("column"), std::string::npos) << p.error().message;
    }
}

TEST(ScimPath, GetsValuesFromAResource) {
    const json user = {
        {"userName", "ada"},
        {"name", {{"givenName", "Ada"}}},
        {"emails", json::array({{{"type", "home"}, {"value", "a@home"}}, {{"type", "Work"}, {"value", "a@work"}}})},
        {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", {{"department", "R&D"}}}};
    EXPECT_EQ(get_value(user, parse("userName")), "ada");
    EXPECT_EQ(get_value(user, parse("USERNAME")), "ada");  // attribute names are case-insensitive
    EXPECT_EQ(get_value(user, parse("name.givenName")), "Ada");
    EXPECT_EQ(get_value(user, parse(R"(emails[type eq "work"].value)")), "a@work");
    EXPECT_EQ(get_value(user, parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")), "R&D");
    EXPECT_TRUE(get_value(user, parse(R"(emails[type eq "other"].value)")).is_null());
    EXPECT_TRUE(get_value(user, parse("name.familyName")).is_null());
    EXPECT_TRUE(get_value(user, parse("title")).is_null());
}

TEST(ScimPath, SetsValuesCreatingStructure) {
    json user = json::object();
    set_value(user, parse("name.givenName"), "Ada");
    set_value(user, parse(R"(emails[type eq "work"].value)"), "a@work");
    set_value(user, parse(R"(phoneNumbers[type eq "mobile"].value)"), "+33");
    set_value(user, parse(R"(phoneNumbers[type eq "work"].value)"), "+44");
    set_value(user, parse(R"(phoneNumbers[type eq "mobile"].value)"), "+34");  // replaces in place
    set_value(user, parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"), "1001");
    EXPECT_EQ(user["name"]["givenName"], "Ada");
    EXPECT_EQ(user["emails"], json::array({{{"type", "work"}, {"value", "a@work"}}}));
    ASSERT_EQ(user["phoneNumbers"].size(), 2U);
    EXPECT_EQ(user["phoneNumbers"][0]["value"], "+34");
    EXPECT_EQ(user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"], "1001");
}

}  // namespace
}  // namespace provbridge::transforms
