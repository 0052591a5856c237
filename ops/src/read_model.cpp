#include "provbridge/ops/read_model.hpp"

#include <algorithm>
#include <cmath>

#include "provbridge/consumers/consumer_lag.hpp"
#include "provbridge/consumers/redis.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/minute_stats.hpp"
#include "provbridge/ops/bridge.hpp"
#include "provbridge/ops/commands.hpp"
#include "provbridge/ops/text_output.hpp"
#include "provbridge/transforms/app_health.hpp"
#include "provbridge/transforms/log_view.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;

constexpr std::chrono::milliseconds kKafkaTimeout{5000};
constexpr std::int64_t kPage = 500;
constexpr std::int64_t kRecentFailures = 20;
constexpr std::int64_t kDeadLettersShown = 100;

json optional_number(const std::optional<double>& value) {
    return value ? json(std::round(*value * 10) / 10) : json(nullptr);
}

double rounded(double value, double scale) { return std::round(value * scale) / scale; }

std::string field(const consumers::StreamEntry& entry, const char* name) {
    const auto it = entry.fields.find(name);
    return it == entry.fields.end() ? std::string() : it->second;
}

json minute_json(const MinuteStats& m) {
    return {{"minute", time_text(m.minute * 60000)},
            {"events", m.events},
            {"applied", m.applied},
            {"skipped", m.skipped},
            {"dead_lettered", m.dead_lettered},
            {"warnings", m.warnings},
            {"latency_p50_ms", optional_number(latency_quantile_ms(m, 0.5))},
            {"latency_p99_ms", optional_number(latency_quantile_ms(m, 0.99))}};
}

json dead_letter_json(const consumers::StreamEntry& e) {
    const auto& r = e.record;
    // The index's own fields win: they are there even when the record's JSON cannot be read.
    const auto code = field(e, "code");
    const auto event_id = field(e, "event_id");
    return {{"id", e.id},
            {"event_id", event_id.empty() ? r.event_id : event_id},
            {"object", r.object_type.empty() ? std::string() : r.object_type + "/" + r.object_id},
            {"event_type", r.event_type},
            {"code", code.empty() ? r.code : code},
            {"reason", r.reason.empty() ? e.decode_error : r.reason},
            {"error_class", r.error_class},
            {"http_status", r.http_status},
            {"attempts", r.attempts},
            {"failed_at", time_text(consumers::stream_id_ms(e.id).value_or(0))},
            // An unparseable record is replayed by `dlq replay`, which follows it by its place.
            {"replayable", e.fields.count("record") > 0 && !(event_id.empty() ? r.event_id : event_id).empty()}};
}

}  // namespace

OpsReadModel::OpsReadModel(Config config, const std::string& redis_password)
    : config_(std::move(config)), kafka_secrets_(resolve_kafka_secrets(config_, current_environment())) {
    const KeyScheme keys(config_.redis.key_prefix);
    const auto redis = consumers::redis_options(config_.redis, redis_password);
    reader_ = std::make_unique<consumers::ProvisioningLogReader>(redis, keys);
    quarantine_ = std::make_unique<consumers::RedisQuarantineStore>(redis, keys);
    deletions_ = std::make_unique<consumers::RedisDeletionControl>(redis, keys);
    if (config_.sources.ldap) {
        ldap_source_ = std::make_unique<consumers::RedisSourceProgress>(redis, keys, config_.sources.ldap->source);
    }
}

Result<json> OpsReadModel::source_rows(std::int64_t now_ms) {
    json rows = json::array();
    if (!ldap_source_) return rows;
    auto status = ldap_source_->load_status();
    if (!status.ok()) return status.error();
    json row = status->value_or(json{{"state", "never ran"}});
    row["source"] = config_.sources.ldap->source;
    row["kind"] = "ldap";
    row["url"] = config_.sources.ldap->url;
    if (status->has_value()) {
        const auto updated = row.value("updated_ms", std::int64_t{0});
        row["age_ms"] = std::max<std::int64_t>(0, now_ms - updated);
        row["updated_at"] = time_text(updated);
        if (row["state"] != "stopped" && now_ms - updated > kSourceStaleAfterMs) row["state"] = "not running";
    }
    rows.push_back(std::move(row));
    return rows;
}

