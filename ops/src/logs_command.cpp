// `provbridge logs`: the provisioning log for operators, in a terminal or as JSON lines.
#include "provbridge/ops/logs_command.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <iostream>
#include <map>
#include <vector>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/bridge.hpp"
#include "provbridge/ops/commands.hpp"
#include "provbridge/ops/read_model.hpp"
#include "provbridge/ops/text_output.hpp"
#include "provbridge/transforms/log_view.hpp"

namespace provbridge::ops {
namespace {

using consumers::ProvisioningLogReader;
using consumers::StreamEntry;
using nlohmann::json;

constexpr std::array<std::string_view, 4> kStatuses = {"Success", "Failure", "Skipped", "Warning"};
constexpr std::array<std::string_view, 7> kActions = {"Create",       "Update",          "Disable", "Delete",
                                                      "StagedDelete", "ScheduledDelete", "Other"};
constexpr std::int64_t kPage = 500;
// However narrow the filter, a listing reads no more than this many records per app.
constexpr std::int64_t kMaxScanned = 200000;
constexpr std::size_t kReasonColumn = 100;

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

template <std::size_t N>
bool one_of(const std::string& value, const std::array<std::string_view, N>& names) {
    return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return same_name(n, value); });
}

template <std::size_t N>
std::string listed(const std::array<std::string_view, N>& names) {
    std::string out;
    for (const auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
}

// The stream id's time: when the outcome was recorded.
std::int64_t id_ms(const std::string& id) {
    std::int64_t ms = 0;
    for (char c : id) {
        if (c == '-') break;
        ms = ms * 10 + (c - '0');
    }
    return ms;
}

struct Row {
    std::string app;
    StreamEntry entry;
};

Colour colour_of(transforms::LogStatus status) {
    switch (status) {
        case transforms::LogStatus::Success: return Colour::Green;
        case transforms::LogStatus::Failure: return Colour::Red;
        case transforms::LogStatus::Warning: return Colour::Yellow;
        case transforms::LogStatus::Skipped: break;
    }
    return Colour::Grey;
}

std::vector<std::string> cells(const Row& row) {
    const auto& r = row.entry.record;
    const auto view = transforms::log_view(r);
    const std::string code = !view.error_code.empty() ? view.error_code : view.skip_reason;
    std::string object = r.object_type.empty() ? "record " + r.topic + "[" + std::to_string(r.partition) + "]@" +
                                                     std::to_string(r.offset)
                                               : r.object_type + "/" + shown(r.object_id);
    return {time_text(id_ms(row.entry.id)),
            row.app,
            std::string(transforms::to_string(view.status)),
            r.dry_run ? view.action + " (dry run)" : view.action,
            one_line(object, 48),
            r.scim_id.empty() ? "-" : one_line(shown(r.scim_id), 40),
            code.empty() ? "-" : code,
            std::to_string(r.attempts),
            std::to_string(r.duration_ms) + " ms",
            one_line(r.reason, kReasonColumn)};
}

void print_rows(const std::vector<Row>& rows, bool header) {
    const bool colour = colour_on_stdout();
    std::vector<std::vector<std::string>> table;
    table.reserve(rows.size());
    for (const auto& row : rows) table.push_back(cells(row));
    const std::vector<std::string> head = {"TIME", "APP", "STATUS", "ACTION", "OBJECT", "TARGET ID", "CODE",
                                           "TRIES", "TOOK", "REASON"};
    if (!header) {
        // Following: each batch aligned on its own, with no header between them.
        for (const auto& cells_of : table) {
            std::string line;
            for (std::size_t i = 0; i < cells_of.size(); ++i) line += (i ? "  " : "") + cells_of[i];
            std::cout << line << "\n";
        }
        std::cout.flush();
        return;
    }
    print_table(std::cout, head, table, [&](int r, std::size_t column, const std::string& cell) {
        if (r < 0) return coloured(cell, Colour::Bold, colour);
        if (column != 2) return cell;
        return coloured(cell, colour_of(transforms::log_view(rows[static_cast<std::size_t>(r)].entry.record).status),
                        colour);
    });
    std::cout.flush();
}

void print_json(const std::vector<Row>& rows) {
    for (const auto& row : rows) {
        std::cout << dump_json(log_entry_json(row.entry)) << "\n";
    }
    std::cout.flush();
}

}  // namespace

std::string log_filter_problem(const LogFilter& filter) {
    if (!filter.status.empty() && !one_of(filter.status, kStatuses)) {
        return "--status \"" + filter.status + "\": one of " + listed(kStatuses);
    }
    if (!filter.action.empty() && !one_of(filter.action, kActions)) {
        return "--action \"" + filter.action + "\": one of " + listed(kActions);
    }
    return {};
}

