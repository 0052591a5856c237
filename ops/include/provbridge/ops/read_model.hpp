#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "provbridge/consumers/redis_deletions.hpp"
#include "provbridge/consumers/redis_quarantine.hpp"
#include "provbridge/consumers/redis_source_progress.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/minute_stats.hpp"
#include "provbridge/core/result.hpp"
#include "provbridge/ops/logs_command.hpp"

namespace provbridge::ops {

// What operators read, the same for `provbridge status`, the JSON API, the dashboard and the
// metrics: every app's state and numbers, from Redis (so every worker's) and from the Kafka
// cluster. Documents as in docs/ops-api.md. Owns its Redis connections; not thread-safe.
class OpsReadModel {
public:
    // Connects to Redis and resolves the Kafka secrets; throws std::runtime_error (Redis) or
    // ConfigError (a secret) at start-up when it cannot.
    OpsReadModel(Config config, const std::string& redis_password);

    const Config& config() const { return config_; }
    // The configured app ids, or just `only` (empty: all); empty when `only` is not configured.
    std::vector<std::string> select_apps(const std::string& only) const;

    // An app's row: state, rates and latency over the last `window_minutes` (1-60), queues,
    // dead letters, references, last success, quarantine.
    Result<nlohmann::json> app_row(const std::string& app, int window_minutes, std::int64_t now_ms);
    // The row, the last hour per minute, recent failures, the oldest dead letters, staged deletes.
    Result<nlohmann::json> app_detail(const std::string& app, int window_minutes, std::int64_t now_ms);
    // The newest `limit` log records of the app that match, newest first, from `end` (a stream
    // id, inclusive; empty: the newest) back to `start`, reading at most `max_scanned` records (so
    // a sparse filter on a long log stays cheap).
    Result<std::vector<consumers::StreamEntry>> matching_log(const std::string& app, const LogFilter& filter,
                                                             std::size_t limit, const std::string& start = "-",
                                                             const std::string& end = {},
                                                             std::int64_t max_scanned = kPageScan);
    using RecordTest = std::function<bool(const OutcomeRecord&)>;
    Result<std::vector<consumers::StreamEntry>> matching_log(const std::string& app, const RecordTest& matches,
                                                             std::size_t limit, const std::string& start,
                                                             const std::string& end, std::int64_t max_scanned);
    Result<std::int64_t> dead_letter_count(const std::string& app);

    // The configured directory sources as they last reported themselves (LdapSource::status),
    // with "state" "not running" when the report is older than kSourceStaleAfter (or there is
    // none: "never ran"), "age_ms" and "updated_at".
    Result<nlohmann::json> source_rows(std::int64_t now_ms);
    static constexpr std::int64_t kSourceStaleAfterMs = 15000;

    // The consumer group's lag on the events topic: {"lag": [...], "lag_total": n} or, when it
    // cannot be known, {"lag": null, "lag_total": null, "lag_error": why} (and "lag_configured":
    // false when no bootstrap servers were given at all). Never fails.
    nlohmann::json lag(const std::string& bootstrap);

    consumers::ProvisioningLogReader& reader() { return *reader_; }
    consumers::RedisQuarantineStore& quarantine() { return *quarantine_; }
    consumers::RedisDeletionControl& deletions() { return *deletions_; }
    // Answers PING: whether Redis is there at all (readiness).
    Result<bool> ping();

    // What the page's own reads scan back at most (it refreshes every few seconds).
    static constexpr std::int64_t kPageScan = 5000;

private:
    // The row, and the last hour's minutes it was computed from (for the app page's charts).
    Result<nlohmann::json> read_row(const std::string& app, int window_minutes, std::int64_t now_ms,
                                    std::vector<MinuteStats>& hour);
    // The row from the last hour's minutes (oldest first, the current one last).
    nlohmann::json row_from(const std::string& app, int window_minutes, std::int64_t now_ms,
                            const std::vector<MinuteStats>& hour, const QuarantineState& state,
                            const consumers::ProvisioningLogReader::Depths& depths,
                            const std::map<std::string, std::int64_t>& stats) const;

    Config config_;
    std::map<std::string, std::string> kafka_secrets_;  // resolved once, at start-up
    std::unique_ptr<consumers::ProvisioningLogReader> reader_;
    std::unique_ptr<consumers::RedisQuarantineStore> quarantine_;
    std::unique_ptr<consumers::RedisDeletionControl> deletions_;
    std::unique_ptr<consumers::RedisSourceProgress> ldap_source_;  // when sources.ldap is configured
};

// What `status` and `logs` start with: the configuration (refused: kExitBadConfig), `app` (when
// given) among its apps (else kExitBadConfig), and the read model (Redis down: kExitUnavailable).
// Returns kExitOk with `out` set, or the exit code after logging why.
int open_read_model(const std::string& config_path, const std::string& app, spdlog::logger& log,
                    std::unique_ptr<OpsReadModel>& out);

// A provisioning log entry as the JSON API and `logs --json` show it: the record with Entra's
// view (status, action, steps, codes), its log id, when it was recorded and when the change was
// made (the Kafka record's time).
nlohmann::json log_entry_json(const consumers::StreamEntry& entry);

}  // namespace provbridge::ops