std::vector<std::string> OpsReadModel::select_apps(const std::string& only) const {
    std::vector<std::string> apps;
    for (const auto& app : config_.apps) {
        if (only.empty() || app.id == only) apps.push_back(app.id);
    }
    return apps;
}

Result<json> OpsReadModel::app_row(const std::string& app, int window_minutes, std::int64_t now_ms) {
    std::vector<MinuteStats> hour;
    return read_row(app, window_minutes, now_ms, hour);
}

Result<json> OpsReadModel::read_row(const std::string& app, int window_minutes, std::int64_t now_ms,
                                    std::vector<MinuteStats>& hour) {
    const std::int64_t this_minute = now_ms / 60000;
    auto state = quarantine_->load(app);
    if (!state) return state.error();
    auto depths = reader_->depths(app);
    if (!depths) return depths.error();
    auto stats = reader_->stats(app);
    if (!stats) return stats.error();
    auto minutes = reader_->minutes(app, this_minute - 59, this_minute);
    if (!minutes) return minutes.error();
    hour = std::move(*minutes);
    return row_from(app, window_minutes, now_ms, hour, *state, *depths, *stats);
}

json OpsReadModel::row_from(const std::string& app, int window_minutes, std::int64_t now_ms,
                            const std::vector<MinuteStats>& hour, const QuarantineState& state,
                            const consumers::ProvisioningLogReader::Depths& depths,
                            const std::map<std::string, std::int64_t>& stats) const {
    window_minutes = std::clamp(window_minutes, 1, 60);
    // The current minute is partly over: the window is the minutes before it plus it.
    const std::vector<MinuteStats> recent(hour.end() - std::min<std::ptrdiff_t>(window_minutes, std::ssize(hour)),
                                          hour.end());
    const auto window = sum_minutes(recent);
    const auto last_hour = sum_minutes(hour);
    const auto health = transforms::judge_app_health(state.quarantined, depths.staged, window);
    // Seconds the window covers: whole minutes before this one, and this one so far.
    const double seconds = std::max(1.0, (window_minutes - 1) * 60.0 + static_cast<double>(now_ms % 60000) / 1000.0);
    const auto last_success = stats.find("last_applied_ms");
    const AppConfig* configured = config_.find_app(app);
    return json{{"app", app},
                {"state", std::string(transforms::to_string(health))},
                {"dry_run", configured != nullptr && configured->dry_run},
                {"dry_run_events", window.dry_run_events},
                {"window_minutes", window_minutes},
                {"events", window.events},
                {"events_per_second", rounded(static_cast<double>(window.events) / seconds, 100)},
                {"failed", window.dead_lettered},
                {"failure_rate", window.events > 0 ? rounded(static_cast<double>(window.dead_lettered) /
                                                                 static_cast<double>(window.events),
                                                             1000)
                                                   : 0.0},
                {"latency_p50_ms", optional_number(latency_quantile_ms(window, 0.5))},
                {"latency_p99_ms", optional_number(latency_quantile_ms(window, 0.99))},
                {"retry_queue", depths.due_heads},
                {"parked", depths.waiting_events},
                {"dlq", depths.dead_letters},
                {"staged_deletes", depths.staged},
                {"scheduled_hard_deletes", depths.scheduled_hard_deletes},
                {"references_waiting", depths.reference_waits},
                {"reference_failures_last_hour", last_hour.warnings},
                {"last_success", last_success == stats.end() ? json(nullptr) : json(time_text(last_success->second))},
                {"quarantine", state.quarantined ? json{{"code", state.code},
                                                        {"reason", state.reason},
                                                        {"since", time_text(state.since_ms)},
                                                        {"next_probe", time_text(state.next_probe_ms)}}
                                                 : json(nullptr)}};
}