bool log_matches(const LogFilter& filter, const OutcomeRecord& record) {
    const auto view = transforms::log_view(record);
    if (!filter.status.empty() && !same_name(transforms::to_string(view.status), filter.status)) return false;
    if (!filter.action.empty() && !same_name(view.action, filter.action)) return false;
    if (!filter.object.empty()) {
        const bool matched = filter.object == record.object_id || filter.object == record.scim_id ||
                             filter.object == record.object_type + "/" + record.object_id;
        if (!matched) return false;
    }
    return true;
}

int logs_command(const LogsOptions& options, std::shared_ptr<spdlog::logger> log) {
    if (const auto problem = log_filter_problem(options.filter); !problem.empty()) {
        log->error("{}", problem);
        return kExitBadConfig;
    }
    if (options.limit < 1) {
        log->error("--limit must be at least 1");
        return kExitBadConfig;
    }
    std::string start = "-";
    if (!options.since.empty()) {
        const auto since = parse_since(options.since, wall_now_ms());
        if (!since) {
            log->error("--since \"{}\": expected an RFC 3339 time (2024-05-01T10:00:00Z) or a duration back from now "
                       "(90s, 15m, 1h, 2d)",
                       options.since);
            return kExitBadConfig;
        }
        start = std::to_string(std::max<std::int64_t>(*since, 0)) + "-0";
    }
    std::unique_ptr<OpsReadModel> model;
    if (const int rc = open_read_model(options.config_path, options.app, *log, model); rc != kExitOk) return rc;
    ProvisioningLogReader* reader = &model->reader();
    auto apps = model->select_apps(options.app);
    if (options.app.empty()) apps.emplace_back(KeyScheme::kInvalidApp);  // records no app could be read from

    // The newest `limit` matches of each app, then the newest `limit` of them all, oldest first.
    std::vector<Row> rows;
    std::map<std::string, std::string> newest;  // per app: where --follow goes on from
    for (const auto& app : apps) {
        auto last = reader->last_log_id(app);
        if (!last) {
            log->error("cannot read the log of {}: {}", app, last.error().message);
            return kExitUnavailable;
        }
        newest[app] = *last;
        auto found =
            model->matching_log(app, options.filter, static_cast<std::size_t>(options.limit), start, *last, kMaxScanned);
        if (!found) {
            log->error("cannot read the log of {}: {}", app, found.error().message);
            return kExitUnavailable;
        }
        for (auto& entry : *found) rows.push_back({app, std::move(entry)});
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return id_ms(a.entry.id) != id_ms(b.entry.id) ? id_ms(a.entry.id) < id_ms(b.entry.id) : a.entry.id < b.entry.id;
    });
    if (rows.size() > static_cast<std::size_t>(options.limit)) {
        rows.erase(rows.begin(), rows.end() - options.limit);
    }
    if (options.json) {
        print_json(rows);
    } else if (rows.empty()) {
        if (!options.follow) std::cout << "no provisioning log records match\n";
    } else {
        print_rows(rows, true);
    }
    if (!options.follow) return kExitOk;

    // Each app in turn without waiting, then a wait on the first (XREAD BLOCK): records of any
    // app show within that wait, and a stop signal is seen within it too.
    std::atomic<bool> stop{false};
    StopSignals signals([&stop](int) { stop = true; });
    while (!stop) {
        std::vector<Row> fresh;
        for (std::size_t i = 0; i < apps.size(); ++i) {
            const auto& app = apps[i];
            const auto block = i == 0 && fresh.empty() && apps.size() == 1 ? std::chrono::milliseconds(1000)
                                                                             : std::chrono::milliseconds(0);
            auto entries = reader->log_since(app, newest[app], kPage, block);
            if (!entries) {
                log->error("cannot read the log of {}: {}", app, entries.error().message);
                return kExitUnavailable;
            }
            for (auto& entry : *entries) {
                newest[app] = entry.id;
                if (log_matches(options.filter, entry.record)) fresh.push_back({app, std::move(entry)});
            }
        }
        if (fresh.empty() && apps.size() > 1) {
            auto waited = reader->log_since(apps.front(), newest[apps.front()], kPage, std::chrono::milliseconds(500));
            if (!waited) {
                log->error("cannot read the log of {}: {}", apps.front(), waited.error().message);
                return kExitUnavailable;
            }
            for (auto& entry : *waited) {
                newest[apps.front()] = entry.id;
                if (log_matches(options.filter, entry.record)) fresh.push_back({apps.front(), std::move(entry)});
            }
        }
        if (fresh.empty()) continue;
        std::sort(fresh.begin(), fresh.end(), [](const Row& a, const Row& b) { return id_ms(a.entry.id) < id_ms(b.entry.id); });
        if (options.json) {
            print_json(fresh);
        } else {
            print_rows(fresh, false);
        }
    }
    return kExitOk;
}

}  // namespace provbridge::ops
