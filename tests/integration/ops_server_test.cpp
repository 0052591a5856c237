// The ops HTTP server of `provbridge run` and `provbridge dashboard`, against the real parts:
// health and readiness, /metrics scraped and parsed as Prometheus text, the JSON API against what
// Redis holds, the bearer token on the mutating endpoints, a replay from the API, and the
// dashboard driven in headless Chromium.
#include <gtest/gtest.h>

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "browser_check.hpp"
#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/minute_stats.hpp"
#include "provbridge/ops/process.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kApp = "app";
constexpr const char* kSource = "urn:directory:ops";

std::int64_t wall_now_minute() {
    return std::chrono::duration_cast<std::chrono::minutes>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json user_event(const std::string& id, const std::string& user, std::int64_t version = 1) {
    return {{"specversion", "1.0"},
            {"id", id},
            {"source", kSource},
            {"type", "provisioning.user.assigned"},
            {"data",
             {{"app", kApp},
              {"object",
               {{"type", "user"},
                {"id", user},
                {"version", version},
                {"attributes",
                 {{"userPrincipalName", user + "@contoso.example"}, {"mail", user + "@contoso.example"},
                  {"mailNickname", user}, {"givenName", user}, {"surname", "Tester"},
                  {"displayName", user + " Tester"}, {"accountEnabled", true}}}}},
              {"assignment", {{"role", "User"}}}}}};
}

// The directory disabled the user (version 2): a user.updated with accountEnabled false.
json disabled_update(const std::string& id, const std::string& user, const std::string& display_name) {
    auto event = user_event(id, user, 2);
    event["type"] = "provisioning.user.updated";
    event["data"].erase("assignment");
    event["data"]["object"]["attributes"]["accountEnabled"] = false;
    event["data"]["object"]["attributes"]["displayName"] = display_name;
    return event;
}

// host and port of "http://host:port/".
std::pair<std::string, int> host_port(const std::string& url) {
    static const std::regex re(R"(^http://([^:/]+):([0-9]+)/$)");
    std::smatch m;
    EXPECT_TRUE(std::regex_match(url, m, re)) << url;
    if (m.empty()) return {"127.0.0.1", 0};
    return {m[1].str(), std::stoi(m[2].str())};
}

// One sample of a scrape: name, labels, value.
struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

// Parses the Prometheus text exposition format (0.0.4) strictly: every sample's family has its
// HELP and TYPE first, names and labels are well formed, values are numbers. A failure names the
// line.
std::vector<Sample> parse_prometheus(const std::string& text) {
    static const std::regex help_re(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
    static const std::regex type_re(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    static const std::regex sample_re(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? ([^ ]+)( [0-9]+)?$)");
    static const std::regex label_re(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)\"(,|$))");
    std::vector<Sample> out;
    std::map<std::string, std::string> types;
    std::set<std::string> helped;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty()) continue;
        std::smatch m;
        if (line.rfind("# HELP ", 0) == 0) {
            EXPECT_TRUE(std::regex_match(line, m, help_re)) << "line " << n << ": " << line;
            if (!m.empty()) helped.insert(m[1].str());
            continue;
        }
        if (line.rfind("# TYPE ", 0) == 0) {
            EXPECT_TRUE(std::regex_match(line, m, type_re)) << "line " << n << ": " << line;
            if (!m.empty()) types[m[1].str()] = m[2].str();
            continue;
        }
        EXPECT_NE(line[0], '#') << "line " << n << ": an unknown comment: " << line;
        if (!std::regex_match(line, m, sample_re)) {
            ADD_FAILURE() << "line " << n << " is not a sample: " << line;
            continue;
        }
        Sample s;
        s.name = m[1].str();
        std::string family = s.name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            const std::string sfx(suffix);
            if (family.size() > sfx.size() && family.compare(family.size() - sfx.size(), sfx.size(), sfx) == 0 &&
                types.count(family.substr(0, family.size() - sfx.size())) &&
                types[family.substr(0, family.size() - sfx.size())] == "histogram") {
                family = family.substr(0, family.size() - sfx.size());
            }
        }
        EXPECT_TRUE(types.count(family) && helped.count(family)) << "line " << n << ": no HELP/TYPE before " << line;
        const std::string labels = m[3].str();
        std::size_t consumed = 0;
        for (std::sregex_iterator it(labels.begin(), labels.end(), label_re), end; it != end; ++it) {
            EXPECT_EQ(static_cast<std::size_t>(it->position()), consumed) << "line " << n << ": bad labels: " << line;
            consumed = static_cast<std::size_t>(it->position() + it->length());
            s.labels[(*it)[1].str()] = (*it)[2].str();
        }
        EXPECT_EQ(consumed, labels.size()) << "line " << n << ": bad labels: " << line;
        const std::string value = m[4].str();
        if (value == "+Inf") {
            s.value = std::numeric_limits<double>::infinity();
        } else if (value == "NaN") {
            s.value = std::numeric_limits<double>::quiet_NaN();
        } else {
            std::size_t used = 0;
            try {
                s.value = std::stod(value, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            EXPECT_EQ(used, value.size()) << "line " << n << ": the value is not a number: " << line;
        }
        out.push_back(std::move(s));
    }
    return out;
}

double sample_value(const std::vector<Sample>& samples, const std::string& name,
                    const std::map<std::string, std::string>& labels) {
    for (const auto& s : samples) {
        if (s.name != name) continue;
        bool all = true;
        for (const auto& [k, v] : labels) all = all && s.labels.count(k) && s.labels.at(k) == v;
        if (all) return s.value;
    }
    ADD_FAILURE() << "no sample " << name << " with the labels asked";
    return -1;
}

class OpsServerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        BridgeHarness::Options options;
        options.app = kApp;
        options.group = "ops";
        options.partitions = 3;
        bridge_ = std::make_unique<BridgeHarness>(options);
        worker_ = bridge_->start_worker(false, "error");
        url_ = BridgeHarness::wait_ops_url(*worker_);
    }
    static void TearDownTestSuite() {
        if (worker_) worker_->stop(30s);
        worker_.reset();
        bridge_.reset();
    }

    BridgeHarness& bridge() { return *bridge_; }
    consumers::ProvisioningLogReader& reader() { return bridge_->reader(); }

    static httplib::Client client(const std::string& url = url_) {
        const auto [host, port] = host_port(url);
        httplib::Client c(host, port);
        c.set_read_timeout(60, 0);
        return c;
    }

    static json get_json(const std::string& path, int expected = 200, const std::string& url = url_) {
        auto c = client(url);
        auto res = c.Get(path.c_str());
        EXPECT_TRUE(res) << path << ": " << httplib::to_string(res.error());
        if (!res) return nullptr;
        EXPECT_EQ(res->status, expected) << path << ": " << res->body;
        EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << path;
        auto doc = json::parse(res->body, nullptr, false);
        EXPECT_FALSE(doc.is_discarded()) << res->body;
        return doc;
    }

    static httplib::Result post(const std::string& path, const std::string& authorization = {},
                                const std::string& body = {}, const std::string& url = url_) {
        auto c = client(url);
        httplib::Headers headers;
        if (!authorization.empty()) headers.emplace("Authorization", authorization);
        return c.Post(path.c_str(), headers, body, "application/json");
    }

    OutcomeRecord wait_outcome(const std::string& event_id) { return bridge_->wait_outcome(kSource, event_id); }

    // A dead letter for a new user: the target refuses its create once (400); its index entry id.
    std::string refused_create(const std::string& event_id, const std::string& user) {
        bridge().admin(HttpMethod::Post, "/_admin/faults", {},
                       json{{"status", 400}, {"count", 1}, {"match", "POST /Users"}, {"scimType", "invalidValue"},
                            {"detail", "title is too long"}});
        bridge().send_event(user_event(event_id, user));
        const auto out = wait_outcome(event_id);
        EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
        auto all = reader().all_dead_letters(kApp);
        EXPECT_TRUE(all.ok());
        if (all.ok()) {
            for (auto& e : *all) {
                if (e.fields["event_id"] == event_id) return e.id;
            }
        }
        ADD_FAILURE() << "no dead-letter entry for " << event_id;
        return {};
    }

    std::string config_with(const std::string& name, const json& patch) {
        std::ifstream in(bridge().config_path());
        json doc = json::parse(in);
        doc.merge_patch(patch);
        const std::string path = dir_.path() + "/" + name;
        std::ofstream(path) << doc.dump(2);
        return path;
    }

    static std::unique_ptr<BridgeHarness> bridge_;
    static std::unique_ptr<ops::ChildProcess> worker_;
    static std::string url_;
    ops::TempDir dir_{"provbridge-ops-"};
};

