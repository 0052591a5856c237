#pragma once

#include <string>

namespace provbridge {

// The event the calling thread is working on, so that every log line about it carries its app,
// event id and object (the JSON-lines log format prints them as fields). A lane runs one event at
// a time on its own thread, hence a thread-local, set for the span of one event.
struct LogContext {
    std::string app;
    std::string event_id;
    std::string object;  // TYPE/ID
    std::string record;  // topic[partition]@offset: where it was read (also for unparseable records)
};

// Sets the calling thread's context for its lifetime; the previous one comes back after.
class LogContextScope {
public:
    explicit LogContextScope(LogContext context);
    ~LogContextScope();
    LogContextScope(const LogContextScope&) = delete;
    LogContextScope& operator=(const LogContextScope&) = delete;

private:
    LogContext previous_;
};

// Fills in what became known later (the parsed event's identity) within the current scope.
void update_log_context(const std::string& app, const std::string& event_id, const std::string& object);

// The calling thread's context; all fields empty outside any scope.
const LogContext& current_log_context();

}  // namespace provbridge
