// `provbridge dlq`: the dead-letter index in Redis for operators: list, show, replay, purge.
#include <algorithm>
#include <chrono>
#include <cctype>
#include <charconv>
#include <ctime>
#include <future>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/bridge.hpp"
#include "provbridge/ops/commands.hpp"
#include "provbridge/ops/replay.hpp"
#include "provbridge/ops/text_output.hpp"
#include "provbridge/producers/producer.hpp"

namespace provbridge::ops {
namespace {

using consumers::ProvisioningLogReader;
using consumers::StreamEntry;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReasonColumn = 100;  // reasons are cut to this in tables

std::int64_t now_ms() { return wall_now_ms(); }

// --json output is one line (jq formats it), like the worker's --json-progress.
std::string dump(const json& doc) { return dump_json(doc); }

std::string field(const StreamEntry& entry, const char* name) {
    const auto it = entry.fields.find(name);
    return it == entry.fields.end() ? std::string() : it->second;
}

// A dead letter and the app whose index holds it.
struct Selected {
    std::string app;
    StreamEntry entry;
};

std::string code_of(const Selected& s) {
    auto code = field(s.entry, "code");
    return code.empty() ? s.entry.record.code : code;
}
std::string event_id_of(const Selected& s) {
    auto id = field(s.entry, "event_id");
    return id.empty() ? s.entry.record.event_id : id;
}
std::string reason_of(const Selected& s) {
    auto reason = field(s.entry, "reason");
    return reason.empty() ? s.entry.record.reason : reason;
}
// When the entry was indexed: the outcome's time, else the stream id's (the server's clock).
std::int64_t failed_at_of(const Selected& s) {
    if (s.entry.record.finished_at_ms > 0) return s.entry.record.finished_at_ms;
    return consumers::stream_id_ms(s.entry.id).value_or(0);
}
std::string source_position(const Selected& s) {
    const auto topic = field(s.entry, "topic");
    if (topic.empty()) return "-";
    return topic + "[" + field(s.entry, "partition") + "]@" + field(s.entry, "offset");
}
std::string object_of(const OutcomeRecord& r) {
    if (r.object_id.empty()) return "-";
    return r.object_type + "/" + r.object_id;
}

// Where a dead letter without a stored original can still be found.
std::string not_stored_text(const Selected& s, const Config& config) {
    std::string why = "original not stored";
    const auto omitted = field(s.entry, "record_omitted");
    if (!omitted.empty()) why += " (" + omitted + " bytes, over the index's limit)";
    return why + "; it is in the dead-letter topic " + config.kafka.dead_letter_topic + " at source " +
           source_position(s) + " (headers provbridge.source.topic/partition/offset)";
}

json entry_json(const Selected& s) {
    const auto& r = s.entry.record;
    json j = {{"id", s.entry.id},
              {"app", s.app},
              {"event_id", event_id_of(s)},
              {"source", r.source},
              {"event_type", r.event_type},
              {"object_type", r.object_type},
              {"object_id", r.object_id},
              {"version", r.version},
              {"code", code_of(s)},
              {"reason", reason_of(s)},
              {"error_class", r.error_class},
              {"http_status", r.http_status},
              {"scim_type", r.scim_type},
              {"attempts", r.attempts},
              {"failed_at", time_text(failed_at_of(s))},
              {"first_failed_at", r.first_failed_at_ms > 0 ? json(time_text(r.first_failed_at_ms)) : json(nullptr)},
              {"source_topic", field(s.entry, "topic")},
              {"source_partition", r.partition},
              {"source_offset", r.offset},
              {"record_stored", s.entry.fields.count("record") > 0}};
    if (!s.entry.decode_error.empty()) j["decode_error"] = s.entry.decode_error;
    return j;
}

// What a command needs: the configuration and a connection to the state store.
struct Context {
    Config config;
    std::unique_ptr<ProvisioningLogReader> reader;
    std::vector<std::string> apps;  // whose indexes are searched
};

std::string configured_apps(const Config& config) {
    std::string known;
    for (const auto& a : config.apps) known += (known.empty() ? "" : ", ") + a.id;
    return known + "; and " + std::string(KeyScheme::kInvalidApp) + " for records that name no configured app";
}

// kExitOk and a ready context, or the exit code (the reason is logged).
int open_context(const DlqOptions& options, const std::shared_ptr<spdlog::logger>& log, Context& ctx) {
    auto loaded = load_operator_config(options.config_path, *log);
    if (!loaded) return kExitBadConfig;
    ctx.config = std::move(loaded->config);
    const std::string password = std::move(loaded->redis_password);
    if (!options.app.empty()) {
        if (options.app != KeyScheme::kInvalidApp && ctx.config.find_app(options.app) == nullptr) {
            log->error("no app \"{}\" in {} (configured: {})", options.app, ctx.config.source,
                       configured_apps(ctx.config));
            return kExitBadConfig;
        }
        ctx.apps = {options.app};
    } else {
        for (const auto& a : ctx.config.apps) ctx.apps.push_back(a.id);
        ctx.apps.emplace_back(KeyScheme::kInvalidApp);
    }
    for (const auto& id : options.ids) {
        if (!consumers::is_stream_id(id)) {
            log->error("\"{}\" is not a dead-letter entry id (a Redis stream id like 1712345678901-0, as `provbridge "
                       "dlq list` shows them)", shown(id));
            return kExitBadConfig;
        }
    }
    try {
        ctx.reader = std::make_unique<ProvisioningLogReader>(consumers::redis_options(ctx.config.redis, password),
                                                             KeyScheme(ctx.config.redis.key_prefix));
    } catch (const std::exception& e) {
        log->error("Redis unreachable: {}", e.what());
        return kExitUnavailable;
    }
    return kExitOk;
}

// A Redis call failed mid-command: unreachable is exit 3, anything else (a refused command,
// corrupt data) a failure of the command.
int redis_failure(const Error& error, const std::shared_ptr<spdlog::logger>& log) {
    log->error("Redis: {}", error.message);
    const auto kind = consumers::redis_error_kind(error);
    return kind == consumers::RedisErrorKind::Io || kind == consumers::RedisErrorKind::Timeout ? kExitUnavailable
                                                                                            : kExitFailure;
}

// The entries with the given ids, each searched in ctx.apps; ids found nowhere go to
// `missing`. An id found in two apps' indexes (ids are per app) is refused without --app.
int find_by_ids(const DlqOptions& options, Context& ctx, const std::shared_ptr<spdlog::logger>& log,
                std::vector<Selected>& found, std::vector<std::string>& missing) {
    std::set<std::string> seen;
    for (const auto& id : options.ids) {
        if (!seen.insert(id).second) continue;
        std::vector<Selected> hits;
        for (const auto& app : ctx.apps) {
            auto entry = ctx.reader->dead_letter(app, id);
            if (!entry) return redis_failure(entry.error(), log);
            if (*entry) hits.push_back({app, std::move(**entry)});
        }
        if (hits.size() > 1) {
            std::string apps;
            for (const auto& h : hits) apps += (apps.empty() ? "" : ", ") + h.app;
            log->error("entry {} is in the dead-letter index of several apps ({}): pass --app", id, apps);
            return kExitBadConfig;
        }
        if (hits.empty()) {
            missing.push_back(id);
        } else {
            found.push_back(std::move(hits.front()));
        }
    }
    return kExitOk;
}

// Every entry of ctx.apps passing the filter, app by app, oldest first.
int find_all(Context& ctx, const consumers::DeadLetterFilter& filter, const std::shared_ptr<spdlog::logger>& log,
             std::vector<Selected>& found) {
    for (const auto& app : ctx.apps) {
        auto entries = ctx.reader->all_dead_letters(app, filter);
        if (!entries) return redis_failure(entries.error(), log);
        for (auto& e : *entries) found.push_back({app, std::move(e)});
    }
    return kExitOk;
}

// replay and purge: entry ids (scoped by --app), or a bulk selection (--app, --error, --all).
int check_selection(const DlqOptions& options, const char* verb, const std::shared_ptr<spdlog::logger>& log) {
    if (!options.ids.empty() && (options.all || !options.error.empty())) {
        log->error("dlq {}: give entry ids or a bulk selection (--app, --error, --all), not both", verb);
        return kExitBadConfig;
    }
    if (options.all && (!options.app.empty() || !options.error.empty())) {
        log->error("dlq {}: --all selects every dead letter of every app; leave out --app and --error", verb);
        return kExitBadConfig;
    }
    if (options.ids.empty() && !options.all && options.app.empty() && options.error.empty()) {
        log->error("dlq {}: say which dead letters: entry ids, --app ID, --error CODE or --all", verb);
        return kExitBadConfig;
    }
    return kExitOk;
}

int select_entries(const DlqOptions& options, Context& ctx, const std::shared_ptr<spdlog::logger>& log,
                   bool keep_records, std::vector<Selected>& found, std::vector<std::string>& missing) {
    if (!options.ids.empty()) return find_by_ids(options, ctx, log, found, missing);
    consumers::DeadLetterFilter filter;
    filter.code = options.error;
    filter.keep_records = keep_records;
    return find_all(ctx, filter, log, found);
}

std::string where_searched(const Context& ctx) {
    std::string apps;
    for (const auto& a : ctx.apps) apps += (apps.empty() ? "" : ", ") + a;
    return (ctx.apps.size() == 1 ? "app " : "apps ") + apps;
}

// ---------------------------------------------------------------------------------------------
// replay

enum class ReplayState { NotReplayable, NotSent, Waiting, Done };

struct Replay {
    Selected selected;
    ReplayState state = ReplayState::NotReplayable;
    std::string problem;     // NotReplayable, NotSent
    InboundRecord record;    // as it is sent
    std::string watch_app;   // the app whose log will carry the outcome
    std::string source;      // the replay's identity, when the record has an event id
    std::string event_id;    // empty: an unparseable record, recognised by where it was written
    producers::DeliveryReport written;
    OutcomeRecord outcome;   // Done
};

// Where a replay's outcome shows up in the log: its event id, or for a record without one the
// place it was written (outcomes of unparseable records are keyed by topic/partition/offset).
std::string match_key(const std::string& source, const std::string& event_id, const std::string& topic,
                      const std::string& partition, const std::string& offset) {
    if (!event_id.empty()) return "e\n" + source + "\n" + event_id;
    return "o\n" + topic + "\n" + partition + "\n" + offset;
}
std::string match_key(const Replay& r) {
    return match_key(r.source, r.event_id, r.written.topic, std::to_string(r.written.partition),
                     std::to_string(r.written.offset));
}

void prepare(Replay& r, const InboundRecord& original, const Config& config) {
    auto prepared = prepare_replay(original, r.selected.entry.id, r.selected.app, config);
    r.record = std::move(prepared.record);
    r.source = std::move(prepared.source);
    r.event_id = std::move(prepared.event_id);
    r.watch_app = std::move(prepared.watch_app);
    r.state = ReplayState::Waiting;
}

std::string outcome_text(const Replay& r, std::chrono::seconds waited) {
    switch (r.state) {
        case ReplayState::NotReplayable: return "cannot replay: " + r.problem;
        case ReplayState::NotSent: return "not sent: " + r.problem;
        case ReplayState::Waiting:
            return "no outcome yet after " + std::to_string(waited.count()) + " s (sent to " + r.written.topic + "[" +
                   std::to_string(r.written.partition) + "]@" + std::to_string(r.written.offset) + ")";
        case ReplayState::Done: break;
    }
    const auto& o = r.outcome;
    switch (o.status) {
        case OutcomeStatus::Applied:
            return "applied (" + std::string(to_string(o.action)) + ")" + (o.scim_id.empty() ? "" : " " + o.scim_id);
        case OutcomeStatus::Skipped: return "skipped (" + o.code + "): " + one_line(o.reason, kReasonColumn);
        case OutcomeStatus::DeadLettered:
            return "dead-lettered again (" + o.code + "): " + one_line(o.reason, kReasonColumn);
        case OutcomeStatus::Warning: return "warning (" + o.code + "): " + one_line(o.reason, kReasonColumn);
    }
    return "?";
}

std::string result_name(const Replay& r) {
    switch (r.state) {
        case ReplayState::NotReplayable: return "not_replayable";
        case ReplayState::NotSent: return "not_sent";
        case ReplayState::Waiting: return "no_outcome";
        case ReplayState::Done: break;
    }
    return std::string(to_string(r.outcome.status));
}

bool succeeded(const Replay& r) {
    return r.state == ReplayState::Done && r.outcome.status != OutcomeStatus::DeadLettered;
}

producers::KafkaLogFn kafka_log(const std::shared_ptr<spdlog::logger>& log) {
    return [log](int level, const std::string& facility, const std::string& message) {
        const auto lvl = level <= 3 ? spdlog::level::err : level == 4 ? spdlog::level::warn : spdlog::level::debug;
        log->log(lvl, "kafka {}: {}", facility, message);
    };
}

// Prints "<what> n/total" on stderr at most once a second (and at the end), for large sets.
class Progress {
public:
    Progress(std::string what, std::size_t total) : what_(std::move(what)), total_(total) {}
    void update(std::size_t done, const std::string& detail = {}, bool force = false) {
        const auto now = Clock::now();
        if (!force && now - last_ < std::chrono::seconds(1)) return;
        last_ = now;
        std::cerr << what_ << " " << done << "/" << total_ << (detail.empty() ? "" : " " + detail) << std::endl;
    }

private:
    std::string what_;
    std::size_t total_;
    Clock::time_point last_ = Clock::now();
};

// Sends every Waiting replay; returns false when Kafka cannot be reached at all.
bool send_replays(std::vector<Replay>& replays, producers::KafkaProducer& producer, const std::string& topic,
                  std::chrono::milliseconds timeout) {
    std::size_t to_send = 0;
    for (const auto& r : replays) to_send += r.state == ReplayState::Waiting ? 1 : 0;
    Progress progress("sent", to_send);
    // In bounded batches: thousands of futures at once would only fill the local queue.
    constexpr std::size_t kBatch = 500;
    std::vector<std::pair<Replay*, std::future<Result<producers::DeliveryReport>>>> inflight;
    std::size_t sent = 0;
    std::size_t delivered = 0;
    const auto drain = [&] {
        for (auto& [r, future] : inflight) {
            const auto deadline = Clock::now() + timeout + std::chrono::seconds(5);
            if (future.wait_until(deadline) != std::future_status::ready) {
                r->state = ReplayState::NotSent;
                r->problem = "no delivery report within " + std::to_string(timeout.count()) + " ms";
                continue;
            }
            auto report = future.get();
            if (!report) {
                r->state = ReplayState::NotSent;
                r->problem = report.error().message;
                continue;
            }
            r->written = *report;
            ++delivered;
        }
        sent += inflight.size();
        inflight.clear();
        progress.update(sent);
    };
    for (auto& r : replays) {
        if (r.state != ReplayState::Waiting) continue;
        inflight.emplace_back(&r, producer.send(topic, r.record.key, r.record.value, r.record.headers));
        if (inflight.size() >= kBatch) drain();
    }
    drain();
    if (to_send > 10) progress.update(sent, {}, true);
    return to_send == 0 || delivered > 0;
}

// Waits until every sent replay has an outcome or the deadline passes, reading the logs of the
// apps concerned (blocking reads: it wakes up as outcomes are recorded).
int wait_for_outcomes(std::vector<Replay>& replays, ProvisioningLogReader& reader,
                      std::map<std::string, std::string>& log_positions, Clock::time_point deadline,
                      const std::shared_ptr<spdlog::logger>& log) {
    std::map<std::string, Replay*> pending;
    std::map<std::string, std::size_t> pending_per_app;
    for (auto& r : replays) {
        if (r.state != ReplayState::Waiting) continue;
        pending[match_key(r)] = &r;
        ++pending_per_app[r.watch_app];
    }
    const std::size_t total = pending.size();
    Progress progress("replayed", total);
    std::map<OutcomeStatus, std::size_t> counts;
    const auto take = [&](const std::string& app, const std::vector<StreamEntry>& entries) {
        for (const auto& e : entries) {
            log_positions[app] = e.id;
            const auto it = pending.find(match_key(field(e, "source"), field(e, "event_id"), field(e, "topic"),
                                                   field(e, "partition"), field(e, "offset")));
            if (it == pending.end()) continue;
            it->second->state = ReplayState::Done;
            it->second->outcome = e.record;
            ++counts[e.record.status];
            --pending_per_app[it->second->watch_app];
            pending.erase(it);
        }
    };
    const auto detail = [&] {
        return "(" + std::to_string(counts[OutcomeStatus::Applied]) + " applied, " +
               std::to_string(counts[OutcomeStatus::Skipped]) + " skipped, " +
               std::to_string(counts[OutcomeStatus::DeadLettered]) + " dead-lettered again)";
    };
    bool log_readable = true;
    while (!pending.empty() && Clock::now() < deadline && log_readable) {
        bool any = false;
        for (auto& [app, position] : log_positions) {
            if (pending_per_app[app] == 0) continue;
            auto entries = reader.log_since(app, position, 1000, std::chrono::milliseconds(0));
            if (!entries) {
                if (consumers::redis_error_kind(entries.error())) return redis_failure(entries.error(), log);
                // A log entry that cannot be decoded: look the outcomes up one by one instead.
                log->warn("cannot read the provisioning log of {}: {}; checking outcomes one by one", app,
                          entries.error().message);
                log_readable = false;
                break;
            }
            any = any || !entries->empty();
            take(app, *entries);
        }
        progress.update(total - pending.size(), detail());
        if (any || pending.empty() || !log_readable) continue;
        // Nothing new anywhere: wait on the log with the most replays pending, a second at most,
        // so progress is shown and the other logs are looked at again.
        const auto busiest = std::max_element(pending_per_app.begin(), pending_per_app.end(),
                                              [](const auto& a, const auto& b) { return a.second < b.second; });
        const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        const auto block = std::clamp(remaining, std::chrono::milliseconds(1), std::chrono::milliseconds(1000));
        auto entries = reader.log_since(busiest->first, log_positions[busiest->first], 1000, block);
        if (!entries) {
            if (consumers::redis_error_kind(entries.error())) return redis_failure(entries.error(), log);
            log_readable = false;
            continue;
        }
        take(busiest->first, *entries);
    }
    // What the log cannot show: a replay recorded as a duplicate (sent twice), an entry trimmed
    // from the log before it was read, or a log that could not be decoded.
    for (;;) {
        for (auto it = pending.begin(); it != pending.end();) {
            Replay& r = *it->second;
            const auto& at = r.written;
            auto found = r.event_id.empty() ? reader.invalid_outcome(r.watch_app, at.topic, at.partition, at.offset)
                                            : reader.outcome(r.watch_app, r.source, r.event_id);
            if (!found) return redis_failure(found.error(), log);
            if (*found) {
                r.state = ReplayState::Done;
                r.outcome = **found;
                ++counts[r.outcome.status];
                it = pending.erase(it);
            } else {
                ++it;
            }
        }
        progress.update(total - pending.size(), detail());
        if (pending.empty() || log_readable || Clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));  // only when the log is unreadable
    }
    if (total > 10 || !pending.empty()) progress.update(total - pending.size(), detail(), true);
    return kExitOk;
}

}  // namespace

