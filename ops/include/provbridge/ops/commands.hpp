#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/core/config.hpp"

namespace provbridge::ops {

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // the command ran and reports a failure
inline constexpr int kExitBadConfig = 2;    // configuration or arguments refused at start
inline constexpr int kExitUnavailable = 3;  // a required service could not be reached

// What an operator command (dlq, quarantine, deletes) reads at start: the configuration and the
// Redis password it names. nullopt when either is refused (logged; exit kExitBadConfig).
struct OperatorConfig {
    Config config;
    std::string redis_password;
};
std::optional<OperatorConfig> load_operator_config(const std::string& path, spdlog::logger& log);

struct BrokerOptions {
    std::string config_path;  // optional: topics and partition counts come from it
    int brokers = 0;          // 0: from the config (default 3)
    std::string bootstrap_file;
};
int broker_command(const BrokerOptions& options, std::shared_ptr<spdlog::logger> log);

struct ProduceOptions {
    std::string config_path;  // optional: validates apps and gives bootstrap/topic
    std::string bootstrap;    // overrides the config
    std::string topic;        // overrides the config
    std::string input = "-";  // file, or - for stdin
};
int produce_command(const ProduceOptions& options, std::shared_ptr<spdlog::logger> log);

struct RunOptions {
    std::string config_path;
    bool json_progress = false;  // one JSON line per progress report on stdout
    std::string bootstrap_file;  // where to write the embedded broker's address, if started
    // Every app in dry run, in the group kafka.group_id + kDryRunGroupSuffix.
    bool dry_run = false;
};
inline constexpr const char* kDryRunGroupSuffix = "-dry-run";
int run_command(const RunOptions& options, std::shared_ptr<spdlog::logger> log);

// `provbridge source ldap --config FILE`: follows the configured directory (sources.ldap) and
// sends its changes to the events topic; --dry-run prints them instead and stores nothing.
struct SourceOptions {
    std::string config_path;
    std::string bootstrap;  // overrides kafka.bootstrap_servers
    bool dry_run = false;
    bool json_progress = false;
};
int source_ldap_command(const SourceOptions& options, std::shared_ptr<spdlog::logger> log);

// `provbridge dashboard --config FILE`: the ops server alone (the dashboard, the JSON API,
// /metrics), reading Redis, for operators who run no worker. Runs until SIGINT/SIGTERM.
struct DashboardOptions {
    std::string config_path;
    std::string listen;     // overrides ops.listen (host:port)
    std::string bootstrap;  // Kafka, for the lag and replays (overrides kafka.bootstrap_servers)
};
int dashboard_command(const DashboardOptions& options, std::shared_ptr<spdlog::logger> log);

struct DemoOptions {
    std::string events_path;     // sample events (JSON lines)
    std::string scim_target;     // tests/scim-target/server.js
    int concurrency = 8;
    bool exit_when_done = false;
    // A second app, crm, whose token is rotated at its target once the samples are done (its
    // next events fail 401 and it is quarantined), and one create of the demo app refused
    // (a dead letter to replay from the dashboard).
    bool inject_failure = false;
    // Once the samples are done: a local OpenLDAP directory (slapd with syncprov) and
    // `provbridge source ldap` following it into the demo app.
    bool ldap = false;
};
int demo_command(const DemoOptions& options, std::shared_ptr<spdlog::logger> log);

struct TestConnectionOptions {
    std::string config_path;
    std::string app;
};
int test_connection_command(const TestConnectionOptions& options, std::shared_ptr<spdlog::logger> log);

struct PreviewOptions {
    std::string config_path;
    std::string app;         // default: the event's app
    std::string event_path;  // one event (JSON), or - for stdin
    bool live = false;       // read the stored link from Redis and query the target (reads only)
};
int preview_command(const PreviewOptions& options, std::shared_ptr<spdlog::logger> log);

// `provbridge dlq list|show|replay|purge`: the dead-letter index in Redis (one stream per app,
// never trimmed). Entry ids are Redis stream ids, unique per app only: an id without --app is
// looked up in every configured app and in KeyScheme::kInvalidApp.
struct DlqOptions {
    std::string config_path;
    std::vector<std::string> ids;  // show: exactly one; replay, purge: entries to act on
    std::string app;               // only this app's index
    std::string error;             // only entries with this error code
    std::string since;             // list: RFC 3339 time or a duration back from now (90s, 15m, 1h, 2d)
    bool all = false;              // replay, purge: every entry of every app
    bool json = false;             // one JSON document on stdout instead of columns
    bool yes = false;              // purge: required for a bulk selection
    bool value = false;            // show: print the original record's value too
    int wait_seconds = 60;         // replay: how long to wait for the replays' outcomes
    std::string bootstrap;         // replay: Kafka bootstrap servers (overrides the config)
};
int dlq_list_command(const DlqOptions& options, std::shared_ptr<spdlog::logger> log);
int dlq_show_command(const DlqOptions& options, std::shared_ptr<spdlog::logger> log);
int dlq_replay_command(const DlqOptions& options, std::shared_ptr<spdlog::logger> log);
int dlq_purge_command(const DlqOptions& options, std::shared_ptr<spdlog::logger> log);

// Parses --since: an RFC 3339 time (2024-05-01T10:00:00Z, an offset, fractions; a date alone
// is midnight UTC) or a duration back from now_ms (500ms, 90s, 15m, 1h30m, 2d, 1w). nullopt
// when it is neither.
std::optional<std::int64_t> parse_since(const std::string& text, std::int64_t now_ms);

// Path of examples/demo-events.jsonl in the source tree this binary was built from.
std::string default_demo_events();

}  // namespace provbridge::ops