std::unique_ptr<BridgeHarness> OpsServerTest::bridge_;
std::unique_ptr<ops::ChildProcess> OpsServerTest::worker_;
std::string OpsServerTest::url_;

TEST_F(OpsServerTest, HealthAndReadinessAnswerOnLoopback) {
    EXPECT_EQ(host_port(url_).first, "127.0.0.1") << "bound beyond loopback by default: " << url_;
    // An outcome: the worker is consuming, so it is ready.
    bridge().send_event(user_event("h1", "health-user"));
    ASSERT_EQ(wait_outcome("h1").status, OutcomeStatus::Applied);
    auto c = client();
    auto health = c.Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(health->body, "ok\n");
    auto ready = c.Get("/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200) << ready->body;
    auto unknown = c.Get("/api/v1/nothing-here");
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 404);
    EXPECT_NE(unknown->body.find("\"error\""), std::string::npos) << unknown->body;
}

TEST_F(OpsServerTest, MetricsAreValidPrometheusTextWithTheAppsNumbersAndNoUserInThem) {
    bridge().send_event(user_event("m1", "metrics-user-one"));
    bridge().send_event(user_event("m2", "metrics-user-two"));
    ASSERT_EQ(wait_outcome("m1").status, OutcomeStatus::Applied);
    ASSERT_EQ(wait_outcome("m2").status, OutcomeStatus::Applied);
    const std::string entry = refused_create("m3", "metrics-user-three");
    ASSERT_FALSE(entry.empty());

    auto c = client();
    auto res = c.Get("/metrics");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u)
        << res->get_header_value("Content-Type");
    const auto samples = parse_prometheus(res->body);
    ASSERT_FALSE(samples.empty());

    EXPECT_EQ(sample_value(samples, "provbridge_build_info", {}), 1);
    auto stats = reader().stats(kApp);
    ASSERT_TRUE(stats.ok());
    const auto counted = [&](const char* name) { return stats->count(name) ? stats->at(name) : 0; };
    EXPECT_EQ(sample_value(samples, "provbridge_events_total", {{"app", kApp}, {"outcome", "applied"}}),
              counted("created") + counted("updated") + counted("linked"));
    EXPECT_EQ(sample_value(samples, "provbridge_events_total", {{"app", kApp}, {"outcome", "dead_lettered"}}),
              counted("dead_lettered"));
    EXPECT_GE(counted("dead_lettered"), 1);
    EXPECT_GE(sample_value(samples, "provbridge_scim_requests_total",
                           {{"app", kApp}, {"method", "POST"}, {"status_class", "2xx"}}),
              2);
    EXPECT_GE(sample_value(samples, "provbridge_scim_requests_total",
                           {{"app", kApp}, {"method", "POST"}, {"status_class", "4xx"}}),
              1);
    // A histogram: the +Inf bucket holds every observation, buckets never decrease.
    const double count = sample_value(samples, "provbridge_scim_request_duration_seconds_count",
                                      {{"app", kApp}, {"method", "POST"}});
    EXPECT_EQ(sample_value(samples, "provbridge_scim_request_duration_seconds_bucket",
                           {{"app", kApp}, {"method", "POST"}, {"le", "+Inf"}}),
              count);
    double previous = 0;
    for (const auto& s : samples) {
        if (s.name != "provbridge_scim_request_duration_seconds_bucket" || s.labels.at("method") != "POST") continue;
        EXPECT_GE(s.value, previous) << s.labels.at("le");
        previous = s.value;
    }
    auto depths = reader().depths(kApp);
    ASSERT_TRUE(depths.ok());
    EXPECT_EQ(sample_value(samples, "provbridge_dlq_depth", {{"app", kApp}}), depths->dead_letters);
    EXPECT_EQ(sample_value(samples, "provbridge_retry_queue_depth", {{"app", kApp}}), depths->due_heads);
    EXPECT_EQ(sample_value(samples, "provbridge_quarantined", {{"app", kApp}}), 0);
    for (int p = 0; p < 3; ++p) {
        EXPECT_GE(sample_value(samples, "provbridge_consumer_lag",
                               {{"topic", BridgeHarness::kTopic}, {"partition", std::to_string(p)}}),
                  0);
    }
    EXPECT_EQ(sample_value(samples, "provbridge_scrape_errors", {}), 0);
    // No label names a user, an object or a secret.
    for (const auto& needle : {std::string("metrics-user"), std::string("contoso"), bridge().token(),
                               bridge().ops_token()}) {
        EXPECT_EQ(res->body.find(needle), std::string::npos) << needle << " is in the scrape";
    }
    const std::set<std::string> allowed{"app", "outcome", "method", "status_class", "le", "topic", "partition",
                                        "version"};
    for (const auto& s : samples) {
        for (const auto& [k, v] : s.labels) EXPECT_TRUE(allowed.count(k)) << s.name << " has the label " << k;
    }
}

