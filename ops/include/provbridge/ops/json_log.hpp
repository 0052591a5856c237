#pragma once

#include <memory>

#include <spdlog/formatter.h>

namespace provbridge::ops {

// `--log-format json`: one JSON object per line, {"time", "level", "msg"} and, on every line about
// an event, its "app", "event_id", "object" and "record" (the thread's LogContext), so a log
// pipeline can select an event's lines without parsing the message. Text that is not UTF-8 is
// replaced, never dropped.
class JsonLineFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
    std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace provbridge::ops