std::optional<std::int64_t> parse_since(const std::string& text, std::int64_t now) {
    if (text.empty()) return std::nullopt;
    // A duration: one or more <number><unit>.
    if (std::isdigit(static_cast<unsigned char>(text[0])) != 0) {
        std::int64_t total = 0;
        std::size_t i = 0;
        bool duration = true;
        while (i < text.size() && duration) {
            std::size_t j = i;
            while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) != 0) ++j;
            std::size_t k = j;
            while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k])) != 0) ++k;
            const auto number = text.substr(i, j - i);
            const auto unit = text.substr(j, k - j);
            static const std::map<std::string, std::int64_t> kUnits = {
                {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};
            const auto u = kUnits.find(unit);
            if (number.empty() || number.size() > 9 || u == kUnits.end()) {
                duration = false;
                break;
            }
            total += std::stoll(number) * u->second;
            i = k;
        }
        if (duration) return now - total;
    }
    // RFC 3339: YYYY-MM-DD, optionally THH:MM[:SS[.fff]] and Z or ±HH:MM (UTC when left out).
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    std::size_t at = 0;
    const auto digits = [&](std::size_t n, int& out) {
        if (at + n > text.size()) return false;
        out = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const char c = text[at + i];
            if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
            out = out * 10 + (c - '0');
        }
        at += n;
        return true;
    };
    const auto expect = [&](char c) {
        if (at < text.size() && (text[at] == c || (c == 'T' && (text[at] == 't' || text[at] == ' ')))) {
            ++at;
            return true;
        }
        return false;
    };
    if (!digits(4, year) || !expect('-') || !digits(2, month) || !expect('-') || !digits(2, day)) return std::nullopt;
    std::int64_t millis = 0;
    std::int64_t offset_ms = 0;
    if (at < text.size()) {
        if (!expect('T') || !digits(2, hour) || !expect(':') || !digits(2, minute)) return std::nullopt;
        if (expect(':')) {
            if (!digits(2, second)) return std::nullopt;
            if (expect('.')) {
                std::size_t n = 0;
                std::int64_t scale = 100;
                while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])) != 0) {
                    millis += (text[at] - '0') * scale;
                    scale /= 10;
                    ++at;
                    ++n;
                }
                if (n == 0) return std::nullopt;
            }
        }
        if (at < text.size()) {
            if (text[at] == 'Z' || text[at] == 'z') {
                ++at;
            } else if (text[at] == '+' || text[at] == '-') {
                const int sign = text[at] == '+' ? 1 : -1;
                ++at;
                int oh = 0, om = 0;
                if (!digits(2, oh) || !expect(':') || !digits(2, om) || oh > 23 || om > 59) return std::nullopt;
                offset_ms = sign * (oh * 3600000LL + om * 60000LL);
            } else {
                return std::nullopt;
            }
        }
        if (at != text.size()) return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::time_t seconds = timegm(&tm);
    if (seconds == static_cast<std::time_t>(-1)) return std::nullopt;
    return static_cast<std::int64_t>(seconds) * 1000 + millis - offset_ms;
}