TEST_F(OpsServerTest, MutatingEndpointsNeedTheBearerToken) {
    const std::string base = std::string("/api/v1/apps/") + kApp;
    const std::vector<std::string> paths = {base + "/dlq/1-0/replay", base + "/quarantine/clear",
                                            base + "/deletes/allow", base + "/deletes/discard"};
    for (const auto& path : paths) {
        auto none = post(path);
        ASSERT_TRUE(none) << path;
        EXPECT_EQ(none->status, 401) << path << ": " << none->body;
        EXPECT_EQ(none->get_header_value("WWW-Authenticate").rfind("Bearer", 0), 0u) << path;
        auto basic = post(path, "Basic YWRtaW46YWRtaW4=");
        ASSERT_TRUE(basic);
        EXPECT_EQ(basic->status, 401) << path;
        auto wrong = post(path, "Bearer " + bridge().ops_token() + "x");
        ASSERT_TRUE(wrong);
        EXPECT_EQ(wrong->status, 403) << path << ": " << wrong->body;
        auto prefix = post(path, "Bearer " + bridge().ops_token().substr(0, 4));
        ASSERT_TRUE(prefix);
        EXPECT_EQ(prefix->status, 403) << path;
        EXPECT_EQ(wrong->body.find(bridge().ops_token()), std::string::npos) << "the token is in the answer";
    }
    const std::string bearer = "Bearer " + bridge().ops_token();
    auto replay = post(paths[0], bearer);
    ASSERT_TRUE(replay);
    EXPECT_EQ(replay->status, 404) << replay->body;  // authorised, but there is no such entry
    auto clear = post(paths[1], bearer);
    ASSERT_TRUE(clear);
    EXPECT_EQ(clear->status, 200) << clear->body;
    EXPECT_EQ(json::parse(clear->body)["lifted"], false) << clear->body;
    auto allow = post(paths[2], bearer, R"({"object":"user/nobody"})");
    ASSERT_TRUE(allow);
    EXPECT_EQ(allow->status, 200) << allow->body;
    EXPECT_EQ(json::parse(allow->body)["released"], json::array()) << allow->body;
    auto bad = post(paths[3], bearer, R"({"object":"nobody"})");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400) << bad->body;
    auto unknown = post("/api/v1/apps/elsewhere/quarantine/clear", bearer);
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 404) << unknown->body;
}

