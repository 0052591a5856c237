// `provbridge deletes`: what the deletion threshold staged, for operators: status, allow, discard.
#include "provbridge/ops/deletes_command.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_deletions.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/commands.hpp"
#include "provbridge/ops/text_output.hpp"
#include "provbridge/producers/producer.hpp"
#include "provbridge/transforms/deletion_threshold.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;

constexpr std::size_t kListedRows = 100;  // rows of the plain listing; --json lists every one

std::int64_t now_ms() { return wall_now_ms(); }

std::string object_text(const consumers::StagedOperation& op) {
    return std::string(to_string(op.object_type)) + "/" + shown(op.object_id);
}

json operation_json(const consumers::StagedOperation& op) {
    return {{"object_type", std::string(to_string(op.object_type))},
            {"object_id", op.object_id},
            {"action", std::string(to_string(op.action))},
            {"event_id", op.event_id},
            {"source", op.source},
            {"staged_at", time_text(op.staged_at_ms)},
            {"waiting_behind", op.waiting_behind}};
}

json threshold_json(const DeletionThresholdConfig& t) {
    return {{"enabled", t.enabled()},
            {"max_operations", t.max_operations},
            {"max_percent", t.max_percent},
            {"window_minutes", std::chrono::duration_cast<std::chrono::minutes>(t.window).count()}};
}

// "10% of 40 linked accounts", or that they are not counted yet (a worker counts them at start).
std::string percent_phrase(const DeletionThresholdConfig& t, const std::optional<std::int64_t>& linked) {
    const std::string share = std::to_string(t.max_percent) + "% of ";
    if (!linked) return share + "the linked accounts (not counted yet: a worker counts them when it starts)";
    return share + std::to_string(*linked) + " linked account" + (*linked == 1 ? "" : "s");
}

std::string dump(const json& doc) { return dump_json(doc, 2); }

// A Redis call failed mid-command: unreachable is exit 3, anything else (a refused command,
// corrupt data) a failure of the command.
int redis_failure(const Error& error, const std::shared_ptr<spdlog::logger>& log) {
    log->error("Redis: {}", error.message);
    const auto kind = consumers::redis_error_kind(error);
    return kind == consumers::RedisErrorKind::Io || kind == consumers::RedisErrorKind::Timeout ? kExitUnavailable
                                                                                            : kExitFailure;
}

// print_table's columns, each line indented under the app's line.
void print_indented(std::size_t indent, const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows) {
    std::ostringstream table;
    print_table(table, header, rows);
    std::istringstream lines(table.str());
    for (std::string line; std::getline(lines, line);) std::cout << std::string(indent, ' ') << line << "\n";
}

json scheduled_json(const ScheduledHardDelete& s) {
    return {{"object_type", "user"}, {"object_id", s.user_id}, {"due_at", time_text(s.due_ms)}, {"discarded", s.discarded}};
}

void print_scheduled(const std::string& app, const AppConfig& config, const consumers::DeletionStatus& s) {
    if (config.hard_delete_after_days == 0 && s.scheduled.empty()) {
        std::cout << "  deleted users' accounts are deleted at once (hard_delete_after_days: 0)\n";
        return;
    }
    std::cout << "  " << s.scheduled.size() << " hard delete(s) scheduled after users' deletions (hard_delete_after_days: "
              << config.hard_delete_after_days << "; their accounts are disabled meanwhile)\n";
    if (s.scheduled.empty()) return;
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < s.scheduled.size() && i < kListedRows; ++i) {
        const auto& h = s.scheduled[i];
        rows.push_back({time_text(h.due_ms), "user/" + shown(h.user_id), h.discarded ? "discarded" : ""});
    }
    print_indented(4, {"due at", "object", ""}, rows);
    if (s.scheduled.size() > kListedRows) {
        std::cout << "    … and " << s.scheduled.size() - kListedRows << " more (--json lists every one)\n";
    }
    std::cout << "  provbridge deletes allow --scheduled --app " << app
              << " [--object user/ID]    delete now (still counted by the threshold)\n"
              << "  provbridge deletes discard --scheduled --app " << app
              << " [--object user/ID]  never delete; the accounts stay disabled\n";
}

