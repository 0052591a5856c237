#pragma once

#include <cstddef>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "provbridge/core/config.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/result.hpp"

namespace provbridge::producers {

class KafkaProducer;

inline constexpr std::string_view kCloudEventsContentType = "application/cloudevents+json";

// One validated line, ready to send: value = the line's bytes unchanged.
struct PreparedRecord {
    Event event;
    std::string key;  // record_key(event): <app>/<type>/<id>
    std::string value;
    std::vector<Header> headers;  // content-type: application/cloudevents+json
};

struct LineProblem {
    std::size_t line_number = 0;  // 1-based
    std::string reason;
};

struct ProduceProgress {
    std::size_t lines_read = 0;
    std::size_t queued = 0;    // handed to the producer so far
    std::size_t sent = 0;      // delivery confirmed so far
    std::size_t rejected = 0;  // invalid lines
    std::size_t failed = 0;    // delivery failures
    bool done = false;
};

struct ProduceReport {
    std::size_t sent = 0;
    std::size_t rejected = 0;
    std::size_t failed = 0;
    std::vector<LineProblem> problems;  // in line order
};

// Validates one line as a structured-mode CloudEvent (a trailing '\r' is dropped). With a
// config, data.app must name a configured app. Blank lines are the caller's business.
Result<PreparedRecord> prepare_event_line(std::string_view line, const Config* config);

// What `provbridge produce` does: every non-blank line of `in` that is a valid event is sent
// to `topic`; invalid lines are reported, not sent. Returns after every sent record has a
// delivery report. progress (optional) is called at most every 1,000 lines and once at the end.
ProduceReport produce_event_lines(std::istream& in, KafkaProducer& producer,
                                  const std::string& topic, const Config* config,
                                  const std::function<void(const ProduceProgress&)>& progress);

}  // namespace provbridge::producers