TEST_F(OpsServerTest, TheJsonApiShowsWhatRedisHoldsAndWhatStatusPrints) {
    bridge().send_event(user_event("j1", "json-user-one"));
    ASSERT_EQ(wait_outcome("j1").status, OutcomeStatus::Applied);
    const std::string entry = refused_create("j2", "json-user-two");
    ASSERT_FALSE(entry.empty());

    const auto fleet = get_json("/api/v1/apps");
    ASSERT_EQ(fleet["apps"].size(), 1u) << fleet.dump();
    const auto& row = fleet["apps"][0];
    auto depths = reader().depths(kApp);
    ASSERT_TRUE(depths.ok());
    EXPECT_EQ(row["app"], kApp);
    // Too few events (under 10) to call it degraded.
    EXPECT_EQ(row["state"], "healthy") << row.dump();
    auto minutes = reader().minutes(kApp, wall_now_minute() - 4, wall_now_minute());
    ASSERT_TRUE(minutes.ok());
    const auto window = sum_minutes(*minutes);
    EXPECT_GE(window.events, 2);
    EXPECT_EQ(row["events"], window.events);
    EXPECT_EQ(row["failed"], window.dead_lettered);
    EXPECT_GE(window.dead_lettered, 1);
    EXPECT_EQ(row["dlq"], depths->dead_letters);
    EXPECT_EQ(row["parked"], depths->waiting_events);
    EXPECT_FALSE(row["last_success"].is_null());
    EXPECT_FALSE(row["latency_p50_ms"].is_null());
    EXPECT_TRUE(fleet["mutations_enabled"].get<bool>());
    EXPECT_TRUE(fleet["lag"].is_array()) << fleet.dump();
    EXPECT_EQ(fleet["lag"].size(), 3u);
    EXPECT_EQ(fleet["unrouted_dlq"], 0);

    // The same numbers as the status command (one read model).
    const auto status = bridge().cli({"status", "--json", "--bootstrap", bridge().broker().bootstrap_servers()});
    EXPECT_EQ(status.exit_code, 0) << status.output;
    const auto open = status.output.find('{');
    ASSERT_NE(open, std::string::npos) << status.output;
    const auto printed = json::parse(status.output.substr(open), nullptr, false);
    ASSERT_FALSE(printed.is_discarded()) << status.output;
    for (const char* field : {"state", "events", "failed", "dlq", "parked", "retry_queue", "staged_deletes"}) {
        EXPECT_EQ(printed["apps"][0][field], row[field]) << field;
    }

    const auto detail = get_json(std::string("/api/v1/apps/") + kApp);
    EXPECT_EQ(detail["app"]["dlq"], row["dlq"]);
    ASSERT_EQ(detail["minutes"].size(), 60u);
    std::int64_t charted = 0;
    for (const auto& m : detail["minutes"]) charted += m["events"].get<std::int64_t>();
    EXPECT_GE(charted, window.events);
    bool listed = false;
    for (const auto& d : detail["dlq"]) {
        if (d["id"] != entry) continue;
        listed = true;
        EXPECT_EQ(d["event_id"], "j2");
        EXPECT_EQ(d["object"], "user/json-user-two");
        EXPECT_EQ(d["code"], "BadRequest");
        EXPECT_EQ(d["replayable"], true);
    }
    EXPECT_TRUE(listed) << detail["dlq"].dump();
    ASSERT_FALSE(detail["failures"].empty());
    EXPECT_EQ(detail["failures"][0]["event_id"], "j2");
    EXPECT_EQ(detail["failures"][0]["status"], "Failure");
    EXPECT_EQ(detail["failures"][0]["error_code"], "BadRequest");

    const auto failed = get_json(std::string("/api/v1/apps/") + kApp + "/logs?status=failure&limit=5");
    ASSERT_FALSE(failed["entries"].empty()) << failed.dump();
    EXPECT_EQ(failed["entries"][0]["event_id"], "j2");
    for (const auto& e : failed["entries"]) EXPECT_EQ(e["status"], "Failure") << e.dump();
    const auto two = get_json(std::string("/api/v1/apps/") + kApp + "/logs?limit=2");
    ASSERT_EQ(two["entries"].size(), 2u);
    EXPECT_EQ(two["entries"][0]["event_id"], "j2") << "newest first";
    EXPECT_EQ(two["entries"][1]["event_id"], "j1");

    (void)get_json(std::string("/api/v1/apps/") + kApp + "/logs?status=bogus", 400);
    (void)get_json("/api/v1/apps?window=0", 400);
    (void)get_json("/api/v1/apps/elsewhere", 404);
}