int dlq_list_command(const DlqOptions& options, std::shared_ptr<spdlog::logger> log) {
    consumers::DeadLetterFilter filter;
    filter.code = options.error;
    filter.keep_records = false;  // a listing shows only whether each one is there
    if (!options.since.empty()) {
        const auto since = parse_since(options.since, now_ms());
        if (!since) {
            log->error("--since \"{}\": expected an RFC 3339 time (2024-05-01T10:00:00Z) or a duration back from "
                       "now (90s, 15m, 1h, 2d)", options.since);
            return kExitBadConfig;
        }
        filter.since_ms = std::max<std::int64_t>(*since, 1);
    }
    Context ctx;
    if (const int rc = open_context(options, log, ctx); rc != kExitOk) return rc;
    std::vector<Selected> found;
    if (const int rc = find_all(ctx, filter, log, found); rc != kExitOk) return rc;

    if (options.json) {
        json list = json::array();
        for (const auto& s : found) list.push_back(entry_json(s));
        std::cout << dump(json{{"dead_letters", std::move(list)}, {"count", found.size()}}) << std::endl;
        return kExitOk;
    }
    if (found.empty()) {
        std::cout << "no dead letters in " << where_searched(ctx)
                  << (filter.code.empty() && filter.since_ms == 0 ? "" : " matching the filter") << std::endl;
        return kExitOk;
    }
    std::vector<std::vector<std::string>> rows;
    rows.reserve(found.size());
    for (const auto& s : found) {
        const auto& r = s.entry.record;
        rows.push_back({s.entry.id, s.app, time_text(failed_at_of(s)), code_of(s),
                        r.error_class.empty() ? "-" : r.error_class, std::to_string(r.attempts),
                        shown(object_of(r)), shown(event_id_of(s).empty() ? "-" : event_id_of(s)),
                        s.entry.decode_error.empty()
                            ? one_line(reason_of(s), kReasonColumn)
                            : "(unreadable entry: " + one_line(s.entry.decode_error, 60) + ")"});
    }
    print_table(std::cout, {"ID", "APP", "FAILED AT", "CODE", "CLASS", "TRIES", "OBJECT", "EVENT", "REASON"}, rows);
    std::cout << found.size() << " dead letter(s)" << std::endl;
    return kExitOk;
}

