#include <gtest/gtest.h>

#include "provbridge/transforms/profile.hpp"
#include "provbridge/transforms/user_rules.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

std::vector<std::string> targets(const ObjectMapping& m) {
    std::vector<std::string> out;
    for (const auto& a : m.attributes) out.push_back(a.key);
    return out;
}

AppConfig app_with(const std::string& profile, json mappings = nullptr, json scoping = nullptr) {
    AppConfig app;
    app.id = "app";
    app.profile = profile;
    app.mappings = ConfigFragment{std::move(mappings), "bridge.json", "apps[0].mappings"};
    app.scoping = ConfigFragment{std::move(scoping), "bridge.json", "apps[0].scoping"};
    return app;
}

ConfigError build_error(const AppConfig& app) {
    try {
        build_app_profile(app, "bridge.json", 0);
    } catch (const ConfigError& e) {
        return e;
    }
    ADD_FAILURE() << "accepted";
    return ConfigError("", "", "");
}

TEST(Profiles, EveryShippedProfileLoads) {
    EXPECT_EQ(builtin_profile_names(), (std::vector<std::string>{"elium", "generic", "genesys", "leapsome"}));
    for (const auto& name : builtin_profile_names()) {
        const auto p = builtin_profile(name);
        EXPECT_EQ(p.name, name);
        EXPECT_TRUE(p.users.rules.enabled) << name;
        EXPECT_FALSE(p.users.mapping.matching().empty()) << name;
        EXPECT_TRUE(p.skip_default_access) << name;
    }
}

TEST(Profiles, GenericIsEntrasDefaultScimMapping) {
    const auto p = builtin_profile("generic");
    EXPECT_EQ(targets(p.users.mapping),
              (std::vector<std::string>{
                  "userName", "active", "displayName", "title", R"(emails[type eq "work"].value)", "preferredLanguage",
                  "name.givenName", "name.familyName", "name.formatted", R"(phoneNumbers[type eq "work"].value)",
                  R"(phoneNumbers[type eq "mobile"].value)", "externalId",
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}));
    EXPECT_EQ(p.users.mapping.attributes[1].source_text, R"(Switch([IsSoftDeleted], , "False", "True", "True", "False"))");
    EXPECT_EQ(targets(p.groups.mapping), (std::vector<std::string>{"displayName", "externalId"}));
    EXPECT_EQ(p.groups.mapping.matching().front()->key, "displayName");
}

TEST(Profiles, LeapsomeStoresOnlyWorkEmails) {
    const auto p = builtin_profile("leapsome");
    EXPECT_EQ(p.base_url, "https://www.leapsome.com/api/scim");
    EXPECT_EQ(p.users.rules.allowed_email_types, std::vector<std::string>{"work"});
    EXPECT_EQ(p.users.mapping.matching().front()->key, "userName");
}

TEST(Profiles, EliumProvisionsUsersOnly) {
    const auto p = builtin_profile("elium");
    EXPECT_EQ(p.base_url, "<tenant URL>/scim/v2");
    EXPECT_FALSE(p.groups.rules.enabled);
    EXPECT_NE(p.groups.rules.disabled_reason.find("users only"), std::string::npos);
}

TEST(Profiles, GenesysFollowsItsAttributeTable) {
    const auto p = builtin_profile("genesys");
    EXPECT_EQ(p.base_url, "{API URL}/api/v2/scim/v2");
    EXPECT_EQ(targets(p.users.mapping),
              (std::vector<std::string>{"userName", "active", "displayName", R"(emails[type eq "work"].value)", "title",
                                        R"(phoneNumbers[type eq "mobile"].value)", R"(phoneNumbers[type eq "work"].value)",
                                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}));
    EXPECT_EQ(p.users.mapping.attributes.back().reference, ObjectType::User);
    EXPECT_EQ(p.users.rules.filterable, std::vector<std::string>{"userName"});
    EXPECT_FALSE(p.groups.rules.create);
    EXPECT_FALSE(p.groups.rules.remove);
    EXPECT_EQ(p.groups.mapping.matching().front()->key, "displayName");
}

