#include "provbridge/ops/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "provbridge/ops/read_model.hpp"
#include "provbridge/ops/text_output.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;

// Seconds; a SCIM call is milliseconds on a good day and up to the client timeout on a bad one.
const prometheus::Histogram::BucketBoundaries kDurationBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                  0.5,   1,    2.5,   5,    10,  30};

// The stats hash's outcome counters by the outcome label they are summed under.
std::string outcome_of(const std::string& counter) {
    if (counter == "created" || counter == "updated" || counter == "disabled" || counter == "deleted" ||
        counter == "linked" || counter == "scheduled_deletes" || counter == "applied_other") {
        return "applied";
    }
    if (counter == "skipped") return "skipped";
    if (counter == "dead_lettered") return "dead_lettered";
    if (counter == "warnings") return "warning";
    if (counter == "duplicates") return "duplicate";
    if (counter.starts_with("dry_run_")) return "dry_run";  // decided, nothing sent
    return {};
}

}  // namespace

OpsMetrics::OpsMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
    requests_ = &prometheus::BuildCounter()
                     .Name("provbridge_scim_requests_total")
                     .Help("SCIM requests this process sent, by app, method and status class")
                     .Register(*registry_);
    durations_ = &prometheus::BuildHistogram()
                      .Name("provbridge_scim_request_duration_seconds")
                      .Help("How long this process's SCIM requests took, by app and method")
                      .Register(*registry_);
    prometheus::BuildGauge()
        .Name("provbridge_build_info")
        .Help("The provbridge build serving these metrics")
        .Register(*registry_)
        .Add({{"version", PROVBRIDGE_VERSION}})
        .Set(1);
}

OpsMetrics::~OpsMetrics() = default;

std::string OpsMetrics::status_class(const ScimResponse& response) {
    if (response.transport != TransportStatus::Ok || response.status < 100 || response.status > 599) return "transport";
    return std::to_string(response.status / 100) + "xx";
}

void OpsMetrics::observe(std::string_view app, HttpMethod method, const ScimResponse& response) {
    const std::string app_label(app);
    const std::string method_label(to_string(method));
    requests_->Add({{"app", app_label}, {"method", method_label}, {"status_class", status_class(response)}})
        .Increment();
    durations_->Add({{"app", app_label}, {"method", method_label}}, kDurationBuckets)
        .Observe(std::chrono::duration<double>(response.elapsed).count());
}

