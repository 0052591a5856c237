#include "provbridge/producers/event_file.hpp"

#include <algorithm>
#include <deque>
#include <future>

#include "provbridge/producers/producer.hpp"

namespace provbridge::producers {
namespace {

constexpr std::size_t kProgressEveryLines = 1000;
// Bounds memory for huge files: past this many unconfirmed records, wait for the oldest.
constexpr std::size_t kMaxUnconfirmed = 50000;

bool is_blank(std::string_view line) {
    return std::all_of(line.begin(), line.end(), [](char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
    });
}

struct Pending {
    std::size_t line_number;
    std::future<Result<DeliveryReport>> delivery;
};

}  // namespace

Result<PreparedRecord> prepare_event_line(std::string_view line, const Config* config) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto event = parse_structured_event(line);
    if (!event) return event.error();
    if (config != nullptr && config->find_app(event->app) == nullptr) {
        return make_error("data.app: \"" + event->app + "\" is not a configured app");
    }
    PreparedRecord record;
    record.key = record_key(*event);
    record.value.assign(line);
    record.headers.push_back(Header{"content-type", std::string(kCloudEventsContentType)});
    record.event = std::move(*event);
    return record;
}

ProduceReport produce_event_lines(std::istream& in, KafkaProducer& producer,
                                  const std::string& topic, const Config* config,
                                  const std::function<void(const ProduceProgress&)>& progress) {
    ProduceReport report;
    ProduceProgress state;
    std::deque<Pending> pending;

    const auto settle_front = [&] {
        Pending& front = pending.front();
        Result<DeliveryReport> result = make_error("no delivery report");
        try {
            result = front.delivery.get();
        } catch (const std::future_error&) {
            // A report the producer could not build (out of memory) counts as a failure.
        }
        if (result) {
            ++report.sent;
        } else {
            ++report.failed;
            report.problems.push_back({front.line_number, result.error().message});
        }
        pending.pop_front();
    };
    const auto publish_progress = [&](bool done) {
        if (!progress) return;
        state.sent = report.sent;
        state.rejected = report.rejected;
        state.failed = report.failed;
        state.done = done;
        progress(state);
    };

    std::string line;
    while (std::getline(in, line)) {
        ++state.lines_read;
        if (!is_blank(line)) {
            auto prepared = prepare_event_line(line, config);
            if (!prepared) {
                ++report.rejected;
                report.problems.push_back({state.lines_read, prepared.error().message});
            } else {
                pending.push_back({state.lines_read, producer.send(topic, prepared->key,
                                                                   prepared->value,
                                                                   prepared->headers)});
                ++state.queued;
            }
        }
        while (!pending.empty() &&
               (pending.size() > kMaxUnconfirmed ||
                pending.front().delivery.wait_for(std::chrono::seconds(0)) ==
                    std::future_status::ready)) {
            settle_front();
        }
        if (state.lines_read % kProgressEveryLines == 0) publish_progress(false);
    }
    while (!pending.empty()) settle_front();
    std::stable_sort(report.problems.begin(), report.problems.end(),
                     [](const LineProblem& a, const LineProblem& b) {
                         return a.line_number < b.line_number;
                     });
    publish_progress(true);
    return report;
}

}  // namespace provbridge::producers