TEST_F(OpsServerTest, AReplayFromTheApiIsAppliedAndTheEntryLeavesTheList) {
    const std::string entry = refused_create("r1", "replay-user");
    ASSERT_FALSE(entry.empty());
    ASSERT_TRUE(bridge().user_named("replay-user@contoso.example").is_null());

    auto res = post(std::string("/api/v1/apps/") + kApp + "/dlq/" + entry + "/replay", "Bearer " + bridge().ops_token());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 202) << res->body;
    const auto answer = json::parse(res->body);
    EXPECT_EQ(answer["replay_event_id"], replay_event_id("r1", entry));
    EXPECT_EQ(answer["topic"], BridgeHarness::kTopic);

    EXPECT_EQ(wait_outcome(replay_event_id("r1", entry)).status, OutcomeStatus::Applied);
    EXPECT_FALSE(bridge().user_named("replay-user@contoso.example").is_null());
    const auto detail = get_json(std::string("/api/v1/apps/") + kApp);
    for (const auto& d : detail["dlq"]) EXPECT_NE(d["id"], entry) << "the replayed entry is still listed";
    auto again = post(std::string("/api/v1/apps/") + kApp + "/dlq/" + entry + "/replay", "Bearer " + bridge().ops_token());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 404) << again->body;
}