TEST(AppOverrides, ReplaceDeleteAndAddRows) {
    const auto p = build_app_profile(
        app_with("leapsome", {{"users", json::array({
                                            {{"target", "title"}, {"type", "constant"}, {"value", "Staff"}},
                                            {{"target", "externalId"}, {"delete", true}},
                                            {{"target", "preferredLanguage"}, {"source", "preferredLanguage"},
                                             {"apply", "on_create"}, {"default", "en-US"}},
                                        })}}),
        "bridge.json", 0);
    const auto t = targets(p.users.mapping);
    EXPECT_EQ(std::count(t.begin(), t.end(), "externalId"), 0);
    EXPECT_EQ(t.back(), "preferredLanguage");
    const auto title = std::find_if(p.users.mapping.attributes.begin(), p.users.mapping.attributes.end(),
                                    [](const auto& m) { return m.key == "title"; });
    ASSERT_NE(title, p.users.mapping.attributes.end());
    EXPECT_EQ(title->type, MappingType::Constant);
    EXPECT_EQ(p.users.mapping.attributes.back().apply, ApplyOn::OnCreate);
    EXPECT_EQ(p.users.mapping.attributes.back().default_value, json("en-US"));
}

TEST(AppOverrides, ErrorsInAMappingsFileNameThatFile) {
    AppConfig app = app_with("generic");
    app.mappings = ConfigFragment{{{"users", json::array({{{"target", "title"}, {"expression", "Left([jobTitle]"}}})}},
                                  "leapsome-mappings.json", ""};
    try {
        build_app_profile(app, "bridge.json", 0);
        FAIL() << "accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), "leapsome-mappings.json");
        EXPECT_EQ(e.field(), "users[0].expression");
    }
}

TEST(AppOverrides, MistakesNameFileMappingAndColumn) {
    auto e = build_error(app_with("generic", {{"users", json::array({{{"target", "nickName"},
                                                                       {"expression", "Join(\" \", [a], Frobnicate([b]))"}}})}}));
    EXPECT_EQ(e.file(), "bridge.json");
    EXPECT_EQ(e.field(), "apps[0].mappings.users[0].expression");
    EXPECT_NE(e.reason().find("column 16"), std::string::npos) << e.reason();
    EXPECT_NE(e.reason().find("Frobnicate"), std::string::npos) << e.reason();

    e = build_error(app_with("generic", {{"users", json::array({{{"target", "Join(\"x\""}, {"expression", "Left([a]"}}})}}));
    EXPECT_EQ(e.field(), "apps[0].mappings.users[0].target");
    EXPECT_NE(e.reason().find("column"), std::string::npos) << e.reason();

    e = build_error(app_with("generic", {{"users", json::array({{{"target", "title"}, {"expression", "Left([a], 2"}}})}}));
    EXPECT_EQ(e.field(), "apps[0].mappings.users[0].expression");
    EXPECT_NE(e.reason().find("column"), std::string::npos) << e.reason();

    e = build_error(app_with("generic", {{"users", json::array({{{"target", "title"}, {"source", "jobTitle"}, {"value", "x"}}})}}));
    EXPECT_EQ(e.field(), "apps[0].mappings.users[0]");
    EXPECT_NE(e.reason().find("only one of"), std::string::npos);

    e = build_error(app_with("generic", {{"users", json::array({{{"target", "title"}, {"source", "a"}},
                                                                {{"target", "title"}, {"source", "b"}}})}}));
    EXPECT_EQ(e.field(), "apps[0].mappings.users[1].target");

    e = build_error(app_with("generic", {{"users", json::array({{{"target", "nope"}, {"delete", true}}})}}));
    EXPECT_EQ(e.field(), "apps[0].mappings.users[0].target");

    e = build_error(app_with("generic", {{"users", json::array({{{"target", "userName"},
                                                                 {"expression", R"(SelectUniqueValue([mail], [userPrincipalName]))"}}})}}));
    EXPECT_EQ(e.field(), "apps[0].mappings.users[0].apply");
    EXPECT_NE(e.reason().find("on_create"), std::string::npos);

    e = build_error(app_with("salesforce"));
    EXPECT_EQ(e.field(), "apps[0].profile");
    EXPECT_NE(e.reason().find("generic"), std::string::npos);
}