void print_status(const std::string& app, const AppConfig& config, const consumers::DeletionStatus& s) {
    const auto& t = config.deletion_threshold;
    std::cout << app << ": ";
    if (t.enabled()) {
        std::cout << s.counted;
        if (t.max_operations > 0) std::cout << " of " << t.max_operations;
        std::cout << " disables and deletes within " << transforms::window_phrase(t.window);
        if (t.max_percent > 0) std::cout << " (limit " << percent_phrase(t, s.linked) << ")";
    } else {
        std::cout << "deletion threshold off (deletion_threshold.max_operations and max_percent 0)";
    }
    std::cout << ", " << s.staged << " staged";
    if (s.staged == 0) {
        std::cout << "\n";
        print_scheduled(app, config, s);
        return;
    }
    std::cout << ", waiting for an operator since " << time_text(s.oldest_staged_ms) << "\n";
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < s.operations.size() && i < kListedRows; ++i) {
        const auto& op = s.operations[i];
        rows.push_back({time_text(op.staged_at_ms), std::string(to_string(op.action)), object_text(op),
                        shown(op.event_id), std::to_string(op.waiting_behind)});
    }
    print_indented(2, {"staged at", "action", "object", "event", "waiting behind"}, rows);
    if (s.operations.size() > kListedRows) {
        std::cout << "  … and " << s.operations.size() - kListedRows << " more (--json lists every one)\n";
    }
    for (const auto& problem : s.unreadable) std::cout << "  unreadable: " << shown(problem) << "\n";
    std::cout << "  provbridge deletes allow --app " << app << " [--object TYPE/ID]    send them\n"
              << "  provbridge deletes discard --app " << app << " [--object TYPE/ID]  record them skipped, send nothing\n";
    print_scheduled(app, config, s);
}

int release_scheduled(consumers::RedisDeletionControl& control, const Config& config, const AppConfig& app,
                      const std::optional<QueueMember>& object, const DeletesOptions& options,
                      const std::shared_ptr<spdlog::logger>& log) {
    if (object && object->type != ObjectType::User) {
        log->error("--object: only users' hard deletes are scheduled (groups are deleted at once)");
        return kExitBadConfig;
    }
    const bool allow = options.action == "allow";
    auto released = control.release_scheduled(app.id, object ? std::optional<std::string>(object->source_id) : std::nullopt,
                                              allow ? DeletionMark::Allowed : DeletionMark::Discarded, now_ms());
    if (!released) return redis_failure(released.error(), log);
    const std::string verb = allow ? "allowed" : "discarded";
    if (options.json) {
        json list = json::array();
        for (const auto& s : *released) list.push_back(scheduled_json(s));
        std::cout << dump(json{{"app", app.id}, {"mark", verb}, {"released", released->size()}, {"scheduled", list}})
                  << "\n";
    } else if (released->empty()) {
        std::cout << app.id << ": no hard delete scheduled"
                  << (object ? " for user/" + shown(object->source_id) : "") << "\n";
    } else {
        for (const auto& s : *released) {
            std::cout << verb << " the hard delete of user/" << shown(s.user_id) << " (due " << time_text(s.due_ms)
                      << ")\n";
        }
        std::cout << app.id << ": " << released->size() << " scheduled hard delete(s) " << verb
                  << (allow ? "; workers send them now, through the deletion threshold"
                            : "; workers record them as skipped (deletion_discarded), the accounts stay disabled")
                  << ", within about a second\n";
    }
    (void)config;
    return released->empty() ? kExitFailure : kExitOk;
}

}  // namespace

