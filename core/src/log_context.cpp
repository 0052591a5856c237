#include "provbridge/core/log_context.hpp"

#include <utility>

namespace provbridge {
namespace {

thread_local LogContext current;

}  // namespace

LogContextScope::LogContextScope(LogContext context) : previous_(std::exchange(current, std::move(context))) {}

LogContextScope::~LogContextScope() { current = std::move(previous_); }

void update_log_context(const std::string& app, const std::string& event_id, const std::string& object) {
    current.app = app;
    current.event_id = event_id;
    current.object = object;
}

const LogContext& current_log_context() { return current; }

}  // namespace provbridge
