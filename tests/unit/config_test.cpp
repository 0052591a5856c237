#include <fstream>

#include <gtest/gtest.h>

#include "provbridge/core/config.hpp"

namespace provbridge {
namespace {

constexpr const char* kMinimal = R"({
  // comments are allowed: operators annotate their files
  "apps": [
    { "id": "leapsome", "profile": "leapsome",
      "scim": { "base_url": "https://www.leapsome.com/api/scim/", "token_env": "LEAPSOME_TOKEN" } }
  ]
})";

ConfigError expect_error(const std::string& text, const Environment& env = {}) {
    try {
        parse_config(text, "bridge.json", env);
    } catch (const ConfigError& e) {
        return e;
    }
    ADD_FAILURE() << "configuration was accepted:\n" << text;
    return ConfigError("", "", "");
}

TEST(Config, MinimalFileGetsDefaults) {
    const Config c = parse_config(kMinimal, "bridge.json", {});
    EXPECT_EQ(c.kafka.bootstrap_servers, "");  // embedded development broker
    EXPECT_EQ(c.kafka.group_id, "provbridge");
    EXPECT_EQ(c.kafka.events_topic, "provisioning.events");
    EXPECT_EQ(c.kafka.dead_letter_topic, "provisioning.deadletter");
    EXPECT_EQ(c.redis.url(), "redis://127.0.0.1:6379/0");
    EXPECT_EQ(c.worker.concurrency, 16);
    ASSERT_EQ(c.apps.size(), 1U);
    EXPECT_EQ(c.apps[0].scim.base_url, "https://www.leapsome.com/api/scim");  // trailing slash trimmed
    EXPECT_EQ(c.apps[0].scim.token.env, "LEAPSOME_TOKEN");
    EXPECT_FALSE(c.apps[0].skip_default_access.has_value());  // the profile decides
    EXPECT_FALSE(c.apps[0].skip_out_of_scope_deletions);
    EXPECT_FALSE(c.apps[0].dry_run);
    EXPECT_TRUE(c.apps[0].mappings.value.is_null());
    EXPECT_TRUE(c.apps[0].scim.verify_tls);
    EXPECT_EQ(c.apps[0].unassign_action, UnassignAction::Disable);
    EXPECT_NE(c.find_app("leapsome"), nullptr);
    EXPECT_EQ(c.find_app("elium"), nullptr);
}

TEST(Config, FullFileIsRead) {
    const Config c = parse_config(R"({
      "kafka": {"bootstrap_servers": "k1:9092,k2:9092", "group_id": "g", "topics": {"events": "ev", "dead_letter": "dl"},
                "properties": {"client.id": "bridge-1"}, "consumer_properties": {"session.timeout.ms": "6000"},
                "producer_properties": {"linger.ms": "5"}},
      "redis": {"url": "redis://cache:6380/2", "password_env": "REDIS_PW", "dedupe_ttl_hours": 48},
      "worker": {"concurrency": 4, "max_in_flight": 40},
      "apps": [{"id": "genesys", "profile": "genesys", "skip_default_access": false, "unassign_action": "delete",
                "scim": {"base_url": "https://api.mypurecloud.com/api/v2/scim/v2", "token_file": "/run/secrets/g",
                         "timeout_ms": 1500, "verify_tls": false}}]
    })", "f.json", {});
    EXPECT_EQ(c.kafka.bootstrap_servers, "k1:9092,k2:9092");
    EXPECT_EQ(c.kafka.properties.at("client.id"), "bridge-1");
    EXPECT_EQ(c.kafka.consumer_properties.at("session.timeout.ms"), "6000");
    EXPECT_EQ(c.kafka.producer_properties.at("linger.ms"), "5");
    EXPECT_EQ(c.redis.host, "cache");
    EXPECT_EQ(c.redis.port, 6380);
    EXPECT_EQ(c.redis.database, 2);
    EXPECT_EQ(c.redis.password.env, "REDIS_PW");
    EXPECT_EQ(c.redis.dedupe_ttl, std::chrono::hours(48));
    EXPECT_EQ(c.worker.max_in_flight, 40);
    EXPECT_EQ(c.apps[0].skip_default_access, false);
    EXPECT_EQ(c.apps[0].unassign_action, UnassignAction::Delete);
    EXPECT_EQ(c.apps[0].scim.timeout, std::chrono::milliseconds(1500));
    EXPECT_FALSE(c.apps[0].scim.verify_tls);
}