TEST(AppOverrides, ProfileRulesAreEnforcedOnOverrides) {
    auto e = build_error(app_with("genesys", {{"users", json::array({{{"target", "externalId"}, {"source", "mailNickname"},
                                                                      {"match", 2}}})}}));
    EXPECT_EQ(e.field(), "apps[0].mappings.users");
    EXPECT_NE(e.reason().find("only filter on userName"), std::string::npos) << e.reason();

    e = build_error(app_with("elium", {{"groups", json::array({{{"target", "displayName"}, {"source", "displayName"}}})}}));
    EXPECT_EQ(e.field(), "apps[0].mappings.groups");
    EXPECT_NE(e.reason().find("users only"), std::string::npos) << e.reason();
}

TEST(AppOverrides, ScopingFiltersAreParsedWithTheirField) {
    const auto p = build_app_profile(
        app_with("generic", nullptr,
                 {{"users", json::array({{{"name", "Sales"},
                                          {"clauses", json::array({{{"attribute", "department"},
                                                                    {"operator", "EQUALS"},
                                                                    {"value", "Sales"}}})}}})}}),
        "bridge.json", 0);
    ASSERT_EQ(p.users.scoping.filters.size(), 1U);
    auto e = build_error(app_with("generic", nullptr,
                                  {{"users", json::array({{{"name", "x"},
                                                           {"clauses", json::array({{{"attribute", "department"},
                                                                                     {"operator", "SOUNDS_LIKE"},
                                                                                     {"value", "Sales"}}})}}})}}));
    EXPECT_EQ(e.field().rfind("apps[0].scoping.users[0].clauses[0]", 0), 0U) << e.field();
}

class ProfileRules : public ::testing::Test {
protected:
    Event assigned(json attributes, std::int64_t version = 1) {
        Event e;
        e.id = "e" + std::to_string(version);
        e.source = "s";
        e.type = EventType::UserAssigned;
        e.app = "app";
        e.object_id = "u1";
        e.version = version;
        e.role = "User";
        e.attributes = std::move(attributes);
        return e;
    }
};