// The u-008 case: the assignment (v1, enabled) is dead-lettered; the directory then disables
// the user (v2), skipped while the user is not assigned but kept. The page's replay of v1
// creates the account with v2's attributes: disabled, as the directory has it.
TEST_F(OpsServerTest, AReplayedAssignmentCreatesTheAccountWithTheNewestAttributesTheBridgeHolds) {
    const std::string entry = refused_create("l1", "latest-user");
    ASSERT_FALSE(entry.empty());
    bridge().send_event(disabled_update("l2", "latest-user", "Latest v2"));
    EXPECT_EQ(wait_outcome("l2").status, OutcomeStatus::Skipped);

    auto res = post(std::string("/api/v1/apps/") + kApp + "/dlq/" + entry + "/replay", "Bearer " + bridge().ops_token());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 202) << res->body;
    const auto out = wait_outcome(replay_event_id("l1", entry));
    EXPECT_EQ(out.status, OutcomeStatus::Applied) << out.reason;
    EXPECT_NE(out.reason.find("attributes of version 2"), std::string::npos) << out.reason;
    const auto account = bridge().user_named("latest-user@contoso.example");
    ASSERT_FALSE(account.is_null());
    EXPECT_EQ(account["active"], false) << account.dump();
    EXPECT_EQ(account["displayName"], "Latest v2") << account.dump();
}

// A create retried after a newer update arrived (parked behind it) is sent with the update's
// attributes: the account is never created from the older state.
TEST_F(OpsServerTest, ARetryParkedAcrossANewerUpdateCreatesWithItsAttributes) {
    bridge().admin(HttpMethod::Post, "/_admin/faults", {},
                   json{{"status", 503}, {"count", 1}, {"match", "POST /Users"}, {"retryAfter", 2}});
    bridge().send_event(user_event("q1", "queued-user"));
    bridge().send_event(disabled_update("q2", "queued-user", "Queued v2"));
    const auto created = wait_outcome("q1");
    ASSERT_EQ(created.status, OutcomeStatus::Applied) << created.reason;
    EXPECT_EQ(created.action, Action::Create);
    EXPECT_NE(created.reason.find("attributes of version 2"), std::string::npos) << created.reason;
    bool sent_v2 = false;
    for (const auto& change : created.changes) {
        if (change.path == "displayName") sent_v2 = change.new_value == "Queued v2";
    }
    EXPECT_TRUE(sent_v2) << "the create carried the older displayName";
    const auto after = wait_outcome("q2");
    EXPECT_NE(after.status, OutcomeStatus::DeadLettered) << after.reason;
    const auto account = bridge().user_named("queued-user@contoso.example");
    ASSERT_FALSE(account.is_null());
    EXPECT_EQ(account["active"], false) << account.dump();
}

TEST_F(OpsServerTest, ARetryParkedAcrossAnUnassignmentCreatesWithItsOwnAttributes) {
    // The create is retried while the unassignment and an update after it wait behind it: that
    // update is one the user's own turn only keeps, so it must not reach the account.
    bridge().admin(HttpMethod::Post, "/_admin/faults", {},
                   json{{"status", 503}, {"count", 1}, {"match", "POST /Users"}, {"retryAfter", 2}});
    bridge().send_event(user_event("ended-r1", "ended-user"));
    auto unassigned = user_event("ended-r2", "ended-user", 2);
    unassigned["type"] = "provisioning.user.unassigned";
    unassigned["data"].erase("assignment");
    bridge().send_event(unassigned);
    auto later = user_event("ended-r3", "ended-user", 3);
    later["type"] = "provisioning.user.updated";
    later["data"].erase("assignment");
    later["data"]["object"]["attributes"]["displayName"] = "After Unassignment";
    bridge().send_event(later);
    const auto created = wait_outcome("ended-r1");
    ASSERT_EQ(created.status, OutcomeStatus::Applied) << created.reason;
    EXPECT_EQ(created.action, Action::Create);
    EXPECT_EQ(created.reason.find("attributes of version"), std::string::npos) << created.reason;
    EXPECT_EQ(wait_outcome("ended-r2").action, Action::Disable);
    const auto kept = wait_outcome("ended-r3");
    EXPECT_EQ(kept.status, OutcomeStatus::Skipped);
    EXPECT_EQ(kept.code, "not_assigned") << kept.reason;
    const auto account = bridge().user_named("ended-user@contoso.example");
    ASSERT_FALSE(account.is_null());
    EXPECT_EQ(account["active"], false) << account.dump();
    EXPECT_EQ(account["displayName"], "ended-user Tester") << account.dump();
}