TEST(Config, AnAppIsPutInDryRunByItsSwitchOnly) {
    const Config c = parse_config(
        R"({"apps":[{"id":"a","dry_run":true,"scim":{"base_url":"https://a.example","token_env":"T"}},
                    {"id":"b","scim":{"base_url":"https://b.example","token_env":"T"}}]})",
        "bridge.json", {});
    EXPECT_TRUE(c.apps[0].dry_run);
    EXPECT_FALSE(c.apps[1].dry_run);
    const auto e = expect_error(R"({"apps":[{"id":"a","dry_run":"yes","scim":{"base_url":"https://a.example","token_env":"T"}}]})");
    EXPECT_EQ(e.field(), "apps[0].dry_run");
}

std::string with_ldap(const std::string& ldap) {
    return R"({"apps":[{"id":"crm","scim":{"base_url":"https://a.example","token_env":"T"}}],
               "sources":{"ldap":)" + ldap + "}}";
}

TEST(Config, AnLdapSourceIsReadWithItsDefaults) {
    const Config c = parse_config(with_ldap(R"({"url":"ldap://dir.example:389/","bind_dn":"cn=pb,dc=example",
        "password_env":"LDAP_PW","users":{"base_dn":"ou=people,dc=example"},"groups":{"base_dn":"ou=apps,dc=example"},
        "attributes":{"jobTitle":"businessCategory","mobile":"","telephoneNumber":"telephoneNumber|homePhone",
                      "displayName":"displayName;lang-de|cn","employeeId":"2.16.840.1.113730.3.1.3"},
        "assignments":[{"app":"crm","group":"cn=app-crm,ou=apps,dc=example","role":"User"}]})"),
                                  "bridge.json", {});
    ASSERT_TRUE(c.sources.ldap.has_value());
    const auto& l = *c.sources.ldap;
    EXPECT_EQ(l.url, "ldap://dir.example:389");
    EXPECT_TRUE(l.tls_verify);
    EXPECT_FALSE(l.start_tls);
    EXPECT_EQ(l.source, "urn:ldap:dir.example:389");
    EXPECT_EQ(l.users_filter, "(objectClass=inetOrgPerson)");
    EXPECT_EQ(l.member_attribute, "member");
    EXPECT_EQ(l.attributes.at("jobTitle"), "businessCategory");
    EXPECT_EQ(l.attributes.at("mobile"), "");
    EXPECT_EQ(l.attributes.at("telephoneNumber"), "telephoneNumber|homePhone");
    EXPECT_EQ(l.attributes.at("displayName"), "displayName;lang-de|cn") << "attribute options and OIDs are names too";
    EXPECT_EQ(l.id_attribute, "entryUUID");
    ASSERT_EQ(l.assignments.size(), 1U);
    EXPECT_EQ(l.assignments[0].role, "User");
    EXPECT_EQ(resolve_ldap_password(c, {{"LDAP_PW", "s3cret"}}), "s3cret");
    EXPECT_FALSE(parse_config(kMinimal, "bridge.json", {}).sources.ldap.has_value());
}

