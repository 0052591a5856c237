// The ops server's pure parts: the bearer check, content types, metric status classes, and the
// ops section of the configuration.
#include <gtest/gtest.h>

#include "provbridge/core/config.hpp"
#include "provbridge/ops/metrics.hpp"
#include "provbridge/ops/ops_server.hpp"

namespace provbridge {
namespace {

using ops::check_bearer;

TEST(OpsBearer, NoBearerCredentialsAre401) {
    EXPECT_EQ(check_bearer("", "t0ken"), 401);
    EXPECT_EQ(check_bearer("Basic dXNlcjpwYXNz", "t0ken"), 401);
    EXPECT_EQ(check_bearer("Bearer", "t0ken"), 401);
    EXPECT_EQ(check_bearer("Bearer ", "t0ken"), 401);
    EXPECT_EQ(check_bearer("Bearer    ", "t0ken"), 401);
}

TEST(OpsBearer, TheRightTokenPassesWhateverTheSchemeCase) {
    EXPECT_EQ(check_bearer("Bearer t0ken", "t0ken"), 200);
    EXPECT_EQ(check_bearer("bearer t0ken", "t0ken"), 200);
    EXPECT_EQ(check_bearer("BEARER  t0ken", "t0ken"), 200);
}

TEST(OpsBearer, AWrongTokenOrNoneConfiguredIs403) {
    EXPECT_EQ(check_bearer("Bearer t0ke", "t0ken"), 403);    // a prefix
    EXPECT_EQ(check_bearer("Bearer t0kenx", "t0ken"), 403);  // longer
    EXPECT_EQ(check_bearer("Bearer t0keN", "t0ken"), 403);   // case matters in the token
    EXPECT_EQ(check_bearer("Bearer t0ken t0ken", "t0ken"), 403);
    EXPECT_EQ(check_bearer("Bearer anything", ""), 403);     // mutations disabled
}

TEST(OpsServerAssets, ContentTypesByExtension) {
    EXPECT_EQ(ops::content_type_of("index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(ops::content_type_of("app.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(ops::content_type_of("style.css"), "text/css; charset=utf-8");
    EXPECT_EQ(ops::content_type_of("blob"), "application/octet-stream");
}

TEST(OpsMetrics, StatusClassesOfResponses) {
    ScimResponse r;
    r.status = 201;
    EXPECT_EQ(ops::OpsMetrics::status_class(r), "2xx");
    r.status = 429;
    EXPECT_EQ(ops::OpsMetrics::status_class(r), "4xx");
    r.status = 503;
    EXPECT_EQ(ops::OpsMetrics::status_class(r), "5xx");
    r.transport = TransportStatus::Timeout;
    r.status = 0;
    EXPECT_EQ(ops::OpsMetrics::status_class(r), "transport");
}

constexpr const char* kApps = R"("apps": [{"id": "a", "scim": {"base_url": "https://x", "token_env": "T"}}])";

Config parse(const std::string& ops_section, const Environment& env = {}) {
    return parse_config("{" + ops_section + kApps + "}", "bridge.json", env);
}

ConfigError refused(const std::string& ops_section) {
    try {
        (void)parse(ops_section);
    } catch (const ConfigError& e) {
        return e;
    }
    ADD_FAILURE() << "accepted: " << ops_section;
    return ConfigError("", "", "");
}

TEST(OpsConfig, DefaultsToLoopbackWithNoToken) {
    const auto c = parse("");
    EXPECT_TRUE(c.ops.enabled);
    EXPECT_EQ(c.ops.host, "127.0.0.1");
    EXPECT_EQ(c.ops.port, 9740);
    EXPECT_TRUE(c.ops.token.empty());
    EXPECT_EQ(resolve_ops_token(c, {}), "");
}

TEST(OpsConfig, ListenOffAnyPortIPv6AndTheToken) {
    EXPECT_FALSE(parse(R"("ops": {"listen": "off"},)").ops.enabled);
    const auto any = parse(R"("ops": {"listen": "0.0.0.0:0", "token_env": "OPS_TOKEN"},)");
    EXPECT_EQ(any.ops.host, "0.0.0.0");
    EXPECT_EQ(any.ops.port, 0);
    EXPECT_EQ(resolve_ops_token(any, {{"OPS_TOKEN", "s3cret"}}), "s3cret");
    const auto v6 = parse(R"("ops": {"listen": "[::1]:9000"},)");
    EXPECT_EQ(v6.ops.host, "::1");
    EXPECT_EQ(v6.ops.listen_text(), "[::1]:9000");
    // From the environment, like every field.
    EXPECT_EQ(parse("", {{"PROVBRIDGE__OPS__LISTEN", "127.0.0.1:9999"}}).ops.port, 9999);
}

TEST(OpsConfig, BadValuesAreRefusedWithTheirField) {
    EXPECT_EQ(refused(R"("ops": {"listen": "9740"},)").field(), "ops.listen");
    EXPECT_EQ(refused(R"("ops": {"listen": "127.0.0.1:70000"},)").field(), "ops.listen");
    EXPECT_EQ(refused(R"("ops": {"lisen": "127.0.0.1:1"},)").field(), "ops.lisen");
    const auto inline_token = refused(R"("ops": {"token": "s3cret"},)");
    EXPECT_EQ(inline_token.field(), "ops.token");
    EXPECT_EQ(std::string(inline_token.what()).find("s3cret"), std::string::npos);
    EXPECT_EQ(refused(R"("ops": {"token_env": "A", "token_file": "/b"},)").field(), "ops.token_env");
    // An unset token variable is refused when it is resolved (at start).
    const auto c = parse(R"("ops": {"token_env": "OPS_UNSET"},)");
    try {
        (void)resolve_ops_token(c, {});
        ADD_FAILURE() << "an unset token was resolved";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.field(), "ops.token_env");
    }
}

TEST(NotificationsConfig, EmailAndWebhookAreReadWithTheirSecretsFromOutside) {
    const auto c = parse(R"("notifications": {
        "email": {"smtp_url": "smtp://mail.contoso.example:587", "from": "pb@contoso.example",
                  "to": ["ops@contoso.example"], "username": "pb", "password_env": "SMTP_PASSWORD"},
        "webhook": {"url": "https://hooks.contoso.example/pb", "token_env": "HOOK_TOKEN"}},)");
    ASSERT_TRUE(c.notifications.email.has_value());
    EXPECT_EQ(c.notifications.email->to, std::vector<std::string>{"ops@contoso.example"});
    ASSERT_TRUE(c.notifications.webhook.has_value());
    EXPECT_EQ(c.notifications.webhook->token.env, "HOOK_TOKEN");
    const auto secrets = resolve_notification_secrets(c, {{"SMTP_PASSWORD", "pw"}, {"HOOK_TOKEN", "tk"}});
    EXPECT_EQ(secrets.smtp_password, "pw");
    EXPECT_EQ(secrets.webhook_token, "tk");
    EXPECT_FALSE(parse("").notifications.any());
}

TEST(NotificationsConfig, BadChannelsAreRefusedWithTheirField) {
    EXPECT_EQ(refused(R"("notifications": {"email": {"smtp_url": "http://x", "from": "a@b.c", "to": ["d@e.f"]}},)")
                  .field(),
              "notifications.email.smtp_url");
    EXPECT_EQ(refused(R"("notifications": {"email": {"smtp_url": "smtp://x:25", "from": "a@b.c", "to": []}},)")
                  .field(),
              "notifications.email.to");
    EXPECT_EQ(refused(R"("notifications": {"email": {"smtp_url": "smtp://x:25", "from": "nobody", "to": ["d@e.f"]}},)")
                  .field(),
              "notifications.email.from");
    const auto inline_password = refused(
        R"("notifications": {"email": {"smtp_url": "smtp://x:25", "from": "a@b.c", "to": ["d@e.f"], "password": "hunter2"}},)");
    EXPECT_EQ(inline_password.field(), "notifications.email.password");
    EXPECT_EQ(std::string(inline_password.what()).find("hunter2"), std::string::npos);
    EXPECT_EQ(refused(R"("notifications": {"webhook": {"url": "https://user:pw@x/"}},)").field(),
              "notifications.webhook.url");
    EXPECT_EQ(refused(R"("notifications": {"slack": {}},)").field(), "notifications.slack");
}

}  // namespace
}  // namespace provbridge
