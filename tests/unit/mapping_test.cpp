#include <gtest/gtest.h>

#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

const json kAda = {{"userPrincipalName", "ada@contoso.com"},
                   {"mail", "ada@contoso.com"},
                   {"mailNickname", "ada"},
                   {"givenName", "Ada"},
                   {"surname", "Lovelace"},
                   {"displayName", "Ada Lovelace"},
                   {"jobTitle", "Engineer"},
                   {"department", "R&D"},
                   {"employeeId", "1001"},
                   {"mobile", "+33 6 00 00 00 00"},
                   {"telephoneNumber", "+33 1 00 00 00 00"},
                   {"preferredLanguage", "fr-FR"},
                   {"accountEnabled", true}};

constexpr const char* kEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

AttributeSet set_of(const json& attributes, bool soft_deleted = false, Phase phase = Phase::Update) {
    return desired_attributes(default_user_mapping(), SourceContext{attributes, soft_deleted, std::nullopt}, phase);
}

json desired(const json& attributes, bool soft_deleted = false, Phase phase = Phase::Update) {
    return set_of(attributes, soft_deleted, phase).to_json();
}

TEST(FilterEscaping, QuotesAndBackslashesAreEscapedAsJsonStrings) {
    EXPECT_EQ(scim_string_literal("ada@contoso.com"), R"("ada@contoso.com")");
    EXPECT_EQ(scim_string_literal(R"(a"b)"), R"("a\"b")");
    EXPECT_EQ(scim_string_literal(R"(a\b)"), R"("a\\b")");
    EXPECT_EQ(scim_string_literal("Zoë Ünïcødé"), "\"Zoë Ünïcødé\"");
    EXPECT_EQ(scim_string_literal("tab\there"), R"("tab\there")");
    EXPECT_EQ(scim_string_literal(std::string("nul\x01", 4)), R"("nul\u0001")");
}

TEST(FilterEscaping, EqFilterAndFindRequest) {
    auto path = parse_scim_path("userName");
    ASSERT_TRUE(path.ok());
    EXPECT_EQ(eq_filter(*path, R"(o"brien\x)"), R"(userName eq "o\"brien\\x")");
    const auto request = find_request("/Users", *path, "ada@contoso.com");
    EXPECT_EQ(request.method, HttpMethod::Get);
    EXPECT_EQ(request.path, "/Users");
    ASSERT_EQ(request.query.size(), 1U);
    EXPECT_EQ(request.query[0].first, "filter");
    EXPECT_EQ(request.query[0].second, R"(userName eq "ada@contoso.com")");  // the client URL-encodes
}

TEST(DefaultUserMapping, MatchesEntrasDefaultScimMapping) {
    const json d = desired(kAda, false, Phase::Create);
    EXPECT_EQ(d["userName"], "ada@contoso.com");
    EXPECT_EQ(d["active"], true);
    EXPECT_EQ(d["displayName"], "Ada Lovelace");
    EXPECT_EQ(d["title"], "Engineer");
    EXPECT_EQ(d[R"(emails[type eq "work"].value)"], "ada@contoso.com");
    EXPECT_EQ(d["preferredLanguage"], "fr-FR");
    EXPECT_EQ(d["name.givenName"], "Ada");
    EXPECT_EQ(d["name.familyName"], "Lovelace");
    EXPECT_EQ(d["name.formatted"], "Ada Lovelace");
    EXPECT_EQ(d[R"(phoneNumbers[type eq "work"].value)"], "+33 1 00 00 00 00");
    EXPECT_EQ(d[R"(phoneNumbers[type eq "mobile"].value)"], "+33 6 00 00 00 00");
    EXPECT_EQ(d["externalId"], "ada");
    EXPECT_EQ(d[std::string(kEnterprise) + ":employeeNumber"], "1001");
    EXPECT_EQ(d[std::string(kEnterprise) + ":department"], "R&D");
    EXPECT_EQ(d.size(), 14U);
    const auto mapping = default_user_mapping();
    const auto matching = mapping.matching();
    ASSERT_EQ(matching.size(), 1U);
    EXPECT_EQ(matching[0]->target.to_string(), "userName");
}

TEST(DefaultUserMapping, SoftDeletedMeansInactiveAndNullsAreNotProvisioned) {
    json partial = {{"userPrincipalName", "bob@x"}, {"givenName", "Bob"}, {"surname", nullptr}, {"jobTitle", ""}};
    const json d = desired(partial, true);
    EXPECT_EQ(d["active"], false);
    EXPECT_EQ(d["name.formatted"], "Bob");  // Join leaves the null surname out
    EXPECT_FALSE(d.contains("name.familyName"));
    EXPECT_FALSE(d.contains("title"));
    EXPECT_FALSE(d.contains("displayName"));
}

TEST(BuildResource, ProducesAScimUserWithSchemas) {
    const auto mapping = default_user_mapping();
    const json r = build_resource(mapping, set_of(kAda, false, Phase::Create));
    EXPECT_EQ(r["schemas"], json::array({kUserSchema, kEnterpriseUserSchema}));
    EXPECT_EQ(r["userName"], "ada@contoso.com");
    EXPECT_EQ(r["active"], true);
    EXPECT_EQ(r["name"], json({{"givenName", "Ada"}, {"familyName", "Lovelace"}, {"formatted", "Ada Lovelace"}}));
    EXPECT_EQ(r["emails"], json::array({{{"type", "work"}, {"value", "ada@contoso.com"}}}));
    EXPECT_EQ(r["phoneNumbers"].size(), 2U);
    EXPECT_EQ(r[kEnterprise]["department"], "R&D");
    // Reading the resource back gives the same attribute set: the basis of linking.
    EXPECT_EQ(extract_attributes(mapping, r), set_of(kAda, false, Phase::Create));
}

TEST(PatchDiff, NothingChangedMeansNoOperation) {
    const auto mapping = default_user_mapping();
    const auto d = set_of(kAda);
    const auto plan = diff_attributes(mapping, d, d.to_json());
    EXPECT_TRUE(plan.empty());
    EXPECT_TRUE(plan.changes.empty());
}

TEST(PatchDiff, OnlyChangedAttributesAreSentWithLowercaseOps) {
    const auto mapping = default_user_mapping();
    const json before = desired(kAda);
    json changed = kAda;
    changed["jobTitle"] = "Principal Engineer";
    changed["mobile"] = nullptr;
    changed["surname"] = "King";
    const auto plan = diff_attributes(mapping, set_of(changed), before);
    const json expected = json::array({
        {{"op", "replace"}, {"path", "title"}, {"value", "Principal Engineer"}},
        {{"op", "replace"}, {"path", "name.familyName"}, {"value", "King"}},
        {{"op", "replace"}, {"path", "name.formatted"}, {"value", "Ada King"}},
        {{"op", "remove"}, {"path", R"(phoneNumbers[type eq "mobile"])"}},
    });
    EXPECT_EQ(plan.operations, expected);
    ASSERT_EQ(plan.changes.size(), 4U);
    EXPECT_EQ(plan.changes[0].path, "title");
    EXPECT_EQ(plan.changes[0].old_value, "Engineer");
    EXPECT_EQ(plan.changes[0].new_value, "Principal Engineer");
    EXPECT_EQ(applied_after(before, plan), desired(changed));
}

TEST(PatchDiff, AnAbsentFilteredValueIsAddedAsAnElement) {
    const auto mapping = default_user_mapping();
    json before_attrs = kAda;
    before_attrs.erase("mail");
    const auto plan = diff_attributes(mapping, set_of(kAda), desired(before_attrs));
    const json expected = json::array({{{"op", "add"},
                                        {"path", "emails"},
                                        {"value", json::array({{{"type", "work"}, {"value", "ada@contoso.com"}}})}}});
    EXPECT_EQ(plan.operations, expected);
}

TEST(PatchDiff, ExtensionAndBooleanValues) {
    const auto mapping = default_user_mapping();
    json moved = kAda;
    moved["department"] = "Sales";
    const auto plan = diff_attributes(mapping, set_of(moved, true), desired(kAda));
    EXPECT_EQ(plan.operations, json::array({
                                   {{"op", "replace"}, {"path", "active"}, {"value", false}},
                                   {{"op", "replace"}, {"path", std::string(kEnterprise) + ":department"}, {"value", "Sales"}},
                               }));
    EXPECT_TRUE(plan.operations[0]["value"].is_boolean());
}

TEST(PatchDiff, OnCreateMappingsAreNeverInUpdates) {
    auto mapping = default_user_mapping();
    for (auto& m : mapping.attributes) {
        if (m.target.to_string() == "externalId") m.apply = ApplyOn::OnCreate;
    }
    const SourceContext create_ctx{kAda, false, std::nullopt};
    const json on_create = desired_attributes(mapping, create_ctx, Phase::Create).to_json();
    EXPECT_TRUE(on_create.contains("externalId"));
    json renamed = kAda;
    renamed["mailNickname"] = "ada2";
    const auto update = desired_attributes(mapping, SourceContext{renamed, false, std::nullopt}, Phase::Update);
    EXPECT_FALSE(update.contains("externalId"));
    EXPECT_TRUE(diff_attributes(mapping, update, on_create).empty());
}

TEST(PatchDiff, DefaultValuesApplyOnCreateOnly) {
    auto mapping = default_user_mapping();
    for (auto& m : mapping.attributes) {
        if (m.target.to_string() == "preferredLanguage") m.default_value = "en-US";
    }
    json no_lang = kAda;
    no_lang.erase("preferredLanguage");
    EXPECT_EQ(desired_attributes(mapping, SourceContext{no_lang, false, std::nullopt}, Phase::Create)["preferredLanguage"],
              "en-US");
    EXPECT_FALSE(desired_attributes(mapping, SourceContext{no_lang, false, std::nullopt}, Phase::Update)
                     .contains("preferredLanguage"));
}

TEST(ScimProtocol, DisableIsABooleanReplace) {
    const json body = patch_body(disable_operations());
    EXPECT_EQ(body, json::parse(R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                    "Operations":[{"op":"replace","path":"active","value":false}]})"));
    const auto request = patch_request("/Users", "abc", disable_operations());
    EXPECT_EQ(request.method, HttpMethod::Patch);
    EXPECT_EQ(request.path, "/Users/abc");
}

TEST(ScimProtocol, ClassifiesResponses) {
    const auto status = [](long s, std::string body = "") {
        ScimResponse r;
        r.status = s;
        r.body = std::move(body);
        return classify(r);
    };
    EXPECT_EQ(status(201).kind, ResponseClass::Success);
    EXPECT_EQ(status(404).code, "InvalidAnchor");
    const auto conflict = status(409, R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName taken"})");
    EXPECT_EQ(conflict.kind, ResponseClass::Conflict);
    EXPECT_EQ(conflict.scim_type, "uniqueness");
    EXPECT_NE(conflict.detail.find("userName taken"), std::string::npos);
    EXPECT_TRUE(status(429).retryable);
    EXPECT_TRUE(status(503).retryable);
    EXPECT_EQ(status(401).kind, ResponseClass::Unauthorized);
    EXPECT_FALSE(status(400).retryable);
    ScimResponse timeout;
    timeout.transport = TransportStatus::Timeout;
    EXPECT_EQ(classify(timeout).code, "Timeout");
    EXPECT_TRUE(classify(timeout).retryable);
}

TEST(ScimProtocol, ParsesListResponses) {
    auto ok = parse_list_response(R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{"id":"x"}]})");
    ASSERT_TRUE(ok.valid);
    EXPECT_EQ(ok.total_results, 1);
    EXPECT_EQ(ok.resources[0]["id"], "x");
    EXPECT_TRUE(parse_list_response(R"({"totalResults":0})").valid);
    EXPECT_FALSE(parse_list_response("<html>").valid);
    EXPECT_FALSE(parse_list_response(R"({"Resources":[]})").valid);
}

}  // namespace
}  // namespace provbridge::transforms