Result<json> OpsReadModel::app_detail(const std::string& app, int window_minutes, std::int64_t now_ms) {
    std::vector<MinuteStats> hour;
    auto read = read_row(app, window_minutes, now_ms, hour);
    if (!read) return read.error();
    json row = std::move(*read);
    json minutes = json::array();
    for (const auto& m : hour) minutes.push_back(minute_json(m));

    // Failures and warnings, newest first, in one scan of the log.
    auto found = matching_log(
        app,
        [](const OutcomeRecord& r) {
            const auto status = transforms::log_view(r).status;
            return !r.dry_run && (status == transforms::LogStatus::Failure || status == transforms::LogStatus::Warning);
        },
        kRecentFailures, "-", {}, kPageScan);
    if (!found) return found.error();
    json failures = json::array();
    for (const auto& e : *found) failures.push_back(log_entry_json(e));
    // What a dry run decided (every outcome, not only failures: the point is to see what it
    // would send), looked for only when the app is in dry run or one ran lately.
    json dry_run = json::array();
    if (row["dry_run"].get<bool>() || row["dry_run_events"].get<std::int64_t>() > 0) {
        auto decided = matching_log(app, [](const OutcomeRecord& r) { return r.dry_run; }, kRecentFailures, "-", {},
                                    kPageScan);
        if (!decided) return decided.error();
        for (const auto& e : *decided) dry_run.push_back(log_entry_json(e));
    }

    auto letters = reader_->dead_letter_page(app, "-", kDeadLettersShown);
    if (!letters) return letters.error();
    json dlq = json::array();
    for (const auto& e : *letters) dlq.push_back(dead_letter_json(e));

    json staged = {{"counted", 0}, {"linked", nullptr}, {"operations", json::array()}};
    if (const AppConfig* configured = config_.find_app(app); configured != nullptr) {
        auto status = deletions_->status(app, configured->deletion_threshold, now_ms);
        if (!status) return status.error();
        staged["counted"] = status->counted;
        staged["linked"] = status->linked ? json(*status->linked) : json(nullptr);
        for (const auto& op : status->operations) {
            staged["operations"].push_back({{"object", std::string(to_string(op.object_type)) + "/" + op.object_id},
                                            {"action", std::string(to_string(op.action))},
                                            {"event_id", op.event_id},
                                            {"staged_at", time_text(op.staged_at_ms)},
                                            {"waiting_behind", op.waiting_behind}});
        }
        staged["scheduled"] = json::array();
        for (const auto& s : status->scheduled) {
            staged["scheduled"].push_back(
                {{"object", "user/" + s.user_id}, {"due_at", time_text(s.due_ms)}, {"discarded", s.discarded}});
        }
    }
    const auto total = row["dlq"];
    return json{{"app", std::move(row)},
                {"minutes", std::move(minutes)},
                {"failures", std::move(failures)},
                {"dry_run_decisions", std::move(dry_run)},
                {"dlq", std::move(dlq)},
                {"dlq_total", total},
                {"staged", std::move(staged)}};
}

Result<std::vector<consumers::StreamEntry>> OpsReadModel::matching_log(const std::string& app, const LogFilter& filter,
                                                                      std::size_t limit, const std::string& start,
                                                                      const std::string& newest,
                                                                      std::int64_t max_scanned) {
    return matching_log(
        app, [&filter](const OutcomeRecord& r) { return log_matches(filter, r); }, limit, start, newest, max_scanned);
}