int dlq_show_command(const DlqOptions& options, std::shared_ptr<spdlog::logger> log) {
    if (options.ids.size() != 1) {
        log->error("dlq show takes exactly one entry id");
        return kExitBadConfig;
    }
    Context ctx;
    if (const int rc = open_context(options, log, ctx); rc != kExitOk) return rc;
    std::vector<Selected> found;
    std::vector<std::string> missing;
    if (const int rc = find_by_ids(options, ctx, log, found, missing); rc != kExitOk) return rc;
    if (found.empty()) {
        log->error("no dead letter {} in the index of {}", options.ids.front(), where_searched(ctx));
        return kExitFailure;
    }
    const auto& s = found.front();
    const auto& r = s.entry.record;
    auto original = consumers::original_record(s.entry);

    // The trail: every failed attempt. A failure decided at once (a connector rule, a refused
    // event) has no trail of its own; its one attempt is the outcome itself.
    std::vector<AttemptFailure> trail = r.trail;
    if (trail.empty()) trail.push_back(AttemptFailure{failed_at_of(s), code_of(s), r.http_status, reason_of(s)});

    if (options.json) {
        json j = entry_json(s);
        json attempts = json::array();
        for (const auto& a : trail) {
            attempts.push_back({{"at", time_text(a.at_ms)}, {"code", a.code}, {"http_status", a.http_status},
                                {"detail", a.detail}});
        }
        j["trail"] = std::move(attempts);
        if (!original) {
            j["record"] = {{"error", original.error().message}};
        } else if (*original) {
            const auto& rec = **original;
            json names = json::array();
            for (const auto& h : rec.headers) names.push_back(h.name);
            j["record"] = {{"size", rec.value.size()},
                           {"key", rec.key ? json(*rec.key) : json(nullptr)},
                           {"timestamp", time_text(rec.timestamp_ms)},
                           {"headers", std::move(names)}};
            if (options.value) j["record"]["value"] = rec.value;
        } else {
            j["record"] = nullptr;
            j["record_missing"] = not_stored_text(s, ctx.config);
        }
        std::cout << dump(j) << std::endl;
        return kExitOk;
    }

    std::ostringstream out;
    out << "dead letter " << s.entry.id << " (app " << s.app << ")\n";
    const auto row = [&](const char* name, const std::string& value) {
        out << "  " << name << std::string(12 - std::string(name).size(), ' ') << value << "\n";
    };
    if (!s.entry.decode_error.empty()) row("unreadable", one_line(s.entry.decode_error, 200));
    const auto event_id = event_id_of(s);
    row("event", event_id.empty() ? "- (the record could not be parsed)"
                                  : shown(event_id) + " from " + shown(r.source) + " (" + r.event_type + ")");
    if (!r.object_id.empty()) row("object", shown(object_of(r)) + ", version " + std::to_string(r.version));
    std::string code = code_of(s);
    std::vector<std::string> qualifiers;
    if (!r.error_class.empty()) qualifiers.push_back("class " + r.error_class);
    if (r.http_status != 0) qualifiers.push_back("HTTP " + std::to_string(r.http_status));
    if (!r.scim_type.empty()) qualifiers.push_back("scimType " + r.scim_type);
    if (!qualifiers.empty()) {
        code += " (";
        for (std::size_t i = 0; i < qualifiers.size(); ++i) code += (i ? ", " : "") + qualifiers[i];
        code += ")";
    }
    row("code", code);
    row("reason", one_line(reason_of(s), 4000));
    row("failed at", time_text(failed_at_of(s)) +
                         (r.first_failed_at_ms > 0 ? " (first failure " + time_text(r.first_failed_at_ms) + ")" : "") +
                         ", " + std::to_string(r.attempts) + " attempt(s)");
    row("source", source_position(s));
    if (!original) {
        row("record", "unreadable: " + original.error().message);
    } else if (*original) {
        const auto& rec = **original;
        std::string names;
        for (const auto& h : rec.headers) names += (names.empty() ? "" : ", ") + shown(h.name);
        row("record", std::to_string(rec.value.size()) + " bytes, key " + (rec.key ? shown(*rec.key) : "(none)") +
                          ", headers: " + (names.empty() ? "(none)" : names));
    } else {
        row("record", "not stored: " + not_stored_text(s, ctx.config));
    }
    out << "  trail\n";
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < trail.size(); ++i) {
        const auto& a = trail[i];
        rows.push_back({"    " + std::to_string(i + 1), time_text(a.at_ms), a.code.empty() ? "-" : a.code,
                        a.http_status != 0 ? "HTTP " + std::to_string(a.http_status) : "-", one_line(a.detail, 2000)});
    }
    print_table(out, {"    #", "AT", "CODE", "STATUS", "DETAIL"}, rows);
    std::cout << out.str();
    if (options.value && original && *original) {
        std::cout << "value:\n" << (**original).value << "\n";
    }
    std::cout << std::flush;
    return kExitOk;
}