int deletes_command(const DeletesOptions& options, std::shared_ptr<spdlog::logger> log) {
    auto loaded = load_operator_config(options.config_path, *log);
    if (!loaded) return kExitBadConfig;
    const Config& config = loaded->config;
    const std::string& password = loaded->redis_password;
    const bool release = options.action == "allow" || options.action == "discard";
    if (release && options.app.empty()) {
        log->error("deletes {} needs --app", options.action);
        return kExitBadConfig;
    }
    std::vector<const AppConfig*> apps;
    for (const auto& app : config.apps) {
        if (options.app.empty() || app.id == options.app) apps.push_back(&app);
    }
    if (apps.empty()) {
        log->error("unknown app \"{}\": it is not in {}", options.app, config.source);
        return kExitBadConfig;
    }
    std::optional<QueueMember> object;
    if (!options.object.empty()) {
        if (!release) {
            log->error("--object goes with deletes allow or discard");
            return kExitBadConfig;
        }
        object = parse_object_ref(options.object);
        if (!object) {
            log->error("--object \"{}\": give the object as TYPE/ID, e.g. user/u42", shown(options.object));
            return kExitBadConfig;
        }
    }
    std::unique_ptr<consumers::RedisDeletionControl> control;
    try {
        control = std::make_unique<consumers::RedisDeletionControl>(consumers::redis_options(config.redis, password),
                                                                    KeyScheme(config.redis.key_prefix));
    } catch (const std::exception& e) {
        log->error("cannot reach Redis: {}", e.what());
        return kExitUnavailable;
    }

    if (release && options.scheduled) return release_scheduled(*control, config, *apps.front(), object, options, log);
    if (options.scheduled) {
        log->error("--scheduled goes with deletes allow or discard");
        return kExitBadConfig;
    }
    if (release) {
        const auto& app = *apps.front();
        const DeletionMark mark = options.action == "allow" ? DeletionMark::Allowed : DeletionMark::Discarded;
        auto released = control->release(app.id, object, mark, now_ms());
        if (!released) return redis_failure(released.error(), log);
        const std::string verb = options.action == "allow" ? "allowed" : "discarded";
        if (options.json) {
            json ops = json::array();
            for (const auto& op : *released) ops.push_back(operation_json(op));
            std::cout << dump(json{{"app", app.id}, {"mark", verb}, {"released", released->size()}, {"operations", ops}})
                      << "\n";
        } else if (released->empty()) {
            std::cout << app.id << ": nothing staged"
                      << (object ? " for " + std::string(to_string(object->type)) + "/" + shown(object->source_id) : "")
                      << "\n";
        } else {
            for (const auto& op : *released) {
                std::cout << verb << " " << to_string(op.action) << " of " << object_text(op) << " (event "
                          << shown(op.event_id) << ")\n";
            }
            std::cout << app.id << ": " << released->size() << " staged operation(s) " << verb
                      << (mark == DeletionMark::Allowed ? "; workers send them"
                                                        : "; workers record them as skipped (deletion_discarded)")
                      << " within " << config.retry.poll_interval.count()
                      << " ms, and the later events of those objects follow\n";
        }
        return released->empty() ? kExitFailure : kExitOk;
    }

    const std::int64_t now = now_ms();
    json report = json::array();
    for (const auto* app : apps) {
        auto status = control->status(app->id, app->deletion_threshold, now);
        if (!status) return redis_failure(status.error(), log);
        if (!options.json) {
            print_status(app->id, *app, *status);
            continue;
        }
        json ops = json::array();
        for (const auto& op : status->operations) ops.push_back(operation_json(op));
        report.push_back({{"app", app->id},
                          {"threshold", threshold_json(app->deletion_threshold)},
                          {"in_window", status->counted},
                          {"linked", status->linked ? json(*status->linked) : json(nullptr)},
                          {"staged", status->staged},
                          {"oldest_staged", status->oldest_staged_ms > 0 ? json(time_text(status->oldest_staged_ms))
                                                                         : json(nullptr)},
                          {"operations", ops},
                          {"hard_delete_after_days", app->hard_delete_after_days},
                          {"scheduled", [&] {
                               json list = json::array();
                               for (const auto& s : status->scheduled) list.push_back(scheduled_json(s));
                               return list;
                           }()},
                          {"unreadable", status->unreadable}});
    }
    if (options.json) std::cout << dump(report) << "\n";
    return kExitOk;
}

}  // namespace provbridge::ops