Result<std::vector<consumers::StreamEntry>> OpsReadModel::matching_log(const std::string& app, const RecordTest& matches,
                                                                      std::size_t limit, const std::string& start,
                                                                      const std::string& newest,
                                                                      std::int64_t max_scanned) {
    std::vector<consumers::StreamEntry> found;
    std::string end = newest;
    if (end.empty()) {
        auto last = reader_->last_log_id(app);
        if (!last) return last.error();
        end = *last;
    }
    std::int64_t scanned = 0;
    while (found.size() < limit && scanned < max_scanned && end != "0-0") {
        auto page = reader_->log_before(app, end, start, kPage);
        if (!page) return page.error();
        if (page->empty()) break;
        scanned += static_cast<std::int64_t>(page->size());
        // Taken before the matches are moved out of the page.
        const std::string next_end = consumers::ProvisioningLogReader::previous_id(page->back().id);
        const bool full = static_cast<std::int64_t>(page->size()) == kPage;
        for (auto& entry : *page) {
            if (found.size() >= limit) break;
            if (matches(entry.record)) found.push_back(std::move(entry));
        }
        end = next_end;
        if (!full) break;
    }
    return found;
}

Result<std::int64_t> OpsReadModel::dead_letter_count(const std::string& app) { return reader_->count_dead_letters(app); }

json OpsReadModel::lag(const std::string& bootstrap) {
    const auto unknown = [](std::string why) {
        return json{{"lag", nullptr}, {"lag_total", nullptr}, {"lag_error", std::move(why)}};
    };
    if (bootstrap.empty()) {
        auto doc = unknown("kafka.bootstrap_servers is empty (the embedded broker lives inside `provbridge run`): "
                           "pass --bootstrap to see the lag");
        doc["lag_configured"] = false;
        return doc;
    }
    try {
        const auto props = Bridge::consumer_properties(config_, bootstrap, false, kafka_secrets_);
        auto read = consumers::read_consumer_lag(props, std::vector<std::string>{config_.kafka.events_topic},
                                                 kKafkaTimeout);
        if (!read) return unknown(read.error().message);
        json partitions = json::array();
        std::int64_t total = 0;
        for (const auto& p : *read) {
            partitions.push_back(json{{"topic", p.topic},
                                      {"partition", p.partition},
                                      {"committed", p.committed >= 0 ? json(p.committed) : json(nullptr)},
                                      {"log_end", p.log_end},
                                      {"lag", p.lag}});
            total += p.lag;
        }
        return json{{"lag", std::move(partitions)}, {"lag_total", total}};
    } catch (const std::exception& e) {
        return unknown(e.what());
    }
}

Result<bool> OpsReadModel::ping() {
    auto answer = reader_->connection().call({"PING"});
    if (!answer) return answer.error();
    return true;
}

int open_read_model(const std::string& config_path, const std::string& app, spdlog::logger& log,
                    std::unique_ptr<OpsReadModel>& out) {
    auto loaded = load_operator_config(config_path, log);
    if (!loaded) return kExitBadConfig;
    if (!app.empty() && loaded->config.find_app(app) == nullptr) {
        log.error("unknown app \"{}\": it is not in {}", app, loaded->config.source);
        return kExitBadConfig;
    }
    try {
        out = std::make_unique<OpsReadModel>(std::move(loaded->config), loaded->redis_password);
    } catch (const ConfigError& e) {
        log.error("configuration refused: {}", e.what());
        return kExitBadConfig;
    } catch (const std::exception& e) {
        log.error("cannot reach Redis: {}", e.what());
        return kExitUnavailable;
    }
    return kExitOk;
}

json log_entry_json(const consumers::StreamEntry& entry) {
    auto doc = transforms::log_view_json(entry.record);
    doc["log_id"] = entry.id;
    doc["recorded_at"] = time_text(consumers::stream_id_ms(entry.id).value_or(0));
    doc["changed_at"] = entry.record.produced_at_ms > 0 ? json(time_text(entry.record.produced_at_ms)) : json(nullptr);
    return doc;
}

}  // namespace provbridge::ops