int dlq_purge_command(const DlqOptions& options, std::shared_ptr<spdlog::logger> log) {
    if (const int rc = check_selection(options, "purge", log); rc != kExitOk) return rc;
    Context ctx;
    if (const int rc = open_context(options, log, ctx); rc != kExitOk) return rc;
    std::vector<Selected> found;
    std::vector<std::string> missing;
    if (const int rc = select_entries(options, ctx, log, /*keep_records=*/false, found, missing); rc != kExitOk) {
        return rc;
    }
    const bool bulk = options.ids.empty();
    if (bulk && !options.yes) {
        log->error("refusing to purge {} dead letter(s) of {}{} without --yes (they cannot be replayed afterwards; "
                   "`provbridge dlq list` shows them)",
                   found.size(), where_searched(ctx), options.error.empty() ? "" : " with code " + options.error);
        return kExitBadConfig;
    }
    std::map<std::string, std::vector<std::string>> by_app;
    for (const auto& s : found) by_app[s.app].push_back(s.entry.id);
    std::int64_t purged = 0;
    for (const auto& [app, ids] : by_app) {
        auto removed = ctx.reader->delete_dead_letters(app, ids);
        if (!removed) return redis_failure(removed.error(), log);
        purged += *removed;
    }
    if (options.json) {
        json ids = json::array();
        for (const auto& s : found) ids.push_back({{"id", s.entry.id}, {"app", s.app}});
        std::cout << dump(json{{"purged", std::move(ids)}, {"count", purged}, {"missing", missing}}) << std::endl;
    } else {
        for (const auto& id : missing) {
            std::cout << "not found: " << id << " (searched " << where_searched(ctx) << ")\n";
        }
        std::cout << "purged " << purged << " dead letter(s)" << std::endl;
    }
    return missing.empty() ? kExitOk : kExitFailure;
}

