// provbridge: one binary, subcommands. main only parses arguments and wires objects together.
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "provbridge/ops/bridge.hpp"
#include "provbridge/ops/commands.hpp"
#include "provbridge/ops/deletes_command.hpp"
#include "provbridge/ops/json_log.hpp"
#include "provbridge/ops/logs_command.hpp"
#include "provbridge/ops/provision_command.hpp"
#include "provbridge/ops/quarantine_command.hpp"
#include "provbridge/ops/status_command.hpp"
#include "provbridge/ops/local_services.hpp"

int main(int argc, char** argv) {
    using namespace provbridge::ops;
    // Before any thread exists, so every thread inherits the mask and only the signal thread
    // receives SIGINT/SIGTERM.
    StopSignals::block_stop_signals();

    CLI::App app{"provbridge: streams directory changes from Kafka to SCIM 2.0 apps"};
    app.set_version_flag("--version", "provbridge 0.1.0");
    app.require_subcommand(1);
    app.fallthrough();  // --log-level may follow the subcommand
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    std::string log_format = "text";
    app.add_option("--log-format", log_format,
                   "text, or json: one JSON object per line, with the app, event id and object of the event "
                   "a line is about")
        ->check(CLI::IsMember({"text", "json"}));

    BrokerOptions broker;
    auto* broker_cmd = app.add_subcommand("broker", "Run the embedded development Kafka broker (in memory) on loopback");
    broker_cmd->add_option("--config", broker.config_path, "Take topic names and partition counts from this config");
    broker_cmd->add_option("--brokers", broker.brokers, "Number of brokers (default 3)")->check(CLI::Range(1, 9));
    broker_cmd->add_option("--bootstrap-file", broker.bootstrap_file, "Also write the bootstrap address to this file");

    ProduceOptions produce;
    auto* produce_cmd = app.add_subcommand("produce", "Validate events (JSON lines) and send them to the events topic");
    produce_cmd->add_option("--config", produce.config_path, "Configuration (apps are checked, Kafka settings used)");
    produce_cmd->add_option("--bootstrap", produce.bootstrap, "Kafka bootstrap servers (overrides the config)");
    produce_cmd->add_option("--topic", produce.topic, "Topic (default: the config's events topic)");
    produce_cmd->add_option("--input,-i", produce.input, "File of JSON lines, or - for stdin");

    RunOptions run;
    auto* run_cmd = app.add_subcommand("run", "Run the transform worker (consumer group member)");
    run_cmd->add_option("--config", run.config_path, "Configuration file")->required();
    run_cmd->add_flag("--json-progress", run.json_progress, "Print progress as JSON lines on stdout");
    run_cmd->add_option("--bootstrap-file", run.bootstrap_file,
                        "When the embedded broker is started, write its address to this file");
    run_cmd->add_flag("--dry-run", run.dry_run,
                      "Decide and record every app's operations without sending a write (consumer group "
                      "<group_id>-dry-run)");

    SourceOptions source;
    auto* source_cmd = app.add_subcommand("source", "Follow a directory and send its changes as events");
    source_cmd->require_subcommand(1);
    auto* source_ldap = source_cmd->add_subcommand(
        "ldap", "Follow an LDAP directory (RFC 4533 sync, OpenLDAP syncprov) as sources.ldap configures");
    source_ldap->add_option("--config", source.config_path, "Configuration file")->required();
    source_ldap->add_option("--bootstrap", source.bootstrap, "Kafka bootstrap servers (overrides the config)");
    source_ldap->add_flag("--dry-run", source.dry_run, "Print the events instead of sending them; store no progress");
    source_ldap->add_flag("--json-progress", source.json_progress, "Print progress as JSON lines on stdout");

    DashboardOptions dashboard;
    auto* dashboard_cmd = app.add_subcommand(
        "dashboard", "Serve the dashboard, the JSON API and /metrics alone, reading Redis (no worker)");
    dashboard_cmd->add_option("--config", dashboard.config_path, "Configuration file")->required();
    dashboard_cmd->add_option("--listen", dashboard.listen, "HOST:PORT to serve on (overrides ops.listen)");
    dashboard_cmd->add_option("--bootstrap", dashboard.bootstrap,
                              "Kafka bootstrap servers for the lag and replays (overrides the config)");

    ProvisionOptions provision;
    auto* provision_cmd = app.add_subcommand(
        "provision", "Provision one user or group now, through the worker's pipeline, printing each step and request");
    provision_cmd->add_option("--config", provision.config_path, "Configuration file")->required();
    provision_cmd->add_option("--app", provision.app, "The app")->required();
    provision_cmd->add_option("--user", provision.user, "The user's source id");
    provision_cmd->add_option("--group", provision.group, "The group's source id (with its members)");
    provision_cmd->add_option("--bootstrap", provision.bootstrap, "Kafka bootstrap servers (overrides the config)");

    DemoOptions demo;
    demo.events_path = default_demo_events();
    demo.scim_target = default_scim_target_script();
    auto* demo_cmd = app.add_subcommand("demo", "Embedded broker + Redis + local SCIM target + bridge + sample events");
    demo_cmd->add_option("--events", demo.events_path, "Sample events (JSON lines)");
    demo_cmd->add_option("--scim-target", demo.scim_target, "Path of tests/scim-target/server.js");
    demo_cmd->add_option("--concurrency", demo.concurrency, "Worker lanes")->check(CLI::Range(1, 256));
    demo_cmd->add_flag("--exit-when-done", demo.exit_when_done, "Exit after the summary instead of running on");
    demo_cmd->add_flag("--ldap", demo.ldap,
                       "Then start a local OpenLDAP directory and follow it with `source ldap` into the demo app");
    demo_cmd->add_flag("--inject-failure", demo.inject_failure,
                       "Show failures on the dashboard: a second app whose token is rotated at its target, and a "
                       "create the target refuses once (replay it from the page)");

    TestConnectionOptions test;
    auto* test_cmd = app.add_subcommand("test-connection", "Check an app's SCIM endpoint and token the way Entra does");
    test_cmd->add_option("--config", test.config_path, "Configuration file")->required();
    test_cmd->add_option("--app", test.app, "App id")->required();

    PreviewOptions preview;
    auto* preview_cmd = app.add_subcommand(
        "preview", "Show what an event would do to an app (scope, match, action, the exact request) without sending it");
    preview_cmd->add_option("--config", preview.config_path, "Configuration file")->required();
    preview_cmd->add_option("--event", preview.event_path, "The event (JSON), or - for stdin")->required();
    preview_cmd->add_option("--app", preview.app, "App id (default: the event's data.app)");
    preview_cmd->add_flag("--live", preview.live,
                          "Use the stored link (Redis) and ask the target whether the account exists (reads only)");

    // dlq: one option set for its four subcommands (only one of them is parsed).
    DlqOptions dlq;
    auto* dlq_cmd = app.add_subcommand("dlq", "Dead letters kept in Redis: list, show, replay, purge");
    dlq_cmd->require_subcommand(1);
    auto* dlq_list = dlq_cmd->add_subcommand("list", "List dead letters, oldest first");
    auto* dlq_show = dlq_cmd->add_subcommand("show", "Show one dead letter with its error trail");
    auto* dlq_replay = dlq_cmd->add_subcommand(
        "replay", "Send dead letters' original records to the events topic again and wait for their outcomes");
    auto* dlq_purge = dlq_cmd->add_subcommand("purge", "Remove dead letters from the index");
    for (auto* sub : {dlq_list, dlq_show, dlq_replay, dlq_purge}) {
        sub->add_option("--config", dlq.config_path, "Configuration file")->required();
        sub->add_option("--app", dlq.app, "Only this app's dead letters (entry ids are per app)");
        sub->add_flag("--json", dlq.json, "Print one JSON document");
    }
    for (auto* sub : {dlq_list, dlq_replay, dlq_purge}) {
        sub->add_option("--error", dlq.error, "Only dead letters with this error code (e.g. BadRequest)");
    }
    dlq_list->add_option("--since", dlq.since, "Only dead letters since: RFC 3339 time or a duration (90s, 15m, 1h, 2d)");
    dlq_show->add_option("id", dlq.ids, "Entry id (as dlq list shows it)")->required()->expected(1);
    dlq_show->add_flag("--value", dlq.value, "Also print the original record's value");
    for (auto* sub : {dlq_replay, dlq_purge}) {
        sub->add_option("ids", dlq.ids, "Entry ids (as dlq list shows them)");
        sub->add_flag("--all", dlq.all, "Every dead letter of every app");
    }
    dlq_replay->add_option("--wait", dlq.wait_seconds, "Seconds to wait for the replays' outcomes (default 60)")
        ->check(CLI::Range(0, 86400));
    dlq_replay->add_option("--bootstrap", dlq.bootstrap, "Kafka bootstrap servers (overrides the config)");
    dlq_purge->add_flag("--yes", dlq.yes, "Confirm a bulk purge (--app, --error, --all)");

    QuarantineOptions quarantine;
    auto* quarantine_cmd = app.add_subcommand("quarantine", "An app's quarantine: status, or clear it by hand");
    quarantine_cmd->require_subcommand(1);
    auto* quarantine_status =
        quarantine_cmd->add_subcommand("status", "Quarantine state of every app (or one), and broker offset gaps");
    auto* quarantine_clear = quarantine_cmd->add_subcommand("clear", "Lift an app's quarantine now");
    for (auto* sub : {quarantine_status, quarantine_clear}) {
        sub->add_option("--config", quarantine.config_path, "Configuration file")->required();
    }
    quarantine_status->add_option("--app", quarantine.app, "Only this app");
    quarantine_status->add_flag("--json", quarantine.json, "Print one JSON document");
    quarantine_clear->add_option("--app", quarantine.app, "The app to lift")->required();

    LogsOptions logs;
    auto* logs_cmd = app.add_subcommand("logs", "The provisioning log: what happened to each event, newest last");
    logs_cmd->add_option("--config", logs.config_path, "Configuration file")->required();
    logs_cmd->add_option("--app", logs.app, "Only this app");
    logs_cmd->add_option("--status", logs.filter.status, "Only Success, Failure, Skipped or Warning");
    logs_cmd->add_option("--action", logs.filter.action, "Only Create, Update, Disable, Delete, StagedDelete, ScheduledDelete or Other");
    logs_cmd->add_option("--object", logs.filter.object, "Only this object: its source id, TYPE/ID, or its id in the app");
    logs_cmd->add_option("--since", logs.since, "Only records since: an RFC 3339 time or a duration back (15m, 2h, 1d)");
    logs_cmd->add_option("--limit", logs.limit, "How many records (the newest that match; default 50)");
    logs_cmd->add_flag("-f,--follow", logs.follow, "Keep printing records as they are recorded");
    logs_cmd->add_flag("--json", logs.json, "One JSON object per record, with Entra's fields (status, action, steps)");

    StatusOptions status;
    auto* status_cmd = app.add_subcommand(
        "status", "Every app at a glance: state, rates, latency, queues, dead letters, lag (exit 1 when one is unhealthy)");
    status_cmd->add_option("--config", status.config_path, "Configuration file")->required();
    status_cmd->add_option("--app", status.app, "Only this app");
    status_cmd->add_option("--window", status.window_minutes, "Minutes the rates and latency are over (default 5)");
    status_cmd->add_option("--bootstrap", status.bootstrap, "Kafka bootstrap servers for the lag (overrides the config)");
    status_cmd->add_flag("--json", status.json, "Print one JSON document");

    DeletesOptions deletes;
    auto* deletes_cmd = app.add_subcommand(
        "deletes", "Disables and deletes the deletion threshold staged: status, allow or discard them");
    deletes_cmd->require_subcommand(1);
    auto* deletes_status = deletes_cmd->add_subcommand("status", "The threshold, its window and what it staged");
    auto* deletes_allow =
        deletes_cmd->add_subcommand("allow", "Send an app's staged operations (once, past the threshold)");
    auto* deletes_discard =
        deletes_cmd->add_subcommand("discard", "Record an app's staged operations as skipped without sending them");
    for (auto* sub : {deletes_status, deletes_allow, deletes_discard}) {
        sub->add_option("--config", deletes.config_path, "Configuration file")->required();
        sub->add_flag("--json", deletes.json, "Print one JSON document");
    }
    deletes_status->add_option("--app", deletes.app, "Only this app");
    for (auto* sub : {deletes_allow, deletes_discard}) {
        sub->add_option("--app", deletes.app, "The app")->required();
        sub->add_option("--object", deletes.object, "Only this object's staged operation, as TYPE/ID (user/u42)");
        sub->add_flag("--scheduled", deletes.scheduled,
                      "The hard deletes scheduled after users' deletions instead (allow: now, through the threshold; "
                      "discard: never, the accounts stay disabled)");
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version end with CLI11's own code (0); refused arguments are exit 2, as
        // for every other refusal (CLI11 would return 105-109).
        const int code = app.exit(e);
        return code == 0 ? 0 : kExitBadConfig;
    }

    auto log = spdlog::stderr_color_mt("provbridge");
    log->set_level(spdlog::level::from_str(log_level));
    // Whatever logs through spdlog's default logger writes where and how this one does.
    spdlog::set_default_logger(log);
    if (log_format == "json") {
        log->set_formatter(std::make_unique<JsonLineFormatter>());
    } else {
        log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    }

    if (*broker_cmd) return broker_command(broker, log);
    if (*produce_cmd) return produce_command(produce, log);
    if (*run_cmd) return run_command(run, log);
    if (*source_ldap) return source_ldap_command(source, log);
    if (*demo_cmd) return demo_command(demo, log);
    if (*dashboard_cmd) return dashboard_command(dashboard, log);
    if (*provision_cmd) return provision_command(provision, log);
    if (*test_cmd) return test_connection_command(test, log);
    if (*preview_cmd) return preview_command(preview, log);
    if (*dlq_list) return dlq_list_command(dlq, log);
    if (*dlq_show) return dlq_show_command(dlq, log);
    if (*dlq_replay) return dlq_replay_command(dlq, log);
    if (*dlq_purge) return dlq_purge_command(dlq, log);
    if (*logs_cmd) return logs_command(logs, log);
    if (*status_cmd) return status_command(status, log);
    if (*quarantine_status || *quarantine_clear) {
        quarantine.action = *quarantine_clear ? "clear" : "status";
        return quarantine_command(quarantine, log);
    }
    if (*deletes_status || *deletes_allow || *deletes_discard) {
        deletes.action = *deletes_allow ? "allow" : *deletes_discard ? "discard" : "status";
        return deletes_command(deletes, log);
    }
    return kExitBadConfig;
}