std::string OpsMetrics::scrape(OpsReadModel& model, const json& lag) {
    // Read fresh at each scrape into a registry of its own: Redis holds the truth for every
    // worker, this process only passes it on.
    prometheus::Registry snapshot;
    auto& events = prometheus::BuildCounter()
                       .Name("provbridge_events_total")
                       .Help("Events with a recorded outcome, by app and outcome (every worker; from Redis)")
                       .Register(snapshot);
    auto& retry = prometheus::BuildGauge()
                      .Name("provbridge_retry_queue_depth")
                      .Help("Queue heads waiting for a retry or scheduled (every worker; from Redis)")
                      .Register(snapshot);
    auto& parked = prometheus::BuildGauge()
                       .Name("provbridge_parked_events")
                       .Help("Events parked behind a retry, a quarantine or a staged delete (from Redis)")
                       .Register(snapshot);
    auto& dlq = prometheus::BuildGauge()
                    .Name("provbridge_dlq_depth")
                    .Help("Entries in the app's dead-letter index (from Redis)")
                    .Register(snapshot);
    auto& staged = prometheus::BuildGauge()
                       .Name("provbridge_staged_deletes")
                       .Help("Disables and deletes the deletion threshold holds for an operator (from Redis)")
                       .Register(snapshot);
    auto& scheduled = prometheus::BuildGauge()
                          .Name("provbridge_scheduled_hard_deletes")
                          .Help("Deleted users' accounts, disabled, whose hard delete is scheduled (from Redis)")
                          .Register(snapshot);
    auto& quarantined = prometheus::BuildGauge()
                            .Name("provbridge_quarantined")
                            .Help("1 while the app is quarantined (from Redis)")
                            .Register(snapshot);
    auto& consumer_lag = prometheus::BuildGauge()
                             .Name("provbridge_consumer_lag")
                             .Help("Records of the events topic the consumer group has not committed, per partition")
                             .Register(snapshot);
    auto& errors = prometheus::BuildGauge()
                       .Name("provbridge_scrape_errors")
                       .Help("Parts of this scrape that could not be read (an app from Redis, the lag from Kafka)")
                       .Register(snapshot);
    auto& source_up = prometheus::BuildGauge()
                          .Name("provbridge_source_up")
                          .Help("1 while the directory source is connected and reporting (from its report in Redis)")
                          .Register(snapshot);
    auto& source_entries = prometheus::BuildCounter()
                               .Name("provbridge_source_entries_read_total")
                               .Help("Directory entries the source read since it started")
                               .Register(snapshot);
    auto& source_events = prometheus::BuildCounter()
                              .Name("provbridge_source_events_sent_total")
                              .Help("Contract events the source sent (acknowledged by Kafka) since it started")
                              .Register(snapshot);
    auto& source_failures = prometheus::BuildCounter()
                                .Name("provbridge_source_failures_total")
                                .Help("Turns of the source that failed (connection lost or refused, Kafka, Redis) since it started")
                                .Register(snapshot);
    auto& source_objects = prometheus::BuildGauge()
                               .Name("provbridge_source_objects")
                               .Help("Directory objects the source follows, by kind (user, group)")
                               .Register(snapshot);
    double failed_parts = 0;
    if (auto sources = model.source_rows(wall_now_ms()); sources) {
        for (const auto& s : *sources) {
            const std::string name = s["source"].get<std::string>();
            const std::string state = s["state"].get<std::string>();
            const bool up = s.value("connected", false) && state != "not running" && state != "stopped";
            source_up.Add({{"source", name}}).Set(up ? 1 : 0);
            if (!s.contains("entries_read")) continue;
            source_entries.Add({{"source", name}}).Increment(s["entries_read"].get<double>());
            source_events.Add({{"source", name}}).Increment(s["events_sent"].get<double>());
            source_failures.Add({{"source", name}}).Increment(s.value("failures", 0.0));
            source_objects.Add({{"source", name}, {"kind", "user"}}).Set(s.value("users", 0.0));
            source_objects.Add({{"source", name}, {"kind", "group"}}).Set(s.value("groups", 0.0));
        }
    } else {
        failed_parts += 1;
    }
    for (const auto& app : model.select_apps({})) {
        auto stats = model.reader().stats(app);
        auto depths = model.reader().depths(app);
        auto state = model.quarantine().load(app);
        if (!stats || !depths || !state) {
            failed_parts += 1;
            continue;
        }
        std::map<std::string, double> by_outcome{
            {"applied", 0}, {"skipped", 0}, {"dead_lettered", 0}, {"warning", 0}, {"duplicate", 0}};
        for (const auto& [counter, value] : *stats) {
            const auto outcome = outcome_of(counter);
            if (!outcome.empty()) by_outcome[outcome] += static_cast<double>(value);
        }
        for (const auto& [outcome, value] : by_outcome) {
            events.Add({{"app", app}, {"outcome", outcome}}).Increment(value);
        }
        retry.Add({{"app", app}}).Set(static_cast<double>(depths->due_heads));
        parked.Add({{"app", app}}).Set(static_cast<double>(depths->waiting_events));
        dlq.Add({{"app", app}}).Set(static_cast<double>(depths->dead_letters));
        staged.Add({{"app", app}}).Set(static_cast<double>(depths->staged));
        scheduled.Add({{"app", app}}).Set(static_cast<double>(depths->scheduled_hard_deletes));
        quarantined.Add({{"app", app}}).Set(state->quarantined ? 1 : 0);
    }
    if (lag.contains("lag") && lag["lag"].is_array()) {
        for (const auto& p : lag["lag"]) {
            consumer_lag
                .Add({{"topic", p["topic"].get<std::string>()}, {"partition", std::to_string(p["partition"].get<int>())}})
                .Set(p["lag"].get<double>());
        }
    } else if (lag.value("lag_configured", true)) {
        failed_parts += 1;  // a lag nobody asked for (no bootstrap servers) is no error
    }
    errors.Add({}).Set(failed_parts);

    auto families = registry_->Collect();
    auto read = snapshot.Collect();
    families.insert(families.end(), std::make_move_iterator(read.begin()), std::make_move_iterator(read.end()));
    return prometheus::TextSerializer().Serialize(families);
}

}  // namespace provbridge::ops