int dlq_replay_command(const DlqOptions& options, std::shared_ptr<spdlog::logger> log) {
    if (const int rc = check_selection(options, "replay", log); rc != kExitOk) return rc;
    Context ctx;
    if (const int rc = open_context(options, log, ctx); rc != kExitOk) return rc;
    const Config& config = ctx.config;
    const Environment env = current_environment();
    const std::string bootstrap = !options.bootstrap.empty() ? options.bootstrap : config.kafka.bootstrap_servers;
    if (bootstrap.empty()) {
        log->error("dlq replay needs a reachable Kafka broker, and kafka.bootstrap_servers is empty in {} (the "
                   "embedded broker lives inside `provbridge run`): set kafka.bootstrap_servers, or pass --bootstrap "
                   "with the address the embedded broker printed",
                   config.source);
        return kExitBadConfig;
    }
    std::map<std::string, std::string> secrets;
    try {
        Bridge::check_kafka_properties(config, env);
        secrets = resolve_kafka_secrets(config, env);
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return kExitBadConfig;
    }

    std::vector<Selected> found;
    std::vector<std::string> missing;
    if (const int rc = select_entries(options, ctx, log, /*keep_records=*/true, found, missing); rc != kExitOk) {
        return rc;
    }
    if (found.empty() && missing.empty()) {
        if (options.json) {
            std::cout << dump(json{{"replays", json::array()}, {"missing", json::array()}}) << std::endl;
        } else {
            std::cout << "no dead letters to replay in " << where_searched(ctx) << std::endl;
        }
        return kExitOk;
    }

    std::vector<Replay> replays;
    replays.reserve(found.size());
    std::size_t sendable = 0;
    for (auto& s : found) {
        Replay r;
        r.selected = std::move(s);
        auto original = consumers::original_record(r.selected.entry);
        if (!original) {
            r.problem = "the stored original cannot be read: " + original.error().message;
        } else if (!*original) {
            r.problem = not_stored_text(r.selected, config);
        } else {
            prepare(r, **original, config);
            ++sendable;
        }
        replays.push_back(std::move(r));
    }

    if (sendable > 0) {
        // Where each log stands before anything is sent, so no outcome can be missed.
        std::map<std::string, std::string> log_positions;
        for (const auto& r : replays) {
            if (r.state != ReplayState::Waiting || log_positions.count(r.watch_app)) continue;
            auto last = ctx.reader->last_log_id(r.watch_app);
            if (!last) return redis_failure(last.error(), log);
            log_positions[r.watch_app] = *last;
        }
        std::unique_ptr<producers::KafkaProducer> producer;
        auto props = producer_properties(config, bootstrap, secrets);
        // A lost Kafka fails the sends within the bound the worker uses, not librdkafka's 300 s.
        if (props.count("message.timeout.ms") == 0) {
            props["message.timeout.ms"] = std::to_string(config.kafka.lost_timeout.count());
        }
        std::int64_t timeout_ms = config.kafka.lost_timeout.count();
        {
            const auto& text = props["message.timeout.ms"];
            std::from_chars(text.data(), text.data() + text.size(), timeout_ms);  // checked above
        }
        const std::chrono::milliseconds send_timeout(timeout_ms);
        try {
            producers::KafkaProducer::Options popts;
            popts.log = kafka_log(log);
            producer = std::make_unique<producers::KafkaProducer>(props, popts);
        } catch (const std::exception& e) {
            log->error("cannot create the Kafka producer: {}", e.what());
            return kExitUnavailable;
        }
        if (auto id = producer->cluster_id(config.kafka.connect_timeout); !id) {
            log->error("Kafka unreachable at {}: {}", bootstrap, id.error().message);
            return kExitUnavailable;
        }
        if (!send_replays(replays, *producer, config.kafka.events_topic, send_timeout)) {
            log->error("lost Kafka at {}: no replay could be delivered", bootstrap);
            for (const auto& r : replays) {
                if (r.state == ReplayState::NotSent) log->error("{}: {}", r.selected.entry.id, r.problem);
            }
            return kExitUnavailable;
        }
        const auto deadline = Clock::now() + std::chrono::seconds(std::max(0, options.wait_seconds));
        if (const int rc = wait_for_outcomes(replays, *ctx.reader, log_positions, deadline, log); rc != kExitOk) {
            return rc;
        }
        // The worker removes a replayed entry when it records the replay's outcome; where it
        // cannot (an unparseable record has no replay mark it reads, an outcome recorded under
        // another app than the entry's), the entry is removed here, so the index never lists a
        // failure whose replay has an outcome.
        std::map<std::string, std::vector<std::string>> done;
        for (const auto& r : replays) {
            if (r.state == ReplayState::Done) done[r.selected.app].push_back(r.selected.entry.id);
        }
        for (const auto& [app, ids] : done) {
            if (auto removed = ctx.reader->delete_dead_letters(app, ids); !removed) {
                return redis_failure(removed.error(), log);
            }
        }
    }

    std::map<std::string, std::size_t> tally;
    bool all_ok = missing.empty();
    for (const auto& r : replays) {
        ++tally[result_name(r)];
        all_ok = all_ok && succeeded(r);
    }
    const std::chrono::seconds waited(std::max(0, options.wait_seconds));
    if (options.json) {
        json list = json::array();
        for (const auto& r : replays) {
            json j = {{"id", r.selected.entry.id},
                      {"app", r.selected.app},
                      {"event_id", event_id_of(r.selected)},
                      {"result", result_name(r)}};
            if (!r.event_id.empty()) j["replay_event_id"] = r.event_id;
            if (r.state == ReplayState::Done) {
                j["action"] = std::string(to_string(r.outcome.action));
                j["code"] = r.outcome.code;
                j["reason"] = r.outcome.reason;
            } else if (!r.problem.empty()) {
                j["problem"] = r.problem;
            }
            list.push_back(std::move(j));
        }
        std::cout << dump(json{{"replays", std::move(list)}, {"missing", missing}, {"summary", tally}}) << std::endl;
    } else {
        std::vector<std::vector<std::string>> rows;
        for (const auto& r : replays) {
            const auto id = event_id_of(r.selected);
            rows.push_back(
                {r.selected.entry.id, r.selected.app, shown(id.empty() ? "-" : id), outcome_text(r, waited)});
        }
        for (const auto& id : missing) {
            rows.push_back({id, "-", "-", "not found in the dead-letter index of " + where_searched(ctx)});
        }
        print_table(std::cout, {"ENTRY", "APP", "EVENT", "RESULT"}, rows);
        std::cout << "replayed " << (replays.size() - tally["not_replayable"] - tally["not_sent"]) << " of "
                  << replays.size() + missing.size() << ": " << tally["applied"] << " applied, " << tally["skipped"]
                  << " skipped, " << tally["dead_lettered"] << " dead-lettered again, " << tally["no_outcome"]
                  << " without an outcome yet, " << tally["not_replayable"] + tally["not_sent"] + missing.size()
                  << " not replayed" << std::endl;
    }
    return all_ok ? kExitOk : kExitFailure;
}

}  // namespace provbridge::ops