TEST_F(OpsServerTest, TheDashboardCommandServesRedisAloneAndRefusesMutationsWithoutAToken) {
    // No token, and no server of its own: --listen must take effect for the page to be served.
    const std::string config = config_with("no-token.json", json{{"ops", {{"token_file", nullptr}, {"listen", "off"}}}});
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY, "dashboard", "--config", config, "--listen", "127.0.0.1:0", "--bootstrap",
                    bridge().broker().bootstrap_servers()};
    options.quiet_stderr = true;
    ops::ChildProcess dashboard(std::move(options));
    const auto line = dashboard.wait_for_line("dashboard at ", 30000ms);
    ASSERT_TRUE(line.has_value());
    static const std::regex url_re(R"(dashboard at (http://127\.0\.0\.1:[0-9]+/))");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(*line, m, url_re)) << *line;
    const std::string url = m[1].str();

    const auto fleet = get_json("/api/v1/apps", 200, url);
    ASSERT_EQ(fleet["apps"].size(), 1u);
    EXPECT_FALSE(fleet["mutations_enabled"].get<bool>());
    auto c = client(url);
    auto ready = c.Get("/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200) << ready->body;
    auto page = c.Get("/");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(page->body.find("app.js"), std::string::npos);
    EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
    auto script = c.Get("/app.js");
    ASSERT_TRUE(script);
    EXPECT_EQ(script->status, 200);
    EXPECT_EQ(script->get_header_value("Content-Type"), "text/javascript; charset=utf-8");

    auto refused = post(std::string("/api/v1/apps/") + kApp + "/quarantine/clear", "Bearer anything", {}, url);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403) << refused->body;
    EXPECT_NE(refused->body.find("no ops token is configured"), std::string::npos) << refused->body;

    dashboard.signal(SIGTERM);
    const auto status = dashboard.wait(10000ms);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

// One owner per port: a second process asked for a port in use is refused (exit 2), where
// SO_REUSEPORT let both listen and the kernel split the connections between them.
TEST_F(OpsServerTest, ASecondProcessOnTheSamePortIsRefusedAndTheFirstKeepsServing) {
    const std::string config = config_with("one-port.json", json{{"ops", {{"token_file", nullptr}, {"listen", "off"}}}});
    const auto start = [&](const std::string& listen) {
        ops::ChildProcess::Options options;
        options.argv = {PROVBRIDGE_BINARY, "dashboard", "--config", config, "--listen", listen, "--bootstrap",
                        bridge().broker().bootstrap_servers()};
        options.merge_stderr = true;
        return std::make_unique<ops::ChildProcess>(std::move(options));
    };
    auto first = start("127.0.0.1:0");
    const auto line = first->wait_for_line("dashboard at ", 30000ms);
    ASSERT_TRUE(line.has_value());
    static const std::regex url_re(R"(dashboard at (http://127\.0\.0\.1:([0-9]+)/))");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(*line, m, url_re)) << *line;
    const std::string url = m[1].str();
    const std::string port = m[2].str();

    auto second = start("127.0.0.1:" + port);
    const auto refused = second->wait_for_line("cannot listen on 127.0.0.1:" + port, 30000ms);
    EXPECT_TRUE(refused.has_value()) << "the second process did not say the port is taken";
    const auto status = second->wait(30000ms);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << *status;
    // Every connection still reaches the first one.
    for (int i = 0; i < 20; ++i) {
        auto ready = client(url).Get("/readyz");
        ASSERT_TRUE(ready);
        EXPECT_EQ(ready->status, 200);
    }
    first->signal(SIGTERM);
    EXPECT_TRUE(first->wait(10000ms).has_value());
}