TEST(Config, AnLdapSourceThatCannotWorkIsRefusedWithTheField) {
    const std::string base = R"("users":{"base_dn":"ou=people,dc=example"},"groups":{"base_dn":"ou=apps,dc=example"})";
    const std::string assign = R"("assignments":[{"app":"crm","group":"cn=app-crm,ou=apps,dc=example"}])";
    struct Case {
        std::string ldap, field, says;
    };
    const std::vector<Case> cases = {
        {R"({"url":"http://dir",)" + base + "," + assign + "}", "sources.ldap.url", "ldap://"},
        {R"({"url":"ldaps://dir","start_tls":true,)" + base + "," + assign + "}", "sources.ldap.start_tls", "ldaps"},
        {R"({"url":"ldap://dir","password":"x",)" + base + "," + assign + "}", "sources.ldap.password", "inline"},
        {R"({"url":"ldap://dir","bind_dn":"cn=pb",)" + base + "," + assign + "}", "sources.ldap.password_env", "password"},
        {R"({"url":"ldap://dir","groups":{"base_dn":"ou=apps,dc=example"},)" + assign + "}", "sources.ldap.users.base_dn", "required"},
        {R"({"url":"ldap://dir",)" + base + R"(,"assignments":[]})", "sources.ldap.assignments", "at least one"},
        {R"({"url":"ldap://dir",)" + base + R"(,"assignments":[{"app":"hr","group":"cn=x,ou=apps,dc=example"}]})",
         "sources.ldap.assignments[0].app", "no configured app"},
        {R"({"url":"ldap://dir",)" + base + R"(,"assignments":[{"app":"crm","group":"cn=x,ou=elsewhere,dc=example"}]})",
         "sources.ldap.assignments[0].group", "groups.base_dn"},
        {R"({"url":"ldap://dir",)" + base + R"(,"assignments":[{"app":"crm","group":"cn=x,ou=apps,dc=example","role":"U","role_attribute":"r"}]})",
         "sources.ldap.assignments[0].role", "not both"},
        {R"({"url":"ldap://dir","users":{"base_dn":"ou=p","filter":"uid=x"},"groups":{"base_dn":"ou=apps,dc=example"},)" + assign + "}",
         "sources.ldap.users.filter", "RFC 4515"},
        {R"({"url":"ldap://dir","colour":1,)" + base + "," + assign + "}", "sources.ldap.colour", "unknown field"},
        {R"({"url":"ldap://admin:s3cret@dir",)" + base + "," + assign + "}", "sources.ldap.url", "credentials"},
        {R"({"url":"ldap://dir",)" + base + R"(,"assignments":[{"app":"crm","group":"cn=a,ou=apps,dc=example"},{"app":"crm","group":"cn=b,ou=apps,dc=example"}]})",
         "sources.ldap.assignments[1].app", "earlier entry"},
        {R"({"url":"ldap://dir","users":{"base_dn":"ou=p","id_attribute":"distinguishedName"},"groups":{"base_dn":"ou=apps,dc=example"},)" + assign + "}",
         "sources.ldap.users.id_attribute", "rename"},
        {R"({"url":"ldap://dir","attributes":{"mobile":"mobile pager"},)" + base + "," + assign + "}",
         "sources.ldap.attributes.mobile", "a|b"},
        {R"({"url":"ldap://dir","users":{"base_dn":"ou=p","manager_attribute":"manager|boss"},"groups":{"base_dn":"ou=apps,dc=example"},)" + assign + "}",
         "sources.ldap.users.manager_attribute", "one attribute"},
        {R"({"url":"ldap://dir",)" + base + R"(,"assignments":[{"app":"crm","group":"cn=x,ou=apps,dc=example","role_attribute":"a b"}]})",
         "sources.ldap.assignments[0].role_attribute", "one attribute"},
    };
    for (const auto& c : cases) {
        const auto e = expect_error(with_ldap(c.ldap));
        EXPECT_EQ(e.field(), c.field) << c.ldap;
        EXPECT_NE(e.reason().find(c.says), std::string::npos) << e.reason();
        EXPECT_EQ(e.reason().find("s3cret"), std::string::npos) << e.reason();
    }
}

TEST(Config, ErrorNamesFileFieldAndReason) {
    const auto e = expect_error(R"({"apps":[{"id":"a","scim":{"base_url":"ftp://x","token_env":"T"}}]})");
    EXPECT_EQ(e.file(), "bridge.json");
    EXPECT_EQ(e.field(), "apps[0].scim.base_url");
    EXPECT_NE(e.reason().find("http"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).rfind("bridge.json: apps[0].scim.base_url: ", 0), 0U);
}

TEST(Config, InlineTokenIsRefused) {
    const auto e = expect_error(R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token":"s3cr3t"}}]})");
    EXPECT_EQ(e.field(), "apps[0].scim.token");
    EXPECT_NE(e.reason().find("token_env"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("s3cr3t"), std::string::npos);
}

TEST(Config, MissingTokenIsRefused) {
    const auto e = expect_error(R"({"apps":[{"id":"a","scim":{"base_url":"https://x"}}]})");
    EXPECT_EQ(e.field(), "apps[0].scim.token_env");
}

TEST(Config, UnknownFieldIsRefusedNotIgnored) {
    const auto e = expect_error(R"({"kafka":{"bootstrap_server":"x"},"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"}}]})");
    EXPECT_EQ(e.field(), "kafka.bootstrap_server");
    EXPECT_NE(e.reason().find("bootstrap_servers"), std::string::npos);
}

TEST(Config, StructuralErrors) {
    EXPECT_EQ(expect_error("{\"apps\": [}").field(), "(document)");
    EXPECT_EQ(expect_error("{}").field(), "apps");
    EXPECT_EQ(expect_error(R"({"apps":[]})").field(), "apps");
    EXPECT_EQ(expect_error(R"({"apps":[{"id":"a b","scim":{"base_url":"https://x","token_env":"T"}}]})").field(),
              "apps[0].id");
    EXPECT_EQ(expect_error(R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"}},{"id":"a","scim":{"base_url":"https://y","token_env":"T"}}]})").field(),
              "apps[1].id");
    EXPECT_EQ(expect_error(R"({"worker":{"concurrency":0},"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"}}]})").field(),
              "worker.concurrency");
    EXPECT_EQ(expect_error(R"({"worker":{"concurrency":"4"},"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"}}]})").field(),
              "worker.concurrency");
    EXPECT_EQ(expect_error(R"({"kafka":{"topics":{"events":"a b"}},"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"}}]})").field(),
              "kafka.topics.events");
    EXPECT_EQ(expect_error(R"({"redis":{"url":"redis://:pw@host:6379"},"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"}}]})").field(),
              "redis.url");
    EXPECT_EQ(expect_error(R"({"apps":[{"id":"a","unassign_action":"purge","scim":{"base_url":"https://x","token_env":"T"}}]})").field(),
              "apps[0].unassign_action");
}

TEST(Config, MemberBatchDefaultsToAHundredAndIsBounded) {
    EXPECT_EQ(parse_config(kMinimal, "bridge.json", {}).apps[0].member_batch, 100);
    const auto app = [](const std::string& batch) {
        return R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"},"member_batch":)" + batch + "}]}";
    };
    EXPECT_EQ(parse_config(app("25"), "bridge.json", {}).apps[0].member_batch, 25);
    EXPECT_EQ(expect_error(app("0")).field(), "apps[0].member_batch");
    EXPECT_EQ(expect_error(app("5000")).field(), "apps[0].member_batch");
}

TEST(Config, ReferenceTimeoutDefaultsToFifteenMinutesAndIsBounded) {
    EXPECT_EQ(parse_config(kMinimal, "bridge.json", {}).apps[0].reference_timeout_seconds, 900);
    const auto app = [](const std::string& seconds) {
        return R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"},"reference_timeout_seconds":)" +
               seconds + "}]}";
    };
    EXPECT_EQ(parse_config(app("60"), "bridge.json", {}).apps[0].reference_timeout_seconds, 60);
    EXPECT_EQ(expect_error(app("0")).field(), "apps[0].reference_timeout_seconds");
    EXPECT_EQ(expect_error(app("\"soon\"")).field(), "apps[0].reference_timeout_seconds");
}

TEST(Config, ScopeIsAssignedByDefaultOrAll) {
    const auto app = [](const std::string& scope) {
        return R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"},"scope":)" + scope + "}]}";
    };
    EXPECT_EQ(parse_config(kMinimal, "bridge.json", {}).apps[0].scope, SyncScope::Assigned);
    EXPECT_EQ(parse_config(app(R"("all")"), "bridge.json", {}).apps[0].scope, SyncScope::All);
    EXPECT_EQ(parse_config(app(R"("assigned")"), "bridge.json", {}).apps[0].scope, SyncScope::Assigned);
    const auto error = expect_error(app(R"("everyone")"));
    EXPECT_EQ(error.field(), "apps[0].scope");
    EXPECT_NE(std::string(error.what()).find("\"all\""), std::string::npos) << error.what();
}

TEST(Config, RateLimitsDefaultToNoneAndBurstDefaultsToOneSecondsWorth) {
    const Config none = parse_config(kMinimal, "bridge.json", {});
    EXPECT_EQ(none.apps[0].rate_limit.requests_per_second, 0);
    EXPECT_EQ(none.apps[0].rate_limit.burst, 1);
    const auto app = [](const std::string& rate_limit) {
        return R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"},"rate_limit":)" + rate_limit +
               "}]}";
    };
    const Config rate = parse_config(app(R"({"requests_per_second": 20})"), "bridge.json", {});
    EXPECT_EQ(rate.apps[0].rate_limit.requests_per_second, 20);
    EXPECT_EQ(rate.apps[0].rate_limit.burst, 20);
    const Config both = parse_config(app(R"({"requests_per_second": 20, "burst": 5})"), "bridge.json", {});
    EXPECT_EQ(both.apps[0].rate_limit.burst, 5);
    const Config from_env = parse_config(app("{}"), "bridge.json",
                                         {{"PROVBRIDGE__APPS__A__RATE_LIMIT__REQUESTS_PER_SECOND", "7"},
                                          {"PROVBRIDGE__APPS__A__RATE_LIMIT__BURST", "2"}});
    EXPECT_EQ(from_env.apps[0].rate_limit.requests_per_second, 7);
    EXPECT_EQ(from_env.apps[0].rate_limit.burst, 2);

    const auto negative = expect_error(app(R"({"requests_per_second": -1})"));
    EXPECT_EQ(negative.file(), "bridge.json");
    EXPECT_EQ(negative.field(), "apps[0].rate_limit.requests_per_second");
    EXPECT_NE(negative.reason().find("between 0 and"), std::string::npos) << negative.reason();
    EXPECT_EQ(expect_error(app(R"({"requests_per_second": 2.5})")).field(), "apps[0].rate_limit.requests_per_second");
    EXPECT_EQ(expect_error(app(R"({"requests_per_second": 10, "burst": 0})")).field(), "apps[0].rate_limit.burst");
    const auto lonely = expect_error(app(R"({"burst": 5})"));
    EXPECT_EQ(lonely.field(), "apps[0].rate_limit.burst");
    EXPECT_NE(lonely.reason().find("requests_per_second"), std::string::npos) << lonely.reason();
    EXPECT_EQ(expect_error(app(R"({"rps": 5})")).field(), "apps[0].rate_limit.rps");
    EXPECT_EQ(expect_error(app("20")).field(), "apps[0].rate_limit");
}

TEST(Config, EnvironmentOverridesFields) {
    const Environment env{{"PROVBRIDGE__KAFKA__BOOTSTRAP_SERVERS", "broker:9092"},
                          {"PROVBRIDGE__REDIS__URL", "redis://r:7000/1"},
                          {"PROVBRIDGE__WORKER__CONCURRENCY", "8"},
                          {"PROVBRIDGE__APPS__LEAPSOME__SCIM__BASE_URL", "http://127.0.0.1:3999/scim/v2"},
                          {"PROVBRIDGE__APPS__LEAPSOME__SKIP_DEFAULT_ACCESS", "false"},
                          {"UNRELATED", "x"}};
    const Config c = parse_config(kMinimal, "bridge.json", env);
    EXPECT_EQ(c.kafka.bootstrap_servers, "broker:9092");
    EXPECT_EQ(c.redis.port, 7000);
    EXPECT_EQ(c.worker.concurrency, 8);
    EXPECT_EQ(c.apps[0].scim.base_url, "http://127.0.0.1:3999/scim/v2");
    EXPECT_EQ(c.apps[0].skip_default_access, false);
}

TEST(Config, BadEnvironmentOverrideNamesTheVariable) {
    const auto e = expect_error(kMinimal, {{"PROVBRIDGE__WORKER__CONCURRENCY", "many"}});
    EXPECT_EQ(e.field(), "worker.concurrency");
    EXPECT_NE(e.reason().find("PROVBRIDGE__WORKER__CONCURRENCY"), std::string::npos);
    const auto unknown = expect_error(kMinimal, {{"PROVBRIDGE__KAFKA__BOOTSTRAP", "x"}});
    EXPECT_EQ(unknown.field(), "PROVBRIDGE__KAFKA__BOOTSTRAP");
}

TEST(Config, EnvNamesFollowThePath) {
    EXPECT_EQ(env_name_for({"kafka", "group_id"}), "PROVBRIDGE__KAFKA__GROUP_ID");
    EXPECT_EQ(env_name_for({"apps", "my-app.eu", "scim", "base_url"}), "PROVBRIDGE__APPS__MY_APP_EU__SCIM__BASE_URL");
}

TEST(Config, SecretsResolveFromEnvironmentOrFile) {
    const Config c = parse_config(kMinimal, "bridge.json", {});
    EXPECT_EQ(resolve_app_token(c, c.apps[0], {{"LEAPSOME_TOKEN", "tok"}}), "tok");
    try {
        resolve_app_token(c, c.apps[0], {});
        FAIL() << "an unset token must be refused";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.field(), "apps[0].scim.token_env");
        EXPECT_NE(e.reason().find("LEAPSOME_TOKEN"), std::string::npos);
    }
    const std::string path = ::testing::TempDir() + "/provbridge-token";
    {
        std::ofstream(path) << "from-file\n";
    }
    SecretRef ref;
    ref.file = path;
    EXPECT_EQ(resolve_secret(ref, {}, "f", "apps[0].scim.token"), "from-file");
    ref.file = path + ".missing";
    EXPECT_THROW(resolve_secret(ref, {}, "f", "apps[0].scim.token"), ConfigError);
}

TEST(Config, MappingsFileIsReadRelativeToTheConfiguration) {
    const std::string dir = ::testing::TempDir();
    {
        std::ofstream(dir + "/pb-mappings.json") << R"({"users": [{"target": "title", "value": "Staff"}]})";
    }
    const std::string text = R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"},
                                          "mappings_file":"pb-mappings.json"}]})";
    const Config c = parse_config(text, dir + "/bridge.json", {});
    EXPECT_EQ(c.apps[0].mappings.file, dir + "/pb-mappings.json");
    EXPECT_EQ(c.apps[0].mappings.value["users"][0]["value"], "Staff");

    {
        std::ofstream(dir + "/pb-bad-mappings.json") << R"({"users": {"target": "title"}})";
    }
    try {
        parse_config(R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"},
                                  "mappings_file":"pb-bad-mappings.json"}]})",
                     dir + "/bridge.json", {});
        FAIL() << "a mappings file whose users is not a list was accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), dir + "/pb-bad-mappings.json");  // the error names the mappings file
        EXPECT_EQ(e.field(), "users");
    }
    const auto both = expect_error(R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"},
                                               "mappings":{"users":[]},"mappings_file":"x.json"}]})");
    EXPECT_EQ(both.field(), "apps[0].mappings_file");
}

std::string with_kafka(const std::string& kafka) {
    return R"({"kafka":)" + kafka + R"(,"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"}}]})";
}

TEST(KafkaSettings, DefaultsBoundStartAndLossAndUseDynamicMembership) {
    const Config c = parse_config(kMinimal, "bridge.json", {});
    EXPECT_EQ(c.kafka.connect_timeout, std::chrono::milliseconds(30000));
    EXPECT_EQ(c.kafka.lost_timeout, std::chrono::milliseconds(10000));
    EXPECT_EQ(c.kafka.group_instance_id, "");
    EXPECT_TRUE(c.kafka.secret_properties.empty());
}

TEST(KafkaSettings, AreReadAndOverriddenFromTheEnvironment) {
    const Config c = parse_config(with_kafka(R"({"connect_timeout_ms": 2000, "lost_timeout_ms": 5000,
        "group_instance_id": "worker-0", "properties": {"security.protocol": "sasl_ssl", "sasl.mechanisms": "PLAIN"},
        "secret_properties": {"sasl.password": {"env": "KAFKA_PASSWORD"}, "ssl.key.password": {"file": "/run/secrets/k"}}})"),
                                  "bridge.json", {{"PROVBRIDGE__KAFKA__GROUP_INSTANCE_ID", "worker-7"}});
    EXPECT_EQ(c.kafka.connect_timeout, std::chrono::milliseconds(2000));
    EXPECT_EQ(c.kafka.lost_timeout, std::chrono::milliseconds(5000));
    EXPECT_EQ(c.kafka.group_instance_id, "worker-7");  // the environment names each worker
    ASSERT_EQ(c.kafka.secret_properties.size(), 2U);
    EXPECT_EQ(c.kafka.secret_properties.at("sasl.password").env, "KAFKA_PASSWORD");
    EXPECT_EQ(c.kafka.secret_properties.at("ssl.key.password").file, "/run/secrets/k");
    EXPECT_EQ(c.kafka.properties.at("sasl.mechanisms"), "PLAIN");
}

TEST(KafkaSettings, BadValuesNameTheirField) {
    EXPECT_EQ(expect_error(with_kafka(R"({"connect_timeout_ms": 0})")).field(), "kafka.connect_timeout_ms");
    EXPECT_EQ(expect_error(with_kafka(R"({"lost_timeout_ms": 10})")).field(), "kafka.lost_timeout_ms");
    EXPECT_EQ(expect_error(with_kafka(R"({"lost_timeout_ms": "soon"})")).field(), "kafka.lost_timeout_ms");
    EXPECT_EQ(expect_error(with_kafka(R"({"group_instance_id": "two words"})")).field(), "kafka.group_instance_id");
    EXPECT_EQ(expect_error(with_kafka(R"({"consumer_properties": {"group.instance.id": "w"}})")).field(),
              "kafka.consumer_properties.group.instance.id");
    const auto env = expect_error(kMinimal, {{"PROVBRIDGE__KAFKA__CONNECT_TIMEOUT_MS", "soon"}});
    EXPECT_EQ(env.field(), "kafka.connect_timeout_ms");
    EXPECT_NE(env.reason().find("PROVBRIDGE__KAFKA__CONNECT_TIMEOUT_MS"), std::string::npos) << env.reason();
}

TEST(KafkaSettings, InlineSecretsAreRefusedWherePointingToSecretProperties) {
    for (const std::string section : {"properties", "consumer_properties", "producer_properties"}) {
        for (const std::string name : {"sasl.password", "ssl.key.password", "ssl.keystore.password",
                                       "sasl.oauthbearer.client.secret", "ssl.key.pem", "sasl.jaas.config",
                                       "some.future.password"}) {
            const auto e = expect_error(with_kafka(R"({")" + section + R"(": {")" + name + R"(": "hunter2"}})"));
            EXPECT_EQ(e.field(), "kafka." + section + "." + name);
            EXPECT_NE(e.reason().find("kafka.secret_properties"), std::string::npos) << e.reason();
            EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << "the secret is repeated";
        }
    }
    EXPECT_FALSE(is_secret_kafka_property("sasl.username"));
    EXPECT_FALSE(is_secret_kafka_property("ssl.key.location"));  // a path, not the key
    EXPECT_TRUE(is_secret_kafka_property("SASL.PASSWORD"));
}

TEST(KafkaSettings, SecretPropertiesMustNameOneSource) {
    const auto field = [](const std::string& secrets) {
        return expect_error(with_kafka(R"({"secret_properties": )" + secrets + "}")).field();
    };
    EXPECT_EQ(field(R"({"sasl.password": "hunter2"})"), "kafka.secret_properties.sasl.password");
    EXPECT_EQ(field(R"({"sasl.password": {}})"), "kafka.secret_properties.sasl.password");
    EXPECT_EQ(field(R"({"sasl.password": {"env": "A", "file": "/b"}})"), "kafka.secret_properties.sasl.password");
    EXPECT_EQ(field(R"({"sasl.password": {"value": "hunter2"}})"), "kafka.secret_properties.sasl.password.value");
    EXPECT_EQ(field(R"({"sasl.password": {"env": ""}})"), "kafka.secret_properties.sasl.password.env");
    EXPECT_EQ(field(R"({"bootstrap.servers": {"env": "B"}})"), "kafka.secret_properties.bootstrap.servers");
    EXPECT_EQ(expect_error(with_kafka(R"({"properties": {"sasl.username": "u"},
                                          "secret_properties": {"sasl.username": {"env": "U"}}})"))
                  .field(),
              "kafka.secret_properties.sasl.username");
}

TEST(KafkaSettings, SecretsResolveAtStartNamingTheField) {
    const std::string dir = ::testing::TempDir();
    {
        std::ofstream(dir + "/pb-kafka-key") << "key-pass\n";
    }
    const Config c = parse_config(with_kafka(R"({"secret_properties": {"sasl.password": {"env": "KAFKA_PASSWORD"},
                                                  "ssl.key.password": {"file": ")" + dir + R"(/pb-kafka-key"}}})"),
                                  "bridge.json", {});
    const auto secrets = resolve_kafka_secrets(c, {{"KAFKA_PASSWORD", "pw-1"}});
    EXPECT_EQ(secrets.at("sasl.password"), "pw-1");
    EXPECT_EQ(secrets.at("ssl.key.password"), "key-pass");  // trailing newline trimmed
    try {
        resolve_kafka_secrets(c, {});
        FAIL() << "an unset variable was accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), "bridge.json");
        EXPECT_EQ(e.field(), "kafka.secret_properties.sasl.password.env");
        EXPECT_NE(e.reason().find("KAFKA_PASSWORD"), std::string::npos) << e.reason();
    }
}