TEST_F(ProfileRules, LeapsomeRefusesAUserWithOnlyANonWorkEmail) {
    const auto p = build_app_profile(
        app_with("leapsome", {{"users", json::array({{{"target", R"(emails[type eq "home"].value)"},
                                                       {"source", "otherMail"}}})}}),
        "bridge.json", 0);
    const AppRules rules;
    auto d = decide_user(assigned({{"userPrincipalName", "a@x"}, {"otherMail", "a@gmail.example"}}), std::nullopt,
                         rules, p.users);
    EXPECT_EQ(d.step, UserDecision::Step::Refuse);
    EXPECT_EQ(d.code, "ConnectorRuleViolation");
    EXPECT_NE(d.reason.find("only stores work email"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("home (a@gmail.example)"), std::string::npos) << d.reason;

    d = decide_user(assigned({{"userPrincipalName", "a@x"}, {"mail", "a@x"}, {"otherMail", "a@gmail.example"}}),
                    std::nullopt, rules, p.users);
    ASSERT_EQ(d.step, UserDecision::Step::Provision);
    EXPECT_TRUE(d.desired_create.contains(R"(emails[type eq "work"].value)"));
    EXPECT_FALSE(d.desired_create.contains(R"(emails[type eq "home"].value)"));
}

TEST_F(ProfileRules, OutOfScopeUsersAreSkippedOrDisabledNamingTheClause) {
    const auto p = build_app_profile(
        app_with("generic", nullptr,
                 {{"users", json::array({{{"name", "Sales"},
                                          {"clauses", json::array({{{"attribute", "department"},
                                                                    {"operator", "EQUALS"},
                                                                    {"value", "Sales"}}})}}})}}),
        "bridge.json", 0);
    AppRules rules;
    const json rnd = {{"userPrincipalName", "a@x"}, {"department", "R&D"}};
    auto d = decide_user(assigned(rnd), std::nullopt, rules, p.users);
    EXPECT_EQ(d.step, UserDecision::Step::Skip);
    EXPECT_EQ(d.code, "out_of_scope");
    EXPECT_NE(d.reason.find("department EQUALS \"Sales\""), std::string::npos) << d.reason;
    ASSERT_TRUE(d.link_on_skip.has_value());
    EXPECT_EQ(d.link_on_skip->status, LinkStatus::OutOfScope);

    LinkState active;
    active.scim_id = "s1";
    active.version = 1;
    active.assigned_role = "User";
    d = decide_user(assigned(rnd, 2), active, rules, p.users);
    EXPECT_EQ(d.step, UserDecision::Step::Disable);
    EXPECT_EQ(d.status_after, LinkStatus::OutOfScope);

    rules.skip_out_of_scope_deletions = true;
    d = decide_user(assigned(rnd, 2), active, rules, p.users);
    EXPECT_EQ(d.step, UserDecision::Step::Skip);
    EXPECT_NE(d.reason.find("left alone"), std::string::npos);

    // Back in scope: an update re-provisions the assigned user.
    LinkState out = active;
    out.status = LinkStatus::OutOfScope;
    Event update = assigned({{"userPrincipalName", "a@x"}, {"department", "Sales"}}, 3);
    update.type = EventType::UserUpdated;
    EXPECT_EQ(decide_user(update, out, rules, p.users).step, UserDecision::Step::Provision);
}

class FakeReferences final : public ReferenceResolver {
public:
    std::optional<std::string> target_id(ObjectType type, const std::string& source_id) override {
        asked.emplace_back(type, source_id);
        if (source_id == "boss") return std::string("scim-boss");
        return std::nullopt;
    }
    std::vector<std::pair<ObjectType, std::string>> asked;
};

TEST_F(ProfileRules, ManagerReferencesResolveToTheTargetId) {
    const auto p = builtin_profile("genesys");
    FakeReferences refs;
    const std::string manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    auto d = decide_user(assigned({{"userPrincipalName", "a@x"}, {"manager", "boss"}}), std::nullopt, AppRules{}, p.users,
                         {nullptr, &refs});
    ASSERT_EQ(d.step, UserDecision::Step::Provision);
    EXPECT_EQ(d.desired_create[manager], json({{"value", "scim-boss"}}));
    EXPECT_EQ(d.desired_create["active"], true);  // Switch gives "True"; the target wants a boolean
    ASSERT_FALSE(refs.asked.empty());
    EXPECT_EQ(refs.asked[0], std::make_pair(ObjectType::User, std::string("boss")));

    d = decide_user(assigned({{"userPrincipalName", "a@x"}, {"manager", "nobody"}}), std::nullopt, AppRules{}, p.users,
                    {nullptr, &refs});
    EXPECT_FALSE(d.desired_create.contains(manager));
    ASSERT_EQ(d.notes.size(), 1U);
    EXPECT_NE(d.notes[0].find("nobody"), std::string::npos);
}

TEST(MappingTypes, ConstantNoneAndOnCreateRows) {
    const auto rows = parse_mapping_rows(
        json::array({{{"target", "userName"}, {"source", "userPrincipalName"}, {"match", 1}},
                     {{"target", "userType"}, {"value", "Employee"}},
                     {{"target", "nickName"}, {"type", "none"}, {"default", "n/a"}},
                     {{"target", "locale"}, {"source", "preferredLanguage"}, {"apply", "on_create"}}}),
        "f.json", "users", false);
    ObjectMapping mapping;
    mapping.resource_path = "/Users";
    mapping.core_schema = kUserSchema;
    mapping.attributes = rows;
    const json attrs = {{"userPrincipalName", "a@x"}, {"preferredLanguage", "fr-FR"}};
    const SourceContext ctx{attrs, false, std::nullopt, nullptr, {}};
    const json create = desired_attributes(mapping, ctx, Phase::Create).to_json();
    EXPECT_EQ(create, json({{"userName", "a@x"}, {"userType", "Employee"}, {"nickName", "n/a"}, {"locale", "fr-FR"}}));
    const json update = desired_attributes(mapping, ctx, Phase::Update).to_json();
    EXPECT_EQ(update, json({{"userName", "a@x"}, {"userType", "Employee"}}));
}

}  // namespace
}  // namespace provbridge::transforms