// The page in a real browser: the fleet row shows the API's numbers, and a dead letter replayed
// from the app page leaves it. tests/browser/dashboard_check.mjs drives Debian's Chromium.
TEST_F(OpsServerTest, TheDashboardInHeadlessChromiumShowsTheApiAndReplaysADeadLetter) {
    const std::string script = std::string(PROVBRIDGE_SOURCE_DIR) + "/tests/browser/dashboard_check.mjs";
    ASSERT_TRUE(std::filesystem::exists(std::string(PROVBRIDGE_SOURCE_DIR) + "/tests/browser/node_modules/puppeteer-core"))
        << "run scripts/setup (npm ci in tests/browser)";
    bridge().send_event(user_event("b1", "browser-user-one"));
    ASSERT_EQ(wait_outcome("b1").status, OutcomeStatus::Applied);
    const std::string entry = refused_create("b2", "browser-user-two");
    ASSERT_FALSE(entry.empty());
    // A deleted user: its account disabled, its hard delete scheduled and listed on the page.
    bridge().send_event(user_event("b3", "browser-user-three"));
    ASSERT_EQ(wait_outcome("b3").status, OutcomeStatus::Applied);
    auto deleted = user_event("b4", "browser-user-three", 2);
    deleted["type"] = "provisioning.user.deleted";
    deleted["data"].erase("assignment");
    bridge().send_event(deleted);
    ASSERT_EQ(wait_outcome("b4").action, Action::ScheduledDelete);

    const std::string shot = test_support::artifact_path("dashboard.png");
    const auto check = test_support::run_dashboard_check({"--url", url_.substr(0, url_.size() - 1), "--token",
                                                          bridge().ops_token(), "--app", kApp, "--screenshot", shot,
                                                          "--entry", entry, "--timeout-ms", "60000"});
    const auto& transcript = check.transcript;
    const auto& result = check.result;
    EXPECT_TRUE(check.exited_zero) << transcript;
    ASSERT_TRUE(result.is_object()) << transcript;
    EXPECT_EQ(result["ok"], true) << transcript;
    EXPECT_EQ(result["replayed"], entry) << transcript;
    EXPECT_NE(result["scheduled"].dump().find("user/browser-user-three"), std::string::npos) << transcript;
    auto depths = reader().depths(kApp);
    ASSERT_TRUE(depths.ok());
    // Compared before the replay: the index had this entry then, and has one fewer now.
    EXPECT_EQ(result["compared"]["dlq"], std::to_string(depths->dead_letters + 1)) << transcript;
    EXPECT_TRUE(std::filesystem::exists(shot) && std::filesystem::file_size(shot) > 10000) << shot;

    // What the page did, seen from outside it.
    EXPECT_EQ(wait_outcome(replay_event_id("b2", entry)).status, OutcomeStatus::Applied);
    EXPECT_FALSE(bridge().user_named("browser-user-two@contoso.example").is_null());
    auto still = reader().dead_letter(kApp, entry);
    ASSERT_TRUE(still.ok());
    EXPECT_FALSE(still->has_value()) << "the replayed entry is still in the index";
}

// `--log-format json`: every line the worker logs is a JSON object, and the lines about an event
// carry its app, event id and object.
TEST(StructuredLogs, TheWorkersJsonLinesNameTheEventTheyAreAbout) {
    BridgeHarness::Options options;
    options.app = kApp;
    options.group = "json-logs";
    BridgeHarness bridge(options);
    ops::ChildProcess::Options run;
    run.argv = {PROVBRIDGE_BINARY, "run", "--config", bridge.config_path(), "--log-level", "info", "--log-format",
                "json"};
    run.merge_stderr = true;
    ops::ChildProcess worker(std::move(run));
    bridge.admin(HttpMethod::Post, "/_admin/faults", {},
                 json{{"status", 400}, {"count", 1}, {"match", "POST /Users"}, {"detail", "refused"}});
    bridge.send_event(user_event("s1", "structured-user"));
    std::string transcript;
    json about;
    int lines = 0;
    while (auto line = worker.read_line(60000ms)) {
        transcript += *line + "\n";
        ++lines;
        auto doc = json::parse(*line, nullptr, false);
        ASSERT_FALSE(doc.is_discarded()) << "not a JSON line: " << *line;
        ASSERT_TRUE(doc.contains("time") && doc.contains("level") && doc.contains("msg")) << *line;
        if (doc.value("event_id", "") == "s1" && doc["level"] == "warning") {
            about = doc;
            break;
        }
    }
    ASSERT_TRUE(about.is_object()) << "no warning about s1 in:\n" << transcript;
    EXPECT_EQ(about["app"], kApp);
    EXPECT_EQ(about["object"], "user/structured-user");
    EXPECT_EQ(about["record"].get<std::string>().rfind(std::string(BridgeHarness::kTopic) + "[", 0), 0u) << about;
    EXPECT_NE(about["msg"].get<std::string>().find("dead-lettered"), std::string::npos) << about;
    EXPECT_GT(lines, 1) << "the start-up lines are JSON too";
    EXPECT_EQ(transcript.find(bridge.token()), std::string::npos) << "the SCIM token is in the log";
    EXPECT_EQ(transcript.find(bridge.ops_token()), std::string::npos) << "the ops token is in the log";
    worker.stop(30000ms);
}

}  // namespace
}  // namespace provbridge