TEST(DeletionThresholdSettings, DefaultToEntrasFiveHundredPerHour) {
    const Config c = parse_config(kMinimal, "bridge.json", {});
    EXPECT_EQ(c.apps[0].deletion_threshold.max_operations, 500);
    EXPECT_EQ(c.apps[0].deletion_threshold.window, std::chrono::minutes(60));
    EXPECT_EQ(c.apps[0].deletion_threshold.max_percent, 0);
    EXPECT_TRUE(c.apps[0].deletion_threshold.enabled());
}

TEST(DeletionThresholdSettings, AShareOfTheLinkedAccountsIsAPercentage) {
    const Config c = parse_config(R"({"apps":[
        {"id":"a","deletion_threshold":{"max_operations":0,"max_percent":10},"scim":{"base_url":"https://x","token_env":"T"}},
        {"id":"b","deletion_threshold":{"max_percent":0},"scim":{"base_url":"https://y","token_env":"T"}}]})",
                                  "bridge.json", {{"PROVBRIDGE__APPS__B__DELETION_THRESHOLD__MAX_PERCENT", "25"}});
    EXPECT_EQ(c.apps[0].deletion_threshold.max_percent, 10);
    EXPECT_TRUE(c.apps[0].deletion_threshold.enabled()) << "the relative limit alone keeps the threshold on";
    EXPECT_EQ(c.apps[1].deletion_threshold.max_percent, 25);
    EXPECT_EQ(c.apps[1].deletion_threshold.max_operations, 500);
    for (const char* bad : {"101", "-1", "7.5", "\"10%\""}) {
        const auto error = expect_error(std::string(R"({"apps":[{"id":"a","deletion_threshold":{"max_percent":)") + bad +
                                        R"(},"scim":{"base_url":"https://x","token_env":"T"}}]})");
        EXPECT_EQ(error.file(), "bridge.json") << bad;
        EXPECT_EQ(error.field(), "apps[0].deletion_threshold.max_percent") << bad;
        EXPECT_FALSE(error.reason().empty()) << bad;
    }
    EXPECT_NE(expect_error(R"({"apps":[{"id":"a","deletion_threshold":{"max_percent":150},"scim":{"base_url":"https://x","token_env":"T"}}]})")
                  .reason()
                  .find("between 0 and 100"),
              std::string::npos);
}

TEST(DeletionThresholdSettings, AreReadPerAppAndOverriddenFromTheEnvironment) {
    const Config c = parse_config(R"({"apps":[
        {"id":"a","deletion_threshold":{"max_operations":5,"window_minutes":15},"scim":{"base_url":"https://x","token_env":"T"}},
        {"id":"b","deletion_threshold":{"max_operations":0},"scim":{"base_url":"https://y","token_env":"T"}}]})",
                                  "bridge.json", {{"PROVBRIDGE__APPS__A__DELETION_THRESHOLD__WINDOW_MINUTES", "120"}});
    EXPECT_EQ(c.apps[0].deletion_threshold.max_operations, 5);
    EXPECT_EQ(c.apps[0].deletion_threshold.window, std::chrono::minutes(120));
    EXPECT_FALSE(c.apps[1].deletion_threshold.enabled());
    EXPECT_EQ(c.apps[1].deletion_threshold.window, std::chrono::minutes(60));
}

TEST(DeletionThresholdSettings, BadValuesNameTheirField) {
    const auto negative = expect_error(
        R"({"apps":[{"id":"a","deletion_threshold":{"max_operations":-1},"scim":{"base_url":"https://x","token_env":"T"}}]})");
    EXPECT_EQ(negative.field(), "apps[0].deletion_threshold.max_operations");
    EXPECT_NE(negative.reason().find("between 0 and"), std::string::npos) << negative.reason();
    EXPECT_EQ(expect_error(R"({"apps":[{"id":"a","deletion_threshold":{"window_minutes":0},"scim":{"base_url":"https://x","token_env":"T"}}]})")
                  .field(),
              "apps[0].deletion_threshold.window_minutes");
    EXPECT_EQ(expect_error(R"({"apps":[{"id":"a","deletion_threshold":{"max":5},"scim":{"base_url":"https://x","token_env":"T"}}]})")
                  .field(),
              "apps[0].deletion_threshold.max");
    EXPECT_EQ(expect_error(R"({"apps":[{"id":"a","deletion_threshold":5,"scim":{"base_url":"https://x","token_env":"T"}}]})")
                  .field(),
              "apps[0].deletion_threshold");
}

TEST(Config, MissingFileIsAClearError) {
    try {
        load_config("/nonexistent/bridge.json", {});
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), "/nonexistent/bridge.json");
        EXPECT_NE(e.reason().find("cannot be read"), std::string::npos);
    }
}

TEST(Config, TheRetryLeaseOfAConfigBuiltInCodeIsTheDefaultNotZero) {
    Config config;  // as the demo builds it: never parsed, so retry.lease is unset
    EXPECT_EQ(effective_retry_lease(config), std::chrono::milliseconds(10000));
    AppConfig slow;
    slow.scim.connect_timeout = std::chrono::milliseconds(2000);
    slow.scim.timeout = std::chrono::milliseconds(10000);
    config.apps.push_back(slow);
    EXPECT_EQ(effective_retry_lease(config), std::chrono::milliseconds(48000)) << "4 x (connect + timeout)";
    config.retry.lease = std::chrono::milliseconds(70000);
    EXPECT_EQ(effective_retry_lease(config), std::chrono::milliseconds(70000));
    // A parsed file gets the same value.
    const auto parsed = parse_config(R"({"apps": [{"id": "a", "scim": {"base_url": "http://127.0.0.1:1/scim/v2",
        "token_env": "T", "connect_timeout_ms": 2000, "timeout_ms": 10000}}]})", "bridge.json", Environment{});
    EXPECT_EQ(parsed.retry.lease, std::chrono::milliseconds(48000));
}

}  // namespace
}  // namespace provbridge
